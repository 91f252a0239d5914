package model

import "alexnet/internal/backend"

// layer runs one part's share of one layer, forward and backward side by side in
// each layer's file. Its buffers are bound at build time: x is what it reads (the
// previous layer's output, or a gathered or extended copy of it), y what it writes
// (the same buffer for in-place layers), dy the gradient of y and dx the gradient
// of x (nil where nobody needs it: the first layer).
type layer interface {
	forward(train bool, seed uint64) error
	backward() error
}

// bufs are the buffers a layer reads and writes.
type bufs struct {
	x, y, dx, dy backend.Buffer
}
