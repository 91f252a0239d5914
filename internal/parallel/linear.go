package parallel

import "alexnet/internal/backend"

// linearOp is a tower's half of a hidden linear layer, or the whole classifier on
// the first tower:
//
//	y[N, Out'] = x[N, In] w[Out', In]^T + b[Out']
//
// x is always the whole input (both towers' halves side by side); Out' is Out/2,
// or Out for the classifier.
type linearOp struct {
	bufs
	op backend.Linear
	w  *param
	b  *param
}

func (l *linearOp) forward(bool, uint64) error {
	return l.op.Forward(l.x, l.w.W, l.b.W, l.y)
}

// backward: dw += dy^T x, db += sum_n dy, dx = dy w (this tower's contribution to
// the gradient of the whole input).
func (l *linearOp) backward() error {
	if err := l.op.BackwardFilter(l.x, l.dy, l.w.G, l.b.G); err != nil {
		return err
	}
	if l.dx == nil {
		return nil
	}
	return l.op.BackwardData(l.w.W, l.dy, l.dx)
}
