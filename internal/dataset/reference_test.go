package dataset

// The resize and crop as they were before the unrolled loops and lookup
// tables, kept as references the fast ones must equal exactly.

import (
	"fmt"
	"math"
	"testing"
)

func clip8Ref(v int32) uint8 {
	if v >= 1<<precisionBits<<8 {
		return 255
	}
	if v <= 0 {
		return 0
	}
	return uint8(v >> precisionBits)
}

// resizeWindow computes only the part of the w x h resized image that a crop
// needs: columns [x0, x0+cw) and rows [y0, y0+ch), clipped to the image. Each
// output pixel depends only on its own taps, so the window equals the same
// window of the full resize, at a fraction of the cost (a 227 crop of a
// 341x256 image is 59% of it). It returns the pixels and the window's origin
// in the resized image; a dimension that keeps its size is not cut.
func resizeWindowRef(m Image, w, h, x0, y0, cw, ch int, sc *scratch) (Image, int, int, error) {
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
		hc := makeCoeffs(m.W, w, x0, ww)
		for y := 0; y < rows; y++ {
			in := m.Pix[(r0+y)*m.W*C : (r0+y+1)*m.W*C]
			out := dst[y*ww*C : (y+1)*ww*C]
			resampleRowRef(out, in, hc, C)
		}
		src, ox = Image{W: ww, H: rows, C: C, Pix: dst}, x0
		if h == m.H {
			return src, ox, 0, nil
		}
		// The vertical taps index input rows; src's row 0 is row r0.
		return resizeVerticalRef(src, vc, r0, grow(&sc.buf, ww*(y1-y0)*C)), ox, y0, nil
	}
	vc := makeCoeffs(m.H, h, y0, y1-y0)
	return resizeVerticalRef(src, vc, 0, grow(&sc.buf, src.W*(y1-y0)*C)), ox, y0, nil
}

func resampleRowRef(out, in []uint8, c coeffs, C int) {
	const half = 1 << (precisionBits - 1)
	switch C {
	case 1:
		for xx := range out {
			k := c.k[xx*c.ksize : xx*c.ksize+c.n[xx]]
			p := in[c.start[xx] : c.start[xx]+len(k)]
			ss := int32(half)
			for x, kv := range k {
				ss += int32(p[x]) * kv
			}
			out[xx] = clip8Ref(ss)
		}
	case 3:
		for xx := 0; xx < len(out)/3; xx++ {
			k := c.k[xx*c.ksize : xx*c.ksize+c.n[xx]]
			p := in[3*c.start[xx] : 3*(c.start[xx]+len(k))]
			s0, s1, s2 := int32(half), int32(half), int32(half)
			for x, kv := range k {
				s0 += int32(p[3*x]) * kv
				s1 += int32(p[3*x+1]) * kv
				s2 += int32(p[3*x+2]) * kv
			}
			out[3*xx], out[3*xx+1], out[3*xx+2] = clip8Ref(s0), clip8Ref(s1), clip8Ref(s2)
		}
	}
}

// resizeVertical resamples columns into len(c.n) rows; row r of m is input row r+y0.
func resizeVerticalRef(m Image, c coeffs, y0 int, dst []uint8) Image {
	const half = 1 << (precisionBits - 1)
	rowLen := m.W * m.C
	h := len(c.n)
	acc := make([]int32, rowLen)
	for yy := 0; yy < h; yy++ {
		for i := range acc {
			acc[i] = half
		}
		k := c.k[yy*c.ksize : yy*c.ksize+c.n[yy]]
		for y, kv := range k {
			r := c.start[yy] - y0 + y
			row := m.Pix[r*rowLen : (r+1)*rowLen]
			for i, p := range row {
				acc[i] += int32(p) * kv
			}
		}
		out := dst[yy*rowLen : (yy+1)*rowLen]
		for i, v := range acc {
			out[i] = clip8Ref(v)
		}
	}
	return Image{W: m.W, H: h, C: m.C, Pix: dst}
}

// The fast resize equals the reference on random images, sizes (shrinking
// up to 5x, which takes more than four vertical taps, and enlarging) and
// crop windows.
func TestResizeEqualsReference(t *testing.T) {
	r := NewRNG(3, 4)
	sc, scRef := &scratch{}, &scratch{}
	for i := 0; i < 300; i++ {
		c := 1 + 2*r.Intn(2)
		w, h := 1+r.Intn(120), 1+r.Intn(120)
		m := Image{W: w, H: h, C: c, Pix: make([]uint8, w*h*c)}
		for j := range m.Pix {
			m.Pix[j] = uint8(r.Uint64())
		}
		if i%3 == 0 { // extremes exercise the clamping
			for j := range m.Pix {
				m.Pix[j] = 255 * uint8(r.Intn(2))
			}
		}
		ow, oh := 1+r.Intn(5*w)/4+r.Intn(2), 1+r.Intn(5*h)/4
		if i%4 == 0 {
			ow, oh = max(1, w/(1+r.Intn(5))), max(1, h/(1+r.Intn(5)))
		}
		cw, ch := 1+r.Intn(ow), 1+r.Intn(oh)
		x0, y0 := r.Intn(ow+4)-2, r.Intn(oh+4)-2
		got, gx, gy, err := resizeWindow(m, ow, oh, x0, y0, cw, ch, sc)
		if err != nil {
			t.Fatal(err)
		}
		want, wx, wy, err := resizeWindowRef(m, ow, oh, x0, y0, cw, ch, scRef)
		if err != nil {
			t.Fatal(err)
		}
		if got.W != want.W || got.H != want.H || got.C != want.C || gx != wx || gy != wy || string(got.Pix) != string(want.Pix) {
			t.Fatalf("%dx%dx%d to %dx%d, window %d,%d %dx%d: got %dx%d at %d,%d, want %dx%d at %d,%d, or pixels differ",
				w, h, c, ow, oh, x0, y0, cw, ch, got.W, got.H, gx, gy, want.W, want.H, wx, wy)
		}
	}
}

// clip8 equals the reference over int32's range.
func TestClip8(t *testing.T) {
	for _, v := range []int32{-1 << 31, -1, 0, 1, 1<<precisionBits - 1, 1 << precisionBits, 255<<precisionBits + 1, 256<<precisionBits - 1, 256 << precisionBits, 1<<31 - 1} {
		if clip8(v) != clip8Ref(v) {
			t.Errorf("clip8(%d) = %d, want %d", v, clip8(v), clip8Ref(v))
		}
	}
	r := NewRNG(5, 6)
	for i := 0; i < 100000; i++ {
		v := int32(r.Uint64())
		if clip8(v) != clip8Ref(v) {
			t.Fatalf("clip8(%d) = %d, want %d", v, clip8(v), clip8Ref(v))
		}
	}
}

// The reference on BenchmarkResize500x375To256's work, for comparison.
func BenchmarkResizeRef500x375To256(b *testing.B) {
	m := patternImage(500, 375, 3)
	sc := &scratch{}
	w, h := ResizedSize(500, 375, 256)
	b.SetBytes(int64(len(m.Pix)))
	for b.Loop() {
		if _, _, _, err := resizeWindowRef(m, w, h, 0, 0, w, h, sc); err != nil {
			b.Fatal(err)
		}
	}
}

// writeCropRef writes the oh x ow window at (y0, x0) of m, mirrored if flip, as
// CHW floats; pixels outside m are zero (padding) before scale and bias.
func writeCropRef(dst []float32, m Image, y0, x0, oh, ow int, flip bool, scale, bias [3]float32) {
	C := m.C
	plane := oh * ow
	// Output columns [xa, xb) read inside the image; the rest is padding.
	// Unflipped, column x reads sx = x0+x; flipped, sx = x0+ow-1-x.
	xa, xb := max(0, -x0), min(ow, m.W-x0)
	if flip {
		xa, xb = max(0, x0+ow-m.W), min(ow, x0+ow)
	}
	xa = min(xa, ow) // a crop wholly in the padding
	xb = max(xa, xb)
	for y := 0; y < oh; y++ {
		sy := y0 + y
		for c := 0; c < C; c++ {
			out := dst[c*plane+y*ow : c*plane+(y+1)*ow]
			s, b := scale[c], bias[c]
			if sy < 0 || sy >= m.H {
				for x := range out {
					out[x] = b
				}
				continue
			}
			for x := 0; x < xa; x++ {
				out[x] = b
			}
			for x := xb; x < ow; x++ {
				out[x] = b
			}
			row := m.Pix[sy*m.W*C : (sy+1)*m.W*C]
			if xa == xb {
				continue
			}
			if !flip {
				src := row[(x0+xa)*C+c:]
				for x := xa; x < xb; x++ {
					out[x] = float32(src[(x-xa)*C])*s + b
				}
			} else {
				for x := xa; x < xb; x++ {
					out[x] = float32(row[(x0+ow-1-x)*C+c])*s + b
				}
			}
		}
	}
}

// writeCrop equals the reference for random windows (inside, across and
// wholly outside the image), flips, channel counts and affine maps.
func TestWriteCropEqualsReference(t *testing.T) {
	r := NewRNG(7, 8)
	for i := 0; i < 2000; i++ {
		c := 1 + 2*r.Intn(2)
		w, h := 1+r.Intn(20), 1+r.Intn(20)
		m := Image{W: w, H: h, C: c, Pix: make([]uint8, w*h*c)}
		for j := range m.Pix {
			m.Pix[j] = uint8(r.Uint64())
		}
		ow, oh := 1+r.Intn(24), 1+r.Intn(24)
		y0, x0 := r.Intn(h+oh+8)-oh-4, r.Intn(w+ow+8)-ow-4
		flip := r.Intn(2) == 1
		var scale, bias [3]float32
		for k := range 3 {
			scale[k] = float32(r.Float64()/50 + 1e-3)
			bias[k] = float32(r.Norm())
		}
		got, want := make([]float32, c*oh*ow), make([]float32, c*oh*ow)
		writeCrop(got, m, y0, x0, oh, ow, flip, scale, bias)
		writeCropRef(want, m, y0, x0, oh, ow, flip, scale, bias)
		for j := range got {
			if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
				t.Fatalf("%dx%dx%d window %d,%d %dx%d flip %v: [%d] = %v, want %v", w, h, c, x0, y0, ow, oh, flip, j, got[j], want[j])
			}
		}
	}
}
