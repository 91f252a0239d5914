package dataset

import "fmt"

// Synthetic is a data set of random images, the same for the same seed: for
// benchmarks and tests that need no files. Each image is generated in Load.
type Synthetic struct {
	n, c, h, w int
	classes    []string
	seed       int64
}

// NewSynthetic makes n random c x h x w images with labels in [0, classes).
func NewSynthetic(n, c, h, w, classes int, seed int64) (*Synthetic, error) {
	if n <= 0 || h <= 0 || w <= 0 || classes <= 0 || (c != 1 && c != 3) {
		return nil, fmt.Errorf("synthetic data set: bad shape n=%d c=%d h=%d w=%d classes=%d", n, c, h, w, classes)
	}
	return &Synthetic{n: n, c: c, h: h, w: w, classes: digitNames(classes), seed: seed}, nil
}

func (s *Synthetic) Len() int          { return s.n }
func (s *Synthetic) Classes() []string { return s.classes }
func (s *Synthetic) Channels() int     { return s.c }
func (s *Synthetic) Name(i int) string { return fmt.Sprintf("synthetic[%d]", i) }

func (s *Synthetic) Load(i int) (Image, int32, error) {
	if i < 0 || i >= s.n {
		return Image{}, 0, fmt.Errorf("synthetic: index %d out of range [0,%d)", i, s.n)
	}
	r := NewRNG(seedWords(s.seed, domainSynth, 0, int64(i)))
	label := int32(r.Intn(len(s.classes)))
	pix := make([]uint8, s.c*s.h*s.w)
	for j := 0; j < len(pix); j += 8 {
		v := r.Uint64()
		for k := j; k < j+8 && k < len(pix); k++ {
			pix[k] = uint8(v)
			v >>= 8
		}
	}
	return Image{W: s.w, H: s.h, C: s.c, Pix: pix}, label, nil
}
