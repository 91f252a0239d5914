package model

import "alexnet/internal/backend"

// layer runs one layer of a built network. Its buffers are bound at build time:
// x is the previous layer's output, y its own (the same buffer for in-place layers),
// dy the gradient of y and dx the gradient of x (nil for the first layer, whose input
// gradient nobody needs).
type layer interface {
	forward(train bool, seed uint64) error
	backward() error
}

// bufs are the buffers a layer reads and writes.
type bufs struct {
	x, y, dx, dy backend.Buffer
}
