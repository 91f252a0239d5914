package ref

import "alexnet/internal/backend"

// SGD with momentum and weight decay in the paper's form (Krizhevsky et al. 2012,
// section 5), over one parameter tensor:
//
//	v <- momentum*v - decay*lr*w - lr*g
//	w <- w + v                                  w, g, v [len]
//
// Per-layer multipliers (Caffe's lr_mult, decay_mult) are folded into lr and decay
// by the caller.

func (r *Backend) SGD(w, g, v backend.Buffer, lr, momentum, decay float32) error {
	ck := checker{op: "sgd"}
	ws := ck.any(w, "w")
	gs := ck.get(g, len(ws), "g")
	vs := ck.get(v, len(ws), "v")
	if ck.err != nil {
		return ck.err
	}
	sgd(ws, gs, vs, lr, momentum, decay)
	return nil
}

func sgd[T float](w, g, v []T, lr, momentum, decay float32) {
	m, dl, l := float64(momentum), float64(decay)*float64(lr), float64(lr)
	for i := range w {
		nv := m*float64(v[i]) - dl*float64(w[i]) - l*float64(g[i])
		v[i] = T(nv)
		w[i] = T(float64(w[i]) + float64(v[i]))
	}
}
