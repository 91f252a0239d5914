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

// ReLU on oneDNN's eltwise (JIT, vectorised), over the buffer as one flat vector.
//
//	forward   x [n] -> y = max(x, 0)        (x and y may be the same buffer)
//	backward  y, dy -> dx = dy * (y > 0)    (relu_use_dst_for_bwd: reads y, not x)
//
// The interface passes bare buffers, so kernels are built on first use per length and
// kept (a network has a handful of ReLU lengths). Where an element sits does not
// matter to ReLU, so it runs on blocked buffers as they are when y and dy agree
// (layout.go, rule 5).
type reluKernels struct{ fwd, bwd *kernel }

func (b *Backend) reluFor(n int) (*reluKernels, error) {
	b.mu.Lock()
	r := b.relu[n]
	b.mu.Unlock()
	if r != nil {
		return r, nil
	}
	v, err := plainMD(C.dnnl_a, n)
	if err != nil {
		return nil, err
	}
	var fd, bd C.dnnl_eltwise_desc_t
	if err := status("relu forward desc", C.dnnl_eltwise_forward_desc_init(&fd, C.dnnl_forward_training,
		C.dnnl_eltwise_relu_use_dst_for_bwd, &v, 0, 0)); err != nil {
		return nil, err
	}
	if err := status("relu backward desc", C.dnnl_eltwise_backward_desc_init(&bd,
		C.dnnl_eltwise_relu_use_dst_for_bwd, &v, &v, 0, 0)); err != nil {
		return nil, err
	}
	fpd, err := b.primDesc("relu forward", unsafe.Pointer(&fd), false, nil)
	if err != nil {
		return nil, err
	}
	defer destroyPD(fpd)
	bpd, err := b.primDesc("relu backward", unsafe.Pointer(&bd), false, C.const_dnnl_primitive_desc_t(fpd))
	if err != nil {
		return nil, err
	}
	defer destroyPD(bpd)
	r = &reluKernels{}
	if r.fwd, err = b.newKernel("relu forward", fpd, arg{kind: C.DNNL_ARG_SRC, md: v}, arg{kind: C.DNNL_ARG_DST, md: v}); err != nil {
		return nil, err
	}
	if r.bwd, err = b.newKernel("relu backward", bpd, arg{kind: C.DNNL_ARG_DST, md: v},
		arg{kind: C.DNNL_ARG_DIFF_DST, md: v}, arg{kind: C.DNNL_ARG_DIFF_SRC, md: v}); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if prev := b.relu[n]; prev != nil { // another goroutine built one meanwhile
		return prev, nil
	}
	b.relu[n] = r
	return r, nil
}

func (b *Backend) ReLUForward(x, y backend.Buffer) error {
	a := args{b: b, op: "cpu relu forward"}
	xb := a.get(x, -1, "x")
	var yb *buffer
	if xb != nil {
		yb = a.get(y, xb.n, "y")
	}
	if a.err != nil {
		return a.err
	}
	r, err := b.reluFor(xb.n)
	if err != nil {
		return fmt.Errorf("cpu relu forward: %w", err)
	}
	defer yb.wrote()
	yb.lay = xb.lay
	return r.fwd.run(b, xb.p, yb.p)
}

func (b *Backend) ReLUBackward(y, dy, dx backend.Buffer) error {
	a := args{b: b, op: "cpu relu backward"}
	yb := a.get(y, -1, "y")
	var dyb, dxb *buffer
	if yb != nil {
		dyb, dxb = a.get(dy, yb.n, "dy"), a.get(dx, yb.n, "dx")
	}
	if a.err != nil {
		return a.err
	}
	r, err := b.reluFor(yb.n)
	if err != nil {
		return fmt.Errorf("cpu relu backward: %w", err)
	}
	defer dxb.wrote()
	if sameLayout(yb.lay, dyb.lay) {
		dxb.lay = yb.lay
		return r.bwd.run(b, yb.p, dyb.p, dxb.p)
	}
	yp, releaseY, err := b.plainView(yb)
	if err != nil {
		return fmt.Errorf("cpu relu backward: y: %w", err)
	}
	defer releaseY()
	dyp, releaseDY, err := b.plainView(dyb)
	if err != nil {
		return fmt.Errorf("cpu relu backward: dy: %w", err)
	}
	defer releaseDY()
	dxb.lay = nil
	return r.bwd.run(b, yp, dyp, dxb.p)
}
