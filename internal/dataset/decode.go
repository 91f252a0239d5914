package dataset

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"

	turbojpeg "alexnet/internal/jpeg"
)

// MaxPixels is the largest width*height DecodeFile accepts. The check runs on
// the header alone, so a small file claiming a huge image (a decompression
// bomb, or a corrupt header) costs nothing. PIL warns at about 89 million.
var MaxPixels int64 = 100_000_000

// ErrTooLarge is wrapped by errors for images over MaxPixels.
var ErrTooLarge = errors.New("image too large")

// useTurbo is whether JPEGs go to libjpeg-turbo (see JPEGDecoder); tests
// switch it off to check image/jpeg's path.
var useTurbo = turbojpeg.Available()

// JPEGDecoder names the decoder JPEG files go to: "libjpeg-turbo" when
// libturbojpeg.so.0 loads at run time (package libturbojpeg0; about three
// times faster, and PIL's own decoder: accurate integer IDCT and smooth chroma
// upsampling), else "image/jpeg" (Go's; it replicates chroma samples and its
// IDCT rounds differently, so pixels may differ by a few levels). Either
// alone is deterministic. ALEXNET_TURBOJPEG=0 forces image/jpeg. Files
// libjpeg-turbo refuses or warns about (CMYK, truncated) always go to image/jpeg.
func JPEGDecoder() string {
	if useTurbo {
		return "libjpeg-turbo"
	}
	return "image/jpeg"
}

// DecodeFile reads a JPEG or PNG file into an Image with the file's own
// channel count (1 for gray, 3 otherwise; alpha is dropped as PIL's
// convert("RGB") does). Every error names the file.
func DecodeFile(path string) (Image, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Image{}, err // *PathError already names the file
	}
	m, err := Decode(data)
	if err != nil {
		return Image{}, fmt.Errorf("decode %s: %w", path, err)
	}
	return m, nil
}

// Decode decodes JPEG or PNG bytes, refusing images over MaxPixels from the
// header before any pixel is decoded.
func Decode(data []byte) (Image, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return Image{}, err
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return Image{}, fmt.Errorf("%s header says %dx%d", format, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return Image{}, fmt.Errorf("%s header says %dx%d, over %d pixels: %w",
			format, cfg.Width, cfg.Height, MaxPixels, ErrTooLarge)
	}
	var m image.Image
	switch format {
	case "jpeg":
		if useTurbo {
			if pix, info, err := turbojpeg.Decode(data, nil, nil); err == nil {
				c := 3
				if info.Gray {
					c = 1
				}
				return Image{W: info.Width, H: info.Height, C: c, Pix: pix}, nil
			}
			// Files libjpeg-turbo refuses or warns about (CMYK, truncated,
			// corrupt) go to image/jpeg, which decides them as it always did.
		}
		m, err = jpeg.Decode(bytes.NewReader(data))
	case "png":
		m, err = png.Decode(bytes.NewReader(data))
	default:
		// Another package may have registered more formats with package image;
		// we promise JPEG and PNG only.
		return Image{}, fmt.Errorf("unsupported format %q (want JPEG or PNG)", format)
	}
	if err != nil {
		return Image{}, err
	}
	return FromImage(m), nil
}

// FromImage converts a decoded image to raw bytes. The common decoder outputs
// take fast paths over their pixel arrays: image.At costs an interface call
// and an allocation per pixel, which would dominate loading time.
func FromImage(m image.Image) Image {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	switch m := m.(type) {
	case *image.Gray:
		out := make([]uint8, w*h)
		for y := 0; y < h; y++ {
			i := m.PixOffset(b.Min.X, b.Min.Y+y)
			copy(out[y*w:(y+1)*w], m.Pix[i:i+w])
		}
		return Image{W: w, H: h, C: 1, Pix: out}
	case *image.Gray16:
		out := make([]uint8, w*h)
		for y := 0; y < h; y++ {
			i := m.PixOffset(b.Min.X, b.Min.Y+y)
			for x := 0; x < w; x++ {
				out[y*w+x] = m.Pix[i+2*x] // high byte, as color.GrayModel does
			}
		}
		return Image{W: w, H: h, C: 1, Pix: out}
	case *image.YCbCr:
		return ycbcrToRGB(m)
	case *image.NRGBA:
		out := make([]uint8, w*h*3)
		for y := 0; y < h; y++ {
			i := m.PixOffset(b.Min.X, b.Min.Y+y)
			row := m.Pix[i : i+4*w]
			o := out[y*w*3 : (y+1)*w*3]
			for x := 0; x < w; x++ {
				o[3*x], o[3*x+1], o[3*x+2] = row[4*x], row[4*x+1], row[4*x+2]
			}
		}
		return Image{W: w, H: h, C: 3, Pix: out}
	case *image.RGBA:
		out := make([]uint8, w*h*3)
		for y := 0; y < h; y++ {
			i := m.PixOffset(b.Min.X, b.Min.Y+y)
			row := m.Pix[i : i+4*w]
			o := out[y*w*3 : (y+1)*w*3]
			for x := 0; x < w; x++ {
				r, g, bb, a := row[4*x], row[4*x+1], row[4*x+2], row[4*x+3]
				if a != 255 && a != 0 {
					// Premultiplied: undo it so the colour matches the file's
					// (what PIL keeps when it drops alpha).
					r = uint8(uint32(r) * 255 / uint32(a))
					g = uint8(uint32(g) * 255 / uint32(a))
					bb = uint8(uint32(bb) * 255 / uint32(a))
				}
				o[3*x], o[3*x+1], o[3*x+2] = r, g, bb
			}
		}
		return Image{W: w, H: h, C: 3, Pix: out}
	case *image.Paletted:
		var lut [256][3]uint8
		for i, c := range m.Palette {
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			lut[i] = [3]uint8{n.R, n.G, n.B}
		}
		out := make([]uint8, w*h*3)
		for y := 0; y < h; y++ {
			i := m.PixOffset(b.Min.X, b.Min.Y+y)
			for x := 0; x < w; x++ {
				c := lut[m.Pix[i+x]]
				copy(out[(y*w+x)*3:], c[:])
			}
		}
		return Image{W: w, H: h, C: 3, Pix: out}
	case *image.CMYK:
		// Adobe CMYK JPEGs (a few dozen in ImageNet's training set).
		out := make([]uint8, w*h*3)
		for y := 0; y < h; y++ {
			i := m.PixOffset(b.Min.X, b.Min.Y+y)
			for x := 0; x < w; x++ {
				p := m.Pix[i+4*x : i+4*x+4]
				r, g, bb := color.CMYKToRGB(p[0], p[1], p[2], p[3])
				out[(y*w+x)*3], out[(y*w+x)*3+1], out[(y*w+x)*3+2] = r, g, bb
			}
		}
		return Image{W: w, H: h, C: 3, Pix: out}
	}
	// Rare layouts (16-bit colour PNGs): the slow, general path.
	out := make([]uint8, w*h*3)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA64Model.Convert(m.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA64)
			i := (y*w + x) * 3
			out[i], out[i+1], out[i+2] = uint8(c.R>>8), uint8(c.G>>8), uint8(c.B>>8)
		}
	}
	return Image{W: w, H: h, C: 3, Pix: out}
}

// ycbcrToRGB converts with the same fixed-point arithmetic as
// color.YCbCrToRGB, inlined, for any chroma subsampling.
func ycbcrToRGB(m *image.YCbCr) Image {
	b := m.Rect
	w, h := b.Dx(), b.Dy()
	// Chroma sample of pixel (x, y) is at (x>>hs - Min.X>>hs, y>>vs - Min.Y>>vs),
	// as in YCbCr.COffset; shifts instead of its divisions (coordinates of
	// decoded images are >= 0).
	hs, vs := 0, 0
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		hs = 1
	case image.YCbCrSubsampleRatio420:
		hs, vs = 1, 1
	case image.YCbCrSubsampleRatio440:
		vs = 1
	case image.YCbCrSubsampleRatio411:
		hs = 2
	case image.YCbCrSubsampleRatio410:
		hs, vs = 2, 1
	}
	out := make([]uint8, w*h*3)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		yrow := m.Y[(y-b.Min.Y)*m.YStride:][:w]
		ci0 := (y>>vs - b.Min.Y>>vs) * m.CStride
		cbrow, crrow := m.Cb[ci0:], m.Cr[ci0:]
		o := out[(y-b.Min.Y)*w*3 : (y-b.Min.Y+1)*w*3]
		for x, yv := range yrow {
			ci := (x+b.Min.X)>>hs - b.Min.X>>hs
			yy1 := int32(yv) * 0x10101
			cb1 := int32(cbrow[ci]) - 128
			cr1 := int32(crrow[ci]) - 128
			r := yy1 + 91881*cr1
			if uint32(r)&0xff000000 == 0 {
				r >>= 16
			} else {
				r = ^(r >> 31)
			}
			g := yy1 - 22554*cb1 - 46802*cr1
			if uint32(g)&0xff000000 == 0 {
				g >>= 16
			} else {
				g = ^(g >> 31)
			}
			bb := yy1 + 116130*cb1
			if uint32(bb)&0xff000000 == 0 {
				bb >>= 16
			} else {
				bb = ^(bb >> 31)
			}
			o[3*x], o[3*x+1], o[3*x+2] = uint8(r), uint8(g), uint8(bb)
		}
	}
	return Image{W: w, H: h, C: 3, Pix: out}
}
