package model

import (
	"fmt"
	"math"
	"math/rand/v2"

	"alexnet/internal/backend"
	"alexnet/internal/safetensors"
)

// Param is one parameter tensor of the network, named and shaped as a PyTorch
// state_dict has it, whichever devices hold its rows.
type Param struct {
	Name      string // "conv1.weight"
	Shape     []int
	Len       int
	LRMult    float32
	DecayMult float32
	layer     LayerInfo
	bias      bool
	// parts[t] is part t's rows of it (nil where the part holds none): all of
	// them on one device, half the output channels or units on a tower.
	parts []*paramPart
}

// paramPart is rows [lo, hi) of a parameter's first dimension (output channels or
// units), rowLen floats each, on one part's backend, with their gradient and
// momentum (nil in an inference network).
type paramPart struct {
	lo, hi, rowLen int
	W, G, V        backend.Buffer
}

// rows is the part's slice of the whole tensor's values.
func (pp *paramPart) rows(data []float32) []float32 { return data[pp.lo*pp.rowLen : pp.hi*pp.rowLen] }

// buildParams allocates each part's rows of every conv and linear layer's weight
// and bias, in the order of the layers (the order Init draws them in).
func (m *Network) buildParams() error {
	for _, l := range m.Plan {
		if l.WeightShape == nil {
			continue
		}
		for k, shape := range [][]int{l.WeightShape, l.BiasShape} {
			p := &Param{Name: l.Name + [2]string{".weight", ".bias"}[k], Shape: shape, Len: prod(shape), layer: l.LayerInfo,
				bias: k == 1, LRMult: float32(l.Cfg.LRMult[k]), DecayMult: float32(l.Cfg.DecayMult[k]),
				parts: make([]*paramPart, len(m.parts))}
			for _, pt := range m.parts {
				tl := l.Parts[pt.t]
				if !tl.Active || tl.RowHi == tl.RowLo {
					continue
				}
				pp := &paramPart{lo: tl.RowLo, hi: tl.RowHi, rowLen: prod(shape[1:])}
				bufs := []*backend.Buffer{&pp.W, &pp.G, &pp.V}
				if m.inference {
					bufs = bufs[:1]
				}
				for _, b := range bufs {
					var err error
					if *b, err = pt.alloc((pp.hi-pp.lo)*pp.rowLen, 1); err != nil {
						return fmt.Errorf("parameter %s: %w", p.Name, err)
					}
				}
				p.parts[pt.t] = pp
				pt.params = append(pt.params, pp)
			}
			m.Params = append(m.Params, p)
		}
	}
	return nil
}

// layerParams finds a part's rows of a layer's weight and bias.
func (m *Network) layerParams(t int, layer string) (w, b *paramPart) {
	for _, p := range m.Params {
		switch p.Name {
		case layer + ".weight":
			w = p.parts[t]
		case layer + ".bias":
			b = p.parts[t]
		}
	}
	return w, b
}

// Init draws every parameter from its layer's initialiser, deterministically from
// seed (each tensor from its own stream, so adding a layer does not shift the
// others), whole on the host, and uploads each part's rows: one device and two
// start from the same weights. Momentum and gradients are zeroed.
func (m *Network) Init(seed uint64) error {
	for i, p := range m.Params {
		data, err := InitValues(p.layer, p.bias, seed, i)
		if err != nil {
			return err
		}
		if err := m.upload(p, data, func(pp *paramPart) backend.Buffer { return pp.W }); err != nil {
			return fmt.Errorf("init: %w", err)
		}
	}
	if m.inference {
		return nil
	}
	if err := m.eachParam(func(pt *part, pp *paramPart) error { return pt.b.Zero(pp.V) }); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	return m.ZeroGrad()
}

// InitValues draws parameter number index of the network (weights and biases
// counted in layer order) on the host: layer's weight, or its bias when bias is set,
// from PCG(seed, index+1).
func InitValues(layer LayerInfo, bias bool, seed uint64, index int) ([]float32, error) {
	rng := rand.New(rand.NewPCG(seed, uint64(index)+1))
	n := layer.WeightShape[0]
	if !bias {
		n = prod(layer.WeightShape)
	}
	data := make([]float32, n)
	cfg := layer.Cfg
	fanIn := prod(layer.WeightShape[1:])
	fanOut := layer.WeightShape[0] * prod(layer.WeightShape[2:])
	uniform := func(bound float64) {
		for j := range data {
			data[j] = float32((2*rng.Float64() - 1) * bound)
		}
	}
	normal := func(std float64) {
		for j := range data {
			data[j] = float32(rng.NormFloat64() * std)
		}
	}
	switch {
	case bias && cfg.Bias != nil:
		for j := range data {
			data[j] = float32(*cfg.Bias)
		}
	case bias && cfg.Init == "pytorch":
		uniform(1 / math.Sqrt(float64(fanIn)))
	case bias: // zero
	case cfg.Init == "gaussian":
		normal(cfg.Std)
	case cfg.Init == "kaiming": // He et al.: N(0, 2/fan_in), for ReLU nets
		normal(math.Sqrt(2 / float64(fanIn)))
	case cfg.Init == "xavier": // Glorot uniform
		uniform(math.Sqrt(6 / float64(fanIn+fanOut)))
	case cfg.Init == "pytorch": // kaiming_uniform(a=sqrt(5)): U(-1/sqrt(fan_in), ..)
		uniform(1 / math.Sqrt(float64(fanIn)))
	default:
		return nil, fmt.Errorf("layer %s: unknown init %q", layer.Name, cfg.Init)
	}
	return data, nil
}

// eachParam runs f for every part's parameter rows, the parts at once.
func (m *Network) eachParam(f func(pt *part, pp *paramPart) error) error {
	return m.all(func(pt *part) error {
		for _, pp := range pt.params {
			if err := f(pt, pp); err != nil {
				return err
			}
		}
		return nil
	})
}

// ZeroGrad clears the parameter gradients.
func (m *Network) ZeroGrad() error {
	if m.inference {
		return errInference
	}
	return m.eachParam(func(pt *part, pp *paramPart) error { return pt.b.Zero(pp.G) })
}

// Step applies SGD in the paper's form to every parameter, with its layer's
// lr_mult and decay_mult, in one backend call per part. Each part updates its own
// rows: rows are independent in SGD, so the towers' update is one device's.
func (m *Network) Step(lr, momentum, decay float64) error {
	if m.inference {
		return errInference
	}
	return m.all(func(pt *part) error {
		pt.sgd = pt.sgd[:0]
		for _, p := range m.Params {
			if pp := p.parts[pt.t]; pp != nil {
				pt.sgd = append(pt.sgd, backend.SGDParam{W: pp.W, G: pp.G, V: pp.V, LR: float32(lr) * p.LRMult, Decay: float32(decay) * p.DecayMult})
			}
		}
		if err := pt.b.SGD(pt.sgd, float32(momentum), float32(1/m.lossScale)); err != nil {
			return fmt.Errorf("sgd%s: %w", m.on(pt), err)
		}
		return nil
	})
}

// GradsFinite reports whether every parameter gradient is finite (no fp16 overflow).
func (m *Network) GradsFinite() (bool, error) {
	if m.inference {
		return false, errInference
	}
	return m.allFinite(func(pp *paramPart) backend.Buffer { return pp.G })
}

// ParamsFinite reports whether every weight and bias is finite. The loss alone
// does not tell: oneDNN's ReLU and max pooling turn a NaN into a number, so on
// the cpu backend a NaN weight can leave the loss finite while its layer is dead.
func (m *Network) ParamsFinite() (bool, error) {
	return m.allFinite(func(pp *paramPart) backend.Buffer { return pp.W })
}

func (m *Network) allFinite(pick func(pp *paramPart) backend.Buffer) (bool, error) {
	ok := make([]bool, len(m.parts))
	err := m.all(func(pt *part) error {
		bs := make([]backend.Buffer, len(pt.params))
		for i, pp := range pt.params {
			bs[i] = pick(pp)
		}
		var err error
		ok[pt.t], err = pt.b.AllFinite(bs)
		return err
	})
	for _, o := range ok {
		if !o {
			return false, err
		}
	}
	return true, err
}

// Weights downloads the parameters as whole named tensors ("conv1.weight"
// [96 3 11 11], rows from every part), so checkpoints move freely between one
// device and two.
func (m *Network) Weights() ([]safetensors.Tensor, error) {
	return m.tensors(func(pp *paramPart) backend.Buffer { return pp.W })
}

// Momentum downloads the SGD momentum buffers, named and shaped like the weights.
func (m *Network) Momentum() ([]safetensors.Tensor, error) {
	if m.inference {
		return nil, errInference
	}
	return m.tensors(func(pp *paramPart) backend.Buffer { return pp.V })
}

// Gradients downloads the accumulated gradients, named and shaped like the weights.
func (m *Network) Gradients() ([]safetensors.Tensor, error) {
	if m.inference {
		return nil, errInference
	}
	return m.tensors(func(pp *paramPart) backend.Buffer { return pp.G })
}

func (m *Network) tensors(which func(*paramPart) backend.Buffer) ([]safetensors.Tensor, error) {
	var out []safetensors.Tensor
	for _, p := range m.Params {
		data := make([]float32, p.Len)
		for t, pp := range p.parts {
			if pp == nil {
				continue
			}
			if err := m.parts[t].b.Download(pp.rows(data), which(pp)); err != nil {
				return nil, fmt.Errorf("download %s%s: %w", p.Name, m.from(t), err)
			}
		}
		out = append(out, safetensors.Tensor{Name: p.Name, Shape: append([]int(nil), p.Shape...), Data: data})
	}
	return out, nil
}

// LoadWeights uploads whole named tensors into the parameters; every parameter
// must be present with its exact shape, and no tensor may be left over.
func (m *Network) LoadWeights(ts []safetensors.Tensor) error {
	return m.load(ts, func(pp *paramPart) backend.Buffer { return pp.W }, "weights")
}

// LoadMomentum restores the SGD momentum buffers (for an exact resume).
func (m *Network) LoadMomentum(ts []safetensors.Tensor) error {
	if m.inference {
		return errInference
	}
	return m.load(ts, func(pp *paramPart) backend.Buffer { return pp.V }, "momentum")
}

func (m *Network) load(ts []safetensors.Tensor, which func(*paramPart) backend.Buffer, what string) error {
	byName := map[string]safetensors.Tensor{}
	for _, t := range ts {
		byName[t.Name] = t
	}
	for _, p := range m.Params {
		t, ok := byName[p.Name]
		if !ok {
			return fmt.Errorf("%s: no tensor %s (shape %v) for this model", what, p.Name, p.Shape)
		}
		if !sameShape(t.Shape, p.Shape) || len(t.Data) != p.Len {
			return fmt.Errorf("%s: tensor %s has shape %v, the model needs %v", what, p.Name, t.Shape, p.Shape)
		}
		if err := m.upload(p, t.Data, which); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		delete(byName, p.Name)
	}
	for name := range byName {
		return fmt.Errorf("%s: tensor %s is not a parameter of this model", what, name)
	}
	return nil
}

// upload sends each part its rows of a whole tensor's values.
func (m *Network) upload(p *Param, data []float32, which func(*paramPart) backend.Buffer) error {
	for t, pp := range p.parts {
		if pp == nil {
			continue
		}
		if err := m.parts[t].b.Upload(which(pp), pp.rows(data)); err != nil {
			return fmt.Errorf("upload %s%s: %w", p.Name, m.to(t), err)
		}
	}
	return nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// WeightLoader fills a network's weights tensor by tensor as a checkpoint is read
// (checkpoint.LoadWeightsInto): straight into the parameter's buffer where one
// part holds it whole in host memory, else through one tensor's copy at a time.
// The checkpoint is so never held whole besides the network: a third of
// LoadWeights' peak for AlexNet's 244 MB.
type WeightLoader struct {
	m      *Network
	loaded map[string]bool
}

// WeightLoader starts loading weights.
func (m *Network) WeightLoader() *WeightLoader {
	return &WeightLoader{m: m, loaded: map[string]bool{}}
}

// Dest is where tensor name, of shape, goes; the rules are LoadWeights'.
func (l *WeightLoader) Dest(name string, shape []int) (safetensors.Dest, error) {
	var p *Param
	for _, q := range l.m.Params {
		if q.Name == name {
			p = q
		}
	}
	switch {
	case p == nil:
		return safetensors.Dest{}, fmt.Errorf("weights: tensor %s is not a parameter of this model", name)
	case l.loaded[name]:
		return safetensors.Dest{}, fmt.Errorf("weights: tensor %s appears twice", name)
	case !sameShape(shape, p.Shape):
		return safetensors.Dest{}, fmt.Errorf("weights: tensor %s has shape %v, the model needs %v", name, shape, p.Shape)
	}
	l.loaded[name] = true
	for t, pp := range p.parts {
		h, ok := l.m.parts[t].b.(backend.HostMemory)
		if pp == nil || pp.hi-pp.lo != p.Shape[0] || !ok {
			continue
		}
		data, err := h.Host(pp.W)
		if err != nil {
			return safetensors.Dest{}, fmt.Errorf("weights: %s: %w", name, err)
		}
		return safetensors.Dest{Data: data}, nil
	}
	data := make([]float32, p.Len)
	return safetensors.Dest{Data: data, Done: func() error {
		if err := l.m.upload(p, data, func(pp *paramPart) backend.Buffer { return pp.W }); err != nil {
			return fmt.Errorf("weights: %w", err)
		}
		return nil
	}}, nil
}

// Done checks that every parameter was loaded.
func (l *WeightLoader) Done() error {
	for _, p := range l.m.Params {
		if !l.loaded[p.Name] {
			return fmt.Errorf("weights: no tensor %s (shape %v) for this model", p.Name, p.Shape)
		}
	}
	return nil
}
