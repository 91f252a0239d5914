package ref

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"alexnet/internal/backend"
)

// Finite-difference checks of every backward pass. They run the backend's own
// generic kernels in float64, where a central difference with step 1e-5 is accurate
// to about 1e-9 (truncation ~ step^2, rounding ~ 1e-16/step), so a tolerance of 1e-6
// relative to the largest gradient separates rounding from mistakes by three orders
// of magnitude. The scalar being differentiated is L = sum(y * r) for a random
// upstream gradient r, so dL/dy = r is what each backward receives.
const (
	fdStep = 1e-5
	fdTol  = 1e-6
)

func randVec(rng *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64() * scale
	}
	return v
}

// awayFromZero moves values within gap of 0 out to +-gap, so a ReLU's kink is never
// inside a finite-difference step.
func awayFromZero(v []float64, gap float64) []float64 {
	for i, x := range v {
		if math.Abs(x) < gap {
			v[i] = math.Copysign(gap, x)
		}
	}
	return v
}

// distinct is n values in random order with gaps of at least 0.01 between any two,
// so no max-pool window has a tie, or an argmax a finite-difference step could flip.
func distinct(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i, j := range rng.Perm(n) {
		v[i] = float64(j)*0.05 - float64(n)*0.025 + rng.Float64()*0.02
	}
	return v
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// numGrad is dL/dv by central differences, v perturbed in place and restored.
func numGrad(loss func() float64, v []float64) []float64 {
	g := make([]float64, len(v))
	for i := range v {
		old := v[i]
		v[i] = old + fdStep
		up := loss()
		v[i] = old - fdStep
		down := loss()
		v[i] = old
		g[i] = (up - down) / (2 * fdStep)
	}
	return g
}

// gradCheck compares an analytic gradient with the finite-difference one.
func gradCheck(t *testing.T, what string, analytic []float64, loss func() float64, v []float64) {
	t.Helper()
	num := numGrad(loss, v)
	var maxAbs float64
	for _, x := range num {
		maxAbs = max(maxAbs, math.Abs(x))
	}
	if maxAbs == 0 {
		t.Errorf("%s: the numeric gradient is all zero, so the check would prove nothing", what)
	}
	compare(t, what, analytic, num, fdTol)
}

func TestGradConv(t *testing.T) {
	cases := []struct {
		name string
		p    backend.ConvParams
	}{
		{"groups2 stride2 pad1", backend.ConvParams{In: backend.Shape{N: 2, C: 4, H: 7, W: 7}, OutC: 6, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, Groups: 2}},
		{"5x5 stride2 pad2", backend.ConvParams{In: backend.Shape{N: 1, C: 3, H: 8, W: 8}, OutC: 4, KH: 5, KW: 5, StrideH: 2, StrideW: 2, PadH: 2, PadW: 2, Groups: 1}},
		{"rect kernel, stride 2x1, pad 1x0, groups 2", backend.ConvParams{In: backend.Shape{N: 2, C: 2, H: 6, W: 5}, OutC: 4, KH: 3, KW: 2, StrideH: 2, StrideW: 1, PadH: 1, PadW: 0, Groups: 2}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(i)))
			p := tc.p
			out, err := p.Out()
			if err != nil {
				t.Fatal(err)
			}
			x, w, b := randVec(rng, p.In.Len(), 1), randVec(rng, p.WeightLen(), 0.5), randVec(rng, p.OutC, 1)
			r := randVec(rng, out.Len(), 1)
			y := make([]float64, out.Len())
			loss := func() float64 { convForward(p, out, x, w, b, y, 2); return dot(y, r) }
			dx := make([]float64, p.In.Len())
			dw, db := make([]float64, len(w)), make([]float64, len(b))
			convBackwardData(p, out, w, r, dx, 2)
			convBackwardFilter(p, out, x, r, dw, db, 2)
			gradCheck(t, "dx", dx, loss, x)
			gradCheck(t, "dw", dw, loss, w)
			gradCheck(t, "db", db, loss, b)
		})
	}
}

func TestGradLinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 0))
	p := backend.LinearParams{N: 3, In: 7, Out: 5}
	x, w, b := randVec(rng, p.N*p.In, 1), randVec(rng, p.Out*p.In, 0.5), randVec(rng, p.Out, 1)
	r := randVec(rng, p.N*p.Out, 1)
	y := make([]float64, p.N*p.Out)
	loss := func() float64 { linearForward(p, x, w, b, y, 2); return dot(y, r) }
	dx, dw, db := make([]float64, len(x)), make([]float64, len(w)), make([]float64, len(b))
	linearBackwardData(p, w, r, dx, 2)
	linearBackwardFilter(p, x, r, dw, db, 2)
	gradCheck(t, "dx", dx, loss, x)
	gradCheck(t, "dw", dw, loss, w)
	gradCheck(t, "db", db, loss, b)
}

func TestGradLRN(t *testing.T) {
	type lrnCase struct {
		size, channels    int
		alpha, beta, k, s float32
	}
	var cases []lrnCase
	// Size 5 over 3..7 channels: windows clipped at one edge, both edges, or none.
	for c := 3; c <= 7; c++ {
		cases = append(cases, lrnCase{5, c, 0.1, 0.75, 2, 2})
	}
	cases = append(cases,
		lrnCase{4, 6, 0.1, 0.75, 2, 2},   // even size: the window is asymmetric
		lrnCase{5, 8, 2, 0.75, 1, 1.5},   // strong alpha: cross-channel terms dominate
		lrnCase{3, 5, 1e-4, 0.75, 2, 10}, // AlexNet's alpha
	)
	for i, tc := range cases {
		p := backend.LRNParams{In: backend.Shape{N: 2, C: tc.channels, H: 2, W: 3}, Size: tc.size, Alpha: tc.alpha, Beta: tc.beta, K: tc.k}
		t.Run(p.In.String()+" size "+strconv.Itoa(tc.size), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, uint64(i)))
			x, r := randVec(rng, p.In.Len(), float64(tc.s)), randVec(rng, p.In.Len(), 1)
			y := make([]float64, len(x))
			loss := func() float64 { lrnForward(p, x, y, 2); return dot(y, r) }
			dx := make([]float64, len(x))
			lrnBackward(p, x, r, dx, 2)
			gradCheck(t, "dx", dx, loss, x)
		})
	}
}

func TestGradMaxPool(t *testing.T) {
	cases := []backend.PoolParams{
		{In: backend.Shape{N: 2, C: 2, H: 7, W: 7}, KH: 3, KW: 3, StrideH: 2, StrideW: 2}, // overlapping, AlexNet's
		{In: backend.Shape{N: 2, C: 2, H: 6, W: 6}, KH: 2, KW: 2, StrideH: 2, StrideW: 2}, // non-overlapping
		{In: backend.Shape{N: 1, C: 2, H: 8, W: 8}, KH: 3, KW: 3, StrideH: 2, StrideW: 2}, // floor drops a row
		{In: backend.Shape{N: 1, C: 2, H: 6, W: 6}, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1},
	}
	for i, p := range cases {
		t.Run(p.In.String()+" k"+strconv.Itoa(p.KH)+"/s"+strconv.Itoa(p.StrideH)+"/p"+strconv.Itoa(p.PadH), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(4, uint64(i)))
			out, err := p.Out()
			if err != nil {
				t.Fatal(err)
			}
			x, r := distinct(rng, p.In.Len()), randVec(rng, out.Len(), 1)
			y := make([]float64, out.Len())
			loss := func() float64 { maxPoolForward(p, out, x, y, 2); return dot(y, r) }
			dx := make([]float64, len(x))
			maxPoolBackward(p, out, x, r, dx, 2)
			gradCheck(t, "dx", dx, loss, x)
		})
	}
}

// TestMaxPoolTieGoesToFirst pins the tie rule the finite differences avoid: with a
// window of equal values the whole gradient goes to its first element in row-major
// order, as in PyTorch.
func TestMaxPoolTieGoesToFirst(t *testing.T) {
	p := backend.PoolParams{In: backend.Shape{N: 1, C: 1, H: 3, W: 3}, KH: 3, KW: 3, StrideH: 2, StrideW: 2}
	out, _ := p.Out()
	x := []float32{0, 5, 5, 5, 1, 5, 0, 0, 5}
	dx := make([]float32, 9)
	maxPoolBackward(p, out, x, []float32{1}, dx, 1)
	want := []float32{0, 1, 0, 0, 0, 0, 0, 0, 0}
	compare(t, "dx", dx, want, 0)
}

func TestGradAdaptiveAvgPool(t *testing.T) {
	cases := []struct{ h, w, oh, ow int }{
		{13, 13, 6, 6}, // AlexNet's 13 -> 6: overlapping windows
		{6, 6, 6, 6},   // identity
		{10, 7, 6, 6},  // not divisible, different per axis
		{4, 4, 6, 6},   // more outputs than inputs: rows repeat
	}
	for i, tc := range cases {
		p := backend.PoolParams{In: backend.Shape{N: 2, C: 2, H: tc.h, W: tc.w}, Kind: backend.AdaptiveAvgPool, OutH: tc.oh, OutW: tc.ow}
		t.Run(p.In.String()+" to "+strconv.Itoa(tc.oh)+"x"+strconv.Itoa(tc.ow), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, uint64(i)))
			out, err := p.Out()
			if err != nil {
				t.Fatal(err)
			}
			x, r := randVec(rng, p.In.Len(), 1), randVec(rng, out.Len(), 1)
			y := make([]float64, out.Len())
			loss := func() float64 { adaptiveAvgForward(p.In, out, x, y, 2); return dot(y, r) }
			dx := make([]float64, len(x))
			adaptiveAvgBackward(p.In, out, r, dx, 2)
			gradCheck(t, "dx", dx, loss, x)
		})
	}
}

func TestGradReLU(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 0))
	x, r := awayFromZero(randVec(rng, 50, 1), 0.01), randVec(rng, 50, 1)
	y := make([]float64, len(x))
	loss := func() float64 { reluForward(x, y); return dot(y, r) }
	loss()
	dx := make([]float64, len(x))
	reluBackward(y, r, dx)
	gradCheck(t, "dx", dx, loss, x)
}

func TestGradDropout(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 0))
	x, r := randVec(rng, 64, 1), randVec(rng, 64, 1)
	y, mask := make([]float64, len(x)), make([]float64, len(x))
	seed := backend.DropoutSeed(1, 2, 3)
	loss := func() float64 { dropoutForward(x, y, mask, 0.5, seed); return dot(y, r) }
	loss()
	dx := make([]float64, len(x))
	dropoutBackward(r, mask, dx)
	gradCheck(t, "dx", dx, loss, x)
}

func TestGradSoftmaxCrossEntropy(t *testing.T) {
	for i, shift := range []float64{0, 500} { // 500: exp would overflow without the max shift
		rng := rand.New(rand.NewPCG(8, uint64(i)))
		n, c := 4, 6
		logits := randVec(rng, n*c, 2)
		for j := range logits {
			logits[j] += shift
		}
		labels := []int32{0, 5, 2, 2}
		d := make([]float64, n*c)
		loss := softmaxCrossEntropy(logits, labels, n, c, d)
		if !(loss > 0) || math.IsInf(loss, 0) {
			t.Fatalf("shift %g: loss %g", shift, loss)
		}
		gradCheck(t, "dlogits (shift "+strconv.Itoa(int(shift))+")", d, func() float64 {
			return softmaxCrossEntropy(logits, labels, n, c, nil)
		}, logits)
	}
}
