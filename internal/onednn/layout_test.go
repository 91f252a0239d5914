package onednn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"alexnet/internal/backend"
	"alexnet/internal/lowp"
	_ "alexnet/internal/ref"
)

// These tests hold the layout rules of layout.go to the reference backend where a
// caller mixes layouts in ways the conformance suite's chain does not: blocked
// buffers downloaded, copied, zeroed, fed to dropout, the loss, SGD, linear and the
// Go pooling loop, read under other sizes, and accumulated into.

// twin is one tensor held by ref and by the cpu backend.
type twin struct {
	ref, cpu backend.Buffer
	n        int
}

type mirror struct {
	t   *testing.T
	ref backend.Backend
	cpu *Backend
	rng *rand.Rand
	// blk is the channel block oneDNN's convolutions pick on this CPU (8 on AVX2,
	// 16 on AVX-512): the tests size their activations from it, so each holds on
	// either ISA (DNNL_MAX_CPU_ISA=AVX2 tries the other on an AVX-512 machine).
	blk int
}

func newMirror(t *testing.T) *mirror {
	t.Helper()
	ref, err := backend.Open("ref", backend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cpu, err := Open(backend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ref.Close()
		if err := cpu.Close(); err != nil {
			t.Error(err)
		}
	})
	blk, err := cpu.convBlock(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if blk < 2 {
		t.Fatalf("oneDNN's convolution reads 64 channels in blocks of %d: no blocked layout on this CPU to test", blk)
	}
	return &mirror{t: t, ref: ref, cpu: cpu, rng: rand.New(rand.NewPCG(7, 7)), blk: blk}
}

func (m *mirror) random(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = m.rng.Float32()*2 - 1
	}
	return v
}

// plain uploads v to both backends.
func (m *mirror) plain(v []float32) twin {
	m.t.Helper()
	tw := twin{n: len(v)}
	var err error
	if tw.ref, err = m.ref.Alloc(len(v)); err != nil {
		m.t.Fatal(err)
	}
	if tw.cpu, err = m.cpu.Alloc(len(v)); err != nil {
		m.t.Fatal(err)
	}
	if err := m.ref.Upload(tw.ref, v); err != nil {
		m.t.Fatal(err)
	}
	if err := m.cpu.Upload(tw.cpu, v); err != nil {
		m.t.Fatal(err)
	}
	return tw
}

// blocked holds random values of shape s, plain on ref and blocked on cpu: a 1x1
// max pool (the identity) leaves them in oneDNN's layout.
func (m *mirror) blocked(s backend.Shape) twin {
	m.t.Helper()
	v := m.random(s.Len())
	tw := m.plain(v)
	src := tw.cpu
	var err error
	if tw.cpu, err = m.cpu.Alloc(s.Len()); err != nil {
		m.t.Fatal(err)
	}
	id, err := m.cpu.NewPool(backend.PoolParams{In: s, Kind: backend.MaxPool, KH: 1, KW: 1, StrideH: 1, StrideW: 1})
	if err != nil {
		m.t.Fatal(err)
	}
	if err := id.Forward(src, tw.cpu); err != nil {
		m.t.Fatal(err)
	}
	if tw.cpu.(*buffer).lay == nil {
		m.t.Fatalf("identity pool of %v left a plain buffer (oneDNN blocks by %d here)", s, m.blk)
	}
	return tw
}

// check compares the two copies, logging the largest difference.
func (m *mirror) check(what string, tw twin, tol float64) {
	m.t.Helper()
	want, got := make([]float32, tw.n), make([]float32, tw.n)
	if err := m.ref.Download(want, tw.ref); err != nil {
		m.t.Fatal(err)
	}
	if err := m.cpu.Download(got, tw.cpu); err != nil {
		m.t.Fatal(err)
	}
	var maxDiff, maxAbs float64
	at := 0
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		if d > maxDiff {
			maxDiff, at = d, i
		}
		maxAbs = math.Max(maxAbs, math.Abs(float64(want[i])))
	}
	rel := maxDiff / math.Max(maxAbs, 1e-6)
	m.t.Logf("%s: max|diff| %.3g at %d, relative %.3g", what, maxDiff, at, rel)
	if !(rel <= tol) {
		m.t.Errorf("%s: relative difference %.3g exceeds %g (got %g, want %g at %d)", what, rel, tol, got[at], want[at], at)
	}
}

// both runs f on each backend.
func (m *mirror) both(what string, f func(be backend.Backend, at func(twin) backend.Buffer) error) {
	m.t.Helper()
	if err := f(m.ref, func(tw twin) backend.Buffer { return tw.ref }); err != nil {
		m.t.Fatalf("%s on ref: %v", what, err)
	}
	if err := f(m.cpu, func(tw twin) backend.Buffer { return tw.cpu }); err != nil {
		m.t.Fatalf("%s on cpu: %v", what, err)
	}
}

func lay(b backend.Buffer) *layout { return b.(*buffer).lay }

const tol = 1e-5

func TestLayoutDownloadCopyZero(t *testing.T) {
	m := newMirror(t)
	x := m.blocked(backend.Shape{N: 2, C: 2 * m.blk, H: 5, W: 3})
	m.check("blocked x downloaded", x, 0)
	if lay(x.cpu) == nil {
		t.Error("download changed the buffer's layout")
	}
	m.check("downloaded twice", x, 0)

	y := m.plain(make([]float32, x.n))
	m.both("copy", func(be backend.Backend, at func(twin) backend.Buffer) error { return be.Copy(at(y), at(x)) })
	if !sameLayout(lay(y.cpu), lay(x.cpu)) {
		t.Error("copy did not carry the source's layout")
	}
	m.check("copy of blocked", y, 0)
	m.both("zero", func(be backend.Backend, at func(twin) backend.Buffer) error { return be.Zero(at(y)) })
	if lay(y.cpu) != nil {
		t.Error("zero left a layout")
	}
	m.check("zeroed", y, 0)
	m.check("copy source untouched", x, 0)
	v := m.random(x.n)
	m.both("upload", func(be backend.Backend, at func(twin) backend.Buffer) error { return be.Upload(at(x), v) })
	if lay(x.cpu) != nil {
		t.Error("upload left a layout")
	}
	m.check("upload over blocked", x, 0)
}

func TestLayoutReLU(t *testing.T) {
	m := newMirror(t)
	s := backend.Shape{N: 2, C: m.blk, H: 4, W: 5}
	y := m.blocked(s)
	m.both("relu in place", func(be backend.Backend, at func(twin) backend.Buffer) error { return be.ReLUForward(at(y), at(y)) })
	if lay(y.cpu) == nil {
		t.Error("relu in place lost the layout")
	}
	m.check("relu y", y, 0)
	for _, c := range []struct {
		name string
		dy   twin
	}{{"dy plain", m.plain(m.random(s.Len()))}, {"dy blocked", m.blocked(s)}} {
		dx := m.blocked(s) // overwritten
		m.both("relu backward "+c.name, func(be backend.Backend, at func(twin) backend.Buffer) error {
			return be.ReLUBackward(at(y), at(c.dy), at(dx))
		})
		m.check("relu dx, "+c.name, dx, 0)
	}
}

func TestLayoutDropoutAndLoss(t *testing.T) {
	m := newMirror(t)
	s := backend.Shape{N: 2, C: m.blk, H: 3, W: 3}
	x, y, mask := m.blocked(s), m.plain(make([]float32, s.Len())), m.blocked(s)
	m.both("dropout forward", func(be backend.Backend, at func(twin) backend.Buffer) error {
		return be.DropoutForward(at(x), at(y), at(mask), 0.5, 99)
	})
	m.check("dropout y (mask by NCHW index)", y, 0)
	m.check("dropout mask", mask, 0)
	dy, dx := m.blocked(s), m.blocked(s)
	m.both("dropout backward", func(be backend.Backend, at func(twin) backend.Buffer) error {
		return be.Mul(at(dy), at(mask), at(dx))
	})
	m.check("dropout dx", dx, 0)
	// Axpy over every pair of layouts: y keeps its values' meaning whatever it holds.
	for _, c := range []struct {
		name string
		x, y twin
	}{
		{"both blocked", m.blocked(s), m.blocked(s)},
		{"x plain, y blocked", m.plain(m.random(s.Len())), m.blocked(s)},
		{"x blocked, y plain", m.blocked(s), m.plain(m.random(s.Len()))},
	} {
		m.both("axpy "+c.name, func(be backend.Backend, at func(twin) backend.Buffer) error {
			return be.Axpy(1, at(c.x), at(c.y))
		})
		m.check("axpy y, "+c.name, c.y, 0)
	}

	// Logits as [2, C*9]: each row is one image's C*H*W values in NCHW order.
	logits, dlogits := m.blocked(s), m.blocked(s)
	labels := []int32{5, 70}
	var losses [2]float64
	for i, be := range []backend.Backend{m.ref, m.cpu} {
		l, dl := logits.ref, dlogits.ref
		if i == 1 {
			l, dl = logits.cpu, dlogits.cpu
		}
		var err error
		if losses[i], err = backend.CrossEntropy(be, l, labels, 2, s.PerImage(), dl); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("loss %g, want %g", losses[1], losses[0])
	if math.Abs(losses[1]-losses[0]) > tol*math.Abs(losses[0]) {
		t.Errorf("loss on blocked logits %g, want %g", losses[1], losses[0])
	}
	m.check("dlogits", dlogits, tol)
}

func TestLayoutSGD(t *testing.T) {
	m := newMirror(t)
	s := backend.Shape{N: 1, C: m.blk, H: 4, W: 4}
	sgd := func(w, g, v twin) {
		m.both("sgd", func(be backend.Backend, at func(twin) backend.Buffer) error {
			return be.SGD([]backend.SGDParam{{W: at(w), G: at(g), V: at(v), LR: 0.1, Decay: 0.01}}, 0.9, 1)
		})
		m.check("w", w, tol)
		m.check("v", v, tol)
	}
	t.Log("g blocked, w and v plain")
	sgd(m.plain(m.random(s.Len())), m.blocked(s), m.plain(m.random(s.Len())))
	t.Log("all blocked")
	w, g, v := m.blocked(s), m.blocked(s), m.blocked(s)
	sgd(w, g, v)
	if lay(w.cpu) == nil || lay(v.cpu) == nil {
		t.Error("sgd on agreeing layouts converted them")
	}
}

func TestLayoutLinearOnFlattened(t *testing.T) {
	m := newMirror(t)
	s := backend.Shape{N: 2, C: 2 * m.blk, H: 3, W: 3}
	p := backend.LinearParams{N: 2, In: s.PerImage(), Out: 5}
	opR, err := m.ref.NewLinear(p)
	if err != nil {
		t.Fatal(err)
	}
	opC, err := m.cpu.NewLinear(p)
	if err != nil {
		t.Fatal(err)
	}
	op := func(be backend.Backend) backend.Linear {
		if be == m.ref {
			return opR
		}
		return opC
	}
	x, w, b := m.blocked(s), m.plain(m.random(p.Out*p.In)), m.plain(m.random(p.Out))
	y, dy := m.plain(make([]float32, p.N*p.Out)), m.plain(m.random(p.N*p.Out))
	dx := m.blocked(s) // a gradient buffer last written blocked, now written plain
	dw, db := m.plain(m.random(p.Out*p.In)), m.plain(m.random(p.Out))
	m.both("linear", func(be backend.Backend, at func(twin) backend.Buffer) error {
		if err := op(be).Forward(at(x), at(w), at(b), at(y)); err != nil {
			return err
		}
		if err := op(be).BackwardFilter(at(x), at(dy), at(dw), at(db)); err != nil {
			return err
		}
		return op(be).BackwardData(at(w), at(dy), at(dx))
	})
	m.check("linear y", y, tol)
	m.check("linear dw", dw, tol)
	m.check("linear db", db, tol)
	m.check("linear dx", dx, tol)
	if lay(dx.cpu) != nil {
		t.Error("linear's dx kept a stale layout")
	}
}

// A blocked [2, 2B, 3, 3] read by a conv as [2, B, 6, 3] (B the channel block): the
// values in NCHW order are what counts, not the sizes of whoever wrote them.
func TestLayoutConvReadsOtherSizes(t *testing.T) {
	m := newMirror(t)
	p := backend.ConvParams{In: backend.Shape{N: 2, C: m.blk, H: 6, W: 3}, OutC: m.blk, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, Groups: 1}
	out, _ := p.Out()
	opR, err := m.ref.NewConv(p)
	if err != nil {
		t.Fatal(err)
	}
	opC, err := m.cpu.NewConv(p)
	if err != nil {
		t.Fatal(err)
	}
	x := m.blocked(backend.Shape{N: 2, C: 2 * m.blk, H: 3, W: 3})
	w, b := m.plain(m.random(p.WeightLen())), m.plain(m.random(p.OutC))
	y := m.plain(make([]float32, out.Len()))
	if err := opR.Forward(x.ref, w.ref, b.ref, y.ref); err != nil {
		t.Fatal(err)
	}
	if err := opC.Forward(x.cpu, w.cpu, b.cpu, y.cpu); err != nil {
		t.Fatal(err)
	}
	m.check("conv y from a blocked x of other sizes", y, tol)

	// Parameter gradients accumulate into whatever the buffers hold: here a dw last
	// written blocked (by a copy of an activation of the same length).
	dwShape := backend.Shape{N: 1, C: m.blk, H: m.blk, W: 9} // OutC*C*3*3
	dw, db := m.blocked(dwShape), m.plain(m.random(p.OutC))
	dy := m.blocked(out)
	if err := opR.BackwardFilter(x.ref, dy.ref, dw.ref, db.ref); err != nil {
		t.Fatal(err)
	}
	if err := opC.BackwardFilter(x.cpu, dy.cpu, dw.cpu, db.cpu); err != nil {
		t.Fatal(err)
	}
	m.check("dw accumulated onto blocked values", dw, tol)
	m.check("db", db, tol)
}

func TestLayoutAdaptivePoolLoop(t *testing.T) {
	m := newMirror(t)
	p := backend.PoolParams{In: backend.Shape{N: 2, C: m.blk, H: 10, W: 10}, Kind: backend.AdaptiveAvgPool, OutH: 4, OutW: 4}
	out, _ := p.Out()
	opR, err := m.ref.NewPool(p)
	if err != nil {
		t.Fatal(err)
	}
	opC, err := m.cpu.NewPool(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := opC.(*adaptivePool); !ok {
		t.Fatalf("10->4 runs on %T, want the Go loop", opC)
	}
	x, y := m.blocked(p.In), m.blocked(out)
	dy, dx := m.blocked(out), m.blocked(p.In)
	for i, op := range []backend.Op{opR, opC} {
		at := func(tw twin) backend.Buffer { return []backend.Buffer{tw.ref, tw.cpu}[i] }
		if err := op.Forward(at(x), at(y)); err != nil {
			t.Fatal(err)
		}
		if err := op.Backward(at(x), at(y), at(dy), at(dx)); err != nil {
			t.Fatal(err)
		}
	}
	m.check("adaptive pool y", y, tol)
	m.check("adaptive pool dx", dx, tol)
}

// The point of the layouts: conv -> ReLU -> LRN -> pool -> conv, forward and
// backward, hands blocked buffers along without one conversion, and still agrees
// with ref. That is promised where a group's channels are a multiple of the block
// oneDNN picks on this CPU; elsewhere (24 channels on AVX-512, say) the chain may
// convert, and every hand-over is checked against the layouts oneDNN's primitive
// descriptors asked for: an input is converted exactly when the layout its producer
// left differs from the one its consumer wants. 8 and 24 channels a group divide 8
// but not 16, 16 divides both, so each ISA meets both cases.
func TestLayoutChainStaysBlocked(t *testing.T) {
	for _, cg := range []int{8, 16, 24} {
		t.Run(fmt.Sprintf("%d-channels-a-group", cg), func(t *testing.T) { testChain(t, cg) })
	}
}

func testChain(t *testing.T, cg int) {
	m := newMirror(t)
	promised := cg%m.blk == 0
	t.Logf("oneDNN blocks activations by %d channels here: no conversions promised: %v", m.blk, promised)
	in := backend.Shape{N: 2, C: 3, H: 31, W: 31}
	c1p := backend.ConvParams{In: in, OutC: 2 * cg, KH: 5, KW: 5, StrideH: 2, StrideW: 2, Groups: 1}
	a1, _ := c1p.Out()
	lp := backend.LRNParams{In: a1, Size: 5, Alpha: 0.1, Beta: 0.75, K: 2}
	pp := backend.PoolParams{In: a1, Kind: backend.MaxPool, KH: 3, KW: 3, StrideH: 2, StrideW: 2}
	p1, _ := pp.Out()
	c2p := backend.ConvParams{In: p1, OutC: 2 * cg, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, Groups: 2}
	a2, _ := c2p.Out()

	type net struct {
		c1, c2    backend.Conv
		lrn, pool backend.Op
	}
	build := func(be backend.Backend) (n net) {
		var err error
		if n.c1, err = be.NewConv(c1p); err != nil {
			t.Fatal(err)
		}
		if n.lrn, err = be.NewLRN(lp); err != nil {
			t.Fatal(err)
		}
		if n.pool, err = be.NewPool(pp); err != nil {
			t.Fatal(err)
		}
		if n.c2, err = be.NewConv(c2p); err != nil {
			t.Fatal(err)
		}
		return n
	}
	nets := []net{build(m.ref), build(m.cpu)}
	x := m.plain(m.random(in.Len()))
	w1, b1 := m.plain(m.random(c1p.WeightLen())), m.plain(m.random(c1p.OutC))
	w2, b2 := m.plain(m.random(c2p.WeightLen())), m.plain(m.random(c2p.OutC))
	zero := func(n int) twin { return m.plain(make([]float32, n)) }
	y1, l1, q1, y2 := zero(a1.Len()), zero(a1.Len()), zero(p1.Len()), zero(a2.Len())
	dy2, dq1, dl1, dy1, dr1 := m.plain(m.random(a2.Len())), zero(p1.Len()), zero(a1.Len()), zero(a1.Len()), zero(a1.Len())
	dw1, db1, dw2, db2 := zero(c1p.WeightLen()), zero(c1p.OutC), zero(c2p.WeightLen()), zero(c2p.OutC)
	for i, be := range []backend.Backend{m.ref, m.cpu} {
		n := nets[i]
		at := func(tw twin) backend.Buffer { return []backend.Buffer{tw.ref, tw.cpu}[i] }
		for _, f := range []func() error{
			func() error { return n.c1.Forward(at(x), at(w1), at(b1), at(y1)) },
			func() error { return be.ReLUForward(at(y1), at(y1)) },
			func() error { return n.lrn.Forward(at(y1), at(l1)) },
			func() error { return n.pool.Forward(at(l1), at(q1)) },
			func() error { return n.c2.Forward(at(q1), at(w2), at(b2), at(y2)) },
			func() error { return n.c2.BackwardFilter(at(q1), at(dy2), at(dw2), at(db2)) },
			func() error { return n.c2.BackwardData(at(w2), at(dy2), at(dq1)) },
			func() error { return n.pool.Backward(at(l1), at(q1), at(dq1), at(dl1)) },
			func() error { return n.lrn.Backward(at(y1), at(l1), at(dl1), at(dy1)) },
			func() error { return be.ReLUBackward(at(y1), at(dy1), at(dr1)) },
			func() error { return n.c1.BackwardFilter(at(x), at(dr1), at(dw1), at(db1)) },
		} {
			if err := f(); err != nil {
				t.Fatalf("%s: %v", be.Name(), err)
			}
		}
	}
	for _, c := range []struct {
		name string
		tw   twin
	}{{"conv1 y", y1}, {"lrn y", l1}, {"pool y", q1}, {"conv2 y", y2}, {"conv2 dx", dq1}, {"pool dx", dl1},
		{"lrn dx", dy1}, {"relu dx", dr1}, {"conv1 dw", dw1}, {"conv1 db", db1}, {"conv2 dw", dw2}, {"conv2 db", db2}} {
		m.check(c.name, c.tw, 1e-4)
	}
	if promised {
		for _, c := range []struct {
			name string
			tw   twin
		}{{"conv1 y", y1}, {"lrn y", l1}, {"pool y", q1}, {"conv2 y", y2}, {"conv2 dx", dq1}, {"pool dx", dl1}, {"lrn dx", dy1}, {"relu dx", dr1}} {
			if l := lay(c.tw.cpu); l == nil || channelBlock(&l.md) != m.blk {
				t.Errorf("%s is not in oneDNN's %d-channel blocked layout", c.name, m.blk)
			}
		}
	}
	// Each hand-over inside the chain: the consumer's stage and the buffer its
	// producer wrote. (Inputs from outside, x, the weights and conv2's dy, may be
	// converted.) At these sizes every primitive is a JIT kernel on a blocked layout;
	// on tiny images oneDNN may pick a GEMM on plain layouts for backward weights.
	c2, lrn, pool := nets[1].c2.(*conv), nets[1].lrn.(*fwdBwd), nets[1].pool.(*fwdBwd)
	for _, c := range []struct {
		name string
		s    *staged
		from twin
	}{{"conv2 x", c2.x, q1}, {"conv2 x for backward filter", c2.xF, q1}, {"lrn x", lrn.x, y1}, {"lrn x for backward", lrn.xB, y1},
		{"lrn dy", lrn.dy, dl1}, {"pool x", pool.x, l1}, {"pool dy", pool.dy, dq1}, {"conv1 dy", nets[1].c1.(*conv).dyF, dr1}} {
		l := lay(c.from.cpu)
		same := c.s.wantPlain
		if l != nil {
			same = mdEqual(&l.md, &c.s.want)
		}
		if promised && !same {
			t.Errorf("%s: its producer left blocks of %d channels, the consumer wants blocks of %d", c.name, blockOf(l), channelBlock(&c.s.want))
		}
		if converted := c.s.buf != nil; converted == same {
			t.Errorf("%s: converted %v, though the producer's layout (block %d) and the wanted one (block %d) agree: %v",
				c.name, converted, blockOf(l), channelBlock(&c.s.want), same)
		}
	}
}

// blockOf is l's channel block, 1 for plain.
func blockOf(l *layout) int {
	if l == nil {
		return 1
	}
	return channelBlock(&l.md)
}

// The layout LRN and pooling run on (blockedTag) is the one oneDNN's convolutions
// pick for wide layers on this CPU, else the chain would convert at every LRN and
// pool; and an activation is left blocked exactly when its channels fill whole
// blocks (layout.go rule 2): 8, 24 and 40 channels divide 8 but not 16, 16 and 32
// both. Values come out the same either way.
func TestLayoutChannelCounts(t *testing.T) {
	m := newMirror(t)
	if tb := tagBlock(); tb != m.blk {
		t.Errorf("LRN and pooling run on blocks of %d channels, convolutions on %d", tb, m.blk)
	}
	for _, c := range []int{8, 16, 24, 32, 40} {
		s := backend.Shape{N: 2, C: c, H: 5, W: 3}
		v := m.random(s.Len())
		tw := m.plain(v)
		out := m.plain(make([]float32, s.Len()))
		pp := backend.PoolParams{In: s, Kind: backend.MaxPool, KH: 1, KW: 1, StrideH: 1, StrideW: 1}
		for i, be := range []backend.Backend{m.ref, m.cpu} {
			id, err := be.NewPool(pp)
			if err != nil {
				t.Fatal(err)
			}
			at := func(tw twin) backend.Buffer { return []backend.Buffer{tw.ref, tw.cpu}[i] }
			if err := id.Forward(at(tw), at(out)); err != nil {
				t.Fatal(err)
			}
			if err := be.ReLUForward(at(out), at(out)); err != nil {
				t.Fatal(err)
			}
		}
		want := c%m.blk == 0
		if got := lay(out.cpu) != nil; got != want {
			t.Errorf("%d channels, block %d: left blocked %v, want %v", c, m.blk, got, want)
		}
		m.check(fmt.Sprintf("%d channels: pool and relu", c), out, 0)
	}
}

// Scale, Round and AllFinite on blocked buffers: Scale and AllFinite work on the
// physical buffer as it is, Round gives its destination the source's layout.
func TestLayoutScaleRoundAllFinite(t *testing.T) {
	m := newMirror(t)
	s := backend.Shape{N: 2, C: 2 * m.blk, H: 5, W: 5}
	x := m.blocked(s)
	m.both("scale", func(be backend.Backend, at func(twin) backend.Buffer) error {
		return be.Scale(at(x), 3)
	})
	if x.cpu.(*buffer).lay == nil {
		t.Error("scale made a blocked buffer plain")
	}
	m.check("scale", x, 0)
	for _, f := range []lowp.Format{lowp.BF16, lowp.FP16} {
		r := m.plain(make([]float32, s.Len()))
		m.both("round", func(be backend.Backend, at func(twin) backend.Buffer) error {
			return be.(backend.Rounder).Round(at(r), at(x), f)
		})
		if !sameLayout(r.cpu.(*buffer).lay, x.cpu.(*buffer).lay) {
			t.Errorf("%v: round did not give dst src's layout", f)
		}
		m.check(f.String()+" round", r, 0)
	}
	// oneDNN's max pool does not carry a NaN through (the identity pool turns one
	// into -MaxFloat32), so the NaN is made in place: inf times 0.
	for _, nan := range []bool{false, true} {
		v := m.random(s.Len())
		v[s.Len()-7] = float32(math.Inf(1))
		src := m.plain(v).cpu
		dst, err := m.cpu.Alloc(s.Len())
		if err != nil {
			t.Fatal(err)
		}
		id, err := m.cpu.NewPool(backend.PoolParams{In: s, Kind: backend.MaxPool, KH: 1, KW: 1, StrideH: 1, StrideW: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := id.Forward(src, dst); err != nil {
			t.Fatal(err)
		}
		if dst.(*buffer).lay == nil {
			t.Fatal("identity pool left a plain buffer")
		}
		if nan {
			if err := m.cpu.Scale(dst, 0); err != nil {
				t.Fatal(err)
			}
		}
		ok, err := m.cpu.AllFinite([]backend.Buffer{x.cpu, dst})
		if err != nil || ok {
			t.Errorf("AllFinite with a non-finite value (NaN: %v) in a blocked buffer = %v, %v", nan, ok, err)
		}
	}
	if ok, err := m.cpu.AllFinite([]backend.Buffer{x.cpu}); err != nil || !ok {
		t.Errorf("AllFinite of a finite blocked buffer = %v, %v", ok, err)
	}
}
