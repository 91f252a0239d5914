package backend

import (
	"fmt"

	"alexnet/internal/lowp"
)

// Emulate wraps a float32 backend so that its convolutions and linear layers round
// where a GPU computing in p (BF16 or FP16) rounds; see Precision. It changes the
// numbers, not the speed: it exists so that reduced-precision training, loss
// scaling included, can be run and checked on a CPU.
func Emulate(b Backend, p Precision) (Backend, error) {
	f := p.Format()
	if f == 0 {
		return nil, fmt.Errorf("emulate: %v is not a 16-bit precision", p)
	}
	r, ok := b.(Rounder)
	if !ok {
		return nil, fmt.Errorf("precision %v: backend %s cannot round to it", p, b.Name())
	}
	return &emulated{Backend: b, r: r, f: f}, nil
}

type emulated struct {
	Backend
	r Rounder
	f lowp.Format
}

// scratch holds an op's rounded copies, allocated on first use at the size of the
// buffer they copy (ops are bound to one shape, so that size never changes).
type scratch struct {
	e    *emulated
	bufs map[string]Buffer
}

func (s *scratch) rounded(name string, src Buffer) (Buffer, error) {
	d, err := s.get(name, src.Len())
	if err != nil {
		return nil, err
	}
	return d, s.e.r.Round(d, src, s.e.f)
}

func (s *scratch) get(name string, n int) (Buffer, error) {
	if d, ok := s.bufs[name]; ok {
		if d.Len() == n {
			return d, nil
		}
		s.e.Backend.Free(d) // a caller passing another size: do not leak the old copy
		delete(s.bufs, name)
	}
	if s.bufs == nil {
		s.bufs = map[string]Buffer{}
	}
	d, err := s.e.Backend.Alloc(n)
	if err != nil {
		return nil, fmt.Errorf("%v scratch %s: %w", s.e.f, name, err)
	}
	s.bufs[name] = d
	return d, nil
}

// roundedPair rounds two inputs into scratch.
func (s *scratch) roundedPair(n1 string, b1 Buffer, n2 string, b2 Buffer) (Buffer, Buffer, error) {
	r1, err := s.rounded(n1, b1)
	if err != nil {
		return nil, nil, err
	}
	r2, err := s.rounded(n2, b2)
	return r1, r2, err
}

func (e *emulated) NewConv(p ConvParams) (Conv, error) {
	c, err := e.Backend.NewConv(p)
	if err != nil {
		return nil, err
	}
	return &emuConv{Conv: c, s: scratch{e: e}}, nil
}

func (e *emulated) NewLinear(p LinearParams) (Linear, error) {
	l, err := e.Backend.NewLinear(p)
	if err != nil {
		return nil, err
	}
	return &emuLinear{l: l, s: scratch{e: e}}, nil
}

type emuConv struct {
	Conv
	s scratch
}

// Forward: y = round(conv(round(x), round(w)) + b).
func (c *emuConv) Forward(x, w, b, y Buffer) error {
	xr, wr, err := c.s.roundedPair("x", x, "w", w)
	if err != nil {
		return err
	}
	if err := c.Conv.Forward(xr, wr, b, y); err != nil {
		return err
	}
	return c.s.e.r.Round(y, y, c.s.e.f)
}

// BackwardData: dx = round(conv^T(round(dy), round(w))).
func (c *emuConv) BackwardData(w, dy, dx Buffer) error {
	wr, dyr, err := c.s.roundedPair("w", w, "dy", dy)
	if err != nil {
		return err
	}
	if err := c.Conv.BackwardData(wr, dyr, dx); err != nil {
		return err
	}
	return c.s.e.r.Round(dx, dx, c.s.e.f)
}

// BackwardFilter: dw += round(corr(round(x), round(dy))), db += sum(round(dy)).
// The rounding applies to this batch's contribution, so it is computed apart and
// then added.
func (c *emuConv) BackwardFilter(x, dy, dw, db Buffer) error {
	xr, dyr, err := c.s.roundedPair("x", x, "dy", dy)
	if err != nil {
		return err
	}
	be := c.s.e.Backend
	part, err := c.s.get("dw", dw.Len())
	if err != nil {
		return err
	}
	v, err := c.s.get("v", dw.Len())
	if err != nil {
		return err
	}
	if err := be.Zero(part); err != nil {
		return err
	}
	if err := c.Conv.BackwardFilter(xr, dyr, part, db); err != nil {
		return err
	}
	if err := c.s.e.r.Round(part, part, c.s.e.f); err != nil {
		return err
	}
	return Add(be, dw, part, v)
}

type emuLinear struct {
	l Linear
	s scratch
}

// Forward: y = round(x) round(w)^T + b, in float32.
func (l *emuLinear) Forward(x, w, b, y Buffer) error {
	xr, wr, err := l.s.roundedPair("x", x, "w", w)
	if err != nil {
		return err
	}
	return l.l.Forward(xr, wr, b, y)
}

// BackwardData: dx = round(dy) round(w), in float32.
func (l *emuLinear) BackwardData(w, dy, dx Buffer) error {
	wr, dyr, err := l.s.roundedPair("w", w, "dy", dy)
	if err != nil {
		return err
	}
	return l.l.BackwardData(wr, dyr, dx)
}

// BackwardFilter: dw += round(dy)^T round(x), db += sum(round(dy)), in float32.
func (l *emuLinear) BackwardFilter(x, dy, dw, db Buffer) error {
	xr, dyr, err := l.s.roundedPair("x", x, "dy", dy)
	if err != nil {
		return err
	}
	return l.l.BackwardFilter(xr, dyr, dw, db)
}

// Add computes dst += src on b, through SGD with lr -1, momentum 0 and decay 0,
// which is exactly an addition:
//
//	v <- 0*v - 0*w - (-1)*(1*g) = g;  w <- w + v = w + g
//
// scratch (v) is zeroed first so that a non-finite value left there cannot leak
// into the sum through 0*v.
func Add(b Backend, dst, src, scratch Buffer) error {
	if err := b.Zero(scratch); err != nil {
		return err
	}
	return b.SGD([]SGDParam{{W: dst, G: src, V: scratch, LR: -1}}, 0, 1)
}
