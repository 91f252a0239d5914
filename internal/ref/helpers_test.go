package ref

import (
	"fmt"
	"math"
	"testing"

	"alexnet/internal/backend"
)

// relDiff is max|got-want| / max|want| (the tests' "relative to the largest
// magnitude" error), with the index of the worst element.
func relDiff[T float](got, want []T) (rel float64, at int) {
	var maxDiff, maxAbs float64
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if d > maxDiff || math.IsNaN(d) {
			maxDiff, at = d, i
		}
		maxAbs = max(maxAbs, math.Abs(float64(want[i])))
	}
	if math.IsNaN(maxDiff) {
		return math.NaN(), at
	}
	if maxAbs == 0 {
		return maxDiff, at
	}
	return maxDiff / maxAbs, at
}

// compare fails t when got and want differ by more than tol relative to want's
// largest magnitude, and always logs the largest difference.
func compare[T float](t *testing.T, what string, got, want []T, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return
	}
	rel, at := relDiff(got, want)
	msg := fmt.Sprintf("%s: largest relative difference %.3g at %d (got %g, want %g; tolerance %g)", what, rel, at, got[at], want[at], tol)
	if !(rel <= tol) {
		t.Error(msg)
		return
	}
	t.Log(msg)
}

// buf uploads data into a new buffer of b.
func buf(t *testing.T, b backend.Backend, data []float32) backend.Buffer {
	t.Helper()
	x, err := b.Alloc(len(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Upload(x, data); err != nil {
		t.Fatal(err)
	}
	return x
}

// filled is a buffer of n copies of v, to show that an output is overwritten.
func filled(t *testing.T, b backend.Backend, n int, v float32) backend.Buffer {
	t.Helper()
	d := make([]float32, n)
	for i := range d {
		d[i] = v
	}
	return buf(t, b, d)
}

func get(t *testing.T, b backend.Backend, x backend.Buffer) []float32 {
	t.Helper()
	d := make([]float32, x.Len())
	if err := b.Download(d, x); err != nil {
		t.Fatal(err)
	}
	return d
}

func openRef(t *testing.T) backend.Backend {
	t.Helper()
	b, err := backend.Open("ref", backend.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func scaled(x []float32, s float32) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = v * s
	}
	return y
}
