package model

import "alexnet/internal/backend"

// opLayer runs a parameterless backend op with a fixed shape: LRN and pooling.
type opLayer struct {
	bufs
	op backend.Op
}

func (l *opLayer) forward(bool, uint64) error { return l.op.Forward(l.x, l.y) }

func (l *opLayer) backward() error {
	if l.dx == nil {
		return nil
	}
	return l.op.Backward(l.x, l.y, l.dy, l.dx)
}
