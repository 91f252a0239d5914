// Package parallel runs a network split over two devices as the paper's two GPUs
// (Krizhevsky et al. 2012, section 3.2): each layer's kernels are divided between
// two towers, which talk only at the layers that read both towers' maps.
//
// Split derives the towers from model.Plan for any network its rules cover (not
// AlexNet alone); Towers runs them, each tower on its own backend instance and in
// its own goroutine, and is interchangeable with model.Network in the training
// loop: same methods, the same parameter names and whole shapes in Weights and
// LoadWeights (a checkpoint moves freely between one device and two), and the same
// results as the single-device network with groups 2, to rounding.
//
// Equality with the single-device network, layer by layer:
//   - A conv with groups 2 is two independent halves: each tower runs one group.
//   - A conv with groups 1 and a hidden linear layer read both towers: each tower
//     gathers the other's half of the input and computes its half of the outputs;
//     backwards, the gradient of each tower's half of the input is the sum of both
//     towers' contributions (the other's crosses back and is added).
//   - The classifier runs whole on the first device; the second tower's half of its
//     input gradient crosses back.
//   - LRN: the single network normalises over a window of channels that straddles
//     the tower boundary (channels 46..50 for channel 48 of conv1's 96), whereas the
//     paper's towers normalised within a tower. To be exact, each tower runs the LRN
//     on its half extended by a halo of Size-1 channels of the other tower's half,
//     and backwards receives Size/2 (or (Size-1)/2) channels of the other's output
//     gradient (see haloPlan). For AlexNet that is 4 of 48 (norm1) or 128 (norm2)
//     channels forward and 2 backward per tower, against 48 or 128 for running the
//     LRN on gathered whole maps.
//   - Dropout: each tower draws its half of the single network's mask with the
//     single network's element indices (see dropoutOp).
//
// Data between the towers moves through PeerCopier when the receiving backend
// implements it, else through host memory (Download, then Upload).
package parallel

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"alexnet/internal/backend"
	"alexnet/internal/config"
	"alexnet/internal/model"
)

// Towers is a network split over two devices, built for a fixed batch size.
// Smaller batches run padded, as in model.Network.
type Towers struct {
	Cfg     config.Model
	Info    []model.LayerInfo
	Plan    []Layer
	Batch   int
	Devices [2]string

	towers [2]*tower
	params []*fullParam
	fwd    []phase
	bwd    []phase
	n      int
	// Set by Forward for the towers' goroutines: whether to train, and each
	// dropout layer's seed.
	train bool
	seeds []uint64
	moved atomic.Int64
	// lossScale multiplies the loss's gradient (fp16 training); Step divides it out.
	lossScale float64
	// sums holds Loss's running scores on the first tower (allocated on first use).
	sums   backend.Buffer
	scored int
}

// tower is one device's half of the network.
type tower struct {
	t      int
	device string
	b      backend.Backend
	input  backend.Buffer
	layers []*towerLayer
	params []*param // this tower's parts, in the order of the network's parameters
	owned  []backend.Buffer
	grads  []backend.Buffer
	lay    towerLayout
}

// towerLayer is one tower's share of one layer, bound to its buffers.
type towerLayer struct {
	op    op             // nil where the tower has no op in the layer
	bufs                 // the op's
	own   backend.Buffer // the tower's part of the output (y, unless extended)
	ownDy backend.Buffer // its gradient
	inDx  backend.Buffer // gradient of the tower's part of the input
	sum   backend.Buffer // the other tower's contribution to inDx
	zero  backend.Buffer // scratch of add

	fwdIn, fwdOut, bwdIn, bwdOut, bwdAdd *copySet
}

// New splits the model and builds its towers for batches of up to batch images,
// opening a backend for each of par.Devices with open (called once per tower, so
// that two towers on one kind of device still get separate instances). The
// parameters are allocated zeroed; call Init or LoadWeights.
func New(cfg config.Model, par config.Parallel, open func(device string) (backend.Backend, error), batch int) (*Towers, error) {
	if par.Mode != "model" || len(par.Devices) != 2 {
		return nil, fmt.Errorf("parallel: towers need parallel.mode model and two devices (got mode %q, devices %v)", par.Mode, par.Devices)
	}
	if batch <= 0 {
		return nil, fmt.Errorf("batch size must be positive (got %d)", batch)
	}
	infos, err := model.Plan(cfg)
	if err != nil {
		return nil, err
	}
	plan, err := Split(infos)
	if err != nil {
		return nil, err
	}
	m := &Towers{Cfg: cfg, Info: infos, Plan: plan, Batch: batch, Devices: [2]string{par.Devices[0], par.Devices[1]},
		seeds: make([]uint64, len(plan))}
	for t := range 2 {
		b, err := open(par.Devices[t])
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("tower %d on device %s: %w", t, par.Devices[t], err)
		}
		m.towers[t] = &tower{t: t, device: par.Devices[t], b: b}
	}
	if m.towers[0].b == m.towers[1].b {
		// The towers run at once; a backend is not safe for that (oneDNN's shares
		// ReLU kernels between buffers of one length, for one).
		m.towers[1] = nil
		m.Close()
		return nil, fmt.Errorf("parallel: open returned one backend for both towers; each tower needs its own instance")
	}
	if err := m.build(); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func (tw *tower) alloc(perImage, n int) (backend.Buffer, error) {
	if perImage == 0 {
		return nil, nil
	}
	buf, err := tw.b.Alloc(perImage * n)
	if err != nil {
		return nil, fmt.Errorf("tower %d: allocate %d floats on %s: %w", tw.t, perImage*n, tw.b.Name(), err)
	}
	tw.owned = append(tw.owned, buf)
	return buf, nil
}

func (m *Towers) build() error {
	N := m.Batch
	for _, tw := range m.towers {
		if err := m.buildBuffers(tw); err != nil {
			return err
		}
	}
	if err := m.buildParams(); err != nil {
		return err
	}
	for _, tw := range m.towers {
		for i := range m.Plan {
			if err := m.buildOp(tw, i); err != nil {
				return fmt.Errorf("layer %s on tower %d (%s): %w", m.Plan[i].Name, tw.t, tw.b.Name(), err)
			}
		}
	}
	// The copies read the other tower's buffers, so they come last.
	for _, tw := range m.towers {
		for i := range m.Plan {
			if err := m.buildCopies(tw, i, N); err != nil {
				return fmt.Errorf("layer %s on tower %d: %w", m.Plan[i].Name, tw.t, err)
			}
		}
	}
	m.fwd, m.bwd = m.forwardPhases(), m.backwardPhases()
	return nil
}

// buildBuffers allocates a tower's activations and their gradients (layout).
func (m *Towers) buildBuffers(tw *tower) error {
	N := m.Batch
	tw.lay = layout(m.Plan, tw.t)
	var err error
	if tw.input, err = tw.alloc(tw.lay.input, N); err != nil {
		return err
	}
	prev := tw.input
	tw.layers = make([]*towerLayer, len(m.Plan))
	for i, l := range m.Plan {
		tl := &towerLayer{}
		tw.layers[i] = tl
		if !l.Towers[tw.t].Active {
			continue
		}
		sz := tw.lay.layers[i]
		tl.x = prev
		if sz.x > 0 {
			if tl.x, err = tw.alloc(sz.x, N); err != nil {
				return err
			}
		}
		tl.y = tl.x
		if sz.y > 0 {
			if tl.y, err = tw.alloc(sz.y, N); err != nil {
				return err
			}
		}
		tl.own = tl.y
		if sz.own > 0 {
			if tl.own, err = tw.alloc(sz.own, N); err != nil {
				return err
			}
		}
		prev = tl.own
	}
	tw.grads = make([]backend.Buffer, len(tw.lay.grads))
	for id, size := range tw.lay.grads {
		if tw.grads[id], err = tw.alloc(size, N); err != nil {
			return err
		}
	}
	for i, l := range m.Plan {
		tl, plan, sz := tw.layers[i], l.Towers[tw.t], tw.lay.layers[i]
		if i+1 < len(m.Plan) {
			if id := tw.lay.ids[i+1]; id >= 0 {
				tl.ownDy = tw.grads[id]
			}
		} else {
			tl.ownDy = tw.grads[0]
		}
		if id := tw.lay.ids[i]; id >= 0 {
			tl.inDx = tw.grads[id]
		}
		if !plan.Active {
			continue
		}
		tl.dy = tl.ownDy
		if sz.dy > 0 {
			if tl.dy, err = tw.alloc(sz.dy, N); err != nil {
				return err
			}
		}
		if plan.NeedDx {
			tl.dx = tl.inDx
			if sz.dx > 0 {
				if tl.dx, err = tw.alloc(sz.dx, N); err != nil {
					return err
				}
			}
		}
		if sz.sum > 0 {
			if tl.sum, err = tw.alloc(sz.sum, N); err != nil {
				return err
			}
			if tl.zero, err = tw.alloc(sz.sum, N); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *Towers) buildOp(tw *tower, i int) error {
	N := m.Batch
	l, plan, tl := m.Plan[i], m.Plan[i].Towers[tw.t], tw.layers[i]
	if !plan.Active {
		return nil
	}
	withN := func(s backend.Shape) backend.Shape { s.N = N; return s }
	switch l.Type {
	case config.Conv:
		p := *plan.Conv
		p.In = withN(p.In)
		c, err := tw.b.NewConv(p)
		if err != nil {
			return err
		}
		w, b := tw.layerParams(l.Name)
		tl.op = &convOp{bufs: tl.bufs, op: c, w: w, b: b}
	case config.Linear:
		p := *plan.Linear
		p.N = N
		lin, err := tw.b.NewLinear(p)
		if err != nil {
			return err
		}
		w, b := tw.layerParams(l.Name)
		tl.op = &linearOp{bufs: tl.bufs, op: lin, w: w, b: b}
	case config.ReLU:
		tl.op = &reluOp{bufs: tl.bufs, b: tw.b}
	case config.LRN:
		p := *plan.LRN
		p.In = withN(p.In)
		o, err := tw.b.NewLRN(p)
		if err != nil {
			return err
		}
		tl.op = &opOp{bufs: tl.bufs, op: o}
	case config.MaxPool, config.AdaptiveAvgPool:
		p := *plan.Pool
		p.In = withN(p.In)
		o, err := tw.b.NewPool(p)
		if err != nil {
			return err
		}
		tl.op = &opOp{bufs: tl.bufs, op: o}
	case config.Dropout:
		mask, err := tw.alloc(tw.lay.layers[i].mask, N)
		if err != nil {
			return err
		}
		d := &dropoutOp{bufs: tl.bufs, b: tw.b, mask: mask, p: float32(l.Cfg.P)}
		if l.InState == Halves {
			d.part, d.whole, d.off = plan.Own.PerImage(), l.Out.PerImage(), plan.OwnOff
			d.host = make([]float32, N*d.part)
		}
		tl.op = d
	case config.Flatten:
		tl.op = flattenOp{bufs: tl.bufs}
	default:
		return fmt.Errorf("unknown layer type %q", l.Type)
	}
	return nil
}

// buildCopies binds a layer's pieces to the towers' buffers.
func (m *Towers) buildCopies(tw *tower, i, N int) error {
	plan, tl := m.Plan[i].Towers[tw.t], tw.layers[i]
	on := func(pick func(o *tower) backend.Buffer) func(int) (backend.Buffer, backend.Backend) {
		return func(from int) (backend.Buffer, backend.Backend) {
			o := m.towers[from]
			return pick(o), o.b
		}
	}
	prevOut := func(o *tower) backend.Buffer {
		if i == 0 {
			return o.input
		}
		return o.layers[i-1].own
	}
	var err error
	mk := func(what string, dst backend.Buffer, ps []piece, pick func(o *tower) backend.Buffer) *copySet {
		if err != nil {
			return nil
		}
		var c *copySet
		c, err = newCopySet(fmt.Sprintf("%s %s to tower %d", what, m.Plan[i].Name, tw.t), tw.t, tw.b, dst, N, ps, on(pick), &m.moved)
		return c
	}
	tl.fwdIn = mk("gather input of", tl.x, plan.fwdIn, prevOut)
	tl.fwdOut = mk("own output of", tl.own, plan.fwdOut, func(o *tower) backend.Buffer { return o.layers[i].y })
	tl.bwdIn = mk("gather output gradient of", tl.dy, plan.bwdIn, func(o *tower) backend.Buffer { return o.layers[i].ownDy })
	tl.bwdOut = mk("input gradient of", tl.inDx, plan.bwdOut, func(o *tower) backend.Buffer { return o.layers[i].dx })
	tl.bwdAdd = mk("input gradient sum of", tl.sum, plan.bwdAdd, func(o *tower) backend.Buffer { return o.layers[i].dx })
	return err
}

// phase is work both towers do at once, each its own list; a phase ends when both
// are done (and synced), so the next may read what the other tower wrote.
type phase [2][]func() error

// forwardPhases: each tower runs its layers on its own until a layer that reads the
// other tower's buffers, where both wait, copy, wait again (so neither overwrites
// what the other is still reading) and go on.
func (m *Towers) forwardPhases() []phase {
	var out []phase
	var cur phase
	flush := func() {
		if len(cur[0])+len(cur[1]) > 0 {
			out = append(out, cur)
			cur = phase{}
		}
	}
	for i, l := range m.Plan {
		exchange := remote(0, l.Towers[0].fwdIn) || remote(1, l.Towers[1].fwdIn)
		if exchange {
			flush()
		}
		for t, tw := range m.towers {
			tl := tw.layers[i]
			if tl.fwdIn != nil {
				cur[t] = append(cur[t], tl.fwdIn.run)
			}
		}
		if exchange {
			flush()
		}
		for t, tw := range m.towers {
			if tl := tw.layers[i]; tl.op != nil {
				cur[t] = append(cur[t], func() error { return m.forwardLayer(tw, i) })
			}
		}
	}
	flush()
	return out
}

func (m *Towers) backwardPhases() []phase {
	var out []phase
	var cur phase
	flush := func() {
		if len(cur[0])+len(cur[1]) > 0 {
			out = append(out, cur)
			cur = phase{}
		}
	}
	for i := len(m.Plan) - 1; i >= 0; i-- {
		l := m.Plan[i]
		exIn := remote(0, l.Towers[0].bwdIn) || remote(1, l.Towers[1].bwdIn)
		if exIn {
			flush()
		}
		for t, tw := range m.towers {
			if tl := tw.layers[i]; tl.bwdIn != nil {
				cur[t] = append(cur[t], tl.bwdIn.run)
			}
		}
		if exIn {
			flush()
		}
		for t, tw := range m.towers {
			if tl := tw.layers[i]; tl.op != nil {
				cur[t] = append(cur[t], func() error {
					if err := tl.op.backward(); err != nil {
						return fmt.Errorf("backward %s on tower %d: %w", l.Name, t, err)
					}
					return nil
				})
			}
		}
		exOut := false
		for t := range 2 {
			exOut = exOut || remote(t, l.Towers[t].bwdOut) || remote(t, l.Towers[t].bwdAdd)
		}
		if exOut {
			flush()
		}
		for t, tw := range m.towers {
			tl := tw.layers[i]
			if tl.bwdOut != nil {
				cur[t] = append(cur[t], tl.bwdOut.run)
			}
			if tl.bwdAdd != nil {
				cur[t] = append(cur[t], tl.bwdAdd.run, func() error {
					if err := backend.Add(tw.b, tl.inDx, tl.sum, tl.zero); err != nil {
						return fmt.Errorf("backward %s on tower %d: add the other tower's input gradient: %w", l.Name, t, err)
					}
					return nil
				})
			}
		}
		if exOut {
			flush()
		}
	}
	flush()
	return out
}

func (m *Towers) forwardLayer(tw *tower, i int) error {
	tl := tw.layers[i]
	if err := tl.op.forward(m.train, m.seeds[i]); err != nil {
		return fmt.Errorf("forward %s on tower %d: %w", m.Plan[i].Name, tw.t, err)
	}
	return tl.fwdOut.run()
}

// both runs f for the two towers at once, the second in a new goroutine.
func (m *Towers) both(f func(tw *tower) error) error {
	var errs [2]error
	var wg sync.WaitGroup
	wg.Go(func() { errs[1] = f(m.towers[1]) })
	errs[0] = f(m.towers[0])
	wg.Wait()
	return errors.Join(errs[0], errs[1])
}

func (m *Towers) run(phases []phase) error {
	for _, ph := range phases {
		err := m.both(func(tw *tower) error {
			for _, f := range ph[tw.t] {
				if err := f(); err != nil {
					return err
				}
			}
			// The next phase may copy what this one wrote, from another device.
			if err := tw.b.Sync(); err != nil {
				return fmt.Errorf("tower %d: %w", tw.t, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Close frees every buffer and closes both backends.
func (m *Towers) Close() {
	for _, tw := range m.towers {
		if tw == nil {
			continue
		}
		for _, b := range tw.owned {
			tw.b.Free(b)
		}
		tw.owned = nil
		tw.b.Close()
	}
}

// Backends are the towers' backends (tower 0's first).
func (m *Towers) Backends() [2]backend.Backend {
	return [2]backend.Backend{m.towers[0].b, m.towers[1].b}
}

// Memory reports each tower's backend memory.
func (m *Towers) Memory() [2]backend.MemStats {
	return [2]backend.MemStats{m.towers[0].b.Memory(), m.towers[1].b.Memory()}
}

// SetInput uploads n images (n*C*H*W floats, NCHW) to both towers; rows
// n..Batch-1 become zeros.
func (m *Towers) SetInput(x []float32, n int) error {
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
	return m.both(func(tw *tower) error {
		if err := tw.b.Upload(tw.input, x); err != nil {
			return fmt.Errorf("tower %d: input: %w", tw.t, err)
		}
		return nil
	})
}

// Forward runs every layer on both towers. seed gives each dropout layer its mask
// seed by its index in the layer list, as for model.Network; it is not called when
// train is false.
func (m *Towers) Forward(train bool, seed func(layer int) uint64) error {
	m.train = train
	for i, l := range m.Plan {
		m.seeds[i] = 0
		if train && l.Type == config.Dropout && seed != nil {
			m.seeds[i] = seed(i)
		}
	}
	return m.run(m.fwd)
}

// Logits downloads the last forward's logits of the real rows (n x classes) from
// the first tower.
func (m *Towers) Logits() ([]float32, error) {
	lead := m.towers[0]
	out := lead.layers[len(m.Plan)-1].own
	all := make([]float32, out.Len())
	if err := lead.b.Download(all, out); err != nil {
		return nil, err
	}
	return all[:m.n*m.Cfg.Classes], nil
}

// Loss computes the softmax cross-entropy of the real rows on the first tower,
// leaves its gradient there for Backward, and adds to the running scores there.
func (m *Towers) Loss(labels []int32) error {
	if len(labels) != m.n {
		return fmt.Errorf("%d labels for a batch of %d", len(labels), m.n)
	}
	lead := m.towers[0]
	last := lead.layers[len(m.Plan)-1]
	if m.n < m.Batch {
		if err := lead.b.Zero(last.ownDy); err != nil {
			return err
		}
	}
	if m.sums == nil {
		sums, err := lead.alloc(3, 1)
		if err != nil {
			return err
		}
		m.sums = sums
	}
	if err := lead.b.SoftmaxCrossEntropy(last.own, labels, m.n, m.Cfg.Classes, last.ownDy, m.sums); err != nil {
		return fmt.Errorf("loss: %w", err)
	}
	m.scored += m.n
	if m.lossScale != 0 && m.lossScale != 1 {
		if err := lead.b.Scale(last.ownDy, float32(m.lossScale)); err != nil {
			return fmt.Errorf("loss scale: %w", err)
		}
	}
	return nil
}

// TakeScores reads the scores Loss accumulated since the last call and starts afresh.
func (m *Towers) TakeScores() (model.Scores, error) {
	if m.sums == nil {
		return model.Scores{}, nil
	}
	return model.TakeScores(m.towers[0].b, m.sums, &m.scored)
}

// Backward runs every layer backwards on both towers from the loss's gradient;
// parameter gradients accumulate.
func (m *Towers) Backward() error {
	return m.run(m.bwd)
}

// CrossBytes are the bytes that cross between the towers in one forward and one
// backward pass at the built batch size, as planned (MovedBytes counts them).
func (m *Towers) CrossBytes() (forward, backward int64) {
	for _, l := range m.Plan {
		forward += 4 * int64(l.CrossForward) * int64(m.Batch)
		backward += 4 * int64(l.CrossBackward) * int64(m.Batch)
	}
	return forward, backward
}

// CrossBytesPerStep is the bytes crossing between the towers in a training step.
func (m *Towers) CrossBytesPerStep() int64 {
	f, b := m.CrossBytes()
	return f + b
}

// MovedBytes is the bytes that have crossed between the towers so far.
func (m *Towers) MovedBytes() int64 { return 4 * m.moved.Load() }

// Classes is the number of outputs per image.
func (m *Towers) Classes() int { return m.Cfg.Classes }

// BatchSize is the largest batch the towers were built for.
func (m *Towers) BatchSize() int { return m.Batch }
