package cudnn

import (
	"alexnet/csrc"
	"alexnet/internal/backend"
)

// ReLU through cuDNN's activation, elementwise over any shape.
//
//	forward:  y = max(x, 0)                 x, y [len]; x and y may be one buffer
//	backward: dx = dy where y > 0, else 0   y, dy, dx [len]; dy and dx may be one buffer
//
// cudnnActivationBackward wants x as well; y stands in for it, since y > 0 exactly
// where x > 0, which is what lets the forward run in place. cuDNN allows both in
// place (same descriptor for the aliased tensors).

func (b *Backend) ReLUForward(x, y backend.Buffer) error {
	a := b.args("relu forward")
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
	d, err := b.flatDesc(n)
	if err == nil {
		err = csrc.CudnnActivationForward(b.dnn, b.relu, 1, d, xp, 0, d, yp)
	}
	return wrapOp(a.op, err)
}

func (b *Backend) ReLUBackward(y, dy, dx backend.Buffer) error {
	a := b.args("relu backward")
	yp, n := a.any(y, "y")
	dyp := a.get(dy, n, "dy")
	dxp := a.get(dx, n, "dx")
	if a.err != nil || n == 0 {
		return a.err
	}
	done, err := b.enter(a.op)
	if err != nil {
		return err
	}
	defer done()
	d, err := b.flatDesc(n)
	if err == nil {
		err = csrc.CudnnActivationBackward(b.dnn, b.relu, 1, d, yp, d, dyp, d, yp, 0, d, dxp)
	}
	return wrapOp(a.op, err)
}

// wrapOp prefixes a library error with the op that met it.
func wrapOp(op string, err error) error {
	if err == nil {
		return nil
	}
	return &opError{op: op, err: err}
}

type opError struct {
	op  string
	err error
}

func (e *opError) Error() string { return "cuda " + e.op + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }
