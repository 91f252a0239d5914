package backend_test

import (
	"math/rand/v2"
	"testing"

	"alexnet/internal/backend"
	"alexnet/internal/lowp"
	_ "alexnet/internal/ref"
)

// The emulation rounds exactly where Precision says: the same conv on the plain
// reference with inputs rounded by hand, then its outputs rounded, gives the same
// bits; dw keeps what it held and gains the rounded contribution.
func TestEmulatedConvRoundsWherePrecisionSays(t *testing.T) {
	for _, p := range []backend.Precision{backend.BF16, backend.FP16} {
		f := p.Format()
		plain, err := backend.Open("ref", backend.Options{})
		if err != nil {
			t.Fatal(err)
		}
		emu, err := backend.Open("ref", backend.Options{Precision: p})
		if err != nil {
			t.Fatal(err)
		}
		cp := backend.ConvParams{In: backend.Shape{N: 2, C: 4, H: 7, W: 7}, OutC: 6, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, Groups: 2}
		out, _ := cp.Out()
		rng := rand.New(rand.NewPCG(1, uint64(p)))
		rnd := func(n int) []float32 {
			v := make([]float32, n)
			for i := range v {
				v[i] = rng.Float32()*2 - 1
			}
			return v
		}
		x, w, b, dy, dw0 := rnd(cp.In.Len()), rnd(cp.WeightLen()), rnd(6), rnd(out.Len()), rnd(cp.WeightLen())
		rounded := func(v []float32) []float32 {
			r := make([]float32, len(v))
			f.RoundSlice(r, v)
			return r
		}
		// run does forward, backward data and backward filter on be.
		run := func(be backend.Backend, x, w, dy []float32) (y, dx, dw, db []float32) {
			up := func(v []float32) backend.Buffer {
				buf, err := be.Alloc(len(v))
				if err != nil {
					t.Fatal(err)
				}
				if err := be.Upload(buf, v); err != nil {
					t.Fatal(err)
				}
				return buf
			}
			down := func(buf backend.Buffer) []float32 {
				v := make([]float32, buf.Len())
				if err := be.Download(v, buf); err != nil {
					t.Fatal(err)
				}
				return v
			}
			c, err := be.NewConv(cp)
			if err != nil {
				t.Fatal(err)
			}
			xb, wb, bb, dyb := up(x), up(w), up(b), up(dy)
			yb, dxb, dwb, dbb := up(make([]float32, out.Len())), up(make([]float32, len(x))), up(dw0), up(make([]float32, 6))
			if err := c.Forward(xb, wb, bb, yb); err != nil {
				t.Fatal(err)
			}
			if err := c.BackwardData(wb, dyb, dxb); err != nil {
				t.Fatal(err)
			}
			if err := c.BackwardFilter(xb, dyb, dwb, dbb); err != nil {
				t.Fatal(err)
			}
			return down(yb), down(dxb), down(dwb), down(dbb)
		}
		y, dx, dw, db := run(emu, x, w, dy)
		wy, wdx, _, wdb := run(plain, rounded(x), rounded(w), rounded(dy))
		_, _, contrib, _ := func() ([]float32, []float32, []float32, []float32) {
			saved := dw0
			dw0 = make([]float32, len(dw0))
			defer func() { dw0 = saved }()
			return run(plain, rounded(x), rounded(w), rounded(dy))
		}()
		same := func(what string, got, want []float32) {
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%v %s[%d] = %g, want %g", p, what, i, got[i], want[i])
				}
			}
		}
		same("y", y, rounded(wy))
		same("dx", dx, rounded(wdx))
		same("db", db, wdb)
		wantDW := make([]float32, len(dw0))
		for i := range wantDW {
			wantDW[i] = dw0[i] + f.Round(contrib[i])
		}
		same("dw", dw, wantDW)
		for i, v := range y {
			if f.Round(v) != v {
				t.Fatalf("%v y[%d] = %g is not a %v value", p, i, v, f)
			}
		}
		plain.Close()
		emu.Close()
	}
}

func TestEmulateNeedsSixteenBits(t *testing.T) {
	b, _ := backend.Open("ref", backend.Options{})
	defer b.Close()
	if _, err := backend.Emulate(b, backend.TF32); err == nil {
		t.Error("Emulate(tf32): no error")
	}
	if p, err := backend.ParsePrecision("BF16"); err != nil || p != backend.BF16 || p.Format() != lowp.BF16 {
		t.Errorf("ParsePrecision(BF16) = %v, %v", p, err)
	}
	if _, err := backend.ParsePrecision("fp8"); err == nil {
		t.Error("ParsePrecision(fp8): no error")
	}
}

// Adaptive pooling as fixed pooling: only windows of one size at one stride from 0.
func TestUniformWindows(t *testing.T) {
	for _, c := range []struct {
		in, out, k, s int
		ok            bool
	}{
		{13, 6, 3, 2, true}, {6, 6, 1, 1, true}, {12, 6, 2, 2, true}, {7, 3, 3, 2, true}, {5, 1, 5, 5, true},
		{10, 4, 0, 0, false},
		{1, 6, 0, 0, false}, // one pixel read six times: no stride does that
	} {
		k, s, ok := backend.UniformWindows(c.in, c.out)
		if k != c.k || s != c.s || ok != c.ok {
			t.Errorf("%d -> %d: %d/%d %v, want %d/%d %v", c.in, c.out, k, s, ok, c.k, c.s, c.ok)
		}
	}
}
