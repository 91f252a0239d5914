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

// Convolution with groups, plus bias, on oneDNN's direct convolution.
//
//	forward          x [N, C, H, W], w [OC, C/G, KH, KW], b [OC] -> y [N, OC, OH, OW]
//	backward data    w, dy [N, OC, OH, OW]                        -> dx [N, C, H, W]  (overwritten)
//	backward filter  x, dy                                        -> dw, db           (+=)
//
// oneDNN picks its own layouts (format_tag any: on AVX2 typically nChw8c activations
// and OIhw8i8o-like weights, where its JIT kernels run fastest). y and dx are left in
// the blocked layout when layout.go's rules allow, so the next conv, ReLU, LRN or
// pooling reads them as they are; weights and their gradients stay plain in the
// caller's buffers. Inputs in another layout are staged and shared (see staged), so
// per training step w is converted once per layout, and x and dy at most once each.

// convPlainLayouts makes new conv ops use the plain layouts throughout (oneDNN then
// falls back to its im2col+GEMM kernels): a switch for BenchmarkConvLayouts, which
// measures whether the blocked layouts pay for their conversions.
var convPlainLayouts = false

type conv struct {
	b   *Backend
	p   backend.ConvParams
	out backend.Shape

	fwd, bwdData, bwdFilter *kernel
	x, w, dy, bias          *staged // forward's x, w and b; backward data's dy
	w2                      *staged // backward data's w (often the same as w)
	xF, dyF                 *staged // backward filter's x and dy (often the same as x, dy)
	y, dx, dw               *output
	db                      unsafe.Pointer // backward filter's bias gradient, added to db
	Impl                    [3]string
}

func (b *Backend) NewConv(p backend.ConvParams) (backend.Conv, error) {
	c, err := b.newConv(p)
	if err != nil {
		return nil, fmt.Errorf("cpu conv %s %dx%d/%d pad %d groups %d: %w", p.In, p.KH, p.KW, p.StrideH, p.PadH, p.Groups, err)
	}
	return c, nil
}

func (b *Backend) newConv(p backend.ConvParams) (*conv, error) {
	out, err := p.Out()
	if err != nil {
		return nil, err
	}
	c := &conv{b: b, p: p, out: out}
	in, g := p.In, p.Groups

	// Plain layouts at the boundary.
	xPlain, err := plainMD(C.dnnl_nchw, in.N, in.C, in.H, in.W)
	if err != nil {
		return nil, err
	}
	yPlain, err := plainMD(C.dnnl_nchw, out.N, out.C, out.H, out.W)
	if err != nil {
		return nil, err
	}
	var wPlain md
	wDims := []int{p.OutC, in.C / g, p.KH, p.KW}
	wTag := C.dnnl_format_tag_t(C.dnnl_oihw)
	if g > 1 {
		wDims = []int{g, p.OutC / g, in.C / g, p.KH, p.KW}
		wTag = C.dnnl_goihw
	}
	if wPlain, err = plainMD(wTag, wDims...); err != nil {
		return nil, err
	}
	bPlain, err := plainMD(C.dnnl_a, p.OutC)
	if err != nil {
		return nil, err
	}

	// What the primitives are offered: any layout, or the plain ones; in float32, or
	// bf16 where that is native (precision.go; the bias and its gradient stay f32).
	dt := b.computeType()
	offer := func(plain C.dnnl_format_tag_t) C.dnnl_format_tag_t {
		if convPlainLayouts {
			return plain
		}
		return C.dnnl_format_tag_any
	}
	xAny, err := typedMD(dt, offer(C.dnnl_nchw), in.N, in.C, in.H, in.W)
	if err != nil {
		return nil, err
	}
	wAny, err := typedMD(dt, offer(wTag), wDims...)
	if err != nil {
		return nil, err
	}
	yAny, err := typedMD(dt, offer(C.dnnl_nchw), out.N, out.C, out.H, out.W)
	if err != nil {
		return nil, err
	}
	strides := dims(p.StrideH, p.StrideW)
	padL := dims(p.PadH, p.PadW)
	// Right padding that makes oneDNN's output size equal PyTorch's floor: rows past
	// the last window are simply never read (negative padding trims them).
	padR := dims((out.H-1)*p.StrideH+p.KH-in.H-p.PadH, (out.W-1)*p.StrideW+p.KW-in.W-p.PadW)

	var fd, bdd, bwd C.dnnl_convolution_desc_t
	if err := status("forward desc", C.dnnl_convolution_forward_desc_init(&fd, b.forwardKind(), C.dnnl_convolution_direct,
		&xAny, &wAny, &bPlain, &yAny, &strides[0], &padL[0], &padR[0])); err != nil {
		return nil, err
	}
	fpd, err := b.primDesc("forward", unsafe.Pointer(&fd), false, nil)
	if err != nil {
		return nil, err
	}
	defer destroyPD(fpd)
	if err := c.buildForward(xPlain, wPlain, yPlain, bPlain, C.const_dnnl_primitive_desc_t(fpd)); err != nil {
		return nil, err
	}
	if b.inference {
		return c, nil
	}
	if err := status("backward data desc", C.dnnl_convolution_backward_data_desc_init(&bdd, C.dnnl_convolution_direct,
		&xAny, &wAny, &yAny, &strides[0], &padL[0], &padR[0])); err != nil {
		return nil, err
	}
	bdpd, err := b.primDesc("backward data", unsafe.Pointer(&bdd), false, C.const_dnnl_primitive_desc_t(fpd))
	if err != nil {
		return nil, err
	}
	defer destroyPD(bdpd)
	if err := status("backward weights desc", C.dnnl_convolution_backward_weights_desc_init(&bwd, C.dnnl_convolution_direct,
		&xAny, &wAny, &bPlain, &yAny, &strides[0], &padL[0], &padR[0])); err != nil {
		return nil, err
	}
	bwpd, err := b.primDesc("backward weights", unsafe.Pointer(&bwd), false, C.const_dnnl_primitive_desc_t(fpd))
	if err != nil {
		return nil, err
	}
	defer destroyPD(bwpd)
	bd := C.const_dnnl_primitive_desc_t(bdpd)
	bw := C.const_dnnl_primitive_desc_t(bwpd)

	// Backward's stages and outputs, shared with forward's where two primitives
	// chose the same layout.
	wBD, err := b.stage("w to backward data layout", wPlain, queryMD(bd, C.dnnl_query_weights_md), c.w)
	if err != nil {
		return nil, err
	}
	if c.dy, err = b.stage("dy to backward data layout", yPlain, queryMD(bd, C.dnnl_query_diff_dst_md)); err != nil {
		return nil, err
	}
	if c.dx, err = b.newOutput("dx from backward data layout", xPlain, queryMD(bd, C.dnnl_query_diff_src_md), in.Len()); err != nil {
		return nil, err
	}
	if c.xF, err = b.stage("x to backward weights layout", xPlain, queryMD(bw, C.dnnl_query_src_md), c.x); err != nil {
		return nil, err
	}
	if c.dyF, err = b.stage("dy to backward weights layout", yPlain, queryMD(bw, C.dnnl_query_diff_dst_md), c.dy); err != nil {
		return nil, err
	}
	if c.dw, err = b.newGradOutput("dw from backward weights layout", wPlain, queryMD(bw, C.dnnl_query_diff_weights_md)); err != nil {
		return nil, err
	}
	if c.db, err = b.allocInternal(4 * int64(p.OutC)); err != nil {
		return nil, err
	}

	c.w2 = wBD
	if c.bwdData, err = b.newKernel("conv backward data", bdpd,
		arg{kind: C.DNNL_ARG_WEIGHTS, md: wBD.want}, arg{kind: C.DNNL_ARG_DIFF_DST, md: c.dy.want},
		arg{kind: C.DNNL_ARG_DIFF_SRC, md: c.dx.md}); err != nil {
		return nil, err
	}
	if c.bwdFilter, err = b.newKernel("conv backward weights", bwpd,
		arg{kind: C.DNNL_ARG_SRC, md: c.xF.want}, arg{kind: C.DNNL_ARG_DIFF_DST, md: c.dyF.want},
		arg{kind: C.DNNL_ARG_DIFF_WEIGHTS, md: c.dw.md}, arg{kind: C.DNNL_ARG_DIFF_BIAS, md: bPlain, fixed: c.db}); err != nil {
		return nil, err
	}
	c.Impl = [3]string{c.fwd.impl, c.bwdData.impl, c.bwdFilter.impl}
	return c, nil
}

// buildForward builds the forward kernel and what it reads and writes (all an
// inference backend builds).
func (c *conv) buildForward(xPlain, wPlain, yPlain, bPlain md, f C.const_dnnl_primitive_desc_t) error {
	b, p := c.b, c.p
	var err error
	if c.x, err = b.stage("x to forward layout", xPlain, queryMD(f, C.dnnl_query_src_md)); err != nil {
		return err
	}
	if c.w, err = b.stage("w to forward layout", wPlain, queryMD(f, C.dnnl_query_weights_md)); err != nil {
		return err
	}
	if c.bias, err = b.plainStage("b", C.dnnl_f32, p.OutC); err != nil {
		return err
	}
	if c.y, err = b.newOutput("y from forward layout", yPlain, queryMD(f, C.dnnl_query_dst_md), c.out.Len()); err != nil {
		return err
	}
	c.fwd, err = b.newKernel("conv forward", C.dnnl_primitive_desc_t(f),
		arg{kind: C.DNNL_ARG_SRC, md: c.x.want}, arg{kind: C.DNNL_ARG_WEIGHTS, md: c.w.want},
		arg{kind: C.DNNL_ARG_BIAS, md: bPlain}, arg{kind: C.DNNL_ARG_DST, md: c.y.md})
	if err == nil {
		c.Impl = [3]string{c.fwd.impl, "", ""}
	}
	return err
}

func (c *conv) OutShape() backend.Shape { return c.out }

// Forward: y = conv(x, w) + b.
func (c *conv) Forward(x, w, b, y backend.Buffer) error {
	a := args{b: c.b, op: "cpu conv forward"}
	xb, wb := a.get(x, c.p.In.Len(), "x"), a.get(w, c.p.WeightLen(), "w")
	bb, yb := a.get(b, c.p.OutC, "b"), a.get(y, c.out.Len(), "y")
	if a.err != nil {
		return a.err
	}
	xp, err := c.x.from(c.b, xb)
	if err != nil {
		return err
	}
	wp, err := c.w.from(c.b, wb)
	if err != nil {
		return err
	}
	bp, err := c.bias.from(c.b, bb)
	if err != nil {
		return err
	}
	yp, err := c.y.to(c.b, yb)
	if err != nil {
		return err
	}
	defer yb.wrote()
	if err := c.fwd.run(c.b, xp, wp, bp, yp); err != nil {
		return err
	}
	return c.y.finish(c.b, yb)
}

// BackwardData: dx = conv_transpose(dy, w), overwritten.
func (c *conv) BackwardData(w, dy, dx backend.Buffer) error {
	if c.bwdData == nil {
		return errInference("cpu conv backward data")
	}
	a := args{b: c.b, op: "cpu conv backward data"}
	wb, dyb := a.get(w, c.p.WeightLen(), "w"), a.get(dy, c.out.Len(), "dy")
	dxb := a.get(dx, c.p.In.Len(), "dx")
	if a.err != nil {
		return a.err
	}
	wp, err := c.w2.from(c.b, wb)
	if err != nil {
		return err
	}
	dyp, err := c.dy.from(c.b, dyb)
	if err != nil {
		return err
	}
	dxp, err := c.dx.to(c.b, dxb)
	if err != nil {
		return err
	}
	defer dxb.wrote()
	if err := c.bwdData.run(c.b, wp, dyp, dxp); err != nil {
		return err
	}
	return c.dx.finish(c.b, dxb)
}

// BackwardFilter: dw += x (*) dy summed over the batch, db += sum of dy over N, OH, OW.
func (c *conv) BackwardFilter(x, dy, dw, db backend.Buffer) error {
	if c.bwdFilter == nil {
		return errInference("cpu conv backward filter")
	}
	a := args{b: c.b, op: "cpu conv backward filter"}
	xb, dyb := a.get(x, c.p.In.Len(), "x"), a.get(dy, c.out.Len(), "dy")
	dwb, dbb := a.get(dw, c.p.WeightLen(), "dw"), a.get(db, c.p.OutC, "db")
	if a.err != nil {
		return a.err
	}
	xp, err := c.xF.from(c.b, xb)
	if err != nil {
		return err
	}
	dyp, err := c.dyF.from(c.b, dyb)
	if err != nil {
		return err
	}
	dwp, err := c.dw.to(c.b, dwb)
	if err != nil {
		return err
	}
	if err := c.b.makePlain(dbb); err != nil {
		return err
	}
	defer dwb.wrote()
	defer dbb.wrote()
	if err := c.bwdFilter.run(c.b, xp, dyp, dwp); err != nil {
		return err
	}
	if err := c.dw.finish(c.b, dwb); err != nil {
		return err
	}
	add(dbb.f32(), unsafe.Slice((*float32)(c.db), c.p.OutC))
	return nil
}

// add: dst += src.
func add(dst, src []float32) {
	for i, v := range src {
		dst[i] += v
	}
}
