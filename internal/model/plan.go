// Package model builds the network a config describes: shapes, parameters, FLOPs
// and memory (Plan, for `alexnet summary` and validation), and the layers running
// forward and backward on a backend (Network).
package model

import (
	"fmt"

	"alexnet/internal/backend"
	"alexnet/internal/config"
)

// LayerInfo is one layer's place in the network, per image (batch 1).
type LayerInfo struct {
	Index   int
	Name    string
	Type    string
	In, Out backend.Shape // N = 1
	// WeightShape and BiasShape are nil for layers without parameters.
	WeightShape []int
	BiasShape   []int
	Params      int
	// FLOPs of the forward pass per image, a multiply-add counted as two.
	FLOPs int64
	// InPlace layers write their output over their input (ReLU, Flatten).
	InPlace bool

	Conv   *backend.ConvParams
	Linear *backend.LinearParams
	LRN    *backend.LRNParams
	Pool   *backend.PoolParams
	Cfg    config.Layer
}

// Plan walks the layers, computing shapes and checking that each layer fits the one
// before it; errors name the layer ("layer fc6: expects 9216 inputs, pool5 gives 6400").
func Plan(m config.Model) ([]LayerInfo, error) {
	cur := backend.Shape{N: 1, C: m.Input.Channels, H: m.Input.Height, W: m.Input.Width}
	from := "the input"
	flat := false
	var infos []LayerInfo
	for i, l := range m.Layers {
		info := LayerInfo{Index: i, Name: l.Name, Type: l.Type, In: cur, Cfg: l}
		fail := func(format string, a ...any) ([]LayerInfo, error) {
			return nil, fmt.Errorf("layer %s: %s", l.Name, fmt.Sprintf(format, a...))
		}
		spatial := func() error {
			if flat {
				return fmt.Errorf("layer %s: a %s layer needs an image, but %s is flattened", l.Name, l.Type, from)
			}
			return nil
		}
		switch l.Type {
		case config.Conv:
			if err := spatial(); err != nil {
				return nil, err
			}
			p := backend.ConvParams{In: cur, OutC: l.Out, KH: l.Kernel, KW: l.Kernel, StrideH: l.Stride, StrideW: l.Stride,
				PadH: l.Pad, PadW: l.Pad, Groups: l.Groups}
			if cur.C%l.Groups != 0 {
				return fail("groups %d do not divide the %d channels %s gives", l.Groups, cur.C, from)
			}
			out, err := p.Out()
			if err != nil {
				return fail("%s gives %dx%dx%d: %v", from, cur.C, cur.H, cur.W, err)
			}
			info.Conv = &p
			info.WeightShape = []int{l.Out, cur.C / l.Groups, l.Kernel, l.Kernel}
			info.BiasShape = []int{l.Out}
			info.Params = p.WeightLen() + l.Out
			info.FLOPs = 2*int64(p.WeightLen())*int64(out.H*out.W) + int64(out.PerImage())
			cur = out
		case config.Linear:
			if !flat && (cur.H != 1 || cur.W != 1) {
				return fail("a linear layer needs a flatten layer before it (%s gives %dx%dx%d)", from, cur.C, cur.H, cur.W)
			}
			in := cur.PerImage()
			if l.In > 0 && l.In != in {
				return fail("expects %d inputs, %s gives %d", l.In, from, in)
			}
			p := backend.LinearParams{N: 1, In: in, Out: l.Out}
			info.Linear = &p
			info.WeightShape = []int{l.Out, in}
			info.BiasShape = []int{l.Out}
			info.Params = in*l.Out + l.Out
			info.FLOPs = 2*int64(in)*int64(l.Out) + int64(l.Out)
			cur = backend.Shape{N: 1, C: l.Out, H: 1, W: 1}
			flat = true
		case config.ReLU:
			info.InPlace = true
			info.FLOPs = int64(cur.PerImage())
		case config.LRN:
			if err := spatial(); err != nil {
				return nil, err
			}
			p := backend.LRNParams{In: cur, Size: l.Size, Alpha: float32(l.Alpha), Beta: float32(l.Beta), K: float32(l.K)}
			info.LRN = &p
			info.FLOPs = int64(cur.PerImage()) * int64(2*l.Size+4)
		case config.MaxPool, config.AdaptiveAvgPool:
			if err := spatial(); err != nil {
				return nil, err
			}
			p := backend.PoolParams{In: cur, Kind: backend.MaxPool, KH: l.Kernel, KW: l.Kernel,
				StrideH: l.Stride, StrideW: l.Stride, PadH: l.Pad, PadW: l.Pad}
			if l.Type == config.AdaptiveAvgPool {
				p = backend.PoolParams{In: cur, Kind: backend.AdaptiveAvgPool, OutH: l.OutSize, OutW: l.OutSize}
			}
			out, err := p.Out()
			if err != nil {
				return fail("%s gives %dx%dx%d: %v", from, cur.C, cur.H, cur.W, err)
			}
			info.Pool = &p
			if p.Kind == backend.MaxPool {
				info.FLOPs = int64(out.PerImage()) * int64(l.Kernel*l.Kernel)
			} else {
				info.FLOPs = int64(cur.PerImage())
			}
			cur = out
		case config.Dropout:
			info.FLOPs = int64(cur.PerImage())
		case config.Flatten:
			info.InPlace = true
			cur = backend.Shape{N: 1, C: cur.PerImage(), H: 1, W: 1}
			flat = true
		default:
			return fail("unknown layer type %q", l.Type)
		}
		info.Out = cur
		if l.Type != config.Flatten {
			from = l.Name
		}
		infos = append(infos, info)
	}
	if last := infos[len(infos)-1]; last.Out.PerImage() != m.Classes {
		return nil, fmt.Errorf("layer %s: gives %d outputs, model.classes is %d", last.Name, last.Out.PerImage(), m.Classes)
	}
	return infos, nil
}

// TotalParams sums the parameters of all layers.
func TotalParams(infos []LayerInfo) int {
	n := 0
	for _, l := range infos {
		n += l.Params
	}
	return n
}
