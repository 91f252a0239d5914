package ref

import (
	"math"

	"alexnet/internal/backend"
)

// Local response normalisation across channels (backend.LRNParams), per pixel:
//
//	x, y [N, C, H, W]
//	s[c] = K + Alpha/Size * sum_{c' in win(c)} x[c']^2,   win(c) = c-Size/2 .. c+(Size-1)/2
//	y[c] = x[c] * s[c]^-Beta
//
// Backward, for one pixel: x[j] enters y[j] directly and every s[c] whose window holds
// j, that is c in j-(Size-1)/2 .. j+Size/2 (the window read backwards):
//
//	dx[j] = dy[j] * s[j]^-Beta
//	      - 2*Beta*Alpha/Size * x[j] * sum_{c: j in win(c)} dy[c] * x[c] * s[c]^(-Beta-1)
//
// All windows are clipped at the channel edges.
type lrn struct {
	r *Backend
	p backend.LRNParams
}

func (r *Backend) NewLRN(p backend.LRNParams) (backend.Op, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	return &lrn{r: r, p: p}, nil
}

func (l *lrn) OutShape() backend.Shape { return l.p.In }

func (l *lrn) Forward(x, y backend.Buffer) error {
	n := l.p.In.Len()
	ck := checker{op: "lrn forward"}
	xs := ck.get(x, n, "x")
	ys := ck.get(y, n, "y")
	if ck.err != nil {
		return ck.err
	}
	lrnForward(l.p, xs, ys, l.r.workers)
	return nil
}

func (l *lrn) Backward(x, y, dy, dx backend.Buffer) error {
	n := l.p.In.Len()
	ck := checker{op: "lrn backward"}
	xs := ck.get(x, n, "x")
	ck.get(y, n, "y") // y is implied by x; checked so a wrong call still fails
	dys := ck.get(dy, n, "dy")
	dxs := ck.get(dx, n, "dx")
	if ck.err != nil {
		return ck.err
	}
	lrnBackward(l.p, xs, dys, dxs, l.r.workers)
	return nil
}

// lrnWindow is the inclusive channel range c-Size/2 .. c+(Size-1)/2, clipped.
func lrnWindow(c, size, channels int) (lo, hi int) {
	return max(c-size/2, 0), min(c+(size-1)/2, channels-1)
}

// lrnReaders is the inclusive range of channels c whose window holds channel j:
// c-Size/2 <= j <= c+(Size-1)/2, i.e. j-(Size-1)/2 <= c <= j+Size/2, clipped.
func lrnReaders(j, size, channels int) (lo, hi int) {
	return max(j-(size-1)/2, 0), min(j+size/2, channels-1)
}

// lrnScale fills s[c] = K + Alpha/Size * sum_{win(c)} x^2 for the pixel whose channel
// c value is x[at(c)].
func lrnScale[T float](p backend.LRNParams, x []T, at func(c int) int, s []float64) {
	alpha := float64(p.Alpha) / float64(p.Size)
	for c := range s {
		lo, hi := lrnWindow(c, p.Size, len(s))
		var sum float64
		for k := lo; k <= hi; k++ {
			v := float64(x[at(k)])
			sum += v * v
		}
		s[c] = float64(p.K) + alpha*sum
	}
}

// lrnPixels calls f for every (n, h, w) with the index of channel c at that pixel,
// one image per goroutine.
func lrnPixels(p backend.LRNParams, workers int, f func(at func(c int) int)) {
	C, H, W := p.In.C, p.In.H, p.In.W
	parallelFor(workers, p.In.N, func(n int) {
		for h := 0; h < H; h++ {
			for w := 0; w < W; w++ {
				f(func(c int) int { return ((n*C+c)*H+h)*W + w })
			}
		}
	})
}

func lrnForward[T float](p backend.LRNParams, x, y []T, workers int) {
	beta := float64(p.Beta)
	lrnPixels(p, workers, func(at func(int) int) {
		s := make([]float64, p.In.C)
		lrnScale(p, x, at, s)
		for c := range s {
			y[at(c)] = T(float64(x[at(c)]) * math.Pow(s[c], -beta))
		}
	})
}

func lrnBackward[T float](p backend.LRNParams, x, dy, dx []T, workers int) {
	beta := float64(p.Beta)
	alpha := float64(p.Alpha) / float64(p.Size)
	lrnPixels(p, workers, func(at func(int) int) {
		s := make([]float64, p.In.C)
		lrnScale(p, x, at, s)
		// t[c] = dy[c] * x[c] * s[c]^(-Beta-1): what s[c] passes back to its window.
		t := make([]float64, p.In.C)
		for c := range s {
			t[c] = float64(dy[at(c)]) * float64(x[at(c)]) * math.Pow(s[c], -beta-1)
		}
		for j := range s {
			lo, hi := lrnReaders(j, p.Size, p.In.C)
			var cross float64
			for c := lo; c <= hi; c++ {
				cross += t[c]
			}
			xj := float64(x[at(j)])
			dx[at(j)] = T(float64(dy[at(j)])*math.Pow(s[j], -beta) - 2*beta*alpha*xj*cross)
		}
	})
}
