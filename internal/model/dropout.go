package model

import "alexnet/internal/backend"

// dropoutLayer: inverted dropout while training (y = x * mask, mask 0 or 1/(1-p)),
// identity at evaluation. Out of place, so the ReLU before it keeps its output.
type dropoutLayer struct {
	bufs
	b       backend.Backend
	mask    backend.Buffer
	p       float32
	trained bool // whether the last forward applied a mask
}

func (l *dropoutLayer) forward(train bool, seed uint64) error {
	l.trained = train && l.p > 0
	if !l.trained {
		if l.y == l.x { // in place (an inference network): nothing to do
			return nil
		}
		return l.b.Copy(l.y, l.x)
	}
	return l.b.DropoutForward(l.x, l.y, l.mask, l.p, seed)
}

// backward: dx = dy * mask.
func (l *dropoutLayer) backward() error {
	if l.dx == nil {
		return nil
	}
	if !l.trained {
		return l.b.Copy(l.dx, l.dy)
	}
	return l.b.Mul(l.dy, l.mask, l.dx)
}
