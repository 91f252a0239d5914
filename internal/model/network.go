package model

import (
	"errors"
	"fmt"
	"sync/atomic"

	"alexnet/internal/backend"
	"alexnet/internal/config"
)

// Network is a model built for a fixed batch size on one device or more: the
// executor. Plan places each layer's part on each device (Place); one device is
// the case of one part, where every layer runs whole and nothing is copied. The
// parts run at once, each in its own goroutine on its own backend, and meet only
// at the layers that read another part's data (see phase). Smaller batches run
// padded: the rows past n are zeros and take no part in the loss.
type Network struct {
	Cfg    config.Model
	Info   []LayerInfo
	Plan   []PlacedLayer
	Params []*Param
	Batch  int

	parts []*part
	// Whole passes, and each layer's alone (ForwardLayer, BackwardLayer).
	fwd, bwd           []phase
	fwdLayer, bwdLayer [][]phase
	n                  int // rows of the current batch that are real
	// Set by Forward for the parts' goroutines: whether to train, and each
	// dropout layer's seed.
	train bool
	seeds []uint64
	moved atomic.Int64
	// lossScale multiplies the loss's gradient (fp16 training); Step divides it out.
	lossScale float64
	// Data parallelism: the rows are rows rowOffset.. of a global batch, of which
	// they are share (SetShard).
	rowOffset int
	share     float64
	// sums holds Loss's running [loss sum, top-1 hits, top-5 hits] over scored rows
	// on the first part, until TakeScores reads them (allocated on first use).
	sums   backend.Buffer
	scored int
	// inference: built for forward passes only (NewInference): no gradients, no
	// momentum, no dropout masks.
	inference bool
	// closeBackends: the network opened its backends (NewOn) and closes them.
	closeBackends bool
}

// part is one device's share of the network.
type part struct {
	t      int
	device string
	b      backend.Backend
	input  backend.Buffer
	layers []*partLayer
	params []*paramPart // the part's rows of the network's parameters, in order
	owned  []backend.Buffer
	grads  []backend.Buffer
	lay    partLayout
	sgd    []backend.SGDParam
}

// partLayer is one part's share of one layer, bound to its buffers.
type partLayer struct {
	op    layer          // nil where the part has no work in the layer
	bufs                 // the op's
	own   backend.Buffer // the part's share of the output (y, unless extended)
	ownDy backend.Buffer // its gradient
	inDx  backend.Buffer // gradient of the part's share of the input
	sum   backend.Buffer // another part's contribution to inDx

	fwdIn, fwdOut, bwdIn, bwdOut, bwdAdd *copySet
}

// errInference is what training calls on an inference network return.
var errInference = errors.New("the network was built for inference (model.NewInference): no gradients or optimizer state")

// New plans the model and builds it on b for batches of up to batch images. The
// parameters are allocated zeroed; call Init or LoadWeights. b stays the caller's.
func New(cfg config.Model, b backend.Backend, batch int) (*Network, error) {
	return build(cfg, []string{""}, []backend.Backend{b}, batch, false)
}

// NewInference builds the model for forward passes only (predict, eval): parameters
// without gradient or momentum buffers, no buffers for the backward pass, dropout as
// the identity in place. For AlexNet that is a third of a training network's
// parameter memory. Loss and the scores still work (eval); training calls fail.
func NewInference(cfg config.Model, b backend.Backend, batch int) (*Network, error) {
	return build(cfg, []string{""}, []backend.Backend{b}, batch, true)
}

// NewOn builds the model over devices, one part each (one device, or two: the
// paper's towers), opening a backend for each device with open: once per part, so
// that two parts on one kind of device still get separate instances. The network
// closes them.
func NewOn(cfg config.Model, devices []string, open func(device string) (backend.Backend, error), batch int, inference bool) (*Network, error) {
	var bs []backend.Backend
	closeAll := func() {
		for _, b := range bs {
			b.Close()
		}
	}
	for t, d := range devices {
		b, err := open(d)
		if err != nil {
			closeAll()
			if len(devices) == 1 {
				return nil, err
			}
			return nil, fmt.Errorf("tower %d on device %s: %w", t, d, err)
		}
		for _, o := range bs {
			if o == b {
				// The parts run at once; a backend is not safe for that (oneDNN's
				// shares ReLU kernels between buffers of one length, for one).
				closeAll()
				return nil, fmt.Errorf("parallel: open returned one backend for both towers; each tower needs its own instance")
			}
		}
		bs = append(bs, b)
	}
	m, err := build(cfg, devices, bs, batch, inference)
	if err != nil {
		closeAll()
		return nil, err
	}
	m.closeBackends = true
	return m, nil
}

func build(cfg config.Model, devices []string, bs []backend.Backend, batch int, inference bool) (*Network, error) {
	infos, err := Plan(cfg)
	if err != nil {
		return nil, err
	}
	if batch <= 0 {
		return nil, fmt.Errorf("batch size must be positive (got %d)", batch)
	}
	align := 1
	for _, b := range bs {
		if a, ok := b.(backend.ChannelAligner); ok {
			align = max(align, a.ChannelBlock())
		}
	}
	plan, err := Place(infos, len(bs), align)
	if err != nil {
		return nil, err
	}
	m := &Network{Cfg: cfg, Info: infos, Plan: plan, Batch: batch, lossScale: 1, share: 1, inference: inference,
		seeds: make([]uint64, len(plan))}
	for t, b := range bs {
		m.parts = append(m.parts, &part{t: t, device: devices[t], b: b})
	}
	if err := m.build(); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func (pt *part) alloc(perImage, n int) (backend.Buffer, error) {
	if perImage == 0 {
		return nil, nil
	}
	buf, err := pt.b.Alloc(perImage * n)
	if err != nil {
		return nil, fmt.Errorf("allocate %d floats on %s: %w", perImage*n, pt.b.Name(), err)
	}
	pt.owned = append(pt.owned, buf)
	return buf, nil
}

func (m *Network) build() error {
	for _, pt := range m.parts {
		if err := m.buildBuffers(pt); err != nil {
			return err
		}
	}
	if err := m.buildParams(); err != nil {
		return err
	}
	for _, pt := range m.parts {
		for i := range m.Plan {
			if err := m.buildOp(pt, i); err != nil {
				return fmt.Errorf("layer %s%s (%s): %w", m.Plan[i].Name, m.on(pt), pt.b.Name(), err)
			}
		}
	}
	// The copies read other parts' buffers, so they come last.
	for _, pt := range m.parts {
		for i := range m.Plan {
			if err := m.buildCopies(pt, i); err != nil {
				return fmt.Errorf("layer %s%s: %w", m.Plan[i].Name, m.on(pt), err)
			}
		}
	}
	m.buildPhases()
	return nil
}

// buildBuffers allocates a part's activations and their gradients (layout).
func (m *Network) buildBuffers(pt *part) error {
	N := m.Batch
	pt.lay = layout(m.Plan, pt.t, m.inference)
	var err error
	if pt.input, err = pt.alloc(pt.lay.input, N); err != nil {
		return err
	}
	prev := pt.input
	pt.layers = make([]*partLayer, len(m.Plan))
	for i, l := range m.Plan {
		tl := &partLayer{}
		pt.layers[i] = tl
		if !l.Parts[pt.t].Active {
			continue
		}
		sz := pt.lay.layers[i]
		tl.x = prev
		if sz.x > 0 {
			if tl.x, err = pt.alloc(sz.x, N); err != nil {
				return err
			}
		}
		tl.y = tl.x
		if sz.y > 0 {
			if tl.y, err = pt.alloc(sz.y, N); err != nil {
				return err
			}
		}
		tl.own = tl.y
		if sz.own > 0 {
			if tl.own, err = pt.alloc(sz.own, N); err != nil {
				return err
			}
		}
		prev = tl.own
	}
	if m.inference {
		return nil
	}
	pt.grads = make([]backend.Buffer, len(pt.lay.grads))
	for id, size := range pt.lay.grads {
		if pt.grads[id], err = pt.alloc(size, N); err != nil {
			return err
		}
	}
	for i, l := range m.Plan {
		tl, pl, sz := pt.layers[i], l.Parts[pt.t], pt.lay.layers[i]
		if i+1 < len(m.Plan) {
			if id := pt.lay.ids[i+1]; id >= 0 {
				tl.ownDy = pt.grads[id]
			}
		} else {
			tl.ownDy = pt.grads[0]
		}
		if id := pt.lay.ids[i]; id >= 0 {
			tl.inDx = pt.grads[id]
		}
		if !pl.Active {
			continue
		}
		tl.dy = tl.ownDy
		if sz.dy > 0 {
			if tl.dy, err = pt.alloc(sz.dy, N); err != nil {
				return err
			}
		}
		if pl.NeedDx {
			tl.dx = tl.inDx
			if sz.dx > 0 {
				if tl.dx, err = pt.alloc(sz.dx, N); err != nil {
					return err
				}
			}
		}
		if sz.sum > 0 {
			if tl.sum, err = pt.alloc(sz.sum, N); err != nil {
				return err
			}
		}
	}
	return nil
}

// buildOp creates a part's op for layer i on its backend.
func (m *Network) buildOp(pt *part, i int) error {
	N := m.Batch
	l, pl, tl := m.Plan[i], m.Plan[i].Parts[pt.t], pt.layers[i]
	if !pl.Active {
		return nil
	}
	withN := func(s backend.Shape) backend.Shape { s.N = N; return s }
	switch l.Type {
	case config.Conv:
		p := *pl.Conv
		p.In = withN(p.In)
		c, err := pt.b.NewConv(p)
		if err != nil {
			return err
		}
		w, b := m.layerParams(pt.t, l.Name)
		tl.op = &convLayer{bufs: tl.bufs, op: c, w: w, b: b}
	case config.Linear:
		p := *pl.Linear
		p.N = N
		lin, err := pt.b.NewLinear(p)
		if err != nil {
			return err
		}
		w, b := m.layerParams(pt.t, l.Name)
		tl.op = &linearLayer{bufs: tl.bufs, op: lin, w: w, b: b}
	case config.ReLU:
		tl.op = &reluLayer{bufs: tl.bufs, b: pt.b}
	case config.LRN, config.MaxPool, config.AdaptiveAvgPool:
		var o backend.Op
		var err error
		if l.Type == config.LRN {
			p := *pl.LRN
			p.In = withN(p.In)
			o, err = pt.b.NewLRN(p)
		} else {
			p := *pl.Pool
			p.In = withN(p.In)
			o, err = pt.b.NewPool(p)
		}
		if err != nil {
			return err
		}
		tl.op = &opLayer{bufs: tl.bufs, op: o}
	case config.Dropout:
		d := &dropoutLayer{bufs: tl.bufs, b: pt.b, p: float32(l.Cfg.P)}
		if !m.inference {
			var err error
			if d.mask, err = pt.alloc(pt.lay.layers[i].mask, N); err != nil {
				return err
			}
			if l.InState == Halves {
				d.part, d.whole, d.off = pl.Own.PerImage(), l.Out.PerImage(), pl.OwnOff
				d.host = make([]float32, N*d.part)
			}
		}
		tl.op = d
	case config.Flatten:
		tl.op = flattenLayer{bufs: tl.bufs}
	default:
		return fmt.Errorf("unknown layer type %q", l.Type)
	}
	return nil
}

// buildCopies binds a layer's pieces to the parts' buffers.
func (m *Network) buildCopies(pt *part, i int) error {
	pl, tl := m.Plan[i].Parts[pt.t], pt.layers[i]
	on := func(pick func(o *part) backend.Buffer) func(int) (backend.Buffer, backend.Backend) {
		return func(from int) (backend.Buffer, backend.Backend) {
			o := m.parts[from]
			return pick(o), o.b
		}
	}
	prevOut := func(o *part) backend.Buffer {
		if i == 0 {
			return o.input
		}
		return o.layers[i-1].own
	}
	var err error
	mk := func(what string, dst backend.Buffer, ps []piece, pick func(o *part) backend.Buffer) *copySet {
		if err != nil {
			return nil
		}
		var c *copySet
		c, err = newCopySet(fmt.Sprintf("%s %s%s", what, m.Plan[i].Name, m.to(pt.t)), pt.t, pt.b, dst, m.Batch, ps, on(pick), &m.moved)
		return c
	}
	tl.fwdIn = mk("gather input of", tl.x, pl.fwdIn, prevOut)
	tl.fwdOut = mk("own output of", tl.own, pl.fwdOut, func(o *part) backend.Buffer { return o.layers[i].y })
	if m.inference {
		return err
	}
	tl.bwdIn = mk("gather output gradient of", tl.dy, pl.bwdIn, func(o *part) backend.Buffer { return o.layers[i].ownDy })
	tl.bwdOut = mk("input gradient of", tl.inDx, pl.bwdOut, func(o *part) backend.Buffer { return o.layers[i].dx })
	tl.bwdAdd = mk("input gradient sum of", tl.sum, pl.bwdAdd, func(o *part) backend.Buffer { return o.layers[i].dx })
	return err
}

// on, to and from name a part in messages: nothing on one device.
func (m *Network) on(pt *part) string { return m.tower(" on", pt.t) }
func (m *Network) to(t int) string    { return m.tower(" to", t) }
func (m *Network) from(t int) string  { return m.tower(" from", t) }

func (m *Network) tower(prep string, t int) string {
	if len(m.parts) == 1 {
		return ""
	}
	return fmt.Sprintf("%s tower %d", prep, t)
}

// Close frees every buffer, and closes the backends the network opened.
func (m *Network) Close() {
	for _, pt := range m.parts {
		for _, b := range pt.owned {
			pt.b.Free(b)
		}
		pt.owned = nil
		if m.closeBackends {
			pt.b.Close()
		}
	}
	m.closeBackends = false
}

// Backends are the parts' backends, the first part's first.
func (m *Network) Backends() []backend.Backend {
	bs := make([]backend.Backend, len(m.parts))
	for i, pt := range m.parts {
		bs[i] = pt.b
	}
	return bs
}

// Memory reports each part's backend memory.
func (m *Network) Memory() []backend.MemStats {
	ms := make([]backend.MemStats, len(m.parts))
	for i, pt := range m.parts {
		ms[i] = pt.b.Memory()
	}
	return ms
}

// Sync waits for every part's queued work.
func (m *Network) Sync() error {
	return m.all(func(pt *part) error { return pt.b.Sync() })
}

// SetInput uploads n images (n*C*H*W floats, NCHW) to every part; rows
// n..Batch-1 become zeros.
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
	return m.all(func(pt *part) error {
		if err := pt.b.Upload(pt.input, x); err != nil {
			return fmt.Errorf("input%s: %w", m.to(pt.t), err)
		}
		return nil
	})
}

// Forward runs every layer. seed gives each dropout layer its mask seed (see
// backend.DropoutSeed) by its index in the layer list; it is not called when
// train is false.
func (m *Network) Forward(train bool, seed func(layer int) uint64) error {
	if err := m.setSeeds(train, seed); err != nil {
		return err
	}
	return m.run(m.fwd)
}

// ForwardLayer runs layer i alone, on every part (for per-layer timings).
func (m *Network) ForwardLayer(i int, train bool, seed func(layer int) uint64) error {
	if err := m.setSeeds(train, seed); err != nil {
		return err
	}
	return m.run(m.fwdLayer[i])
}

func (m *Network) setSeeds(train bool, seed func(layer int) uint64) error {
	if train && m.inference {
		return errInference
	}
	m.train = train
	for i, l := range m.Plan {
		m.seeds[i] = 0
		if train && l.Type == config.Dropout && seed != nil {
			m.seeds[i] = backend.DropoutSeedAt(seed(i), m.rowOffset*l.Out.PerImage())
		}
	}
	return nil
}

// Logits downloads the last forward's logits of the real rows (n x classes) from
// the first part, which holds them whole.
func (m *Network) Logits() ([]float32, error) {
	lead := m.parts[0]
	out := lead.layers[len(m.Plan)-1].own
	all := make([]float32, out.Len())
	if err := lead.b.Download(all, out); err != nil {
		return nil, err
	}
	return all[:m.n*m.Cfg.Classes], nil
}

// Loss computes the softmax cross-entropy of the real rows on the first part,
// leaves the gradient of its mean in place for Backward (zero for padded rows;
// none in an inference network), and adds the rows' loss and top-1/top-5 hits to
// the running scores. Nothing is read back.
func (m *Network) Loss(labels []int32) error {
	if len(labels) != m.n {
		return fmt.Errorf("%d labels for a batch of %d", len(labels), m.n)
	}
	lead := m.parts[0]
	last := lead.layers[len(m.Plan)-1]
	if m.sums == nil {
		sums, err := lead.alloc(3, 1)
		if err != nil {
			return err
		}
		m.sums = sums
	}
	dlogits := last.ownDy
	if dlogits != nil && m.n < m.Batch {
		if err := lead.b.Zero(dlogits); err != nil {
			return err
		}
	}
	if err := lead.b.SoftmaxCrossEntropy(last.own, labels, m.n, m.Cfg.Classes, dlogits, m.sums); err != nil {
		return fmt.Errorf("loss: %w", err)
	}
	m.scored += m.n
	if s := m.lossScale * m.share; dlogits != nil && s != 1 {
		if err := lead.b.Scale(dlogits, float32(s)); err != nil {
			return fmt.Errorf("loss scale: %w", err)
		}
	}
	return nil
}

// TakeScores reads the scores Loss accumulated since the last call (one round trip
// to the device) and starts afresh.
func (m *Network) TakeScores() (Scores, error) {
	if m.sums == nil {
		return Scores{}, nil
	}
	b := m.parts[0].b
	var v [3]float32
	if err := b.Download(v[:], m.sums); err != nil {
		return Scores{}, fmt.Errorf("scores: %w", err)
	}
	if err := b.Zero(m.sums); err != nil {
		return Scores{}, fmt.Errorf("scores: %w", err)
	}
	s := Scores{Images: m.scored, LossSum: float64(v[0]), Top1: int(v[1]), Top5: int(v[2])}
	m.scored = 0
	return s, nil
}

// Backward runs every layer backwards from the loss's gradient; parameter
// gradients accumulate.
func (m *Network) Backward() error {
	if m.inference {
		return errInference
	}
	return m.run(m.bwd)
}

// BackwardLayer runs layer i backwards alone, on every part (for per-layer timings).
func (m *Network) BackwardLayer(i int) error {
	if m.inference {
		return errInference
	}
	return m.run(m.bwdLayer[i])
}

// SetLossScale makes Loss multiply the loss's gradient by s, and Step divide the
// gradients by it: fp16 training keeps small gradients above fp16's underflow so.
func (m *Network) SetLossScale(s float64) {
	if !(s > 0) {
		s = 1 // no scale; 0 would zero the gradients and divide by zero
	}
	m.lossScale = s
}

// SetShard makes the network one rank's share of data-parallel training: its
// rows are rows offset.. of the global batch (dropout draws the global rows'
// masks), and Loss scales the gradient of its rows' mean loss by share, their
// fraction of the global batch, so that the ranks' gradients sum to the
// gradient of the global batch's mean. One process: offset 0, share 1.
func (m *Network) SetShard(offset int, share float64) {
	m.rowOffset, m.share = offset, share
}

// BackwardEach is Backward calling after(i) as soon as layer i's parameter
// gradients are final, on every part, layer by layer from the last: data
// parallelism starts reducing them there, while the layers below compute.
func (m *Network) BackwardEach(after func(layer int) error) error {
	if m.inference {
		return errInference
	}
	for i := len(m.Plan) - 1; i >= 0; i-- {
		if err := m.run(m.bwdLayer[i]); err != nil {
			return err
		}
		if m.Plan[i].WeightShape != nil {
			if err := after(i); err != nil {
				return err
			}
		}
	}
	return nil
}

// PartBuffer is one part's buffer and the backend it lives on.
type PartBuffer struct {
	B   backend.Backend
	Buf backend.Buffer
}

// LayerGrads are layer i's parameter gradients, as the parts hold them (weight
// rows, then bias rows, of each part).
func (m *Network) LayerGrads(i int) []PartBuffer {
	var out []PartBuffer
	name := m.Plan[i].Name
	for _, p := range m.Params {
		if p.layer.Name != name {
			continue
		}
		for t, pp := range p.parts {
			if pp != nil && pp.G != nil {
				out = append(out, PartBuffer{m.parts[t].b, pp.G})
			}
		}
	}
	return out
}

// CrossBytes are the bytes that cross between the parts in one forward and one
// backward pass at the built batch size, as planned (MovedBytes counts them).
func (m *Network) CrossBytes() (forward, backward int64) {
	for _, l := range m.Plan {
		forward += 4 * int64(l.CrossForward) * int64(m.Batch)
		backward += 4 * int64(l.CrossBackward) * int64(m.Batch)
	}
	return forward, backward
}

// CrossBytesPerStep is the bytes crossing between the parts in a training step.
func (m *Network) CrossBytesPerStep() int64 {
	f, b := m.CrossBytes()
	return f + b
}

// MovedBytes is the bytes that have crossed between the parts so far.
func (m *Network) MovedBytes() int64 { return 4 * m.moved.Load() }

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
