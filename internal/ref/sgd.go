package ref

import (
	"fmt"
	"math"

	"alexnet/internal/backend"
	"alexnet/internal/lowp"
)

// SGD with momentum and weight decay in the paper's form (Krizhevsky et al. 2012,
// section 5), over each parameter tensor of ps:
//
//	v <- momentum*v - decay*lr*w - lr*(gscale*g)
//	w <- w + v                                  w, g, v [len]
//
// Per-layer multipliers (Caffe's lr_mult, decay_mult) are folded into lr and decay
// by the caller; gscale undoes a loss scale (1 without one).
func (r *Backend) SGD(ps []backend.SGDParam, momentum, gscale float32) error {
	for i, p := range ps {
		ck := checker{op: fmt.Sprintf("sgd (tensor %d)", i)}
		ws := ck.any(p.W, "w")
		gs := ck.get(p.G, len(ws), "g")
		vs := ck.get(p.V, len(ws), "v")
		if ck.err != nil {
			return ck.err
		}
		sgd(ws, gs, vs, p.LR, momentum, p.Decay, gscale)
	}
	return nil
}

func sgd[T float](w, g, v []T, lr, momentum, decay, gscale float32) {
	m, dl, l, gs := float64(momentum), float64(decay)*float64(lr), float64(lr), float64(gscale)
	for i := range w {
		nv := m*float64(v[i]) - dl*float64(w[i]) - l*(gs*float64(g[i]))
		v[i] = T(nv)
		w[i] = T(float64(w[i]) + float64(v[i]))
	}
}

// Scale: b <- s*b.
func (r *Backend) Scale(b backend.Buffer, s float32) error {
	ck := checker{op: "scale"}
	d := ck.any(b, "buffer")
	if ck.err != nil {
		return ck.err
	}
	for i := range d {
		d[i] *= s
	}
	return nil
}

// AllFinite reports whether no value of bs is infinite or NaN.
func (r *Backend) AllFinite(bs []backend.Buffer) (bool, error) {
	for i, b := range bs {
		ck := checker{op: fmt.Sprintf("all-finite (buffer %d)", i)}
		d := ck.any(b, "buffer")
		if ck.err != nil {
			return false, ck.err
		}
		for _, v := range d {
			if math.IsInf(float64(v), 0) || v != v {
				return false, nil
			}
		}
	}
	return true, nil
}

// Round: dst <- f.Round(src), for backend.Emulate.
func (r *Backend) Round(dst, src backend.Buffer, f lowp.Format) error {
	ck := checker{op: "round"}
	s := ck.any(src, "src")
	d := ck.get(dst, len(s), "dst")
	if ck.err != nil {
		return ck.err
	}
	f.RoundSlice(d, s)
	return nil
}
