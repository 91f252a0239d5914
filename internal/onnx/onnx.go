// Package onnx writes a network as an ONNX model (opset 13): the way a model trained
// here leaves the program for onnxruntime, TensorRT or OpenCV's dnn module.
//
// The graph is the inference network: one input "input" [N, C, H, W] float32 with a
// dynamic batch dimension N ("batch"), the layers in order (dropout, an identity at
// inference, is left out), and one output "probabilities" [N, classes], the softmax of
// the logits, which is what `alexnet predict` prints. Input preprocessing (resize,
// centre crop, mean and std) is not in the graph; the model's metadata_props carry it
// (see Export).
//
//	conv              Conv (kernel_shape, strides, pads, group), weights as initializers
//	relu              Relu
//	lrn               LRN (size, alpha, beta, bias = k): ONNX divides alpha by size, as we do
//	maxpool           MaxPool (kernel_shape, strides, pads; floor output size, as ours)
//	adaptive_avgpool  nothing when the size is kept, else AveragePool when the windows are
//	                  uniform (13 -> 6 is 3/2); other sizes are refused, naming the layer
//	flatten           Flatten (axis 1)
//	linear            Gemm (transB 1): y = x W^T + b with W [out, in] as stored
package onnx

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"

	"alexnet/internal/backend"
	"alexnet/internal/config"
	"alexnet/internal/model"
)

// Opset is the ONNX operator set the graph uses.
const Opset = 13

// irVersion 7 is the IR that goes with opset 13 (ONNX 1.8).
const irVersion = 7

// ONNX TensorProto.DataType and AttributeProto.AttributeType values.
const (
	typeFloat  = 1
	attrFloat  = 1
	attrInt    = 2
	attrInts   = 7
	attrString = 3
)

// Tensor is a named parameter: "conv1.weight" with its shape.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// Model is what Export writes.
type Model struct {
	Name    string            // the graph's name (the config's)
	Layers  []model.LayerInfo // model.Plan of the config
	Params  map[string]Tensor // by name, "conv1.weight" ...
	Meta    map[string]string // metadata_props: classes, mean, std, input size ...
	Version string            // producer_version
}

// Export writes m as an ONNX model to w.
func Export(w io.Writer, m Model) error {
	g, err := graph(m)
	if err != nil {
		return err
	}
	var mp msg
	mp.varint(1, irVersion) // ir_version
	mp.string(2, "alexnet") // producer_name
	mp.string(3, m.Version) // producer_version
	var op msg
	op.string(1, "")    // domain: the default, ai.onnx
	op.varint(2, Opset) // version
	mp.message(8, op)   // opset_import
	mp.message(7, g)    // graph
	keys := make([]string, 0, len(m.Meta))
	for k := range m.Meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var kv msg
		kv.string(1, k)
		kv.string(2, m.Meta[k])
		mp.message(14, kv) // metadata_props
	}
	_, err = w.Write(mp)
	return err
}

// builder accumulates a GraphProto's nodes and initializers.
type builder struct {
	m     Model
	g     msg
	cur   string // the name of the tensor the next node reads
	flat  bool   // cur is [N, features] (after a Flatten or a Gemm), not [N, C, H, W]
	nodes int
}

func graph(m Model) (msg, error) {
	if len(m.Layers) == 0 {
		return nil, fmt.Errorf("onnx: no layers")
	}
	b := &builder{m: m, cur: "input"}
	in := m.Layers[0].In
	classes := 0
	for _, l := range m.Layers {
		if err := b.layer(l); err != nil {
			return nil, fmt.Errorf("onnx: layer %s: %w", l.Name, err)
		}
		classes = l.Out.PerImage()
	}
	b.node("Softmax", "softmax", []string{b.cur}, "probabilities", attrs{{name: "axis", i: 1, kind: attrInt}})
	name := m.Name
	if name == "" {
		name = "alexnet" // the checker requires a graph name; a config's name is optional
	}
	b.g.string(2, name)                                            // name
	b.g.message(11, valueInfo("input", "batch", in.C, in.H, in.W)) // input
	b.g.message(12, valueInfo("probabilities", "batch", classes))  // output
	return b.g, nil
}

// valueInfo is a ValueInfoProto of a float tensor whose first dimension is the named
// dynamic one.
func valueInfo(name, first string, dims ...int) msg {
	var shape msg
	var d0 msg
	d0.string(2, first) // dim_param
	shape.message(1, d0)
	for _, d := range dims {
		var dm msg
		dm.varint(1, int64(d)) // dim_value
		shape.message(1, dm)
	}
	var tt msg
	tt.varint(1, typeFloat) // elem_type
	tt.message(2, shape)    // shape
	var tp msg
	tp.message(1, tt) // tensor_type
	var vi msg
	vi.string(1, name)
	vi.message(2, tp)
	return vi
}

type attr struct {
	name string
	kind int
	i    int64
	f    float32
	ints []int64
}

type attrs []attr

// node appends a NodeProto reading inputs and writing output.
func (b *builder) node(op, name string, inputs []string, output string, as attrs) {
	var n msg
	for _, in := range inputs {
		n.string(1, in) // input
	}
	n.string(2, output) // output
	n.string(3, name)   // name
	n.string(4, op)     // op_type
	for _, a := range as {
		var am msg
		am.string(1, a.name)
		switch a.kind {
		case attrFloat:
			am.float32(2, a.f)
		case attrInt:
			am.varint(3, a.i)
		case attrInts:
			am.ints(8, a.ints)
		}
		am.varint(20, int64(a.kind)) // type
		n.message(5, am)
	}
	b.g.message(1, n)
	b.cur = output
	b.nodes++
}

// initializer adds a parameter as a TensorProto and returns its name.
func (b *builder) initializer(name string, shape []int) (string, error) {
	t, ok := b.m.Params[name]
	if !ok {
		return "", fmt.Errorf("no parameter %s in the weights", name)
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	if len(t.Data) != n || !slices.Equal(t.Shape, shape) {
		return "", fmt.Errorf("parameter %s has shape %v (%d values), the layer needs %v", name, t.Shape, len(t.Data), shape)
	}
	var tp msg
	dims := make([]int64, len(shape))
	for i, d := range shape {
		dims[i] = int64(d)
	}
	tp.ints(1, dims)        // dims
	tp.varint(2, typeFloat) // data_type
	tp.string(8, name)      // name
	raw := make([]byte, 0, 4*n)
	for _, v := range t.Data {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
	}
	tp.bytes(9, raw) // raw_data, little-endian as the format requires
	b.g.message(5, tp)
	return name, nil
}

// params adds a conv or linear layer's weight and bias as initializers.
func (b *builder) params(l model.LayerInfo) (w, bias string, err error) {
	if w, err = b.initializer(l.Name+".weight", l.WeightShape); err != nil {
		return "", "", err
	}
	bias, err = b.initializer(l.Name+".bias", l.BiasShape)
	return w, bias, err
}

func ints(v ...int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

func (b *builder) layer(l model.LayerInfo) error {
	out := l.Name
	switch l.Type {
	case config.Conv:
		p := l.Conv
		w, bias, err := b.params(l)
		if err != nil {
			return err
		}
		b.node("Conv", l.Name, []string{b.cur, w, bias}, out, attrs{
			{name: "kernel_shape", kind: attrInts, ints: ints(p.KH, p.KW)},
			{name: "strides", kind: attrInts, ints: ints(p.StrideH, p.StrideW)},
			{name: "pads", kind: attrInts, ints: ints(p.PadH, p.PadW, p.PadH, p.PadW)},
			{name: "group", kind: attrInt, i: int64(p.Groups)},
		})
	case config.Linear:
		w, bias, err := b.params(l)
		if err != nil {
			return err
		}
		if !b.flat {
			// The plan lets a linear layer read [C, 1, 1] as it is (after adaptive
			// pooling to 1x1); Gemm takes only 2-D inputs.
			b.node("Flatten", l.Name+"_flatten", []string{b.cur}, l.Name+"_flatten", attrs{{name: "axis", kind: attrInt, i: 1}})
		}
		b.flat = true
		b.node("Gemm", l.Name, []string{b.cur, w, bias}, out, attrs{{name: "transB", kind: attrInt, i: 1}})
	case config.ReLU:
		b.node("Relu", l.Name, []string{b.cur}, out, nil)
	case config.LRN:
		p := l.LRN
		if p.Size%2 == 0 {
			// ONNX centres an even window one channel off from ours (and PyTorch's).
			return fmt.Errorf("LRN size %d: ONNX's LRN places an even window differently; only odd sizes export", p.Size)
		}
		b.node("LRN", l.Name, []string{b.cur}, out, attrs{
			{name: "size", kind: attrInt, i: int64(p.Size)},
			{name: "alpha", kind: attrFloat, f: float32(p.Alpha)},
			{name: "beta", kind: attrFloat, f: float32(p.Beta)},
			{name: "bias", kind: attrFloat, f: float32(p.K)},
		})
	case config.MaxPool:
		p := l.Pool
		b.node("MaxPool", l.Name, []string{b.cur}, out, attrs{
			{name: "kernel_shape", kind: attrInts, ints: ints(p.KH, p.KW)},
			{name: "strides", kind: attrInts, ints: ints(p.StrideH, p.StrideW)},
			{name: "pads", kind: attrInts, ints: ints(p.PadH, p.PadW, p.PadH, p.PadW)},
		})
	case config.AdaptiveAvgPool:
		return b.adaptive(l)
	case config.Flatten:
		b.node("Flatten", l.Name, []string{b.cur}, out, attrs{{name: "axis", kind: attrInt, i: 1}})
		b.flat = true
	case config.Dropout:
		// An identity at inference: no node.
	default:
		return fmt.Errorf("type %s has no ONNX form here", l.Type)
	}
	return nil
}

// adaptive writes adaptive average pooling as ONNX's fixed pooling, which the input
// size fixed at export makes possible when every window has one size at one stride.
func (b *builder) adaptive(l model.LayerInfo) error {
	in, out := l.In, l.Out
	if in.H == out.H && in.W == out.W {
		return nil // each window is one pixel: the identity
	}
	kh, sh, okH := backend.UniformWindows(in.H, out.H)
	kw, sw, okW := backend.UniformWindows(in.W, out.W)
	if !okH || !okW {
		return fmt.Errorf("adaptive pooling %dx%d -> %dx%d has windows of different sizes, which ONNX's AveragePool cannot express; export at an input size that makes them even",
			in.H, in.W, out.H, out.W)
	}
	b.node("AveragePool", l.Name, []string{b.cur}, l.Name, attrs{
		{name: "kernel_shape", kind: attrInts, ints: ints(kh, kw)},
		{name: "strides", kind: attrInts, ints: ints(sh, sw)},
	})
	return nil
}
