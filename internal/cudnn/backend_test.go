package cudnn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"alexnet/csrc"
	"alexnet/internal/backend"
	"alexnet/internal/backend/backendtest"
)

// openOrSkip opens the GPU backend, or skips the test with the reason.
func openOrSkip(t *testing.T, cfg Config) *Backend {
	t.Helper()
	b, err := Open(backend.Options{}, cfg)
	if err != nil {
		if IsUnavailable(err) {
			t.Skipf("cuda backend not available here: %v", err)
		}
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return b
}

// The shared conformance suite, against the reference backend, with fp32 math
// (CUDNN_FMA_MATH, cuBLAS default math): the default tolerance holds.
func TestConformance(t *testing.T) {
	backendtest.Run(t, func() (backend.Backend, error) { return backend.Open("cuda", backend.Options{}) })
}

// The suite again with TF32 allowed. TF32 keeps 10 bits of mantissa in the products,
// so conv and linear get a tolerance of 1e-2 of the largest value (their sums have a
// few thousand terms); everything else is unaffected.
func TestConformanceTF32(t *testing.T) {
	backendtest.RunWith(t, func() (backend.Backend, error) {
		b, err := Open(backend.Options{}, Config{TF32: true})
		if err != nil {
			return nil, err
		}
		return b, nil
	}, backendtest.Options{GEMMTol: 1e-2})
}

// Heuristic algorithm choice (no timing) must be as correct as the timed one.
func TestConformanceHeuristic(t *testing.T) {
	backendtest.Run(t, func() (backend.Backend, error) {
		b, err := Open(backend.Options{}, Config{Heuristic: true})
		if err != nil {
			return nil, err
		}
		return b, nil
	})
}

// Goroutines locked to different OS threads use one backend in turn: each thread
// must get bound to the device and context before its first call.
func TestThreads(t *testing.T) {
	b := openOrSkip(t, Config{})
	const n = 1000
	buf, err := b.Alloc(n)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			runtime.LockOSThread() // a thread of its own, never bound before
			defer runtime.UnlockOSThread()
			mu.Lock()
			defer mu.Unlock()
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(g*n + i)
			}
			if err := b.Upload(buf, v); err != nil {
				t.Errorf("goroutine %d upload: %v", g, err)
				return
			}
			if err := b.ReLUForward(buf, buf); err != nil {
				t.Errorf("goroutine %d relu: %v", g, err)
				return
			}
			got := make([]float32, n)
			if err := b.Download(got, buf); err != nil {
				t.Errorf("goroutine %d download: %v", g, err)
				return
			}
			for i := range got {
				if got[i] != v[i] {
					t.Errorf("goroutine %d: [%d] = %g, want %g", g, i, got[i], v[i])
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

func TestDeviceOutOfRange(t *testing.T) {
	_, err := Open(backend.Options{Device: 1 << 20}, Config{})
	if err == nil {
		t.Fatal("opened GPU 1048576")
	}
	t.Logf("%v", err)
	if csrc.Loaded(csrc.LibCuda) && IsUnavailable(err) && len(mustDevices(t).GPUs) > 0 {
		t.Errorf("a missing GPU number is a usage error, not an unavailable backend: %v", err)
	}
}

func mustDevices(t *testing.T) *Info {
	info, err := Devices()
	if err != nil {
		t.Skipf("devices: %v", err)
	}
	return info
}

// AlexNet's own layer shapes at batch 128 (the paper's), forward and backward once:
// algorithm search on real sizes, workspaces, and outputs that stay finite. The
// numerics are the conformance suite's business; this is about the sizes.
func TestAlexNetShapes(t *testing.T) {
	b := openOrSkip(t, Config{})
	const N = 128
	rng := rand.New(rand.NewPCG(1, 1))
	alloc := func(n int, scale float32) backend.Buffer {
		t.Helper()
		x, err := b.Alloc(n)
		if err != nil {
			t.Fatal(err)
		}
		if scale != 0 {
			v := make([]float32, n)
			for i := range v {
				v[i] = (rng.Float32()*2 - 1) * scale
			}
			if err := b.Upload(x, v); err != nil {
				t.Fatal(err)
			}
		}
		return x
	}
	finite := func(what string, x backend.Buffer) {
		t.Helper()
		v := make([]float32, x.Len())
		if err := b.Download(v, x); err != nil {
			t.Fatal(err)
		}
		var maxAbs float64
		for i, f := range v {
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				t.Fatalf("%s[%d] = %g", what, i, f)
			}
			maxAbs = math.Max(maxAbs, math.Abs(float64(f)))
		}
		t.Logf("%s: %d values, max |v| %.3g", what, len(v), maxAbs)
	}
	convs := []backend.ConvParams{
		{In: backend.Shape{N: N, C: 3, H: 227, W: 227}, OutC: 96, KH: 11, KW: 11, StrideH: 4, StrideW: 4, Groups: 1},
		{In: backend.Shape{N: N, C: 96, H: 27, W: 27}, OutC: 256, KH: 5, KW: 5, StrideH: 1, StrideW: 1, PadH: 2, PadW: 2, Groups: 2},
		{In: backend.Shape{N: N, C: 256, H: 13, W: 13}, OutC: 384, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, Groups: 1},
		{In: backend.Shape{N: N, C: 384, H: 13, W: 13}, OutC: 384, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, Groups: 2},
		{In: backend.Shape{N: N, C: 384, H: 13, W: 13}, OutC: 256, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, Groups: 2},
	}
	for i, p := range convs {
		op, err := b.NewConv(p)
		if err != nil {
			t.Fatalf("conv%d: %v", i+1, err)
		}
		c := op.(*conv)
		t.Logf("conv%d %v: forward algo %d (%s, %d MiB), backward data %d (%s, %d MiB), backward filter %d (%s, %d MiB)", i+1, p.In,
			c.fwd.algo, c.fwd.how, c.fwd.ws>>20, c.bwdData.algo, c.bwdData.how, c.bwdData.ws>>20, c.bwdFiltr.algo, c.bwdFiltr.how, c.bwdFiltr.ws>>20)
		out := op.OutShape()
		x, w, bias, y := alloc(p.In.Len(), 1), alloc(p.WeightLen(), 0.01), alloc(p.OutC, 0.1), alloc(out.Len(), 0)
		dy, dx, dw, db := alloc(out.Len(), 1), alloc(p.In.Len(), 0), alloc(p.WeightLen(), 0), alloc(p.OutC, 0)
		if err := op.Forward(x, w, bias, y); err != nil {
			t.Fatalf("conv%d forward: %v", i+1, err)
		}
		if err := op.BackwardData(w, dy, dx); err != nil {
			t.Fatalf("conv%d backward data: %v", i+1, err)
		}
		if err := op.BackwardFilter(x, dy, dw, db); err != nil {
			t.Fatalf("conv%d backward filter: %v", i+1, err)
		}
		finite(fmt.Sprintf("conv%d y", i+1), y)
		finite(fmt.Sprintf("conv%d dw", i+1), dw)
		for _, x := range []backend.Buffer{x, w, bias, y, dy, dx, dw, db} {
			b.Free(x)
		}
	}
	for i, p := range []backend.LinearParams{{N: N, In: 9216, Out: 4096}, {N: N, In: 4096, Out: 4096}, {N: N, In: 4096, Out: 1000}} {
		op, err := b.NewLinear(p)
		if err != nil {
			t.Fatal(err)
		}
		x, w, bias, y := alloc(p.N*p.In, 1), alloc(p.Out*p.In, 0.01), alloc(p.Out, 0.1), alloc(p.N*p.Out, 0)
		dx, dw, db := alloc(p.N*p.In, 0), alloc(p.Out*p.In, 0), alloc(p.Out, 0)
		if err := op.Forward(x, w, bias, y); err != nil {
			t.Fatal(err)
		}
		if err := op.BackwardData(w, y, dx); err != nil {
			t.Fatal(err)
		}
		if err := op.BackwardFilter(x, y, dw, db); err != nil {
			t.Fatal(err)
		}
		finite(fmt.Sprintf("fc%d dw", i+6), dw)
		for _, x := range []backend.Buffer{x, w, bias, y, dx, dw, db} {
			b.Free(x)
		}
	}
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	m := b.Memory()
	t.Logf("memory: in use %d MiB, peak %d MiB (workspace %d MiB)", m.InUse>>20, m.Peak>>20, b.wsBytes>>20)
}
