package filters

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"alexnet/internal/safetensors"
)

func randomKernels(outC, inC, k int, seed int64) safetensors.Tensor {
	r := rand.New(rand.NewSource(seed))
	data := make([]float32, outC*inC*k*k)
	for i := range data {
		data[i] = float32(r.NormFloat64() * 0.01)
	}
	return safetensors.Tensor{Name: "conv1.weight", Shape: []int{outC, inC, k, k}, Data: data}
}

func TestGeometry(t *testing.T) {
	cases := []struct {
		outC, towers, scale int
		cols, rows, w, h    int
	}{
		// The paper: 96 kernels, 48 per GPU in 3 rows of 16, at 3x.
		// Width 16*33 + 17 borders; height 2 bands of (3*33 + 4) plus the gap.
		{96, 2, 3, 16, 3, 16*33 + 17, 2*(3*33+4) + BandGap},
		// torchvision's 64 kernels, one band of 4 rows of 16, unscaled.
		{64, 1, 1, 16, 4, 16*11 + 17, 4*11 + 5},
		// Fewer kernels than a row.
		{6, 2, 2, 3, 1, 3*22 + 4, 2*(22+2) + BandGap},
	}
	for _, c := range cases {
		img, err := Render(randomKernels(c.outC, 3, 11, 1), c.towers, c.scale)
		if err != nil {
			t.Fatal(err)
		}
		b := img.Bounds()
		if b.Dx() != c.w || b.Dy() != c.h {
			t.Errorf("%d kernels, %d towers, scale %d: %dx%d picture, want %dx%d", c.outC, c.towers, c.scale, b.Dx(), b.Dy(), c.w, c.h)
		}
		g, _ := Layout(c.outC, 11, 11, c.towers, c.scale)
		if g.Cols != c.cols || g.RowsPerBand != c.rows {
			t.Errorf("%d kernels, %d towers: %d columns x %d rows per band, want %d x %d", c.outC, c.towers, g.Cols, g.RowsPerBand, c.cols, c.rows)
		}
		// The frame, the corners and the gap between the bands are background.
		bg := []image.Point{{0, 0}, {c.w - 1, c.h - 1}, {c.w / 2, 0}, {0, c.h / 2}}
		if c.towers == 2 {
			bg = append(bg, image.Point{c.w / 2, g.BandH + BandGap/2})
		}
		for _, p := range bg {
			if got := img.RGBAAt(p.X, p.Y); got != Background {
				t.Errorf("%d kernels: pixel %v is %v, want background", c.outC, p, got)
			}
		}
	}
}

// TestKnownKernel draws kernels whose values are known and reads the pixels back.
func TestKnownKernel(t *testing.T) {
	const k, scale = 3, 2
	w := randomKernels(8, 3, k, 2)
	// Kernel 5 (tower 2, first in its band with 4 per tower): red channel
	// ramps 0..8, green is -1, blue is 8, so the range is [-1, 8].
	kern := w.Data[5*3*k*k : 6*3*k*k]
	for i := 0; i < k*k; i++ {
		kern[i] = float32(i)
		kern[k*k+i] = -1
		kern[2*k*k+i] = 8
	}
	img, err := Render(w, 2, scale)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := Layout(8, k, k, 2, scale)
	// Tower 2, slot 1 of its band (kernel 5 = 4 + 1): column 1, row 0.
	x0 := Border + 1*(g.CellW+Border)
	y0 := g.BandH + BandGap + Border
	for y := 0; y < k; y++ {
		for x := 0; x < k; x++ {
			red := uint8(math.Round(float64(y*k+x+1) / 9 * 255))
			want := color.RGBA{red, 0, 255, 255}
			for d := 0; d < scale*scale; d++ { // every pixel of the upscaled block
				px, py := x0+x*scale+d%scale, y0+y*scale+d/scale
				if got := img.RGBAAt(px, py); got != want {
					t.Fatalf("kernel 5 weight (%d,%d) pixel (%d,%d): %v, want %v", y, x, px, py, got, want)
				}
			}
		}
	}
	// The border column right of kernel 5 is background.
	if got := img.RGBAAt(x0+g.CellW, y0); got != Background {
		t.Errorf("border after kernel 5: %v", got)
	}
}

func TestGreyKernelsAndEdgeValues(t *testing.T) {
	w := randomKernels(4, 1, 5, 3)
	w.Data[0] = float32(math.NaN())  // kernel 0: a NaN, drawn as its minimum
	for i := 2 * 25; i < 3*25; i++ { // kernel 2: constant, drawn mid-grey
		w.Data[i] = 0.5
	}
	img, err := Render(w, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := Layout(4, 5, 5, 1, 1)
	for k := 0; k < 4; k++ {
		x0 := Border + k*(g.CellW+Border)
		for y := 0; y < 5; y++ {
			for x := 0; x < 5; x++ {
				p := img.RGBAAt(x0+x, Border+y)
				if p.R != p.G || p.G != p.B {
					t.Fatalf("grey kernel %d pixel (%d,%d) is %v, not grey", k, y, x, p)
				}
				if k == 2 && p.R != 128 {
					t.Errorf("constant kernel drawn %d, want 128", p.R)
				}
			}
		}
	}
	if p := img.RGBAAt(Border, Border); p.R != 0 {
		t.Errorf("NaN weight drawn %d, want 0", p.R)
	}
	// Each ordinary kernel spans the whole range.
	lo, hi := uint8(255), uint8(0)
	for y := 0; y < 5; y++ {
		for x := 0; x < 5; x++ {
			v := img.RGBAAt(Border+g.CellW+Border+x, Border+y).R
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if lo != 0 || hi != 255 {
		t.Errorf("kernel 1 spans %d..%d, want 0..255", lo, hi)
	}
}

func TestRenderErrors(t *testing.T) {
	cases := []struct {
		w             safetensors.Tensor
		towers, scale int
		want          string
	}{
		{randomKernels(96, 3, 11, 1), 5, 1, "do not split into 5 towers"},
		{randomKernels(96, 3, 11, 1), 0, 1, "do not split into 0 towers"},
		{randomKernels(96, 3, 11, 1), 2, 0, "scale 0"},
		{randomKernels(8, 48, 3, 1), 1, 1, "48 input channels"},
		{safetensors.Tensor{Name: "fc6.weight", Shape: []int{4096, 9216}}, 1, 1, "want [OutC, 3 or 1, KH, KW]"},
		{safetensors.Tensor{Name: "x", Shape: []int{2, 3, 2, 2}, Data: make([]float32, 5)}, 1, 1, "but 5 values"},
		{randomKernels(96, 3, 11, 1), 1, 4000, "too large"},
	}
	for _, c := range cases {
		_, err := Render(c.w, c.towers, c.scale)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Render(%v, %d, %d): error %v, want one containing %q", c.w.Shape, c.towers, c.scale, err, c.want)
		}
	}
}

func TestWritePNG(t *testing.T) {
	img, err := Render(randomKernels(96, 3, 11, 4), 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "conv1.png")
	if err := WritePNG(path, img); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	back, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if back.Bounds() != img.Bounds() {
		t.Fatalf("read back %v, wrote %v", back.Bounds(), img.Bounds())
	}
	for y := 0; y < img.Bounds().Dy(); y += 7 {
		for x := 0; x < img.Bounds().Dx(); x += 5 {
			r1, g1, b1, _ := back.At(x, y).RGBA()
			r2, g2, b2, _ := img.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 {
				t.Fatalf("pixel (%d,%d) read back differs", x, y)
			}
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("folder holds %d files, want only conv1.png (temporary file left?)", len(entries))
	}
	if err := WritePNG(filepath.Join(dir, "missing", "x.png"), img); err == nil {
		t.Error("writing into a missing folder: no error")
	}
	// Optional: FILTERS_PNG=/tmp/x.png go test ./internal/filters writes a picture to look at.
	if out := os.Getenv("FILTERS_PNG"); out != "" {
		if err := WritePNG(out, img); err != nil {
			t.Fatal(err)
		}
	}
}
