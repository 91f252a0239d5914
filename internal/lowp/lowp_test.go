package lowp

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// nearest is the slow, obviously correct rounding: the value of the table closest
// to x, ties to the one with an even bit pattern, beyond the largest finite value
// by half a step or more infinity. table holds every finite non-negative value of
// the format with its bits, ascending.
type entry struct {
	v    float64
	bits uint16
}

func table(f Format) []entry {
	var t []entry
	for h := 0; h < 1<<15; h++ {
		var v float32
		if f == FP16 {
			v = FP16ToFloat(uint16(h))
		} else {
			v = BF16ToFloat(uint16(h))
		}
		if !math.IsInf(float64(v), 0) && !math.IsNaN(float64(v)) {
			t = append(t, entry{float64(v), uint16(h)})
		}
	}
	sort.Slice(t, func(i, j int) bool { return t[i].v < t[j].v })
	return t
}

func nearest(t []entry, inf uint16, x float32) uint16 {
	a := math.Abs(float64(x))
	var sign uint16
	if math.Signbit(float64(x)) {
		sign = 0x8000
	}
	top := t[len(t)-1]
	step := top.v - t[len(t)-2].v
	if a >= top.v+step/2 {
		return sign | inf
	}
	i := sort.Search(len(t), func(i int) bool { return t[i].v >= a })
	if i == len(t) {
		return sign | top.bits
	}
	if t[i].v == a || i == 0 {
		return sign | t[i].bits
	}
	lo, hi := t[i-1], t[i]
	switch dl, dh := a-lo.v, hi.v-a; {
	case dl < dh:
		return sign | lo.bits
	case dh < dl:
		return sign | hi.bits
	case lo.bits&1 == 0:
		return sign | lo.bits
	}
	return sign | hi.bits
}

// inputs: random bit patterns, every value of the format, its neighbours one
// float32 step away, and the midpoints between it and the next value.
func inputs(t []entry) []float32 {
	rng := rand.New(rand.NewPCG(1, 2))
	var xs []float32
	for range 2_000_000 {
		xs = append(xs, math.Float32frombits(rng.Uint32()))
	}
	for i, e := range t {
		v := float32(e.v)
		xs = append(xs, v, -v, math.Nextafter32(v, 0), math.Nextafter32(v, float32(math.Inf(1))))
		if i+1 < len(t) {
			mid := float32((e.v + t[i+1].v) / 2)
			xs = append(xs, mid, -mid, math.Nextafter32(mid, 0), math.Nextafter32(mid, float32(math.Inf(1))))
		}
	}
	return append(xs, 65504, 65519.99, 65520, 1e-8, 2.98e-8, 2.9802322e-8, 5.96e-8, float32(math.Inf(-1)), math.MaxFloat32)
}

func TestRoundingMatchesNearest(t *testing.T) {
	for _, f := range []Format{BF16, FP16} {
		tab := table(f)
		inf := uint16(0x7c00)
		to := FloatToFP16
		if f == BF16 {
			inf, to = 0x7f80, FloatToBF16
		}
		bad := 0
		for _, x := range inputs(tab) {
			if math.IsNaN(float64(x)) {
				continue
			}
			if got, want := to(x), nearest(tab, inf, x); got != want {
				if bad++; bad <= 5 {
					t.Errorf("%v(%g = %#08x) = %#04x, want %#04x", f, x, math.Float32bits(x), got, want)
				}
			}
		}
		if bad > 0 {
			t.Errorf("%v: %d wrong roundings", f, bad)
		}
	}
}

func TestKnownValues(t *testing.T) {
	cases := []struct {
		f    Format
		x    float32
		want float32
	}{
		{FP16, 65504, 65504},
		{FP16, 65519, 65504},
		{FP16, 65520, float32(math.Inf(1))},
		{FP16, 1 + 1.0/2048, 1},                              // tie to even
		{FP16, 1 + 3.0/2048, 1 + 2.0/1024},                   // tie to even, upwards
		{FP16, 5.960464477539063e-08, 5.960464477539063e-08}, // smallest subnormal
		{FP16, 2.9802322387695312e-08, 0},                    // half of it: tie to even (zero)
		{FP16, -1e-9, float32(math.Copysign(0, -1))},
		{BF16, 1 + 1.0/256, 1},
		{BF16, 1 + 3.0/256, 1 + 2.0/128},
		{BF16, 3.39e38, 3.3895314e38},
		{BF16, math.MaxFloat32, float32(math.Inf(1))},
	}
	for _, c := range cases {
		got := c.f.Round(c.x)
		if got != c.want || math.Signbit(float64(got)) != math.Signbit(float64(c.want)) {
			t.Errorf("%v.Round(%g) = %g, want %g", c.f, c.x, got, c.want)
		}
	}
	for _, f := range []Format{BF16, FP16} {
		if v := f.Round(float32(math.NaN())); !math.IsNaN(float64(v)) {
			t.Errorf("%v.Round(NaN) = %g", f, v)
		}
	}
}

func TestWideningIsExact(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		for _, f := range []Format{BF16, FP16} {
			var v float32
			var back uint16
			if f == FP16 {
				v = FP16ToFloat(uint16(h))
				back = FloatToFP16(v)
			} else {
				v = BF16ToFloat(uint16(h))
				back = FloatToBF16(v)
			}
			if math.IsNaN(float64(v)) {
				continue
			}
			if back != uint16(h) {
				t.Fatalf("%v: %#04x widens to %g, which rounds back to %#04x", f, h, v, back)
			}
		}
	}
}

func TestRoundSliceInPlace(t *testing.T) {
	xs := []float32{1.0001, -3.14159, 70000, 1e-30}
	FP16.RoundSlice(xs, xs)
	want := []float32{1, -3.140625, float32(math.Inf(1)), 0}
	for i := range xs {
		if xs[i] != want[i] {
			t.Errorf("xs[%d] = %g, want %g", i, xs[i], want[i])
		}
	}
}
