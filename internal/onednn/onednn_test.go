package onednn

import (
	"math"
	"strings"
	"testing"

	"alexnet/internal/backend"
	"alexnet/internal/backend/backendtest"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func() (backend.Backend, error) { return backend.Open("cpu", backend.Options{}) })
}

// One thread: OpenMP's count is set per call (alx_execute), the Go loops run inline.
func TestConformanceOneThread(t *testing.T) {
	backendtest.Run(t, func() (backend.Backend, error) { return backend.Open("cpu", backend.Options{Threads: 1}) })
}

// bf16 and fp16 against the reference under backend.Emulate. fp16 is emulated on
// oneDNN too; bf16 runs oneDNN's bf16 kernels where the CPU has them (precision.go),
// else the emulation. Either way both round the same inputs at the same points, so
// they differ only where a different summation order puts an output on the other
// side of a rounding boundary (backendtest.GEMMTolerance).
func TestConformanceBF16(t *testing.T) {
	backendtest.RunWith(t, func() (backend.Backend, error) {
		return backend.Open("cpu", backend.Options{Precision: backend.BF16})
	}, backendtest.Options{Precision: backend.BF16})
}

func TestConformanceFP16(t *testing.T) {
	backendtest.RunWith(t, func() (backend.Backend, error) {
		return backend.Open("cpu", backend.Options{Precision: backend.FP16})
	}, backendtest.Options{Precision: backend.FP16})
}

// After Close, ops and buffers report errors instead of touching freed memory.
func TestUseAfterClose(t *testing.T) {
	b, err := Open(backend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := backend.ConvParams{In: backend.Shape{N: 1, C: 8, H: 5, W: 5}, OutC: 8, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, Groups: 1}
	c, err := b.NewConv(p)
	if err != nil {
		t.Fatal(err)
	}
	bufs := make([]backend.Buffer, 4)
	for i, n := range []int{p.In.Len(), p.WeightLen(), p.OutC, p.In.Len()} {
		if bufs[i], err = b.Alloc(n); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Forward(bufs[0], bufs[1], bufs[2], bufs[3]); err != nil {
		t.Fatal(err)
	}
	if m := b.Memory(); m.InUse <= 0 || m.Peak < m.InUse {
		t.Errorf("memory before close %+v", m)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if m := b.Memory(); m.InUse != 0 {
		t.Errorf("memory in use after close: %d bytes", m.InUse)
	}
	if err := c.Forward(bufs[0], bufs[1], bufs[2], bufs[3]); err == nil {
		t.Error("conv forward after close: no error")
	} else {
		t.Logf("conv forward after close: %v", err)
	}
	if _, err := b.Alloc(10); err == nil {
		t.Error("alloc after close: no error")
	}
	if err := b.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

// Bad parameters come back as errors naming the op; a oneDNN failure carries its
// status name.
func TestErrors(t *testing.T) {
	b, err := Open(backend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.NewConv(backend.ConvParams{In: backend.Shape{N: 1, C: 3, H: 5, W: 5}, OutC: 4, KH: 3, KW: 3, StrideH: 1, StrideW: 1, Groups: 2}); err == nil {
		t.Error("conv with groups not dividing channels: no error")
	} else {
		t.Log(err)
	}
	if _, err := b.NewLRN(backend.LRNParams{In: backend.Shape{N: 1, C: 8, H: 2, W: 2}, Size: 4, Alpha: 1, Beta: 0.75, K: 1}); err == nil {
		t.Error("lrn of even size: no error")
	}
	x, _ := b.Alloc(10)
	if err := b.ReLUForward(x, nil); err == nil {
		t.Error("relu into nil: no error")
	}
	other, _ := Open(backend.Options{})
	defer other.Close()
	y, _ := other.Alloc(10)
	if err := b.Copy(x, y); err == nil {
		t.Error("copy from another backend's buffer: no error")
	}
	if err := status("probe", statusInvalidArguments()); err == nil || err.Error() != "probe: oneDNN invalid_arguments" {
		t.Errorf("status error = %v, want \"probe: oneDNN invalid_arguments\"", err)
	}
	if _, err := Open(backend.Options{Threads: -1}); err == nil {
		t.Error("threads -1: no error")
	}
}

// The emulation stays checked on CPUs with bf16 instructions too (on those without,
// TestConformanceBF16 already runs it).
func TestConformanceBF16Emulated(t *testing.T) {
	t.Setenv("ALEXNET_CPU_BF16", "emulate")
	backendtest.RunWith(t, func() (backend.Backend, error) {
		return backend.Open("cpu", backend.Options{Precision: backend.BF16})
	}, backendtest.Options{Precision: backend.BF16})
}

// bf16 is native exactly where oneDNN's effective ISA has bf16 instructions (and
// not under ALEXNET_CPU_BF16=emulate): its convolutions and matmuls then run bf16
// kernels, and a convolution's bf16 result still reaches the caller as float32 in
// the blocked layout of the float32 chain. Where the CPU has none (or
// DNNL_MAX_CPU_ISA=AVX2), backend.Open hands back the emulation.
func TestNativeBF16(t *testing.T) {
	for _, emulate := range []bool{false, true} {
		if emulate {
			t.Setenv("ALEXNET_CPU_BF16", "emulate")
		}
		be, err := backend.Open("cpu", backend.Options{Precision: backend.BF16})
		if err != nil {
			t.Fatal(err)
		}
		want := hasBF16() && !emulate
		t.Logf("ISA %s, ALEXNET_CPU_BF16=emulate %v: native %v", ISA(), emulate, want)
		b, native := be.(*Backend)
		if native != want || backend.IsNative(be, backend.BF16) != want {
			be.Close()
			t.Fatalf("Open returned %T (native %v), want native %v", be, backend.IsNative(be, backend.BF16), want)
		}
		if !native {
			be.Close()
			continue
		}
		blk, err := b.convBlock(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		p := backend.ConvParams{In: backend.Shape{N: 2, C: 2 * blk, H: 9, W: 9}, OutC: 2 * blk, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, Groups: 2}
		c, err := b.newConv(p)
		if err != nil {
			t.Fatal(err)
		}
		l, err := b.newLinear(backend.LinearParams{N: 4, In: 64, Out: 16})
		if err != nil {
			t.Fatal(err)
		}
		for _, impl := range []string{c.Impl[0], c.Impl[1], c.Impl[2], l.fwd.impl, l.bwdData.impl, l.bwdFilter.impl} {
			if !strings.Contains(impl, "bf16") {
				t.Errorf("a native bf16 primitive runs on %s", impl)
			}
		}
		t.Logf("conv %v, linear %s", c.Impl, l.fwd.impl)
		bufs := make([]backend.Buffer, 4)
		out, _ := p.Out()
		for i, n := range []int{p.In.Len(), p.WeightLen(), p.OutC, out.Len()} {
			if bufs[i], err = b.Alloc(n); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Forward(bufs[0], bufs[1], bufs[2], bufs[3]); err != nil {
			t.Fatal(err)
		}
		if y := bufs[3].(*buffer).lay; y == nil || channelBlock(&y.md) != blk || y.md.data_type != asF32(y.md).data_type {
			t.Errorf("bf16 conv left y in %v, want float32 blocks of %d channels", y, blk)
		}
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	}
}

// Opened for inference, the backend computes the forward pass as it does for
// training (forward_inference primitives, no workspaces) and refuses backward.
func TestInferenceForwardOnly(t *testing.T) {
	train, err := Open(backend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer train.Close()
	inf, err := Open(backend.Options{Inference: true})
	if err != nil {
		t.Fatal(err)
	}
	defer inf.Close()
	in := backend.Shape{N: 2, C: 3, H: 19, W: 19}
	cp := backend.ConvParams{In: in, OutC: 32, KH: 5, KW: 5, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, Groups: 1}
	a, _ := cp.Out()
	lp := backend.LRNParams{In: a, Size: 5, Alpha: 0.5, Beta: 0.75, K: 1}
	pp := backend.PoolParams{In: a, Kind: backend.MaxPool, KH: 3, KW: 3, StrideH: 2, StrideW: 2}
	q, _ := pp.Out()
	fp := backend.LinearParams{N: 2, In: q.PerImage(), Out: 7}
	outs := make([][]float32, 2)
	for i, b := range []*Backend{train, inf} {
		conv, err := b.NewConv(cp)
		if err != nil {
			t.Fatal(err)
		}
		lrn, err := b.NewLRN(lp)
		if err != nil {
			t.Fatal(err)
		}
		pool, err := b.NewPool(pp)
		if err != nil {
			t.Fatal(err)
		}
		fc, err := b.NewLinear(fp)
		if err != nil {
			t.Fatal(err)
		}
		buf := func(n int, seed uint64) backend.Buffer {
			v := make([]float32, n)
			for j := range v {
				v[j] = float32((uint64(j)*2654435761+seed)%1000)/500 - 1
			}
			bb, err := b.Alloc(n)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Upload(bb, v); err != nil {
				t.Fatal(err)
			}
			return bb
		}
		x, w, bias := buf(in.Len(), 1), buf(cp.WeightLen(), 2), buf(cp.OutC, 3)
		y, l, p := buf(a.Len(), 0), buf(a.Len(), 0), buf(q.Len(), 0)
		fw, fb, o := buf(fp.Out*fp.In, 4), buf(fp.Out, 5), buf(fp.N*fp.Out, 0)
		for _, f := range []func() error{
			func() error { return conv.Forward(x, w, bias, y) },
			func() error { return b.ReLUForward(y, y) },
			func() error { return lrn.Forward(y, l) },
			func() error { return pool.Forward(l, p) },
			func() error { return fc.Forward(p, fw, fb, o) },
		} {
			if err := f(); err != nil {
				t.Fatalf("inference %v: %v", b.inference, err)
			}
		}
		outs[i] = make([]float32, fp.N*fp.Out)
		if err := b.Download(outs[i], o); err != nil {
			t.Fatal(err)
		}
		if b.inference {
			for what, err := range map[string]error{
				"conv backward data":   conv.BackwardData(w, y, x),
				"conv backward filter": conv.BackwardFilter(x, y, w, bias),
				"pool backward":        pool.Backward(l, p, p, l),
				"lrn backward":         lrn.Backward(y, l, l, y),
				"linear backward data": fc.BackwardData(fw, o, p),
			} {
				if err == nil || !strings.Contains(err.Error(), "inference") {
					t.Errorf("%s on an inference backend: %v", what, err)
				}
			}
		}
	}
	for j := range outs[0] {
		if d := math.Abs(float64(outs[0][j] - outs[1][j])); d > 1e-5*math.Max(1, math.Abs(float64(outs[0][j]))) {
			t.Fatalf("output %d: training backend %g, inference backend %g", j, outs[0][j], outs[1][j])
		}
	}
}
