package config_test

import (
	"strings"
	"testing"

	"alexnet/configs"
	"alexnet/internal/config"
)

func TestBuiltinConfigsLoad(t *testing.T) {
	for _, name := range configs.Names() {
		text, err := configs.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(name, text, nil)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		// A config rendered back to YAML loads to the same config (checkpoints rely on it).
		y, err := c.YAML()
		if err != nil {
			t.Fatal(err)
		}
		c2, err := config.Load(name+" (round trip)", y, nil)
		if err != nil {
			t.Fatalf("%s round trip: %v\n%s", name, err, y)
		}
		y2, _ := c2.YAML()
		if string(y) != string(y2) {
			t.Errorf("%s: YAML round trip differs", name)
		}
	}
}

func TestSetOverrides(t *testing.T) {
	text, _ := configs.Get("alexnet")
	c, err := config.Load("alexnet.yaml", text, []string{"train.lr=0.1", "train.batch_size=7", "data.root=/tmp/x"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Train.LR != 0.1 || c.Train.BatchSize != 7 || c.Data.Root != "/tmp/x" {
		t.Errorf("overrides not applied: %+v %+v", c.Train, c.Data.Root)
	}
	if c.Train.Momentum != 0.9 || c.Train.WeightDecay != 0.0005 {
		t.Errorf("paper's momentum and decay lost: %+v", c.Train)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	base := `
model:
  input: {channels: 1, height: 28, width: 28}
  classes: 10
  layers:
    - {name: conv1, type: conv, out: 8, kernel: 3}
    - {name: relu1, type: relu}
    - {name: flat, type: flatten}
    - {name: fc, type: linear, out: 10}
data: {format: idx, root: /tmp}
train: {batch_size: 8, epochs: 1, lr: 0.1}
`
	for _, tc := range []struct {
		name string
		edit func(string) string
		sets []string
		want string
	}{
		{"unknown top-level key", func(s string) string { return s + "trian: 1\n" }, nil, "unknown key trian (did you mean train?)"},
		{"unknown nested key", nil, []string{"train.bach_size=3"}, "unknown key train.bach_size (did you mean train.batch_size?)"},
		{"key of another layer type", func(s string) string { return strings.Replace(s, "type: relu}", "type: relu, kernel: 3}", 1) }, nil, `layer relu1 (model.layers[1]): key "kernel" does not apply to a relu layer`},
		{"unknown layer type", func(s string) string { return strings.Replace(s, "type: relu}", "type: rleu}", 1) }, nil, `unknown layer type "rleu"`},
		{"wrong type", nil, []string{"train.batch_size=abc"}, "batch_size"},
		{"negative size", func(s string) string { return strings.Replace(s, "out: 8", "out: -8", 1) }, nil, "layer conv1: out must be positive (got -8)"},
		{"missing required", func(s string) string { return strings.Replace(s, "lr: 0.1", "momentum: 0.5", 1) }, nil, "train.lr is required"},
		{"bad set", nil, []string{"train.lr"}, `--set "train.lr": want section.key=value`},
		{"last layer not classes", func(s string) string { return strings.Replace(s, "out: 10}", "out: 9}", 1) }, nil, "the last layer must be linear with out = model.classes (10)"},
		{"bad yaml", func(s string) string { return s + "  - [\n" }, nil, "not valid YAML"},
		{"bad format", nil, []string{"data.format=tfrecord"}, `data.format "tfrecord"`},
	} {
		text := base
		if tc.edit != nil {
			text = tc.edit(base)
		}
		_, err := config.Load("x.yaml", []byte(text), tc.sets)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error spans lines: %q", tc.name, err)
		}
	}
	if _, err := config.Load("x.yaml", []byte(base), nil); err != nil {
		t.Fatalf("base config: %v", err)
	}
}

func TestParallelDevices(t *testing.T) {
	text, _ := configs.Get("alexnet")
	c, err := config.Load("alexnet.yaml", append(text, []byte("parallel: {mode: model, devices: [0, 1]}\n")...), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Parallel.Devices[0] != "0" || c.Parallel.Devices[1] != "1" {
		t.Errorf("devices %v", c.Parallel.Devices)
	}
	for _, bad := range []string{"parallel: {mode: model, devices: [0]}\n", "parallel: {mode: model, devices: [cpu, 0]}\n", "parallel: {mode: data}\n"} {
		if _, err := config.Load("x", append(append([]byte{}, text...), bad...), nil); err == nil || !strings.Contains(err.Error(), "parallel.") {
			t.Errorf("%q: error %v", bad, err)
		}
	}
}

// ALEXNET_<SECTION>_<KEY> sets a key: over the file, under --set; validated like
// the rest, a misspelt variable named; the program's other ALEXNET_ switches are not
// config keys.
func TestEnvironment(t *testing.T) {
	text, _ := configs.Get("alexnet") // train.batch_size 128, train.lr 0.01
	t.Setenv("ALEXNET_TURBOJPEG", "0")
	t.Setenv("ALEXNET_CPU_BF16", "emulate")
	t.Setenv("ALEXNET_TRAIN_BATCH_SIZE", "64")
	t.Setenv("ALEXNET_TRAIN_THREADS", "3")
	t.Setenv("ALEXNET_DATA_WORKERS", "5")
	t.Setenv("ALEXNET_TRAIN_SCHEDULE_PATIENCE", "7") // nested: train.schedule.patience
	c, err := config.Load("alexnet.yaml", text, []string{"train.threads=2"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Train.Schedule.Patience != 7 {
		t.Errorf("ALEXNET_TRAIN_SCHEDULE_PATIENCE=7 gave patience %d", c.Train.Schedule.Patience)
	}
	if c.Train.BatchSize != 64 || c.Data.Workers != 5 || c.Train.Threads != 2 || c.Train.LR != 0.01 {
		t.Errorf("batch %d, workers %d, threads %d, lr %g: want 64 (env), 5 (env), 2 (--set over env), 0.01 (file)",
			c.Train.BatchSize, c.Data.Workers, c.Train.Threads, c.Train.LR)
	}
	for _, bad := range []struct{ name, val, say string }{
		{"ALEXNET_TRAIN_BACH_SIZE", "64", "environment ALEXNET_TRAIN_BACH_SIZE: unknown key train.bach_size"},
		{"ALEXNET_TRAIN_BATCH_SIZE", "-1", "batch_size"},
		{"ALEXNET_TRAIN_MOMENTUM", "[1", "environment ALEXNET_TRAIN_MOMENTUM: value \"[1\" is not a YAML value"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			t.Setenv(bad.name, bad.val)
			if _, err := config.Load("alexnet.yaml", text, nil); err == nil || !strings.Contains(err.Error(), bad.say) {
				t.Errorf("%s=%s: %v, want an error saying %q", bad.name, bad.val, err, bad.say)
			}
		})
	}
}

// NaN and infinities fail no comparison, so every range check would let them by:
// they are refused by key, wherever they are; and worker and prefetch counts are
// bounded.
func TestNonFiniteAndUnbounded(t *testing.T) {
	text, _ := configs.Get("alexnet")
	for _, c := range []struct{ set, say string }{
		{"train.momentum=.nan", "train.momentum must be a finite number"},
		{"train.lr=.inf", "train.lr must be a finite number"},
		{"train.weight_decay=.nan", "train.weight_decay"},
		{"data.mean=[.nan, 0.4, 0.4]", "data.mean[0]"},
		{"train.schedule.factor=.nan", "train.schedule.factor"},
		{"data.prefetch=1000000000000", "data.prefetch"},
		{"data.workers=100000", "data.workers"},
	} {
		_, err := config.Load("alexnet.yaml", text, []string{c.set})
		if err == nil || !strings.Contains(err.Error(), c.say) {
			t.Errorf("--set %s: %v, want an error saying %q", c.set, err, c.say)
		}
	}
	// A layer's own numbers: the paper's LRN alpha, dropout p and init std.
	for _, c := range []struct{ from, to, say string }{
		{"alpha: 0.0001", "alpha: .nan", "model.layers[2].alpha"},
		{"p: 0.5", "p: .nan", ".p must be a finite number"},
		{"std: 0.01", "std: .inf", ".std must be a finite number"},
	} {
		bad := strings.Replace(string(text), c.from, c.to, 1)
		if bad == string(text) {
			t.Fatalf("alexnet.yaml has no %q", c.from)
		}
		_, err := config.Load("alexnet.yaml", []byte(bad), nil)
		if err == nil || !strings.Contains(err.Error(), c.say) {
			t.Errorf("%s: %v, want an error saying %q", c.to, err, c.say)
		}
	}
}
