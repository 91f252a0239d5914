package model

import (
	"fmt"
	"sync/atomic"

	"alexnet/internal/backend"
)

// copySet fills one buffer of a part from pieces of the parts' buffers: the
// copies at the joins between devices (and, within one device, the gathers that
// assemble an op's input). Data moves through backend.PeerCopier when the
// receiving backend offers it, else through host memory.
type copySet struct {
	what  string
	t     int // the receiving part
	to    backend.Backend
	dst   backend.Buffer
	rows  int
	parts []copyPart
	moved *atomic.Int64 // floats that crossed between the parts
	cross int64         // floats per run that cross

	// Host staging, when the receiver is no backend.PeerCopier: dst is assembled in host
	// memory and uploaded whole (floats no piece covers are zeros), each source
	// downloaded whole once.
	host []float32
}

type copyPart struct {
	piece
	src  backend.Buffer
	b    backend.Backend // src's
	host *[]float32      // download of src, shared between parts of one source
}

func newCopySet(what string, t int, to backend.Backend, dst backend.Buffer, rows int, ps []piece,
	src func(from int) (backend.Buffer, backend.Backend), moved *atomic.Int64) (*copySet, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	c := &copySet{what: what, t: t, to: to, dst: dst, rows: rows, moved: moved}
	if dst == nil || dst.Len()%rows != 0 {
		return nil, fmt.Errorf("%s: destination buffer does not hold %d rows", what, rows)
	}
	staged := map[backend.Buffer]*[]float32{}
	for _, p := range ps {
		s, b := src(p.from)
		if s == nil || s.Len()%rows != 0 {
			return nil, fmt.Errorf("%s: part %d's source buffer does not hold %d rows", what, p.from, rows)
		}
		if p.srcOff+p.width > s.Len()/rows || p.dstOff+p.width > dst.Len()/rows {
			return nil, fmt.Errorf("%s: piece [%d, +%d) -> [%d, +%d) outside rows of %d and %d floats",
				what, p.srcOff, p.width, p.dstOff, p.width, s.Len()/rows, dst.Len()/rows)
		}
		h, ok := staged[s]
		if !ok {
			h = new([]float32)
			staged[s] = h
		}
		c.parts = append(c.parts, copyPart{piece: p, src: s, b: b, host: h})
		if p.from != t {
			c.cross += int64(p.width)
		}
	}
	return c, nil
}

// run does the copies. The caller has synced the sources' backends.
func (c *copySet) run() error {
	if c == nil {
		return nil
	}
	dstStride := c.dst.Len() / c.rows
	if pc, ok := c.to.(backend.PeerCopier); ok {
		for _, p := range c.parts {
			if err := pc.CopyPeer(c.dst, p.dstOff, dstStride, p.src, p.srcOff, p.src.Len()/c.rows, p.width, c.rows, p.b); err != nil {
				return fmt.Errorf("%s: copy from part %d: %w", c.what, p.from, err)
			}
		}
	} else {
		if c.host == nil {
			c.host = make([]float32, c.dst.Len())
		}
		for _, p := range c.parts {
			if *p.host == nil {
				*p.host = make([]float32, p.src.Len())
			}
		}
		downloaded := map[*[]float32]bool{}
		for _, p := range c.parts {
			if downloaded[p.host] {
				continue
			}
			if err := p.b.Download(*p.host, p.src); err != nil {
				return fmt.Errorf("%s: download from part %d: %w", c.what, p.from, err)
			}
			downloaded[p.host] = true
		}
		for _, p := range c.parts {
			srcStride := p.src.Len() / c.rows
			for r := range c.rows {
				copy(c.host[r*dstStride+p.dstOff:][:p.width], (*p.host)[r*srcStride+p.srcOff:][:p.width])
			}
		}
		if err := c.to.Upload(c.dst, c.host); err != nil {
			return fmt.Errorf("%s: upload: %w", c.what, err)
		}
	}
	c.moved.Add(c.cross * int64(c.rows))
	return nil
}
