package ref

import "alexnet/internal/backend"

// Adaptive average pooling (torchvision's AdaptiveAvgPool2d before the classifier).
//
//	x [N, C, H, W]   y [N, C, OutH, OutW]
//	y[n,c,i,j] = mean of x[n,c, AdaptiveRange(i,H,OutH), AdaptiveRange(j,W,OutW)]
//
// Windows may overlap (or repeat rows when OutH > H), so the backward adds each
// output's share dy/count to every input of its window.
type adaptiveAvgPool struct {
	r   *Backend
	p   backend.PoolParams
	out backend.Shape
}

func (a *adaptiveAvgPool) OutShape() backend.Shape { return a.out }

func (a *adaptiveAvgPool) Forward(x, y backend.Buffer) error {
	xs, ys, _, _, err := poolArgs("adaptive avg pool forward", a.p.In, a.out, x, y, nil, nil, false)
	if err != nil {
		return err
	}
	adaptiveAvgForward(a.p.In, a.out, xs, ys, a.r.workers)
	return nil
}

func (a *adaptiveAvgPool) Backward(x, y, dy, dx backend.Buffer) error {
	_, _, dys, dxs, err := poolArgs("adaptive avg pool backward", a.p.In, a.out, x, y, dy, dx, true)
	if err != nil {
		return err
	}
	adaptiveAvgBackward(a.p.In, a.out, dys, dxs, a.r.workers)
	return nil
}

// adaptiveCells calls f for every output cell of one plane with its input window
// [h0,h1) x [w0,w1).
func adaptiveCells(in, out backend.Shape, f func(oi, h0, h1, w0, w1 int)) {
	for i := 0; i < out.H; i++ {
		h0, h1 := backend.AdaptiveRange(i, in.H, out.H)
		for j := 0; j < out.W; j++ {
			w0, w1 := backend.AdaptiveRange(j, in.W, out.W)
			f(i*out.W+j, h0, h1, w0, w1)
		}
	}
}

func adaptiveAvgForward[T float](in, out backend.Shape, x, y []T, workers int) {
	HW, OHW := in.H*in.W, out.H*out.W
	parallelFor(workers, in.N*in.C, func(plane int) {
		xp, yp := x[plane*HW:(plane+1)*HW], y[plane*OHW:(plane+1)*OHW]
		adaptiveCells(in, out, func(oi, h0, h1, w0, w1 int) {
			var sum float64
			for h := h0; h < h1; h++ {
				for w := w0; w < w1; w++ {
					sum += float64(xp[h*in.W+w])
				}
			}
			yp[oi] = T(sum / float64((h1-h0)*(w1-w0)))
		})
	})
}

func adaptiveAvgBackward[T float](in, out backend.Shape, dy, dx []T, workers int) {
	HW, OHW := in.H*in.W, out.H*out.W
	parallelFor(workers, in.N*in.C, func(plane int) {
		dyp := dy[plane*OHW : (plane+1)*OHW]
		acc := make([]float64, HW)
		adaptiveCells(in, out, func(oi, h0, h1, w0, w1 int) {
			share := float64(dyp[oi]) / float64((h1-h0)*(w1-w0))
			for h := h0; h < h1; h++ {
				for w := w0; w < w1; w++ {
					acc[h*in.W+w] += share
				}
			}
		})
		for i, v := range acc {
			dx[plane*HW+i] = T(v)
		}
	})
}
