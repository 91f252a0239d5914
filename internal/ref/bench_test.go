package ref

import (
	"testing"

	"alexnet/internal/backend"
)

// BenchmarkAlexNetConv1 times the paper's first layer (96@11x11/4 over 227x227x3) on
// two images, forward and both backward passes, to show what the reference costs.
func BenchmarkAlexNetConv1(b *testing.B) {
	r := New(backend.Options{})
	p := backend.ConvParams{In: backend.Shape{N: 2, C: 3, H: 227, W: 227}, OutC: 96, KH: 11, KW: 11, StrideH: 4, StrideW: 4, Groups: 1}
	c, err := r.NewConv(p)
	if err != nil {
		b.Fatal(err)
	}
	a := func(n int) backend.Buffer { x, _ := r.Alloc(n); return x }
	x, w, bias, y := a(p.In.Len()), a(p.WeightLen()), a(p.OutC), a(c.OutShape().Len())
	dx, dw, db := a(p.In.Len()), a(p.WeightLen()), a(p.OutC)
	for b.Loop() {
		if err := c.Forward(x, w, bias, y); err != nil {
			b.Fatal(err)
		}
		if err := c.BackwardData(w, y, dx); err != nil {
			b.Fatal(err)
		}
		if err := c.BackwardFilter(x, y, dw, db); err != nil {
			b.Fatal(err)
		}
	}
}
