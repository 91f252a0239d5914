// Package backend is the small interface AlexNet's layers run on, and the registry
// that picks an implementation (ref, cpu, cuda) by name.
//
// Conventions shared by every backend:
//   - Tensors are float32, NCHW, row-major; a Buffer is a flat run of float32 owned by
//     one backend. Host code moves data in and out with Upload and Download only.
//   - Conv weights are [OutC, InC/Groups, KH, KW], linear weights [Out, In]
//     (PyTorch's layouts, so fixtures and state_dicts map one to one).
//   - Forward outputs and input gradients (dx) are overwritten; parameter gradients
//     (dw, db) accumulate (+=), so zeroing them is a separate step (Backend.Zero).
//   - Options.Precision bf16 or fp16 changes what convolutions and linear layers do
//     to numbers, nothing else (see Precision); buffers stay float32 at the interface.
//   - Ops are built once per shape (NewConv, NewLRN, ...) so a backend can create its
//     primitives, descriptors, algorithms and workspaces once, not per step. An op
//     is bound to its batch size; a model builds new ops for another batch size.
package backend

import (
	"errors"
	"fmt"
)

// Buffer is a backend-owned array of float32.
type Buffer interface {
	Len() int
}

// Backend is what a layer asks for; it never knows which implementation answers.
type Backend interface {
	Name() string
	// Alloc returns a zero-filled buffer of n float32.
	Alloc(n int) (Buffer, error)
	Free(b Buffer)
	Upload(dst Buffer, src []float32) error
	Download(dst []float32, src Buffer) error
	Copy(dst, src Buffer) error
	Zero(b Buffer) error
	// Sync waits for all queued work; CPU backends return at once.
	Sync() error
	// Memory reports bytes held in buffers and workspaces now and at most so far.
	Memory() MemStats
	Close() error

	NewConv(p ConvParams) (Conv, error)
	NewLinear(p LinearParams) (Linear, error)
	NewLRN(p LRNParams) (Op, error)
	NewPool(p PoolParams) (Op, error)

	// ReLU: y = max(x, 0); x and y may be the same buffer. Backward reads y.
	ReLUForward(x, y Buffer) error
	ReLUBackward(y, dy, dx Buffer) error
	// Dropout with inverted scaling: mask[i] = 0 or 1/(1-p), drawn by DropoutKeep
	// so every backend draws the same mask from the same seed; y = x * mask.
	// Its backward is Mul: dx = dy * mask.
	DropoutForward(x, y, mask Buffer, p float32, seed uint64) error
	// Mul: out = a * b elementwise (out may be a or b): dropout's backward, and
	// a mask drawn elsewhere applied.
	Mul(a, b, out Buffer) error
	// Axpy: y += alpha * x elementwise, in float32: the executor adds gradient
	// contributions that arrive from another device.
	Axpy(alpha float32, x, y Buffer) error
	// SoftmaxCrossEntropy scores the first n rows of logits [>=n, c] against their
	// labels and adds to sums [3]: the rows' summed loss, -log softmax(row)[label];
	// the rows whose label no class outscores (top-1 hits); and the rows with fewer
	// than five classes scoring higher (top-5 hits). dlogits (nil: not wanted) is
	// overwritten with the gradient of the mean loss over the n rows; rows past n
	// are neither read nor written. Nothing comes back to the host: a GPU queues it
	// like any other op, and training reads sums only when it reports them.
	SoftmaxCrossEntropy(logits Buffer, labels []int32, n, c int, dlogits, sums Buffer) error
	// SGD updates every tensor of ps in the paper's form, each gradient multiplied
	// by gscale first (1/loss scale under fp16; 1 otherwise):
	//   v <- momentum*v - decay*lr*w - lr*(gscale*g);  w <- w + v
	// A GPU does all of them in one or a few launches.
	SGD(ps []SGDParam, momentum, gscale float32) error
	// Scale multiplies b by s in place (the loss scale on the loss's gradient).
	Scale(b Buffer, s float32) error
	// AllFinite reports whether every value of every buffer is finite: the overflow
	// check of fp16 loss scaling. On a GPU it is a round trip to the host.
	AllFinite(bs []Buffer) (bool, error)
}

// CrossEntropy is the mean loss of SoftmaxCrossEntropy over the n rows, read back
// at once through a scratch sums buffer: for tests and one-off checks, not for the
// training loop, which keeps its sums on the backend.
func CrossEntropy(b Backend, logits Buffer, labels []int32, n, c int, dlogits Buffer) (float64, error) {
	sums, err := b.Alloc(3)
	if err != nil {
		return 0, err
	}
	defer b.Free(sums)
	if err := b.SoftmaxCrossEntropy(logits, labels, n, c, dlogits, sums); err != nil {
		return 0, err
	}
	var v [3]float32
	if err := b.Download(v[:], sums); err != nil {
		return 0, err
	}
	return float64(v[0]) / float64(n), nil
}

// SGDParam is one tensor's share of Backend.SGD: weights, gradient, momentum,
// and its learning rate and decay with the layer's multipliers folded in.
type SGDParam struct {
	W, G, V   Buffer
	LR, Decay float32
}

// Op is a parameterless layer with a fixed input shape (LRN, pooling).
type Op interface {
	OutShape() Shape
	Forward(x, y Buffer) error
	// Backward overwrites dx from dy, reading the forward's x and y.
	Backward(x, y, dy, dx Buffer) error
}

// Conv is a convolution (with groups) plus bias for a fixed input shape.
type Conv interface {
	OutShape() Shape
	Forward(x, w, b, y Buffer) error           // y = conv(x, w) + b
	BackwardData(w, dy, dx Buffer) error       // dx overwritten
	BackwardFilter(x, dy, dw, db Buffer) error // dw, db accumulate
}

// Linear is y = x w^T + b for x [N, In], w [Out, In], b [Out], y [N, Out].
type Linear interface {
	Forward(x, w, b, y Buffer) error
	BackwardData(w, dy, dx Buffer) error       // dx overwritten
	BackwardFilter(x, dy, dw, db Buffer) error // dw, db accumulate
}

// MemStats are bytes of backend memory (host for CPU backends, device for GPUs).
type MemStats struct {
	InUse int64
	Peak  int64
}

// Shape is an NCHW shape.
type Shape struct{ N, C, H, W int }

func (s Shape) Len() int       { return s.N * s.C * s.H * s.W }
func (s Shape) PerImage() int  { return s.C * s.H * s.W }
func (s Shape) String() string { return fmt.Sprintf("%dx%dx%dx%d", s.N, s.C, s.H, s.W) }

func (s Shape) check(what string) error {
	if s.N <= 0 || s.C <= 0 || s.H <= 0 || s.W <= 0 {
		return fmt.Errorf("%s: input shape %s must be positive", what, s)
	}
	return nil
}

// ConvParams describe a 2-D convolution with bias.
type ConvParams struct {
	In               Shape
	OutC             int
	KH, KW           int
	StrideH, StrideW int
	PadH, PadW       int
	Groups           int
}

// Out is the output shape, or an error when the parameters do not fit the input.
func (p ConvParams) Out() (Shape, error) {
	if err := p.In.check("conv"); err != nil {
		return Shape{}, err
	}
	switch {
	case p.OutC <= 0 || p.KH <= 0 || p.KW <= 0:
		return Shape{}, fmt.Errorf("conv: output channels and kernel must be positive (got %d, %dx%d)", p.OutC, p.KH, p.KW)
	case p.StrideH <= 0 || p.StrideW <= 0 || p.PadH < 0 || p.PadW < 0:
		return Shape{}, fmt.Errorf("conv: stride must be positive and padding non-negative (got stride %dx%d, pad %dx%d)", p.StrideH, p.StrideW, p.PadH, p.PadW)
	case p.Groups <= 0 || p.In.C%p.Groups != 0 || p.OutC%p.Groups != 0:
		return Shape{}, fmt.Errorf("conv: groups=%d must divide input channels %d and output channels %d", p.Groups, p.In.C, p.OutC)
	}
	oh := (p.In.H+2*p.PadH-p.KH)/p.StrideH + 1
	ow := (p.In.W+2*p.PadW-p.KW)/p.StrideW + 1
	if p.In.H+2*p.PadH < p.KH || p.In.W+2*p.PadW < p.KW {
		return Shape{}, fmt.Errorf("conv: kernel %dx%d is larger than the padded input %dx%d", p.KH, p.KW, p.In.H+2*p.PadH, p.In.W+2*p.PadW)
	}
	return Shape{p.In.N, p.OutC, oh, ow}, nil
}

// WeightLen is the number of weights: OutC * InC/Groups * KH * KW.
func (p ConvParams) WeightLen() int { return p.OutC * (p.In.C / p.Groups) * p.KH * p.KW }

// LinearParams describe a fully connected layer over a batch of N rows.
type LinearParams struct{ N, In, Out int }

func (p LinearParams) Check() error {
	if p.N <= 0 || p.In <= 0 || p.Out <= 0 {
		return fmt.Errorf("linear: sizes must be positive (got N=%d in=%d out=%d)", p.N, p.In, p.Out)
	}
	return nil
}

// LRNParams: local response normalisation across channels,
//
//	y = x / (K + Alpha/Size * sum_{c' in window(c)} x_{c'}^2)^Beta
//
// with the window c-Size/2 .. c+(Size-1)/2 clipped at the channel edges. Alpha is
// divided by Size as cuda-convnet, Caffe, PyTorch, cuDNN and oneDNN do (the paper's
// formula omits the 1/n, its code does not).
type LRNParams struct {
	In    Shape
	Size  int
	Alpha float32
	Beta  float32
	K     float32
}

func (p LRNParams) Check() error {
	if err := p.In.check("lrn"); err != nil {
		return err
	}
	if p.Size <= 0 || p.K <= 0 || p.Beta < 0 || p.Alpha < 0 {
		return fmt.Errorf("lrn: size must be positive, k positive, alpha and beta non-negative (got size %d, k %g, alpha %g, beta %g)", p.Size, p.K, p.Alpha, p.Beta)
	}
	return nil
}

// PoolKind selects max or adaptive average pooling.
type PoolKind int

const (
	MaxPool PoolKind = iota
	// AdaptiveAvgPool is torchvision's AdaptiveAvgPool2d: output OutH x OutW, cell i
	// covering rows floor(i*H/OutH) .. ceil((i+1)*H/OutH)-1 (windows may overlap).
	AdaptiveAvgPool
)

func (k PoolKind) String() string {
	switch k {
	case MaxPool:
		return "max"
	case AdaptiveAvgPool:
		return "adaptive-avg"
	}
	return fmt.Sprintf("PoolKind(%d)", int(k))
}

// PoolParams describe pooling. Output size uses floor (PyTorch's ceil_mode=false);
// for AlexNet's 55->27 and 13->6 floor and Caffe's ceil agree. For AdaptiveAvgPool
// only OutH and OutW are read.
type PoolParams struct {
	In               Shape
	Kind             PoolKind
	KH, KW           int
	StrideH, StrideW int
	PadH, PadW       int
	OutH, OutW       int // AdaptiveAvgPool only
}

func (p PoolParams) Out() (Shape, error) {
	if err := p.In.check("pool"); err != nil {
		return Shape{}, err
	}
	if p.Kind == AdaptiveAvgPool {
		if p.OutH <= 0 || p.OutW <= 0 {
			return Shape{}, fmt.Errorf("adaptive pool: output %dx%d must be positive", p.OutH, p.OutW)
		}
		return Shape{p.In.N, p.In.C, p.OutH, p.OutW}, nil
	}
	switch {
	case p.KH <= 0 || p.KW <= 0 || p.StrideH <= 0 || p.StrideW <= 0:
		return Shape{}, fmt.Errorf("pool: kernel and stride must be positive (got %dx%d/%dx%d)", p.KH, p.KW, p.StrideH, p.StrideW)
	case p.PadH < 0 || p.PadW < 0 || 2*p.PadH > p.KH || 2*p.PadW > p.KW:
		return Shape{}, fmt.Errorf("pool: padding %dx%d must be between 0 and half the kernel", p.PadH, p.PadW)
	case p.In.H+2*p.PadH < p.KH || p.In.W+2*p.PadW < p.KW:
		return Shape{}, fmt.Errorf("pool: kernel %dx%d is larger than the padded input %dx%d", p.KH, p.KW, p.In.H+2*p.PadH, p.In.W+2*p.PadW)
	}
	oh := (p.In.H+2*p.PadH-p.KH)/p.StrideH + 1
	ow := (p.In.W+2*p.PadW-p.KW)/p.StrideW + 1
	return Shape{p.In.N, p.In.C, oh, ow}, nil
}

// AdaptiveRange is the half-open input range of adaptive pooling cell i of out over in.
func AdaptiveRange(i, in, out int) (start, end int) {
	return i * in / out, ((i+1)*in + out - 1) / out
}

// UniformWindows reports whether adaptive pooling of in -> out cells has windows of
// one size k starting every s from 0: the case ordinary pooling (oneDNN's, ONNX's
// AveragePool) computes. 13 -> 6 is 3/2, 6 -> 6 is 1/1; 10 -> 4 is not (windows
// start at 0, 2, 5, 7).
func UniformWindows(in, out int) (k, s int, ok bool) {
	s0, e0 := AdaptiveRange(0, in, out)
	k = e0 - s0
	if out > 1 {
		s1, _ := AdaptiveRange(1, in, out)
		s = s1 - s0
	} else {
		s = k
	}
	if out > 1 && s == 0 { // windows that do not move (in 1 -> out 6): not a pooling stride
		return 0, 0, false
	}
	for i := 0; i < out; i++ {
		st, en := AdaptiveRange(i, in, out)
		if st != i*s || en-st != k {
			return 0, 0, false
		}
	}
	return k, max(s, 1), s0 == 0
}

// DropoutKeep reports whether element i survives dropout with probability p under
// seed. It is a pure function (splitmix64 of seed and index) so every backend,
// the GPU included, draws the same mask, and a resumed run draws what it would have.
func DropoutKeep(seed uint64, i int, p float32) bool {
	z := mix64(seed + uint64(i)*0x9E3779B97F4A7C15)
	u := float32(z>>40) * (1.0 / (1 << 24)) // 24 random bits in [0, 1)
	return u >= p
}

// DropoutSeedAt is the seed under which element i draws what element first+i
// draws under seed: DropoutKeep(DropoutSeedAt(s, f), i, p) == DropoutKeep(s, f+i, p).
// A data-parallel rank holding rows r.. of the global batch draws its mask so, as
// one process would for those rows.
func DropoutSeedAt(seed uint64, first int) uint64 {
	return seed + uint64(first)*0x9E3779B97F4A7C15
}

// ErrUnavailable wraps the reason a backend cannot run on this machine.
var ErrUnavailable = errors.New("backend not available")

// DropoutSeed is the seed of the dropout layer at index layer (its position in the
// model's layer list) for training step step of a run seeded with run. Being a pure
// function of the three, a resumed run and every backend draw the same masks.
func DropoutSeed(run uint64, step int64, layer int) uint64 {
	return mix64(mix64(run^0x5DEECE66D) ^ mix64(uint64(step)+0x9E3779B97F4A7C15) ^ uint64(layer)*0xC2B2AE3D27D4EB4F)
}

func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// Hits counts, over the rows of logits [len(labels), c], those whose label no class
// outscores (top-1) and those with fewer than five classes scoring higher (top-5):
// ties count in the label's favour. A NaN outscores every number (as in
// torch.topk) and a NaN label score is never a hit: a broken output must not
// count as a right answer. CPU backends, the train package and the GPU's
// softmax_xent kernel count the same way.
func Hits(logits []float32, labels []int32, c int) (top1, top5 int) {
	for i, l := range labels {
		row := logits[i*c : (i+1)*c]
		v, higher := row[l], 0
		if v != v {
			continue
		}
		for _, x := range row {
			if x > v || x != x {
				higher++
			}
		}
		if higher < 1 {
			top1++
		}
		if higher < 5 {
			top5++
		}
	}
	return top1, top5
}
