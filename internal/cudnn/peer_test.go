package cudnn

import "alexnet/internal/parallel"

// The towers join through CopyPeer when the backend offers it.
var _ parallel.PeerCopier = (*Backend)(nil)
