package onednn

import (
	"alexnet/internal/backend"
)

// adaptivePool is adaptive average pooling for the windows oneDNN's average pooling
// cannot express (uneven sizes): Go loops, one (n, c) plane per work item.
//
//	forward   x [N, C, H, W] -> y [N, C, OH, OW]  y[i,j] = mean of x over rows h0..h1-1, cols w0..w1-1
//	backward  dy             -> dx                dx[h,w] = sum over cells containing (h,w) of dy/(cell area)
type adaptivePool struct {
	b       *Backend
	in, out backend.Shape
}

func newAdaptivePool(b *Backend, in, out backend.Shape) *adaptivePool {
	return &adaptivePool{b: b, in: in, out: out}
}

func (a *adaptivePool) OutShape() backend.Shape { return a.out }

// cells calls f for every output cell of one plane with its window.
func (a *adaptivePool) cells(f func(o, h0, h1, w0, w1 int)) {
	for i := 0; i < a.out.H; i++ {
		h0, h1 := backend.AdaptiveRange(i, a.in.H, a.out.H)
		for j := 0; j < a.out.W; j++ {
			w0, w1 := backend.AdaptiveRange(j, a.in.W, a.out.W)
			f(i*a.out.W+j, h0, h1, w0, w1)
		}
	}
}

func (a *adaptivePool) Forward(x, y backend.Buffer) error {
	ck := args{b: a.b, op: "cpu adaptive-avg pool forward"}
	xb, yb := ck.get(x, a.in.Len(), "x"), ck.get(y, a.out.Len(), "y")
	if ck.err != nil {
		return ck.err
	}
	xs, ys := xb.f32(), yb.f32()
	inHW, outHW, W := a.in.H*a.in.W, a.out.H*a.out.W, a.in.W
	a.b.parallel(a.in.N*a.in.C, 16, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			xp, yp := xs[pl*inHW:(pl+1)*inHW], ys[pl*outHW:(pl+1)*outHW]
			a.cells(func(o, h0, h1, w0, w1 int) {
				var s float32
				for h := h0; h < h1; h++ {
					for w := w0; w < w1; w++ {
						s += xp[h*W+w]
					}
				}
				yp[o] = s / float32((h1-h0)*(w1-w0))
			})
		}
	})
	yb.wrote()
	return nil
}

func (a *adaptivePool) Backward(x, y, dy, dx backend.Buffer) error {
	ck := args{b: a.b, op: "cpu adaptive-avg pool backward"}
	ck.get(x, a.in.Len(), "x")
	ck.get(y, a.out.Len(), "y")
	dyb, dxb := ck.get(dy, a.out.Len(), "dy"), ck.get(dx, a.in.Len(), "dx")
	if ck.err != nil {
		return ck.err
	}
	dys, dxs := dyb.f32(), dxb.f32()
	inHW, outHW, W := a.in.H*a.in.W, a.out.H*a.out.W, a.in.W
	a.b.parallel(a.in.N*a.in.C, 16, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			dxp, dyp := dxs[pl*inHW:(pl+1)*inHW], dys[pl*outHW:(pl+1)*outHW]
			clear(dxp)
			a.cells(func(o, h0, h1, w0, w1 int) {
				g := dyp[o] / float32((h1-h0)*(w1-w0))
				for h := h0; h < h1; h++ {
					for w := w0; w < w1; w++ {
						dxp[h*W+w] += g
					}
				}
			})
		}
	})
	dxb.wrote()
	return nil
}
