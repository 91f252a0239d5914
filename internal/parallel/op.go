package parallel

import "alexnet/internal/backend"

// opOp runs a parameterless backend op with a fixed shape: pooling on the tower's
// half, or LRN on the tower's half extended by the halo (see haloPlan).
type opOp struct {
	bufs
	op backend.Op
}

func (l *opOp) forward(bool, uint64) error { return l.op.Forward(l.x, l.y) }

func (l *opOp) backward() error {
	if l.dx == nil {
		return nil
	}
	return l.op.Backward(l.x, l.y, l.dy, l.dx)
}
