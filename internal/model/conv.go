package model

import "alexnet/internal/backend"

// convLayer is a part's share of a conv layer:
//
//	y[N, OutC', OH, OW] = conv(x[N, C', H, W], w[OutC', C/G, K, K]) + b[OutC']
//
// On one device OutC' = OutC and C' = C. On a tower OutC' = OutC/2, and C' = C
// (groups 1: x is both towers' maps) or C/2 (even groups: the tower's own maps,
// G/2 groups); w and b are the tower's rows of the whole layer's.
type convLayer struct {
	bufs
	op   backend.Conv
	w, b *paramPart
}

func (l *convLayer) forward(bool, uint64) error {
	return l.op.Forward(l.x, l.w.W, l.b.W, l.y)
}

// backward: dw += x (*) dy, db += sum dy, dx = dy (*)^T w. For a tower's groups-1
// conv, dx is its contribution to the gradient of both towers' maps; the towers
// add theirs (Network.backwardTasks).
func (l *convLayer) backward() error {
	if err := l.op.BackwardFilter(l.x, l.dy, l.w.G, l.b.G); err != nil {
		return err
	}
	if l.dx == nil {
		return nil
	}
	return l.op.BackwardData(l.w.W, l.dy, l.dx)
}
