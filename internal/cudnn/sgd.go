package cudnn

import (
	"fmt"
	"unsafe"

	"alexnet/csrc"
	"alexnet/internal/backend"
)

// sgdMax is how many tensors one sgd_multi launch updates (SGD_MAX of sgd.cu).
const sgdMax = 24

// sgdTensor and sgdBatch are sgd.cu's SGDTensor and SGDBatch, the kernel's by-value
// parameter: three 8-byte pointers, a long long and two floats, 40 bytes without
// padding, in both languages (sgd.cu checks its side when it compiles,
// TestParseKernels this one, TestKernelsCompile both against the PTX).
type sgdTensor struct {
	w, g, v   csrc.DevPtr
	n         int64
	lr, decay float32
}

type sgdBatch struct {
	t [sgdMax]sgdTensor
}

// SGD with momentum and weight decay in the paper's form, over every tensor of ps,
// by the NVRTC kernel sgd_multi, which computes as internal/ref does (in float64):
//
//	v <- momentum*v - decay*lr*w - lr*(gscale*g)
//	w <- w + v                                  w, g, v [len]
//
// Up to sgdMax tensors go in one launch: their pointers, lengths, learning rates and
// decays travel by value in the kernel's parameter (sgdBatch), one tensor per grid
// row (blockIdx.y). AlexNet's 16 parameter tensors take one launch.
func (b *Backend) SGD(ps []backend.SGDParam, momentum, gscale float32) error {
	var ts []sgdTensor
	maxN := 0
	for i, p := range ps {
		a := b.args(fmt.Sprintf("sgd (tensor %d)", i))
		wp, n := a.any(p.W, "w")
		gp := a.get(p.G, n, "g")
		vp := a.get(p.V, n, "v")
		if a.err != nil {
			return a.err
		}
		if n == 0 {
			continue
		}
		ts = append(ts, sgdTensor{w: wp, g: gp, v: vp, n: int64(n), lr: p.LR, decay: p.Decay})
		maxN = max(maxN, n)
	}
	if len(ts) == 0 {
		return nil
	}
	done, err := b.enter("sgd")
	if err != nil {
		return err
	}
	defer done()
	for len(ts) > 0 {
		k := min(len(ts), sgdMax)
		var batch sgdBatch
		copy(batch.t[:], ts[:k])
		if err := b.launch("sgd_multi", gridFor(maxN, elemBlock), k, elemBlock, batch, momentum, gscale); err != nil {
			return wrapOp("sgd", err)
		}
		ts = ts[k:]
	}
	return nil
}

// Scale: b <- s*b, in float32 as internal/ref multiplies.
func (b *Backend) Scale(x backend.Buffer, s float32) error {
	a := b.args("scale")
	p, n := a.any(x, "buffer")
	if a.err != nil || n == 0 {
		return a.err
	}
	done, err := b.enter(a.op)
	if err != nil {
		return err
	}
	defer done()
	return wrapOp(a.op, b.elementwise("scale", n, p, s, int64(n)))
}

// Axpy: y += alpha * x.
func (b *Backend) Axpy(alpha float32, x, y backend.Buffer) error {
	a := b.args("axpy")
	xp, n := a.any(x, "x")
	yp := a.get(y, n, "y")
	if a.err != nil || n == 0 {
		return a.err
	}
	done, err := b.enter(a.op)
	if err != nil {
		return err
	}
	defer done()
	return wrapOp(a.op, b.elementwise("axpy", n, alpha, xp, yp, int64(n)))
}

// AllFinite reports whether no value of bs is infinite or NaN: one flag on the
// device, cleared, set by a kernel pass over each buffer, and read back (which
// waits for the stream).
func (b *Backend) AllFinite(bs []backend.Buffer) (bool, error) {
	type span struct {
		p csrc.DevPtr
		n int
	}
	var spans []span
	for i, x := range bs {
		a := b.args(fmt.Sprintf("all-finite (buffer %d)", i))
		p, n := a.any(x, "buffer")
		if a.err != nil {
			return false, a.err
		}
		if n > 0 {
			spans = append(spans, span{p, n})
		}
	}
	if len(spans) == 0 {
		return true, nil
	}
	const op = "all-finite"
	done, err := b.enter(op)
	if err != nil {
		return false, err
	}
	defer done()
	if b.flag == 0 {
		if b.flag, err = b.malloc(4); err != nil {
			return false, wrapOp(op, err)
		}
	}
	if err := csrc.CudaMemsetAsync(b.flag, 0, 4, b.stream); err != nil {
		return false, wrapOp(op, err)
	}
	for _, s := range spans {
		if err := b.elementwise("nonfinite", s.n, s.p, int64(s.n), b.flag); err != nil {
			return false, wrapOp(op, err)
		}
	}
	var flag int32
	if err := csrc.CudaMemcpyDtoHSync(unsafe.Pointer(&flag), b.flag, 4, b.stream); err != nil {
		return false, wrapOp(op, err)
	}
	return flag == 0, nil
}
