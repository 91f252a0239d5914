package dataset

import (
	"errors"
	"fmt"
	"math"
)

// ImageNet statistics on the [0,1] scale: torchvision's per-channel mean and
// std, and the PCA of RGB pixels used by the paper's colour augmentation as
// published with fb.resnet.torch and Caffe (eigenvectors are the columns).
var (
	ImageNetMean   = []float32{0.485, 0.456, 0.406}
	ImageNetStd    = []float32{0.229, 0.224, 0.225}
	ImageNetEigval = [3]float64{0.2175, 0.0188, 0.0045}
	ImageNetEigvec = [3][3]float64{
		{-0.5675, 0.7192, 0.4009},
		{-0.5808, -0.0045, -0.8140},
		{-0.5836, -0.6948, 0.4203},
	}
)

// Transform is the paper's augmentation and the normalisation, applied in
// this order:
//
//	resize the shorter side to Resize (0: keep the size), PIL-style bilinear
//	crop Crop x Crop: random offset (RandomCrop, after zero padding by Pad) or centred
//	flip horizontally with probability 1/2 (Flip)
//	scale to [0,1]; add the PCA lighting offset (Lighting > 0, RGB only)
//	subtract Mean, divide by Std, per channel
//
// The random draws, in order: crop row, crop column, flip, three lighting
// alphas; all from the RNG passed in, so one (seed, epoch, index) always gives
// the same tensor.
type Transform struct {
	Resize     int       // shorter side after resizing; 0 keeps the image's size
	Crop       int       // output side; 0 keeps the (resized) image whole
	Pad        int       // zero border added before a random crop (e.g. 2 or 4 for small images)
	RandomCrop bool      // random crop position; false crops the centre
	Flip       bool      // mirror with probability 1/2
	Lighting   float64   // std of the PCA lighting alphas (the paper: 0.1); 0 is off
	Mean       []float32 // per channel (or one value for all), on the [0,1] scale; empty means 0
	Std        []float32 // per channel (or one value for all); empty means 1
}

// Validate checks the fields that do not depend on the image.
func (t Transform) Validate() error {
	switch {
	case t.Resize < 0:
		return fmt.Errorf("transform: resize %d < 0", t.Resize)
	case t.Crop < 0:
		return fmt.Errorf("transform: crop %d < 0", t.Crop)
	case t.Pad < 0:
		return fmt.Errorf("transform: pad %d < 0", t.Pad)
	case t.Pad > 0 && (!t.RandomCrop || t.Crop == 0):
		return errors.New("transform: pad needs a random crop with a crop size")
	case t.Lighting < 0 || math.IsNaN(t.Lighting):
		return fmt.Errorf("transform: lighting std %v < 0", t.Lighting)
	case t.Resize > 0 && t.Crop > t.Resize:
		return fmt.Errorf("transform: crop %d larger than the resized shorter side %d", t.Crop, t.Resize)
	case len(t.Mean) > 3 || len(t.Std) > 3:
		return errors.New("transform: mean and std have at most 3 values")
	}
	for i, s := range t.Std {
		if !(s > 0) {
			return fmt.Errorf("transform: std[%d] = %v, must be > 0", i, s)
		}
	}
	return nil
}

// Eval is t without its random parts: centre crop, no padding, flip or lighting.
func (t Transform) Eval() Transform {
	t.RandomCrop, t.Pad, t.Flip, t.Lighting = false, 0, false, 0
	return t
}

// Random reports whether t draws random numbers.
func (t Transform) Random() bool {
	return t.RandomCrop || t.Flip || t.Lighting > 0
}

// OutSize is the width and height of t's output for a w x h input.
func (t Transform) OutSize(w, h int) (int, int) {
	if t.Crop > 0 {
		return t.Crop, t.Crop
	}
	if t.Resize > 0 {
		return ResizedSize(w, h, t.Resize)
	}
	return w, h
}

// Tensor is one image as float32 CHW.
type Tensor struct {
	C, H, W int
	Data    []float32
}

// Apply transforms one image; rng may be nil when t has no random parts.
func (t Transform) Apply(m Image, rng *RNG) (Tensor, error) {
	w, h := t.OutSize(m.W, m.H)
	out := Tensor{C: m.C, H: h, W: w, Data: make([]float32, m.C*h*w)}
	return out, t.applyInto(out.Data, m, rng, nil)
}

// ApplyInto is Apply writing into dst, which must hold exactly C*H*W values.
func (t Transform) ApplyInto(dst []float32, m Image, rng *RNG) error {
	return t.applyInto(dst, m, rng, nil)
}

func (t Transform) applyInto(dst []float32, m Image, rng *RNG, sc *scratch) error {
	if err := m.check(); err != nil {
		return err
	}
	if t.Random() && rng == nil {
		return errors.New("transform: random augmentation needs an RNG")
	}
	// The crop is placed on the resized image, but only the window it
	// covers is resized.
	rw, rh := m.W, m.H
	if t.Resize > 0 {
		rw, rh = ResizedSize(m.W, m.H, t.Resize)
	}
	ow, oh := t.OutSize(m.W, m.H)
	if len(dst) != m.C*oh*ow {
		return fmt.Errorf("transform: output holds %d values, want %d (%dx%dx%d)", len(dst), m.C*oh*ow, m.C, oh, ow)
	}
	var y0, x0 int
	switch {
	case t.Crop == 0:
	case t.RandomCrop:
		ph, pw := rh+2*t.Pad, rw+2*t.Pad
		if ph < t.Crop || pw < t.Crop {
			return fmt.Errorf("transform: %dx%d image (padded by %d) smaller than crop %d", rw, rh, t.Pad, t.Crop)
		}
		// torchvision's RandomCrop draws the row, then the column.
		y0 = rng.Intn(ph-t.Crop+1) - t.Pad
		x0 = rng.Intn(pw-t.Crop+1) - t.Pad
	default:
		y0, x0 = centerOffset(rh, t.Crop), centerOffset(rw, t.Crop)
	}
	if sc == nil {
		sc = &scratch{}
	}
	win, wx, wy, err := resizeWindow(m, rw, rh, x0, y0, ow, oh, sc)
	if err != nil {
		return err
	}
	// Crop coordinates relative to the window; outside it is padding.
	m, x0, y0 = win, x0-wx, y0-wy
	flip := false
	if t.Flip {
		flip = rng.Float64() < 0.5
	}
	var light [3]float64
	if t.Lighting > 0 {
		if m.C != 3 {
			return fmt.Errorf("transform: PCA lighting needs RGB, image has %d channel(s)", m.C)
		}
		light = lightingOffset(rng, t.Lighting)
	}
	scale, bias, err := t.affine(m.C, light)
	if err != nil {
		return err
	}
	writeCrop(dst, m, y0, x0, oh, ow, flip, scale, bias)
	return nil
}

func (t Transform) resize(m Image) (Image, error) {
	if t.Resize == 0 {
		return m, nil
	}
	w, h := ResizedSize(m.W, m.H, t.Resize)
	// A thin image passes MaxPixels as it is and explodes resized: 1 x 10^8 with
	// the shorter side to 256 would be 256 x 2.56x10^10.
	if int64(w)*int64(h) > MaxPixels {
		return Image{}, fmt.Errorf("%dx%d resized to %dx%d is over %d pixels: %w", m.W, m.H, w, h, MaxPixels, ErrTooLarge)
	}
	return Resize(m, w, h)
}

// centerOffset is torchvision's CenterCrop offset: round((size-crop)/2) with
// Python's round-half-to-even, or, for an image smaller than the crop, minus
// the top/left zero padding it adds ((crop-size)//2).
func centerOffset(size, crop int) int {
	if size >= crop {
		return int(math.RoundToEven(float64(size-crop) / 2))
	}
	return -((crop - size) / 2)
}

// lightingOffset draws alpha ~ N(0, std) per eigenvector and returns
// eigvec @ (alpha * eigval), the RGB shift on the [0,1] scale (fb.resnet.torch).
func lightingOffset(rng *RNG, std float64) [3]float64 {
	var alpha [3]float64
	for j := range alpha {
		alpha[j] = rng.Norm() * std
	}
	var rgb [3]float64
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			rgb[i] += ImageNetEigvec[i][j] * alpha[j] * ImageNetEigval[j]
		}
	}
	return rgb
}

// affine folds scaling, lighting and normalisation into out = pix*scale + bias:
// ((pix/255 + light) - mean) / std.
func (t Transform) affine(C int, light [3]float64) (scale, bias [3]float32, err error) {
	pick := func(v []float32, c int, def float32) (float32, error) {
		switch len(v) {
		case 0:
			return def, nil
		case 1:
			return v[0], nil
		case C:
			return v[c], nil
		}
		return 0, fmt.Errorf("transform: %d mean/std values for a %d-channel image", len(v), C)
	}
	for c := 0; c < C; c++ {
		mean, err := pick(t.Mean, c, 0)
		if err != nil {
			return scale, bias, err
		}
		std, err := pick(t.Std, c, 1)
		if err != nil {
			return scale, bias, err
		}
		scale[c] = float32(1 / (255 * float64(std)))
		bias[c] = float32((light[c] - float64(mean)) / float64(std))
	}
	return scale, bias, nil
}

// writeCrop writes the oh x ow window at (y0, x0) of m, mirrored if flip, as
// CHW floats; pixels outside m are zero (padding) before scale and bias.
func writeCrop(dst []float32, m Image, y0, x0, oh, ow int, flip bool, scale, bias [3]float32) {
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
	// pix*scale+bias for every byte value, per channel: a table lookup per
	// pixel instead of a conversion, a multiply and an add. The same
	// expression as before fills it, so the values are the same.
	var lut [3][256]float32
	for c := 0; c < C; c++ {
		s, b := scale[c], bias[c]
		for v := range lut[c] {
			lut[c][v] = float32(uint8(v))*s + b
		}
	}
	for y := 0; y < oh; y++ {
		sy := y0 + y
		for c := 0; c < C; c++ {
			out := dst[c*plane+y*ow : c*plane+(y+1)*ow]
			b := bias[c]
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
			lc := &lut[c]
			o := out[xa:xb]
			if !flip {
				src := row[(x0+xa)*C+c:]
				if C == 3 {
					src = src[:3*(len(o)-1)+1]
					for x := range o {
						o[x] = lc[src[3*x]]
					}
				} else {
					src = src[:len(o)]
					for x := range o {
						o[x] = lc[src[x]]
					}
				}
			} else {
				// Output column x reads column x0+ow-1-x: the last of the
				// span first.
				last := (x0 + ow - 1 - xa) * C
				src := row[(x0+ow-xb)*C+c : last+c+1]
				for x := range o {
					o[x] = lc[src[len(src)-1-x*C]]
				}
			}
		}
	}
}

// TenCrop is torchvision's TenCrop after resizing: the four corner crops and
// the centre crop, then the same five taken from the mirrored image, each
// normalised like Apply. The paper averages the network's predictions over
// them. Random settings in t are ignored.
func (t Transform) TenCrop(m Image) ([]Tensor, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	if t.Crop == 0 {
		return nil, errors.New("ten-crop needs a crop size")
	}
	m, err := t.resize(m)
	if err != nil {
		return nil, err
	}
	c := t.Crop
	if m.W < c || m.H < c {
		return nil, fmt.Errorf("ten-crop: %dx%d image smaller than crop %d", m.W, m.H, c)
	}
	scale, bias, err := t.affine(m.C, [3]float64{})
	if err != nil {
		return nil, err
	}
	dy, dx := m.H-c, m.W-c
	cy, cx := centerOffset(m.H, c), centerOffset(m.W, c)
	type win struct {
		y, x int
		flip bool
	}
	// A crop at column x of the mirrored image is the mirror of the crop at
	// column dx-x of the original.
	wins := []win{
		{0, 0, false}, {0, dx, false}, {dy, 0, false}, {dy, dx, false}, {cy, cx, false},
		{0, dx, true}, {0, 0, true}, {dy, dx, true}, {dy, 0, true}, {cy, dx - cx, true},
	}
	out := make([]Tensor, len(wins))
	for i, w := range wins {
		out[i] = Tensor{C: m.C, H: c, W: c, Data: make([]float32, m.C*c*c)}
		writeCrop(out[i].Data, m, w.y, w.x, c, c, w.flip, scale, bias)
	}
	return out, nil
}
