package dataset

import "fmt"

// Image is a decoded 8-bit image, rows top to bottom, channels interleaved
// (C=1 gray, C=3 RGB). Sources may hand out Pix slices that alias their own
// memory: treat Pix as read-only.
type Image struct {
	W, H, C int
	Pix     []uint8 // len H*W*C
}

func (m Image) check() error {
	if m.W <= 0 || m.H <= 0 || (m.C != 1 && m.C != 3) || len(m.Pix) != m.W*m.H*m.C {
		return fmt.Errorf("bad image %dx%dx%d with %d bytes", m.W, m.H, m.C, len(m.Pix))
	}
	return nil
}

// ToChannels converts m to c channels (1 or 3). Gray to RGB repeats the value;
// RGB to gray uses PIL's "L" weights (ITU-R 601-2 luma) so a grayscale dataset
// made with torchvision's Grayscale gives the same bytes. It returns m itself
// when nothing changes.
func ToChannels(m Image, c int) (Image, error) {
	if err := m.check(); err != nil {
		return Image{}, err
	}
	switch {
	case m.C == c:
		return m, nil
	case m.C == 1 && c == 3:
		out := make([]uint8, m.W*m.H*3)
		for i, v := range m.Pix {
			out[3*i], out[3*i+1], out[3*i+2] = v, v, v
		}
		return Image{W: m.W, H: m.H, C: 3, Pix: out}, nil
	case m.C == 3 && c == 1:
		out := make([]uint8, m.W*m.H)
		for i := range out {
			r, g, b := uint32(m.Pix[3*i]), uint32(m.Pix[3*i+1]), uint32(m.Pix[3*i+2])
			// PIL's L24 fixed point: 0.299, 0.587, 0.114 scaled by 2^16, rounded.
			out[i] = uint8((r*19595 + g*38470 + b*7471 + 0x8000) >> 16)
		}
		return Image{W: m.W, H: m.H, C: 1, Pix: out}, nil
	}
	return Image{}, fmt.Errorf("cannot convert %d channels to %d", m.C, c)
}
