package backendtest

import (
	"testing"

	"alexnet/internal/backend"
)

// The reference against itself: the comparisons are trivially equal, but the checks
// that do not compare with ref (zero-filled Alloc, size errors, gradients that
// accumulate, masks drawn by DropoutKeep, in-place ReLU, bad labels) hold the
// reference to the interface's contract, and the suite itself gets compiled and run.
func TestRefConforms(t *testing.T) {
	Run(t, func() (backend.Backend, error) { return backend.Open("ref", backend.Options{}) })
}
