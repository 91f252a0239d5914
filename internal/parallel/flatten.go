package parallel

// flattenOp reinterprets the tower's [N, C/2, H, W] as [N, C/2*H*W]: y is x and dx
// is dy. Since NCHW keeps each image's channels in order, the tower's half of the
// flattened features is a contiguous half of each row, as linear layers expect.
type flattenOp struct{ bufs }

func (flattenOp) forward(bool, uint64) error { return nil }
func (flattenOp) backward() error            { return nil }
