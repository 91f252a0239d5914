package parallel

import "alexnet/internal/backend"

// reluOp runs in place (y is x) on the tower's half: backward needs only y's sign.
type reluOp struct {
	bufs
	b backend.Backend
}

func (l *reluOp) forward(bool, uint64) error { return l.b.ReLUForward(l.x, l.y) }

// backward: dx = dy where y > 0, else 0.
func (l *reluOp) backward() error {
	if l.dx == nil {
		return nil
	}
	return l.b.ReLUBackward(l.y, l.dy, l.dx)
}
