package cudnn

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"alexnet/csrc"
	"alexnet/internal/backend"
	"alexnet/internal/lowp"
)

func init() {
	backend.Register("cuda", func(o backend.Options) (backend.Backend, error) {
		cfg, err := ConfigFromEnv(os.Getenv)
		if err != nil {
			return nil, err
		}
		b, err := Open(o, cfg)
		if err != nil {
			return nil, err // not a typed nil inside the interface
		}
		return b, nil
	})
}

// Config holds the GPU-specific choices backend.Options has no room for.
type Config struct {
	// TF32 lets convolutions and GEMMs use TF32 tensor cores (Ampere and newer):
	// several times faster, with a 10-bit mantissa in the products. Off, cuDNN is held
	// to FMA math (CUDNN_FMA_MATH) and cuBLAS to its default fp32 math.
	TF32 bool
	// WorkspaceLimit caps the scratch memory of one convolution algorithm, in bytes;
	// 0 means DefaultWorkspaceLimit.
	WorkspaceLimit int64
	// Heuristic picks convolution algorithms from cuDNN's heuristics
	// (cudnnGet*Algorithm_v7) instead of timing them (cudnnFind*AlgorithmEx), which
	// makes building ops faster and the choice less good.
	Heuristic bool
}

// DefaultWorkspaceLimit is the default Config.WorkspaceLimit.
const DefaultWorkspaceLimit = 512 << 20

// ConfigFromEnv reads ALEXNET_CUDA_TF32 (1/true to allow TF32),
// ALEXNET_CUDA_WORKSPACE_MB and ALEXNET_CUDNN_ALGO (find or heuristic).
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var c Config
	if v := getenv("ALEXNET_CUDA_TF32"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("ALEXNET_CUDA_TF32=%q: want true or false", v)
		}
		c.TF32 = b
	}
	if v := getenv("ALEXNET_CUDA_WORKSPACE_MB"); v != "" {
		mb, err := strconv.ParseInt(v, 10, 64)
		if err != nil || mb < 0 || mb > 1<<20 {
			return c, fmt.Errorf("ALEXNET_CUDA_WORKSPACE_MB=%q: want a number of MiB between 0 and %d", v, 1<<20)
		}
		c.WorkspaceLimit = mb << 20
		if mb == 0 {
			c.WorkspaceLimit = -1 // explicitly none
		}
	}
	switch v := strings.ToLower(getenv("ALEXNET_CUDNN_ALGO")); v {
	case "", "find":
	case "heuristic":
		c.Heuristic = true
	default:
		return c, fmt.Errorf("ALEXNET_CUDNN_ALGO=%q: want find or heuristic", v)
	}
	return c, nil
}

func (c Config) workspaceLimit() int64 {
	switch {
	case c.WorkspaceLimit < 0:
		return 0
	case c.WorkspaceLimit == 0:
		return DefaultWorkspaceLimit
	}
	return c.WorkspaceLimit
}

// Backend runs backend.Backend on one GPU: one stream, with the cuDNN and cuBLAS
// handles and the NVRTC kernels bound to it, so all work is ordered on that stream
// and Sync waits for it. Large uploads travel on a second, copy stream, joined to the
// first by events so that they too land in order (upload.go). A Backend is meant for
// one goroutine at a time (Memory excepted).
type Backend struct {
	cfg    Config
	dev    int
	cudev  csrc.Device
	ctx    csrc.Context
	ctxSet bool   // the primary context is retained
	cc     int    // compute capability, 10*major + minor
	gen    uint64 // unique per Open, for the per-thread binding cache
	stream csrc.Stream
	dnn    csrc.CudnnHandle
	blas   csrc.CublasHandle
	kern   *kernels
	relu   csrc.ActivationDesc
	flat   map[int]csrc.TensorDesc // [1, 1, 1, n] descriptors for elementwise ops

	// destroy undoes, at Close, what ops created (cuDNN descriptors), newest last.
	destroy []func() error

	// Device memory the backend owns besides buffers: the convolution workspace
	// (shared by all ops, grown to the largest need), and softmax scratch.
	ws      csrc.DevPtr
	wsBytes int64
	xent    xentScratch

	// prec is Options.Precision; f16 its 16-bit format (lowp.BF16 or lowp.FP16) under
	// BF16 and FP16, 0 otherwise (precision.go).
	prec backend.Precision
	f16  lowp.Format
	// s16 are the 16-bit copies a bf16/fp16 conv or linear layer makes of its inputs
	// and outputs, shared by all ops (one stream orders their use) and grown to the
	// largest need: [0] x or dx, [1] w or dw, [2] y or dy (precision.go).
	s16 [3]scratch16
	// flag is one device int for AllFinite (sgd.go), allocated on first use.
	flag csrc.DevPtr

	// up stages large uploads through page-locked memory on a copy stream (upload.go).
	up uploader

	mu     sync.Mutex // guards the fields below (Memory may be called from anywhere)
	live   map[*buffer]struct{}
	inUse  int64
	peak   int64
	late   error // a failure of Free, which cannot return one; reported by Sync and Close
	closed bool
	peers  map[int]bool // devices whose memory this one reads directly (CopyPeer)
}

// openCount numbers the backends opened, for Backend.gen.
var openCount atomic.Uint64

// buffer is device memory of n float32.
type buffer struct {
	b   *Backend
	ptr csrc.DevPtr
	n   int
}

func (x *buffer) Len() int { return x.n }

// Open opens device o.Device. It fails with an error wrapping backend.ErrUnavailable
// when the libraries, the driver or a GPU is missing.
//
// o.Precision is implemented here (NativePrecision): TF32 is Config.TF32 (either
// turns it on); BF16 and FP16 run convolutions and linear layers on 16-bit copies of
// their inputs with float32 accumulation (precision.go). BF16 needs compute
// capability 8.0 (Ampere) or newer.
func Open(o backend.Options, cfg Config) (_ *Backend, err error) {
	switch o.Precision {
	case backend.FP32, backend.BF16, backend.FP16:
	case backend.TF32:
		cfg.TF32 = true
	default:
		return nil, fmt.Errorf("cuda: unknown precision %v", o.Precision)
	}
	if _, err := Load(); err != nil {
		return nil, err
	}
	if err := csrc.CuInit(); err != nil {
		return nil, unavailablef(err, "cuda: no usable NVIDIA GPU or driver")
	}
	n, err := csrc.CuDeviceGetCount()
	if err != nil {
		return nil, unavailablef(err, "cuda: cannot count GPUs")
	}
	if n == 0 {
		return nil, unavailablef(nil, "cuda: the driver reports no GPU")
	}
	if o.Device < 0 || o.Device >= n {
		return nil, fmt.Errorf("cuda: no GPU %d (this machine has %d, numbered from 0)", o.Device, n)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b := &Backend{cfg: cfg, dev: o.Device, gen: openCount.Add(1), flat: map[int]csrc.TensorDesc{}, live: map[*buffer]struct{}{},
		up: uploader{min: uploadAsyncMin, max: uploadAsyncMax}, prec: o.Precision, f16: o.Precision.Format()}
	defer func() {
		if err != nil {
			b.teardown()
			err = fmt.Errorf("cuda: open GPU %d: %w", o.Device, err)
		}
	}()
	if b.cudev, err = csrc.CuDeviceGet(o.Device); err != nil {
		return nil, err
	}
	major, err := csrc.CuDeviceGetAttribute(csrc.AttrComputeCapabilityMajor, b.cudev)
	if err != nil {
		return nil, err
	}
	minor, err := csrc.CuDeviceGetAttribute(csrc.AttrComputeCapabilityMinor, b.cudev)
	if err != nil {
		return nil, err
	}
	b.cc = 10*major + minor
	if b.f16 == lowp.BF16 && b.cc < 80 {
		return nil, fmt.Errorf("precision bf16 needs compute capability 8.0 or newer (this GPU has %d.%d); use fp16", major, minor)
	}
	// The runtime, cuDNN and cuBLAS all work in the device's primary context; the
	// driver API (module loading, kernel launches) needs it current too.
	if b.ctx, err = csrc.CuDevicePrimaryCtxRetain(b.cudev); err != nil {
		return nil, err
	}
	b.ctxSet = true
	if err = b.bind(); err != nil {
		return nil, err
	}
	if b.stream, err = csrc.CudaStreamCreateNonBlocking(); err != nil {
		return nil, err
	}
	if b.dnn, err = csrc.CudnnCreate(); err != nil {
		return nil, err
	}
	if err = csrc.CudnnSetStream(b.dnn, b.stream); err != nil {
		return nil, err
	}
	if b.blas, err = csrc.CublasCreate(); err != nil {
		return nil, err
	}
	if err = csrc.CublasSetStream(b.blas, b.stream); err != nil {
		return nil, err
	}
	mode := csrc.CublasDefaultMath
	if cfg.TF32 {
		mode = csrc.CublasTF32TensorOpMath
	}
	if err = csrc.CublasSetMathMode(b.blas, mode); err != nil {
		return nil, err
	}
	if b.kern, err = loadKernels(b.cc); err != nil {
		return nil, err
	}
	if b.relu, err = csrc.CudnnCreateActivationDescriptor(); err != nil {
		return nil, err
	}
	if err = csrc.CudnnSetActivationDescriptorReLU(b.relu); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Backend) Name() string { return "cuda" }

// NativePrecision declares that the backend implements backend.Options.Precision
// itself, so backend.Open does not wrap it in backend.Emulate.
func (b *Backend) NativePrecision(backend.Precision) bool { return true }

// Precision is the precision the backend was opened with.
func (b *Backend) Precision() backend.Precision { return b.prec }

// bind makes the calling OS thread work on this backend's device and context. CUDA
// keeps both per thread and Go moves goroutines between threads, so every entry
// point locks its goroutine to its thread and binds it (a no-op after the first time
// on a thread).
func (b *Backend) bind() error {
	if csrc.IsBound(b.dev, b.ctx, b.gen) {
		return nil
	}
	if err := csrc.CuCtxSetCurrent(b.ctx); err != nil {
		return err
	}
	if err := csrc.CudaSetDevice(b.dev); err != nil {
		return err
	}
	csrc.MarkBound(b.dev, b.ctx, b.gen)
	return nil
}

// enter starts a call into the libraries: it fails on a closed backend, otherwise
// locks the goroutine to its thread and binds it. Call the returned func when done.
func (b *Backend) enter(op string) (func(), error) {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("cuda %s: the backend is closed", op)
	}
	runtime.LockOSThread()
	if err := b.bind(); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("cuda %s: %w", op, err)
	}
	return runtime.UnlockOSThread, nil
}

// malloc allocates device memory and counts it in Memory.
func (b *Backend) malloc(bytes int64) (csrc.DevPtr, error) {
	if bytes == 0 {
		return 0, nil
	}
	p, err := csrc.CudaMalloc(bytes)
	if err != nil {
		return 0, err
	}
	b.account(bytes)
	return p, nil
}

func (b *Backend) mfree(p csrc.DevPtr, bytes int64) error {
	if p == 0 {
		return nil
	}
	b.account(-bytes)
	return csrc.CudaFree(p)
}

func (b *Backend) account(bytes int64) {
	b.mu.Lock()
	b.inUse += bytes
	b.peak = max(b.peak, b.inUse)
	b.mu.Unlock()
}

// maxElems keeps a buffer's byte size and cuDNN's int dimensions in range.
const maxElems = math.MaxInt32

func (b *Backend) Alloc(n int) (backend.Buffer, error) {
	if n < 0 || n > maxElems {
		return nil, fmt.Errorf("cuda: alloc of %d float32 is out of range (0..%d)", n, maxElems)
	}
	done, err := b.enter("alloc")
	if err != nil {
		return nil, err
	}
	defer done()
	p, err := b.malloc(4 * int64(n))
	if err != nil {
		return nil, fmt.Errorf("cuda: alloc of %d float32 (%d MiB): %w", n, (4*int64(n))>>20, err)
	}
	if n > 0 {
		if err := csrc.CudaMemsetAsync(p, 0, 4*int64(n), b.stream); err != nil {
			b.mfree(p, 4*int64(n))
			return nil, fmt.Errorf("cuda: alloc: zero-fill: %w", err)
		}
	}
	x := &buffer{b: b, ptr: p, n: n}
	b.mu.Lock()
	b.live[x] = struct{}{}
	b.mu.Unlock()
	return x, nil
}

// Free releases x. Freeing a buffer twice, or one of another backend, does nothing;
// a freed buffer has length 0, so using it later is an error. A failure of cudaFree
// (a sticky error from an earlier kernel, usually) is returned by the next Sync.
func (b *Backend) Free(x backend.Buffer) {
	buf, ok := x.(*buffer)
	if !ok || buf == nil || buf.b != b {
		return
	}
	b.mu.Lock()
	_, live := b.live[buf]
	delete(b.live, buf)
	closed := b.closed
	b.mu.Unlock()
	if !live || closed {
		return
	}
	done, err := b.enter("free")
	if err == nil {
		err = b.mfree(buf.ptr, 4*int64(buf.n))
		done()
	}
	buf.ptr, buf.n = 0, 0
	if err != nil {
		b.mu.Lock()
		if b.late == nil {
			b.late = fmt.Errorf("cuda free: %w", err)
		}
		b.mu.Unlock()
	}
}

// Memory counts device memory: buffers, the convolution workspace, softmax scratch,
// the 16-bit scratch of bf16/fp16 layers and the device staging of uploads. The page-locked host staging of uploads is host
// memory and is not counted (see upload.go).
func (b *Backend) Memory() backend.MemStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return backend.MemStats{InUse: b.inUse, Peak: b.peak}
}

// args unpacks the buffer arguments of one call, keeping the first error, as
// internal/ref's checker does.
type args struct {
	b   *Backend
	op  string
	err error
}

func (b *Backend) args(op string) *args { return &args{b: b, op: op} }

// any returns x's device pointer and length, whatever the length.
func (a *args) any(x backend.Buffer, name string) (csrc.DevPtr, int) {
	if a.err != nil {
		return 0, 0
	}
	buf, ok := x.(*buffer)
	switch {
	case x == nil || (ok && buf == nil):
		a.err = fmt.Errorf("cuda %s: %s is nil", a.op, name)
	case !ok:
		a.err = fmt.Errorf("cuda %s: %s is a %T, not a cuda buffer", a.op, name, x)
	case buf.b != a.b:
		a.err = fmt.Errorf("cuda %s: %s belongs to another cuda backend", a.op, name)
	default:
		return buf.ptr, buf.n
	}
	return 0, 0
}

// atLeast returns x's device pointer; x must hold at least n values.
func (a *args) atLeast(x backend.Buffer, n int, name string) csrc.DevPtr {
	p, got := a.any(x, name)
	if a.err == nil && got < n {
		a.err = fmt.Errorf("cuda %s: %s holds %d values, want at least %d", a.op, name, got, n)
		return 0
	}
	return p
}

// get returns x's device pointer; x must hold exactly n values.
func (a *args) get(x backend.Buffer, n int, name string) csrc.DevPtr {
	p, got := a.any(x, name)
	if a.err == nil && got != n {
		a.err = fmt.Errorf("cuda %s: %s holds %d values, want %d", a.op, name, got, n)
		if got == 0 {
			a.err = fmt.Errorf("%w (freed?)", a.err)
		}
		return 0
	}
	return p
}

// Upload copies src into dst in order with the work queued on the stream. Large
// uploads return without waiting for that work (upload.go); small ones copy and wait.
// Either way src is the caller's again when Upload returns.
func (b *Backend) Upload(dst backend.Buffer, src []float32) error {
	a := b.args("upload")
	p := a.get(dst, len(src), "dst")
	if a.err != nil {
		return a.err
	}
	if len(src) == 0 {
		return nil
	}
	done, err := b.enter(a.op)
	if err != nil {
		return err
	}
	defer done()
	if took, err := b.uploadAsync(p, src); took {
		if err != nil {
			return fmt.Errorf("cuda upload: %w", err)
		}
		return nil
	}
	if err := csrc.CudaMemcpyHtoDSync(p, unsafe.Pointer(&src[0]), 4*int64(len(src)), b.stream); err != nil {
		return fmt.Errorf("cuda upload: %w", err)
	}
	return nil
}

func (b *Backend) Download(dst []float32, src backend.Buffer) error {
	a := b.args("download")
	p := a.get(src, len(dst), "src")
	if a.err != nil {
		return a.err
	}
	if len(dst) == 0 {
		return nil
	}
	done, err := b.enter(a.op)
	if err != nil {
		return err
	}
	defer done()
	if err := csrc.CudaMemcpyDtoHSync(unsafe.Pointer(&dst[0]), p, 4*int64(len(dst)), b.stream); err != nil {
		return fmt.Errorf("cuda download: %w", err)
	}
	return nil
}

func (b *Backend) Copy(dst, src backend.Buffer) error {
	a := b.args("copy")
	s, n := a.any(src, "src")
	d := a.get(dst, n, "dst")
	if a.err != nil {
		return a.err
	}
	if n == 0 || s == d {
		return nil
	}
	done, err := b.enter(a.op)
	if err != nil {
		return err
	}
	defer done()
	if err := csrc.CudaMemcpyDtoD(d, s, 4*int64(n), b.stream); err != nil {
		return fmt.Errorf("cuda copy: %w", err)
	}
	return nil
}

func (b *Backend) Zero(x backend.Buffer) error {
	a := b.args("zero")
	p, n := a.any(x, "buffer")
	if a.err != nil {
		return a.err
	}
	if n == 0 {
		return nil
	}
	done, err := b.enter(a.op)
	if err != nil {
		return err
	}
	defer done()
	if err := csrc.CudaMemsetAsync(p, 0, 4*int64(n), b.stream); err != nil {
		return fmt.Errorf("cuda zero: %w", err)
	}
	return nil
}

// Sync waits for the stream. Kernel faults surface here (or at the next copy to
// the host), since launches are asynchronous.
func (b *Backend) Sync() error {
	done, err := b.enter("sync")
	if err != nil {
		return err
	}
	defer done()
	b.mu.Lock()
	late := b.late
	b.late = nil
	b.mu.Unlock()
	if err := csrc.CudaStreamSynchronize(b.stream); err != nil {
		return fmt.Errorf("cuda sync: %w", err)
	}
	return late
}

// Close frees every buffer still allocated and the backend's handles. Buffers and
// ops of a closed backend must not be used again; their calls return an error.
func (b *Backend) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.mu.Unlock()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var errs []error
	if err := b.bind(); err != nil {
		errs = append(errs, err)
	} else if err := csrc.CudaStreamSynchronize(b.stream); err != nil {
		errs = append(errs, err)
	}
	b.mu.Lock()
	bufs := make([]*buffer, 0, len(b.live))
	for x := range b.live {
		bufs = append(bufs, x)
	}
	b.live = map[*buffer]struct{}{}
	if b.late != nil {
		errs = append(errs, b.late)
	}
	b.closed = true
	b.mu.Unlock()
	for _, x := range bufs {
		if err := b.mfree(x.ptr, 4*int64(x.n)); err != nil {
			errs = append(errs, err)
		}
		x.ptr, x.n = 0, 0
	}
	errs = append(errs, b.teardown()...)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cuda close: %w", err)
	}
	return nil
}

// teardown releases what Open and the ops created, tolerating a half-built backend
// (Open calls it on failure), and returns every error met on the way.
func (b *Backend) teardown() []error {
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	for i := len(b.destroy) - 1; i >= 0; i-- {
		keep(b.destroy[i]())
	}
	b.destroy = nil
	for n, d := range b.flat {
		keep(csrc.CudnnDestroyTensorDescriptor(d))
		delete(b.flat, n)
	}
	// The uploads in flight write into buffers and wait on the compute stream: release
	// them while the stream and the context still exist.
	errs = append(errs, b.releaseUploads()...)
	keep(b.mfree(b.ws, b.wsBytes))
	errs = append(errs, b.xent.release(b)...)
	for i := range b.s16 {
		keep(b.mfree(b.s16[i].p, b.s16[i].bytes))
		b.s16[i] = scratch16{}
	}
	keep(b.mfree(b.flag, 4))
	b.flag = 0
	b.ws, b.wsBytes = 0, 0
	if b.relu != nil {
		keep(csrc.CudnnDestroyActivationDescriptor(b.relu))
		b.relu = nil
	}
	if b.kern != nil {
		keep(b.kern.unload())
		b.kern = nil
	}
	if b.blas != nil {
		keep(csrc.CublasDestroy(b.blas))
		b.blas = nil
	}
	if b.dnn != nil {
		keep(csrc.CudnnDestroy(b.dnn))
		b.dnn = nil
	}
	if b.stream != nil {
		keep(csrc.CudaStreamDestroy(b.stream))
		b.stream = nil
	}
	if b.ctxSet {
		keep(csrc.CuDevicePrimaryCtxRelease(b.cudev))
		b.ctxSet = false
	}
	return errs
}

// onClose registers the destruction of something an op created.
func (b *Backend) onClose(f func() error) { b.destroy = append(b.destroy, f) }

// tensorDesc creates an NCHW float32 descriptor destroyed at Close.
func (b *Backend) tensorDesc(n, c, h, w int) (csrc.TensorDesc, error) {
	d, err := csrc.CudnnCreateTensorDescriptor()
	if err != nil {
		return nil, err
	}
	b.onClose(func() error { return csrc.CudnnDestroyTensorDescriptor(d) })
	return d, csrc.CudnnSetTensor4dDescriptor(d, n, c, h, w)
}

// tensorDescType creates an NCHW descriptor of element type dtype (AX_CUDNN_DATA_*)
// destroyed at Close.
func (b *Backend) tensorDescType(dtype, n, c, h, w int) (csrc.TensorDesc, error) {
	d, err := csrc.CudnnCreateTensorDescriptor()
	if err != nil {
		return nil, err
	}
	b.onClose(func() error { return csrc.CudnnDestroyTensorDescriptor(d) })
	return d, csrc.CudnnSetTensor4dDescriptorType(d, dtype, n, c, h, w)
}

// flatDesc is a [1, 1, 1, n] descriptor for elementwise ops on n values, cached.
func (b *Backend) flatDesc(n int) (csrc.TensorDesc, error) {
	if d, ok := b.flat[n]; ok {
		return d, nil
	}
	d, err := csrc.CudnnCreateTensorDescriptor()
	if err != nil {
		return nil, err
	}
	if err := csrc.CudnnSetTensor4dDescriptor(d, 1, 1, 1, n); err != nil {
		csrc.CudnnDestroyTensorDescriptor(d)
		return nil, err
	}
	b.flat[n] = d
	return d, nil
}

// workspace returns the shared convolution workspace, grown to at least bytes.
// Growing frees the old one first; cudaFree waits for the work that may use it.
func (b *Backend) workspace(bytes int64) (csrc.DevPtr, error) {
	if bytes <= b.wsBytes {
		return b.ws, nil
	}
	if err := b.mfree(b.ws, b.wsBytes); err != nil {
		return 0, err
	}
	b.ws, b.wsBytes = 0, 0
	p, err := b.malloc(bytes)
	if err != nil {
		return 0, fmt.Errorf("workspace of %d MiB: %w", bytes>>20, err)
	}
	b.ws, b.wsBytes = p, bytes
	return p, nil
}

// checkTensor refuses shapes beyond what cuDNN's legacy API (int sizes) handles.
func checkTensor(op string, s backend.Shape) error {
	if int64(s.N)*int64(s.C)*int64(s.H)*int64(s.W) > maxElems {
		return fmt.Errorf("cuda %s: tensor %v has more than %d elements", op, s, maxElems)
	}
	return nil
}
