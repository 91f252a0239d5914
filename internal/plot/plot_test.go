package plot

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"alexnet/internal/metrics"

	"github.com/google/go-cmp/cmp"
)

// synthetic is a 12-epoch run of 50 steps per epoch: step lines every 10 steps with a
// noisy falling loss, epoch lines with validation, and one diverged (NaN) step.
func synthetic() []metrics.Record {
	var recs []metrics.Record
	const spe = 50
	for e := 1; e <= 12; e++ {
		for s := 10; s <= spe; s += 10 {
			step := int64((e-1)*spe + s)
			t := float64(step) / spe
			loss := 6.9*math.Exp(-t/4) + 0.3 + 0.1*math.Sin(float64(step))
			if step == 260 {
				loss = math.NaN()
			}
			recs = append(recs, metrics.Record{Kind: metrics.KindStep, Epoch: e, Step: step, LR: 0.01,
				Loss: loss, Top1: 0.8 * (1 - math.Exp(-t/3))})
		}
		t := float64(e)
		recs = append(recs, metrics.Record{Kind: metrics.KindEpoch, Epoch: e, Step: int64(e * spe), LR: 0.01,
			Loss: 6.9*math.Exp(-t/4) + 0.3, Top1: 0.8 * (1 - math.Exp(-t/3)),
			HasVal: true, ValLoss: 6.9*math.Exp(-t/5) + 0.6, ValTop1: 0.7 * (1 - math.Exp(-t/3)), ValTop5: 0.9 * (1 - math.Exp(-t/2))})
	}
	return recs
}

// countColor counts pixels of exactly c inside r.
func countColor(img image.Image, r image.Rectangle, c color.RGBA) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)).(color.RGBA) == c {
				n++
			}
		}
	}
	return n
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "curves.png")
	if err := WriteFile(path, synthetic(), Options{}); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("PLOT_KEEP") != "" { // for looking at the picture by eye
		b, _ := os.ReadFile(path)
		os.WriteFile(os.Getenv("PLOT_KEEP"), b, 0o644)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("folder holds %d files, want only the PNG (temporary file left?)", len(ents))
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 500 {
		t.Fatalf("size %v, want 1200x500", b)
	}
	left, right := image.Rect(0, 0, 600, 500), image.Rect(600, 0, 1200, 500)
	for _, c := range []struct {
		name  string
		r     image.Rectangle
		color color.RGBA
		min   int
	}{
		{"loss panel, text and frame", left, ink, 2000},
		{"loss panel, train curve", left, trainColor, 500},
		{"loss panel, val curve", left, valColor, 300},
		{"accuracy panel, text and frame", right, ink, 2000},
		{"accuracy panel, train top-1", right, trainColor, 500},
		{"accuracy panel, val top-1", right, valColor, 300},
		{"accuracy panel, val top-5", right, top5Color, 300},
	} {
		if n := countColor(img, c.r, c.color); n < c.min {
			t.Errorf("%s: %d pixels of %v, want at least %d", c.name, n, c.color, c.min)
		}
	}
	if n := countColor(img, left, top5Color); n != 0 {
		t.Errorf("loss panel has %d pixels of the top-5 colour", n)
	}
}

// Accuracy rises: in the right panel the train curve's pixels must lie higher (smaller
// y) on the right side than on the left. This catches a flipped y axis.
func TestCurveDirection(t *testing.T) {
	img, err := Render(synthetic(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	meanY := func(x0, x1 int) float64 {
		sum, n := 0, 0
		for y := 0; y < 500; y++ {
			for x := x0; x < x1; x++ {
				if img.RGBAAt(x, y) == trainColor {
					sum += y
					n++
				}
			}
		}
		if n == 0 {
			t.Fatalf("no train pixels in columns %d-%d", x0, x1)
		}
		return float64(sum) / float64(n)
	}
	// The accuracy plot area spans about x 680..1176; the legend (bottom-right here) has
	// a swatch of the train colour near x 1000..1022, so sample to its right.
	early, late := meanY(690, 760), meanY(1040, 1120)
	if late >= early {
		t.Errorf("train top-1 pixels: mean y %.0f early, %.0f late; accuracy should rise (smaller y)", early, late)
	}
	// Loss falls: the reverse in the left panel.
	earlyL, lateL := meanY(100, 160), meanY(400, 500)
	if lateL <= earlyL {
		t.Errorf("train loss pixels: mean y %.0f early, %.0f late; loss should fall", earlyL, lateL)
	}
}

func TestOnlyStepLines(t *testing.T) {
	// Before the first epoch ends the x axis is in steps; still a valid picture.
	recs := synthetic()[:3]
	img, err := Render(recs, Options{Width: 800, Height: 300})
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 800 || b.Dy() != 300 {
		t.Errorf("size %v", b)
	}
	if countColor(img, img.Bounds(), trainColor) == 0 {
		t.Error("no train curve")
	}
}

func TestOnlyEpochLines(t *testing.T) {
	var recs []metrics.Record
	for _, r := range synthetic() {
		if r.Kind == metrics.KindEpoch {
			recs = append(recs, r)
		}
	}
	img, err := Render(recs[:1], Options{})
	if err != nil {
		t.Fatal(err)
	}
	// One epoch: single points, drawn as markers.
	if n := countColor(img, img.Bounds(), valColor); n < 2*markerW*markerW {
		t.Errorf("%d val pixels for two markers", n)
	}
}

func TestErrors(t *testing.T) {
	if _, err := Render(nil, Options{}); err == nil {
		t.Error("empty records rendered")
	}
	nan := []metrics.Record{{Kind: metrics.KindStep, Step: 1, Loss: math.NaN(), Top1: math.NaN()}}
	if _, err := Render(nan, Options{}); err == nil {
		t.Error("all-NaN records rendered")
	}
	if _, err := Render(synthetic(), Options{Width: 50, Height: 50}); err == nil {
		t.Error("tiny image rendered")
	}
	if err := WriteFile(filepath.Join(t.TempDir(), "no", "dir", "x.png"), synthetic(), Options{}); err == nil {
		t.Error("WriteFile into a missing folder succeeded")
	}
}

func TestTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		want   []float64
		labels []string
	}{
		{0, 1, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}, []string{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}},
		{0, 7.1, []float64{0, 2, 4, 6, 8}, []string{"0", "2", "4", "6", "8"}},
		{0, 90, []float64{0, 20, 40, 60, 80, 100}, nil},
		{0, 0.03, []float64{0, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03}, []string{"0.000", "0.005", "0.010", "0.015", "0.020", "0.025", "0.030"}},
		{0, 12, []float64{0, 2, 4, 6, 8, 10, 12}, nil},
	} {
		got, step := ticks(c.lo, c.hi)
		if !cmp.Equal(got, c.want, cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-9 })) {
			t.Errorf("ticks(%g, %g) = %v, want %v", c.lo, c.hi, got, c.want)
		}
		if c.labels != nil {
			var ls []string
			for _, v := range got {
				ls = append(ls, label(v, step))
			}
			if !cmp.Equal(ls, c.labels) {
				t.Errorf("labels for (%g, %g) = %v, want %v", c.lo, c.hi, ls, c.labels)
			}
		}
	}
}

// Each glyph is distinct (a copy-paste slip would draw two characters the same) and fits
// in 5 columns; every character the plot writes has a glyph of its own.
func TestFont(t *testing.T) {
	seen := map[[7]uint8]rune{}
	for r, g := range font {
		for _, row := range g {
			if row >= 1<<glyphW {
				t.Errorf("%q: row %#x is wider than %d columns", r, row, glyphW)
			}
		}
		if other, dup := seen[g]; dup {
			t.Errorf("%q and %q have the same glyph", r, other)
		}
		seen[g] = r
	}
	for _, s := range []string{"LOSS", "ACCURACY (%)", "EPOCH", "STEP", "TRAIN TOP-1", "VAL TOP-5", "0123456789.-"} {
		for _, r := range s {
			if _, ok := font[r]; !ok {
				t.Errorf("no glyph for %q in %q", r, s)
			}
		}
	}
	if glyph('a') != glyph('A') || glyph('\u00e9') != glyph('?') {
		t.Error("lowercase or fallback mapping broken")
	}
	if textWidth("AB", 2) != (2*advance-1)*2 || textWidth("", 2) != 0 {
		t.Error("textWidth")
	}
}

// Lines in every direction reach their end point and touch only pixels inside the
// bounding box of their ends (a broken Bresenham loops forever or overshoots).
func TestLine(t *testing.T) {
	for _, end := range [][4]int{{5, 5, 45, 12}, {45, 12, 5, 5}, {10, 40, 12, 2}, {3, 3, 3, 30}, {30, 7, 2, 7}, {9, 9, 9, 9}, {0, 49, 49, 0}} {
		img := image.NewRGBA(image.Rect(0, 0, 50, 50))
		c := color.RGBA{255, 0, 0, 255}
		line(img, end[0], end[1], end[2], end[3], 1, c)
		box := image.Rect(min(end[0], end[2]), min(end[1], end[3]), max(end[0], end[2])+1, max(end[1], end[3])+1)
		if img.RGBAAt(end[0], end[1]) != c || img.RGBAAt(end[2], end[3]) != c {
			t.Errorf("line %v misses an end point", end)
		}
		total, inside := countColor(img, img.Bounds(), c), countColor(img, box, c)
		if total != inside {
			t.Errorf("line %v: %d of %d pixels outside its box", end, total-inside, total)
		}
		// A Bresenham line has one pixel per step along its longer axis.
		if want := max(box.Dx(), box.Dy()); total != want {
			t.Errorf("line %v: %d pixels, want %d", end, total, want)
		}
	}
}
