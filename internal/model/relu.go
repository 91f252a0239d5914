package model

import "alexnet/internal/backend"

// reluLayer runs in place (y is x): backward needs only y's sign.
type reluLayer struct {
	bufs
	b backend.Backend
}

func (l *reluLayer) forward(bool, uint64) error { return l.b.ReLUForward(l.x, l.y) }

// backward: dx = dy where y > 0, else 0.
func (l *reluLayer) backward() error {
	if l.dx == nil {
		return nil
	}
	return l.b.ReLUBackward(l.y, l.dy, l.dx)
}
