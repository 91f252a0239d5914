package dataset

import (
	"errors"
	"image"
	"image/color"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

// refRGB is the slow, obviously right conversion through image.At.
func refRGB(m image.Image) Image {
	b := m.Bounds()
	out := Image{W: b.Dx(), H: b.Dy(), C: 3, Pix: make([]uint8, b.Dx()*b.Dy()*3)}
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			var r, g, bb uint8
			switch c := m.At(b.Min.X+x, b.Min.Y+y).(type) {
			case color.YCbCr:
				r, g, bb = color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
			case color.CMYK:
				r, g, bb = color.CMYKToRGB(c.C, c.M, c.Y, c.K)
			default:
				n := color.NRGBAModel.Convert(c).(color.NRGBA)
				r, g, bb = n.R, n.G, n.B
			}
			i := (y*b.Dx() + x) * 3
			out.Pix[i], out.Pix[i+1], out.Pix[i+2] = r, g, bb
		}
	}
	return out
}

func randBytes(r *rand.Rand, b []uint8) {
	for i := range b {
		b[i] = uint8(r.IntN(256))
	}
}

// The fast paths must equal image.At's colours, for every layout the
// decoders produce, including sub-images whose origin is not (0, 0).
func TestFromImageFastPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	rect := image.Rect(0, 0, 13, 9)
	sub := image.Rect(3, 1, 12, 8) // odd origin exercises chroma offsets
	var cases []struct {
		name string
		m    image.Image
	}
	add := func(name string, m image.Image) {
		cases = append(cases, struct {
			name string
			m    image.Image
		}{name, m})
		if s, ok := m.(interface {
			SubImage(image.Rectangle) image.Image
		}); ok {
			cases = append(cases, struct {
				name string
				m    image.Image
			}{name + "/sub", s.SubImage(sub)})
		}
	}
	for _, ratio := range []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	} {
		m := image.NewYCbCr(rect, ratio)
		randBytes(r, m.Y)
		randBytes(r, m.Cb)
		randBytes(r, m.Cr)
		add("ycbcr"+ratio.String(), m)
	}
	nrgba := image.NewNRGBA(rect)
	randBytes(r, nrgba.Pix)
	add("nrgba", nrgba)
	rgba := image.NewRGBA(rect)
	randBytes(r, rgba.Pix)
	for i := 3; i < len(rgba.Pix); i += 4 {
		rgba.Pix[i] = 255 // opaque; premultiplied alpha is checked below
		rgba.Pix[i-1] = min(rgba.Pix[i-1], rgba.Pix[i])
	}
	add("rgba", rgba)
	cmyk := image.NewCMYK(rect)
	randBytes(r, cmyk.Pix)
	add("cmyk", cmyk)
	pal := image.NewPaletted(rect, color.Palette{color.RGBA{1, 2, 3, 255}, color.RGBA{200, 100, 50, 255}, color.Gray{77}})
	for i := range pal.Pix {
		pal.Pix[i] = uint8(r.IntN(3))
	}
	add("paletted", pal)
	rgba64 := image.NewRGBA64(rect) // slow general path
	randBytes(r, rgba64.Pix)
	for i := 6; i < len(rgba64.Pix); i += 8 {
		rgba64.Pix[i], rgba64.Pix[i+1] = 255, 255
		for j := i - 6; j < i; j++ {
			rgba64.Pix[j] = min(rgba64.Pix[j], 255)
		}
	}
	add("rgba64", rgba64)

	for _, c := range cases {
		got, want := FromImage(c.m), refRGB(c.m)
		if got.W != want.W || got.H != want.H || got.C != 3 {
			t.Errorf("%s: got %dx%dx%d, want %dx%dx3", c.name, got.W, got.H, got.C, want.W, want.H)
			continue
		}
		for i := range want.Pix {
			if got.Pix[i] != want.Pix[i] {
				t.Errorf("%s: byte %d (pixel %d) = %d, want %d", c.name, i, i/3, got.Pix[i], want.Pix[i])
				break
			}
		}
	}

	gray := image.NewGray(rect)
	randBytes(r, gray.Pix)
	for _, m := range []*image.Gray{gray, gray.SubImage(sub).(*image.Gray)} {
		got := FromImage(m)
		b := m.Bounds()
		if got.C != 1 || got.W != b.Dx() || got.H != b.Dy() {
			t.Fatalf("gray: got %dx%dx%d", got.W, got.H, got.C)
		}
		for y := 0; y < got.H; y++ {
			for x := 0; x < got.W; x++ {
				if v := m.GrayAt(b.Min.X+x, b.Min.Y+y).Y; got.Pix[y*got.W+x] != v {
					t.Fatalf("gray (%d,%d) = %d, want %d", x, y, got.Pix[y*got.W+x], v)
				}
			}
		}
	}
	g16 := image.NewGray16(rect)
	randBytes(r, g16.Pix)
	got := FromImage(g16)
	for i := range got.Pix {
		if want := color.GrayModel.Convert(g16.At(i%13, i/13)).(color.Gray).Y; got.Pix[i] != want {
			t.Fatalf("gray16 pixel %d = %d, want %d", i, got.Pix[i], want)
		}
	}
}

// Premultiplied colours are divided back by alpha (within rounding).
func TestFromImageRGBAUnpremultiplies(t *testing.T) {
	m := image.NewRGBA(image.Rect(0, 0, 1, 1))
	m.Pix = []uint8{50, 100, 0, 128} // premultiplied: (99.6, 199.2, 0) at half alpha
	got := FromImage(m).Pix
	want := []int{99, 199, 0}
	for i := range want {
		if d := int(got[i]) - want[i]; d < -1 || d > 1 {
			t.Errorf("channel %d = %d, want %d±1", i, got[i], want[i])
		}
	}
}

func TestDecodeFiles(t *testing.T) {
	dir := t.TempDir()
	col := rgbPattern(20, 12, 3)
	writeFile(t, filepath.Join(dir, "c.png"), pngBytes(t, col))
	gray := image.NewGray(image.Rect(0, 0, 9, 7))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i * 3)
	}
	writeFile(t, filepath.Join(dir, "g.png"), pngBytes(t, gray))
	writeFile(t, filepath.Join(dir, "g.jpg"), jpegBytes(t, gray, 95))
	writeFile(t, filepath.Join(dir, "c.jpg"), jpegBytes(t, col, 95))

	m, err := DecodeFile(filepath.Join(dir, "c.png"))
	if err != nil {
		t.Fatal(err)
	}
	if m.W != 20 || m.H != 12 || m.C != 3 {
		t.Fatalf("c.png: %dx%dx%d", m.W, m.H, m.C)
	}
	for i := range m.Pix {
		c := col.NRGBAAt(i/3%20, i/3/20)
		if want := []uint8{c.R, c.G, c.B}[i%3]; m.Pix[i] != want {
			t.Fatalf("c.png byte %d = %d, want %d (PNG is lossless)", i, m.Pix[i], want)
		}
	}
	m, err = DecodeFile(filepath.Join(dir, "g.png"))
	if err != nil || m.C != 1 || string(m.Pix) != string(gray.Pix) {
		t.Fatalf("g.png: err %v, %d channels, pixels equal %v", err, m.C, string(m.Pix) == string(gray.Pix))
	}
	m, err = DecodeFile(filepath.Join(dir, "g.jpg"))
	if err != nil || m.C != 1 || m.W != 9 || m.H != 7 {
		t.Fatalf("g.jpg: err %v, %dx%dx%d", err, m.W, m.H, m.C)
	}
	m, err = DecodeFile(filepath.Join(dir, "c.jpg"))
	if err != nil || m.C != 3 || m.W != 20 || m.H != 12 {
		t.Fatalf("c.jpg: err %v, %dx%dx%d", err, m.W, m.H, m.C)
	}
	// JPEG is lossy; at quality 95 a smooth pattern stays within a few levels.
	worst := 0
	for i := range m.Pix {
		c := col.NRGBAAt(i/3%20, i/3/20)
		d := int(m.Pix[i]) - int([]uint8{c.R, c.G, c.B}[i%3])
		worst = max(worst, d, -d)
	}
	if worst > 12 {
		t.Errorf("c.jpg: largest difference from the encoded pixels %d", worst)
	}
}

func TestDecodeBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := jpegBytes(t, rgbPattern(64, 48, 1), 90)
	goodPNG := pngBytes(t, rgbPattern(64, 48, 1))
	files := map[string][]byte{
		"garbage.jpg":   []byte("this is not an image at all"),
		"empty.png":     nil,
		"trunc.jpg":     good[:len(good)/2],
		"trunc.png":     goodPNG[:len(goodPNG)*2/3],
		"huge.png":      hugePNG(20000, 20000),
		"zero-size.png": hugePNG(0, 10),
	}
	for name, data := range files {
		writeFile(t, filepath.Join(dir, name), data)
	}
	for name := range files {
		p := filepath.Join(dir, name)
		_, err := DecodeFile(p)
		if err == nil {
			t.Errorf("%s decoded without error", name)
			continue
		}
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
		if (name == "huge.png") != errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: error %q; ErrTooLarge only for huge.png", name, err)
		}
	}
	if _, err := DecodeFile(filepath.Join(dir, "missing.png")); err == nil || !strings.Contains(err.Error(), "missing.png") {
		t.Errorf("missing file: %v", err)
	}
}

func TestToChannels(t *testing.T) {
	rgb := Image{W: 2, H: 1, C: 3, Pix: []uint8{255, 0, 0, 10, 200, 30}}
	g, err := ToChannels(rgb, 1)
	if err != nil {
		t.Fatal(err)
	}
	// PIL: L = R*299/1000 + G*587/1000 + B*114/1000, rounded.
	want := []uint8{76, 124} // 76.245; 2.99+117.4+3.42 = 123.81
	if string(g.Pix) != string(want) {
		t.Errorf("rgb->gray = %v, want %v", g.Pix, want)
	}
	c, err := ToChannels(Image{W: 2, H: 1, C: 1, Pix: []uint8{5, 9}}, 3)
	if err != nil || string(c.Pix) != string([]uint8{5, 5, 5, 9, 9, 9}) {
		t.Errorf("gray->rgb = %v, %v", c.Pix, err)
	}
}
