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

// fwdBwd is a parameterless oneDNN layer (LRN, pooling): a forward primitive, a
// backward one, and the workspace forward leaves for backward (LRN's normalisers,
// max pooling's argmax).
//
// The primitives run on channel-blocked layouts (nChw8c on AVX2, nChw16c on
// AVX-512): on plain NCHW oneDNN 2.6 has no JIT kernels for these layers (LRN
// backward falls to lrn_ref, 40x slower than two conversions; pooling to
// simple_nchw). y and dx are left blocked where layout.go's rules allow, and inputs in
// another layout are converted on the way in; as in conv, forward's converted x is
// kept for backward while x is unwritten.
//
// The workspace describes the x of the latest forward. Backward checks that x is
// still that buffer, unwritten (by its stamp); if not it reruns forward into a
// private output first, so a backward never reads a stale workspace.
type fwdBwd struct {
	b         *Backend
	what      string
	in, out   backend.Shape
	fwd, bwd  *kernel
	bwdReadsX bool           // LRN's backward takes x; pooling's does not
	x, xB, dy *staged        // forward's x, backward's x (LRN), backward's dy
	y, dx     *output        // forward's y, backward's dx
	ws        unsafe.Pointer // nil when the layer needs none
	wsStamp   uint64         // stamp of the x that ws describes
	spareY    unsafe.Pointer // forward's output when backward has to redo forward
	Impl      [2]string
}

// blockedTag is the activation layout oneDNN's JIT kernels prefer on this CPU
// (TestLayoutChannelCounts holds it to what its convolutions pick).
func blockedTag() C.dnnl_format_tag_t {
	if isaHas(C.dnnl_cpu_isa_avx512_core) {
		return C.dnnl_nChw16c
	}
	return C.dnnl_nChw8c
}

// newFwdBwd builds the kernels from forward and backward op descriptors (on the
// layouts the primitives should run on); the backward primitive descriptor is
// created with forward's as its hint.
func (b *Backend) newFwdBwd(what string, in, out backend.Shape, fd, bd unsafe.Pointer, bwdReadsX bool) (*fwdBwd, error) {
	o := &fwdBwd{b: b, what: what, in: in, out: out, bwdReadsX: bwdReadsX}
	xPlain, err := plainMD(C.dnnl_nchw, in.N, in.C, in.H, in.W)
	if err != nil {
		return nil, err
	}
	yPlain, err := plainMD(C.dnnl_nchw, out.N, out.C, out.H, out.W)
	if err != nil {
		return nil, err
	}
	fpd, err := b.primDesc(what+" forward", fd, false, nil)
	if err != nil {
		return nil, err
	}
	defer destroyPD(fpd)
	f := C.const_dnnl_primitive_desc_t(fpd)
	if o.x, err = b.stage(what+" x", xPlain, queryMD(f, C.dnnl_query_src_md)); err != nil {
		return nil, err
	}
	if o.y, err = b.newOutput(what+" y", yPlain, queryMD(f, C.dnnl_query_dst_md), out.Len()); err != nil {
		return nil, err
	}
	if b.inference { // forward_inference: no workspace, no backward
		if o.fwd, err = b.newKernel(what+" forward", fpd, arg{kind: C.DNNL_ARG_SRC, md: o.x.want}, arg{kind: C.DNNL_ARG_DST, md: o.y.md}); err != nil {
			return nil, err
		}
		o.Impl = [2]string{o.fwd.impl, ""}
		return o, nil
	}
	bpd, err := b.primDesc(what+" backward", bd, false, f)
	if err != nil {
		return nil, err
	}
	defer destroyPD(bpd)
	bw := C.const_dnnl_primitive_desc_t(bpd)
	if o.dy, err = b.stage(what+" dy", yPlain, queryMD(bw, C.dnnl_query_diff_dst_md)); err != nil {
		return nil, err
	}
	if o.dx, err = b.newOutput(what+" dx", xPlain, queryMD(bw, C.dnnl_query_diff_src_md), in.Len()); err != nil {
		return nil, err
	}
	fargs := []arg{{kind: C.DNNL_ARG_SRC, md: o.x.want}, {kind: C.DNNL_ARG_DST, md: o.y.md}}
	var bargs []arg
	if bwdReadsX {
		if o.xB, err = b.stage(what+" x for backward", xPlain, queryMD(bw, C.dnnl_query_src_md), o.x); err != nil {
			return nil, err
		}
		bargs = append(bargs, arg{kind: C.DNNL_ARG_SRC, md: o.xB.want})
	}
	bargs = append(bargs, arg{kind: C.DNNL_ARG_DIFF_DST, md: o.dy.want}, arg{kind: C.DNNL_ARG_DIFF_SRC, md: o.dx.md})
	if ws := queryMD(f, C.dnnl_query_workspace_md); mdBytes(&ws) > 0 {
		if o.ws, err = b.allocInternal(mdBytes(&ws)); err != nil {
			return nil, fmt.Errorf("%s workspace: %w", what, err)
		}
		fargs = append(fargs, arg{kind: C.DNNL_ARG_WORKSPACE, md: ws, fixed: o.ws})
		bargs = append(bargs, arg{kind: C.DNNL_ARG_WORKSPACE, md: ws, fixed: o.ws})
	}
	if o.fwd, err = b.newKernel(what+" forward", fpd, fargs...); err != nil {
		return nil, err
	}
	if o.bwd, err = b.newKernel(what+" backward", bpd, bargs...); err != nil {
		return nil, err
	}
	o.Impl = [2]string{o.fwd.impl, o.bwd.impl}
	return o, nil
}

func (o *fwdBwd) OutShape() backend.Shape { return o.out }

func (o *fwdBwd) Forward(x, y backend.Buffer) error {
	a := args{b: o.b, op: "cpu " + o.what + " forward"}
	xb, yb := a.get(x, o.in.Len(), "x"), a.get(y, o.out.Len(), "y")
	if a.err != nil {
		return a.err
	}
	xp, err := o.x.from(o.b, xb)
	if err != nil {
		return err
	}
	yp, err := o.y.to(o.b, yb)
	if err != nil {
		return err
	}
	defer yb.wrote()
	if err := o.fwd.run(o.b, xp, yp); err != nil {
		return err
	}
	o.wsStamp = xb.stamp.Load()
	return o.y.finish(o.b, yb)
}

// Backward overwrites dx from dy (and x for LRN); y is not read, the workspace
// carries what backward needs of it.
func (o *fwdBwd) Backward(x, y, dy, dx backend.Buffer) error {
	if o.bwd == nil {
		return errInference("cpu " + o.what + " backward")
	}
	a := args{b: o.b, op: "cpu " + o.what + " backward"}
	xb, _ := a.get(x, o.in.Len(), "x"), a.get(y, o.out.Len(), "y")
	dyb, dxb := a.get(dy, o.out.Len(), "dy"), a.get(dx, o.in.Len(), "dx")
	if a.err != nil {
		return a.err
	}
	if o.ws != nil && o.wsStamp != xb.stamp.Load() {
		if err := o.redoForward(xb); err != nil {
			return err
		}
	}
	dyp, err := o.dy.from(o.b, dyb)
	if err != nil {
		return err
	}
	dxp, err := o.dx.to(o.b, dxb)
	if err != nil {
		return err
	}
	defer dxb.wrote()
	if o.bwdReadsX {
		xp, err := o.xB.from(o.b, xb)
		if err != nil {
			return err
		}
		err = o.bwd.run(o.b, xp, dyp, dxp)
	} else {
		err = o.bwd.run(o.b, dyp, dxp)
	}
	if err != nil {
		return err
	}
	return o.dx.finish(o.b, dxb)
}

// redoForward recomputes the workspace for x, writing y where nobody reads it.
func (o *fwdBwd) redoForward(xb *buffer) error {
	yp := o.y.buf
	if yp == nil {
		if o.spareY == nil {
			p, err := o.b.allocInternal(4 * int64(o.out.Len()))
			if err != nil {
				return fmt.Errorf("%s backward: redo forward: %w", o.what, err)
			}
			o.spareY = p
		}
		yp = o.spareY
	}
	xp, err := o.x.from(o.b, xb)
	if err != nil {
		return err
	}
	if err := o.fwd.run(o.b, xp, yp); err != nil {
		return err
	}
	o.wsStamp = xb.stamp.Load()
	return nil
}
