package model

import (
	"strings"
	"testing"

	"alexnet/configs"
	"alexnet/internal/config"
)

func loadBuiltin(t *testing.T, name string, sets ...string) *config.Config {
	t.Helper()
	text, err := configs.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(name, text, sets)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The parameter counts the issue and the literature give for each network.
func TestParamCounts(t *testing.T) {
	for _, tc := range []struct {
		config string
		params int
		out    string
	}{
		{"alexnet", 60965224, "256x6x6"},
		{"alexnet-1gpu", 62378344, "256x6x6"},
		{"alexnet-owt", 61100840, "256x6x6"},
		{"fashion-mnist", 0, "64x2x2"},
	} {
		c := loadBuiltin(t, tc.config)
		infos, err := Plan(c.Model)
		if err != nil {
			t.Fatalf("%s: %v", tc.config, err)
		}
		if got := TotalParams(infos); tc.params != 0 && got != tc.params {
			t.Errorf("%s: %d parameters, want %d", tc.config, got, tc.params)
		}
		for _, l := range infos {
			if l.Type == config.Flatten {
				if got := strings.TrimPrefix(l.In.String(), "1x"); got != tc.out {
					t.Errorf("%s: flatten input %s, want %s", tc.config, got, tc.out)
				}
			}
		}
	}
}

func TestPaperNetShapesAndFLOPs(t *testing.T) {
	c := loadBuiltin(t, "alexnet")
	infos, err := Plan(c.Model)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"conv1": "1x96x55x55", "pool1": "1x96x27x27", "conv2": "1x256x27x27",
		"pool2": "1x256x13x13", "conv5": "1x256x13x13", "pool5": "1x256x6x6", "fc8": "1x1000x1x1"}
	var flops int64
	for _, l := range infos {
		if w, ok := want[l.Name]; ok && l.Out.String() != w {
			t.Errorf("%s: output %s, want %s", l.Name, l.Out, w)
		}
		flops += l.FLOPs
	}
	// About 1.45 GFLOP per image forward (the figure: 2 x 0.72 G multiply-adds).
	if flops < 1.40e9 || flops > 1.50e9 {
		t.Errorf("forward FLOPs %d, want about 1.45e9", flops)
	}
}

func TestPlanErrorsNameTheLayer(t *testing.T) {
	for _, tc := range []struct {
		sets []string
		want string
	}{
		{[]string{"model.input.height=200", "model.input.width=200"}, "layer fc6: expects 9216 inputs, pool5 gives 6400"},
	} {
		text, _ := configs.Get("alexnet")
		c, err := config.Load("alexnet.yaml", text, tc.sets)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Plan(c.Model)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Plan with %v: error %v, want %q", tc.sets, err, tc.want)
		}
	}
}

func TestGradPlanReusesBuffers(t *testing.T) {
	c := loadBuiltin(t, "alexnet")
	infos, _ := Plan(c.Model)
	ids, sizes := gradPlan(whole(infos), 0)
	for i := range infos {
		dy := 0
		if i+1 < len(infos) {
			dy = ids[i+1]
		}
		if ids[i] >= 0 && ids[i] == dy && infos[i].Type != config.Flatten {
			t.Fatalf("layer %s writes dx into its own dy", infos[i].Name)
		}
		if ids[i] >= 0 && sizes[ids[i]] != infos[i].In.PerImage() {
			t.Fatalf("layer %s: dx buffer of %d floats for an input of %d", infos[i].Name, sizes[ids[i]], infos[i].In.PerImage())
		}
	}
	if len(sizes) >= len(infos) {
		t.Errorf("%d gradient buffers for %d layers: no reuse", len(sizes), len(infos))
	}
}

func TestSummaryTotals(t *testing.T) {
	c := loadBuiltin(t, "alexnet")
	s, err := Summarize("alexnet", c.Model, 128)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "60,965,224 parameters") {
		t.Errorf("summary lacks the parameter total:\n%s", b.String())
	}
	if s.Totals.ForwardBytes != 128*s.Totals.ForwardBytes1 || s.Totals.ParamBytes != 4*60965224 {
		t.Errorf("totals inconsistent: %+v", s.Totals)
	}
	if s.Totals.AllReduceBytes != 4*60965224 || !strings.Contains(b.String(), "232.56 MiB of gradients all-reduced per step") {
		t.Errorf("data parallelism's all-reduce: %d bytes per step, want every parameter's gradient", s.Totals.AllReduceBytes)
	}
}
