package model

import "alexnet/internal/backend"

// linearLayer: y[N, Out] = x[N, In] w[Out, In]^T + b[Out].
type linearLayer struct {
	bufs
	op backend.Linear
	p  *Param
	pb *Param
}

func (l *linearLayer) forward(bool, uint64) error {
	return l.op.Forward(l.x, l.p.W, l.pb.W, l.y)
}

// backward: dw += dy^T x, db += sum_n dy, dx = dy w.
func (l *linearLayer) backward() error {
	if err := l.op.BackwardFilter(l.x, l.dy, l.p.G, l.pb.G); err != nil {
		return err
	}
	if l.dx == nil {
		return nil
	}
	return l.op.BackwardData(l.p.W, l.dy, l.dx)
}
