// Package filters draws a convolution layer's kernels as a picture, like
// Figure 3 of the AlexNet paper (the 96 first-layer kernels, 48 learned on each
// GPU): one small square per kernel, in a grid, one band per tower.
package filters

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"

	"alexnet/internal/atomicfile"
	"alexnet/internal/safetensors"
)

// Layout constants, in output pixels.
const (
	Columns = 16 // kernels per row: the paper's figure has 16 (3 rows per GPU)
	Border  = 1  // background between kernels and around the grid
	BandGap = 6  // background between two towers' bands (replaces one Border)
)

// Background is the colour between kernels: white, so that dark kernels stand
// out as they do in the paper's figure.
var Background = color.RGBA{255, 255, 255, 255}

// maxPixels bounds the output so that a huge scale cannot ask for gigabytes.
const maxPixels = 1 << 26

// Geometry is the layout Render uses for n kernels of k x k pixels (after scaling).
type Geometry struct {
	Cols, RowsPerBand, Towers int
	CellW, CellH              int // a kernel's size in output pixels
	BandH                     int // one tower's band, borders included
	Width, Height             int
}

// Layout computes where Render puts outC kernels of kh x kw weights, scaled by
// scale, split into towers bands.
func Layout(outC, kh, kw, towers, scale int) (Geometry, error) {
	switch {
	case outC <= 0 || kh <= 0 || kw <= 0:
		return Geometry{}, fmt.Errorf("filters: %d kernels of %dx%d", outC, kh, kw)
	case towers <= 0 || outC%towers != 0:
		return Geometry{}, fmt.Errorf("filters: %d kernels do not split into %d towers", outC, towers)
	case scale <= 0:
		return Geometry{}, fmt.Errorf("filters: scale %d, must be at least 1", scale)
	case kh > 1<<12 || kw > 1<<12 || scale > 1<<12:
		return Geometry{}, fmt.Errorf("filters: %dx%d kernels at scale %d are too large to draw", kh, kw, scale)
	}
	per := outC / towers
	g := Geometry{Cols: min(Columns, per), Towers: towers}
	g.RowsPerBand = (per + g.Cols - 1) / g.Cols
	g.CellW, g.CellH = kw*scale, kh*scale
	g.Width = g.Cols*g.CellW + (g.Cols+1)*Border
	g.BandH = g.RowsPerBand*g.CellH + (g.RowsPerBand+1)*Border
	g.Height = towers*g.BandH + (towers-1)*BandGap
	if int64(g.Width)*int64(g.Height) > maxPixels {
		return Geometry{}, fmt.Errorf("filters: a %dx%d picture is too large (lower the scale)", g.Width, g.Height)
	}
	return g, nil
}

// Render draws the kernels of w, shaped [OutC, 3, KH, KW] (RGB) or
// [OutC, 1, KH, KW] (grey), as a grid: Columns kernels per row, each
// upscaled by scale with nearest neighbour, Border pixels apart. With
// towers = 2 the first OutC/2 kernels form the top band and the rest the
// bottom one, BandGap pixels lower, as in the paper's Figure 3.
//
// Each kernel is stretched to 0..255 by its own minimum and maximum over all
// its channels (as the paper's figure does, so weak and strong kernels are
// both visible; one range for all channels keeps the kernel's colours). A
// constant kernel is drawn mid-grey; NaN and infinite weights are drawn as the
// kernel's minimum.
func Render(w safetensors.Tensor, towers, scale int) (*image.RGBA, error) {
	if len(w.Shape) != 4 {
		return nil, fmt.Errorf("filters: %s has shape %v, want [OutC, 3 or 1, KH, KW]", w.Name, w.Shape)
	}
	outC, inC, kh, kw := w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
	if inC != 3 && inC != 1 {
		return nil, fmt.Errorf("filters: %s has %d input channels; only first-layer kernels (3 = RGB or 1 = grey) can be drawn", w.Name, inC)
	}
	g, err := Layout(outC, kh, kw, towers, scale)
	if err != nil {
		return nil, err
	}
	if len(w.Data) != outC*inC*kh*kw {
		return nil, fmt.Errorf("filters: %s has shape %v but %d values", w.Name, w.Shape, len(w.Data))
	}
	img := image.NewRGBA(image.Rect(0, 0, g.Width, g.Height))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = Background.R, Background.G, Background.B, Background.A
	}
	per := outC / towers
	size := inC * kh * kw
	for k := 0; k < outC; k++ {
		tower, j := k/per, k%per
		x0 := Border + (j%g.Cols)*(g.CellW+Border)
		y0 := tower*(g.BandH+BandGap) + Border + (j/g.Cols)*(g.CellH+Border)
		kern := w.Data[k*size : (k+1)*size]
		lo, hi := finiteRange(kern)
		for y := 0; y < kh; y++ {
			for x := 0; x < kw; x++ {
				var rgb [3]uint8
				for c := 0; c < 3; c++ {
					ci := c
					if inC == 1 {
						ci = 0
					}
					rgb[c] = level(kern[(ci*kh+y)*kw+x], lo, hi)
				}
				// Nearest-neighbour upscaling: one weight fills a scale x scale block.
				for dy := 0; dy < scale; dy++ {
					row := img.PixOffset(x0+x*scale, y0+y*scale+dy)
					for dx := 0; dx < scale; dx++ {
						p := img.Pix[row+4*dx : row+4*dx+4]
						p[0], p[1], p[2], p[3] = rgb[0], rgb[1], rgb[2], 255
					}
				}
			}
		}
	}
	return img, nil
}

func finiteRange(v []float32) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range v {
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		lo, hi = math.Min(lo, f), math.Max(hi, f)
	}
	return lo, hi
}

// level maps x in [lo, hi] to 0..255, rounding to nearest.
func level(x float32, lo, hi float64) uint8 {
	f := float64(x)
	switch {
	case !(hi > lo): // constant kernel, or no finite values at all
		return 128
	case math.IsNaN(f) || math.IsInf(f, 0):
		return 0
	}
	return uint8(math.Round((f - lo) / (hi - lo) * 255))
}

// WritePNG writes img to path atomically (atomicfile), so a reader never sees half
// a picture.
func WritePNG(path string, img image.Image) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error { return png.Encode(w, img) })
}
