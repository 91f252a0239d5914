package ref

import (
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"alexnet/internal/backend"
)

func TestRegistered(t *testing.T) {
	if !slices.Contains(backend.Names(), "ref") {
		t.Fatalf("ref is not registered: %v", backend.Names())
	}
	b := openRef(t)
	if b.Name() != "ref" {
		t.Errorf("Name() = %q", b.Name())
	}
	if err := b.Sync(); err != nil {
		t.Error(err)
	}
}

func TestMemoryAccounting(t *testing.T) {
	b := New(backend.Options{})
	x, _ := b.Alloc(10)
	y, _ := b.Alloc(20)
	if m := b.Memory(); m.InUse != 120 || m.Peak != 120 {
		t.Fatalf("after 10+20 floats: %+v, want 120/120 bytes", m)
	}
	b.Free(x)
	b.Free(x)                  // twice: no effect
	b.Free(&Buffer{Data: nil}) // not ours: no effect
	b.Free(nil)
	if m := b.Memory(); m.InUse != 80 || m.Peak != 120 {
		t.Fatalf("after freeing 10: %+v, want 80 in use, peak 120", m)
	}
	z, _ := b.Alloc(5)
	if m := b.Memory(); m.InUse != 100 || m.Peak != 120 {
		t.Fatalf("after 5 more: %+v, want 100/120", m)
	}
	b.Free(y)
	b.Free(z)
	if m := b.Memory(); m.InUse != 0 || m.Peak != 120 {
		t.Fatalf("after freeing all: %+v, want 0/120", m)
	}
	if err := b.Upload(x, make([]float32, 10)); err == nil || !strings.Contains(err.Error(), "freed") {
		t.Errorf("upload into a freed buffer: %v", err)
	}
	if _, err := b.Alloc(-1); err == nil {
		t.Error("Alloc(-1) succeeded")
	}
}

func TestUploadDownloadCopyZero(t *testing.T) {
	b := openRef(t)
	src := []float32{1, -2, 3.5}
	x := buf(t, b, src)
	if got := Data(x); !slices.Equal(got, src) {
		t.Fatalf("Data = %v, want %v", got, src)
	}
	y, _ := b.Alloc(3)
	if err := b.Copy(y, x); err != nil {
		t.Fatal(err)
	}
	if err := b.Zero(x); err != nil {
		t.Fatal(err)
	}
	if got := get(t, b, y); !slices.Equal(got, src) {
		t.Errorf("copy: %v, want %v", got, src)
	}
	if got := get(t, b, x); !slices.Equal(got, []float32{0, 0, 0}) {
		t.Errorf("zero: %v", got)
	}
	if Data(nil) != nil || Data(fakeBuffer{}) != nil {
		t.Error("Data of a non-ref buffer is not nil")
	}
}

type fakeBuffer struct{}

func (fakeBuffer) Len() int { return 3 }

// TestBadArguments: every op refuses wrong sizes, nil and foreign buffers with an
// error naming the op, and never panics.
func TestBadArguments(t *testing.T) {
	b := openRef(t)
	in := backend.Shape{N: 1, C: 4, H: 5, W: 5}
	conv, err := b.NewConv(backend.ConvParams{In: in, OutC: 2, KH: 3, KW: 3, StrideH: 1, StrideW: 1, Groups: 2})
	if err != nil {
		t.Fatal(err)
	}
	lin, _ := b.NewLinear(backend.LinearParams{N: 2, In: 3, Out: 4})
	lrn, _ := b.NewLRN(backend.LRNParams{In: in, Size: 5, Alpha: 1e-4, Beta: 0.75, K: 2})
	pool, _ := b.NewPool(backend.PoolParams{In: in, KH: 3, KW: 3, StrideH: 2, StrideW: 2})
	avg, _ := b.NewPool(backend.PoolParams{In: in, Kind: backend.AdaptiveAvgPool, OutH: 2, OutW: 2})
	a := func(n int) backend.Buffer { x, _ := b.Alloc(n); return x }
	x, w, bias, y := a(100), a(36), a(2), a(18)
	cases := map[string]error{}
	cases["conv x short"] = conv.Forward(a(99), w, bias, y)
	cases["conv nil bias"] = conv.Forward(x, w, nil, y)
	cases["conv foreign w"] = conv.Forward(x, fakeBuffer{}, bias, y)
	cases["conv dx long"] = conv.BackwardData(w, y, a(101))
	cases["conv db wrong"] = conv.BackwardFilter(x, y, w, a(3))
	cases["linear y wrong"] = lin.Forward(a(6), a(12), a(4), a(7))
	cases["linear dw wrong"] = lin.BackwardFilter(a(6), a(8), a(11), a(4))
	cases["lrn y wrong"] = lrn.Forward(x, a(10))
	cases["lrn backward dy nil"] = lrn.Backward(x, x, nil, x)
	cases["pool y wrong"] = pool.Forward(x, a(100))
	cases["pool backward dx wrong"] = pool.Backward(x, a(16), a(16), a(16))
	cases["avg backward dy wrong"] = avg.Backward(x, a(16), a(15), x)
	cases["relu y wrong"] = b.ReLUForward(x, a(5))
	cases["relu backward dx wrong"] = b.ReLUBackward(x, x, a(5))
	cases["dropout p 1"] = b.DropoutForward(x, x, a(100), 1, 0)
	cases["dropout p negative"] = b.DropoutForward(x, x, a(100), -0.1, 0)
	cases["dropout p NaN"] = b.DropoutForward(x, x, a(100), float32(math.NaN()), 0)
	cases["dropout mask wrong"] = b.Mul(x, a(99), x)
	cases["sgd v wrong"] = b.SGD([]backend.SGDParam{{W: x, G: x, V: a(1), LR: 0.1}}, 0.9, 1)
	cases["upload wrong"] = b.Upload(x, make([]float32, 3))
	cases["download wrong"] = b.Download(make([]float32, 3), x)
	cases["copy wrong"] = b.Copy(a(3), x)
	cases["zero nil"] = b.Zero(nil)
	cases["ce label high"] = b.SoftmaxCrossEntropy(a(6), []int32{0, 3}, 2, 3, a(6), a(3))
	cases["ce label negative"] = b.SoftmaxCrossEntropy(a(6), []int32{-1, 0}, 2, 3, a(6), a(3))
	cases["ce labels count"] = b.SoftmaxCrossEntropy(a(6), []int32{0}, 2, 3, a(6), a(3))
	cases["ce logits wrong"] = b.SoftmaxCrossEntropy(a(5), []int32{0, 1}, 2, 3, a(6), a(3))
	cases["ce sums wrong"] = b.SoftmaxCrossEntropy(a(6), []int32{0, 1}, 2, 3, a(6), a(2))
	cases["ce zero classes"] = b.SoftmaxCrossEntropy(a(0), []int32{0, 1}, 2, 0, nil, a(3))
	_, cases["conv groups"] = b.NewConv(backend.ConvParams{In: in, OutC: 3, KH: 3, KW: 3, StrideH: 1, StrideW: 1, Groups: 2})
	_, cases["conv kernel too big"] = b.NewConv(backend.ConvParams{In: in, OutC: 2, KH: 7, KW: 3, StrideH: 1, StrideW: 1, Groups: 1})
	_, cases["pool kind"] = b.NewPool(backend.PoolParams{In: in, Kind: 7, KH: 2, KW: 2, StrideH: 2, StrideW: 2})
	_, cases["lrn size"] = b.NewLRN(backend.LRNParams{In: in, Size: 0, K: 1})
	_, cases["linear sizes"] = b.NewLinear(backend.LinearParams{N: 0, In: 1, Out: 1})
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		if err := cases[name]; err == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// TestInPlace: ReLU and dropout may run with x and y the same buffer.
func TestInPlace(t *testing.T) {
	b := openRef(t)
	x := buf(t, b, []float32{-1, 2, -3, 4})
	if err := b.ReLUForward(x, x); err != nil {
		t.Fatal(err)
	}
	if got := get(t, b, x); !slices.Equal(got, []float32{0, 2, 0, 4}) {
		t.Errorf("in-place relu: %v", got)
	}
	seed := backend.DropoutSeed(7, 0, 1)
	mask, _ := b.Alloc(4)
	if err := b.DropoutForward(x, x, mask, 0.25, seed); err != nil {
		t.Fatal(err)
	}
	got := get(t, b, x)
	for i, v := range []float32{0, 2, 0, 4} {
		want := float32(0)
		if backend.DropoutKeep(seed, i, 0.25) {
			want = v / 0.75
		}
		if got[i] != want {
			t.Errorf("in-place dropout [%d]: %g, want %g", i, got[i], want)
		}
	}
}

// TestSGDPaperForm checks the update against the interface's formula, computed here
// step by step in float64 over several steps so that the momentum term matters.
func TestSGDPaperForm(t *testing.T) {
	b := openRef(t)
	w0, g := []float32{1, -2, 0.5, 3}, []float32{0.1, 0.2, -0.3, 0}
	w, gb, v := buf(t, b, w0), buf(t, b, g), filled(t, b, 4, 0)
	const lr, mom, decay = 0.1, 0.9, 0.01
	ww, vv := make([]float64, 4), make([]float64, 4)
	for i := range ww {
		ww[i] = float64(w0[i])
	}
	for step := 0; step < 3; step++ {
		if err := b.SGD([]backend.SGDParam{{W: w, G: gb, V: v, LR: lr, Decay: decay}}, mom, 1); err != nil {
			t.Fatal(err)
		}
		for i := range ww {
			vv[i] = float64(float32(mom))*vv[i] - float64(float32(decay))*float64(float32(lr))*ww[i] - float64(float32(lr))*float64(g[i])
			ww[i] += vv[i]
		}
	}
	compare(t, "w after 3 steps", toF64(get(t, b, w)), ww, 1e-6)
	compare(t, "v after 3 steps", toF64(get(t, b, v)), vv, 1e-6)
}

// TestWorkersDoNotChangeResults: each goroutine owns whole outputs and sums in a
// fixed order, so one worker and many give the same bits.
func TestWorkersDoNotChangeResults(t *testing.T) {
	p := backend.ConvParams{In: backend.Shape{N: 3, C: 4, H: 9, W: 9}, OutC: 6, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, Groups: 2}
	out, _ := p.Out()
	x, w, bias, dy := ramp(p.In.Len()), ramp(p.WeightLen()), ramp(p.OutC), ramp(out.Len())
	run := func(workers int) (y, dx, dw, db []float32) {
		y, dx, dw, db = make([]float32, out.Len()), make([]float32, p.In.Len()), make([]float32, p.WeightLen()), make([]float32, p.OutC)
		convForward(p, out, x, w, bias, y, workers)
		convBackwardData(p, out, w, dy, dx, workers)
		convBackwardFilter(p, out, x, dy, dw, db, workers)
		return
	}
	y1, dx1, dw1, db1 := run(1)
	y4, dx4, dw4, db4 := run(4)
	for _, c := range []struct {
		name string
		a, b []float32
	}{{"y", y1, y4}, {"dx", dx1, dx4}, {"dw", dw1, dw4}, {"db", db1, db4}} {
		compare(t, c.name+" with 1 vs 4 workers", c.b, c.a, 0)
	}
}

func ramp(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(math.Sin(float64(i) * 0.7))
	}
	return v
}

func toF64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}
