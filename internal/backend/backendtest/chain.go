package backendtest

import (
	"math"
	"math/rand/v2"
	"testing"

	"alexnet/internal/backend"
)

// chain runs a miniature AlexNet, forward and backward, on both backends and
// compares every gradient. Single ops are checked elsewhere; this catches what only
// shows between ops: a backend that keeps internal layouts or caches across calls, a
// layer reading a buffer another wrote, ReLU in place on a conv's output.
//
//	x [2,3,35,35] -conv 11x11/4-> [2,16,7,7] -relu-> -lrn 5-> -maxpool 3/2-> [2,16,3,3]
//	  -conv 3x3 pad 1 groups 2-> [2,8,3,3] -relu-> -adaptive avg 2x2-> [2,8,2,2]
//	  -linear-> [2,10] -softmax CE-> loss
func (s *suite) chain(t *testing.T) {
	rng := rand.New(rand.NewPCG(100, 0))
	in := backend.Shape{N: 2, C: 3, H: 35, W: 35}
	c1p := backend.ConvParams{In: in, OutC: 16, KH: 11, KW: 11, StrideH: 4, StrideW: 4, Groups: 1}
	a1, _ := c1p.Out()
	lp := backend.LRNParams{In: a1, Size: 5, Alpha: 0.1, Beta: 0.75, K: 2}
	pp := backend.PoolParams{In: a1, Kind: backend.MaxPool, KH: 3, KW: 3, StrideH: 2, StrideW: 2}
	p1, err := pp.Out()
	if err != nil {
		t.Fatal(err)
	}
	c2p := backend.ConvParams{In: p1, OutC: 8, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, Groups: 2}
	a2, _ := c2p.Out()
	ap := backend.PoolParams{In: a2, Kind: backend.AdaptiveAvgPool, OutH: 2, OutW: 2}
	p2, _ := ap.Out()
	fp := backend.LinearParams{N: in.N, In: p2.PerImage(), Out: 10}

	type net struct {
		c1, c2 backend.Conv
		lrn    backend.Op
		pool   backend.Op
		avg    backend.Op
		fc     backend.Linear
	}
	build := func(be backend.Backend) net {
		var n net
		var err error
		if n.c1, err = be.NewConv(c1p); err != nil {
			t.Fatalf("%s: %v", be.Name(), err)
		}
		if n.lrn, err = be.NewLRN(lp); err != nil {
			t.Fatalf("%s: %v", be.Name(), err)
		}
		if n.pool, err = be.NewPool(pp); err != nil {
			t.Fatalf("%s: %v", be.Name(), err)
		}
		if n.c2, err = be.NewConv(c2p); err != nil {
			t.Fatalf("%s: %v", be.Name(), err)
		}
		if n.avg, err = be.NewPool(ap); err != nil {
			t.Fatalf("%s: %v", be.Name(), err)
		}
		if n.fc, err = be.NewLinear(fp); err != nil {
			t.Fatalf("%s: %v", be.Name(), err)
		}
		return n
	}
	nets := map[backend.Backend]net{s.ref: build(s.ref), s.dut: build(s.dut)}

	x := s.upload(t, random(rng, in.Len(), 1))
	w1 := s.upload(t, random(rng, c1p.WeightLen(), 0.1))
	b1 := s.upload(t, random(rng, c1p.OutC, 0.1))
	w2 := s.upload(t, random(rng, c2p.WeightLen(), 0.2))
	b2 := s.upload(t, random(rng, c2p.OutC, 0.1))
	wf := s.upload(t, random(rng, fp.Out*fp.In, 0.3))
	bf := s.upload(t, random(rng, fp.Out, 0.1))
	zeros := func(n int) pair { return s.upload(t, make([]float32, n)) }
	y1, l1, q1 := zeros(a1.Len()), zeros(a1.Len()), zeros(p1.Len())
	y2, q2, logits := zeros(a2.Len()), zeros(p2.Len()), zeros(fp.N*fp.Out)
	dlogits, dq2, dy2, dq1 := zeros(fp.N*fp.Out), zeros(p2.Len()), zeros(a2.Len()), zeros(p1.Len())
	dl1, dy1, dx := zeros(a1.Len()), zeros(a1.Len()), zeros(in.Len())
	dr1, dr2 := zeros(a1.Len()), zeros(a2.Len()) // ReLU backward's dx: the interface does not promise dx == dy works
	dw1, db1, dw2, db2 := zeros(c1p.WeightLen()), zeros(c1p.OutC), zeros(c2p.WeightLen()), zeros(c2p.OutC)
	dwf, dbf := zeros(fp.Out*fp.In), zeros(fp.Out)
	labels := []int32{3, 7}

	var losses []float64
	step := func(be backend.Backend, at func(pair) backend.Buffer) error {
		n := nets[be]
		for _, f := range []func() error{
			func() error { return n.c1.Forward(at(x), at(w1), at(b1), at(y1)) },
			func() error { return be.ReLUForward(at(y1), at(y1)) },
			func() error { return n.lrn.Forward(at(y1), at(l1)) },
			func() error { return n.pool.Forward(at(l1), at(q1)) },
			func() error { return n.c2.Forward(at(q1), at(w2), at(b2), at(y2)) },
			func() error { return be.ReLUForward(at(y2), at(y2)) },
			func() error { return n.avg.Forward(at(y2), at(q2)) },
			func() error { return n.fc.Forward(at(q2), at(wf), at(bf), at(logits)) },
			func() error {
				loss, err := backend.CrossEntropy(be, at(logits), labels, fp.N, fp.Out, at(dlogits))
				losses = append(losses, loss)
				return err
			},
			func() error { return n.fc.BackwardFilter(at(q2), at(dlogits), at(dwf), at(dbf)) },
			func() error { return n.fc.BackwardData(at(wf), at(dlogits), at(dq2)) },
			func() error { return n.avg.Backward(at(y2), at(q2), at(dq2), at(dy2)) },
			func() error { return be.ReLUBackward(at(y2), at(dy2), at(dr2)) },
			func() error { return n.c2.BackwardData(at(w2), at(dr2), at(dq1)) },
			func() error { return n.c2.BackwardFilter(at(q1), at(dr2), at(dw2), at(db2)) },
			func() error { return n.pool.Backward(at(l1), at(q1), at(dq1), at(dl1)) },
			func() error { return n.lrn.Backward(at(y1), at(l1), at(dl1), at(dy1)) },
			func() error { return be.ReLUBackward(at(y1), at(dy1), at(dr1)) },
			func() error { return n.c1.BackwardFilter(at(x), at(dr1), at(dw1), at(db1)) },
			func() error { return n.c1.BackwardData(at(w1), at(dr1), at(dx)) },
		} {
			if err := f(); err != nil {
				return err
			}
		}
		return nil
	}
	s.both(t, "forward and backward", step)
	tol := math.Max(s.o.Tol, s.o.GEMMTol)
	t.Logf("loss %g, want %g", losses[1], losses[0])
	if d := math.Abs(losses[1] - losses[0]); !(d <= tol*math.Max(1, math.Abs(losses[0]))) {
		t.Errorf("loss %g, want %g", losses[1], losses[0])
	}
	for _, c := range []struct {
		name string
		p    pair
	}{{"logits", logits}, {"pool1 out", q1}, {"dlogits", dlogits}, {"dx", dx},
		{"conv1 dw", dw1}, {"conv1 db", db1}, {"conv2 dw", dw2}, {"conv2 db", db2}, {"fc dw", dwf}, {"fc db", dbf}} {
		s.check(t, c.name, c.p, tol)
	}
}
