package cudnn

import "alexnet/internal/backend"

// The towers join through CopyPeer when the backend offers it.
var _ backend.PeerCopier = (*Backend)(nil)
