package onednn

/*
#include "helpers.h"
*/
import "C"

import (
	"fmt"
	"unsafe"

	"alexnet/internal/backend"
)

// Pooling.
//
//	max       x [N, C, H, W] -> y [N, C, OH, OW]   dnnl_pooling_max, argmax in the workspace
//	          dy             -> dx                 (dy routed to each window's argmax)
//	adaptive  x [N, C, H, W] -> y [N, C, OutH, OutW] mean of cell (i, j)'s window
//	          dy             -> dx                 (dy spread evenly over the window)
//
// oneDNN has no adaptive pooling. When every cell's window has the same size and the
// windows start at a fixed stride (13->6 is 3/2, 6->6 is 1/1, 12->6 is 2/2, 7->3 is 3/2),
// adaptive pooling is plain average pooling and runs on oneDNN's; otherwise
// (10->4: windows start at rows 0, 2, 5, 7) it runs as the Go loop in adaptivepool.go.
func (b *Backend) NewPool(p backend.PoolParams) (backend.Op, error) {
	op, err := b.newPool(p)
	if err != nil {
		return nil, fmt.Errorf("cpu %s pool %s: %w", p.Kind, p.In, err)
	}
	return op, nil
}

func (b *Backend) newPool(p backend.PoolParams) (backend.Op, error) {
	out, err := p.Out()
	if err != nil {
		return nil, err
	}
	alg := C.dnnl_alg_kind_t(C.dnnl_pooling_max)
	kh, kw, sh, sw, ph, pw := p.KH, p.KW, p.StrideH, p.StrideW, p.PadH, p.PadW
	switch p.Kind {
	case backend.MaxPool:
	case backend.AdaptiveAvgPool:
		var okH, okW bool
		kh, sh, okH = backend.UniformWindows(p.In.H, out.H)
		kw, sw, okW = backend.UniformWindows(p.In.W, out.W)
		if !okH || !okW {
			return newAdaptivePool(b, p.In, out)
		}
		alg, ph, pw = C.dnnl_pooling_avg_exclude_padding, 0, 0
	default:
		return nil, fmt.Errorf("unknown pooling kind %v", p.Kind)
	}
	x, err := plainMD(blockedTag(), p.In.N, p.In.C, p.In.H, p.In.W)
	if err != nil {
		return nil, err
	}
	y, err := plainMD(blockedTag(), out.N, out.C, out.H, out.W)
	if err != nil {
		return nil, err
	}
	strides, kernel := dims(sh, sw), dims(kh, kw)
	padL := dims(ph, pw)
	// Right padding that gives PyTorch's floor output size (negative trims rows no
	// window reads).
	padR := dims((out.H-1)*sh+kh-p.In.H-ph, (out.W-1)*sw+kw-p.In.W-pw)
	var fd, bd C.dnnl_pooling_desc_t
	if err := status("forward desc", C.dnnl_pooling_forward_desc_init(&fd, b.forwardKind(), alg,
		&x, &y, &strides[0], &kernel[0], &padL[0], &padR[0])); err != nil {
		return nil, err
	}
	if err := status("backward desc", C.dnnl_pooling_backward_desc_init(&bd, alg,
		&x, &y, &strides[0], &kernel[0], &padL[0], &padR[0])); err != nil {
		return nil, err
	}
	return b.newFwdBwd(p.Kind.String()+" pool", p.In, out, unsafe.Pointer(&fd), unsafe.Pointer(&bd), false)
}
