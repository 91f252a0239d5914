package onednn

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"alexnet/internal/backend"
)

// convFilterGrad runs one conv's weight gradient on a fresh backend of the given
// thread count, created and run from the calling goroutine.
func convFilterGrad(t *testing.T, threads int) []float32 {
	t.Helper()
	b, err := Open(backend.Options{Threads: threads})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p := backend.ConvParams{In: backend.Shape{N: 16, C: 1, H: 28, W: 28}, OutC: 8, KH: 5, KW: 5, StrideH: 2, StrideW: 2, PadH: 2, PadW: 2, Groups: 1}
	op, err := b.NewConv(p)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := p.Out()
	rng := rand.New(rand.NewPCG(1, 2))
	buf := func(n int) backend.Buffer {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		x, err := b.Alloc(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Upload(x, v); err != nil {
			t.Fatal(err)
		}
		return x
	}
	x, dy := buf(p.In.Len()), buf(out.Len())
	dw, _ := b.Alloc(p.WeightLen())
	db, _ := b.Alloc(p.OutC)
	if err := op.BackwardFilter(x, dy, dw, db); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, p.WeightLen())
	if err := b.Download(got, dw); err != nil {
		t.Fatal(err)
	}
	return got
}

// A backend's results must not depend on what another backend left in the OS
// thread's OpenMP settings: oneDNN fixes a primitive's work split, and so its
// rounding, when the primitive is created.
func TestThreadCountDoesNotLeakBetweenBackends(t *testing.T) {
	clean := make(chan []float32)
	go func() {
		runtime.LockOSThread() // a fresh OS thread that no backend has touched
		clean <- convFilterGrad(t, 2)
	}()
	want := <-clean
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	convFilterGrad(t, 1) // leaves this OS thread at one OpenMP thread
	got := convFilterGrad(t, 2)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("dw[%d] = %v after a one-thread backend ran on this OS thread, %v on a clean one", i, got[i], want[i])
		}
	}
}
