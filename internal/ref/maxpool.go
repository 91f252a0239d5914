package ref

import (
	"math"

	"alexnet/internal/backend"
)

// Max pooling, overlapping (AlexNet's 3/2) or not.
//
//	x [N, C, H, W]   y [N, C, OH, OW],  OH = (H + 2*PadH - KH)/StrideH + 1 (floor)
//	y[n,c,oh,ow] = max over the window rows oh*SH-PH .. +KH-1, cols ow*SW-PW .. +KW-1
//
// Padding counts as -inf, so it never wins. The gradient of each output goes to the
// first maximum of its window in row-major order, as PyTorch does (and a NaN wins, as
// in PyTorch); where windows overlap an input can collect several gradients.
type maxPool struct {
	r   *Backend
	p   backend.PoolParams
	out backend.Shape
}

func (m *maxPool) OutShape() backend.Shape { return m.out }

func (m *maxPool) Forward(x, y backend.Buffer) error {
	xs, ys, _, _, err := poolArgs("max pool forward", m.p.In, m.out, x, y, nil, nil, false)
	if err != nil {
		return err
	}
	maxPoolForward(m.p, m.out, xs, ys, m.r.workers)
	return nil
}

func (m *maxPool) Backward(x, y, dy, dx backend.Buffer) error {
	xs, _, dys, dxs, err := poolArgs("max pool backward", m.p.In, m.out, x, y, dy, dx, true)
	if err != nil {
		return err
	}
	maxPoolBackward(m.p, m.out, xs, dys, dxs, m.r.workers)
	return nil
}

// maxPoolArg is the index, within one H x W plane, of the first maximum of window
// (oh, ow). It starts at the window's first in-image element with -inf, so a window
// of all -inf still names a real input, as PyTorch's kernel does.
func maxPoolArg[T float](p backend.PoolParams, plane []T, oh, ow int) int {
	H, W := p.In.H, p.In.W
	h0, w0 := oh*p.StrideH-p.PadH, ow*p.StrideW-p.PadW
	h1, w1 := min(h0+p.KH, H), min(w0+p.KW, W)
	h0, w0 = max(h0, 0), max(w0, 0)
	best, arg := math.Inf(-1), h0*W+w0
	for h := h0; h < h1; h++ {
		for w := w0; w < w1; w++ {
			v := float64(plane[h*W+w])
			if v > best || math.IsNaN(v) {
				best, arg = v, h*W+w
				if math.IsNaN(v) {
					return arg
				}
			}
		}
	}
	return arg
}

// maxPoolForward: y = x at the window's first maximum; one image per goroutine.
func maxPoolForward[T float](p backend.PoolParams, out backend.Shape, x, y []T, workers int) {
	C, HW, OHW := p.In.C, p.In.H*p.In.W, out.H*out.W
	parallelFor(workers, p.In.N, func(n int) {
		for c := 0; c < C; c++ {
			plane := x[(n*C+c)*HW : (n*C+c+1)*HW]
			for oh := 0; oh < out.H; oh++ {
				for ow := 0; ow < out.W; ow++ {
					y[(n*C+c)*OHW+oh*out.W+ow] = plane[maxPoolArg(p, plane, oh, ow)]
				}
			}
		}
	})
}

// maxPoolBackward: dx = 0, then each dy is added to its window's first maximum.
func maxPoolBackward[T float](p backend.PoolParams, out backend.Shape, x, dy, dx []T, workers int) {
	C, HW, OHW := p.In.C, p.In.H*p.In.W, out.H*out.W
	parallelFor(workers, p.In.N, func(n int) {
		for c := 0; c < C; c++ {
			plane := x[(n*C+c)*HW : (n*C+c+1)*HW]
			acc := make([]float64, HW)
			for oh := 0; oh < out.H; oh++ {
				for ow := 0; ow < out.W; ow++ {
					acc[maxPoolArg(p, plane, oh, ow)] += float64(dy[(n*C+c)*OHW+oh*out.W+ow])
				}
			}
			for i, v := range acc {
				dx[(n*C+c)*HW+i] = T(v)
			}
		}
	})
}
