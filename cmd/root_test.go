package cmd

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"alexnet/internal/app"
)

// recorder returns Runners that record the options each command was given instead
// of running anything.
func recorder(got *any) Runners {
	return Runners{
		Train: func(o app.TrainOptions, _, _ io.Writer) error { *got = o; return nil },
		Eval:  func(o app.EvalOptions, _ io.Writer) error { *got = o; return nil },
		Predict: func(o app.PredictOptions, _ io.Writer) error {
			if o.Stdin == nil || o.Stderr == nil {
				return errors.New("predict's stdin and stderr were not passed")
			}
			o.Stdin, o.Stderr = nil, nil
			*got = o
			return nil
		},
		Summary: func(o app.SummaryOptions, _ io.Writer) error { *got = o; return nil },
		Bench:   func(o app.BenchOptions, _ io.Writer) error { *got = o; return nil },
		Devices: func(io.Writer) error { *got = "devices"; return nil },
		Import:  func(o app.ImportOptions, _ io.Writer) error { *got = o; return nil },
		Filters: func(o app.FiltersOptions, _ io.Writer) error { *got = o; return nil },
		Pack:    func(o app.PackOptions, _, _ io.Writer) error { *got = o; return nil },
		Export:  func(o app.ExportOptions, _ io.Writer) error { *got = o; return nil },
	}
}

// The flags reach the options structs, defaults included.
func TestFlagsReachOptions(t *testing.T) {
	cfg := app.ConfigSource{Path: "alexnet", Sets: []string{"train.epochs=2", "data.workers=3"}, Precision: "bf16"}
	cfgFlags := []string{"--config", "alexnet", "--set", "train.epochs=2", "--set", "data.workers=3", "--precision", "bf16"}
	for _, c := range []struct {
		args []string
		want any
	}{
		{append([]string{"train", "--out", "runs/x", "--resume", "runs/x/last.ckpt", "--backend", "cpu", "--threads", "2", "--strict"}, cfgFlags...),
			app.TrainOptions{Config: cfg, OutDir: "runs/x", Resume: "runs/x/last.ckpt", Backend: "cpu", Threads: 2, Strict: true}},
		{[]string{"eval", "-w", "a.ckpt", "--ten-crop", "--json", "--device", "1"},
			app.EvalOptions{Weights: "a.ckpt", TenCrop: true, JSON: true, Device: 1}},
		{[]string{"predict", "--weights", "a.ckpt", "-k", "3", "x.jpg", "y.png"},
			app.PredictOptions{Weights: "a.ckpt", TopK: 3, Images: []string{"x.jpg", "y.png"}}},
		{[]string{"predict", "--weights", "a.ckpt", "x.jpg"},
			app.PredictOptions{Weights: "a.ckpt", TopK: 5, Images: []string{"x.jpg"}}},
		{[]string{"predict", "-w", "a.ckpt", "--list", "-", "--jsonl", "--batch", "8"},
			app.PredictOptions{Weights: "a.ckpt", TopK: 5, List: "-", JSONL: true, Batch: 8, Images: []string{}}},
		{[]string{"summary", "--devices", "0,1", "--batch", "64", "--json"},
			app.SummaryOptions{Config: app.ConfigSource{Devices: "0,1"}, Batch: 64, JSON: true}},
		{[]string{"bench", "--batch", "32", "--iters", "3"},
			app.BenchOptions{Batch: 32, Iters: 3, Warmup: 2, LoaderBatches: 20}},
		{[]string{"devices"}, "devices"},
		{[]string{"import", "in.pth", "-o", "out.ckpt"},
			app.ImportOptions{From: "torchvision", In: "in.pth", Out: "out.ckpt"}},
		{[]string{"filters", "-w", "a.ckpt", "-o", "f.png", "--layer", "conv1", "--towers", "2"},
			app.FiltersOptions{Weights: "a.ckpt", Out: "f.png", Layer: "conv1", Towers: 2, Scale: 3}},
		{[]string{"export", "-w", "a.ckpt", "-o", "m.onnx"},
			app.ExportOptions{Weights: "a.ckpt", Out: "m.onnx", Format: "onnx"}},
		{[]string{"pack", "-o", "packs", "--size", "256", "--encoding", "jpeg", "--split", "train,val"},
			app.PackOptions{Out: "packs", Size: 256, SizeSet: true, Encoding: "jpeg", Splits: []string{"train", "val"}}},
	} {
		var got any
		var stderr bytes.Buffer
		if code := Execute(NewRoot(recorder(&got)), c.args, &stderr); code != 0 {
			t.Errorf("%v: exit %d: %s", c.args, code, stderr.String())
			continue
		}
		if d := cmp.Diff(c.want, got); d != "" {
			t.Errorf("%v: options (-want +got):\n%s", c.args, d)
		}
	}
}

// Usage errors, cobra's own included, exit 2 with one line naming the command's
// help; --version and --help exit 0 without running anything.
func TestExitCodes(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		say  string
	}{
		{[]string{"train", "--no-such-flag"}, app.ExitUsage, "unknown flag: --no-such-flag (see 'alexnet train --help')"},
		{[]string{"summary", "extra"}, app.ExitUsage, "(see 'alexnet summary --help')"},
		{[]string{"eval", "extra"}, app.ExitUsage, "unknown command \"extra\" for \"alexnet eval\""},
		{[]string{"import"}, app.ExitUsage, "accepts 1 arg(s)"},
		{[]string{"bench", "--iters", "x"}, app.ExitUsage, "invalid argument \"x\""},
		{[]string{"no-such-command"}, app.ExitUsage, "(see 'alexnet --help')"},
		{[]string{"trian"}, app.ExitUsage, `unknown command "trian" for "alexnet"; did you mean train (see 'alexnet --help')`},
		{[]string{"--version"}, app.ExitOK, ""},
		{[]string{"train", "--help"}, app.ExitOK, ""},
	} {
		var got any
		var stderr bytes.Buffer
		code := Execute(NewRoot(recorder(&got)), c.args, &stderr)
		if code != c.code || !strings.Contains(stderr.String(), c.say) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, stderr.String(), c.code, c.say)
		}
		if lines := strings.Count(stderr.String(), "\n"); lines > 1 {
			t.Errorf("%v: %d lines on stderr, want one", c.args, lines)
		}
		if strings.Count(stderr.String(), "--help')") > 1 {
			t.Errorf("%v: the hint twice: %q", c.args, stderr.String())
		}
		if got != nil {
			t.Errorf("%v ran its command with %v", c.args, got)
		}
	}
	// A run function's own typed code passes through.
	r := recorder(new(any))
	r.Devices = func(io.Writer) error { return &app.ExitErr{Code: app.ExitUnavailable, Err: io.EOF} }
	if code := Execute(NewRoot(r), []string{"devices"}, io.Discard); code != app.ExitUnavailable {
		t.Errorf("devices' unavailable error exited %d", code)
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	root := NewRoot(recorder(new(any)))
	root.SetOut(&out)
	if code := Execute(root, []string{"--version"}, io.Discard); code != 0 || !strings.HasPrefix(out.String(), "alexnet ") || !strings.Contains(out.String(), "go1.") {
		t.Errorf("--version: exit %d, %q", code, out.String())
	}
}

// Flag values complete from what the program accepts (cobra's hidden __complete
// command is what the shell scripts of `alexnet completion bash|zsh|fish` call).
func TestCompletions(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"train", "--precision", ""}, []string{"fp32", "tf32", "bf16", "fp16"}},
		{[]string{"bench", "--backend", ""}, []string{"auto", "cuda", "cpu", "ref"}},
		{[]string{"eval", "--config", ""}, []string{"alexnet", "alexnet-owt", "alexnet-1gpu", "fashion-mnist"}},
		{[]string{"summary", "--devices", ""}, []string{"0,1", "cpu,cpu"}},
		{[]string{"pack", "--encoding", ""}, []string{"raw", "jpeg"}},
		{[]string{"import", "--from", ""}, []string{"torchvision"}},
	} {
		var out bytes.Buffer
		root := NewRoot(recorder(new(any)))
		root.SetOut(&out)
		if code := Execute(root, append([]string{"__complete"}, c.args...), io.Discard); code != 0 {
			t.Fatalf("%v: exit %d", c.args, code)
		}
		lines := strings.Split(out.String(), "\n")
		for _, w := range c.want {
			if !slices.Contains(lines, w) {
				t.Errorf("%v: completions %q lack %q", c.args, lines, w)
			}
		}
	}
}
