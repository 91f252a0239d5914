package onednn

/*
#include "helpers.h"
*/
import "C"

import (
	"fmt"
	"math"
	"unsafe"

	"alexnet/internal/backend"
)

// Fully connected layer on oneDNN's matmul (SGEMM underneath).
//
//	forward          x [N, In], w [Out, In], b [Out] -> y [N, Out]   y  = x w^T + b
//	backward data    w, dy [N, Out]                  -> dx [N, In]   dx = dy w        (overwritten)
//	backward filter  x, dy                           -> dw, db       dw += dy^T x, db += sum_n dy
//
// Matmul rather than inner product: w^T and dy^T are strided views of the plain
// buffers, so nothing is converted, and its sum post-op accumulates into dw in place.
// Inner product's backward weights can only overwrite, which for fc6 (4096 x 9216)
// would mean a 151 MB temporary and another pass over it every step.
//
// Matmul reads rows, so every operand is read in plain order: fc6's x is pool5's
// output flattened, which arrives blocked and is read through a plain copy, made once
// per step for forward and backward filter (see staged). Results are written plain.
type linear struct {
	b                       *Backend
	p                       backend.LinearParams
	fwd, bwdData, bwdFilter *kernel
	x, w, bias, dy          *staged
}

func (b *Backend) NewLinear(p backend.LinearParams) (backend.Linear, error) {
	l, err := b.newLinear(p)
	if err != nil {
		return nil, fmt.Errorf("cpu linear %dx%d->%d: %w", p.N, p.In, p.Out, err)
	}
	return l, nil
}

// newMatmul builds dst [M, N] (+)= src [M, K] weights [K, N] (+ bias [1, N]) on
// descriptors given by sizes and strides.
func (b *Backend) newMatmul(what string, src, wts, bias, dst *md, accumulate bool) (*kernel, error) {
	var d C.dnnl_matmul_desc_t
	if err := status(what+" desc", C.dnnl_matmul_desc_init(&d, src, wts, bias, dst)); err != nil {
		return nil, err
	}
	pd, err := b.primDesc(what, unsafe.Pointer(&d), accumulate, nil)
	if err != nil {
		return nil, err
	}
	defer destroyPD(pd)
	as := []arg{{kind: C.DNNL_ARG_SRC, md: *src}, {kind: C.DNNL_ARG_WEIGHTS, md: *wts}}
	if bias != nil {
		as = append(as, arg{kind: C.DNNL_ARG_BIAS, md: *bias})
	}
	as = append(as, arg{kind: C.DNNL_ARG_DST, md: *dst})
	return b.newKernel(what, pd, as...)
}

func (b *Backend) newLinear(p backend.LinearParams) (*linear, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	l := &linear{b: b, p: p}
	n, in, out := p.N, p.In, p.Out
	// Operands (x, w, dy) in the compute type, bf16 where native (precision.go);
	// results and the bias in float32.
	dt := b.computeType()
	rowMajor := func(dt C.dnnl_data_type_t, r, c int) (md, error) { return stridedTypedMD(dt, []int{r, c}, []int{c, 1}) }
	// transposed views [r, c] of a row-major [c, r] matrix
	transposed := func(r, c int) (md, error) { return stridedTypedMD(dt, []int{r, c}, []int{1, r}) }
	f32 := C.dnnl_data_type_t(C.dnnl_f32)
	var ms [8]md
	var err error
	for i, f := range []func() (md, error){
		func() (md, error) { return rowMajor(dt, n, in) },   // 0 x
		func() (md, error) { return transposed(in, out) },   // 1 w^T
		func() (md, error) { return rowMajor(f32, 1, out) }, // 2 b
		func() (md, error) { return rowMajor(f32, n, out) }, // 3 y
		func() (md, error) { return rowMajor(dt, out, in) }, // 4 w
		func() (md, error) { return transposed(out, n) },    // 5 dy^T
		func() (md, error) { return rowMajor(dt, n, out) },  // 6 dy
		func() (md, error) { return rowMajor(f32, n, in) },  // 7 dx
	} {
		if ms[i], err = f(); err != nil {
			return nil, err
		}
	}
	x, wT, bias, y, w, dyT, dy, dx := &ms[0], &ms[1], &ms[2], &ms[3], &ms[4], &ms[5], &ms[6], &ms[7]
	dw, err := rowMajor(f32, out, in)
	if err != nil {
		return nil, err
	}
	if l.fwd, err = b.newMatmul("linear forward", x, wT, bias, y, false); err != nil {
		return nil, err
	}
	if !b.inference {
		if l.bwdData, err = b.newMatmul("linear backward data", dy, w, nil, dx, false); err != nil {
			return nil, err
		}
		if l.bwdFilter, err = b.newMatmul("linear backward filter", dyT, x, nil, &dw, true); err != nil {
			return nil, err
		}
	}
	for _, st := range []struct {
		s    **staged
		what string
		dt   C.dnnl_data_type_t
		n    int
	}{{&l.x, "x", dt, n * in}, {&l.w, "w", dt, out * in}, {&l.bias, "b", f32, out}, {&l.dy, "dy", dt, n * out}} {
		if *st.s, err = b.plainStage(st.what, st.dt, st.n); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (l *linear) Forward(x, w, b, y backend.Buffer) error {
	a := args{b: l.b, op: "cpu linear forward"}
	xb, wb := a.get(x, l.p.N*l.p.In, "x"), a.get(w, l.p.Out*l.p.In, "w")
	bb, yb := a.get(b, l.p.Out, "b"), a.get(y, l.p.N*l.p.Out, "y")
	if a.err != nil {
		return a.err
	}
	xp, err := l.x.from(l.b, xb)
	if err != nil {
		return err
	}
	wp, err := l.w.from(l.b, wb)
	if err != nil {
		return err
	}
	bp, err := l.bias.from(l.b, bb)
	if err != nil {
		return err
	}
	defer yb.wrote()
	yb.lay = nil
	return l.fwd.run(l.b, xp, wp, bp, yb.p)
}

func (l *linear) BackwardData(w, dy, dx backend.Buffer) error {
	if l.bwdData == nil {
		return errInference("cpu linear backward data")
	}
	a := args{b: l.b, op: "cpu linear backward data"}
	wb, dyb := a.get(w, l.p.Out*l.p.In, "w"), a.get(dy, l.p.N*l.p.Out, "dy")
	dxb := a.get(dx, l.p.N*l.p.In, "dx")
	if a.err != nil {
		return a.err
	}
	dyp, err := l.dy.from(l.b, dyb)
	if err != nil {
		return err
	}
	wp, err := l.w.from(l.b, wb)
	if err != nil {
		return err
	}
	defer dxb.wrote()
	dxb.lay = nil
	return l.bwdData.run(l.b, dyp, wp, dxb.p)
}

func (l *linear) BackwardFilter(x, dy, dw, db backend.Buffer) error {
	if l.bwdFilter == nil {
		return errInference("cpu linear backward filter")
	}
	a := args{b: l.b, op: "cpu linear backward filter"}
	xb, dyb := a.get(x, l.p.N*l.p.In, "x"), a.get(dy, l.p.N*l.p.Out, "dy")
	dwb, dbb := a.get(dw, l.p.Out*l.p.In, "dw"), a.get(db, l.p.Out, "db")
	if a.err != nil {
		return a.err
	}
	dyp, err := l.dy.from(l.b, dyb)
	if err != nil {
		return err
	}
	xp, err := l.x.from(l.b, xb)
	if err != nil {
		return err
	}
	if err := l.b.makePlain(dwb); err != nil {
		return err
	}
	if err := l.b.makePlain(dbb); err != nil {
		return err
	}
	defer dwb.wrote()
	defer dbb.wrote()
	if err := l.bwdFilter.run(l.b, dyp, xp, dwb.p); err != nil {
		return err
	}
	// db += column sums of dy as the matmul read it (rounded to bf16 where native):
	// N x Out adds, too few to be worth a primitive.
	d := dbb.f32()
	if l.b.bf16 {
		g := unsafe.Slice((*uint16)(dyp), l.p.N*l.p.Out)
		for i, v := range g {
			d[i%l.p.Out] += math.Float32frombits(uint32(v) << 16)
		}
		return nil
	}
	g := unsafe.Slice((*float32)(dyp), l.p.N*l.p.Out)
	for i := 0; i < l.p.N; i++ {
		add(d, g[i*l.p.Out:(i+1)*l.p.Out])
	}
	return nil
}
