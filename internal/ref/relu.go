package ref

import "alexnet/internal/backend"

// ReLU, elementwise over any shape.
//
//	forward:  y = max(x, 0)                 x, y [len]; x and y may be one buffer
//	backward: dx = dy where y > 0, else 0   y, dy, dx [len]; dy and dx may be one buffer
//
// The backward reads y rather than x so the forward can run in place; y > 0 exactly
// when x > 0, and at x = 0 the gradient is 0, as in PyTorch.

func (r *Backend) ReLUForward(x, y backend.Buffer) error {
	ck := checker{op: "relu forward"}
	xs := ck.any(x, "x")
	ys := ck.get(y, len(xs), "y")
	if ck.err != nil {
		return ck.err
	}
	reluForward(xs, ys)
	return nil
}

func (r *Backend) ReLUBackward(y, dy, dx backend.Buffer) error {
	ck := checker{op: "relu backward"}
	ys := ck.any(y, "y")
	dys := ck.get(dy, len(ys), "dy")
	dxs := ck.get(dx, len(ys), "dx")
	if ck.err != nil {
		return ck.err
	}
	reluBackward(ys, dys, dxs)
	return nil
}

func reluForward[T float](x, y []T) {
	for i, v := range x {
		y[i] = max(v, 0)
	}
}

func reluBackward[T float](y, dy, dx []T) {
	for i := range y {
		if y[i] > 0 {
			dx[i] = dy[i]
		} else {
			dx[i] = 0
		}
	}
}
