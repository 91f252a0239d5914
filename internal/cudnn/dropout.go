package cudnn

import (
	"fmt"

	"alexnet/internal/backend"
)

// Dropout with inverted scaling, elementwise over any shape, by the NVRTC kernels.
//
//	forward:  mask[i] = 1/(1-p) if backend.DropoutKeep(seed, i, p) else 0
//	          y = x * mask                      x, y, mask [len]; x and y may be one buffer
//	backward: dx = dy * mask                    dy, mask, dx [len]
//
// The kernel draws DropoutKeep's splitmix64 bit for bit, so the mask equals the CPU
// backends' for the same seed. The mask is kept (as floats) rather than redrawn in
// the backward, as the other backends do.

func (b *Backend) DropoutForward(x, y, mask backend.Buffer, p float32, seed uint64) error {
	if !(p >= 0 && p < 1) {
		return fmt.Errorf("cuda dropout forward: probability %g must be in [0, 1)", p)
	}
	a := b.args("dropout forward")
	xp, n := a.any(x, "x")
	yp := a.get(y, n, "y")
	mp := a.get(mask, n, "mask")
	if a.err != nil || n == 0 {
		return a.err
	}
	done, err := b.enter(a.op)
	if err != nil {
		return err
	}
	defer done()
	scale := 1 / (1 - p) // float32, as backend's other implementations compute it
	return wrapOp(a.op, b.elementwise("dropout_forward", n, xp, yp, mp, seed, p, scale, int64(n)))
}

// Mul: out = a * b (dropout's backward: dx = dy * mask).
func (b *Backend) Mul(x, y, out backend.Buffer) error {
	a := b.args("mul")
	dyp, n := a.any(x, "a")
	mp := a.get(y, n, "b")
	dxp := a.get(out, n, "out")
	if a.err != nil || n == 0 {
		return a.err
	}
	done, err := b.enter(a.op)
	if err != nil {
		return err
	}
	defer done()
	return wrapOp(a.op, b.elementwise("mul", n, dyp, mp, dxp, int64(n)))
}
