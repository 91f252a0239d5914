package onednn

import (
	"cmp"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"alexnet/configs"
	"alexnet/internal/backend"
	"alexnet/internal/config"
	"alexnet/internal/model"
)

// AlexNet's conv2 at batch 32: 96x27x27 -> 256 channels, 5x5, pad 2, groups 2.
// testdata/conv2_torch.py times the same step in PyTorch for comparison.
var conv2 = backend.ConvParams{In: backend.Shape{N: 32, C: 96, H: 27, W: 27}, OutC: 256,
	KH: 5, KW: 5, StrideH: 1, StrideW: 1, PadH: 2, PadW: 2, Groups: 2}

// BenchmarkConv2 is one training step of conv2: forward, backward data, backward
// filter, on 2 threads (the project's target), with oneDNN's blocked layouts inside
// ("any") and with plain NCHW throughout ("plain").
func BenchmarkConv2(b *testing.B) {
	for _, plain := range []bool{false, true} {
		name := "any"
		if plain {
			name = "plain"
		}
		b.Run(name, func(b *testing.B) { benchConv(b, conv2, plain, 2) })
	}
}

func benchConv(b *testing.B, p backend.ConvParams, plain bool, threads int) {
	be, err := Open(backend.Options{Threads: threads})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	convPlainLayouts = plain
	defer func() { convPlainLayouts = false }()
	op, err := be.newConv(p)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("impl: forward %s, backward data %s, backward weights %s", op.Impl[0], op.Impl[1], op.Impl[2])
	out, _ := p.Out()
	rng := rand.New(rand.NewPCG(1, 1))
	buf := func(n int) backend.Buffer {
		x, err := be.Alloc(n)
		if err != nil {
			b.Fatal(err)
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = rng.Float32() - 0.5
		}
		if err := be.Upload(x, v); err != nil {
			b.Fatal(err)
		}
		return x
	}
	x, w, bias, y := buf(p.In.Len()), buf(p.WeightLen()), buf(p.OutC), buf(out.Len())
	dy, dx, dw, db := buf(out.Len()), buf(p.In.Len()), buf(p.WeightLen()), buf(p.OutC)
	step := func() {
		// A new x and dy each step, as in training, so no conversion is skipped that
		// a real step could not skip.
		x.(*buffer).wrote()
		dy.(*buffer).wrote()
		if err := op.Forward(x, w, bias, y); err != nil {
			b.Fatal(err)
		}
		if err := op.BackwardData(w, dy, dx); err != nil {
			b.Fatal(err)
		}
		if err := op.BackwardFilter(x, dy, dw, db); err != nil {
			b.Fatal(err)
		}
	}
	step()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step()
	}
	b.StopTimer()
	flops := 3 * 2 * float64(out.Len()) * float64(p.In.C/p.Groups*p.KH*p.KW)
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	m := be.Memory()
	b.Logf("memory in use %.1f MB (buffers %.1f MB)", float64(m.InUse)/1e6,
		4*float64(2*p.In.Len()+2*out.Len()+2*p.WeightLen()+2*p.OutC)/1e6)
}

// BenchmarkConv2Parts times conv2's three primitives and conversions one by one.
func BenchmarkConv2Parts(b *testing.B) {
	be, err := Open(backend.Options{Threads: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	op, err := be.newConv(conv2)
	if err != nil {
		b.Fatal(err)
	}
	out, _ := conv2.Out()
	alloc := func(n int) *buffer {
		x, err := be.Alloc(n)
		if err != nil {
			b.Fatal(err)
		}
		return x.(*buffer)
	}
	x, w, bias, y := alloc(conv2.In.Len()), alloc(conv2.WeightLen()), alloc(conv2.OutC), alloc(out.Len())
	dy, dx, dw, db := alloc(out.Len()), alloc(conv2.In.Len()), alloc(conv2.WeightLen()), alloc(conv2.OutC)
	parts := []struct {
		name string
		f    func() error
	}{
		{"forward", func() error { x.wrote(); return op.Forward(x, w, bias, y) }},
		{"forward-x-cached", func() error { return op.Forward(x, w, bias, y) }},
		{"backward-data", func() error { dy.wrote(); return op.BackwardData(w, dy, dx) }},
		{"backward-filter-cached", func() error { return op.BackwardFilter(x, dy, dw, db) }},
		{"backward-filter", func() error { x.wrote(); dy.wrote(); return op.BackwardFilter(x, dy, dw, db) }},
	}
	for _, pt := range parts {
		b.Run(pt.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if err := pt.f(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLRNPool times forward+backward of AlexNet's first LRN and max pooling at
// batch 32 (96x55x55), and logs which oneDNN implementation each got.
func BenchmarkLRNPool(b *testing.B) {
	in := backend.Shape{N: 32, C: 96, H: 55, W: 55}
	be, err := Open(backend.Options{Threads: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	lrn, err := be.newLRN(backend.LRNParams{In: in, Size: 5, Alpha: 1e-4, Beta: 0.75, K: 2})
	if err != nil {
		b.Fatal(err)
	}
	pool, err := be.newPool(backend.PoolParams{In: in, Kind: backend.MaxPool, KH: 3, KW: 3, StrideH: 2, StrideW: 2})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		op   *fwdBwd
	}{{"lrn", lrn}, {"maxpool", pool.(*fwdBwd)}} {
		b.Run(c.name, func(b *testing.B) {
			b.Logf("impl: forward %s, backward %s", c.op.Impl[0], c.op.Impl[1])
			alloc := func(n int) backend.Buffer {
				x, err := be.Alloc(n)
				if err != nil {
					b.Fatal(err)
				}
				return x
			}
			x, y := alloc(in.Len()), alloc(c.op.out.Len())
			dy, dx := alloc(c.op.out.Len()), alloc(in.Len())
			for i := 0; i < b.N; i++ {
				if err := c.op.Forward(x, y); err != nil {
					b.Fatal(err)
				}
				if err := c.op.Backward(x, y, dy, dx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNetLayouts times whole training steps and inferences of a built-in
// network (ALEXNET_BENCH_CONFIG, default alexnet, at ALEXNET_BENCH_BATCH, default 32,
// on 2 threads) with blocked layouts handed between ops ("blocked") and converted to
// plain at every op boundary ("plain"). The two networks run alternately, step by
// step, so a machine shared with other work slows both alike; each reports its best
// and median milliseconds. Run with -benchtime=Nx for N steps of each.
func BenchmarkNetLayouts(b *testing.B) {
	name := cmp.Or(os.Getenv("ALEXNET_BENCH_CONFIG"), "alexnet")
	batch, err := strconv.Atoi(cmp.Or(os.Getenv("ALEXNET_BENCH_BATCH"), "32"))
	if err != nil {
		b.Fatal(err)
	}
	text, err := configs.Get(name)
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(name, text, nil)
	if err != nil {
		b.Fatal(err)
	}
	type variant struct {
		name         string
		net          *model.Network
		train, infer []float64
	}
	var vs []*variant
	defer func() { keepBlocked = true }()
	for _, blocked := range []bool{false, true} {
		keepBlocked = blocked
		be, err := Open(backend.Options{Threads: 2})
		if err != nil {
			b.Fatal(err)
		}
		defer be.Close()
		net, err := model.New(cfg.Model, be, batch)
		if err != nil {
			b.Fatal(err)
		}
		defer net.Close()
		if err := net.Init(1); err != nil {
			b.Fatal(err)
		}
		v := &variant{name: "plain", net: net}
		if blocked {
			v.name = "blocked"
		}
		vs = append(vs, v)
	}
	keepBlocked = true
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, batch*vs[0].net.Info[0].In.PerImage())
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	labels := make([]int32, batch)
	for i := range labels {
		labels[i] = int32(rng.IntN(cfg.Model.Classes))
	}
	var step int64
	seed := func(layer int) uint64 { return backend.DropoutSeed(1, step, layer) }
	trainStep := func(net *model.Network) error {
		if err := net.SetInput(x, batch); err != nil {
			return err
		}
		if err := net.Forward(true, seed); err != nil {
			return err
		}
		if err := net.Loss(labels); err != nil {
			return err
		}
		if err := net.ZeroGrad(); err != nil {
			return err
		}
		if err := net.Backward(); err != nil {
			return err
		}
		return net.Step(0.01, 0.9, 5e-4)
	}
	infer := func(net *model.Network) error {
		if err := net.Forward(false, nil); err != nil {
			return err
		}
		_, err := net.Logits()
		return err
	}
	timeIt := func(f func(*model.Network) error, net *model.Network) float64 {
		t0 := time.Now()
		if err := f(net); err != nil {
			b.Fatal(err)
		}
		return float64(time.Since(t0).Microseconds()) / 1e3
	}
	for _, v := range vs { // warm-up: first touches, primitive caches
		timeIt(trainStep, v.net)
		timeIt(infer, v.net)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step++
		for _, v := range vs {
			v.train = append(v.train, timeIt(trainStep, v.net))
			v.infer = append(v.infer, timeIt(infer, v.net))
		}
	}
	b.StopTimer()
	for _, v := range vs {
		slices.Sort(v.train)
		slices.Sort(v.infer)
		b.Logf("%s, %s batch %d: training step best %.1f ms, median %.1f ms; inference best %.1f ms, median %.1f ms",
			v.name, name, batch, v.train[0], v.train[len(v.train)/2], v.infer[0], v.infer[len(v.infer)/2])
		b.ReportMetric(v.train[len(v.train)/2], v.name+"-train-ms")
		b.ReportMetric(v.infer[len(v.infer)/2], v.name+"-infer-ms")
	}
}
