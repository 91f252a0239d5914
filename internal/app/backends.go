package app

// The backends register themselves with internal/backend when linked in.
import (
	_ "alexnet/internal/cudnn"
	_ "alexnet/internal/onednn"
	_ "alexnet/internal/ref"
)
