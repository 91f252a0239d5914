package cudnn

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"alexnet/csrc"
	"alexnet/internal/backend"
	"alexnet/internal/backend/backendtest"
	"alexnet/internal/lowp"
)

// openPrecision opens the cuda backend at precision p through the registry, or skips
// the test: no GPU, or bf16 on a GPU older than Ampere.
func openPrecision(t *testing.T, p backend.Precision) func() (backend.Backend, error) {
	t.Helper()
	b := openOrSkip(t, Config{})
	if p == backend.BF16 && b.cc < 80 {
		t.Skipf("bf16 needs compute capability 8.0, this GPU has %d.%d", b.cc/10, b.cc%10)
	}
	return func() (backend.Backend, error) { return backend.Open("cuda", backend.Options{Precision: p}) }
}

// The conformance suite at bf16 and fp16: the reference is opened at the same
// precision, so it rounds (backend.Emulate) where this backend's casts round.
func TestConformanceBF16(t *testing.T) {
	backendtest.RunWith(t, openPrecision(t, backend.BF16), backendtest.Options{Precision: backend.BF16})
}

func TestConformanceFP16(t *testing.T) {
	backendtest.RunWith(t, openPrecision(t, backend.FP16), backendtest.Options{Precision: backend.FP16})
}

// The registry must hand back this backend itself at 16-bit precisions, not
// backend.Emulate around it.
func TestNativePrecision(t *testing.T) {
	for _, p := range []backend.Precision{backend.FP32, backend.TF32, backend.BF16, backend.FP16} {
		be, err := openPrecision(t, p)()
		if err != nil {
			t.Fatalf("%v: %v", p, err)
		}
		b, ok := be.(*Backend)
		if !ok {
			be.Close()
			t.Fatalf("%v: backend.Open returned a %T, not *cudnn.Backend", p, be)
		}
		if b.Precision() != p || b.f16 != p.Format() || (p == backend.TF32) != b.cfg.TF32 {
			t.Errorf("%v: precision %v, format %v, TF32 %v", p, b.Precision(), b.f16, b.cfg.TF32)
		}
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	}
}

// TestCastKernels runs the cast kernels on the GPU and compares them with
// internal/lowp bit for bit: to16 on tricky float32 values (TestRoundingHost's), from16
// on every 16-bit pattern, and Round.
func TestCastKernels(t *testing.T) {
	openOrSkip(t, Config{})
	in := roundInputs()
	xs := make([]float32, len(in))
	for i, u := range in {
		xs[i] = math.Float32frombits(u)
	}
	for _, p := range []backend.Precision{backend.BF16, backend.FP16} {
		t.Run(p.String(), func(t *testing.T) {
			be, err := openPrecision(t, p)()
			if err != nil {
				t.Fatal(err)
			}
			b := be.(*Backend)
			defer b.Close()
			f := p.Format()
			x, err := b.Alloc(len(xs))
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Upload(x, xs); err != nil {
				t.Fatal(err)
			}
			// to16 into scratch, then the bits back to the host
			done, err := b.enter("test")
			if err != nil {
				t.Fatal(err)
			}
			h16, err := b.scratch(0, len(xs))
			if err == nil {
				err = b.cast("to16", x.(*buffer).ptr, h16, len(xs))
			}
			got := make([]uint16, len(xs))
			if err == nil {
				err = csrc.CudaMemcpyDtoHSync(unsafe.Pointer(&got[0]), h16, 2*int64(len(xs)), b.stream)
			}
			// from16 of every pattern
			all := make([]uint16, 1<<16)
			for i := range all {
				all[i] = uint16(i)
			}
			wide, aerr := b.Alloc(len(all))
			if err == nil {
				err = aerr
			}
			if err == nil {
				err = csrc.CudaMemcpyHtoDSync(h16, unsafe.Pointer(&all[0]), 2*int64(len(all)), b.stream)
			}
			if err == nil {
				err = b.cast("from16", h16, wide.(*buffer).ptr, len(all))
			}
			done()
			if err != nil {
				t.Fatal(err)
			}
			bad := 0
			for i, v := range xs {
				want := lowp.FloatToBF16(v)
				if f == lowp.FP16 {
					want = lowp.FloatToFP16(v)
				}
				if got[i] != want && bad < 10 {
					bad++
					t.Errorf("to16(%#08x = %g) = %#04x, lowp %#04x", in[i], v, got[i], want)
				}
			}
			ws := make([]float32, len(all))
			if err := b.Download(ws, wide); err != nil {
				t.Fatal(err)
			}
			for h, v := range ws {
				want := lowp.BF16ToFloat(uint16(h))
				if f == lowp.FP16 {
					want = lowp.FP16ToFloat(uint16(h))
				}
				if math.Float32bits(v) != math.Float32bits(want) && bad < 10 {
					bad++
					t.Errorf("from16(%#04x) = %#08x, lowp %#08x", h, math.Float32bits(v), math.Float32bits(want))
				}
			}
			// Round in place
			if err := b.Round(x, x, f); err != nil {
				t.Fatal(err)
			}
			rs := make([]float32, len(xs))
			if err := b.Download(rs, x); err != nil {
				t.Fatal(err)
			}
			for i, v := range xs {
				if w := f.Round(v); math.Float32bits(rs[i]) != math.Float32bits(w) && bad < 10 {
					bad++
					t.Errorf("Round(%#08x) = %#08x, lowp %#08x", in[i], math.Float32bits(rs[i]), math.Float32bits(w))
				}
			}
			t.Logf("%d values rounded, %d widened: as lowp", len(xs), len(all))
		})
	}
}

// TestSGDManyTensors updates more tensors than one launch holds (sgdMax), some empty,
// and compares with the reference bit for bit (both compute in float64 and round the
// same way; the kernels are compiled with --fmad=false).
func TestSGDManyTensors(t *testing.T) {
	b := openOrSkip(t, Config{})
	ref, err := backend.Open("ref", backend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	type trio struct{ w, g, v [2]backend.Buffer }
	var ts []trio
	up := func(be backend.Backend, v []float32) backend.Buffer {
		x, err := be.Alloc(len(v))
		if err != nil {
			t.Fatal(err)
		}
		if err := be.Upload(x, v); err != nil {
			t.Fatal(err)
		}
		return x
	}
	for i := 0; i < 2*sgdMax+5; i++ {
		n := rng.IntN(5000)
		if i%7 == 3 {
			n = 0
		}
		var tr trio
		for k, dst := range []*[2]backend.Buffer{&tr.w, &tr.g, &tr.v} {
			v := make([]float32, n)
			for j := range v {
				v[j] = (rng.Float32()*2 - 1) * float32(k+1)
			}
			dst[0], dst[1] = up(b, v), up(ref, v)
		}
		ts = append(ts, tr)
	}
	for step := 0; step < 3; step++ {
		for side, be := range []backend.Backend{b, ref} {
			var ps []backend.SGDParam
			for i, tr := range ts {
				ps = append(ps, backend.SGDParam{W: tr.w[side], G: tr.g[side], V: tr.v[side], LR: 0.01 * float32(i%5+1), Decay: 5e-4 * float32(i%3)})
			}
			if err := be.SGD(ps, 0.9, 1.0/512); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, tr := range ts {
		for k, pair := range [][2]backend.Buffer{tr.w, tr.v} {
			got := make([]float32, pair[0].Len())
			want := make([]float32, pair[1].Len())
			if err := b.Download(got, pair[0]); err != nil {
				t.Fatal(err)
			}
			if err := ref.Download(want, pair[1]); err != nil {
				t.Fatal(err)
			}
			for j := range got {
				if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
					t.Fatalf("tensor %d %s[%d] = %g, reference %g", i, []string{"w", "v"}[k], j, got[j], want[j])
				}
			}
		}
	}
}
