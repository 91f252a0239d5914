package torchload_test

import (
	"math"
	"path/filepath"
	"testing"

	"alexnet/internal/dataset"
	"alexnet/internal/safetensors"
)

// TestEvalTransformMatchesTorchvision checks the project's evaluation transform
// against torchvision's
//
//	Compose([Resize(256), CenterCrop(224), ToTensor(), Normalize(mean, std)])
//
// on a PIL image, which is what torchvision's pretrained AlexNet was evaluated
// with. The fixture (scripts/make_torchvision_fixtures.py) keeps every 7th row
// and column of each 3x224x224 output, the per-channel sums of all of it, and
// the per-channel sums of the grey levels (integers, so a single pixel one
// level off anywhere in the crop shows).
// Images: 256x256 (no resize), 300x200 (enlarged to 384x256) and 448x320
// (shrunk to 358x256, where PIL's antialiasing filter matters).
//
// dataset's resize claims PIL's fixed-point arithmetic, so the pixels should be
// identical and only float32 rounding of the normalisation differs (~1e-6).
// One grey level off is 1/255/0.225 = 0.0174 after normalisation; the tolerance
// sits well below that.
func TestEvalTransformMatchesTorchvision(t *testing.T) {
	want, err := safetensors.ReadFile(filepath.Join("testdata", "transform_expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	tf := dataset.Transform{Resize: 256, Crop: 224, Mean: dataset.ImageNetMean, Std: dataset.ImageNetStd}
	const (
		tolValue = 1e-4
		tolSum   = 0.05 // float32 rounding of 50176 values; biased, so ~0.01 is usual
	)
	for _, name := range []string{"img_256x256", "img_300x200", "img_448x320"} {
		t.Run(name, func(t *testing.T) {
			img, err := dataset.DecodeFile(filepath.Join("testdata", name+".png"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := tf.Apply(img, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got.C != 3 || got.H != 224 || got.W != 224 {
				t.Fatalf("output %dx%dx%d, want 3x224x224", got.C, got.H, got.W)
			}
			sub, ok1 := want.Get(name + ".sub7")
			sums, ok2 := want.Get(name + ".sum")
			levels, ok3 := want.Get(name + ".levelsum")
			if !ok1 || !ok2 || !ok3 {
				t.Fatalf("fixture lacks %s.sub7, .sum or .levelsum", name)
			}
			// Every 7th row and column: 32x32 per channel.
			worst, wc, wy, wx := 0.0, 0, 0, 0
			bad := 0
			for c := 0; c < 3; c++ {
				for i := 0; i < 32; i++ {
					for j := 0; j < 32; j++ {
						y, x := 7*i, 7*j
						g := got.Data[(c*224+y)*224+x]
						w := sub.Data[(c*32+i)*32+j]
						d := math.Abs(float64(g - w))
						if d > tolValue {
							bad++
						}
						if d > worst {
							worst, wc, wy, wx = d, c, y, x
						}
					}
				}
			}
			t.Logf("largest difference %.3g at channel %d, row %d, column %d (%d of 3072 sampled values over %g)",
				worst, wc, wy, wx, bad, tolValue)
			if bad > 0 {
				t.Errorf("%d sampled values differ by more than %g; largest %.4g (%.2f grey levels) at channel %d, row %d, column %d",
					bad, tolValue, worst, worst*255*float64(dataset.ImageNetStd[wc]), wc, wy, wx)
			}
			for c := 0; c < 3; c++ {
				var s float64
				for _, v := range got.Data[c*224*224 : (c+1)*224*224] {
					s += float64(v)
				}
				ws := float64(sums.Data[c]) + float64(sums.Data[3+c]) // high + low parts
				d := math.Abs(s - ws)
				t.Logf("channel %d sum %.6f, torchvision %.6f, difference %.3g", c, s, ws, d)
				if d > tolSum {
					t.Errorf("channel %d: sum %.6f, torchvision %.6f (difference %.4g)", c, s, ws, d)
				}
				// Undo the normalisation to get the grey levels back: exact, as the
				// float error (~1e-6) is far below half a level.
				var lv int64
				mean, std := float64(dataset.ImageNetMean[c]), float64(dataset.ImageNetStd[c])
				for _, v := range got.Data[c*224*224 : (c+1)*224*224] {
					lv += int64(math.Round((float64(v)*std + mean) * 255))
				}
				if wl := int64(levels.Data[c]); lv != wl {
					t.Errorf("channel %d: grey levels sum to %d, torchvision's to %d (difference %d)", c, lv, wl, lv-wl)
				}
			}
		})
	}
}
