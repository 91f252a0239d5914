package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"alexnet/internal/atomicfile"
	"alexnet/internal/model"
	"alexnet/internal/onnx"
)

// ExportOptions are the flags of `alexnet export`.
type ExportOptions struct {
	Config  ConfigSource
	Weights string
	Format  string // onnx
	Out     string
}

// Export writes a checkpoint (or a torchvision .pth) as an ONNX model: the inference
// graph with a dynamic batch dimension and softmax probabilities as its output, and
// what a user needs to feed it as metadata (classes, input size, resize and crop,
// mean and std).
func Export(o ExportOptions, out io.Writer) error {
	if o.Weights == "" || o.Out == "" {
		return usage(errors.New("export: --weights and --out are required"))
	}
	if f := strings.ToLower(o.Format); f != "onnx" && f != "" {
		return usage(fmt.Errorf("export: --format %q: the one format is onnx", o.Format))
	}
	ck, c, err := loadTrained(o.Config, o.Weights)
	if err != nil {
		return err
	}
	infos, err := model.Plan(c.Model)
	if err != nil {
		return usage(err)
	}
	params := map[string]onnx.Tensor{}
	for _, t := range ck.Weights {
		params[t.Name] = onnx.Tensor{Name: t.Name, Shape: t.Shape, Data: t.Data}
	}
	in := c.Model.Input
	meta := map[string]string{
		"config":       c.Name,
		"input":        "NCHW float32, " + strconv.Itoa(in.Channels) + "x" + strconv.Itoa(in.Height) + "x" + strconv.Itoa(in.Width),
		"input_size":   fmt.Sprintf("[%d, %d, %d]", in.Channels, in.Height, in.Width),
		"resize":       strconv.Itoa(c.Data.Resize),
		"crop":         strconv.Itoa(c.Data.Crop),
		"preprocess":   "RGB (or gray) scaled to [0, 1]; shorter side resized to `resize` (0: none), centre crop of `crop` (0: none); then (x - mean) / std per channel",
		"output":       "probabilities: softmax over the classes, [batch, classes]",
		"weights_from": filepath.Base(o.Weights),
	}
	for key, v := range map[string]any{"mean": c.Data.Mean, "std": c.Data.Std, "classes": ck.State.Classes} {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		meta[key] = string(b)
	}
	m := onnx.Model{Name: c.Name, Layers: infos, Params: params, Meta: meta, Version: Version()}
	err = atomicfile.Write(o.Out, 0o644, func(w io.Writer) error { return onnx.Export(w, m) })
	if err != nil {
		return usage(err)
	}
	fmt.Fprintf(out, "wrote %s: ONNX opset %d, %s, input [batch, %d, %d, %d], output probabilities [batch, %d]\n",
		o.Out, onnx.Opset, c.Name, in.Channels, in.Height, in.Width, c.Model.Classes)
	return nil
}
