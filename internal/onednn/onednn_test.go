package onednn

import (
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

// bf16 and fp16, emulated (backend.Emulate) on oneDNN and on the reference alike:
// both round the same inputs, so they differ only where a different summation
// order puts an output on the other side of a rounding boundary
// (backendtest.GEMMTolerance).
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
