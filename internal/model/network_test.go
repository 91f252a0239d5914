package model_test

import (
	"errors"
	"math"
	"os"
	"strings"
	"testing"

	"alexnet/internal/backend"
	"alexnet/internal/config"
	"alexnet/internal/model"
	"alexnet/internal/safetensors"

	_ "alexnet/internal/cudnn"
	_ "alexnet/internal/onednn"
	_ "alexnet/internal/ref"
)

// maxDiff is the largest |a-b| relative to the largest |want| (at least 1e-3, so
// tensors of tiny values are compared absolutely).
func maxDiff(got, want []float32) float64 {
	var d, scale float64 = 0, 1e-3
	for i := range want {
		d = math.Max(d, math.Abs(float64(got[i])-float64(want[i])))
		scale = math.Max(scale, math.Abs(float64(want[i])))
	}
	return d / scale
}

// TestTinyNetAgainstPyTorch runs the fixture net of scripts/make_fixtures.py on every
// backend available here: logits, loss, every parameter gradient, and the weights
// after three SGD steps in the paper's form.
func TestTinyNetAgainstPyTorch(t *testing.T) {
	text, err := os.ReadFile("testdata/tinynet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("tinynet.yaml", text, nil)
	if err != nil {
		t.Fatal(err)
	}
	fx, err := safetensors.ReadFile("testdata/tinynet.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	get := func(name string) safetensors.Tensor {
		tt, ok := fx.Get(name)
		if !ok {
			t.Fatalf("fixture lacks %s", name)
		}
		return tt
	}
	const tol = 2e-4
	for _, name := range []string{"ref", "cpu", "cuda"} {
		t.Run(name, func(t *testing.T) {
			b, err := backend.Open(name, backend.Options{})
			if errors.Is(err, backend.ErrUnavailable) {
				t.Skipf("%s: %v", name, err)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			net, err := model.New(cfg.Model, b, 4)
			if err != nil {
				t.Fatal(err)
			}
			defer net.Close()
			var init []safetensors.Tensor
			for _, p := range net.Params {
				tt := get("init." + p.Name)
				tt.Name = p.Name
				init = append(init, tt)
			}
			if err := net.LoadWeights(init); err != nil {
				t.Fatal(err)
			}
			labels := make([]int32, 4)
			for i, v := range get("labels").Data {
				labels[i] = int32(v)
			}
			if err := net.SetInput(get("x").Data, 4); err != nil {
				t.Fatal(err)
			}
			check := func(what string, got, want []float32) {
				t.Helper()
				if len(got) != len(want) {
					t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
				}
				d := maxDiff(got, want)
				t.Logf("%-22s max diff %.2e", what, d)
				if d > tol {
					t.Errorf("%s: max diff %.3e > %.0e", what, d, tol)
				}
			}
			if err := net.Forward(false, nil); err != nil {
				t.Fatal(err)
			}
			logits, _ := net.Logits()
			check("eval logits", logits, get("eval_logits").Data)

			losses := get("losses").Data
			for step := int64(0); step < 3; step++ {
				seed := func(layer int) uint64 { return backend.DropoutSeed(42, step, layer) }
				if err := net.Forward(true, seed); err != nil {
					t.Fatal(err)
				}
				if err := net.Loss(labels); err != nil {
					t.Fatal(err)
				}
				sc, err := net.TakeScores()
				if err != nil || sc.Images != len(labels) {
					t.Fatalf("scores %+v, %v", sc, err)
				}
				loss := sc.MeanLoss()
				check("loss step "+string(rune('0'+step)), []float32{float32(loss)}, []float32{losses[step]})
				if err := net.ZeroGrad(); err != nil {
					t.Fatal(err)
				}
				if err := net.Backward(); err != nil {
					t.Fatal(err)
				}
				if step == 0 {
					logits, _ := net.Logits()
					check("train logits", logits, get("logits").Data)
					grads, err := net.Gradients()
					if err != nil {
						t.Fatal(err)
					}
					for _, g := range grads {
						check("grad "+g.Name, g.Data, get("grad."+g.Name).Data)
					}
				}
				if err := net.Step(0.01, 0.9, 0.0005); err != nil {
					t.Fatal(err)
				}
			}
			ws, err := net.Weights()
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range ws {
				// Compare the change, not the weights: updates are small next to w.
				in := get("init." + w.Name).Data
				delta := make([]float32, len(w.Data))
				for i := range delta {
					delta[i] = w.Data[i] - in[i]
				}
				check("step3 delta "+w.Name, delta, get("delta3."+w.Name).Data)
			}
		})
	}
}

func TestLoadWeightsNamesTheMismatch(t *testing.T) {
	text, _ := os.ReadFile("testdata/tinynet.yaml")
	cfg, err := config.Load("tinynet.yaml", text, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := backend.Open("ref", backend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	net, err := model.New(cfg.Model, b, 2)
	if err != nil {
		t.Fatal(err)
	}
	ws, _ := net.Weights()
	ws[0].Shape = []int{8, 3, 3, 3}
	ws[0].Data = ws[0].Data[:8*27]
	err = net.LoadWeights(ws)
	if err == nil || !strings.Contains(err.Error(), "conv1.weight has shape [8 3 3 3], the model needs [8 3 5 5]") {
		t.Errorf("error %v", err)
	}
}
