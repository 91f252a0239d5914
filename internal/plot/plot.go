// Package plot draws training curves from the metrics log as a PNG: a loss panel (train
// and validation) beside an accuracy panel (train top-1, validation top-1 and top-5),
// each with ticks, tick labels and a legend. Standard library only, with a built-in
// bitmap font.
//
// Why not gonum.org/v1/plot (measured 2026-12-02, v0.17.0, Go 1.26, stripped): it
// would give real text, a log axis and SVG, but a program that draws one line with it
// is 9.6 MB against 1.8 MB for one that only encodes a PNG, about 7.8 MB of fonts and
// vector back-ends; alexnet itself is 10.1 MB stripped, so the plot would add three
// quarters to a binary that must also fit the GPU hosts' carry limit (make device).
// Two fixed panels of a few curves need none of that: the epoch and step curves
// (metrics.jsonl's step lines, train.log_every) read well as they are, and the numbers
// behind them are in metrics.jsonl for anyone who wants matplotlib.
package plot

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strconv"

	"alexnet/internal/atomicfile"
	"alexnet/internal/metrics"
)

// Options sets the image size; zero fields take the defaults.
type Options struct {
	Width, Height int // pixels (default 1200 x 500)
}

var (
	background = color.RGBA{255, 255, 255, 255}
	ink        = color.RGBA{40, 40, 40, 255}
	gridColor  = color.RGBA{215, 215, 215, 255}
	trainColor = color.RGBA{31, 119, 180, 255} // matplotlib's first three colours
	valColor   = color.RGBA{255, 127, 14, 255}
	top5Color  = color.RGBA{44, 160, 44, 255}
)

const (
	scale   = 2 // font pixels to image pixels: 10x14 characters
	charW   = advance * scale
	charH   = glyphH * scale
	penW    = 2
	markerW = 6
)

type point struct{ x, y float64 }

type series struct {
	label   string
	color   color.RGBA
	pts     []point
	markers bool // sparse series (one point per epoch) get markers so a single point shows
}

type panel struct {
	title  string
	xlabel string
	series []series
	ylo    float64 // the y axis starts here; the top comes from the data
	ycap   float64 // the y axis never goes above this (100 for percentages); 0: none
}

// Render draws the curves. It fails when the records hold nothing to plot.
func Render(recs []metrics.Record, opt Options) (*image.RGBA, error) {
	if opt.Width == 0 {
		opt.Width = 1200
	}
	if opt.Height == 0 {
		opt.Height = 500
	}
	if opt.Width < 400 || opt.Height < 200 {
		return nil, fmt.Errorf("plot: image %dx%d is too small (at least 400x200)", opt.Width, opt.Height)
	}
	loss, acc := panels(recs)
	if !hasData(loss) && !hasData(acc) {
		return nil, errors.New("plot: the metrics log holds no values to plot")
	}
	img := image.NewRGBA(image.Rect(0, 0, opt.Width, opt.Height))
	fillRect(img, img.Bounds(), background)
	half := opt.Width / 2
	drawPanel(img, image.Rect(0, 0, half, opt.Height), loss)
	drawPanel(img, image.Rect(half, 0, opt.Width, opt.Height), acc)
	return img, nil
}

// WriteFile renders to a PNG at path, atomically (temporary file, then rename) so a
// viewer that reloads the file never sees half of it.
func WriteFile(path string, recs []metrics.Record, opt Options) error {
	img, err := Render(recs, opt)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, 0o644, func(w io.Writer) error { return png.Encode(w, img) })
}

// panels turns records into the two panels' series. The x axis is in epochs when the
// log has an epoch line to tell the steps per epoch; before the first epoch ends it is
// in steps.
func panels(recs []metrics.Record) (loss, acc panel) {
	var spe float64 // steps per epoch
	for _, r := range recs {
		if r.Kind == metrics.KindEpoch && r.Epoch > 0 && r.Step > 0 {
			spe = float64(r.Step) / float64(r.Epoch)
		}
	}
	xlabel := "EPOCH"
	stepX := func(s int64) float64 { return float64(s) / spe }
	if spe == 0 {
		xlabel = "STEP"
		stepX = func(s int64) float64 { return float64(s) }
	}
	var (
		trainLoss, trainTop1      []point
		valLoss, valTop1, valTop5 []point
		epochLoss, epochTop1      []point
		haveStepLines             bool
	)
	for _, r := range recs {
		switch r.Kind {
		case metrics.KindStep:
			haveStepLines = true
			x := stepX(r.Step)
			trainLoss = append(trainLoss, point{x, r.Loss})
			trainTop1 = append(trainTop1, point{x, 100 * r.Top1})
		case metrics.KindEpoch:
			x := float64(r.Epoch)
			if spe == 0 {
				x = float64(r.Step)
			}
			epochLoss = append(epochLoss, point{x, r.Loss})
			epochTop1 = append(epochTop1, point{x, 100 * r.Top1})
			if r.HasVal {
				valLoss = append(valLoss, point{x, r.ValLoss})
				valTop1 = append(valTop1, point{x, 100 * r.ValTop1})
				valTop5 = append(valTop5, point{x, 100 * r.ValTop5})
			}
		}
	}
	// Step lines show the curve inside epochs; a log without them (train.log_every 0,
	// or epochs shorter than it) still has the per-epoch means.
	trainMarkers := false
	if !haveStepLines {
		trainLoss, trainTop1, trainMarkers = epochLoss, epochTop1, true
	}
	loss = panel{title: "LOSS", xlabel: xlabel, series: []series{
		{"TRAIN", trainColor, trainLoss, trainMarkers},
		{"VAL", valColor, valLoss, true},
	}}
	acc = panel{title: "ACCURACY (%)", xlabel: xlabel, ycap: 100, series: []series{
		{"TRAIN TOP-1", trainColor, trainTop1, trainMarkers},
		{"VAL TOP-1", valColor, valTop1, true},
		{"VAL TOP-5", top5Color, valTop5, true},
	}}
	return loss, acc
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func hasData(p panel) bool {
	for _, s := range p.series {
		for _, pt := range s.pts {
			if finite(pt.x) && finite(pt.y) {
				return true
			}
		}
	}
	return false
}

// drawPanel lays out one panel inside area: title on top, y tick labels on the left,
// x tick labels and the axis name below, legend in the top-right corner of the plot.
func drawPanel(img *image.RGBA, area image.Rectangle, p panel) {
	xlo, xhi := 0.0, 0.0
	yhi := math.Inf(-1)
	for _, s := range p.series {
		for _, pt := range s.pts {
			if finite(pt.x) && finite(pt.y) {
				xhi = math.Max(xhi, pt.x)
				yhi = math.Max(yhi, pt.y)
			}
		}
	}
	ylo := p.ylo
	if math.IsInf(yhi, -1) || yhi <= ylo {
		yhi = ylo + 1
	}
	if xhi <= xlo {
		xhi = xlo + 1
	}
	xticks, xstep := ticks(xlo, xhi)
	xhi = math.Max(xhi, xticks[len(xticks)-1])
	yticks, ystep := ticks(ylo, yhi*1.02)
	yhi = yticks[len(yticks)-1]
	if p.ycap > 0 && yhi > p.ycap {
		yhi = p.ycap
		for len(yticks) > 1 && yticks[len(yticks)-1] > p.ycap {
			yticks = yticks[:len(yticks)-1]
		}
	}

	ylabels := make([]string, len(yticks))
	widest := 0
	for i, v := range yticks {
		ylabels[i] = label(v, ystep)
		widest = max(widest, textWidth(ylabels[i], scale))
	}
	plotR := image.Rect(area.Min.X+widest+24, area.Min.Y+charH+24, area.Max.X-24, area.Max.Y-2*charH-34)
	if plotR.Dx() < 20 || plotR.Dy() < 20 {
		return
	}
	px := func(x float64) int {
		return plotR.Min.X + int(math.Round((x-xlo)/(xhi-xlo)*float64(plotR.Dx()-1)))
	}
	py := func(y float64) int {
		return plotR.Max.Y - 1 - int(math.Round((y-ylo)/(yhi-ylo)*float64(plotR.Dy()-1)))
	}

	// Title, centred.
	text(img, (area.Min.X+area.Max.X-textWidth(p.title, scale))/2, area.Min.Y+10, p.title, scale, ink)

	// Grid and tick labels.
	for i, v := range yticks {
		y := py(v)
		dashedHLine(img, plotR.Min.X, plotR.Max.X-1, y, 4, 4, gridColor)
		line(img, plotR.Min.X-6, y, plotR.Min.X-1, y, 1, ink)
		text(img, plotR.Min.X-10-textWidth(ylabels[i], scale), y-charH/2, ylabels[i], scale, ink)
	}
	for _, v := range xticks {
		x := px(v)
		dashedVLine(img, x, plotR.Min.Y, plotR.Max.Y-1, 4, 4, gridColor)
		line(img, x, plotR.Max.Y, x, plotR.Max.Y+5, 1, ink)
		l := label(v, xstep)
		text(img, x-textWidth(l, scale)/2, plotR.Max.Y+10, l, scale, ink)
	}
	text(img, (plotR.Min.X+plotR.Max.X-textWidth(p.xlabel, scale))/2, plotR.Max.Y+charH+20, p.xlabel, scale, ink)

	// Frame.
	line(img, plotR.Min.X, plotR.Min.Y, plotR.Max.X-1, plotR.Min.Y, 1, ink)
	line(img, plotR.Min.X, plotR.Max.Y-1, plotR.Max.X-1, plotR.Max.Y-1, 1, ink)
	line(img, plotR.Min.X, plotR.Min.Y, plotR.Min.X, plotR.Max.Y-1, 1, ink)
	line(img, plotR.Max.X-1, plotR.Min.Y, plotR.Max.X-1, plotR.Max.Y-1, 1, ink)

	// Curves, clipped to the plot area; a non-finite value breaks the line.
	sub := img.SubImage(plotR).(*image.RGBA)
	for _, s := range p.series {
		prevOK := false
		var x0, y0 int
		for _, pt := range s.pts {
			if !finite(pt.x) || !finite(pt.y) {
				prevOK = false
				continue
			}
			x, y := px(pt.x), py(pt.y)
			if prevOK {
				line(sub, x0, y0, x, y, penW, s.color)
			}
			if s.markers {
				dot(sub, x, y, markerW, s.color)
			}
			x0, y0, prevOK = x, y, true
		}
	}

	drawLegend(img, plotR, p.series)
}

// drawLegend lists the series that have data, top-right inside the plot area.
func drawLegend(img *image.RGBA, plotR image.Rectangle, ss []series) {
	var shown []series
	widest := 0
	for _, s := range ss {
		for _, pt := range s.pts {
			if finite(pt.x) && finite(pt.y) {
				shown = append(shown, s)
				widest = max(widest, textWidth(s.label, scale))
				break
			}
		}
	}
	if len(shown) == 0 {
		return
	}
	const sample, pad, rowH = 24, 8, charH + 8
	w := pad + sample + 8 + widest + pad
	h := pad + len(shown)*rowH - 8 + pad
	// The corner that hides the fewest curve pixels: top-right suits a falling loss,
	// bottom-right a rising accuracy.
	corners := []image.Rectangle{
		image.Rect(plotR.Max.X-w-8, plotR.Min.Y+8, plotR.Max.X-8, plotR.Min.Y+8+h),
		image.Rect(plotR.Max.X-w-8, plotR.Max.Y-8-h, plotR.Max.X-8, plotR.Max.Y-8),
		image.Rect(plotR.Min.X+8, plotR.Min.Y+8, plotR.Min.X+8+w, plotR.Min.Y+8+h),
		image.Rect(plotR.Min.X+8, plotR.Max.Y-8-h, plotR.Min.X+8+w, plotR.Max.Y-8),
	}
	box, least := corners[0], -1
	for _, c := range corners {
		n := 0
		for y := c.Min.Y; y < c.Max.Y; y++ {
			for x := c.Min.X; x < c.Max.X; x++ {
				px := img.RGBAAt(x, y)
				for _, s := range shown {
					if px == s.color {
						n++
					}
				}
			}
		}
		if least < 0 || n < least {
			box, least = c, n
		}
	}
	fillRect(img, box, background)
	line(img, box.Min.X, box.Min.Y, box.Max.X-1, box.Min.Y, 1, gridColor)
	line(img, box.Min.X, box.Max.Y-1, box.Max.X-1, box.Max.Y-1, 1, gridColor)
	line(img, box.Min.X, box.Min.Y, box.Min.X, box.Max.Y-1, 1, gridColor)
	line(img, box.Max.X-1, box.Min.Y, box.Max.X-1, box.Max.Y-1, 1, gridColor)
	for i, s := range shown {
		y := box.Min.Y + pad + i*rowH
		line(img, box.Min.X+pad, y+charH/2, box.Min.X+pad+sample, y+charH/2, penW+1, s.color)
		text(img, box.Min.X+pad+sample+8, y, s.label, scale, ink)
	}
}

// ticks picks 3 to 7 round tick values (1, 2 or 5 times a power of ten) covering
// [lo, hi], starting at or below lo and ending at or above hi.
func ticks(lo, hi float64) ([]float64, float64) {
	raw := (hi - lo) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		step = m * mag
		if (hi-lo)/step <= 6 {
			break
		}
	}
	first := math.Floor(lo/step) * step
	var ts []float64
	for i := 0; ; i++ {
		v := first + float64(i)*step
		ts = append(ts, v)
		if v >= hi-step*1e-9 || i > 20 {
			break
		}
	}
	return ts, step
}

// label formats a tick value with just the decimals its step needs.
func label(v, step float64) string {
	dec := 0
	if step < 1 {
		dec = int(math.Ceil(-math.Log10(step) - 1e-9))
	}
	if math.Abs(v) < step*1e-9 {
		v = 0 // avoid "-0"
	}
	return strconv.FormatFloat(v, 'f', dec, 64)
}
