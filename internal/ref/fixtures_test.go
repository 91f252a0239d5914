package ref

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"

	"alexnet/internal/backend"
	"alexnet/internal/safetensors"
)

// The golden tensors come from PyTorch in float64 (scripts/make_fixtures.py), so the
// only error left is this backend's float32 storage: each output element is rounded
// once (2^-24 relative) after a float64 sum. 1e-5 relative to the largest magnitude
// leaves a wide margin over that and is far below any real mistake.
const fixtureTol = 1e-5

type fixture struct {
	*safetensors.File
	t *testing.T
}

func loadOps(t *testing.T) fixture {
	t.Helper()
	f, err := safetensors.ReadFile("testdata/ops.safetensors")
	if err != nil {
		t.Fatalf("%v (regenerate with /usr/bin/python3 scripts/make_fixtures.py)", err)
	}
	return fixture{f, t}
}

func (f fixture) tensor(name string) safetensors.Tensor {
	f.t.Helper()
	x, ok := f.Get(name)
	if !ok {
		f.t.Fatalf("fixture has no tensor %q", name)
	}
	return x
}

func (f fixture) data(name string) []float32 { f.t.Helper(); return f.tensor(name).Data }

func shape4(t *testing.T, s []int) backend.Shape {
	t.Helper()
	if len(s) != 4 {
		t.Fatalf("shape %v is not NCHW", s)
	}
	return backend.Shape{N: s[0], C: s[1], H: s[2], W: s[3]}
}

// caseParams are the union of the ops' parameters in the fixture's case.* metadata.
type caseParams struct {
	Op     string
	Stride []int
	Pad    []int
	Groups int
	Kernel []int
	Out    []int
	Size   int
	Alpha  float32
	Beta   float32
	K      float32
}

func TestFixtures(t *testing.T) {
	f := loadOps(t)
	var names []string
	for k := range f.Metadata {
		if strings.HasPrefix(k, "case.") {
			names = append(names, strings.TrimPrefix(k, "case."))
		}
	}
	sort.Strings(names)
	if len(names) < 20 {
		t.Fatalf("fixture has only %d cases", len(names))
	}
	seen := map[string]bool{}
	for _, name := range names {
		var p caseParams
		if err := json.Unmarshal([]byte(f.Metadata["case."+name]), &p); err != nil {
			t.Fatalf("case %s: %v", name, err)
		}
		seen[p.Op] = true
		t.Run(name, func(t *testing.T) {
			f := fixture{f.File, t}
			b := openRef(t)
			switch p.Op {
			case "conv":
				fixtureConv(f, b, name, p)
			case "linear":
				fixtureLinear(f, b, name)
			case "relu":
				fixtureUnary(f, b, name, nil)
			case "lrn":
				in := shape4(t, f.tensor(name+".x").Shape)
				op, err := b.NewLRN(backend.LRNParams{In: in, Size: p.Size, Alpha: p.Alpha, Beta: p.Beta, K: p.K})
				if err != nil {
					t.Fatal(err)
				}
				fixtureUnary(f, b, name, op)
			case "maxpool", "adaptiveavg":
				in := shape4(t, f.tensor(name+".x").Shape)
				pp := backend.PoolParams{In: in, Kind: backend.MaxPool}
				if p.Op == "adaptiveavg" {
					pp.Kind, pp.OutH, pp.OutW = backend.AdaptiveAvgPool, p.Out[0], p.Out[1]
				} else {
					pp.KH, pp.KW, pp.StrideH, pp.StrideW, pp.PadH, pp.PadW = p.Kernel[0], p.Kernel[1], p.Stride[0], p.Stride[1], p.Pad[0], p.Pad[1]
				}
				op, err := b.NewPool(pp)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := op.OutShape(), shape4(t, f.tensor(name+".y").Shape); got != want {
					t.Fatalf("output shape %v, PyTorch's %v", got, want)
				}
				fixtureUnary(f, b, name, op)
			case "softmaxce":
				fixtureCE(f, b, name)
			default:
				t.Fatalf("unknown op %q", p.Op)
			}
		})
	}
	for _, op := range []string{"conv", "linear", "relu", "lrn", "maxpool", "adaptiveavg", "softmaxce"} {
		if !seen[op] {
			t.Errorf("fixture has no %s case", op)
		}
	}
}

func fixtureConv(f fixture, b backend.Backend, name string, p caseParams) {
	t := f.t
	in := shape4(t, f.tensor(name+".x").Shape)
	ws := f.tensor(name + ".w").Shape
	cp := backend.ConvParams{In: in, OutC: ws[0], KH: ws[2], KW: ws[3], StrideH: p.Stride[0], StrideW: p.Stride[1],
		PadH: p.Pad[0], PadW: p.Pad[1], Groups: p.Groups}
	conv, err := b.NewConv(cp)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := conv.OutShape(), shape4(t, f.tensor(name+".y").Shape); got != want {
		t.Fatalf("output shape %v, PyTorch's %v", got, want)
	}
	x, w, bias, dy := buf(t, b, f.data(name+".x")), buf(t, b, f.data(name+".w")), buf(t, b, f.data(name+".b")), buf(t, b, f.data(name+".dy"))
	y := filled(t, b, conv.OutShape().Len(), float32(math.NaN()))
	dx := filled(t, b, in.Len(), float32(math.NaN()))
	dw, _ := b.Alloc(cp.WeightLen())
	db, _ := b.Alloc(cp.OutC)
	if err := conv.Forward(x, w, bias, y); err != nil {
		t.Fatal(err)
	}
	if err := conv.BackwardData(w, dy, dx); err != nil {
		t.Fatal(err)
	}
	compare(t, "y", get(t, b, y), f.data(name+".y"), fixtureTol)
	compare(t, "dx", get(t, b, dx), f.data(name+".dx"), fixtureTol)
	checkFilterGrads(t, b, func() error { return conv.BackwardFilter(x, dy, dw, db) }, dw, db, f.data(name+".dw"), f.data(name+".db"))
}

// checkFilterGrads runs a backward-filter twice into zeroed dw, db: once must give
// PyTorch's gradients, twice must give double, since parameter gradients accumulate.
func checkFilterGrads(t *testing.T, b backend.Backend, run func() error, dw, db backend.Buffer, wantW, wantB []float32) {
	t.Helper()
	for pass := 1; pass <= 2; pass++ {
		if err := run(); err != nil {
			t.Fatal(err)
		}
		compare(t, "dw after pass "+strconv.Itoa(pass), get(t, b, dw), scaled(wantW, float32(pass)), fixtureTol)
		compare(t, "db after pass "+strconv.Itoa(pass), get(t, b, db), scaled(wantB, float32(pass)), fixtureTol)
	}
}

func fixtureLinear(f fixture, b backend.Backend, name string) {
	t := f.t
	xs, ws := f.tensor(name+".x").Shape, f.tensor(name+".w").Shape
	lp := backend.LinearParams{N: xs[0], In: xs[1], Out: ws[0]}
	l, err := b.NewLinear(lp)
	if err != nil {
		t.Fatal(err)
	}
	x, w, bias, dy := buf(t, b, f.data(name+".x")), buf(t, b, f.data(name+".w")), buf(t, b, f.data(name+".b")), buf(t, b, f.data(name+".dy"))
	y := filled(t, b, lp.N*lp.Out, float32(math.NaN()))
	dx := filled(t, b, lp.N*lp.In, float32(math.NaN()))
	dw, _ := b.Alloc(lp.Out * lp.In)
	db, _ := b.Alloc(lp.Out)
	if err := l.Forward(x, w, bias, y); err != nil {
		t.Fatal(err)
	}
	if err := l.BackwardData(w, dy, dx); err != nil {
		t.Fatal(err)
	}
	compare(t, "y", get(t, b, y), f.data(name+".y"), fixtureTol)
	compare(t, "dx", get(t, b, dx), f.data(name+".dx"), fixtureTol)
	checkFilterGrads(t, b, func() error { return l.BackwardFilter(x, dy, dw, db) }, dw, db, f.data(name+".dw"), f.data(name+".db"))
}

// fixtureUnary checks a parameterless op (op nil: ReLU) against y and dx.
func fixtureUnary(f fixture, b backend.Backend, name string, op backend.Op) {
	t := f.t
	x, dy := buf(t, b, f.data(name+".x")), buf(t, b, f.data(name+".dy"))
	y := filled(t, b, len(f.data(name+".y")), float32(math.NaN()))
	dx := filled(t, b, x.Len(), float32(math.NaN()))
	var err error
	if op == nil {
		if err = b.ReLUForward(x, y); err == nil {
			err = b.ReLUBackward(y, dy, dx)
		}
	} else if err = op.Forward(x, y); err == nil {
		err = op.Backward(x, y, dy, dx)
	}
	if err != nil {
		t.Fatal(err)
	}
	compare(t, "y", get(t, b, y), f.data(name+".y"), fixtureTol)
	compare(t, "dx", get(t, b, dx), f.data(name+".dx"), fixtureTol)
}

func fixtureCE(f fixture, b backend.Backend, name string) {
	t := f.t
	ls := f.tensor(name + ".logits")
	n, c := ls.Shape[0], ls.Shape[1]
	labels := labelsOf(t, f.data(name+".labels"))
	logits := buf(t, b, ls.Data)
	d := filled(t, b, n*c, float32(math.NaN()))
	loss, err := backend.CrossEntropy(b, logits, labels, n, c, d)
	if err != nil {
		t.Fatal(err)
	}
	compare(t, "loss", []float64{loss}, []float64{float64(f.data(name + ".loss")[0])}, fixtureTol)
	compare(t, "dlogits", get(t, b, d), f.data(name+".dlogits"), fixtureTol)
	// Without dlogits (evaluation) the loss is the same.
	loss2, err := backend.CrossEntropy(b, logits, labels, n, c, nil)
	if err != nil || loss2 != loss {
		t.Errorf("loss without gradient: %v, %v; with: %v", loss2, err, loss)
	}
}

func labelsOf(t *testing.T, f []float32) []int32 {
	t.Helper()
	l := make([]int32, len(f))
	for i, v := range f {
		if v != float32(int32(v)) {
			t.Fatalf("label %d is %g, not an integer", i, v)
		}
		l[i] = int32(v)
	}
	return l
}

// TestDropoutMaskMatchesPython checks the Python port of DropoutSeed and DropoutKeep
// in scripts/make_fixtures.py (which the tinynet fixture's masks come from) bit for
// bit against the Go originals, and this backend's mask against both.
func TestDropoutMaskMatchesPython(t *testing.T) {
	f := loadOps(t)
	var meta struct {
		Run, Step, Layer, N int
		P                   float32
		Seed                string
	}
	if err := json.Unmarshal([]byte(f.Metadata["dropout_mask_check"]), &meta); err != nil {
		t.Fatal(err)
	}
	seed := backend.DropoutSeed(uint64(meta.Run), int64(meta.Step), meta.Layer)
	if got := strconv.FormatUint(seed, 10); got != meta.Seed {
		t.Fatalf("DropoutSeed(%d, %d, %d) = %s in Go, %s in Python", meta.Run, meta.Step, meta.Layer, got, meta.Seed)
	}
	want := f.data("dropout_mask_check")
	if len(want) != meta.N {
		t.Fatalf("mask has %d values, metadata says %d", len(want), meta.N)
	}
	kept := 0
	for i, w := range want {
		var g float32
		if backend.DropoutKeep(seed, i, meta.P) {
			g, kept = 1/(1-meta.P), kept+1
		}
		if g != w {
			t.Fatalf("mask[%d]: Go %g, Python %g", i, g, w)
		}
	}
	if kept == 0 || kept == len(want) {
		t.Fatalf("%d of %d kept: the check would not notice a constant mask", kept, len(want))
	}
	b := openRef(t)
	x, y, mask := filled(t, b, meta.N, 1), filled(t, b, meta.N, 0), filled(t, b, meta.N, -1)
	if err := b.DropoutForward(x, y, mask, meta.P, seed); err != nil {
		t.Fatal(err)
	}
	compare(t, "backend mask", get(t, b, mask), want, 0)
	compare(t, "backend y", get(t, b, y), want, 0)
	t.Logf("%d of %d kept, seed %d", kept, len(want), seed)
}
