package model

import (
	"fmt"

	"alexnet/internal/backend"
)

// dropoutLayer: inverted dropout while training (y = x * mask, mask 0 or 1/(1-p)),
// identity at evaluation. Out of place, so the ReLU before it keeps its output;
// in place in an inference network, where it does nothing.
//
// The whole network draws element i of its [N, F] activation as
// backend.DropoutKeep(seed, i, p) with i = n*F + f. A part that holds the whole
// tensor has the same indices, and the backend draws the mask itself. A tower
// holds features off .. off+F/2-1 of each row, so its element (n, j) must use
// n*F + off + j, where the backend's DropoutForward would use n*F/2 + j; no choice
// of seed maps one onto the other for every row. So there the mask is drawn on
// the host with the whole network's indices, uploaded, and applied with Mul. Cost
// per tower and step: N*F/2 hash draws and an upload of N*F/2 floats (AlexNet's
// fc6 and fc7 at batch 128: 2 x 1 MiB per tower).
type dropoutLayer struct {
	bufs
	b    backend.Backend
	mask backend.Buffer
	p    float32
	// host is the mask drawn on the host (a part of the tensor only; nil: the
	// backend draws it); part floats per image of it, at off in each image's
	// whole floats.
	host             []float32
	part, whole, off int
	trained          bool // whether the last forward applied a mask
}

func (l *dropoutLayer) forward(train bool, seed uint64) error {
	l.trained = train && l.p > 0
	if !l.trained {
		if l.y == l.x { // in place (an inference network): nothing to do
			return nil
		}
		return l.b.Copy(l.y, l.x)
	}
	if l.host == nil {
		return l.b.DropoutForward(l.x, l.y, l.mask, l.p, seed)
	}
	if !(l.p >= 0 && l.p < 1) {
		return fmt.Errorf("dropout: probability %g must be in [0, 1)", l.p)
	}
	scale := 1 / (1 - l.p) // in float32, as every backend computes it
	rows := len(l.host) / l.part
	for n := range rows {
		row := l.host[n*l.part : (n+1)*l.part]
		base := n*l.whole + l.off
		for j := range row {
			if backend.DropoutKeep(seed, base+j, l.p) {
				row[j] = scale
			} else {
				row[j] = 0
			}
		}
	}
	if err := l.b.Upload(l.mask, l.host); err != nil {
		return err
	}
	return l.b.Mul(l.x, l.mask, l.y)
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
