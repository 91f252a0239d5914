package model

import "alexnet/internal/backend"

// convLayer: y[N, OutC, OH, OW] = conv(x[N, C, H, W], w[OutC, C/G, K, K]) + b[OutC].
type convLayer struct {
	bufs
	op backend.Conv
	p  *Param // weight
	pb *Param // bias
}

func (l *convLayer) forward(bool, uint64) error {
	return l.op.Forward(l.x, l.p.W, l.pb.W, l.y)
}

// backward: dw += x (*) dy, db += sum dy, dx = dy (*)^T w.
func (l *convLayer) backward() error {
	if err := l.op.BackwardFilter(l.x, l.dy, l.p.G, l.pb.G); err != nil {
		return err
	}
	if l.dx == nil {
		return nil
	}
	return l.op.BackwardData(l.p.W, l.dy, l.dx)
}
