// Package ref is the pure-Go reference backend: naive loops that read like the
// formulas they implement, so that the other backends (oneDNN, cuDNN) and the model
// can be checked against it. It is the spec, not the fast path.
//
// Each op lives in its own file with its forward and backward side by side. The
// arithmetic is written once as generic kernels over float32 and float64: the backend
// runs them on float32 buffers, and the finite-difference tests run the very same
// kernels in float64, where central differences are accurate to ~1e-9 instead of the
// ~1e-3 that float32 allows. Sums are accumulated in float64 either way.
package ref

import (
	"fmt"
	"runtime"
	"sync"

	"alexnet/internal/backend"
)

func init() {
	backend.Register("ref", func(o backend.Options) (backend.Backend, error) { return New(o), nil })
}

// Buffer is a ref buffer: plain host memory. It is exported so tests, and host-side
// backends, can read and write the data without a copy.
type Buffer struct {
	Data []float32
}

func (b *Buffer) Len() int { return len(b.Data) }

// Data returns the host slice behind a ref buffer, or nil when b is not one.
func Data(b backend.Buffer) []float32 {
	if rb, ok := b.(*Buffer); ok && rb != nil {
		return rb.Data
	}
	return nil
}

// Backend is the reference backend. Its zero value is not usable; call New.
type Backend struct {
	workers int

	mu    sync.Mutex
	live  map[*Buffer]struct{} // so Free of a foreign or freed buffer is a no-op
	inUse int64
	peak  int64
}

// New opens a reference backend. Options.Threads bounds the goroutines an op uses
// (0: GOMAXPROCS).
func New(o backend.Options) *Backend {
	w := o.Threads
	if w <= 0 {
		w = runtime.GOMAXPROCS(0)
	}
	return &Backend{workers: w, live: map[*Buffer]struct{}{}}
}

func (r *Backend) Name() string { return "ref" }
func (r *Backend) Sync() error  { return nil }
func (r *Backend) Close() error { return nil }

// maxAlloc keeps 4*n inside an int64 and far below what make() would refuse with a
// panic instead of an error.
const maxAlloc = 1 << 40

func (r *Backend) Alloc(n int) (backend.Buffer, error) {
	if n < 0 || n > maxAlloc {
		return nil, fmt.Errorf("ref: alloc of %d float32 is out of range", n)
	}
	b := &Buffer{Data: make([]float32, n)}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.live[b] = struct{}{}
	r.inUse += 4 * int64(n)
	r.peak = max(r.peak, r.inUse)
	return b, nil
}

// Free releases b. Freeing a buffer twice, or one this backend did not allocate, does
// nothing, so the accounting cannot go wrong; using a freed buffer is an error later
// (it has length 0).
func (r *Backend) Free(b backend.Buffer) {
	rb, ok := b.(*Buffer)
	if !ok || rb == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.live[rb]; !ok {
		return
	}
	delete(r.live, rb)
	r.inUse -= 4 * int64(len(rb.Data))
	rb.Data = nil
}

func (r *Backend) Memory() backend.MemStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return backend.MemStats{InUse: r.inUse, Peak: r.peak}
}

func (r *Backend) Upload(dst backend.Buffer, src []float32) error {
	d, err := view("upload", "dst", dst, len(src))
	if err != nil {
		return err
	}
	copy(d, src)
	return nil
}

// Host gives dst's memory to fill (backend.HostMemory).
func (r *Backend) Host(dst backend.Buffer) ([]float32, error) {
	return view("host", "dst", dst, dst.Len())
}

func (r *Backend) Download(dst []float32, src backend.Buffer) error {
	s, err := view("download", "src", src, len(dst))
	if err != nil {
		return err
	}
	copy(dst, s)
	return nil
}

func (r *Backend) Copy(dst, src backend.Buffer) error {
	ck := checker{op: "copy"}
	s := ck.any(src, "src")
	d := ck.get(dst, len(s), "dst")
	if ck.err != nil {
		return ck.err
	}
	copy(d, s)
	return nil
}

func (r *Backend) Zero(b backend.Buffer) error {
	ck := checker{op: "zero"}
	d := ck.any(b, "buffer")
	if ck.err != nil {
		return ck.err
	}
	clear(d)
	return nil
}

// checker unpacks buffer arguments of one call, keeping the first error, so an op
// validates all its arguments in a few readable lines.
type checker struct {
	op  string
	err error
}

// any returns b's data whatever its length.
func (c *checker) any(b backend.Buffer, name string) []float32 {
	if c.err != nil {
		return nil
	}
	rb, ok := b.(*Buffer)
	switch {
	case b == nil || (ok && rb == nil):
		c.err = fmt.Errorf("%s: %s is nil", c.op, name)
	case !ok:
		c.err = fmt.Errorf("%s: %s is a %T, not a ref buffer", c.op, name, b)
	default:
		return rb.Data
	}
	return nil
}

// get returns b's data, which must hold exactly n values.
// atLeast returns the first n values of b, which must hold at least n.
func (c *checker) atLeast(b backend.Buffer, n int, name string) []float32 {
	d := c.any(b, name)
	if c.err != nil {
		return nil
	}
	if len(d) < n {
		c.err = fmt.Errorf("%s: %s holds %d values, want at least %d", c.op, name, len(d), n)
		return nil
	}
	return d[:n:n]
}

func (c *checker) get(b backend.Buffer, n int, name string) []float32 {
	d := c.any(b, name)
	if c.err == nil && len(d) != n {
		c.err = fmt.Errorf("%s: %s holds %d values, want %d", c.op, name, len(d), n)
		if len(d) == 0 {
			c.err = fmt.Errorf("%w (freed?)", c.err)
		}
		return nil
	}
	return d
}

func view(op, name string, b backend.Buffer, n int) ([]float32, error) {
	c := checker{op: op}
	d := c.get(b, n, name)
	return d, c.err
}

// float is what the kernels compute in: float32 in the backend, float64 in the
// gradient checks.
type float interface{ ~float32 | ~float64 }

// parallelFor runs f(0..n-1) on up to workers goroutines. Callers give each index a
// disjoint part of the output, so no locking is needed and results do not depend on
// the number of workers.
func parallelFor(workers, n int, f func(i int)) {
	if workers <= 1 || n <= 1 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	workers = min(workers, n)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += workers {
				f(i)
			}
		}(w)
	}
	wg.Wait()
}
