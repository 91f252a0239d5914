package cudnn

import "alexnet/internal/backend"

// SGD with momentum and weight decay in the paper's form, over one parameter tensor,
// by an NVRTC kernel that computes as internal/ref does (in float64):
//
//	v <- momentum*v - decay*lr*w - lr*g
//	w <- w + v                                  w, g, v [len]

func (b *Backend) SGD(w, g, v backend.Buffer, lr, momentum, decay float32) error {
	a := b.args("sgd")
	wp, n := a.any(w, "w")
	gp := a.get(g, n, "g")
	vp := a.get(v, n, "v")
	if a.err != nil || n == 0 {
		return a.err
	}
	done, err := b.enter(a.op)
	if err != nil {
		return err
	}
	defer done()
	return wrapOp(a.op, launchSGD(b.kern.fn["sgd"], b.stream, gridFor(n, elemBlock), elemBlock, wp, gp, vp, lr, momentum, decay, n))
}
