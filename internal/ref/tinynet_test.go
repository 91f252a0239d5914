package ref

import (
	"testing"

	"alexnet/internal/backend"
	"alexnet/internal/safetensors"
)

// TestTinyNetFixture runs the whole-net fixture the model package is tested with
// (internal/model/testdata/tinynet.safetensors) through this backend's ops, chained
// by hand: forward in both modes, loss, every parameter gradient, and three SGD steps
// with the per-step dropout seeds. It checks the fixture (and the script's dropout
// and SGD) against an implementation that shares nothing with PyTorch, and the ops
// against each other, before the model's own layers are in the picture.
//
// Tolerances: PyTorch computed in float64; here every layer's output is rounded to
// float32 and the rounding compounds through 15 layers and 3 steps, so forward and
// gradients get 1e-4 relative to their largest magnitude. The weights move by only
// ~1e-3 of their size in three steps, so the test compares the moves (step3 - init)
// rather than the weights; a move is the difference of two float32 weights, whose
// rounding alone is ~1e-4 of the largest move, hence 1e-3 there, still ten times
// tighter than the weight-decay term it must see.
const (
	netTol   = 1e-4
	deltaTol = 1e-3
)

type tinyLayer struct {
	name, kind string
	in, out    backend.Shape
	conv       backend.Conv
	lin        backend.Linear
	op         backend.Op
	w, b       backend.Buffer
	dw, db     backend.Buffer
	vw, vb     backend.Buffer
	mask       backend.Buffer
}

type tinyNet struct {
	b      backend.Backend
	layers []*tinyLayer
	acts   []backend.Buffer // acts[i] is the input of layer i; the last is the logits
	grads  []backend.Buffer // gradients of the loss with respect to acts
}

// The net of scripts/make_fixtures.py (LAYERS there), layer index = position.
var tinySpec = []struct {
	name, kind            string
	out, k, stride, pad   int
	groups                int
	size                  int
	alpha, beta, kk, prob float32
}{
	{name: "conv1", kind: "conv", out: 8, k: 5, stride: 2, pad: 1, groups: 1},
	{name: "relu1", kind: "relu"},
	{name: "norm1", kind: "lrn", size: 5, alpha: 0.1, beta: 0.75, kk: 2},
	{name: "pool1", kind: "maxpool", k: 3, stride: 2},
	{name: "conv2", kind: "conv", out: 12, k: 3, stride: 1, pad: 1, groups: 2},
	{name: "relu2", kind: "relu"},
	{name: "norm2", kind: "lrn", size: 5, alpha: 0.1, beta: 0.75, kk: 2},
	{name: "pool2", kind: "maxpool", k: 2, stride: 2},
	{name: "conv3", kind: "conv", out: 8, k: 3, stride: 1, pad: 1, groups: 1},
	{name: "relu3", kind: "relu"},
	{name: "flatten", kind: "flatten"},
	{name: "fc4", kind: "linear", out: 16},
	{name: "relu4", kind: "relu"},
	{name: "drop4", kind: "dropout", prob: 0.5},
	{name: "fc5", kind: "linear", out: 5},
}

func newTinyNet(t *testing.T, b backend.Backend, f fixture) *tinyNet {
	t.Helper()
	net := &tinyNet{b: b}
	s := shape4(t, f.tensor("x").Shape)
	alloc := func(n int) backend.Buffer {
		x, err := b.Alloc(n)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	param := func(name string, n int) (w, dw, v backend.Buffer) {
		data := f.data("init." + name)
		if len(data) != n {
			t.Fatalf("init.%s has %d values, want %d", name, len(data), n)
		}
		return buf(t, b, data), alloc(n), alloc(n)
	}
	net.acts = append(net.acts, buf(t, b, f.data("x")))
	net.grads = append(net.grads, alloc(s.Len()))
	for _, sp := range tinySpec {
		l := &tinyLayer{name: sp.name, kind: sp.kind, in: s, out: s}
		var err error
		switch sp.kind {
		case "conv":
			p := backend.ConvParams{In: s, OutC: sp.out, KH: sp.k, KW: sp.k, StrideH: sp.stride, StrideW: sp.stride, PadH: sp.pad, PadW: sp.pad, Groups: sp.groups}
			if l.conv, err = b.NewConv(p); err == nil {
				l.out = l.conv.OutShape()
				l.w, l.dw, l.vw = param(sp.name+".weight", p.WeightLen())
				l.b, l.db, l.vb = param(sp.name+".bias", sp.out)
			}
		case "linear":
			p := backend.LinearParams{N: s.N, In: s.PerImage(), Out: sp.out}
			if l.lin, err = b.NewLinear(p); err == nil {
				l.out = backend.Shape{N: s.N, C: sp.out, H: 1, W: 1}
				l.w, l.dw, l.vw = param(sp.name+".weight", p.Out*p.In)
				l.b, l.db, l.vb = param(sp.name+".bias", sp.out)
			}
		case "lrn":
			l.op, err = b.NewLRN(backend.LRNParams{In: s, Size: sp.size, Alpha: sp.alpha, Beta: sp.beta, K: sp.kk})
		case "maxpool":
			if l.op, err = b.NewPool(backend.PoolParams{In: s, KH: sp.k, KW: sp.k, StrideH: sp.stride, StrideW: sp.stride}); err == nil {
				l.out = l.op.OutShape()
			}
		case "flatten":
			l.out = backend.Shape{N: s.N, C: s.PerImage(), H: 1, W: 1}
		case "dropout":
			l.mask = alloc(s.Len())
		}
		if err != nil {
			t.Fatalf("%s: %v", sp.name, err)
		}
		net.layers = append(net.layers, l)
		net.acts = append(net.acts, alloc(l.out.Len()))
		net.grads = append(net.grads, alloc(l.out.Len()))
		s = l.out
	}
	return net
}

// forward fills the activations; step < 0 is evaluation (no dropout).
func (net *tinyNet) forward(step int) error {
	b := net.b
	for i, l := range net.layers {
		x, y := net.acts[i], net.acts[i+1]
		var err error
		switch l.kind {
		case "conv":
			err = l.conv.Forward(x, l.w, l.b, y)
		case "linear":
			err = l.lin.Forward(x, l.w, l.b, y)
		case "relu":
			err = b.ReLUForward(x, y)
		case "lrn", "maxpool":
			err = l.op.Forward(x, y)
		case "flatten":
			err = b.Copy(y, x) // NCHW flattens to [N, C*H*W] with no reordering
		case "dropout":
			if step < 0 {
				err = b.Copy(y, x)
			} else {
				err = b.DropoutForward(x, y, l.mask, 0.5, backend.DropoutSeed(42, int64(step), i))
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// backward fills the activation gradients from the last one (dlogits) and adds the
// parameter gradients.
func (net *tinyNet) backward() error {
	b := net.b
	for i := len(net.layers) - 1; i >= 0; i-- {
		l := net.layers[i]
		x, y, dy, dx := net.acts[i], net.acts[i+1], net.grads[i+1], net.grads[i]
		var err error
		switch l.kind {
		case "conv":
			if err = l.conv.BackwardFilter(x, dy, l.dw, l.db); err == nil {
				err = l.conv.BackwardData(l.w, dy, dx)
			}
		case "linear":
			if err = l.lin.BackwardFilter(x, dy, l.dw, l.db); err == nil {
				err = l.lin.BackwardData(l.w, dy, dx)
			}
		case "relu":
			err = b.ReLUBackward(y, dy, dx)
		case "lrn", "maxpool":
			err = l.op.Backward(x, y, dy, dx)
		case "flatten":
			err = b.Copy(dx, dy)
		case "dropout":
			err = b.Mul(dy, l.mask, dx)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func TestTinyNetFixture(t *testing.T) {
	file, err := safetensors.ReadFile("../model/testdata/tinynet.safetensors")
	if err != nil {
		t.Fatalf("%v (regenerate with /usr/bin/python3 scripts/make_fixtures.py)", err)
	}
	f := fixture{file, t}
	b := openRef(t)
	net := newTinyNet(t, b, f)
	logits := net.acts[len(net.acts)-1]
	dlogits := net.grads[len(net.grads)-1]
	labels := labelsOf(t, f.data("labels"))
	n, c := net.layers[len(net.layers)-1].out.N, net.layers[len(net.layers)-1].out.C

	if err := net.forward(-1); err != nil {
		t.Fatal(err)
	}
	compare(t, "eval_logits", get(t, b, logits), f.data("eval_logits"), netTol)

	const lr, momentum, decay = 0.01, 0.9, 5e-4
	var losses []float64
	for step := 0; step < 3; step++ {
		for _, l := range net.layers {
			if l.w != nil {
				b.Zero(l.dw)
				b.Zero(l.db)
			}
		}
		if err := net.forward(step); err != nil {
			t.Fatal(err)
		}
		loss, err := backend.CrossEntropy(b, logits, labels, n, c, dlogits)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, loss)
		if err := net.backward(); err != nil {
			t.Fatal(err)
		}
		if step == 0 {
			compare(t, "logits (train, step 0)", get(t, b, logits), f.data("logits"), netTol)
			compare(t, "drop4 mask (step 0)", get(t, b, net.layers[13].mask), f.data("drop4.mask.step0"), 0)
			for _, l := range net.layers {
				if l.w != nil {
					compare(t, "grad."+l.name+".weight", get(t, b, l.dw), f.data("grad."+l.name+".weight"), netTol)
					compare(t, "grad."+l.name+".bias", get(t, b, l.db), f.data("grad."+l.name+".bias"), netTol)
				}
			}
		}
		// Weights: lr_mult 1, decay_mult 1; biases: lr_mult 2, decay_mult 0.
		for _, l := range net.layers {
			if l.w == nil {
				continue
			}
			if err := b.SGD([]backend.SGDParam{{W: l.w, G: l.dw, V: l.vw, LR: lr, Decay: decay}}, momentum, 1); err != nil {
				t.Fatal(err)
			}
			if err := b.SGD([]backend.SGDParam{{W: l.b, G: l.db, V: l.vb, LR: 2 * lr}}, momentum, 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	compare(t, "loss (step 0)", losses[:1], toF64(f.data("loss")), netTol)
	compare(t, "losses", losses, toF64(f.data("losses")), netTol)
	for _, l := range net.layers {
		if l.w == nil {
			continue
		}
		for _, p := range []struct {
			suffix string
			buf    backend.Buffer
		}{{".weight", l.w}, {".bias", l.b}} {
			name := l.name + p.suffix
			w3, w0 := get(t, b, p.buf), f.data("init."+name)
			delta := make([]float64, len(w3))
			for i := range w3 {
				delta[i] = float64(w3[i]) - float64(w0[i])
			}
			compare(t, "delta3."+name, delta, toF64(f.data("delta3."+name)), deltaTol)
			compare(t, "step3."+name, w3, f.data("step3."+name), netTol)
		}
	}
	t.Logf("losses %.6f", losses)
}
