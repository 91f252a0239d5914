package dataset

import (
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"
)

// posImage is a gray image whose pixel (x, y) is x + w*y (w*h <= 256), so a
// crop's values reveal where it came from.
func posImage(w, h int) Image {
	m := Image{W: w, H: h, C: 1, Pix: make([]uint8, w*h)}
	for i := range m.Pix {
		m.Pix[i] = uint8(i)
	}
	return m
}

// window is the expected crop of posImage: rows y0.., columns x0.., mirrored
// if flip, as raw values (-1 outside the image).
func window(w, h, y0, x0, size int, flip bool) []float32 {
	out := make([]float32, size*size)
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			sx := x0 + x
			if flip {
				sx = x0 + size - 1 - x
			}
			sy := y0 + y
			v := float32(-1)
			if sx >= 0 && sx < w && sy >= 0 && sy < h {
				v = float32(sx + w*sy)
			}
			out[y*size+x] = v
		}
	}
	return out
}

// raw undoes the [0,1] scaling of a 1-channel output with mean 0, std 1.
func raw(x []float32) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(math.Round(float64(v) * 255))
	}
	return out
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// locate finds the crop offset (and flip) that produced out.
func locate(t *testing.T, out []float32, w, h, size, pad int) (int, int, bool) {
	t.Helper()
	got := raw(out)
	for i, v := range got {
		if v == 0 && pad > 0 {
			got[i] = -1 // padding reads as zero; posImage has 0 only at (0,0)
		}
	}
	for y0 := -pad; y0 <= h+pad-size; y0++ {
		for x0 := -pad; x0 <= w+pad-size; x0++ {
			for _, f := range []bool{false, true} {
				want := window(w, h, y0, x0, size, f)
				for i, v := range want {
					if v == 0 && pad > 0 {
						want[i] = -1
					}
				}
				if equal(got, want) {
					return y0, x0, f
				}
			}
		}
	}
	t.Fatalf("output is no %dx%d window of the %dx%d image", size, size, w, h)
	return 0, 0, false
}

func TestCenterCropGeometry(t *testing.T) {
	// 12x15 image, crop 10: (12-10)/2 = 1, (15-10)/2 = 2.5 rounds to even: 2.
	m := posImage(12, 15)
	out, err := Transform{Crop: 10}.Apply(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.C != 1 || out.H != 10 || out.W != 10 {
		t.Fatalf("shape %dx%dx%d", out.C, out.H, out.W)
	}
	if want := window(12, 15, 2, 1, 10, false); !equal(raw(out.Data), want) {
		y, x, f := locate(t, out.Data, 12, 15, 10, 0)
		t.Errorf("centre crop at (%d,%d) flip %v, want (2,1)", y, x, f)
	}
	// 11x13, crop 10: (1)/2 = 0.5 -> 0, (3)/2 = 1.5 -> 2.
	out, _ = Transform{Crop: 10}.Apply(posImage(11, 13), nil)
	if want := window(11, 13, 2, 0, 10, false); !equal(raw(out.Data), want) {
		y, x, _ := locate(t, out.Data, 11, 13, 10, 0)
		t.Errorf("centre crop at (%d,%d), want (2,0)", y, x)
	}
	// Identity: a random crop of the full size (28x28 MNIST with crop 28).
	id := posImage(16, 16)
	out, _ = Transform{Crop: 16, RandomCrop: true}.Apply(id, SampleRNG(1, 0, 0))
	if !equal(raw(out.Data), window(16, 16, 0, 0, 16, false)) {
		t.Error("crop of the full size is not the identity")
	}
}

func TestRandomCropRangeAndDeterminism(t *testing.T) {
	const w, h, size = 16, 13, 10
	m := posImage(w, h)
	tf := Transform{Crop: size, RandomCrop: true, Flip: true}
	seenY, seenX := map[int]bool{}, map[int]bool{}
	flips := 0
	const n = 400
	for i := 0; i < n; i++ {
		a, err := tf.Apply(m, SampleRNG(7, 3, i))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := tf.Apply(m, SampleRNG(7, 3, i))
		if !equal(a.Data, b.Data) {
			t.Fatalf("index %d: same seed, different output", i)
		}
		y, x, f := locate(t, a.Data, w, h, size, 0)
		seenY[y], seenX[x] = true, true
		if f {
			flips++
		}
	}
	if len(seenY) != h-size+1 || len(seenX) != w-size+1 {
		t.Errorf("offsets seen: %d rows of %d, %d columns of %d", len(seenY), h-size+1, len(seenX), w-size+1)
	}
	// Binomial(400, 1/2): 200 ± 40 is over 4 standard deviations.
	if flips < 160 || flips > 240 {
		t.Errorf("%d flips in %d", flips, n)
	}
	// Another epoch or seed gives other crops for the same index.
	diff := 0
	for i := 0; i < 20; i++ {
		a, _ := tf.Apply(m, SampleRNG(7, 3, i))
		b, _ := tf.Apply(m, SampleRNG(7, 4, i))
		c, _ := tf.Apply(m, SampleRNG(8, 3, i))
		if !equal(a.Data, b.Data) && !equal(a.Data, c.Data) {
			diff++
		}
	}
	if diff < 15 {
		t.Errorf("only %d of 20 samples changed with epoch and seed", diff)
	}
}

func TestPaddedCrop(t *testing.T) {
	const w, h, size, pad = 14, 14, 14, 2
	m := posImage(w, h)
	for _, flip := range []bool{false, true} {
		tf := Transform{Crop: size, RandomCrop: true, Pad: pad, Flip: flip}
		minX, maxX, flips := 99, -99, 0
		for i := 0; i < 300; i++ {
			out, err := tf.Apply(m, SampleRNG(1, 0, i))
			if err != nil {
				t.Fatal(err)
			}
			y, x, f := locate(t, out.Data, w, h, size, pad)
			if y < -pad || y > pad || x < -pad || x > pad {
				t.Fatalf("offset (%d,%d) outside [-2,2]", y, x)
			}
			if f {
				flips++
			}
			minX, maxX = min(minX, x), max(maxX, x)
		}
		if minX != -pad || maxX != pad {
			t.Errorf("flip %v: column offsets span [%d,%d], want [-2,2]", flip, minX, maxX)
		}
		if (flips > 0) != flip {
			t.Errorf("flip %v: %d of 300 mirrored", flip, flips)
		}
	}
	if err := (Transform{Crop: 10, Pad: 2}).Validate(); err == nil {
		t.Error("pad without random crop accepted")
	}
}

func TestNormalisation(t *testing.T) {
	m := Image{W: 2, H: 1, C: 3, Pix: []uint8{0, 128, 255, 51, 102, 204}}
	tf := Transform{Mean: ImageNetMean, Std: ImageNetStd}
	out, err := tf.Apply(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, 6)
	for c := 0; c < 3; c++ {
		for x := 0; x < 2; x++ {
			v := float64(m.Pix[x*3+c]) / 255
			want[c*2+x] = float32((v - float64(ImageNetMean[c])) / float64(ImageNetStd[c]))
		}
	}
	if d, at := maxAbsDiff(out.Data, want); d > 1e-6 {
		t.Errorf("largest difference %g at %d: got %v want %v", d, at, out.Data, want)
	}
	// One value for every channel; a wrong count is an error.
	out, _ = Transform{Mean: []float32{0.5}, Std: []float32{0.5}}.Apply(Image{W: 1, H: 1, C: 1, Pix: []uint8{255}}, nil)
	if out.Data[0] != 1 {
		t.Errorf("(1-0.5)/0.5 = %v", out.Data[0])
	}
	if _, err := (Transform{Mean: []float32{0.1, 0.2}}).Apply(m, nil); err == nil {
		t.Error("2 means for 3 channels accepted")
	}
	if err := (Transform{Std: []float32{0}}).Validate(); err == nil {
		t.Error("zero std accepted")
	}
}

// Lighting adds eigvec @ (alpha * eigval) to every pixel of [0,1]-scaled RGB,
// alpha ~ N(0, std) drawn after the crop and flip draws.
func TestLighting(t *testing.T) {
	m := Image{W: 3, H: 2, C: 3, Pix: make([]uint8, 18)}
	for i := range m.Pix {
		m.Pix[i] = uint8(30 + 40*(i%3) + i)
	}
	const std = 0.1
	tf := Transform{Lighting: std}
	changed := 0
	for idx := 0; idx < 10; idx++ {
		out, err := tf.Apply(m, SampleRNG(5, 2, idx))
		if err != nil {
			t.Fatal(err)
		}
		r := SampleRNG(5, 2, idx)
		alpha := [3]float64{r.Norm() * std, r.Norm() * std, r.Norm() * std}
		eigval := [3]float64{0.2175, 0.0188, 0.0045}
		eigvec := [3][3]float64{{-0.5675, 0.7192, 0.4009}, {-0.5808, -0.0045, -0.8140}, {-0.5836, -0.6948, 0.4203}}
		want := make([]float32, 18)
		for c := 0; c < 3; c++ {
			shift := eigvec[c][0]*alpha[0]*eigval[0] + eigvec[c][1]*alpha[1]*eigval[1] + eigvec[c][2]*alpha[2]*eigval[2]
			for p := 0; p < 6; p++ {
				want[c*6+p] = float32(float64(m.Pix[p*3+c])/255 + shift)
			}
		}
		if d, at := maxAbsDiff(out.Data, want); d > 1e-6 {
			t.Errorf("index %d: largest difference %g at %d", idx, d, at)
		}
		plain, _ := Transform{}.Apply(m, nil)
		if dd, _ := maxAbsDiff(out.Data, plain.Data); dd > 1e-4 {
			changed++
		}
	}
	if changed < 9 {
		t.Errorf("lighting changed only %d of 10 images", changed)
	}
	if _, err := tf.Apply(posImage(3, 3), SampleRNG(1, 0, 0)); err == nil || !strings.Contains(err.Error(), "RGB") {
		t.Errorf("lighting on gray: %v", err)
	}
	if _, err := tf.Apply(m, nil); err == nil {
		t.Error("random transform without an RNG accepted")
	}
}

// The lighting alphas have the requested spread.
func TestLightingStatistics(t *testing.T) {
	const std, n = 0.1, 4000
	var s, s2 float64
	for i := 0; i < n; i++ {
		a := lightingOffset(SampleRNG(9, 0, i), std)
		// The first eigenvector dominates; recover alpha_0 from the projection.
		proj := a[0]*ImageNetEigvec[0][0] + a[1]*ImageNetEigvec[1][0] + a[2]*ImageNetEigvec[2][0]
		alpha0 := proj / ImageNetEigval[0] // eigenvectors are orthonormal
		s += alpha0
		s2 += alpha0 * alpha0
	}
	mean := s / n
	sd := math.Sqrt(s2/n - mean*mean)
	if math.Abs(mean) > 0.01 || math.Abs(sd-std) > 0.01 {
		t.Errorf("alpha_0 mean %.4f sd %.4f, want 0 and %.2f", mean, sd, std)
	}
}

func TestResizeThenCrop(t *testing.T) {
	// 40x30 RGB -> shorter side 20 -> 26x20 -> centre crop 16 at (2, 5).
	m := patternImage(40, 30, 3)
	tf := Transform{Resize: 20, Crop: 16}
	out, err := tf.Apply(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := Resize(m, 26, 20)
	want := make([]float32, 3*16*16)
	for c := 0; c < 3; c++ {
		for y := 0; y < 16; y++ {
			for x := 0; x < 16; x++ {
				want[c*256+y*16+x] = float32(r.Pix[((y+2)*26+x+5)*3+c]) / 255
			}
		}
	}
	if d, at := maxAbsDiff(out.Data, want); d > 1e-6 {
		t.Errorf("largest difference %g at %d", d, at)
	}
	// Without a crop the output is the resized image.
	whole, _ := Transform{Resize: 20}.Apply(m, nil)
	if whole.H != 20 || whole.W != 26 {
		t.Errorf("resize only: %dx%d", whole.W, whole.H)
	}
	if err := (Transform{Resize: 20, Crop: 24}).Validate(); err == nil {
		t.Error("crop larger than the resize accepted")
	}
	if _, err := (Transform{Crop: 50, RandomCrop: true}).Apply(m, SampleRNG(0, 0, 0)); err == nil {
		t.Error("random crop larger than the image accepted")
	}
}

// TenCrop follows torchvision: corners and centre of the image, then of the
// mirrored image, in the order tl, tr, bl, br, centre.
func TestTenCrop(t *testing.T) {
	const w, h, c = 15, 12, 8
	m := posImage(w, h)
	crops, err := Transform{Crop: c}.TenCrop(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(crops) != 10 {
		t.Fatalf("%d crops", len(crops))
	}
	// The mirrored image, built directly.
	fl := Image{W: w, H: h, C: 1, Pix: make([]uint8, w*h)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			fl.Pix[y*w+x] = m.Pix[y*w+w-1-x]
		}
	}
	cut := func(src Image, y0, x0 int) []float32 {
		out := make([]float32, c*c)
		for y := 0; y < c; y++ {
			for x := 0; x < c; x++ {
				out[y*c+x] = float32(src.Pix[(y0+y)*w+x0+x])
			}
		}
		return out
	}
	// Centre: round((12-8)/2) = 2, round((15-8)/2 = 3.5) = 4.
	pos := [][2]int{{0, 0}, {0, w - c}, {h - c, 0}, {h - c, w - c}, {2, 4}}
	for i := 0; i < 10; i++ {
		src := m
		if i >= 5 {
			src = fl
		}
		want := cut(src, pos[i%5][0], pos[i%5][1])
		if got := raw(crops[i].Data); !equal(got, want) {
			d, at := maxAbsDiff(got, want)
			t.Errorf("crop %d: largest difference %g at %d", i, d, at)
		}
	}
	if _, err := (Transform{Crop: 13}).TenCrop(m); err == nil {
		t.Error("ten-crop larger than the image accepted")
	}
}

func TestRNG(t *testing.T) {
	r := NewRNG(1, 2)
	counts := make([]int, 5)
	for i := 0; i < 5000; i++ {
		counts[r.Intn(5)]++
	}
	for k, n := range counts {
		if n < 850 || n > 1150 {
			t.Errorf("Intn(5) gave %d %d times in 5000", k, n)
		}
	}
	p := NewRNG(3, 4).Perm(50)
	seen := make([]bool, 50)
	for _, v := range p {
		seen[v] = true
	}
	for i, s := range seen {
		if !s {
			t.Fatalf("Perm misses %d", i)
		}
	}
	var s, s2 float64
	for i := 0; i < 20000; i++ {
		v := r.Norm()
		s += v
		s2 += v * v
	}
	if m, v := s/20000, s2/20000; math.Abs(m) > 0.03 || math.Abs(v-1) > 0.05 {
		t.Errorf("Norm: mean %.3f variance %.3f", m, v)
	}
}

// Apply resizes only the window its crop needs; that must equal resizing the
// whole image and cropping it, for any offset, padding, flip and scale.
func TestWindowedResizeEqualsFull(t *testing.T) {
	cases := []struct {
		w, h, c int
		tf      Transform
	}{
		{53, 41, 3, Transform{Resize: 24, Crop: 20, RandomCrop: true, Flip: true}},
		{41, 53, 3, Transform{Resize: 24, Crop: 20, RandomCrop: true, Pad: 3, Flip: true}},
		{30, 17, 1, Transform{Resize: 17, Crop: 15, RandomCrop: true, Pad: 2}}, // only the width changes
		{17, 30, 1, Transform{Resize: 17, Crop: 9, RandomCrop: true}},          // only the height changes
		{20, 14, 3, Transform{Resize: 32, Crop: 30, RandomCrop: true, Pad: 4}}, // upscaling
		{53, 41, 3, Transform{Resize: 24, Crop: 20}},                           // centre crop
		{12, 10, 3, Transform{Resize: 10, Crop: 4, RandomCrop: true, Pad: 6}},  // crops wholly in the padding
	}
	for _, c := range cases {
		m := patternImage(c.w, c.h, c.c)
		rw, rh := ResizedSize(c.w, c.h, c.tf.Resize)
		full, err := Resize(m, rw, rh)
		if err != nil {
			t.Fatal(err)
		}
		noResize := c.tf
		noResize.Resize = 0
		for i := 0; i < 40; i++ {
			got, err := c.tf.Apply(m, SampleRNG(2, 0, i))
			if err != nil {
				t.Fatal(err)
			}
			want, err := noResize.Apply(full, SampleRNG(2, 0, i))
			if err != nil {
				t.Fatal(err)
			}
			if d, at := maxAbsDiff(got.Data, want.Data); d != 0 {
				t.Fatalf("%dx%dx%d %+v sample %d: largest difference %g at %d", c.w, c.h, c.c, c.tf, i, d, at)
			}
		}
	}
}

// TenCrop resizes the whole image: a thin one that passes MaxPixels as it is but
// not resized is refused before anything is allocated for it.
func TestTenCropThinImage(t *testing.T) {
	thin := Image{W: 40000, H: 1, C: 1, Pix: make([]byte, 40000)}
	tf := Transform{Resize: 256, Crop: 224}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := tf.TenCrop(thin)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("ten-crop of a 40000x1 image resized to 256: %v, want ErrTooLarge", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("refusing it allocated %d bytes", grew)
	}
}
