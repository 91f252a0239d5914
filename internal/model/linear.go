package model

import "alexnet/internal/backend"

// linearLayer is a part's share of a linear layer:
//
//	y[N, Out'] = x[N, In] w[Out', In]^T + b[Out']
//
// x is always the whole input (on a tower, both towers' halves side by side);
// Out' is Out on one device and for the classifier on the first tower, else Out/2.
type linearLayer struct {
	bufs
	op   backend.Linear
	w, b *paramPart
}

func (l *linearLayer) forward(bool, uint64) error {
	return l.op.Forward(l.x, l.w.W, l.b.W, l.y)
}

// backward: dw += dy^T x, db += sum_n dy, dx = dy w (on a tower, its contribution
// to the gradient of the whole input).
func (l *linearLayer) backward() error {
	if err := l.op.BackwardFilter(l.x, l.dy, l.w.G, l.b.G); err != nil {
		return err
	}
	if l.dx == nil {
		return nil
	}
	return l.op.BackwardData(l.w.W, l.dy, l.dx)
}
