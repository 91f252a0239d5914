package train

import (
	"context"
	"strings"
	"testing"

	"alexnet/internal/backend"
	"alexnet/internal/config"
	"alexnet/internal/dataset"
	"alexnet/internal/model"
	_ "alexnet/internal/ref"
)

func TestSameClasses(t *testing.T) {
	abc := []string{"ant", "bee", "cat"}
	for _, c := range []struct {
		b   []string
		say string // "" for agreement
	}{
		{[]string{"ant", "bee", "cat"}, ""},
		{nil, ""}, // a source without names
		{[]string{"ant", "cat"}, `only in the train split: ["bee"]`},
		{[]string{"ant", "bee", "cat", "lost+found"}, `"lost+found" is a folder of the file system`},
		{[]string{"bee", "ant", "cat"}, `another order (label 0 is "ant" in one, "bee" in the other)`},
	} {
		err := SameClasses("train split", abc, "val split", c.b)
		if (c.say == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.say)) {
			t.Errorf("%q: %v, want %q", c.b, err, c.say)
		}
	}
}

// A label past the network's classes is an error naming the image, not an index
// out of range.
func TestTenCropLabelPastClasses(t *testing.T) {
	b, err := backend.Open("ref", backend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cfg := config.Model{Input: config.Input{Channels: 1, Height: 6, Width: 6}, Classes: 3, Layers: []config.Layer{
		{Name: "flatten", Type: config.Flatten}, {Name: "fc", Type: config.Linear, Out: 3, LRMult: []float64{1, 1}, DecayMult: []float64{1, 1}},
	}}
	net, err := model.NewInference(cfg, b, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	src, err := dataset.NewSynthetic(20, 1, 8, 8, 9, 1) // labels up to 8, the network knows 3
	if err != nil {
		t.Fatal(err)
	}
	_, err = EvaluateTenCrop(context.Background(), net, src, dataset.Transform{Crop: 6})
	if err == nil || !strings.Contains(err.Error(), "past the network's 3 classes") {
		t.Errorf("ten-crop with labels past the classes: %v", err)
	}
}
