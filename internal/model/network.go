package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"alexnet/internal/backend"
	"alexnet/internal/config"
	"alexnet/internal/safetensors"
)

// Param is one parameter tensor with its gradient and momentum, on the backend.
type Param struct {
	Name      string // "conv1.weight", as in a PyTorch state_dict
	Shape     []int
	Len       int
	W, G, V   backend.Buffer
	LRMult    float32
	DecayMult float32
	layer     LayerInfo
	bias      bool
}

// Network is a model built on a backend for a fixed batch size. Smaller batches
// run padded: the rows past n are zeros and take no part in the loss.
type Network struct {
	Cfg    config.Model
	Info   []LayerInfo
	Params []*Param
	B      backend.Backend
	Batch  int

	layers  []layer
	input   backend.Buffer
	logits  backend.Buffer
	dlogits backend.Buffer
	owned   []backend.Buffer
	n       int // rows of the current batch that are real
	// sums holds Loss's running [loss sum, top-1 hits, top-5 hits] over scored rows,
	// on the backend until TakeScores reads them.
	sums   backend.Buffer
	scored int
	// lossScale multiplies the loss's gradient (fp16 training); Step divides it out.
	lossScale float64
	sgd       []backend.SGDParam
	// inference: built for forward passes only (NewInference): no gradients, no
	// momentum, no dropout masks.
	inference bool
}

// errInference is what training calls on an inference network return.
var errInference = errors.New("the network was built for inference (model.NewInference): no gradients or optimizer state")

// New plans the model and builds it on b for batches of up to batch images. The
// parameters are allocated zeroed; call Init or LoadWeights.
func New(cfg config.Model, b backend.Backend, batch int) (*Network, error) {
	return newNetwork(cfg, b, batch, false)
}

// NewInference builds the model for forward passes only (predict, eval): parameters
// without gradient or momentum buffers, no buffers for the backward pass, dropout as
// the identity in place. For AlexNet that is a third of a training network's
// parameter memory. Loss and the scores still work (eval); training calls fail.
func NewInference(cfg config.Model, b backend.Backend, batch int) (*Network, error) {
	return newNetwork(cfg, b, batch, true)
}

func newNetwork(cfg config.Model, b backend.Backend, batch int, inference bool) (*Network, error) {
	infos, err := Plan(cfg)
	if err != nil {
		return nil, err
	}
	if batch <= 0 {
		return nil, fmt.Errorf("batch size must be positive (got %d)", batch)
	}
	m := &Network{Cfg: cfg, Info: infos, B: b, Batch: batch, lossScale: 1, inference: inference}
	if err := m.build(); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func (m *Network) alloc(n int) (backend.Buffer, error) {
	buf, err := m.B.Alloc(n)
	if err != nil {
		return nil, fmt.Errorf("allocate %d floats on %s: %w", n, m.B.Name(), err)
	}
	m.owned = append(m.owned, buf)
	return buf, nil
}

func (m *Network) build() error {
	N := m.Batch
	var err error
	if m.input, err = m.alloc(N * m.Info[0].In.PerImage()); err != nil {
		return err
	}
	// Forward buffers: each layer writes a new output, except in-place ones.
	ios := make([]bufs, len(m.Info))
	x := m.input
	for i, info := range m.Info {
		ios[i].x = x
		if info.InPlace || (m.inference && info.Type == config.Dropout) {
			ios[i].y = x
		} else if ios[i].y, err = m.alloc(N * info.Out.PerImage()); err != nil {
			return err
		}
		x = ios[i].y
	}
	m.logits = x
	if m.inference {
		// The loss's gradient only: Loss writes it as it scores (eval).
		if m.dlogits, err = m.alloc(N * m.Info[len(m.Info)-1].Out.PerImage()); err != nil {
			return err
		}
		if m.sums, err = m.alloc(3); err != nil {
			return err
		}
		return m.newLayers(ios)
	}
	ids, sizes := gradPlan(m.Info)
	grads := make([]backend.Buffer, len(sizes))
	for id, size := range sizes {
		if grads[id], err = m.alloc(N * size); err != nil {
			return err
		}
	}
	m.dlogits = grads[0]
	if m.sums, err = m.alloc(3); err != nil {
		return err
	}
	for i := range m.Info {
		if i+1 < len(m.Info) {
			ios[i].dy = grads[ids[i+1]]
		} else {
			ios[i].dy = m.dlogits
		}
		if ids[i] >= 0 {
			ios[i].dx = grads[ids[i]]
		}
	}
	return m.newLayers(ios)
}

func (m *Network) newLayers(ios []bufs) error {
	for i, info := range m.Info {
		l, err := m.newLayer(info, ios[i])
		if err != nil {
			return fmt.Errorf("layer %s on %s: %w", info.Name, m.B.Name(), err)
		}
		m.layers = append(m.layers, l)
	}
	return nil
}

func (m *Network) newLayer(info LayerInfo, bf bufs) (layer, error) {
	N := m.Batch
	withN := func(s backend.Shape) backend.Shape { s.N = N; return s }
	switch info.Type {
	case config.Conv:
		p := *info.Conv
		p.In = withN(p.In)
		op, err := m.B.NewConv(p)
		if err != nil {
			return nil, err
		}
		w, b, err := m.addParams(info)
		if err != nil {
			return nil, err
		}
		return &convLayer{bufs: bf, op: op, p: w, pb: b}, nil
	case config.Linear:
		p := *info.Linear
		p.N = N
		op, err := m.B.NewLinear(p)
		if err != nil {
			return nil, err
		}
		w, b, err := m.addParams(info)
		if err != nil {
			return nil, err
		}
		return &linearLayer{bufs: bf, op: op, p: w, pb: b}, nil
	case config.ReLU:
		return &reluLayer{bufs: bf, b: m.B}, nil
	case config.LRN:
		p := *info.LRN
		p.In = withN(p.In)
		op, err := m.B.NewLRN(p)
		if err != nil {
			return nil, err
		}
		return &opLayer{bufs: bf, op: op}, nil
	case config.MaxPool, config.AdaptiveAvgPool:
		p := *info.Pool
		p.In = withN(p.In)
		op, err := m.B.NewPool(p)
		if err != nil {
			return nil, err
		}
		return &opLayer{bufs: bf, op: op}, nil
	case config.Dropout:
		if m.inference {
			return &dropoutLayer{bufs: bf, b: m.B, p: float32(info.Cfg.P)}, nil
		}
		mask, err := m.alloc(N * info.Out.PerImage())
		if err != nil {
			return nil, err
		}
		return &dropoutLayer{bufs: bf, b: m.B, mask: mask, p: float32(info.Cfg.P)}, nil
	case config.Flatten:
		return flattenLayer{bufs: bf}, nil
	}
	return nil, fmt.Errorf("unknown layer type %q", info.Type)
}

func (m *Network) addParams(info LayerInfo) (w, b *Param, err error) {
	mk := func(suffix string, shape []int, bias bool) (*Param, error) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		p := &Param{Name: info.Name + "." + suffix, Shape: shape, Len: n, layer: info, bias: bias}
		k := 0
		if bias {
			k = 1
		}
		p.LRMult, p.DecayMult = float32(info.Cfg.LRMult[k]), float32(info.Cfg.DecayMult[k])
		var err error
		if p.W, err = m.alloc(n); err != nil {
			return nil, err
		}
		if m.inference {
			m.Params = append(m.Params, p)
			return p, nil
		}
		if p.G, err = m.alloc(n); err != nil {
			return nil, err
		}
		if p.V, err = m.alloc(n); err != nil {
			return nil, err
		}
		m.Params = append(m.Params, p)
		return p, nil
	}
	if w, err = mk("weight", info.WeightShape, false); err != nil {
		return nil, nil, err
	}
	b, err = mk("bias", info.BiasShape, true)
	return w, b, err
}

// gradPlan assigns gradient buffers: buffer 0 holds the loss's gradient; layer i
// writes its input gradient into buffer ids[i] (-1: the first layer needs none) and
// reads its output gradient from the buffer of layer i+1. Walking backwards, dx must
// differ from the dy it is computed from, so two buffers of each size suffice where
// the forward pass needs one per layer. sizes are floats per image.
func gradPlan(infos []LayerInfo) (ids []int, sizes []int) {
	ids = make([]int, len(infos))
	sizes = []int{infos[len(infos)-1].Out.PerImage()}
	bySize := map[int][]int{}
	dy := 0
	for i := len(infos) - 1; i >= 0; i-- {
		switch {
		case i == 0:
			ids[i] = -1
		case infos[i].Type == config.Flatten:
			ids[i] = dy // a view: its input gradient is its output gradient
		default:
			size := infos[i].In.PerImage()
			ids[i] = -1
			for _, id := range bySize[size] {
				if id != dy {
					ids[i] = id
					break
				}
			}
			if ids[i] < 0 {
				ids[i] = len(sizes)
				sizes = append(sizes, size)
				bySize[size] = append(bySize[size], ids[i])
			}
		}
		dy = ids[i]
	}
	return ids, sizes
}

// Close frees every buffer the network allocated.
func (m *Network) Close() {
	for _, b := range m.owned {
		m.B.Free(b)
	}
	m.owned = nil
}

// Init draws every parameter from its layer's initialiser, deterministically from
// seed (each tensor from its own stream, so adding a layer does not shift the others).
func (m *Network) Init(seed uint64) error {
	for i, p := range m.Params {
		data, err := InitValues(p.layer, p.bias, seed, i)
		if err != nil {
			return err
		}
		if err := m.B.Upload(p.W, data); err != nil {
			return fmt.Errorf("init %s: %w", p.Name, err)
		}
		if err := m.B.Zero(p.V); err != nil {
			return err
		}
	}
	return m.ZeroGrad()
}

// InitValues draws parameter number index of the network (weights and biases
// counted in layer order) on the host: layer's weight, or its bias when bias is set,
// from PCG(seed, index+1). One device and the two towers both start from these.
func InitValues(layer LayerInfo, bias bool, seed uint64, index int) ([]float32, error) {
	rng := rand.New(rand.NewPCG(seed, uint64(index)+1))
	n := layer.WeightShape[0]
	if !bias {
		n = 1
		for _, d := range layer.WeightShape {
			n *= d
		}
	}
	data := make([]float32, n)
	cfg := layer.Cfg
	fanIn := 1
	for _, d := range layer.WeightShape[1:] {
		fanIn *= d
	}
	fanOut := layer.WeightShape[0]
	for _, d := range layer.WeightShape[2:] {
		fanOut *= d
	}
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

// SetInput uploads n images (n*C*H*W floats, NCHW); rows n..Batch-1 become zeros.
func (m *Network) SetInput(x []float32, n int) error {
	per := m.Info[0].In.PerImage()
	if n <= 0 || n > m.Batch {
		return fmt.Errorf("batch of %d images: the network was built for 1..%d", n, m.Batch)
	}
	if len(x) != n*per {
		return fmt.Errorf("input has %d values, want %d images of %d", len(x), n, per)
	}
	if n < m.Batch {
		padded := make([]float32, m.Batch*per)
		copy(padded, x)
		x = padded
	}
	m.n = n
	return m.B.Upload(m.input, x)
}

// Forward runs every layer. seed gives each dropout layer its mask seed (see
// backend.DropoutSeed); it is not called when train is false.
func (m *Network) Forward(train bool, seed func(layer int) uint64) error {
	for i := range m.layers {
		if err := m.ForwardLayer(i, train, seed); err != nil {
			return err
		}
	}
	return nil
}

// ForwardLayer runs layer i alone (for per-layer timings).
func (m *Network) ForwardLayer(i int, train bool, seed func(layer int) uint64) error {
	if train && m.inference {
		return errInference
	}
	var s uint64
	if train && m.Info[i].Type == config.Dropout && seed != nil {
		s = seed(i)
	}
	if err := m.layers[i].forward(train, s); err != nil {
		return fmt.Errorf("forward %s: %w", m.Info[i].Name, err)
	}
	return nil
}

// Logits downloads the last forward's logits of the real rows: n x classes.
func (m *Network) Logits() ([]float32, error) {
	all := make([]float32, m.logits.Len())
	if err := m.B.Download(all, m.logits); err != nil {
		return nil, err
	}
	return all[:m.n*m.Cfg.Classes], nil
}

// Loss computes the softmax cross-entropy of the real rows, leaves the gradient
// of its mean in place for Backward (zero for padded rows), and adds the rows'
// loss and top-1/top-5 hits to the running scores. Nothing is read back.
func (m *Network) Loss(labels []int32) error {
	if len(labels) != m.n {
		return fmt.Errorf("%d labels for a batch of %d", len(labels), m.n)
	}
	if m.n < m.Batch {
		if err := m.B.Zero(m.dlogits); err != nil {
			return err
		}
	}
	if err := m.B.SoftmaxCrossEntropy(m.logits, labels, m.n, m.Cfg.Classes, m.dlogits, m.sums); err != nil {
		return fmt.Errorf("loss: %w", err)
	}
	m.scored += m.n
	if m.lossScale != 1 {
		if err := m.B.Scale(m.dlogits, float32(m.lossScale)); err != nil {
			return fmt.Errorf("loss scale: %w", err)
		}
	}
	return nil
}

// TakeScores reads the scores Loss accumulated since the last call (one round trip
// to the device) and starts afresh.
func (m *Network) TakeScores() (Scores, error) {
	return TakeScores(m.B, m.sums, &m.scored)
}

// Backward runs every layer backwards from the loss's gradient; parameter gradients
// accumulate.
func (m *Network) Backward() error {
	for i := len(m.layers) - 1; i >= 0; i-- {
		if err := m.BackwardLayer(i); err != nil {
			return err
		}
	}
	return nil
}

// BackwardLayer runs layer i backwards alone (for per-layer timings).
func (m *Network) BackwardLayer(i int) error {
	if m.inference {
		return errInference
	}
	if err := m.layers[i].backward(); err != nil {
		return fmt.Errorf("backward %s: %w", m.Info[i].Name, err)
	}
	return nil
}

// ZeroGrad clears the parameter gradients.
func (m *Network) ZeroGrad() error {
	if m.inference {
		return errInference
	}
	for _, p := range m.Params {
		if err := m.B.Zero(p.G); err != nil {
			return err
		}
	}
	return nil
}

// SetLossScale makes Loss multiply the loss's gradient by s, and Step divide the
// gradients by it: fp16 training keeps small gradients above fp16's underflow so.
func (m *Network) SetLossScale(s float64) {
	if !(s > 0) {
		s = 1 // no scale; 0 would zero the gradients and divide by zero
	}
	m.lossScale = s
}

// GradsFinite reports whether every parameter gradient is finite (no fp16 overflow).
func (m *Network) GradsFinite() (bool, error) {
	if m.inference {
		return false, errInference
	}
	return m.allFinite(func(p *Param) backend.Buffer { return p.G })
}

// ParamsFinite reports whether every weight and bias is finite. The loss alone
// does not tell: oneDNN's ReLU and max pooling turn a NaN into a number, so on
// the cpu backend a NaN weight can leave the loss finite while its layer is dead.
func (m *Network) ParamsFinite() (bool, error) {
	return m.allFinite(func(p *Param) backend.Buffer { return p.W })
}

func (m *Network) allFinite(pick func(p *Param) backend.Buffer) (bool, error) {
	bs := make([]backend.Buffer, len(m.Params))
	for i, p := range m.Params {
		bs[i] = pick(p)
	}
	return m.B.AllFinite(bs)
}

// Step applies SGD in the paper's form to every parameter, with its layer's
// lr_mult and decay_mult, in one backend call.
func (m *Network) Step(lr, momentum, decay float64) error {
	if m.inference {
		return errInference
	}
	if len(m.sgd) != len(m.Params) {
		m.sgd = make([]backend.SGDParam, len(m.Params))
	}
	for i, p := range m.Params {
		m.sgd[i] = backend.SGDParam{W: p.W, G: p.G, V: p.V, LR: float32(lr) * p.LRMult, Decay: float32(decay) * p.DecayMult}
	}
	if err := m.B.SGD(m.sgd, float32(momentum), float32(1/m.lossScale)); err != nil {
		return fmt.Errorf("sgd: %w", err)
	}
	return nil
}

// Weights downloads the parameters as named tensors ("conv1.weight", ...).
func (m *Network) Weights() ([]safetensors.Tensor, error) {
	return m.tensors(func(p *Param) backend.Buffer { return p.W })
}

// Momentum downloads the SGD momentum buffers, named like the weights.
func (m *Network) Momentum() ([]safetensors.Tensor, error) {
	if m.inference {
		return nil, errInference
	}
	return m.tensors(func(p *Param) backend.Buffer { return p.V })
}

// Gradients downloads the accumulated gradients, named like the weights.
func (m *Network) Gradients() ([]safetensors.Tensor, error) {
	if m.inference {
		return nil, errInference
	}
	return m.tensors(func(p *Param) backend.Buffer { return p.G })
}

func (m *Network) tensors(which func(*Param) backend.Buffer) ([]safetensors.Tensor, error) {
	var out []safetensors.Tensor
	for _, p := range m.Params {
		data := make([]float32, p.Len)
		if err := m.B.Download(data, which(p)); err != nil {
			return nil, fmt.Errorf("download %s: %w", p.Name, err)
		}
		out = append(out, safetensors.Tensor{Name: p.Name, Shape: append([]int(nil), p.Shape...), Data: data})
	}
	return out, nil
}

// LoadWeights uploads named tensors into the parameters; every parameter must be
// present with its exact shape, and no tensor may be left over.
func (m *Network) LoadWeights(ts []safetensors.Tensor) error {
	return m.load(ts, func(p *Param) backend.Buffer { return p.W }, "weights")
}

// LoadMomentum restores the SGD momentum buffers (for an exact resume).
func (m *Network) LoadMomentum(ts []safetensors.Tensor) error {
	if m.inference {
		return errInference
	}
	return m.load(ts, func(p *Param) backend.Buffer { return p.V }, "momentum")
}

func (m *Network) load(ts []safetensors.Tensor, which func(*Param) backend.Buffer, what string) error {
	byName := map[string]safetensors.Tensor{}
	for _, t := range ts {
		byName[t.Name] = t
	}
	for _, p := range m.Params {
		t, ok := byName[p.Name]
		if !ok {
			return fmt.Errorf("%s: no tensor %s (shape %v) for this model", what, p.Name, p.Shape)
		}
		if !sameShape(t.Shape, p.Shape) {
			return fmt.Errorf("%s: tensor %s has shape %v, the model needs %v", what, p.Name, t.Shape, p.Shape)
		}
		if err := m.B.Upload(which(p), t.Data); err != nil {
			return fmt.Errorf("%s: upload %s: %w", what, p.Name, err)
		}
		delete(byName, p.Name)
	}
	for name := range byName {
		return fmt.Errorf("%s: tensor %s is not a parameter of this model", what, name)
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

// Net is what training and evaluation need of a network, whether it runs on one
// device (Network) or as the paper's two towers (parallel.Towers).
type Net interface {
	SetInput(x []float32, n int) error
	Forward(train bool, seed func(layer int) uint64) error
	Logits() ([]float32, error)
	Loss(labels []int32) error
	TakeScores() (Scores, error)
	ZeroGrad() error
	Backward() error
	Step(lr, momentum, decay float64) error
	SetLossScale(s float64)
	GradsFinite() (bool, error)
	ParamsFinite() (bool, error)
	Init(seed uint64) error
	Weights() ([]safetensors.Tensor, error)
	Momentum() ([]safetensors.Tensor, error)
	LoadWeights([]safetensors.Tensor) error
	LoadMomentum([]safetensors.Tensor) error
	Classes() int
	BatchSize() int
	Close()
}

// Classes is the number of outputs per image.
func (m *Network) Classes() int { return m.Cfg.Classes }

// BatchSize is the largest batch the network was built for.
func (m *Network) BatchSize() int { return m.Batch }

// Scores are what Loss accumulated over Images rows: the summed loss and the top-1
// and top-5 hits.
type Scores struct {
	Images     int
	LossSum    float64
	Top1, Top5 int
}

// MeanLoss is the mean loss per row (0 with no rows).
func (s Scores) MeanLoss() float64 { return s.LossSum / float64(max(1, s.Images)) }

// TakeScores downloads and clears a [3] sums buffer of SoftmaxCrossEntropy on b;
// scored counts its rows and is reset too.
func TakeScores(b backend.Backend, sums backend.Buffer, scored *int) (Scores, error) {
	var v [3]float32
	if err := b.Download(v[:], sums); err != nil {
		return Scores{}, fmt.Errorf("scores: %w", err)
	}
	if err := b.Zero(sums); err != nil {
		return Scores{}, fmt.Errorf("scores: %w", err)
	}
	s := Scores{Images: *scored, LossSum: float64(v[0]), Top1: int(v[1]), Top5: int(v[2])}
	*scored = 0
	return s, nil
}

// WeightLoader fills a network's weights tensor by tensor as a checkpoint is read
// (checkpoint.LoadWeightsInto): into each parameter's own buffer where the backend's
// buffers are host memory, else through one tensor's copy at a time. The checkpoint
// is so never held whole besides the network: a third of LoadWeights' peak for
// AlexNet's 244 MB.
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
	if h, ok := l.m.B.(backend.HostMemory); ok {
		data, err := h.Host(p.W)
		if err != nil {
			return safetensors.Dest{}, fmt.Errorf("weights: %s: %w", name, err)
		}
		return safetensors.Dest{Data: data}, nil
	}
	data := make([]float32, p.Len)
	return safetensors.Dest{Data: data, Done: func() error {
		if err := l.m.B.Upload(p.W, data); err != nil {
			return fmt.Errorf("weights: upload %s: %w", name, err)
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
