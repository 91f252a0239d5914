package onednn

/*
#include "helpers.h"
*/
import "C"

import (
	"fmt"

	"alexnet/internal/backend"
)

// adaptivePool is adaptive average pooling for the windows oneDNN's average pooling
// cannot express (uneven sizes): Go loops, one (n, c) plane per work item.
//
//	forward   x [N, C, H, W] -> y [N, C, OH, OW]  y[i,j] = mean of x over rows h0..h1-1, cols w0..w1-1
//	backward  dy             -> dx                dx[h,w] = sum over cells containing (h,w) of dy/(cell area)
//
// The loops index NCHW, so x and dy are read through plain copies when they arrive
// blocked (layout.go, rule 6).
type adaptivePool struct {
	b       *Backend
	in, out backend.Shape
	x, dy   *staged
}

func newAdaptivePool(b *Backend, in, out backend.Shape) (*adaptivePool, error) {
	a := &adaptivePool{b: b, in: in, out: out}
	var err error
	if a.x, err = b.plainStage("x", C.dnnl_f32, in.Len()); err != nil {
		return nil, err
	}
	if a.dy, err = b.plainStage("dy", C.dnnl_f32, out.Len()); err != nil {
		return nil, err
	}
	return a, nil
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
	xs, err := a.x.f32(a.b, xb)
	if err != nil {
		return fmt.Errorf("cpu adaptive-avg pool forward: %w", err)
	}
	ys := yb.f32()
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
	yb.lay = nil
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
	dys, err := a.dy.f32(a.b, dyb)
	if err != nil {
		return fmt.Errorf("cpu adaptive-avg pool backward: %w", err)
	}
	dxs := dxb.f32()
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
	dxb.lay = nil
	dxb.wrote()
	return nil
}
