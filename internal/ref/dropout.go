package ref

import (
	"fmt"

	"alexnet/internal/backend"
)

// Dropout with inverted scaling, elementwise over any shape.
//
//	forward:  mask[i] = 1/(1-p) if backend.DropoutKeep(seed, i, p) else 0
//	          y = x * mask                      x, y, mask [len]; x and y may be one buffer
//	backward: dx = dy * mask                    dy, mask, dx [len]
//
// i is the flat index into the whole buffer, so the mask depends on nothing but
// (seed, i, p): every backend draws the same one.

func (r *Backend) DropoutForward(x, y, mask backend.Buffer, p float32, seed uint64) error {
	if !(p >= 0 && p < 1) {
		return fmt.Errorf("dropout forward: probability %g must be in [0, 1)", p)
	}
	ck := checker{op: "dropout forward"}
	xs := ck.any(x, "x")
	ys := ck.get(y, len(xs), "y")
	ms := ck.get(mask, len(xs), "mask")
	if ck.err != nil {
		return ck.err
	}
	dropoutForward(xs, ys, ms, p, seed)
	return nil
}

// Mul: out = a * b, dropout's backward (dx = dy * mask) among others.
func (r *Backend) Mul(a, b, out backend.Buffer) error {
	ck := checker{op: "mul"}
	as := ck.any(a, "a")
	bs := ck.get(b, len(as), "b")
	outs := ck.get(out, len(as), "out")
	if ck.err != nil {
		return ck.err
	}
	dropoutBackward(as, bs, outs)
	return nil
}

// Axpy: y += alpha * x.
func (r *Backend) Axpy(alpha float32, x, y backend.Buffer) error {
	ck := checker{op: "axpy"}
	xs := ck.any(x, "x")
	ys := ck.get(y, len(xs), "y")
	if ck.err != nil {
		return ck.err
	}
	for i, v := range xs {
		ys[i] += alpha * v
	}
	return nil
}

func dropoutForward[T float](x, y, mask []T, p float32, seed uint64) {
	scale := T(1 / (1 - p)) // computed in float32, as every backend can
	for i := range x {
		if backend.DropoutKeep(seed, i, p) {
			mask[i] = scale
		} else {
			mask[i] = 0
		}
		y[i] = x[i] * mask[i]
	}
}

func dropoutBackward[T float](dy, mask, dx []T) {
	for i := range dy {
		dx[i] = dy[i] * mask[i]
	}
}
