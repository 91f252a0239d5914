// Package onednn is the CPU backend ("cpu"): a thin cgo layer over oneDNN 2.6's C API
// (Debian's libdnnl-dev, OpenMP runtime).
//
// Buffers are 64-byte aligned host memory from C, so oneDNN may keep pointers to them
// and Go loops (dropout, softmax cross-entropy, SGD) read them in place. Every op
// builds its primitives, memory objects and layout conversions once, in NewConv,
// NewLinear, NewLRN and NewPool; a step only points memory objects at buffers and
// executes. Scratchpads are user-managed, so Memory counts every byte oneDNN holds
// for us.
//
// Buffers carry their layout: ops hand oneDNN's blocked activations to each other
// without converting to plain NCHW in between; layout.go has the rules.
//
// Every write to a buffer stamps it with a fresh number. An op that keeps a converted
// copy of an input (conv's blocked x, w and dy) remembers the stamp it converted, so
// backward reuses what forward converted and converts again only when the buffer has
// been written since: correctness never depends on the caller's order of calls.
//
// A Backend may be used from several goroutines as long as no two of them run the
// same op at once (an op's converted copies and scratchpad are its own); ReLU
// kernels are shared per buffer length, so the same holds for ReLUs of one length.
package onednn

/*
#include "helpers.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"alexnet/internal/backend"
)

func init() {
	backend.Register("cpu", func(o backend.Options) (backend.Backend, error) { return Open(o) })
}

// Backend is the oneDNN CPU backend.
type Backend struct {
	engine  C.dnnl_engine_t
	stream  C.dnnl_stream_t
	threads int  // OpenMP threads per primitive, 0 for OpenMP's default
	workers int  // goroutines for the Go loops
	bf16    bool // convolutions and matmuls compute in bf16 (precision.go)
	// inference: forward primitives only (forward_inference: no workspaces), no
	// backward primitives or gradient scratch (backend.Options.Inference).
	inference bool

	clock atomic.Uint64 // source of buffer stamps

	mu       sync.Mutex
	closed   bool
	live     map[*buffer]struct{}
	internal map[unsafe.Pointer]int64 // op-owned memory: scratchpads, workspaces, copies
	kernels  []*kernel
	relu     map[int]*reluKernels
	inUse    int64
	peak     int64
}

// Open creates a CPU engine and stream. Threads > 0 caps both oneDNN's OpenMP threads
// and the goroutines of the Go loops.
func Open(o backend.Options) (*Backend, error) {
	if o.Threads < 0 {
		return nil, fmt.Errorf("cpu backend: threads must be >= 0 (got %d)", o.Threads)
	}
	if C.dnnl_engine_get_count(C.dnnl_cpu) == 0 {
		return nil, fmt.Errorf("cpu backend: %w: oneDNN reports no CPU engine", backend.ErrUnavailable)
	}
	threads := o.Threads
	if threads == 0 {
		// Name the count rather than inherit whatever the OS thread was left with.
		threads = int(C.alx_num_procs())
	}
	b := &Backend{
		threads:   threads,
		workers:   o.Threads,
		live:      map[*buffer]struct{}{},
		internal:  map[unsafe.Pointer]int64{},
		relu:      map[int]*reluKernels{},
		bf16:      o.Precision == backend.BF16 && nativeBF16(),
		inference: o.Inference,
	}
	if b.workers == 0 {
		b.workers = runtime.GOMAXPROCS(0)
	}
	if err := status("cpu backend: engine", C.dnnl_engine_create(&b.engine, C.dnnl_cpu, 0)); err != nil {
		return nil, err
	}
	if err := status("cpu backend: stream", C.dnnl_stream_create(&b.stream, b.engine, C.dnnl_stream_default_flags)); err != nil {
		C.dnnl_engine_destroy(b.engine)
		return nil, err
	}
	return b, nil
}

func (b *Backend) Name() string { return "cpu" }

// forwardKind is the propagation kind of forward primitives: inference (no
// workspace for backward) when the backend was opened for inference.
func (b *Backend) forwardKind() C.dnnl_prop_kind_t {
	if b.inference {
		return C.dnnl_forward_inference
	}
	return C.dnnl_forward_training
}

// errInference is what a backward call on an inference backend returns.
func errInference(op string) error {
	return fmt.Errorf("%s: the cpu backend was opened for inference (backend.Options.Inference): no backward pass", op)
}

// Close destroys every primitive and frees every buffer and op-owned memory; ops and
// buffers of a closed backend must not be used again.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	for _, k := range b.kernels {
		k.destroy()
	}
	b.kernels = nil
	for buf := range b.live {
		C.alx_free(buf.p, C.size_t(4*buf.n))
		buf.p, buf.n = nil, 0
	}
	b.live = nil
	for p, bytes := range b.internal {
		C.alx_free(p, C.size_t(bytes))
	}
	b.internal = nil
	b.inUse = 0
	var errs []error
	if b.stream != nil {
		errs = append(errs, status("cpu backend: destroy stream", C.dnnl_stream_destroy(b.stream)))
	}
	if b.engine != nil {
		errs = append(errs, status("cpu backend: destroy engine", C.dnnl_engine_destroy(b.engine)))
	}
	return errors.Join(errs...)
}

// Sync returns at once in effect: with the OpenMP runtime, primitives finish before
// execute returns.
func (b *Backend) Sync() error { return status("cpu backend: sync", C.dnnl_stream_wait(b.stream)) }

func (b *Backend) Memory() backend.MemStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return backend.MemStats{InUse: b.inUse, Peak: b.peak}
}

func (b *Backend) track(k *kernel) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.kernels = append(b.kernels, k)
}

// buffer is host memory from C; stamp changes on every write (see the package doc),
// lay says how the values are arranged (nil: plain; see layout.go).
type buffer struct {
	p     unsafe.Pointer
	n     int
	owner *Backend
	stamp atomic.Uint64
	lay   *layout
}

func (x *buffer) Len() int { return x.n }

// f32 views the buffer as a Go slice (C memory, so the GC leaves it alone).
func (x *buffer) f32() []float32 { return unsafe.Slice((*float32)(x.p), x.n) }

// wrote gives the buffer a new stamp, invalidating converted copies of it.
func (x *buffer) wrote() { x.stamp.Store(x.owner.clock.Add(1)) }

// maxAlloc keeps byte counts far inside int64 and size_t.
const maxAlloc = 1 << 40

func (b *Backend) Alloc(n int) (backend.Buffer, error) {
	if n < 0 || n > maxAlloc {
		return nil, fmt.Errorf("cpu: alloc of %d float32 is out of range", n)
	}
	p := C.alx_alloc(C.size_t(4 * n))
	if p == nil {
		return nil, fmt.Errorf("cpu: alloc of %d float32 (%d bytes): out of memory", n, 4*n)
	}
	buf := &buffer{p: p, n: n, owner: b}
	buf.wrote()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		C.alx_free(p, C.size_t(4*n))
		return nil, errors.New("cpu: alloc on a closed backend")
	}
	b.live[buf] = struct{}{}
	b.inUse += 4 * int64(n)
	b.peak = max(b.peak, b.inUse)
	return buf, nil
}

// Free releases a buffer; freeing one twice, or one from another backend, does
// nothing, so the accounting cannot go wrong.
func (b *Backend) Free(x backend.Buffer) {
	buf, ok := x.(*buffer)
	if !ok || buf == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.live[buf]; !ok {
		return
	}
	delete(b.live, buf)
	b.inUse -= 4 * int64(buf.n)
	C.alx_free(buf.p, C.size_t(4*buf.n))
	buf.p, buf.n = nil, 0
}

// allocInternal allocates op-owned memory, counted in Memory and freed on Close.
func (b *Backend) allocInternal(bytes int64) (unsafe.Pointer, error) {
	if bytes < 0 || bytes > 4*maxAlloc {
		return nil, fmt.Errorf("cpu: internal alloc of %d bytes is out of range", bytes)
	}
	p := C.alx_alloc(C.size_t(bytes))
	if p == nil {
		return nil, fmt.Errorf("cpu: internal alloc of %d bytes: out of memory", bytes)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.internal[p] = bytes
	b.inUse += bytes
	b.peak = max(b.peak, b.inUse)
	return p, nil
}

// freeInternal releases memory from allocInternal before Close (temporary copies).
func (b *Backend) freeInternal(p unsafe.Pointer) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bytes, ok := b.internal[p]
	if !ok {
		return
	}
	delete(b.internal, p)
	b.inUse -= bytes
	C.alx_free(p, C.size_t(bytes))
}

// args unpacks the buffer arguments of one call, keeping the first error, so an op
// validates all of them in a few lines.
type args struct {
	b   *Backend
	op  string
	err error
}

// get returns x as this backend's buffer of exactly n floats (n < 0: any length).
// atLeast is get for a buffer that may hold more than n values.
func (a *args) atLeast(x backend.Buffer, n int, name string) *buffer {
	buf := a.get(x, -1, name)
	if a.err == nil && buf.n < n {
		a.err = fmt.Errorf("%s: %s holds %d values, want at least %d", a.op, name, buf.n, n)
		return nil
	}
	return buf
}

func (a *args) get(x backend.Buffer, n int, name string) *buffer {
	if a.err != nil {
		return nil
	}
	buf, ok := x.(*buffer)
	switch {
	case x == nil || (ok && buf == nil):
		a.err = fmt.Errorf("%s: %s is nil", a.op, name)
	case !ok:
		a.err = fmt.Errorf("%s: %s is a %T, not a cpu buffer", a.op, name, x)
	case buf.owner != a.b:
		a.err = fmt.Errorf("%s: %s belongs to another cpu backend", a.op, name)
	case buf.p == nil && buf.n == 0 && n != 0:
		a.err = fmt.Errorf("%s: %s is freed or empty", a.op, name)
	case n >= 0 && buf.n != n:
		a.err = fmt.Errorf("%s: %s holds %d values, want %d", a.op, name, buf.n, n)
	default:
		return buf
	}
	return nil
}

func (b *Backend) Upload(dst backend.Buffer, src []float32) error {
	a := args{b: b, op: "upload"}
	d := a.get(dst, len(src), "dst")
	if a.err != nil {
		return a.err
	}
	copy(d.f32(), src)
	d.lay = nil
	d.wrote()
	return nil
}

// Host gives dst's memory to read and fill (backend.HostMemory): plain from now on,
// stamped as written.
func (b *Backend) Host(dst backend.Buffer) ([]float32, error) {
	a := args{b: b, op: "host"}
	d := a.get(dst, dst.Len(), "dst")
	if a.err != nil {
		return nil, a.err
	}
	// Plain first: the caller may read the values (a gradient all-reduced in
	// place), not only overwrite them.
	if err := b.makePlain(d); err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	d.wrote()
	return d.f32(), nil
}

func (b *Backend) Download(dst []float32, src backend.Buffer) error {
	a := args{b: b, op: "download"}
	s := a.get(src, len(dst), "src")
	if a.err != nil {
		return a.err
	}
	v, release, err := b.plainF32(s)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	defer release()
	copy(dst, v)
	return nil
}

func (b *Backend) Copy(dst, src backend.Buffer) error {
	a := args{b: b, op: "copy"}
	s := a.get(src, -1, "src")
	var d *buffer
	if s != nil {
		d = a.get(dst, s.n, "dst")
	}
	if a.err != nil {
		return a.err
	}
	copy(d.f32(), s.f32())
	d.lay = s.lay
	d.wrote()
	return nil
}

func (b *Backend) Zero(x backend.Buffer) error {
	a := args{b: b, op: "zero"}
	d := a.get(x, -1, "buffer")
	if a.err != nil {
		return a.err
	}
	clear(d.f32())
	d.lay = nil
	d.wrote()
	return nil
}

// parallel runs f over [0, n) in contiguous chunks on the backend's goroutines;
// small n stays on the caller's goroutine, where starting goroutines would cost more
// than the loop.
func (b *Backend) parallel(n, grain int, f func(lo, hi int)) {
	w := min(b.workers, (n+grain-1)/grain)
	if w <= 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + w - 1) / w
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}
