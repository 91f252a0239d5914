package onednn

import (
	"fmt"
	"math"

	"alexnet/internal/backend"
	"alexnet/internal/lowp"
)

// The elementwise ops oneDNN has no primitive for (dropout with the interface's
// mask, softmax cross-entropy with labels, SGD with momentum and decay) are Go loops
// over the host buffers, split into contiguous chunks over the backend's goroutines.
// They are memory-bound; fc6's SGD (38M weights) is the largest. Dropout and the
// loss depend on where an element sits, so they read plain copies of blocked inputs
// and write plain; SGD runs on any layout its three buffers share (layout.go).

// grain is the smallest chunk worth a goroutine.
const grain = 1 << 15

// Dropout, inverted scaling.
//
//	forward   x [n] -> mask[i] = DropoutKeep(seed, i, p) ? 1/(1-p) : 0,  y = x * mask
//	backward  dy, mask -> dx = dy * mask
func (b *Backend) DropoutForward(x, y, mask backend.Buffer, p float32, seed uint64) error {
	a := args{b: b, op: "cpu dropout forward"}
	xb := a.get(x, -1, "x")
	var yb, mb *buffer
	if xb != nil {
		yb, mb = a.get(y, xb.n, "y"), a.get(mask, xb.n, "mask")
	}
	if a.err != nil {
		return a.err
	}
	if !(p >= 0 && p < 1) {
		return fmt.Errorf("cpu dropout forward: probability %g is outside [0, 1)", p)
	}
	xs, release, err := b.plainF32(xb)
	if err != nil {
		return fmt.Errorf("cpu dropout forward: %w", err)
	}
	defer release()
	ys, ms := yb.f32(), mb.f32()
	scale := 1 / (1 - p)
	b.parallel(len(xs), grain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			m := float32(0)
			if backend.DropoutKeep(seed, i, p) {
				m = scale
			}
			ms[i] = m
			ys[i] = xs[i] * m
		}
	})
	yb.lay, mb.lay = nil, nil
	yb.wrote()
	mb.wrote()
	return nil
}

// Mul: out = a * b (dropout's backward: dx = dy * mask). out is written plain.
func (b *Backend) Mul(a, bb, out backend.Buffer) error {
	g := args{b: b, op: "cpu mul"}
	ab := g.get(a, -1, "a")
	var bbuf, ob *buffer
	if ab != nil {
		bbuf, ob = g.get(bb, ab.n, "b"), g.get(out, ab.n, "out")
	}
	if g.err != nil {
		return g.err
	}
	as, releaseA, err := b.plainF32(ab)
	if err != nil {
		return fmt.Errorf("cpu mul: a: %w", err)
	}
	defer releaseA()
	bs, releaseB, err := b.plainF32(bbuf)
	if err != nil {
		return fmt.Errorf("cpu mul: b: %w", err)
	}
	defer releaseB()
	outs := ob.f32()
	b.parallel(len(as), grain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			outs[i] = as[i] * bs[i]
		}
	})
	ob.lay = nil
	ob.wrote()
	return nil
}

// Axpy: y += alpha * x. Where the layouts differ, y becomes plain and x is read
// through a plain view; where they agree (padding zero in both) the loop runs on
// the stored floats as they are.
func (b *Backend) Axpy(alpha float32, x, y backend.Buffer) error {
	g := args{b: b, op: "cpu axpy"}
	xb := g.get(x, -1, "x")
	var yb *buffer
	if xb != nil {
		yb = g.get(y, xb.n, "y")
	}
	if g.err != nil {
		return g.err
	}
	xs, ys := xb.f32(), yb.f32()
	if !sameLayout(xb.lay, yb.lay) {
		if err := b.makePlain(yb); err != nil {
			return fmt.Errorf("cpu axpy: y: %w", err)
		}
		var release func()
		var err error
		if xs, release, err = b.plainF32(xb); err != nil {
			return fmt.Errorf("cpu axpy: x: %w", err)
		}
		defer release()
		ys = yb.f32()
	}
	b.parallel(len(ys), grain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ys[i] += alpha * xs[i]
		}
	})
	yb.wrote()
	return nil
}

// SoftmaxCrossEntropy (PyTorch's F.cross_entropy), adding to sums [3] the rows'
// summed loss and their top-1 and top-5 hits:
//
//	logits [n, c], labels [n] -> sums[0] += sum_i (logsumexp(logits[i]) - logits[i, label_i])
//	                             dlogits[i, j] = (softmax(logits[i])[j] - [j == label_i]) / n
//
// Row maxima are subtracted before exp, sums are float64 until added to sums.
// dlogits may be nil when only the scores are wanted (evaluation), as with ref.
func (b *Backend) SoftmaxCrossEntropy(logits backend.Buffer, labels []int32, n, c int, dlogits, sums backend.Buffer) error {
	if n <= 0 || c <= 0 {
		return fmt.Errorf("cpu softmax cross-entropy: sizes must be positive (got n=%d, c=%d)", n, c)
	}
	if len(labels) != n {
		return fmt.Errorf("cpu softmax cross-entropy: %d labels for %d rows", len(labels), n)
	}
	for i, l := range labels {
		if l < 0 || int(l) >= c {
			return fmt.Errorf("cpu softmax cross-entropy: label %d of row %d is outside 0..%d", l, i, c-1)
		}
	}
	a := args{b: b, op: "cpu softmax cross-entropy"}
	lb := a.atLeast(logits, n*c, "logits")
	var db *buffer
	if dlogits != nil {
		db = a.atLeast(dlogits, n*c, "dlogits")
	}
	sb := a.get(sums, 3, "sums")
	if a.err != nil {
		return a.err
	}
	ls, release, err := b.plainF32(lb)
	if err != nil {
		return fmt.Errorf("cpu softmax cross-entropy: logits: %w", err)
	}
	defer release()
	var ds []float32
	if db != nil {
		// Rows past n are not written: make the whole buffer plain so they keep
		// their values.
		if err := b.makePlain(db); err != nil {
			return fmt.Errorf("cpu softmax cross-entropy: dlogits: %w", err)
		}
		ds = db.f32()
	}
	var total float64
	for i := 0; i < n; i++ {
		row := ls[i*c : (i+1)*c]
		m := float64(row[0])
		for _, v := range row {
			m = math.Max(m, float64(v))
		}
		var sum float64
		for _, v := range row {
			sum += math.Exp(float64(v) - m)
		}
		lse := m + math.Log(sum)
		total += lse - float64(row[labels[i]])
		if ds != nil {
			d := ds[i*c : (i+1)*c]
			for j, v := range row {
				d[j] = float32(math.Exp(float64(v)-lse) / float64(n))
			}
			d[labels[i]] -= float32(1 / float64(n))
		}
	}
	if db != nil {
		db.wrote()
	}
	if err := b.makePlain(sb); err != nil {
		return fmt.Errorf("cpu softmax cross-entropy: sums: %w", err)
	}
	top1, top5 := backend.Hits(ls[:n*c], labels, c)
	ss := sb.f32()
	ss[0] += float32(total)
	ss[1] += float32(top1)
	ss[2] += float32(top5)
	sb.wrote()
	return nil
}

// SGD in the paper's form, over each tensor w [n] of ps with gradient g and
// momentum v:
//
//	v <- momentum*v - decay*lr*w - lr*(gscale*g);  w <- w + v
func (b *Backend) SGD(ps []backend.SGDParam, momentum, gscale float32) error {
	for i, p := range ps {
		if err := b.sgd(p, momentum, gscale); err != nil {
			return fmt.Errorf("%w (tensor %d)", err, i)
		}
	}
	return nil
}

func (b *Backend) sgd(p backend.SGDParam, momentum, gscale float32) error {
	a := args{b: b, op: "cpu sgd"}
	wb := a.get(p.W, -1, "w")
	var gb, vb *buffer
	if wb != nil {
		gb, vb = a.get(p.G, wb.n, "g"), a.get(p.V, wb.n, "v")
	}
	if a.err != nil {
		return a.err
	}
	ws, gs, vs := wb.f32(), gb.f32(), vb.f32()
	if !sameLayout(wb.lay, gb.lay) || !sameLayout(wb.lay, vb.lay) {
		// Mixed layouts: w and v are updated in place, so they become plain; g is read.
		if err := b.makePlain(wb); err != nil {
			return fmt.Errorf("cpu sgd: w: %w", err)
		}
		if err := b.makePlain(vb); err != nil {
			return fmt.Errorf("cpu sgd: v: %w", err)
		}
		var release func()
		var err error
		if gs, release, err = b.plainF32(gb); err != nil {
			return fmt.Errorf("cpu sgd: g: %w", err)
		}
		defer release()
	}
	lr := p.LR
	dl := p.Decay * lr
	b.parallel(len(ws), grain, func(lo, hi int) {
		ws, gs, vs := ws[lo:hi], gs[lo:hi], vs[lo:hi]
		for i := range ws {
			nv := momentum*vs[i] - dl*ws[i] - lr*(gscale*gs[i])
			vs[i] = nv
			ws[i] += nv
		}
	})
	wb.wrote()
	vb.wrote()
	return nil
}

// Scale: x <- s*x, in whatever layout x is.
func (b *Backend) Scale(x backend.Buffer, s float32) error {
	a := args{b: b, op: "cpu scale"}
	xb := a.get(x, -1, "buffer")
	if a.err != nil {
		return a.err
	}
	xs := xb.f32()
	b.parallel(len(xs), grain, func(lo, hi int) {
		for i := range xs[lo:hi] {
			xs[lo+i] *= s
		}
	})
	xb.wrote()
	return nil
}

// AllFinite reports whether no value of bs is infinite or NaN (padding of blocked
// layouts is zero, so reading the whole buffer is right in any layout).
func (b *Backend) AllFinite(bs []backend.Buffer) (bool, error) {
	for i, x := range bs {
		a := args{b: b, op: fmt.Sprintf("cpu all-finite (buffer %d)", i)}
		xb := a.get(x, -1, "buffer")
		if a.err != nil {
			return false, a.err
		}
		for _, v := range xb.f32() {
			if v-v != 0 { // NaN or an infinity
				return false, nil
			}
		}
	}
	return true, nil
}

// Round: dst <- f.Round(src) elementwise, keeping src's layout (for backend.Emulate).
func (b *Backend) Round(dst, src backend.Buffer, f lowp.Format) error {
	a := args{b: b, op: "cpu round"}
	sb := a.get(src, -1, "src")
	var db *buffer
	if sb != nil {
		db = a.get(dst, sb.n, "dst")
	}
	if a.err != nil {
		return a.err
	}
	ss, ds := sb.f32(), db.f32()
	b.parallel(len(ss), grain, func(lo, hi int) {
		f.RoundSlice(ds[lo:hi], ss[lo:hi])
	})
	db.lay = sb.lay
	db.wrote()
	return nil
}
