package onednn

import (
	"math/rand/v2"
	"testing"

	"alexnet/internal/backend"
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
