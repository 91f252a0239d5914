// Package backendtest is the conformance suite every backend runs: each operation of
// backend.Backend on random inputs and shapes (AlexNet's among them), compared with
// the pure-Go reference backend ("ref"), which is the spec.
//
// A backend's test calls it in one line:
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, func() (backend.Backend, error) { return backend.Open("cpu", backend.Options{}) })
//	}
//
// When open returns an error wrapping backend.ErrUnavailable the suite skips with the
// reason. Every comparison logs its largest difference, so a passing run still shows
// how close the backend is.
//
// Tolerance: a result passes when max|got-want| <= Tol * max(max|want|, 1e-6).
// Relative-to-max-abs rather than elementwise relative error, because sums of many
// products (conv, linear) have elements near zero whose relative error means nothing.
package backendtest

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"alexnet/internal/backend"
	_ "alexnet/internal/ref" // registers "ref", the reference every backend is held to
)

// Options loosen or tighten the suite for one backend.
type Options struct {
	// Tol is the largest allowed max|got-want| / max|want| for every op without a
	// tolerance of its own; 0 means DefaultTol (float32 arithmetic, different
	// summation order).
	Tol float64
	// GEMMTol applies to conv and linear, whose long sums are where reduced-precision
	// math (TF32 on GPUs: 10-bit mantissa, so ~1e-3) shows; 0 means the precision's
	// default (see GEMMTolerance).
	GEMMTol float64
	// Precision the backend under test was opened with; the reference is opened with
	// the same, so that both round at the same points (backend.Emulate).
	Precision backend.Precision
}

// GEMMTolerance is the default tolerance of conv and linear, per precision:
//
//	fp32 1e-4   (DefaultTol: summation order only)
//	tf32 1e-2   (10-bit mantissa inputs on GPU tensor cores, sums of thousands of terms)
//	bf16 1/64   (2 steps of bf16: both sides round the same inputs, but a different
//	fp16 1/512   summation order can land an output on the other side of a rounding
//	             boundary, one step of the format away, and the chain test compounds it)
func GEMMTolerance(p backend.Precision, tol float64) float64 {
	switch p {
	case backend.TF32:
		return 1e-2
	case backend.BF16, backend.FP16:
		return 2 * float64(p.Format().Epsilon())
	}
	return tol
}

// DefaultTol suits fp32 backends: the sums of the conv and linear cases are at most a
// few thousand terms, whose different summation order moves results by ~1e-6.
const DefaultTol = 1e-4

// Run runs the whole suite against the backend that open returns, with DefaultTol.
func Run(t *testing.T, open func() (backend.Backend, error)) {
	RunWith(t, open, Options{})
}

// RunWith runs the whole suite with the given tolerances. Each op is a subtest, so
// `go test -run 'Conformance/conv'` picks one.
func RunWith(t *testing.T, open func() (backend.Backend, error), o Options) {
	t.Helper()
	if o.Tol == 0 {
		o.Tol = DefaultTol
	}
	if o.GEMMTol == 0 {
		o.GEMMTol = GEMMTolerance(o.Precision, o.Tol)
	}
	dut, err := open()
	if err != nil {
		if errors.Is(err, backend.ErrUnavailable) {
			t.Skipf("backend not available here: %v", err)
		}
		t.Fatalf("open backend: %v", err)
	}
	defer func() {
		if err := dut.Close(); err != nil {
			t.Errorf("close %s: %v", dut.Name(), err)
		}
	}()
	ref, err := backend.Open("ref", backend.Options{Precision: o.Precision})
	if err != nil {
		t.Fatalf("open reference backend: %v", err)
	}
	defer ref.Close()

	s := &suite{ref: ref, dut: dut, o: o}
	t.Run("memory", s.memory)
	t.Run("conv", s.conv)
	t.Run("linear", s.linear)
	t.Run("lrn", s.lrn)
	t.Run("maxpool", s.maxPool)
	t.Run("adaptiveavgpool", s.adaptivePool)
	t.Run("relu", s.relu)
	t.Run("dropout", s.dropout)
	t.Run("softmaxce", s.softmaxCE)
	t.Run("softmaxce-nan", s.softmaxNaN)
	t.Run("sgd", s.sgd)
	t.Run("scale", s.scale)
	t.Run("axpy", s.axpy)
	t.Run("allfinite", s.allFinite)
	t.Run("chain", s.chain)
}

type suite struct {
	ref, dut backend.Backend
	o        Options
}

// pair is one tensor held by both backends.
type pair struct {
	ref, dut backend.Buffer
	n        int
}

// random returns n values uniform in [-scale, scale), from a generator seeded per
// case so failures reproduce.
func random(rng *rand.Rand, n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = (rng.Float32()*2 - 1) * scale
	}
	return v
}

// upload puts the same values into a new buffer on each backend.
func (s *suite) upload(t *testing.T, v []float32) pair {
	t.Helper()
	p := pair{n: len(v)}
	var err error
	if p.ref, err = s.ref.Alloc(len(v)); err != nil {
		t.Fatalf("ref alloc %d: %v", len(v), err)
	}
	if p.dut, err = s.dut.Alloc(len(v)); err != nil {
		t.Fatalf("%s alloc %d: %v", s.dut.Name(), len(v), err)
	}
	t.Cleanup(func() { s.ref.Free(p.ref); s.dut.Free(p.dut) })
	if err := s.ref.Upload(p.ref, v); err != nil {
		t.Fatalf("ref upload: %v", err)
	}
	if err := s.dut.Upload(p.dut, v); err != nil {
		t.Fatalf("%s upload: %v", s.dut.Name(), err)
	}
	return p
}

// set overwrites both copies of p with v.
func (s *suite) set(t *testing.T, p pair, v []float32) {
	t.Helper()
	if err := s.ref.Upload(p.ref, v); err != nil {
		t.Fatalf("ref upload: %v", err)
	}
	if err := s.dut.Upload(p.dut, v); err != nil {
		t.Fatalf("%s upload: %v", s.dut.Name(), err)
	}
}

func download(t *testing.T, b backend.Backend, buf backend.Buffer, n int) []float32 {
	t.Helper()
	v := make([]float32, n)
	if err := b.Download(v, buf); err != nil {
		t.Fatalf("%s download: %v", b.Name(), err)
	}
	return v
}

// both runs the same call on each backend; a failure on either is fatal.
func (s *suite) both(t *testing.T, what string, f func(b backend.Backend, pick func(pair) backend.Buffer) error) {
	t.Helper()
	if err := f(s.ref, func(p pair) backend.Buffer { return p.ref }); err != nil {
		t.Fatalf("%s on ref: %v", what, err)
	}
	if err := f(s.dut, func(p pair) backend.Buffer { return p.dut }); err != nil {
		t.Fatalf("%s on %s: %v", what, s.dut.Name(), err)
	}
}

// check compares p on the two backends and logs the largest difference.
func (s *suite) check(t *testing.T, what string, p pair, tol float64) {
	t.Helper()
	want := download(t, s.ref, p.ref, p.n)
	got := download(t, s.dut, p.dut, p.n)
	compare(t, what, want, got, tol)
}

// compare fails when max|got-want| > tol * max(max|want|, 1e-6), and logs the
// largest difference either way. A NaN anywhere in got fails.
func compare(t *testing.T, what string, want, got []float32, tol float64) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var maxDiff, maxAbs float64
	at := -1
	for i := range want {
		w, g := float64(want[i]), float64(got[i])
		maxAbs = math.Max(maxAbs, math.Abs(w))
		d := math.Abs(g - w)
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		if d > maxDiff || at < 0 {
			maxDiff, at = d, i
		}
	}
	scale := math.Max(maxAbs, 1e-6)
	rel := maxDiff / scale
	if len(want) == 0 {
		t.Logf("%s: empty", what)
		return
	}
	t.Logf("%s: max|diff| %.3g at %d (got %g, want %g), max|want| %.3g, relative %.3g (tol %.0e)",
		what, maxDiff, at, got[at], want[at], maxAbs, rel, tol)
	if !(rel <= tol) {
		t.Errorf("%s: relative difference %.3g exceeds %.0e (got %g, want %g at %d)", what, rel, tol, got[at], want[at], at)
	}
}

func (s *suite) memory(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 1000
	before := s.dut.Memory()
	a, err := s.dut.Alloc(n)
	if err != nil {
		t.Fatalf("alloc: %v", err)
	}
	defer s.dut.Free(a)
	if a.Len() != n {
		t.Errorf("Len() = %d, want %d", a.Len(), n)
	}
	m := s.dut.Memory()
	if m.InUse < before.InUse+4*n || m.Peak < m.InUse {
		t.Errorf("after Alloc(%d): memory %+v, before %+v: want InUse to grow by >= %d bytes and Peak >= InUse", n, m, before, 4*n)
	}
	compare(t, "alloc is zero-filled", make([]float32, n), download(t, s.dut, a, n), 0)

	v := random(rng, n, 3)
	if err := s.dut.Upload(a, v); err != nil {
		t.Fatalf("upload: %v", err)
	}
	compare(t, "upload then download", v, download(t, s.dut, a, n), 0)
	if err := s.dut.Upload(a, make([]float32, n+1)); err == nil {
		t.Errorf("upload of %d values into a buffer of %d: no error", n+1, n)
	}
	if err := s.dut.Download(make([]float32, n+1), a); err == nil {
		t.Errorf("download of a buffer of %d into %d values: no error", n, n+1)
	}

	b, err := s.dut.Alloc(n)
	if err != nil {
		t.Fatalf("alloc: %v", err)
	}
	if err := s.dut.Copy(b, a); err != nil {
		t.Fatalf("copy: %v", err)
	}
	compare(t, "copy", v, download(t, s.dut, b, n), 0)
	if err := s.dut.Zero(a); err != nil {
		t.Fatalf("zero: %v", err)
	}
	compare(t, "zero", make([]float32, n), download(t, s.dut, a, n), 0)
	compare(t, "copy source untouched by zeroing the copy's source", v, download(t, s.dut, b, n), 0)
	short, err := s.dut.Alloc(n - 1)
	if err != nil {
		t.Fatalf("alloc: %v", err)
	}
	if err := s.dut.Copy(short, a); err == nil {
		t.Errorf("copy of %d values into a buffer of %d: no error", n, n-1)
	}
	s.dut.Free(short)
	inUse := s.dut.Memory().InUse
	s.dut.Free(b)
	if after := s.dut.Memory().InUse; after > inUse-4*n {
		t.Errorf("Free of %d floats: InUse %d -> %d, want a drop of >= %d bytes", n, inUse, after, 4*n)
	}
	if err := s.dut.Sync(); err != nil {
		t.Errorf("sync: %v", err)
	}
	if _, err := s.dut.Alloc(-1); err == nil {
		t.Errorf("Alloc(-1): no error")
	}
}

// convCases are small, but have AlexNet's shapes of kernel, stride, padding and groups.
var convCases = []struct {
	name string
	p    backend.ConvParams
}{
	{"conv1 11x11/4", backend.ConvParams{In: backend.Shape{N: 2, C: 3, H: 35, W: 35}, OutC: 8, KH: 11, KW: 11, StrideH: 4, StrideW: 4, Groups: 1}},
	{"conv1 11x11/4 uneven", backend.ConvParams{In: backend.Shape{N: 1, C: 3, H: 38, W: 36}, OutC: 4, KH: 11, KW: 11, StrideH: 4, StrideW: 4, PadH: 2, PadW: 1, Groups: 1}},
	{"conv2 5x5 pad2 groups2", backend.ConvParams{In: backend.Shape{N: 2, C: 16, H: 9, W: 9}, OutC: 32, KH: 5, KW: 5, StrideH: 1, StrideW: 1, PadH: 2, PadW: 2, Groups: 2}},
	{"conv3 3x3 pad1", backend.ConvParams{In: backend.Shape{N: 3, C: 16, H: 7, W: 5}, OutC: 24, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, Groups: 1}},
	{"conv4 3x3 pad1 groups2", backend.ConvParams{In: backend.Shape{N: 2, C: 24, H: 6, W: 6}, OutC: 16, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, Groups: 2}},
	{"odd channels 3x2 stride 2x1 groups 3", backend.ConvParams{In: backend.Shape{N: 2, C: 9, H: 8, W: 7}, OutC: 6, KH: 3, KW: 2, StrideH: 2, StrideW: 1, PadH: 1, PadW: 0, Groups: 3}},
	{"1x1", backend.ConvParams{In: backend.Shape{N: 2, C: 5, H: 4, W: 4}, OutC: 7, KH: 1, KW: 1, StrideH: 1, StrideW: 1, Groups: 1}},
}

func (s *suite) conv(t *testing.T) {
	for i, c := range convCases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(10, uint64(i)))
			p := c.p
			tol := s.o.GEMMTol
			out, err := p.Out()
			if err != nil {
				t.Fatalf("shape: %v", err)
			}
			opR, err := s.ref.NewConv(p)
			if err != nil {
				t.Fatalf("ref NewConv: %v", err)
			}
			opD, err := s.dut.NewConv(p)
			if err != nil {
				t.Fatalf("%s NewConv(%+v): %v", s.dut.Name(), p, err)
			}
			if got := opD.OutShape(); got != out {
				t.Fatalf("OutShape %v, want %v", got, out)
			}
			x := s.upload(t, random(rng, p.In.Len(), 1))
			w := s.upload(t, random(rng, p.WeightLen(), 0.2))
			b := s.upload(t, random(rng, p.OutC, 0.5))
			y := s.upload(t, random(rng, out.Len(), 9)) // garbage: Forward overwrites
			op := func(be backend.Backend) backend.Conv {
				if be == s.ref {
					return opR
				}
				return opD
			}
			s.both(t, "forward", func(be backend.Backend, at func(pair) backend.Buffer) error {
				return op(be).Forward(at(x), at(w), at(b), at(y))
			})
			s.check(t, "forward y", y, tol)

			dy := s.upload(t, random(rng, out.Len(), 1))
			dx := s.upload(t, random(rng, p.In.Len(), 9))
			s.both(t, "backward data", func(be backend.Backend, at func(pair) backend.Buffer) error {
				return op(be).BackwardData(at(w), at(dy), at(dx))
			})
			s.check(t, "backward data dx", dx, tol)

			// A backend may keep converted copies of its inputs between calls; new
			// values in the same buffers must be seen.
			s.set(t, x, random(rng, p.In.Len(), 1))
			s.set(t, w, random(rng, p.WeightLen(), 0.2))
			s.both(t, "backward data after new w", func(be backend.Backend, at func(pair) backend.Buffer) error {
				return op(be).BackwardData(at(w), at(dy), at(dx))
			})
			s.check(t, "backward data dx after new w", dx, tol)

			dw := s.upload(t, make([]float32, p.WeightLen()))
			db := s.upload(t, make([]float32, p.OutC))
			s.both(t, "backward filter", func(be backend.Backend, at func(pair) backend.Buffer) error {
				return op(be).BackwardFilter(at(x), at(dy), at(dw), at(db))
			})
			s.check(t, "backward filter dw (new x)", dw, tol)
			s.check(t, "backward filter db", db, tol)
			accumulates(t, s.dut, dw.dut, db.dut, func() error { return opD.BackwardFilter(x.dut, dy.dut, dw.dut, db.dut) }, tol)
		})
	}
}

// accumulates calls backward (a BackwardFilter) once more on gradients that already
// hold one call's result, and checks they doubled: parameter gradients add up.
func accumulates(t *testing.T, be backend.Backend, dw, db backend.Buffer, backward func() error, tol float64) {
	t.Helper()
	w1 := download(t, be, dw, dw.Len())
	b1 := download(t, be, db, db.Len())
	if err := backward(); err != nil {
		t.Fatalf("second backward filter: %v", err)
	}
	for i := range w1 {
		w1[i] *= 2
	}
	for i := range b1 {
		b1[i] *= 2
	}
	compare(t, "dw after two backward filter calls = 2x one", w1, download(t, be, dw, dw.Len()), tol)
	compare(t, "db after two backward filter calls = 2x one", b1, download(t, be, db, db.Len()), tol)
}

func (s *suite) linear(t *testing.T) {
	cases := []backend.LinearParams{{N: 4, In: 37, Out: 11}, {N: 3, In: 300, Out: 64}, {N: 1, In: 1, Out: 1}}
	for i, p := range cases {
		t.Run(fmt.Sprintf("%dx%d->%d", p.N, p.In, p.Out), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(20, uint64(i)))
			tol := s.o.GEMMTol
			opR, err := s.ref.NewLinear(p)
			if err != nil {
				t.Fatalf("ref NewLinear: %v", err)
			}
			opD, err := s.dut.NewLinear(p)
			if err != nil {
				t.Fatalf("%s NewLinear(%+v): %v", s.dut.Name(), p, err)
			}
			op := func(be backend.Backend) backend.Linear {
				if be == s.ref {
					return opR
				}
				return opD
			}
			x := s.upload(t, random(rng, p.N*p.In, 1))
			w := s.upload(t, random(rng, p.Out*p.In, 0.1))
			b := s.upload(t, random(rng, p.Out, 0.5))
			y := s.upload(t, random(rng, p.N*p.Out, 9))
			s.both(t, "forward", func(be backend.Backend, at func(pair) backend.Buffer) error {
				return op(be).Forward(at(x), at(w), at(b), at(y))
			})
			s.check(t, "forward y", y, tol)
			dy := s.upload(t, random(rng, p.N*p.Out, 1))
			dx := s.upload(t, random(rng, p.N*p.In, 9))
			s.both(t, "backward data", func(be backend.Backend, at func(pair) backend.Buffer) error {
				return op(be).BackwardData(at(w), at(dy), at(dx))
			})
			s.check(t, "backward data dx", dx, tol)
			// Nonzero starting gradients: BackwardFilter must add to them.
			dw := s.upload(t, random(rng, p.Out*p.In, 1))
			db := s.upload(t, random(rng, p.Out, 1))
			s.both(t, "backward filter", func(be backend.Backend, at func(pair) backend.Buffer) error {
				return op(be).BackwardFilter(at(x), at(dy), at(dw), at(db))
			})
			s.check(t, "backward filter dw (+= onto random)", dw, tol)
			s.check(t, "backward filter db (+= onto random)", db, tol)
			if err := s.dut.Zero(dw.dut); err != nil {
				t.Fatal(err)
			}
			if err := s.dut.Zero(db.dut); err != nil {
				t.Fatal(err)
			}
			if err := opD.BackwardFilter(x.dut, dy.dut, dw.dut, db.dut); err != nil {
				t.Fatal(err)
			}
			accumulates(t, s.dut, dw.dut, db.dut, func() error { return opD.BackwardFilter(x.dut, dy.dut, dw.dut, db.dut) }, tol)
		})
	}
}

// checkOp runs a parameterless op (LRN, pooling) forward and backward on both
// backends and compares y and dx.
func (s *suite) checkOp(t *testing.T, rng *rand.Rand, opR, opD backend.Op, in backend.Shape, scale float32) {
	t.Helper()
	out := opR.OutShape()
	if got := opD.OutShape(); got != out {
		t.Fatalf("OutShape %v, want %v", got, out)
	}
	op := func(be backend.Backend) backend.Op {
		if be == s.ref {
			return opR
		}
		return opD
	}
	x := s.upload(t, random(rng, in.Len(), scale))
	y := s.upload(t, random(rng, out.Len(), 9))
	s.both(t, "forward", func(be backend.Backend, at func(pair) backend.Buffer) error {
		return op(be).Forward(at(x), at(y))
	})
	s.check(t, "forward y", y, s.o.Tol)
	dy := s.upload(t, random(rng, out.Len(), 1))
	dx := s.upload(t, random(rng, in.Len(), 9))
	s.both(t, "backward", func(be backend.Backend, at func(pair) backend.Buffer) error {
		return op(be).Backward(at(x), at(y), at(dy), at(dx))
	})
	s.check(t, "backward dx", dx, s.o.Tol)

	// A second forward on other values, then backward: state kept from the forward
	// (workspaces) must follow the newest x.
	s.set(t, x, random(rng, in.Len(), scale))
	s.both(t, "forward on new x", func(be backend.Backend, at func(pair) backend.Buffer) error {
		return op(be).Forward(at(x), at(y))
	})
	s.check(t, "forward y on new x", y, s.o.Tol)
	s.both(t, "backward on new x", func(be backend.Backend, at func(pair) backend.Buffer) error {
		return op(be).Backward(at(x), at(y), at(dy), at(dx))
	})
	s.check(t, "backward dx on new x", dx, s.o.Tol)

	// Forward on another buffer in between, then backward on the first x: the
	// backward must follow its own x, not the latest forward.
	x2 := s.upload(t, random(rng, in.Len(), scale))
	y2 := s.upload(t, make([]float32, out.Len()))
	s.both(t, "forward on a second x, backward on the first", func(be backend.Backend, at func(pair) backend.Buffer) error {
		if err := op(be).Forward(at(x2), at(y2)); err != nil {
			return err
		}
		return op(be).Backward(at(x), at(y), at(dy), at(dx))
	})
	s.check(t, "backward dx on the first x after a forward on a second", dx, s.o.Tol)
}

func (s *suite) lrn(t *testing.T) {
	cases := []backend.LRNParams{
		// AlexNet's constants; inputs of magnitude ~100 so the normaliser matters.
		{In: backend.Shape{N: 2, C: 12, H: 5, W: 4}, Size: 5, Alpha: 1e-4, Beta: 0.75, K: 2},
		// A strong normaliser, so a wrong alpha convention (alpha vs alpha/size) shows.
		{In: backend.Shape{N: 2, C: 7, H: 3, W: 3}, Size: 5, Alpha: 0.5, Beta: 0.75, K: 1},
		// Fewer channels than the window: every window is clipped at both edges.
		{In: backend.Shape{N: 1, C: 3, H: 4, W: 2}, Size: 5, Alpha: 0.3, Beta: 0.75, K: 2},
		{In: backend.Shape{N: 2, C: 16, H: 3, W: 5}, Size: 3, Alpha: 0.2, Beta: 0.5, K: 1.5},
	}
	for i, p := range cases {
		t.Run(fmt.Sprintf("%v size%d alpha%g", p.In, p.Size, p.Alpha), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(30, uint64(i)))
			opR, err := s.ref.NewLRN(p)
			if err != nil {
				t.Fatalf("ref NewLRN: %v", err)
			}
			opD, err := s.dut.NewLRN(p)
			if err != nil {
				t.Fatalf("%s NewLRN(%+v): %v", s.dut.Name(), p, err)
			}
			scale := float32(2)
			if p.Alpha < 1e-3 {
				scale = 100
			}
			s.checkOp(t, rng, opR, opD, p.In, scale)
		})
	}
}

func (s *suite) maxPool(t *testing.T) {
	cases := []backend.PoolParams{
		{In: backend.Shape{N: 2, C: 3, H: 13, W: 13}, KH: 3, KW: 3, StrideH: 2, StrideW: 2}, // pool5: 13 -> 6
		{In: backend.Shape{N: 1, C: 2, H: 27, W: 27}, KH: 3, KW: 3, StrideH: 2, StrideW: 2}, // pool2: 27 -> 13
		{In: backend.Shape{N: 2, C: 3, H: 14, W: 9}, KH: 3, KW: 3, StrideH: 2, StrideW: 2},  // floor drops a row
		{In: backend.Shape{N: 2, C: 4, H: 8, W: 6}, KH: 2, KW: 2, StrideH: 2, StrideW: 2},
		{In: backend.Shape{N: 2, C: 2, H: 7, W: 7}, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1},
	}
	for i, p := range cases {
		p.Kind = backend.MaxPool
		t.Run(fmt.Sprintf("%v k%dx%d s%d pad%d", p.In, p.KH, p.KW, p.StrideH, p.PadH), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(40, uint64(i)))
			opR, err := s.ref.NewPool(p)
			if err != nil {
				t.Fatalf("ref NewPool: %v", err)
			}
			opD, err := s.dut.NewPool(p)
			if err != nil {
				t.Fatalf("%s NewPool(%+v): %v", s.dut.Name(), p, err)
			}
			s.checkOp(t, rng, opR, opD, p.In, 1)
		})
	}
}

func (s *suite) adaptivePool(t *testing.T) {
	cases := []backend.PoolParams{
		{In: backend.Shape{N: 2, C: 3, H: 13, W: 13}, OutH: 6, OutW: 6}, // torchvision at 224 with a 13x13 map
		{In: backend.Shape{N: 2, C: 3, H: 6, W: 6}, OutH: 6, OutW: 6},   // AlexNet at 227: identity
		{In: backend.Shape{N: 1, C: 2, H: 12, W: 8}, OutH: 6, OutW: 4},  // uniform 2x2 windows
		{In: backend.Shape{N: 2, C: 2, H: 7, W: 5}, OutH: 3, OutW: 2},   // overlapping 3x3/2 windows
		{In: backend.Shape{N: 2, C: 3, H: 10, W: 7}, OutH: 4, OutW: 3},  // rows: windows at 0, 2, 5, 7, no fixed stride
		{In: backend.Shape{N: 1, C: 2, H: 5, W: 5}, OutH: 1, OutW: 1},   // global average
	}
	for i, p := range cases {
		p.Kind = backend.AdaptiveAvgPool
		t.Run(fmt.Sprintf("%v->%dx%d", p.In, p.OutH, p.OutW), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(50, uint64(i)))
			opR, err := s.ref.NewPool(p)
			if err != nil {
				t.Fatalf("ref NewPool: %v", err)
			}
			opD, err := s.dut.NewPool(p)
			if err != nil {
				t.Fatalf("%s NewPool(%+v): %v", s.dut.Name(), p, err)
			}
			s.checkOp(t, rng, opR, opD, p.In, 1)
		})
	}
}

func (s *suite) relu(t *testing.T) {
	rng := rand.New(rand.NewPCG(60, 0))
	for _, n := range []int{1, 17, 4096 + 3} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			xv := random(rng, n, 1)
			x := s.upload(t, xv)
			y := s.upload(t, random(rng, n, 9))
			s.both(t, "forward", func(be backend.Backend, at func(pair) backend.Buffer) error {
				return be.ReLUForward(at(x), at(y))
			})
			s.check(t, "forward y", y, 0)
			s.check(t, "forward leaves x alone", x, 0)
			dy := s.upload(t, random(rng, n, 1))
			dx := s.upload(t, random(rng, n, 9))
			s.both(t, "backward", func(be backend.Backend, at func(pair) backend.Buffer) error {
				return be.ReLUBackward(at(y), at(dy), at(dx))
			})
			s.check(t, "backward dx", dx, 0)
			// In place, as the model runs it: x and y the same buffer.
			s.both(t, "forward in place", func(be backend.Backend, at func(pair) backend.Buffer) error {
				return be.ReLUForward(at(x), at(x))
			})
			s.check(t, "forward in place", x, 0)
			want := make([]float32, n)
			for i, v := range xv {
				want[i] = max(v, 0)
			}
			compare(t, "forward in place = max(x, 0)", want, download(t, s.dut, x.dut, n), 0)
		})
	}
}

func (s *suite) dropout(t *testing.T) {
	rng := rand.New(rand.NewPCG(70, 0))
	for i, p := range []float32{0.5, 0.1, 0} {
		t.Run(fmt.Sprintf("p=%g", p), func(t *testing.T) {
			const n = 5000
			seed := uint64(1234 + i)
			x := s.upload(t, random(rng, n, 1))
			y := s.upload(t, random(rng, n, 9))
			mask := s.upload(t, random(rng, n, 9))
			s.both(t, "forward", func(be backend.Backend, at func(pair) backend.Buffer) error {
				return be.DropoutForward(at(x), at(y), at(mask), p, seed)
			})
			s.check(t, "forward mask", mask, 0)
			s.check(t, "forward y", y, s.o.Tol)
			// The mask must be DropoutKeep's, not merely ref's.
			m := download(t, s.dut, mask.dut, n)
			kept := 0
			for i, v := range m {
				want := float32(0)
				if backend.DropoutKeep(seed, i, p) {
					want = 1 / (1 - p)
					kept++
				}
				if v != want {
					t.Fatalf("mask[%d] = %g, want %g", i, v, want)
				}
			}
			t.Logf("kept %d of %d at p=%g", kept, n, p)
			dy := s.upload(t, random(rng, n, 1))
			dx := s.upload(t, random(rng, n, 9))
			s.both(t, "backward", func(be backend.Backend, at func(pair) backend.Buffer) error {
				return be.Mul(at(dy), at(mask), at(dx))
			})
			s.check(t, "backward dx", dx, s.o.Tol)
		})
	}
}

func (s *suite) softmaxCE(t *testing.T) {
	// rows > n: a network built for a larger batch passes its whole buffers for a
	// short batch; the rows past n must be neither read nor written.
	cases := []struct {
		n, c  int
		scale float32
		rows  int
	}{{5, 10, 3, 5}, {4, 1000, 1, 4}, {3, 7, 200, 3}, {1, 1, 1, 1}, {3, 7, 2, 5}}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%dx%d of %d rows, scale %g", c.n, c.c, c.rows, c.scale), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(80, uint64(i)))
			logits := s.upload(t, random(rng, c.rows*c.c, c.scale))
			labels := make([]int32, c.n)
			for j := range labels {
				labels[j] = int32(rng.IntN(c.c))
			}
			d := s.upload(t, random(rng, c.rows*c.c, 9))
			// sums start non-zero: the op adds to them. It runs twice (the second
			// time without dlogits, as evaluation does), so each sum doubles.
			sums := s.upload(t, []float32{1.5, 2, 3})
			for pass := 0; pass < 2; pass++ {
				s.both(t, "softmax cross-entropy", func(be backend.Backend, at func(pair) backend.Buffer) error {
					var dl backend.Buffer
					if pass == 0 {
						dl = at(d)
					}
					return be.SoftmaxCrossEntropy(at(logits), labels, c.n, c.c, dl, at(sums))
				})
			}
			s.check(t, "sums: loss, top-1, top-5", sums, s.o.Tol)
			var got, want [3]float32
			if err := s.dut.Download(got[:], sums.dut); err != nil {
				t.Fatal(err)
			}
			if err := s.ref.Download(want[:], sums.ref); err != nil {
				t.Fatal(err)
			}
			if got[1] != want[1] || got[2] != want[2] {
				t.Errorf("hits top-1 %g top-5 %g, want %g %g", got[1], got[2], want[1], want[2])
			}
			s.check(t, "dlogits", d, s.o.Tol)
			// The mean read back at once agrees.
			loss, err := backend.CrossEntropy(s.dut, logits.dut, labels, c.n, c.c, nil)
			if want := float64(want[0]-1.5) / 2 / float64(c.n); err != nil || !(math.Abs(loss-want) <= s.o.Tol*math.Max(math.Abs(want), 1)) {
				t.Errorf("CrossEntropy = %g, %v; want %g", loss, err, want)
			}
			bad := append([]int32(nil), labels...)
			bad[0] = int32(c.c)
			if err := s.dut.SoftmaxCrossEntropy(logits.dut, bad, c.n, c.c, d.dut, sums.dut); err == nil {
				t.Errorf("label %d with %d classes: no error", c.c, c.c)
			}
		})
	}
}

// softmaxNaN: a NaN outscores every number and a NaN label score is never a
// hit (backend.Hits), on every backend, so a broken output is not counted as
// right. Row 0's label score is NaN; row 1's label would be top-1 but another
// class is NaN; row 2's label is top-1.
func (s *suite) softmaxNaN(t *testing.T) {
	nan := float32(math.NaN())
	logits := []float32{
		nan, 1, 2, 3, 4, 5, 6,
		9, 1, nan, 3, 4, 5, 6,
		9, 1, 2, 3, 4, 5, 6,
	}
	for _, be := range []backend.Backend{s.ref, s.dut} {
		x, err := be.Alloc(len(logits))
		if err != nil {
			t.Fatal(err)
		}
		sums, err := be.Alloc(3)
		if err != nil {
			t.Fatal(err)
		}
		var got [3]float32
		err = be.Upload(x, logits)
		if err == nil {
			err = be.Upload(sums, got[:])
		}
		if err == nil {
			err = be.SoftmaxCrossEntropy(x, []int32{0, 0, 0}, 3, 7, nil, sums)
		}
		if err == nil {
			err = be.Download(got[:], sums)
		}
		if err != nil {
			t.Fatal(err)
		}
		if got[1] != 1 || got[2] != 2 {
			t.Errorf("%s: top-1 %g top-5 %g hits, want 1 and 2", be.Name(), got[1], got[2])
		}
		be.Free(x)
		be.Free(sums)
	}
}

// sgd updates three tensors of different lengths in one call, with a gradient
// scale, twice.
func (s *suite) sgd(t *testing.T) {
	rng := rand.New(rand.NewPCG(90, 0))
	type tensor struct{ w, g, v pair }
	var ts []tensor
	for _, n := range []int{3001, 1, 70000} {
		ts = append(ts, tensor{s.upload(t, random(rng, n, 1)), s.upload(t, random(rng, n, 1024)), s.upload(t, random(rng, n, 0.1))})
	}
	for step := 0; step < 2; step++ {
		s.both(t, "sgd", func(be backend.Backend, at func(pair) backend.Buffer) error {
			var ps []backend.SGDParam
			for i, x := range ts {
				ps = append(ps, backend.SGDParam{W: at(x.w), G: at(x.g), V: at(x.v), LR: 0.01 * float32(i+1), Decay: 5e-4 * float32(i)})
			}
			return be.SGD(ps, 0.9, 1.0/1024)
		})
	}
	for i, x := range ts {
		s.check(t, fmt.Sprintf("tensor %d: w after 2 steps", i), x.w, s.o.Tol)
		s.check(t, fmt.Sprintf("tensor %d: v after 2 steps", i), x.v, s.o.Tol)
	}
}

func (s *suite) scale(t *testing.T) {
	rng := rand.New(rand.NewPCG(91, 0))
	x := s.upload(t, random(rng, 5003, 3))
	s.both(t, "scale", func(be backend.Backend, at func(pair) backend.Buffer) error {
		return be.Scale(at(x), 65536)
	})
	s.check(t, "x*65536", x, s.o.Tol)
}

// axpy: y += alpha*x, with alphas whose products are exact, so every backend adds
// the same float32 sums bit for bit (the executor relies on that for alpha 1).
func (s *suite) axpy(t *testing.T) {
	rng := rand.New(rand.NewPCG(92, 0))
	for _, alpha := range []float32{1, -0.5} {
		x := s.upload(t, random(rng, 5003, 3))
		y := s.upload(t, random(rng, 5003, 3))
		xv, yv := download(t, s.ref, x.ref, 5003), download(t, s.ref, y.ref, 5003)
		s.both(t, "axpy", func(be backend.Backend, at func(pair) backend.Buffer) error {
			return be.Axpy(alpha, at(x), at(y))
		})
		want := make([]float32, len(yv))
		for i := range yv {
			want[i] = yv[i] + alpha*xv[i]
		}
		compare(t, fmt.Sprintf("y + %g*x", alpha), want, download(t, s.dut, y.dut, 5003), 0)
	}
}

// allFinite finds one infinity or NaN anywhere in a list of buffers.
func (s *suite) allFinite(t *testing.T) {
	rng := rand.New(rand.NewPCG(92, 0))
	for _, bad := range []float32{0, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())} {
		vals := [][]float32{random(rng, 100, 1e30), random(rng, 40000, 1), random(rng, 1, 1)}
		if bad != 0 {
			vals[1][39999] = bad
		}
		var bufs []backend.Buffer
		for _, v := range vals {
			b, err := s.dut.Alloc(len(v))
			if err != nil {
				t.Fatal(err)
			}
			defer s.dut.Free(b)
			if err := s.dut.Upload(b, v); err != nil {
				t.Fatal(err)
			}
			bufs = append(bufs, b)
		}
		ok, err := s.dut.AllFinite(bufs)
		if err != nil {
			t.Fatal(err)
		}
		if ok != (bad == 0) {
			t.Errorf("AllFinite with %v in the last place of the middle buffer = %v", bad, ok)
		}
	}
}
