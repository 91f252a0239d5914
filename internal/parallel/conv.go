package parallel

import "alexnet/internal/backend"

// convOp is a tower's half of a conv layer:
//
//	y[N, OutC/2, OH, OW] = conv(x[N, C', H, W], w[OutC/2, C/G, K, K]) + b[OutC/2]
//
// with C' = C (groups 1: x is both towers' maps) or C/2 (even groups: x is the
// tower's own maps, G/2 groups); w and b are the tower's rows of the whole layer's.
type convOp struct {
	bufs
	op backend.Conv
	w  *param
	b  *param
}

func (l *convOp) forward(bool, uint64) error {
	return l.op.Forward(l.x, l.w.W, l.b.W, l.y)
}

// backward: dw += x (*) dy, db += sum dy, dx = dy (*)^T w. For groups 1, dx is this
// tower's contribution to the gradient of both towers' maps; the towers add theirs.
func (l *convOp) backward() error {
	if err := l.op.BackwardFilter(l.x, l.dy, l.w.G, l.b.G); err != nil {
		return err
	}
	if l.dx == nil {
		return nil
	}
	return l.op.BackwardData(l.w.W, l.dy, l.dx)
}
