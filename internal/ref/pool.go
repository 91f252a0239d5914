package ref

import (
	"fmt"

	"alexnet/internal/backend"
)

// NewPool builds max pooling (maxpool.go) or adaptive average pooling
// (adaptivepool.go); both are parameterless ops over x [N, C, H, W].
func (r *Backend) NewPool(p backend.PoolParams) (backend.Op, error) {
	out, err := p.Out()
	if err != nil {
		return nil, err
	}
	switch p.Kind {
	case backend.MaxPool:
		return &maxPool{r: r, p: p, out: out}, nil
	case backend.AdaptiveAvgPool:
		return &adaptiveAvgPool{r: r, p: p, out: out}, nil
	}
	return nil, fmt.Errorf("pool: unknown kind %v", p.Kind)
}

// poolArgs checks the four buffers of a pooling backward (or the first two of a
// forward, with dy and dx nil and skipped).
func poolArgs(op string, in, out backend.Shape, x, y, dy, dx backend.Buffer, backward bool) (xs, ys, dys, dxs []float32, err error) {
	ck := checker{op: op}
	xs = ck.get(x, in.Len(), "x")
	ys = ck.get(y, out.Len(), "y")
	if backward {
		dys = ck.get(dy, out.Len(), "dy")
		dxs = ck.get(dx, in.Len(), "dx")
	}
	return xs, ys, dys, dxs, ck.err
}
