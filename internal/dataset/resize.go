package dataset

import (
	"fmt"
	"math"
)

// Resizing follows PIL's ImagingResample with the bilinear (triangle) filter,
// which is what torchvision's Resize does on PIL images: when shrinking, the
// filter's support grows with the scale factor, so every input pixel
// contributes (antialiasing) instead of sampling 2x2 neighbours and aliasing.
// It is separable (horizontal pass, then vertical) and uses PIL's 8-bit fixed
// point arithmetic (22 fraction bits, rounding, clamping to 0..255 after each
// pass), so it matches PIL byte for byte (TestResizeMatchesPIL). torchvision's
// tensor Resize(antialias=True) works in float and may differ by a level.

const precisionBits = 32 - 8 - 2

// ResizedSize is the size torchvision's Resize(s) gives a w x h image: the
// shorter side becomes s, the longer one s*long/short truncated.
func ResizedSize(w, h, s int) (int, int) {
	if w <= h {
		return s, int(float64(s*h) / float64(w))
	}
	return int(float64(s*w) / float64(h)), s
}

// coeffs holds, for each output position, the first input index, the number
// of taps and the taps themselves in fixed point.
type coeffs struct {
	start, n []int
	k        []int32 // len out*ksize
	ksize    int
}

// makeCoeffs gives the taps of outputs from..from+count-1 of an in -> out resampling.
func makeCoeffs(in, out, from, count int) coeffs {
	scale := float64(in) / float64(out)
	filterscale := math.Max(scale, 1)
	support := 1.0 * filterscale // the triangle's support is 1
	ksize := int(math.Ceil(support))*2 + 1
	c := coeffs{start: make([]int, count), n: make([]int, count), k: make([]int32, count*ksize), ksize: ksize}
	w := make([]float64, ksize)
	for j := 0; j < count; j++ {
		xx := from + j
		center := (float64(xx) + 0.5) * scale
		xmin := int(center - support + 0.5)
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > in {
			xmax = in
		}
		xmax -= xmin
		ww := 0.0
		for x := 0; x < xmax; x++ {
			v := math.Abs((float64(x+xmin) - center + 0.5) / filterscale)
			if v < 1 {
				v = 1 - v
			} else {
				v = 0
			}
			w[x] = v
			ww += v
		}
		for x := 0; x < xmax; x++ {
			if ww != 0 {
				w[x] /= ww
			}
			// PIL rounds half away from zero; the triangle's taps are >= 0.
			c.k[j*ksize+x] = int32(0.5 + w[x]*(1<<precisionBits))
		}
		c.start[j], c.n[j] = xmin, xmax
	}
	return c
}

func clip8(v int32) uint8 {
	// v <= 0 gives 0, v >= 256<<precisionBits gives 255, with one branch.
	u := v >> precisionBits
	if uint32(u) > 255 {
		return uint8(^(u >> 31))
	}
	return uint8(u)
}

// Resize scales m to w x h (a new image; m itself when the size is unchanged).
func Resize(m Image, w, h int) (Image, error) {
	r, _, _, err := resizeWindow(m, w, h, 0, 0, w, h, &scratch{})
	return r, err
}

// scratch holds a worker's reusable buffers: the resized image and the
// intermediate rows between the two passes. A resized image lives in buf
// until the next call.
type scratch struct{ buf, tmp []uint8 }

// resizeWindow computes only the part of the w x h resized image that a crop
// needs: columns [x0, x0+cw) and rows [y0, y0+ch), clipped to the image. Each
// output pixel depends only on its own taps, so the window equals the same
// window of the full resize, at a fraction of the cost (a 227 crop of a
// 341x256 image is 59% of it). It returns the pixels and the window's origin
// in the resized image; a dimension that keeps its size is not cut.
func resizeWindow(m Image, w, h, x0, y0, cw, ch int, sc *scratch) (Image, int, int, error) {
	if err := m.check(); err != nil {
		return Image{}, 0, 0, err
	}
	if w <= 0 || h <= 0 {
		return Image{}, 0, 0, fmt.Errorf("resize to %dx%d", w, h)
	}
	if w == m.W && h == m.H {
		return m, 0, 0, nil
	}
	x0, x1 := max(x0, 0), min(x0+cw, w)
	y0, y1 := max(y0, 0), min(y0+ch, h)
	if x1 <= x0 || y1 <= y0 { // the crop lies in the padding
		return Image{W: 0, H: 0, C: m.C}, 0, 0, nil
	}
	C := m.C
	src, ox := m, 0
	// Horizontal pass, over the rows the vertical pass will read.
	if w != m.W {
		r0, r1 := 0, m.H
		var vc coeffs
		if h != m.H {
			vc = makeCoeffs(m.H, h, y0, y1-y0)
			r0, r1 = vc.start[0], vc.start[len(vc.start)-1]+vc.n[len(vc.n)-1]
		}
		rows, ww := r1-r0, x1-x0
		var dst []uint8
		if h == m.H {
			dst = grow(&sc.buf, ww*rows*C)
		} else {
			dst = grow(&sc.tmp, ww*rows*C)
		}
		hc, _ := fixedTaps(makeCoeffs(m.W, w, x0, ww), m.W)
		for y := 0; y < rows; y++ {
			in := m.Pix[(r0+y)*m.W*C : (r0+y+1)*m.W*C]
			out := dst[y*ww*C : (y+1)*ww*C]
			resampleRow(out, in, hc, C)
		}
		src, ox = Image{W: ww, H: rows, C: C, Pix: dst}, x0
		if h == m.H {
			return src, ox, 0, nil
		}
		// The vertical taps index input rows; src's row 0 is row r0.
		return resizeVertical(src, vc, r0, grow(&sc.buf, ww*(y1-y0)*C)), ox, y0, nil
	}
	vc := makeCoeffs(m.H, h, y0, y1-y0)
	return resizeVertical(src, vc, 0, grow(&sc.buf, src.W*(y1-y0)*C)), ox, y0, nil
}

// fixedTaps rewrites c so that every output has the same number of taps
// (the most any has), moving starts left near the right edge and filling with
// zero weights, which add nothing to the exact integer sums. The horizontal
// pass then runs without a loop over each output's taps. It returns the tap
// count, or 0 when c has too many taps for the unrolled loops.
func fixedTaps(c coeffs, in int) (coeffs, int) {
	kn := 0
	for _, n := range c.n {
		kn = max(kn, n)
	}
	if kn < 2 || kn > 4 || kn > in {
		return c, 0
	}
	f := coeffs{start: make([]int, len(c.n)), n: make([]int, len(c.n)), k: make([]int32, len(c.n)*kn), ksize: kn}
	for j, n := range c.n {
		s := min(c.start[j], in-kn) // taps [s, s+kn) cover [start, start+n)
		d := c.start[j] - s
		copy(f.k[j*kn+d:j*kn+d+n], c.k[j*c.ksize:j*c.ksize+n])
		f.start[j], f.n[j] = s, kn
	}
	return f, kn
}

// resampleRow is the horizontal pass over one row. The sums are exact
// integers, so their order does not matter.
func resampleRow(out, in []uint8, c coeffs, C int) {
	const half = 1 << (precisionBits - 1)
	if C == 3 && c.ksize == 4 && len(c.k) == 4*len(out)/3 {
		// The common shrink (by less than 1.5, after fixedTaps): unrolled.
		for xx := 0; xx < len(out)/3; xx++ {
			k := c.k[4*xx:][:4]
			p := in[3*c.start[xx]:][:12]
			k0, k1, k2, k3 := k[0], k[1], k[2], k[3]
			s0 := half + int32(p[0])*k0 + int32(p[3])*k1 + int32(p[6])*k2 + int32(p[9])*k3
			s1 := half + int32(p[1])*k0 + int32(p[4])*k1 + int32(p[7])*k2 + int32(p[10])*k3
			s2 := half + int32(p[2])*k0 + int32(p[5])*k1 + int32(p[8])*k2 + int32(p[11])*k3
			o := out[3*xx:][:3]
			o[0], o[1], o[2] = clip8(s0), clip8(s1), clip8(s2)
		}
		return
	}
	if C == 3 && c.ksize == 3 && len(c.k) == 3*len(out)/3 {
		// Enlargements (the triangle spans at most three inputs).
		for xx := 0; xx < len(out)/3; xx++ {
			k := c.k[3*xx:][:3]
			p := in[3*c.start[xx]:][:9]
			k0, k1, k2 := k[0], k[1], k[2]
			s0 := half + int32(p[0])*k0 + int32(p[3])*k1 + int32(p[6])*k2
			s1 := half + int32(p[1])*k0 + int32(p[4])*k1 + int32(p[7])*k2
			s2 := half + int32(p[2])*k0 + int32(p[5])*k1 + int32(p[8])*k2
			o := out[3*xx:][:3]
			o[0], o[1], o[2] = clip8(s0), clip8(s1), clip8(s2)
		}
		return
	}
	switch C {
	case 1:
		for xx := range out {
			n := c.n[xx]
			k := c.k[xx*c.ksize:][:n]
			p := in[c.start[xx]:][:n]
			ss := int32(half)
			for len(k) >= 2 && len(p) >= 2 {
				ss += int32(p[0])*k[0] + int32(p[1])*k[1]
				k, p = k[2:], p[2:]
			}
			if len(k) == 1 && len(p) >= 1 {
				ss += int32(p[0]) * k[0]
			}
			out[xx] = clip8(ss)
		}
	case 3:
		for xx := 0; xx < len(out)/3; xx++ {
			n := c.n[xx]
			k := c.k[xx*c.ksize:][:n]
			p := in[3*c.start[xx]:][:3*n]
			s0, s1, s2 := int32(half), int32(half), int32(half)
			for len(k) >= 2 && len(p) >= 6 {
				k0, k1 := k[0], k[1]
				s0 += int32(p[0])*k0 + int32(p[3])*k1
				s1 += int32(p[1])*k0 + int32(p[4])*k1
				s2 += int32(p[2])*k0 + int32(p[5])*k1
				k, p = k[2:], p[6:]
			}
			if len(k) == 1 && len(p) >= 3 {
				k0 := k[0]
				s0 += int32(p[0]) * k0
				s1 += int32(p[1]) * k0
				s2 += int32(p[2]) * k0
			}
			o := out[3*xx:][:3]
			o[0], o[1], o[2] = clip8(s0), clip8(s1), clip8(s2)
		}
	}
}

// resizeVertical resamples columns into len(c.n) rows; row r of m is input
// row r+y0. Each output row is a weighted sum of a few input rows: up to four
// taps (any shrink by less than 1.5, and every enlargement) take a loop of
// their own, more go through an accumulator row.
func resizeVertical(m Image, c coeffs, y0 int, dst []uint8) Image {
	const half = 1 << (precisionBits - 1)
	rowLen := m.W * m.C
	h := len(c.n)
	row := func(r int) []uint8 { return m.Pix[(r-y0)*rowLen:][:rowLen] }
	var acc []int32
	for yy := 0; yy < h; yy++ {
		k := c.k[yy*c.ksize:][:c.n[yy]]
		s := c.start[yy]
		out := dst[yy*rowLen:][:rowLen]
		switch len(k) {
		case 1:
			r0, k0 := row(s), k[0]
			for i := range out {
				out[i] = clip8(half + int32(r0[i])*k0)
			}
		case 2:
			r0, r1, k0, k1 := row(s), row(s+1), k[0], k[1]
			for i := range out {
				out[i] = clip8(half + int32(r0[i])*k0 + int32(r1[i])*k1)
			}
		case 3:
			r0, r1, r2, k0, k1, k2 := row(s), row(s+1), row(s+2), k[0], k[1], k[2]
			for i := range out {
				out[i] = clip8(half + int32(r0[i])*k0 + int32(r1[i])*k1 + int32(r2[i])*k2)
			}
		case 4:
			r0, r1, r2, r3 := row(s), row(s+1), row(s+2), row(s+3)
			k0, k1, k2, k3 := k[0], k[1], k[2], k[3]
			for i := range out {
				out[i] = clip8(half + int32(r0[i])*k0 + int32(r1[i])*k1 + int32(r2[i])*k2 + int32(r3[i])*k3)
			}
		default:
			if acc == nil {
				acc = make([]int32, rowLen)
			}
			for i := range acc {
				acc[i] = half
			}
			for y, kv := range k {
				r := row(s + y)
				for i := range acc {
					acc[i] += int32(r[i]) * kv
				}
			}
			for i, v := range acc {
				out[i] = clip8(v)
			}
		}
	}
	return Image{W: m.W, H: h, C: m.C, Pix: dst}
}

// grow returns (*b)[:n], reallocating *b when it is too short.
func grow(b *[]uint8, n int) []uint8 {
	if cap(*b) < n {
		*b = make([]uint8, n)
	}
	return (*b)[:n]
}
