package app

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"alexnet/internal/checkpoint"
	"alexnet/internal/imagenet"
)

// onnxChecker is the Python that checks an exported model: Debian's python3-onnx
// (checker, strict shape inference) and python3-opencv (cv2.dnn runs it). The test
// skips, saying why, where they are not installed; .ci/run installs them.
func onnxChecker(t *testing.T) string {
	t.Helper()
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import onnx, cv2, numpy").Run(); err != nil {
		t.Skipf("%s cannot import onnx, cv2 and numpy (apt-get install python3-onnx python3-opencv): %v", py, err)
	}
	return py
}

// onnxMatchesPredict exports ckpt, runs the ONNX file in OpenCV on images prepared
// as predict prepares them, and holds its probabilities to predict's: the largest
// difference relative to the largest probability within 1e-4.
func onnxMatchesPredict(t *testing.T, ckpt string, images []string, classes int) {
	py := onnxChecker(t)
	dir := t.TempDir()
	model := filepath.Join(dir, "model.onnx")
	var out bytes.Buffer
	if err := Export(ExportOptions{Weights: ckpt, Out: model, Format: "onnx"}, &out); err != nil {
		t.Fatal(err)
	}
	t.Log(strings.TrimSpace(out.String()))
	ck, err := loadCheckpoint(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	c, err := configFor(ConfigSource{}, ck)
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	for _, path := range images {
		img, _, err := (&fileSource{paths: []string{path}, channels: c.Model.Input.Channels}).Load(0)
		if err != nil {
			t.Fatal(err)
		}
		x, err := predictTransform(c).Apply(img, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range x.Data {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
		}
	}
	input := filepath.Join(dir, "input.f32")
	if err := os.WriteFile(input, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	in := c.Model.Input
	cmd := exec.Command(py, filepath.Join("..", "..", "scripts", "check_onnx.py"), model, input,
		strconv.Itoa(len(images)), strconv.Itoa(in.Channels), strconv.Itoa(in.Height), strconv.Itoa(in.Width))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("check_onnx.py: %v\n%s", err, stderr.String())
	}
	var got struct {
		Opset      []int             `json:"opset"`
		OutputDims []any             `json:"output_dims"`
		InputDims  []any             `json:"input_dims"`
		Metadata   map[string]string `json:"metadata"`
		Probs      [][]float64       `json:"probabilities"`
		OpenCV     string            `json:"opencv"`
		ONNX       string            `json:"onnx"`
	}
	if err := json.Unmarshal(res, &got); err != nil {
		t.Fatalf("%v: %s", err, res)
	}
	t.Logf("onnx %s checker and strict shape inference passed; OpenCV %s ran it", got.ONNX, got.OpenCV)
	if len(got.Opset) != 1 || got.Opset[0] < 13 || len(got.OutputDims) != 2 || got.OutputDims[0] != "batch" ||
		got.OutputDims[1] != float64(classes) || got.InputDims[0] != "batch" {
		t.Errorf("opset %v, input %v, output %v: want 13+, [batch, C, H, W], [batch, %d]", got.Opset, got.InputDims, got.OutputDims, classes)
	}
	var names []string
	if err := json.Unmarshal([]byte(got.Metadata["classes"]), &names); err != nil || len(names) != classes || got.Metadata["mean"] == "" || got.Metadata["std"] == "" {
		t.Errorf("metadata %v: want the %d class names, mean and std", got.Metadata, classes)
	}

	out.Reset()
	if err := Predict(PredictOptions{Weights: ckpt, TopK: classes, JSON: true, Backend: "cpu", Images: images}, &out); err != nil {
		t.Fatal(err)
	}
	var preds []ImagePrediction
	if err := json.Unmarshal(out.Bytes(), &preds); err != nil || len(preds) != len(images) || len(got.Probs) != len(images) {
		t.Fatalf("predict %d images, ONNX %d (%v)", len(preds), len(got.Probs), err)
	}
	for i, p := range preds {
		var worst, top float64
		for _, q := range p.Predictions {
			top = math.Max(top, float64(q.Probability))
			worst = math.Max(worst, math.Abs(got.Probs[i][q.Index]-float64(q.Probability)))
		}
		t.Logf("%s: top %s %.4f; largest |ONNX - predict| %.3g, relative %.3g", filepath.Base(images[i]), p.Predictions[0].Label, top, worst, worst/top)
		if worst > 1e-4*top {
			t.Errorf("%s: ONNX probabilities differ from predict's by %.3g (relative %.3g), over 1e-4", images[i], worst, worst/top)
		}
	}
}

// The built-in kind of network (conv, LRN, overlapping pooling, groups, dropout,
// linear), trained a little, exports and runs in OpenCV as predict runs it.
func TestExportONNXSmallNet(t *testing.T) {
	onnxChecker(t)
	dir, cfg := setup(t)
	// An LRN strong enough to matter (the paper's alpha 1e-4 hardly changes these
	// small activations), so that a wrong alpha or k convention shows.
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	strong := strings.Replace(string(text), "alpha: 0.0001, beta: 0.75, k: 2", "alpha: 3, beta: 0.75, k: 1", 1)
	if strong == string(text) {
		t.Fatal("the small net's LRN is not where the test expects it")
	}
	if err := os.WriteFile(cfg, []byte(strong), 0o644); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(dir, "run")
	var out, log bytes.Buffer
	if err := Train(TrainOptions{Config: ConfigSource{Path: cfg, Sets: []string{"train.epochs=1"}}, OutDir: run, Backend: "cpu"}, &out, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	var images []string
	for i, row := range []int{4, 12, 20} {
		m := image.NewGray(image.Rect(0, 0, 28, 28))
		for x := 0; x < 28; x++ {
			m.SetGray(x, row, color.Gray{250})
			m.SetGray((x+i)%28, x, color.Gray{120})
		}
		path := filepath.Join(dir, strconv.Itoa(i)+".png")
		var b bytes.Buffer
		png.Encode(&b, m)
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		images = append(images, path)
	}
	onnxMatchesPredict(t, filepath.Join(run, "best.ckpt"), images, 10)
}

// torchvision's AlexNet (the fixture's formula weights), adaptive pooling included,
// straight from the .pth.
func TestExportONNXTorchvision(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads a 244 MB .pth")
	}
	onnxChecker(t)
	_, m := tvFixtures(t)
	pth := tvFormulaPTH(t, &m)
	var images []string
	for _, name := range tvImages {
		images = append(images, filepath.Join("testdata", name+".png"))
	}
	onnxMatchesPredict(t, pth, images, 1000)
}

// A layer ONNX cannot express is refused by name, and nothing is written.
func TestExportRefusals(t *testing.T) {
	dir, cfg := setup(t)
	out := filepath.Join(dir, "m.onnx")
	var b bytes.Buffer
	for _, o := range []ExportOptions{{Out: out}, {Weights: cfg}, {Weights: cfg, Out: out, Format: "tflite"}} {
		if err := Export(o, &b); Code(err) != ExitUsage {
			t.Errorf("%+v: %v (code %d), want a usage error", o, err, Code(err))
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused export left %s", out)
	}
}

// The paper's network (227x227, LRN, groups 2 in conv2, conv4 and conv5, stride-4
// conv1 without padding) with its initial weights, N(0, 0.01) and biases of 1.
func TestExportONNXPaperNet(t *testing.T) {
	if testing.Short() {
		t.Skip("the paper's 61 M-parameter network")
	}
	onnxChecker(t)
	ckpt := initCheckpoint(t, "alexnet", imagenet.Classes)
	onnxMatchesPredict(t, ckpt, []string{filepath.Join("testdata", "tv_500x375.png")}, 1000)
}

// A linear layer straight after adaptive pooling to 1x1 (no flatten layer: the plan
// allows it) gets a Flatten in the graph, since ONNX's Gemm takes 2-D inputs only.
func TestExportONNXLinearAfterPooling(t *testing.T) {
	onnxChecker(t)
	text := `
name: gap
model:
  input: {channels: 1, height: 28, width: 28}
  classes: 3
  layers:
    - {name: conv1, type: conv, out: 4, kernel: 3, pad: 1, init: kaiming}
    - {name: relu1, type: relu}
    - {name: pool, type: adaptive_avgpool, out_size: 1}
    - {name: fc, type: linear, out: 3, init: xavier}
data: {format: synthetic, mean: [0.5], std: [0.25]}
train: {batch_size: 4, epochs: 1, lr: 0.01}
`
	dir := t.TempDir()
	path := filepath.Join(dir, "gap.yaml")
	os.WriteFile(path, []byte(text), 0o644)
	ckpt := initCheckpoint(t, path, []string{"a", "b", "c"})
	img := filepath.Join(dir, "x.png")
	m := image.NewGray(image.Rect(0, 0, 28, 28))
	for i := range 28 {
		m.SetGray(i, i, color.Gray{230})
	}
	var b bytes.Buffer
	png.Encode(&b, m)
	os.WriteFile(img, b.Bytes(), 0o644)
	onnxMatchesPredict(t, ckpt, []string{img}, 3)
}

// initCheckpoint saves the network of config (a file or a built-in name) with its
// initial weights as a checkpoint, and returns its path.
func initCheckpoint(t *testing.T, config string, classes []string) string {
	t.Helper()
	c, _, err := ConfigSource{Path: config}.Load()
	if err != nil {
		t.Fatal(err)
	}
	net, err := openNet(c, "cpu", 0, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	if err := net.Init(uint64(c.Train.Seed)); err != nil {
		t.Fatal(err)
	}
	ws, err := net.Weights()
	if err != nil {
		t.Fatal(err)
	}
	text, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(t.TempDir(), "init.ckpt")
	if err := checkpoint.Save(ckpt, &checkpoint.Checkpoint{Weights: ws,
		State: checkpoint.State{Config: string(text), Classes: append([]string(nil), classes...)}}); err != nil {
		t.Fatal(err)
	}
	return ckpt
}
