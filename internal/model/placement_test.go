package model_test

import (
	"bytes"
	"strings"
	"testing"

	"alexnet/configs"
	"alexnet/internal/config"
	"alexnet/internal/model"
)

func builtin(t *testing.T, name string) *config.Config {
	t.Helper()
	text, err := configs.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(name, text, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The paper's network splits as section 3.2 describes, and what crosses between
// the GPUs is what its shapes give by hand.
func TestSplitPaperNet(t *testing.T) {
	c := builtin(t, "alexnet")
	infos, err := model.Plan(c.Model)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := model.Place(infos, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]model.Mode{
		"conv1": model.Gather, "norm1": model.Halo, "pool1": model.PerTower,
		"conv2": model.PerTower, "norm2": model.Halo, "conv3": model.Gather,
		"conv4": model.PerTower, "conv5": model.PerTower, "flatten": model.PerTower,
		"fc6": model.Gather, "drop6": model.PerTower, "fc7": model.Gather, "fc8": model.OnLead,
	}
	cross := map[string][2]int{}
	for _, l := range plan {
		if m, ok := want[l.Name]; ok && l.Mode != m {
			t.Errorf("%s: mode %s, want %s", l.Name, l.Mode, m)
		}
		if l.CrossForward+l.CrossBackward > 0 {
			cross[l.Name] = [2]int{l.CrossForward, l.CrossBackward}
		}
	}
	// Floats per image, both directions together. conv1 reads the image, which
	// both towers have; norm1 and norm2 (size 5) exchange a halo of 4 channels
	// forward and 2 backward each way; conv3 reads the other tower's 128 maps of
	// 13x13 and returns their gradient; fc6 the other's 4608 features, fc7 the
	// other's 2048; fc8 runs on the first GPU and reads (returns) the second's 2048.
	wantCross := map[string][2]int{
		"norm1": {2 * 4 * 55 * 55, 2 * 2 * 55 * 55},
		"norm2": {2 * 4 * 27 * 27, 2 * 2 * 27 * 27},
		"conv3": {2 * 128 * 13 * 13, 2 * 128 * 13 * 13},
		"fc6":   {2 * 4608, 2 * 4608},
		"fc7":   {2 * 2048, 2 * 2048},
		"fc8":   {2048, 2048},
	}
	if len(cross) != len(wantCross) {
		t.Errorf("layers crossing: %v, want %v", cross, wantCross)
	}
	for name, w := range wantCross {
		if cross[name] != w {
			t.Errorf("%s: crosses %v floats per image, want %v", name, cross[name], w)
		}
	}

	s, err := model.SummarizePlacement("alexnet", c.Model, config.Parallel{Mode: "model", Devices: []string{"0", "1"}}, 128)
	if err != nil {
		t.Fatal(err)
	}
	// fc8 (4096*1000 + 1000) lives on the first GPU; every other layer is halved.
	fc8 := 4096*1000 + 1000
	rest := 60965224 - fc8
	if s.Towers[0].Params != rest/2+fc8 || s.Towers[1].Params != rest/2 {
		t.Errorf("parameters per GPU %d and %d, want %d and %d", s.Towers[0].Params, s.Towers[1].Params, rest/2+fc8, rest/2)
	}
	var buf bytes.Buffer
	if err := s.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", buf.String())
	for _, line := range []string{"conv3", "gather", "on-lead", "device 0 (tower 0): 32,531,112 parameters"} {
		if !strings.Contains(buf.String(), line) {
			t.Errorf("summary lacks %q", line)
		}
	}
}

// A network the rules cannot divide is refused with the layer named.
func TestSplitRefusesWithTheLayer(t *testing.T) {
	for _, tc := range []struct {
		name, layers, want string
	}{
		{"groups 3", `
    - {name: conv1, type: conv, out: 6, kernel: 3}
    - {name: conv2, type: conv, out: 12, kernel: 3, groups: 3}`,
			"layer conv2: cannot split over two towers: groups 3: each tower must hold whole groups, so groups must be 1 or even"},
		{"odd channels", `
    - {name: conv1, type: conv, out: 7, kernel: 3}`,
			"layer conv1: cannot split over two towers: its 7 output channels do not halve"},
		{"odd hidden units", `
    - {name: conv1, type: conv, out: 8, kernel: 3}
    - {name: flatten, type: flatten}
    - {name: fc2, type: linear, out: 15}`,
			"layer fc2: cannot split over two towers: its 15 outputs do not halve (only the last layer, the classifier, runs whole)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := `
model:
  input: {channels: 3, height: 8, width: 8}
  classes: 4
  layers:` + tc.layers + `
    - {name: flat, type: flatten}
    - {name: out, type: linear, out: 4}
data: {format: synthetic}
train: {batch_size: 2, epochs: 1, lr: 0.01}
`
			if tc.name == "odd hidden units" {
				text = strings.Replace(text, "    - {name: flat, type: flatten}\n", "", 1)
			}
			c, err := config.Load(tc.name, []byte(text), nil)
			if err != nil {
				t.Fatal(err)
			}
			infos, err := model.Plan(c.Model)
			if err != nil {
				t.Fatal(err)
			}
			_, err = model.Place(infos, 2, 1)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v\nwant %s", err, tc.want)
			}
			_, err = model.NewOn(c.Model, cpuPair.Devices, openKind(t, "ref"), 2, false)
			if err == nil || err.Error() != tc.want {
				t.Errorf("New: error %v\nwant %s", err, tc.want)
			}
		})
	}
}
