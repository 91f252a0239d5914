package onednn

/*
#include "helpers.h"
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"
)

// Layouts: how the values of a buffer are arranged in its memory.
//
// The interface's tensors are plain (NCHW, row-major). oneDNN's fast kernels for
// convolution, LRN and pooling on AVX2 read and write channel-blocked activations
// (nChw8c, "aBcd8b": for each image and each group of 8 channels, H x W x 8 values).
// Converting to and from plain at every op boundary costs two reorders per op,
// forward and backward, a large part of a training step. So a buffer carries its
// current layout, and ops hand blocked activations to each other as they are.
//
// The rules:
//
//  1. A buffer's layout (buffer.lay, nil for plain) describes its current content,
//     never the op that allocated it: whatever writes a buffer sets it. The model
//     shares buffers freely (ReLU in place, flatten as the same buffer, gradient
//     buffers reused between layers), so nothing else could be trusted.
//  2. Only 4-D activations whose blocked form is exactly as large as the plain one
//     (channels a multiple of the block) are ever blocked: Len and the allocated size
//     stay right and there are no padding values to keep at zero.
//  3. Producers (conv forward and backward data, LRN and pooling forward and
//     backward) write the layout their primitive picked when rule 2 allows (see
//     newOutput), else plain.
//  4. Consumers read a buffer as it is when its layout is the one their primitive
//     wants, else through a converted copy they own (staged), kept while the buffer
//     is unwritten (its stamp). Reading never changes the buffer, so two ops may read
//     one buffer at once, and what a later op sees does not depend on who read it.
//  5. Elementwise ops that do not care where an element sits (ReLU, Copy, SGD) run on
//     whatever layout their buffers share, and their outputs take it. If the buffers
//     disagree, inputs are read through plain copies and outputs are written plain.
//  6. Ops whose result depends on an element's NCHW position read plain copies and
//     write plain: dropout (its mask is drawn per NCHW index), softmax cross-entropy
//     (rows), linear (rows of [N, In], so a flattened blocked activation is read
//     through a plain copy), and the Go adaptive pooling loop.
//  7. Buffers that are read and written in place by a plain-only computation
//     (accumulated parameter gradients, SGD's w and v when layouts disagree) are
//     converted to plain in place first; their values do not change.
//  8. Upload and Zero make a buffer plain; Download converts into the caller's slice
//     and leaves the buffer as it is.

// keepBlocked lets producers leave blocked results in the caller's buffers (rule 3);
// false restores the convert-at-every-boundary behaviour, for benchmarks comparing
// the two.
var keepBlocked = true

// layout is a blocked arrangement of a 4-D tensor, made once by the op that writes it.
type layout struct {
	md    md // as oneDNN describes it
	plain md // the plain (abcd) arrangement of the same sizes

	mu      sync.Mutex // guards toPlain's memory objects between goroutines
	toPlain *kernel    // md -> plain, built on first use
}

// sameLayout reports whether buffers tagged a and b hold their values in the same
// places.
func sameLayout(a, b *layout) bool {
	if a == b {
		return true
	}
	return a != nil && b != nil && mdEqual(&a.md, &b.md)
}

// newLayout returns the layout a producer may leave blocked in a buffer of n floats
// (rule 2), or nil when it must convert to plain.
func (b *Backend) newLayout(got md, n int) (*layout, error) {
	if !keepBlocked || got.ndims != 4 || mdBytes(&got) != 4*int64(n) {
		return nil, nil
	}
	plain, err := plainMD(C.dnnl_nchw, int(got.dims[0]), int(got.dims[1]), int(got.dims[2]), int(got.dims[3]))
	if err != nil {
		return nil, err
	}
	if mdEqual(&plain, &got) {
		return nil, nil
	}
	return &layout{md: got, plain: plain}, nil
}

// unblock writes src's values in plain order to dst (4*src.n bytes).
func (b *Backend) unblock(src *buffer, dst unsafe.Pointer) error {
	l := src.lay
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.toPlain == nil {
		k, err := b.newReorder("blocked to plain", l.md, l.plain, false)
		if err != nil {
			return err
		}
		l.toPlain = k
	}
	return l.toPlain.run(b, src.p, dst)
}

// plainView returns src's values in plain order: its own memory when it is plain,
// else a converted copy that release frees. For the backend's own elementwise ops,
// which only meet blocked buffers when a caller mixes layouts (rules 5 and 6); ops
// keep their copies in a staged instead.
func (b *Backend) plainView(src *buffer) (p unsafe.Pointer, release func(), err error) {
	if src.lay == nil {
		return src.p, func() {}, nil
	}
	tmp, err := b.allocInternal(4 * int64(src.n))
	if err != nil {
		return nil, nil, err
	}
	release = func() { b.freeInternal(tmp) }
	if err := b.unblock(src, tmp); err != nil {
		release()
		return nil, nil, err
	}
	return tmp, release, nil
}

// plainF32 is plainView as a Go slice.
func (b *Backend) plainF32(src *buffer) ([]float32, func(), error) {
	p, release, err := b.plainView(src)
	if err != nil {
		return nil, nil, err
	}
	return unsafe.Slice((*float32)(p), src.n), release, nil
}

// makePlain converts a buffer to plain in place (rule 7). Its values, and so its
// stamp, stay the same.
func (b *Backend) makePlain(x *buffer) error {
	if x.lay == nil {
		return nil
	}
	p, release, err := b.plainView(x)
	if err != nil {
		return err
	}
	defer release()
	copy(x.f32(), unsafe.Slice((*float32)(p), x.n))
	x.lay = nil
	return nil
}

// staged is how an op's primitive reads one input in the layout it wants (rule 4):
// the caller's buffer itself when its layout matches, else a private copy converted
// from whatever layout the buffer has. The copy is kept with the stamp of the buffer
// it was converted from, so a second primitive wanting the same layout of the same,
// unchanged buffer (backward reusing forward's x) converts nothing.
type staged struct {
	what      string
	want      md // what the primitive reads
	plain     md // the plain layout of the op's sizes for this input
	wantPlain bool

	buf    unsafe.Pointer // the converted copy, allocated on first need
	mid    unsafe.Pointer // a plain copy, for conversions between different sizes
	routes map[*layout]*route
	stamp  uint64 // stamp of the buffer last converted into buf, 0 for none
}

// route is how a staged converts from one source layout (nil: plain).
type route struct {
	direct        bool    // the primitive reads the buffer as it is
	first, second *kernel // into buf; or into mid, then mid -> buf
}

// stage returns how a primitive reads an input whose plain layout is plain in layout
// want; a stage of the same layout among shared is reused, so primitives wanting the
// same layout of the same input share one converted copy.
func (b *Backend) stage(what string, plain, want md, shared ...*staged) (*staged, error) {
	for _, s := range shared {
		if s != nil && mdEqual(&s.want, &want) {
			return s, nil
		}
	}
	return &staged{what: what, want: want, plain: plain, wantPlain: mdEqual(&plain, &want), routes: map[*layout]*route{}}, nil
}

// plainStage reads an input of n floats in plain order as elements of type dt (f32,
// or bf16 for a native bf16 matmul): for linear's operands and the Go loops.
func (b *Backend) plainStage(what string, dt C.dnnl_data_type_t, n int) (*staged, error) {
	v, err := plainMD(C.dnnl_a, n)
	if err != nil {
		return nil, err
	}
	want, err := typedMD(dt, C.dnnl_a, n)
	if err != nil {
		return nil, err
	}
	return b.stage(what, v, want)
}

func (s *staged) route(b *Backend, from *layout) (*route, error) {
	if r := s.routes[from]; r != nil {
		return r, nil
	}
	r := &route{}
	var err error
	switch {
	case from == nil && s.wantPlain, from != nil && mdEqual(&from.md, &s.want):
		r.direct = true
	case from == nil:
		r.first, err = b.newReorder(s.what+": plain to wanted", s.plain, s.want, false)
	case mdEqual(&from.plain, &s.plain):
		r.first, err = b.newReorder(s.what+": blocked to wanted", from.md, s.want, false)
	default:
		// Sizes differ, e.g. a flattened [N, C, H, W] read as [N, C*H*W]: the plain
		// orders agree, so go through plain.
		if r.first, err = b.newReorder(s.what+": blocked to plain", from.md, from.plain, false); err == nil && !s.wantPlain {
			r.second, err = b.newReorder(s.what+": plain to wanted", s.plain, s.want, false)
		}
	}
	if err != nil {
		return nil, err
	}
	s.routes[from] = r
	return r, nil
}

// from returns the pointer the primitive should read src through.
func (s *staged) from(b *Backend, src *buffer) (unsafe.Pointer, error) {
	r, err := s.route(b, src.lay)
	if err != nil {
		return nil, err
	}
	if r.direct {
		return src.p, nil
	}
	st := src.stamp.Load()
	if st == s.stamp {
		return s.buf, nil
	}
	if s.buf == nil {
		if s.buf, err = b.allocInternal(mdBytes(&s.want)); err != nil {
			return nil, fmt.Errorf("%s: %w", s.what, err)
		}
	}
	s.stamp = 0 // until the copy is complete
	if r.second == nil {
		err = r.first.run(b, src.p, s.buf)
	} else {
		if s.mid == nil {
			if s.mid, err = b.allocInternal(4 * int64(src.n)); err != nil {
				return nil, fmt.Errorf("%s: %w", s.what, err)
			}
		}
		if err = r.first.run(b, src.p, s.mid); err == nil {
			err = r.second.run(b, s.mid, s.buf)
		}
	}
	if err != nil {
		return nil, err
	}
	s.stamp = st
	return s.buf, nil
}

// f32 is from as a Go slice of n floats (plain stages).
func (s *staged) f32(b *Backend, src *buffer) ([]float32, error) {
	p, err := s.from(b, src)
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*float32)(p), src.n), nil
}

// output is where a primitive writes a result: the caller's buffer, left in the
// primitive's layout (rule 3) or plain when that is what the primitive writes; or a
// private buffer converted to plain afterwards (accumulating for parameter gradients).
type output struct {
	md   md
	lay  *layout        // non-nil: the caller's buffer is left in this layout
	buf  unsafe.Pointer // the private result, when there is a conversion
	conv *kernel        // md -> plain
	acc  bool           // conv adds to the caller's buffer
}

// newOutput is the output of an activation (y, dx) of n floats, plain layout plain,
// that the primitive writes in layout got. A bf16 result (native bf16, see
// precision.go) is converted to float32 in the same blocked layout where rule 2
// allows, so the float32 layers after it read it as it is.
func (b *Backend) newOutput(what string, plain, got md, n int) (*output, error) {
	if mdEqual(&plain, &got) {
		return &output{md: got}, nil
	}
	f32 := asF32(got)
	lay, err := b.newLayout(f32, n)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if lay != nil && mdEqual(&f32, &got) {
		return &output{md: got, lay: lay}, nil
	}
	to := plain
	if lay != nil {
		to = lay.md
	}
	o, err := b.convertedOutput(what, to, got, false)
	if err != nil {
		return nil, err
	}
	o.lay = lay
	return o, nil
}

// newGradOutput is the output of a parameter gradient, added to the caller's plain
// buffer (the primitive itself can only overwrite).
func (b *Backend) newGradOutput(what string, plain, got md) (*output, error) {
	return b.convertedOutput(what, plain, got, true)
}

// convertedOutput writes the primitive's result (layout got) to a private buffer and
// converts it into the caller's in layout to, adding to what is there if accumulate.
func (b *Backend) convertedOutput(what string, to, got md, accumulate bool) (*output, error) {
	buf, err := b.allocInternal(mdBytes(&got))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	k, err := b.newReorder(what, got, to, accumulate)
	if err != nil {
		return nil, err
	}
	return &output{md: got, buf: buf, conv: k, acc: accumulate}, nil
}

// to returns where the primitive should write for dst. An accumulating output first
// makes dst plain (rule 7).
func (o *output) to(b *Backend, dst *buffer) (unsafe.Pointer, error) {
	if o.conv == nil {
		return dst.p, nil
	}
	if o.acc {
		if err := b.makePlain(dst); err != nil {
			return nil, err
		}
	}
	return o.buf, nil
}

// finish converts the private result into dst, if there is one, and records the
// layout dst now holds.
func (o *output) finish(b *Backend, dst *buffer) error {
	if o.conv != nil {
		if err := o.conv.run(b, o.buf, dst.p); err != nil {
			return err
		}
	}
	dst.lay = o.lay
	return nil
}

// channelBlock is the channel block of an activation layout: 8 for nChw8c, 16 for
// nChw16c, 1 for plain (alx_channel_block).
func channelBlock(m *md) int { return int(C.alx_channel_block(m)) }

// convBlock asks oneDNN which layout its convolution would read an activation of c
// channels in on this CPU (format_tag any for every tensor, 3x3 pad 1, groups g) and
// returns that layout's channel block: what the blocked chain depends on, read from
// oneDNN rather than assumed from one CPU (AVX2 blocks by 8, AVX-512 by 16).
func (b *Backend) convBlock(c, g int) (int, error) {
	const n, hw = 2, 14
	x, err := plainMD(C.dnnl_format_tag_any, n, c, hw, hw)
	if err != nil {
		return 0, err
	}
	w, err := plainMD(C.dnnl_format_tag_any, g, c/g, c/g, 3, 3)
	if err != nil {
		return 0, err
	}
	bias, err := plainMD(C.dnnl_a, c)
	if err != nil {
		return 0, err
	}
	strides, pad := dims(1, 1), dims(1, 1)
	var fd C.dnnl_convolution_desc_t
	if err := status("block probe desc", C.dnnl_convolution_forward_desc_init(&fd, C.dnnl_forward_training,
		C.dnnl_convolution_direct, &x, &w, &bias, &x, &strides[0], &pad[0], &pad[0])); err != nil {
		return 0, err
	}
	pd, err := b.primDesc("block probe", unsafe.Pointer(&fd), false, nil)
	if err != nil {
		return 0, err
	}
	defer destroyPD(pd)
	src := queryMD(C.const_dnnl_primitive_desc_t(pd), C.dnnl_query_src_md)
	return channelBlock(&src), nil
}

// tagBlock is the channel block of blockedTag, the layout LRN and pooling run on.
func tagBlock() int {
	m, err := plainMD(blockedTag(), 1, 64, 1, 1)
	if err != nil {
		return 0
	}
	return channelBlock(&m)
}
