package cudnn

import (
	"fmt"

	"alexnet/csrc"
	"alexnet/internal/backend"
)

// Pooling: max pooling by cuDNN; adaptive average pooling by cuDNN's average pooling
// when the windows are uniform (the input a multiple of the output), else by the
// NVRTC kernels.
//
//	max forward:  y[n,c,i,j] = max of x[n,c, i*SH-PH .. +KH, j*SW-PW .. +KW]   (padding never wins)
//	max backward: dx = dy routed to each window's maximum, summed where windows overlap
//	adaptive:     y = mean of x over AdaptiveRange windows; dx gets dy/count from each
//	x, dx [N, C, H, W]   y, dy [N, C, OH, OW]
//
// CUDNN_POOLING_MAX_DETERMINISTIC makes the max backward the same on every run.

func (b *Backend) NewPool(p backend.PoolParams) (backend.Op, error) {
	out, err := p.Out()
	if err != nil {
		return nil, err
	}
	if err := checkTensor("pool", p.In); err != nil {
		return nil, err
	}
	switch p.Kind {
	case backend.MaxPool:
		return b.newCudnnPool(p, out, csrc.CudnnPoolingMaxDeterministic, p.KH, p.KW, p.PadH, p.PadW, p.StrideH, p.StrideW)
	case backend.AdaptiveAvgPool:
		if p.In.H%out.H == 0 && p.In.W%out.W == 0 {
			kh, kw := p.In.H/out.H, p.In.W/out.W
			return b.newCudnnPool(p, out, csrc.CudnnPoolingAverageCountIncludePadding, kh, kw, 0, 0, kh, kw)
		}
		return &adaptivePool{b: b, p: p, out: out}, nil
	}
	return nil, fmt.Errorf("cuda pool: unknown kind %v", p.Kind)
}

type cudnnPool struct {
	b      *Backend
	p      backend.PoolParams
	out    backend.Shape
	d      csrc.PoolDesc
	xD, yD csrc.TensorDesc
}

func (b *Backend) newCudnnPool(p backend.PoolParams, out backend.Shape, mode int, kh, kw, ph, pw, sh, sw int) (backend.Op, error) {
	done, err := b.enter("new pool")
	if err != nil {
		return nil, err
	}
	defer done()
	q := &cudnnPool{b: b, p: p, out: out}
	fail := func(err error) (backend.Op, error) { return nil, fmt.Errorf("cuda new %v pool: %w", p.Kind, err) }
	if q.d, err = csrc.CudnnCreatePoolingDescriptor(); err != nil {
		return fail(err)
	}
	d := q.d
	b.onClose(func() error { return csrc.CudnnDestroyPoolingDescriptor(d) })
	if err := csrc.CudnnSetPooling2dDescriptor(q.d, mode, kh, kw, ph, pw, sh, sw); err != nil {
		return fail(err)
	}
	if q.xD, err = b.tensorDesc(p.In.N, p.In.C, p.In.H, p.In.W); err != nil {
		return fail(err)
	}
	if q.yD, err = b.tensorDesc(out.N, out.C, out.H, out.W); err != nil {
		return fail(err)
	}
	n, c, h, w, err := csrc.CudnnGetPooling2dForwardOutputDim(q.d, q.xD)
	if err != nil {
		return fail(err)
	}
	if got := (backend.Shape{N: n, C: c, H: h, W: w}); got != out {
		return fail(fmt.Errorf("cuDNN computes output %v, the interface %v", got, out))
	}
	return q, nil
}

func (q *cudnnPool) OutShape() backend.Shape { return q.out }

func (q *cudnnPool) Forward(x, y backend.Buffer) error {
	a := q.b.args(fmt.Sprintf("%v pool forward", q.p.Kind))
	xp := a.get(x, q.p.In.Len(), "x")
	yp := a.get(y, q.out.Len(), "y")
	if a.err != nil {
		return a.err
	}
	done, err := q.b.enter(a.op)
	if err != nil {
		return err
	}
	defer done()
	return wrapOp(a.op, csrc.CudnnPoolingForward(q.b.dnn, q.d, 1, q.xD, xp, 0, q.yD, yp))
}

func (q *cudnnPool) Backward(x, y, dy, dx backend.Buffer) error {
	a := q.b.args(fmt.Sprintf("%v pool backward", q.p.Kind))
	xp := a.get(x, q.p.In.Len(), "x")
	yp := a.get(y, q.out.Len(), "y")
	dyp := a.get(dy, q.out.Len(), "dy")
	dxp := a.get(dx, q.p.In.Len(), "dx")
	if a.err != nil {
		return a.err
	}
	done, err := q.b.enter(a.op)
	if err != nil {
		return err
	}
	defer done()
	return wrapOp(a.op, csrc.CudnnPoolingBackward(q.b.dnn, q.d, 1, q.yD, yp, q.yD, dyp, q.xD, xp, 0, q.xD, dxp))
}

// adaptivePool is adaptive average pooling with uneven (possibly overlapping)
// windows, by the NVRTC kernels adaptive_avg_forward / adaptive_avg_backward.
type adaptivePool struct {
	b   *Backend
	p   backend.PoolParams
	out backend.Shape
}

func (q *adaptivePool) OutShape() backend.Shape { return q.out }

func (q *adaptivePool) Forward(x, y backend.Buffer) error {
	a := q.b.args("adaptive avg pool forward")
	xp := a.get(x, q.p.In.Len(), "x")
	yp := a.get(y, q.out.Len(), "y")
	if a.err != nil {
		return a.err
	}
	done, err := q.b.enter(a.op)
	if err != nil {
		return err
	}
	defer done()
	in := q.p.In
	return wrapOp(a.op, q.b.elementwise("adaptive_avg_forward", q.out.Len(), xp, yp, int64(in.N*in.C),
		int32(in.H), int32(in.W), int32(q.out.H), int32(q.out.W)))
}

func (q *adaptivePool) Backward(x, y, dy, dx backend.Buffer) error {
	a := q.b.args("adaptive avg pool backward")
	a.get(x, q.p.In.Len(), "x")
	a.get(y, q.out.Len(), "y")
	dyp := a.get(dy, q.out.Len(), "dy")
	dxp := a.get(dx, q.p.In.Len(), "dx")
	if a.err != nil {
		return a.err
	}
	done, err := q.b.enter(a.op)
	if err != nil {
		return err
	}
	defer done()
	in := q.p.In
	return wrapOp(a.op, q.b.elementwise("adaptive_avg_backward", in.Len(), dyp, dxp, int64(in.N*in.C),
		int32(in.H), int32(in.W), int32(q.out.H), int32(q.out.W)))
}
