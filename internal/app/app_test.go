package app

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"alexnet/internal/backend"
	"alexnet/internal/checkpoint"
	"alexnet/internal/dataset"
	"alexnet/internal/jsonx"
	"alexnet/internal/metrics"
	"alexnet/internal/train"
)

// writeIDX writes a small Fashion-MNIST-like data set: n images per split whose class
// is visible (a bright bar at a class-dependent row), so a few steps learn something.
func writeIDX(t *testing.T, dir string, n int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 7))
	for _, split := range []string{"train", "t10k"} {
		var imgs, labels bytes.Buffer
		binary.Write(&imgs, binary.BigEndian, []uint32{0x803, uint32(n), 28, 28})
		binary.Write(&labels, binary.BigEndian, []uint32{0x801, uint32(n)})
		for i := 0; i < n; i++ {
			c := rng.IntN(10)
			px := make([]byte, 28*28)
			for j := range px {
				px[j] = byte(rng.IntN(40))
			}
			for x := 0; x < 28; x++ {
				px[(2+c*2)*28+x] = 250
				px[(3+c*2)*28+x] = 250
			}
			imgs.Write(px)
			labels.WriteByte(byte(c))
		}
		for name, b := range map[string][]byte{split + "-images-idx3-ubyte.gz": imgs.Bytes(), split + "-labels-idx1-ubyte.gz": labels.Bytes()} {
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			zw.Write(b)
			zw.Close()
			if err := os.WriteFile(filepath.Join(dir, name), z.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

const smallNet = `
name: small
model:
  input: {channels: 1, height: 28, width: 28}
  classes: 10
  layers:
    - {name: conv1, type: conv, out: 8, kernel: 5, stride: 2, pad: 2, init: kaiming}
    - {name: relu1, type: relu}
    - {name: norm1, type: lrn, size: 5, alpha: 0.0001, beta: 0.75, k: 2}
    - {name: pool1, type: maxpool, kernel: 3, stride: 2}
    - {name: conv2, type: conv, out: 8, kernel: 3, pad: 1, groups: 2, init: kaiming, bias: 0.1}
    - {name: relu2, type: relu}
    - {name: flatten, type: flatten}
    - {name: fc3, type: linear, out: 32, init: kaiming}
    - {name: relu3, type: relu}
    - {name: drop3, type: dropout, p: 0.5}
    - {name: fc4, type: linear, out: 10, init: xavier}
data: {format: idx, root: ROOT, train: train, val: test, pad: 2, flip: true, mean: [0.1], std: [0.3], workers: 2}
train: {batch_size: 16, epochs: 2, lr: 0.02, schedule: {type: step, step_size: 1, gamma: 0.5}, seed: 3}
`

func setup(t *testing.T) (dir, cfgPath string) {
	t.Helper()
	dir = t.TempDir()
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o755)
	writeIDX(t, data, 100) // 100 = 6 batches of 16 and a short one of 4
	cfgPath = filepath.Join(dir, "small.yaml")
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(smallNet, "ROOT", data, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, cfgPath
}

func backends(t *testing.T) []string {
	var names []string
	for _, n := range []string{"ref", "cpu"} {
		b, err := backend.Open(n, backend.Options{})
		if errors.Is(err, backend.ErrUnavailable) {
			t.Logf("skipping %s: %v", n, err)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		b.Close()
		names = append(names, n)
	}
	return names
}

// Two epochs straight and one epoch plus a resumed one give the same weights, bit
// for bit, on the same backend and thread count.
func TestResumeIsExact(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be, func(t *testing.T) {
			dir, cfg := setup(t)
			var out, log bytes.Buffer
			straight := filepath.Join(dir, "straight")
			if err := Train(TrainOptions{Config: ConfigSource{Path: cfg}, OutDir: straight, Backend: be, Threads: 2}, &out, &log); err != nil {
				t.Fatalf("%v\n%s", err, log.String())
			}
			split := filepath.Join(dir, "split")
			if err := Train(TrainOptions{Config: ConfigSource{Path: cfg, Sets: []string{"train.epochs=1"}}, OutDir: split, Backend: be, Threads: 2}, &out, &log); err != nil {
				t.Fatal(err)
			}
			// The resumed run reads the checkpoint's config; epochs is raised back to 2.
			if err := Train(TrainOptions{Config: ConfigSource{Sets: []string{"train.epochs=2"}}, Resume: filepath.Join(split, "last.ckpt"), Backend: be, Threads: 2}, &out, &log); err != nil {
				t.Fatal(err)
			}
			a, err := checkpoint.Load(filepath.Join(straight, "last.ckpt"))
			if err != nil {
				t.Fatal(err)
			}
			b, err := checkpoint.Load(filepath.Join(split, "last.ckpt"))
			if err != nil {
				t.Fatal(err)
			}
			if a.State.Epoch != 2 || b.State.Epoch != 2 || a.State.Step != b.State.Step {
				t.Fatalf("epochs %d/%d steps %d/%d", a.State.Epoch, b.State.Epoch, a.State.Step, b.State.Step)
			}
			for i, w := range a.Weights {
				for j := range w.Data {
					if w.Data[j] != b.Weights[i].Data[j] {
						t.Fatalf("%s[%d]: %v straight, %v resumed", w.Name, j, w.Data[j], b.Weights[i].Data[j])
					}
				}
			}
			if _, err := os.Stat(filepath.Join(straight, "curves.png")); err != nil {
				t.Errorf("no plot: %v", err)
			}
			lines := strings.Count(readFile(t, filepath.Join(split, "metrics.jsonl")), "\n")
			if lines != 2 {
				t.Errorf("resumed metrics log has %d lines, want 2 (one per epoch)", lines)
			}
		})
	}
}

func readFile(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTrainEvalPredict(t *testing.T) {
	dir, cfg := setup(t)
	run := filepath.Join(dir, "run")
	var out, log bytes.Buffer
	if err := Train(TrainOptions{Config: ConfigSource{Path: cfg, Sets: []string{"train.epochs=3"}}, OutDir: run, Backend: "cpu"}, &out, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "epoch 3/3") || !strings.Contains(out.String(), "done: 3 epochs") {
		t.Errorf("output:\n%s\n%s", log.String(), out.String())
	}
	out.Reset()
	if err := Eval(EvalOptions{Weights: filepath.Join(run, "best.ckpt"), JSON: true, Backend: "cpu"}, &out); err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	for _, k := range []string{"top1", "top5", "loss", "images"} {
		if _, ok := r[k]; !ok {
			t.Errorf("eval JSON lacks %s: %s", k, out.String())
		}
	}
	if r["images"].(float64) != 100 || r["top1"].(float64) < 0.3 {
		t.Errorf("eval: %s (the bars are easy: expected well above chance)", out.String())
	}

	// predict: a real image, then each kind of bad input.
	img := filepath.Join(dir, "bar.png")
	m := image.NewGray(image.Rect(0, 0, 28, 28))
	for x := 0; x < 28; x++ {
		m.SetGray(x, 8, color.Gray{250})
		m.SetGray(x, 9, color.Gray{250})
	}
	f, _ := os.Create(img)
	png.Encode(f, m)
	f.Close()
	out.Reset()
	if err := Predict(PredictOptions{Weights: filepath.Join(run, "best.ckpt"), TopK: 3, JSON: true, Images: []string{img}, Backend: "cpu"}, &out); err != nil {
		t.Fatal(err)
	}
	var preds []ImagePrediction
	if err := json.Unmarshal(out.Bytes(), &preds); err != nil || len(preds) != 1 || len(preds[0].Predictions) != 3 || preds[0].Image != img {
		t.Fatalf("predict JSON %s (%v)", out.String(), err)
	}
	empty := filepath.Join(dir, "empty.png")
	os.WriteFile(empty, nil, 0o644)
	notImage := filepath.Join(dir, "notes.png")
	os.WriteFile(notImage, []byte("hello, not a png"), 0o644)
	data, _ := os.ReadFile(img)
	trunc := filepath.Join(dir, "trunc.png")
	os.WriteFile(trunc, data[:len(data)/2], 0o644)
	// Each bad file gets one line naming it, the good one is still classified, and
	// the exit code is 1 with the count.
	for _, bad := range []string{empty, notImage, trunc, filepath.Join(dir, "missing.png")} {
		var stdout, stderr bytes.Buffer
		err := Predict(PredictOptions{Weights: filepath.Join(run, "best.ckpt"), TopK: 1, Images: []string{img, bad}, Backend: "cpu", Stderr: &stderr}, &stdout)
		if Code(err) != ExitError || !strings.Contains(fmt.Sprint(err), "1 of 2 images") || strings.Contains(fmt.Sprint(err), "\n") {
			t.Errorf("predict %s: error %v (code %d), want code 1 and the count", bad, err, Code(err))
		}
		if lines := strings.Split(strings.TrimSpace(stderr.String()), "\n"); len(lines) != 1 || !strings.Contains(lines[0], bad) {
			t.Errorf("predict %s: stderr %q, want one line naming it", bad, stderr.String())
		}
		if !strings.Contains(stdout.String(), img) {
			t.Errorf("predict %s: the good image was not classified: %q", bad, stdout.String())
		}
	}
	// A folder is walked for images, recursively: bar.png (twice, one in a
	// subfolder) is classified, the three bad ones each get a JSON line with an
	// error, and other files are left alone.
	folder := filepath.Join(dir, "folder")
	os.MkdirAll(filepath.Join(folder, "sub"), 0o755)
	for _, f := range []string{img, empty, notImage, trunc} {
		b, _ := os.ReadFile(f)
		os.WriteFile(filepath.Join(folder, filepath.Base(f)), b, 0o644)
	}
	data, _ = os.ReadFile(img)
	os.WriteFile(filepath.Join(folder, "sub", "Bar.PNG"), data, 0o644)
	os.WriteFile(filepath.Join(folder, "readme.txt"), []byte("not an image"), 0o644)
	var jl bytes.Buffer
	err := Predict(PredictOptions{Weights: filepath.Join(run, "best.ckpt"), TopK: 2, Images: []string{folder}, Backend: "cpu", JSONL: true, Batch: 2}, &jl)
	if Code(err) != ExitError {
		t.Errorf("predict of a folder with 3 bad images: %v", err)
	}
	var good, failed int
	for _, line := range strings.Split(strings.TrimSpace(jl.String()), "\n") {
		var r ImagePrediction
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("--jsonl line %q: %v", line, err)
		}
		switch {
		case r.Error != "" && len(r.Predictions) == 0:
			failed++
		case r.Error == "" && len(r.Predictions) == 2:
			good++
		default:
			t.Errorf("--jsonl line %q", line)
		}
	}
	// --list from stdin (blank lines ignored), --json: one array; the missing file
	// is an entry with an error key (names that do not exist come first, found
	// before anything runs), the images follow in the order given.
	var arr bytes.Buffer
	list := strings.NewReader(img + "\n\n" + filepath.Join(dir, "gone.png") + "\n" + filepath.Join(folder, "sub", "Bar.PNG") + "\n")
	err = Predict(PredictOptions{Weights: filepath.Join(run, "best.ckpt"), TopK: 1, List: "-", Stdin: list, JSON: true, Backend: "cpu"}, &arr)
	var entries []ImagePrediction
	if jerr := json.Unmarshal(arr.Bytes(), &entries); jerr != nil || Code(err) != ExitError || len(entries) != 3 ||
		entries[0].Error == "" || !strings.Contains(entries[0].Error, "gone.png") || entries[1].Image != img || len(entries[2].Predictions) != 1 {
		t.Errorf("--list - --json: %v, %v:\n%s", err, jerr, arr.String())
	}
	if good != 2 || failed != 3 {
		t.Errorf("folder: %d classified and %d failed, want 2 and 3:\n%s", good, failed, jl.String())
	}
	// A truncated checkpoint is one clear line.
	ck, _ := os.ReadFile(filepath.Join(run, "best.ckpt"))
	torn := filepath.Join(dir, "torn.ckpt")
	os.WriteFile(torn, ck[:len(ck)/3], 0o644)
	err = Eval(EvalOptions{Weights: torn, Backend: "cpu"}, &out)
	if err == nil || !strings.Contains(err.Error(), "torn.ckpt") || strings.Contains(err.Error(), "\n") {
		t.Errorf("truncated checkpoint: %v", err)
	}
}

func TestMissingDataSaysHowToGetIt(t *testing.T) {
	var out, log bytes.Buffer
	err := Train(TrainOptions{Config: ConfigSource{Sets: []string{"data.root=/nonexistent/fashion"}}, OutDir: t.TempDir(), Backend: "ref"}, &out, &log)
	if Code(err) != ExitUnavailable || !strings.Contains(err.Error(), "data.root") {
		t.Errorf("error %v code %d", err, Code(err))
	}
}

func TestNonFiniteLossStops(t *testing.T) {
	_, cfg := setup(t)
	var out, log bytes.Buffer
	err := Train(TrainOptions{Config: ConfigSource{Path: cfg, Sets: []string{"train.lr=1e30"}}, OutDir: t.TempDir(), Backend: "cpu"}, &out, &log)
	if err == nil || !strings.Contains(err.Error(), "learning rate") || !strings.Contains(err.Error(), "by step") {
		t.Errorf("error %v", err)
	}
}

func TestBenchAndSummaryJSON(t *testing.T) {
	_, cfg := setup(t)
	var out bytes.Buffer
	if err := Bench(BenchOptions{Config: ConfigSource{Path: cfg}, Backend: "ref", Batch: 4, Iters: 2, Warmup: 1, JSON: true, LoaderBatches: 2}, &out); err != nil {
		t.Fatal(err)
	}
	var r BenchResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r.TrainImagesPerSec <= 0 || r.InferImagesPerSec <= 0 || len(r.Layers) != 11 || r.PeakBackendBytes <= 0 || r.LoaderImagesPerSec <= 0 {
		t.Errorf("bench result incomplete: %+v", r)
	}
	out.Reset()
	if err := Summary(SummaryOptions{Config: ConfigSource{Path: "alexnet"}, JSON: true}, &out); err != nil {
		t.Fatal(err)
	}
	var s struct {
		Totals struct{ Params int } `json:"totals"`
	}
	if err := json.Unmarshal(out.Bytes(), &s); err != nil || s.Totals.Params != 60965224 {
		t.Errorf("summary JSON: %v %s", err, out.String()[:200])
	}
}

// The paper's two towers train through the same commands (here on two CPU backend
// instances), and their checkpoint runs on one device with the same accuracy.
func TestTowersTrainAndEvalOnOneDevice(t *testing.T) {
	dir, cfg := setup(t)
	run := filepath.Join(dir, "towers")
	var out, log bytes.Buffer
	if err := Train(TrainOptions{Config: ConfigSource{Path: cfg, Devices: "cpu,cpu", Sets: []string{"train.epochs=1"}}, OutDir: run, Backend: "cpu"}, &out, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "towers cpu + cpu") {
		t.Errorf("log does not say where the towers ran:\n%s", log.String())
	}
	evalOn := func(devices string) EvalResult {
		var o bytes.Buffer
		if err := Eval(EvalOptions{Config: ConfigSource{Devices: devices}, Weights: filepath.Join(run, "last.ckpt"), JSON: true, Backend: "cpu"}, &o); err != nil {
			t.Fatal(err)
		}
		var r EvalResult
		if err := json.Unmarshal(o.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	towers, single := evalOn("cpu,cpu"), evalOn("")
	if towers.Images != 100 || towers.Top1 != single.Top1 || math.Abs(float64(towers.Loss-single.Loss)) > 1e-5 {
		t.Errorf("towers %+v, one device %+v", towers, single)
	}
}

// A run interrupted in the middle of an epoch writes last.ckpt and, resumed, ends
// with the same weights as a run never interrupted.
func TestInterruptMidEpochThenResume(t *testing.T) {
	dir, cfgPath := setup(t)
	src := ConfigSource{Path: cfgPath}
	c, _, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	run := func(out string, ctx context.Context, onStep func(int64), resume *checkpoint.Checkpoint) (*train.Result, error) {
		net, err := openNet(c, "cpu", 2, 0, c.Train.BatchSize)
		if err != nil {
			t.Fatal(err)
		}
		defer net.Close()
		return train.Run(ctx, train.Options{Config: c, Net: net.Network, Backend: net.Name, OutDir: out, Resume: resume, Log: io.Discard, OnStep: onStep})
	}
	straight := filepath.Join(dir, "straight")
	if _, err := run(straight, context.Background(), nil, nil); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken")
	ctx, cancel := context.WithCancel(context.Background())
	res, err := run(broken, ctx, func(step int64) {
		if step == 10 { // epoch 2 of 2, batch 3 of 7
			cancel()
		}
	}, nil)
	if !errors.Is(err, train.ErrInterrupted) || res.Steps != 10 {
		t.Fatalf("interrupted run: %v after %d steps", err, res.Steps)
	}
	ck, err := checkpoint.Load(filepath.Join(broken, "last.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	if ck.State.Epoch != 1 || ck.State.Step != 10 || ck.State.Extra["batches_done"] != "3" {
		t.Fatalf("checkpoint state %+v", ck.State)
	}
	if _, err := run(broken, context.Background(), nil, ck); err != nil {
		t.Fatal(err)
	}
	a, _ := checkpoint.Load(filepath.Join(straight, "last.ckpt"))
	b, _ := checkpoint.Load(filepath.Join(broken, "last.ckpt"))
	for i, w := range a.Weights {
		for j := range w.Data {
			if w.Data[j] != b.Weights[i].Data[j] {
				t.Fatalf("%s[%d]: %v straight, %v interrupted and resumed", w.Name, j, w.Data[j], b.Weights[i].Data[j])
			}
		}
	}
}

// bf16 and fp16 (emulated on the cpu backend) train the small net about as well as
// fp32, and take effect: their weights are not fp32's.
func TestReducedPrecisionTraining(t *testing.T) {
	dir, cfg := setup(t)
	top1 := map[string]float64{}
	var fp32 []float32
	for _, p := range []string{"fp32", "bf16", "fp16"} {
		run := filepath.Join(dir, p)
		var out, log bytes.Buffer
		if err := Train(TrainOptions{Config: ConfigSource{Path: cfg, Precision: p, Sets: []string{"train.epochs=3"}}, OutDir: run, Backend: "cpu"}, &out, &log); err != nil {
			t.Fatalf("%s: %v\n%s", p, err, log.String())
		}
		ck, err := checkpoint.Load(filepath.Join(run, "last.ckpt"))
		if err != nil {
			t.Fatal(err)
		}
		w := ck.Weights[0].Data
		if p == "fp32" {
			fp32 = w
		} else if slices.Equal(w, fp32) {
			t.Errorf("%s: conv1 weights equal fp32's: the precision did nothing", p)
		}
		out.Reset()
		if err := Eval(EvalOptions{Weights: filepath.Join(run, "last.ckpt"), JSON: true, Backend: "cpu"}, &out); err != nil {
			t.Fatal(err)
		}
		var r struct{ Top1 float64 }
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		top1[p] = r.Top1
		t.Logf("%s: top-1 %.2f%%", p, 100*r.Top1)
	}
	for _, p := range []string{"bf16", "fp16"} {
		if math.Abs(top1[p]-top1["fp32"]) > 0.05 {
			t.Errorf("%s top-1 %.2f%% vs fp32 %.2f%%", p, 100*top1[p], 100*top1["fp32"])
		}
	}
}

// A loss scale far too large overflows every fp16 step: each is skipped, and the
// log says so.
func TestFP16OverflowSkipsSteps(t *testing.T) {
	_, cfg := setup(t)
	var out, log bytes.Buffer
	err := Train(TrainOptions{Config: ConfigSource{Path: cfg, Precision: "fp16", Sets: []string{"train.epochs=1", "train.loss_scale=1e30"}}, OutDir: t.TempDir(), Backend: "cpu"}, &out, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "fp16: 7 step(s) skipped because gradients overflowed (step 1, 2, 3") {
		t.Errorf("log:\n%s", log.String())
	}
	err = Train(TrainOptions{Config: ConfigSource{Path: cfg, Precision: "bf16", Sets: []string{"train.loss_scale=128"}}, OutDir: t.TempDir(), Backend: "cpu"}, &out, &log)
	if Code(err) != ExitUsage || !strings.Contains(err.Error(), "fp16 only") {
		t.Errorf("loss_scale with bf16: %v", err)
	}
}

// An fp16 run interrupted mid-epoch keeps its dynamic loss scale in last.ckpt,
// next to batches_done, and resumes from it.
func TestFP16InterruptKeepsLossScale(t *testing.T) {
	dir, cfgPath := setup(t)
	c, _, err := ConfigSource{Path: cfgPath, Precision: "fp16"}.Load()
	if err != nil {
		t.Fatal(err)
	}
	run := func(ctx context.Context, onStep func(int64), resume *checkpoint.Checkpoint) (*train.Result, error) {
		net, err := openNet(c, "cpu", 2, 0, c.Train.BatchSize)
		if err != nil {
			t.Fatal(err)
		}
		defer net.Close()
		return train.Run(ctx, train.Options{Config: c, Net: net.Network, Backend: net.Name, OutDir: dir, Resume: resume, Log: io.Discard, OnStep: onStep})
	}
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := run(ctx, func(step int64) {
		if step == 3 {
			cancel()
		}
	}, nil); !errors.Is(err, train.ErrInterrupted) {
		t.Fatalf("interrupted run: %v", err)
	}
	ck, err := checkpoint.Load(filepath.Join(dir, "last.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	if ck.State.Extra["batches_done"] != "3" || ck.State.Extra["loss_scale"] == "" || ck.State.Extra["loss_scale_clean_steps"] == "" {
		t.Fatalf("checkpoint extra %v: want batches_done 3 and the loss scaler's state", ck.State.Extra)
	}
	if _, err := run(context.Background(), nil, ck); err != nil {
		t.Fatal(err)
	}
}

// A NaN weight stops training on every backend. On the cpu backend the loss
// stays finite (oneDNN's ReLU turns NaN into 0, so the layer just goes dead):
// the weights are checked too, every 10 steps.
func TestNaNWeightStops(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be, func(t *testing.T) {
			dir, cfg := setup(t)
			var out, log bytes.Buffer
			first := filepath.Join(dir, "first")
			if err := Train(TrainOptions{Config: ConfigSource{Path: cfg, Sets: []string{"train.epochs=1"}}, OutDir: first, Backend: be, Threads: 2}, &out, &log); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(first, "last.ckpt")
			ck, err := checkpoint.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			w, ok := ck.Weight("conv1.weight")
			if !ok {
				t.Fatal("no conv1.weight")
			}
			w.Data[0] = float32(math.NaN())
			if err := checkpoint.Save(path, ck); err != nil {
				t.Fatal(err)
			}
			err = Train(TrainOptions{Config: ConfigSource{Sets: []string{"train.epochs=2"}}, Resume: path, Backend: be, Threads: 2}, &out, &log)
			var nf *train.NonFiniteError
			if !errors.As(err, &nf) || nf.Step > ck.State.Step+10 {
				t.Fatalf("resumed from a NaN weight: %v", err)
			}
			t.Logf("%s: %v", be, err)
		})
	}
}

// eval --json writes a NaN or infinite loss as null instead of failing.
func TestEvalJSONNaN(t *testing.T) {
	for _, loss := range []float64{math.NaN(), math.Inf(1), 2.5} {
		b, err := json.Marshal(EvalResult{Loss: jsonx.Number(loss), Images: 3})
		want := `"loss":null`
		if !math.IsNaN(loss) && !math.IsInf(loss, 0) {
			want = `"loss":2.5`
		}
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("loss %v: %s, %v; want %s", loss, b, err, want)
		}
	}
}

// The run folder records the resolved config, and --config of it repeats the run
// bit for bit; metrics.jsonl gets a step line every train.log_every steps whose
// window means add up to the epoch's.
func TestRunFolderConfigAndStepLines(t *testing.T) {
	dir, cfg := setup(t)
	t.Setenv("ALEXNET_TRAIN_SEED", "7") // the environment is part of what is recorded
	first := filepath.Join(dir, "first")
	var out, log bytes.Buffer
	sets := []string{"train.epochs=2", "train.log_every=2"}
	if err := Train(TrainOptions{Config: ConfigSource{Path: cfg, Sets: sets}, OutDir: first, Backend: "cpu", Threads: 2}, &out, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	want, _, err := ConfigSource{Path: cfg, Sets: sets}.Load()
	if err != nil {
		t.Fatal(err)
	}
	recorded := filepath.Join(first, "config.yaml")
	got, _, err := ConfigSource{Path: recorded}.Load()
	if err != nil {
		t.Fatalf("config.yaml does not load: %v\n%s", err, readFile(t, recorded))
	}
	if d := cmp.Diff(want, got); d != "" || got.Train.Seed != 7 {
		t.Errorf("config.yaml differs from the run's config (-run +recorded):\n%s", d)
	}
	t.Setenv("ALEXNET_TRAIN_SEED", "")
	os.Unsetenv("ALEXNET_TRAIN_SEED")
	again := filepath.Join(dir, "again")
	if err := Train(TrainOptions{Config: ConfigSource{Path: recorded}, OutDir: again, Backend: "cpu", Threads: 2}, &out, &log); err != nil {
		t.Fatal(err)
	}
	a, errA := checkpoint.Load(filepath.Join(first, "last.ckpt"))
	b, errB := checkpoint.Load(filepath.Join(again, "last.ckpt"))
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	for i, w := range a.Weights {
		for j := range w.Data {
			if w.Data[j] != b.Weights[i].Data[j] {
				t.Fatalf("%s[%d]: %v, repeated from config.yaml %v", w.Name, j, w.Data[j], b.Weights[i].Data[j])
			}
		}
	}
	recs, _, err := metrics.ReadFile(filepath.Join(first, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	// 7 steps an epoch (6 batches of 16, one of 4): steps 2, 4, 6, then 8, 10, 12, 14.
	var steps []int64
	images := map[int]float64{}
	for _, r := range recs {
		if r.Kind == metrics.KindStep {
			steps = append(steps, r.Step)
			if r.Seconds <= 0 || r.ImagesPerSec <= 0 || math.IsNaN(r.Loss) || r.Top1 < 0 || r.Top1 > 1 {
				t.Errorf("step line %+v", r)
			}
			images[r.Epoch] += r.ImagesPerSec * r.Seconds
		}
	}
	if d := cmp.Diff([]int64{2, 4, 6, 8, 10, 12, 14}, steps); d != "" {
		t.Errorf("step lines at steps (-want +got):\n%s", d)
	}
	// Each window counts its images: epoch 1's first three windows hold 6 batches of 16.
	if math.Abs(images[1]-96) > 1e-6 {
		t.Errorf("epoch 1's step lines count %.3f images, want 96", images[1])
	}
}

// A training run never replaces an earlier one: --out of a finished run is refused
// with the way to continue it, leaving its files as they were; default folders of
// runs started in the same second get numbers.
func TestRunFolderNotOverwritten(t *testing.T) {
	dir, cfg := setup(t)
	run := filepath.Join(dir, "run")
	var out, log bytes.Buffer
	if err := Train(TrainOptions{Config: ConfigSource{Path: cfg, Sets: []string{"train.epochs=1"}}, OutDir: run, Backend: "cpu"}, &out, &log); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, filepath.Join(run, "best.ckpt"))
	metrics := readFile(t, filepath.Join(run, "metrics.jsonl"))
	err := Train(TrainOptions{Config: ConfigSource{Path: cfg, Sets: []string{"train.epochs=1"}}, OutDir: run, Backend: "cpu"}, &out, &log)
	if Code(err) != ExitUsage || !strings.Contains(fmt.Sprint(err), "--resume "+filepath.Join(run, "last.ckpt")) {
		t.Errorf("training into a finished run: %v (code %d), want a usage error naming --resume", err, Code(err))
	}
	if readFile(t, filepath.Join(run, "best.ckpt")) != before || readFile(t, filepath.Join(run, "metrics.jsonl")) != metrics {
		t.Error("the refused run changed the earlier run's files")
	}
	// Resuming into it is what it is for.
	if err := Train(TrainOptions{Config: ConfigSource{Sets: []string{"train.epochs=2"}}, Resume: filepath.Join(run, "last.ckpt"), Backend: "cpu"}, &out, &log); err != nil {
		t.Errorf("resume into the run's own folder: %v", err)
	}
	base := filepath.Join(dir, "runs", "small-20261202-120000")
	a, errA := freshRunDir(base)
	b, errB := freshRunDir(base)
	if errA != nil || errB != nil || a != base || b != base+"-2" {
		t.Errorf("two default folders in one second: %q, %q (%v, %v)", a, b, errA, errB)
	}
}

// The first interrupt cancels, the second exits with 130 at once.
func TestInterruptTwice(t *testing.T) {
	sigs := make(chan os.Signal, 2)
	exited := make(chan int, 1)
	var log bytes.Buffer
	ctx, stop := interruptible(sigs, &log, func(code int) { exited <- code })
	defer stop()
	sigs <- os.Interrupt
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the first interrupt did not cancel")
	}
	sigs <- os.Interrupt
	select {
	case code := <-exited:
		if code != ExitInterrupted {
			t.Errorf("exit code %d, want 130", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second interrupt did not exit")
	}
}

// With the loader stuck on a read that never returns (a FIFO named like an image),
// an interrupt still ends training within seconds, with last.ckpt written.
func TestInterruptWithStuckLoader(t *testing.T) {
	dir := t.TempDir()
	for _, split := range []string{"train", "val"} {
		for _, class := range []string{"a", "b"} {
			d := filepath.Join(dir, split, class)
			os.MkdirAll(d, 0o755)
			for i := range 3 {
				m := image.NewGray(image.Rect(0, 0, 28, 28))
				m.SetGray(i, 3, color.Gray{200})
				var b bytes.Buffer
				png.Encode(&b, m)
				os.WriteFile(filepath.Join(d, fmt.Sprintf("%d.png", i)), b.Bytes(), 0o644)
			}
		}
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "train", "b", "9.png"), 0o644); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	cfg := filepath.Join(dir, "folder.yaml")
	text := strings.Replace(smallNet, "data: {format: idx, root: ROOT, train: train, val: test,", "data: {format: imagefolder, root: "+dir+", train: train, val: val,", 1)
	text = strings.Replace(text, "batch_size: 16", "batch_size: 2", 1)
	text = strings.Replace(strings.Replace(text, "classes: 10", "classes: 2", 1), "out: 10", "out: 2", 1)
	if text == smallNet {
		t.Fatal("the small net's data line moved")
	}
	os.WriteFile(cfg, []byte(text), 0o644)
	saved := dataset.StuckWait
	dataset.StuckWait = 200 * time.Millisecond
	defer func() { dataset.StuckWait = saved }()
	c, _, err := ConfigSource{Path: cfg, Sets: []string{"data.workers=1", "train.epochs=1"}}.Load()
	if err != nil {
		t.Fatal(err)
	}
	net, err := openNet(c, "cpu", 1, 0, c.Train.BatchSize)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(500*time.Millisecond, cancel)
	start := time.Now()
	out := filepath.Join(dir, "run")
	var log bytes.Buffer
	_, err = train.Run(ctx, train.Options{Config: c, Net: net.Network, Backend: net.Name, OutDir: out, Log: &log})
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("training took %v to stop after the interrupt", el)
	}
	if !errors.Is(err, train.ErrInterrupted) {
		t.Errorf("err %v, want ErrInterrupted\n%s", err, log.String())
	}
	if _, err := checkpoint.Load(filepath.Join(out, "last.ckpt")); err != nil {
		t.Errorf("last.ckpt: %v", err)
	}
}

// --resume refuses config changes that would make the resumed run another one,
// naming each key, and allows those that only decide how long and how fast.
func TestResumeRefusesBreakingChanges(t *testing.T) {
	dir, cfg := setup(t)
	run := filepath.Join(dir, "run")
	var out, log bytes.Buffer
	if err := Train(TrainOptions{Config: ConfigSource{Path: cfg, Sets: []string{"train.epochs=1"}}, OutDir: run, Backend: "cpu"}, &out, &log); err != nil {
		t.Fatal(err)
	}
	last := filepath.Join(run, "last.ckpt")
	for _, c := range []struct {
		sets []string
		say  string
	}{
		{[]string{"train.epochs=2", "train.batch_size=8"}, "train.batch_size (16 -> 8)"},
		{[]string{"train.epochs=2", "train.seed=9"}, "train.seed (3 -> 9)"},
		{[]string{"train.epochs=2", "data.flip=false"}, "data.flip (true -> false)"},
		{[]string{"train.epochs=2", "train.lr=0.5", "train.momentum=0.5"}, "train.lr (0.02 -> 0.5), train.momentum (0.9 -> 0.5)"},
	} {
		err := Train(TrainOptions{Config: ConfigSource{Sets: c.sets}, Resume: last, Backend: "cpu"}, &out, &log)
		if Code(err) != ExitUsage || !strings.Contains(fmt.Sprint(err), c.say) {
			t.Errorf("resume with %v: %v (code %d), want a usage error saying %q", c.sets, err, Code(err), c.say)
		}
	}
	if err := Train(TrainOptions{Config: ConfigSource{Sets: []string{"train.epochs=2", "data.workers=1", "train.log_every=3"}}, Resume: last, Backend: "cpu"}, &out, &log); err != nil {
		t.Errorf("resume with more epochs, other workers and log_every: %v", err)
	}
}

// A temporary file a killed run left in its folder is pointed out on resume.
func TestStaleTempFilePointedOut(t *testing.T) {
	dir, cfg := setup(t)
	run := filepath.Join(dir, "run")
	var out, log bytes.Buffer
	if err := Train(TrainOptions{Config: ConfigSource{Path: cfg, Sets: []string{"train.epochs=1"}}, OutDir: run, Backend: "cpu"}, &out, &log); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(run, ".last.ckpt.tmp-12345")
	os.WriteFile(stale, []byte("half a checkpoint"), 0o600)
	log.Reset()
	if err := Train(TrainOptions{Config: ConfigSource{Sets: []string{"train.epochs=2"}}, Resume: filepath.Join(run, "last.ckpt"), Backend: "cpu"}, &out, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), stale+" is left from a write that was interrupted") {
		t.Errorf("no word of %s:\n%s", stale, log.String())
	}
}

// A validation split that lacks a training class is refused by name (exit 2): its
// labels would all shift past the missing one.
func TestValidationClassesMustMatch(t *testing.T) {
	dir := t.TempDir()
	for split, classes := range map[string][]string{"train": {"ant", "bee", "cat"}, "val": {"ant", "cat"}} {
		for _, class := range classes {
			d := filepath.Join(dir, split, class)
			os.MkdirAll(d, 0o755)
			m := image.NewGray(image.Rect(0, 0, 28, 28))
			var b bytes.Buffer
			png.Encode(&b, m)
			os.WriteFile(filepath.Join(d, "0.png"), b.Bytes(), 0o644)
		}
	}
	cfg := filepath.Join(dir, "folder.yaml")
	text := strings.Replace(smallNet, "data: {format: idx, root: ROOT, train: train, val: test,", "data: {format: imagefolder, root: "+dir+", train: train, val: val,", 1)
	text = strings.Replace(strings.Replace(text, "classes: 10", "classes: 3", 1), "out: 10", "out: 3", 1)
	os.WriteFile(cfg, []byte(text), 0o644)
	var out, log bytes.Buffer
	err := Train(TrainOptions{Config: ConfigSource{Path: cfg, Sets: []string{"train.epochs=1"}}, OutDir: filepath.Join(dir, "run"), Backend: "cpu"}, &out, &log)
	if Code(err) != ExitUsage || !strings.Contains(fmt.Sprint(err), `only in the train split: ["bee"]`) {
		t.Errorf("val without bee: %v (code %d)", err, Code(err))
	}
}

// A resume whose data now has other classes (a folder renamed since) is refused.
func TestResumeClassesMustMatch(t *testing.T) {
	dir := t.TempDir()
	for _, split := range []string{"train", "val"} {
		for _, class := range []string{"ant", "bee", "cat"} {
			d := filepath.Join(dir, split, class)
			os.MkdirAll(d, 0o755)
			var b bytes.Buffer
			png.Encode(&b, image.NewGray(image.Rect(0, 0, 28, 28)))
			os.WriteFile(filepath.Join(d, "0.png"), b.Bytes(), 0o644)
		}
	}
	cfg := filepath.Join(dir, "folder.yaml")
	text := strings.Replace(smallNet, "data: {format: idx, root: ROOT, train: train, val: test,", "data: {format: imagefolder, root: "+dir+", train: train, val: val,", 1)
	text = strings.Replace(strings.Replace(text, "classes: 10", "classes: 3", 1), "out: 10", "out: 3", 1)
	os.WriteFile(cfg, []byte(text), 0o644)
	run := filepath.Join(dir, "run")
	var out, log bytes.Buffer
	if err := Train(TrainOptions{Config: ConfigSource{Path: cfg, Sets: []string{"train.epochs=1"}}, OutDir: run, Backend: "cpu"}, &out, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	for _, split := range []string{"train", "val"} {
		os.Rename(filepath.Join(dir, split, "bee"), filepath.Join(dir, split, "bug"))
	}
	err := Train(TrainOptions{Config: ConfigSource{Sets: []string{"train.epochs=2"}}, Resume: filepath.Join(run, "last.ckpt"), Backend: "cpu"}, &out, &log)
	if Code(err) != ExitUsage || !strings.Contains(fmt.Sprint(err), `only in the checkpoint: ["bee"]`) {
		t.Errorf("resume after renaming bee to bug: %v (code %d)", err, Code(err))
	}
}

// The environment is a way to change settings like --set: on a resume it meets the
// same guard.
func TestResumeGuardSeesEnvironment(t *testing.T) {
	dir, cfg := setup(t)
	run := filepath.Join(dir, "run")
	var out, log bytes.Buffer
	if err := Train(TrainOptions{Config: ConfigSource{Path: cfg, Sets: []string{"train.epochs=1"}}, OutDir: run, Backend: "cpu"}, &out, &log); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALEXNET_TRAIN_BATCH_SIZE", "4")
	err := Train(TrainOptions{Config: ConfigSource{Sets: []string{"train.epochs=2"}}, Resume: filepath.Join(run, "last.ckpt"), Backend: "cpu"}, &out, &log)
	if Code(err) != ExitUsage || !strings.Contains(fmt.Sprint(err), "train.batch_size (16 -> 4)") {
		t.Errorf("resume under ALEXNET_TRAIN_BATCH_SIZE=4: %v (code %d)", err, Code(err))
	}
}

// predict tries every image however many fail first (the loader would give up after
// 100), and --json prints its array when nothing could be read.
func TestPredictManyBadFiles(t *testing.T) {
	dir, cfg := setup(t)
	run := filepath.Join(dir, "run")
	var out, log bytes.Buffer
	if err := Train(TrainOptions{Config: ConfigSource{Path: cfg, Sets: []string{"train.epochs=1"}}, OutDir: run, Backend: "cpu"}, &out, &log); err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, "folder")
	os.MkdirAll(folder, 0o755)
	for i := range 120 {
		os.WriteFile(filepath.Join(folder, fmt.Sprintf("a%03d.png", i)), []byte("not a png"), 0o644)
	}
	var b bytes.Buffer
	png.Encode(&b, image.NewGray(image.Rect(0, 0, 28, 28)))
	os.WriteFile(filepath.Join(folder, "z.png"), b.Bytes(), 0o644)
	var jl, stderr bytes.Buffer
	err := Predict(PredictOptions{Weights: filepath.Join(run, "best.ckpt"), Images: []string{folder, filepath.Join(dir, "gone.png")}, TopK: 1,
		JSONL: true, Batch: 4, Backend: "cpu", Stderr: &stderr}, &jl)
	if Code(err) != ExitError || !strings.Contains(fmt.Sprint(err), "121 of 122 images") {
		t.Errorf("120 bad files, a missing one and a good one: %v", err)
	}
	if n := strings.Count(jl.String(), `"error"`); n != 121 || !strings.Contains(jl.String(), "z.png") {
		t.Errorf("%d error lines, want 121, and z.png classified:\n%.500s", n, jl.String())
	}
	var arr bytes.Buffer
	err = Predict(PredictOptions{Weights: filepath.Join(run, "best.ckpt"), Images: []string{filepath.Join(dir, "gone.png"), filepath.Join(folder, "a000.png")}, TopK: 1,
		JSON: true, Backend: "cpu", Stderr: &stderr}, &arr)
	var entries []ImagePrediction
	if jerr := json.Unmarshal(arr.Bytes(), &entries); jerr != nil || len(entries) != 2 || Code(err) != ExitError {
		t.Errorf("--json with a missing and a bad file: %v, %v:\n%s", err, jerr, arr.String())
	}
}

// Interrupted in validation (after the epoch's last step), a run resumes into the
// validation alone: the same weights as the straight run, the epoch's learning rate
// in its record, and no made-up training numbers.
func TestInterruptInValidationThenResume(t *testing.T) {
	dir, cfg := setup(t)
	c, _, err := ConfigSource{Path: cfg, Sets: []string{"train.epochs=1"}}.Load()
	if err != nil {
		t.Fatal(err)
	}
	runTo := func(out string, resume *checkpoint.Checkpoint, stopAt int64) error {
		net, err := openNet(c, "cpu", 2, 0, c.Train.BatchSize)
		if err != nil {
			t.Fatal(err)
		}
		defer net.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var log bytes.Buffer
		_, err = train.Run(ctx, train.Options{Config: c, Net: net.Network, Backend: net.Name, OutDir: out, Resume: resume, Log: &log,
			OnStep: func(s int64) {
				if s == stopAt {
					cancel()
				}
			}})
		return err
	}
	straight, split := filepath.Join(dir, "straight"), filepath.Join(dir, "split")
	if err := runTo(straight, nil, -1); err != nil {
		t.Fatal(err)
	}
	if err := runTo(split, nil, 7); !errors.Is(err, train.ErrInterrupted) { // 7 steps an epoch: the last
		t.Fatalf("interrupt at the last step: %v", err)
	}
	ck, err := checkpoint.Load(filepath.Join(split, "last.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := runTo(split, ck, -1); err != nil {
		t.Fatal(err)
	}
	a, _ := checkpoint.Load(filepath.Join(straight, "last.ckpt"))
	b, _ := checkpoint.Load(filepath.Join(split, "last.ckpt"))
	for i, w := range a.Weights {
		for j := range w.Data {
			if w.Data[j] != b.Weights[i].Data[j] {
				t.Fatalf("%s[%d]: %v straight, %v resumed", w.Name, j, w.Data[j], b.Weights[i].Data[j])
			}
		}
	}
	if a.State.Best != b.State.Best || b.State.Epoch != 1 {
		t.Errorf("validation: best %v straight, %v resumed (epoch %d)", a.State.Best, b.State.Best, b.State.Epoch)
	}
	recs, _, err := metrics.ReadFile(filepath.Join(split, "metrics.jsonl"))
	if err != nil || len(recs) != 1 || recs[0].LR != 0.02 || !math.IsNaN(recs[0].Loss) {
		t.Errorf("resumed epoch record %+v (%v): want lr 0.02 and a null training loss", recs, err)
	}
}
