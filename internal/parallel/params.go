package parallel

import (
	"fmt"

	"alexnet/internal/backend"
	"alexnet/internal/model"
	"alexnet/internal/safetensors"
)

// param is a tower's part of one parameter tensor: rows [lo, hi) of the whole
// tensor's first dimension (output channels or units), rowLen floats each.
type param struct {
	name      string
	lo, hi    int
	rowLen    int
	W, G, V   backend.Buffer
	lrMult    float32
	decayMult float32
}

// fullParam is one of the network's parameter tensors, as the single-device
// network names and shapes it, with the towers' parts.
type fullParam struct {
	Name  string
	Shape []int
	Len   int
	layer model.LayerInfo
	bias  bool
	parts [2]*param // nil where a tower holds no rows
}

// buildParams allocates each tower's rows of every conv and linear layer's weight
// and bias, in the single network's order of parameters.
func (m *Towers) buildParams() error {
	for _, l := range m.Plan {
		if l.WeightShape == nil {
			continue
		}
		for k, shape := range [][]int{l.WeightShape, l.BiasShape} {
			fp := &fullParam{Name: l.Name + suffix(k), Shape: shape, Len: prod(shape), layer: l.LayerInfo, bias: k == 1}
			for _, tw := range m.towers {
				tl := l.Towers[tw.t]
				if !tl.Active || tl.RowHi == tl.RowLo {
					continue
				}
				p := &param{name: fp.Name, lo: tl.RowLo, hi: tl.RowHi, rowLen: prod(shape[1:]),
					lrMult: float32(l.Cfg.LRMult[k]), decayMult: float32(l.Cfg.DecayMult[k])}
				n := (p.hi - p.lo) * p.rowLen
				var err error
				for _, b := range []*backend.Buffer{&p.W, &p.G, &p.V} {
					if *b, err = tw.alloc(n, 1); err != nil {
						return fmt.Errorf("parameter %s: %w", fp.Name, err)
					}
				}
				fp.parts[tw.t] = p
				tw.params = append(tw.params, p)
			}
			m.params = append(m.params, fp)
		}
	}
	return nil
}

func suffix(k int) string {
	if k == 0 {
		return ".weight"
	}
	return ".bias"
}

func prod(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// layerParams finds a tower's weight and bias of a layer.
func (tw *tower) layerParams(layer string) (w, b *param) {
	for _, p := range tw.params {
		switch p.name {
		case layer + ".weight":
			w = p
		case layer + ".bias":
			b = p
		}
	}
	return w, b
}

// ZeroGrad clears the parameter gradients on both towers.
func (m *Towers) ZeroGrad() error {
	return m.both(func(tw *tower) error {
		for _, p := range tw.params {
			if err := tw.b.Zero(p.G); err != nil {
				return fmt.Errorf("tower %d: zero %s: %w", tw.t, p.name, err)
			}
		}
		return nil
	})
}

// Step applies SGD in the paper's form to every parameter on both towers, with
// its layer's lr_mult and decay_mult. Each tower updates its own rows: the rows
// are independent in SGD, so this is the single network's update.
func (m *Towers) Step(lr, momentum, decay float64) error {
	gscale := float32(1)
	if m.lossScale != 0 {
		gscale = float32(1 / m.lossScale)
	}
	return m.both(func(tw *tower) error {
		ps := make([]backend.SGDParam, len(tw.params))
		for i, p := range tw.params {
			ps[i] = backend.SGDParam{W: p.W, G: p.G, V: p.V, LR: float32(lr) * p.lrMult, Decay: float32(decay) * p.decayMult}
		}
		if err := tw.b.SGD(ps, float32(momentum), gscale); err != nil {
			return fmt.Errorf("sgd on tower %d: %w", tw.t, err)
		}
		return tw.b.Sync()
	})
}

// SetLossScale makes Loss multiply the loss's gradient by s and Step divide the
// gradients by it (fp16 training).
func (m *Towers) SetLossScale(s float64) { m.lossScale = s }

// GradsFinite reports whether every gradient on both towers is finite.
func (m *Towers) GradsFinite() (bool, error) {
	return m.allFinite(func(p *param) backend.Buffer { return p.G })
}

// ParamsFinite reports whether every weight and bias on both towers is finite
// (see model.Network.ParamsFinite).
func (m *Towers) ParamsFinite() (bool, error) {
	return m.allFinite(func(p *param) backend.Buffer { return p.W })
}

func (m *Towers) allFinite(pick func(p *param) backend.Buffer) (bool, error) {
	var ok [2]bool
	err := m.both(func(tw *tower) error {
		bs := make([]backend.Buffer, len(tw.params))
		for i, p := range tw.params {
			bs[i] = pick(p)
		}
		var err error
		ok[tw.t], err = tw.b.AllFinite(bs)
		return err
	})
	return ok[0] && ok[1], err
}

// Weights downloads the parameters as the single network's named tensors, whole
// ("conv1.weight" [96 3 11 11], rows from both towers), so checkpoints move freely
// between one device and two.
func (m *Towers) Weights() ([]safetensors.Tensor, error) {
	return m.tensors(func(p *param) backend.Buffer { return p.W })
}

// Momentum downloads the SGD momentum buffers, named and shaped like the weights.
func (m *Towers) Momentum() ([]safetensors.Tensor, error) {
	return m.tensors(func(p *param) backend.Buffer { return p.V })
}

// Gradients downloads the accumulated gradients, named and shaped like the weights.
func (m *Towers) Gradients() ([]safetensors.Tensor, error) {
	return m.tensors(func(p *param) backend.Buffer { return p.G })
}

func (m *Towers) tensors(which func(*param) backend.Buffer) ([]safetensors.Tensor, error) {
	var out []safetensors.Tensor
	for _, fp := range m.params {
		data := make([]float32, fp.Len)
		for t, p := range fp.parts {
			if p == nil {
				continue
			}
			if err := m.towers[t].b.Download(data[p.lo*p.rowLen:p.hi*p.rowLen], which(p)); err != nil {
				return nil, fmt.Errorf("download %s from tower %d: %w", fp.Name, t, err)
			}
		}
		out = append(out, safetensors.Tensor{Name: fp.Name, Shape: append([]int(nil), fp.Shape...), Data: data})
	}
	return out, nil
}

// LoadWeights uploads whole named tensors (the single network's) into the towers'
// rows; every parameter must be present with its exact shape, and no tensor may be
// left over.
func (m *Towers) LoadWeights(ts []safetensors.Tensor) error {
	return m.load(ts, func(p *param) backend.Buffer { return p.W }, "weights")
}

// LoadMomentum restores the SGD momentum buffers (for an exact resume).
func (m *Towers) LoadMomentum(ts []safetensors.Tensor) error {
	return m.load(ts, func(p *param) backend.Buffer { return p.V }, "momentum")
}

func (m *Towers) load(ts []safetensors.Tensor, which func(*param) backend.Buffer, what string) error {
	byName := map[string]safetensors.Tensor{}
	for _, t := range ts {
		byName[t.Name] = t
	}
	for _, fp := range m.params {
		t, ok := byName[fp.Name]
		if !ok {
			return fmt.Errorf("%s: no tensor %s (shape %v) for this model", what, fp.Name, fp.Shape)
		}
		if !sameShape(t.Shape, fp.Shape) || len(t.Data) != fp.Len {
			return fmt.Errorf("%s: tensor %s has shape %v, the model needs %v", what, fp.Name, t.Shape, fp.Shape)
		}
		if err := m.upload(fp, t.Data, which); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		delete(byName, fp.Name)
	}
	for name := range byName {
		return fmt.Errorf("%s: tensor %s is not a parameter of this model", what, name)
	}
	return nil
}

func (m *Towers) upload(fp *fullParam, data []float32, which func(*param) backend.Buffer) error {
	for t, p := range fp.parts {
		if p == nil {
			continue
		}
		if err := m.towers[t].b.Upload(which(p), data[p.lo*p.rowLen:p.hi*p.rowLen]); err != nil {
			return fmt.Errorf("upload %s to tower %d: %w", fp.Name, t, err)
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

// Init draws every parameter as model.Network.Init does (the same streams: tensor
// i of the network from PCG(seed, i+1)), whole on the host, and uploads each
// tower's rows, so one device and two start from the same weights. Momentum and
// gradients are zeroed.
func (m *Towers) Init(seed uint64) error {
	for i, fp := range m.params {
		data, err := model.InitValues(fp.layer, fp.bias, seed, i)
		if err != nil {
			return err
		}
		if err := m.upload(fp, data, func(p *param) backend.Buffer { return p.W }); err != nil {
			return fmt.Errorf("init: %w", err)
		}
		if err := m.upload(fp, make([]float32, fp.Len), func(p *param) backend.Buffer { return p.V }); err != nil {
			return fmt.Errorf("init: %w", err)
		}
	}
	return m.ZeroGrad()
}
