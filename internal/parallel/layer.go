package parallel

import "alexnet/internal/backend"

// op runs one tower's share of a layer on the tower's backend. Its buffers are
// bound at build time: x is what the op reads (OpIn: the tower's part of the
// previous output, or a gathered or extended copy of it), y what it writes (OpOut),
// dy the gradient of y and dx the gradient of x (nil when nobody needs it).
type op interface {
	forward(train bool, seed uint64) error
	backward() error
}

// bufs are the buffers an op reads and writes.
type bufs struct {
	x, y, dx, dy backend.Buffer
}
