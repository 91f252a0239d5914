package model

import (
	"fmt"

	"alexnet/internal/backend"
	"alexnet/internal/config"
)

// State says where a tensor between two layers lives.
type State int

const (
	// Replicated: every part holds the whole tensor: on one device, everything; on
	// the towers, the input image and whatever parameterless layers run on it
	// before the first conv or linear layer.
	Replicated State = iota
	// Halves: tower k holds floats [k*F/2, (k+1)*F/2) of each image's F floats; in
	// NCHW that is channels k*C/2 .. (k+1)*C/2-1, and after a flatten the same floats.
	Halves
	// Lead: the first tower holds the whole tensor (the logits), the second nothing.
	Lead
)

func (s State) String() string {
	switch s {
	case Replicated:
		return "replicated"
	case Halves:
		return "halves"
	case Lead:
		return "lead"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Mode is how a layer is divided between the towers.
type Mode int

const (
	// Replicate: every part runs the whole layer on the replicated input (on one
	// device, every layer).
	Replicate Mode = iota
	// PerTower: each tower runs the layer on its own half and needs nothing from
	// the other (ReLU, pooling, dropout, flatten, a conv with an even number of groups).
	PerTower
	// Gather: each tower reads the whole input (its half and a copy of the other's)
	// and computes half the outputs (a conv with groups 1, a hidden linear layer). In
	// the backward pass each tower's input gradient is the sum of both towers'
	// contributions, so the other's share crosses back.
	Gather
	// Halo: LRN across channels. Each tower reads its half plus Size-1 edge channels
	// of the other tower's half, so that windows straddling the tower boundary see
	// what they see in the single-device network; the backward pass needs the other
	// tower's output gradient on Size/2 (or (Size-1)/2) edge channels.
	Halo
	// OnLead: the first tower runs the whole layer (the classifier), reading both
	// halves; the second tower's input gradient comes back from it.
	OnLead
)

func (m Mode) String() string {
	switch m {
	case Replicate:
		return "replicate"
	case PerTower:
		return "per-tower"
	case Gather:
		return "gather"
	case Halo:
		return "halo"
	case OnLead:
		return "on-lead"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// PlacedLayer is one layer of the network as its parts run it.
type PlacedLayer struct {
	LayerInfo // the whole layer, as Plan gives it
	Mode      Mode
	// Where the layer's input and output live.
	InState, OutState State
	Parts             []PartLayer // one per device
	// CrossForward and CrossBackward are the floats per image that cross between
	// the devices at this layer, both directions together.
	CrossForward, CrossBackward int
}

// PartLayer is one part's share of a layer; shapes are per image (N = 1).
type PartLayer struct {
	// Active is false where the part has no work in the layer (the second tower at
	// the classifier).
	Active bool
	// Own is the part of the layer's output the tower keeps, at OwnOff floats into
	// each image's whole output.
	Own    backend.Shape
	OwnOff int
	// OpIn and OpOut are what the part's op reads and writes: the whole input for
	// Replicate, Gather and OnLead, the half extended by the halo for Halo, else the
	// half.
	OpIn, OpOut backend.Shape
	// The tower's op, with N = 1 (nil where the type has none).
	Conv   *backend.ConvParams
	Linear *backend.LinearParams
	LRN    *backend.LRNParams
	Pool   *backend.PoolParams
	// RowLo, RowHi: the rows (output channels or units) of the whole layer's weight
	// and bias this tower holds; equal when the tower holds none.
	RowLo, RowHi int
	// NeedDx: the tower must produce the gradient of its part of the layer's input.
	NeedDx bool

	// Copies, per image. fwdIn assembles OpIn from the towers' parts of the previous
	// output; fwdOut takes Own out of OpOut (Halo); bwdIn assembles the gradient of
	// OpOut from the towers' gradients of Own (Halo); bwdOut takes the gradient of
	// the tower's part of the input out of the towers' gradients of OpIn; bwdAdd is
	// added to it (Gather: the other tower's contribution).
	fwdIn, fwdOut, bwdIn, bwdOut, bwdAdd []piece
}

// piece copies, for every image, width floats at srcOff of tower from's source
// tensor to dstOff of the destination; offsets are within one image.
type piece struct {
	from                  int
	srcOff, dstOff, width int
}

func crossing(t int, ps []piece) int {
	n := 0
	for _, p := range ps {
		if p.from != t {
			n += p.width
		}
	}
	return n
}

func remote(t int, ps []piece) bool { return crossing(t, ps) > 0 }

// Place divides a planned network (Plan) between parts devices. One part runs
// every layer whole: no copies, one phase. Two parts are the paper's towers, the
// way it divides AlexNet between two GPUs, for any network these rules cover:
//
//   - conv, groups 1: each tower computes half the output channels from the whole
//     input (gathered from both towers unless the input is the image);
//   - conv, even groups: each tower runs groups/2 groups on its own half;
//   - linear: each tower computes half the outputs from the whole input, except the
//     last layer (the classifier), which runs whole on the first tower;
//   - ReLU, pooling, dropout, flatten: each tower on its own half;
//   - LRN: each tower on its own half plus a halo of the other tower's edge channels.
//
// A layer the rules cannot divide (an odd number of output channels or units,
// groups 3) is an error naming it.
//
// Place is geometry only. align is what a backend asks of the LRN halos' widths
// (backend.ChannelAligner; 1: none): it pads, the rules do not depend on it.
func Place(infos []LayerInfo, parts, align int) ([]PlacedLayer, error) {
	if len(infos) == 0 {
		return nil, fmt.Errorf("place: the network has no layers")
	}
	switch parts {
	case 1:
		return whole(infos), nil
	case 2:
		return split(infos, max(1, align))
	}
	return nil, fmt.Errorf("place: %d devices; a network runs on one device or as two towers", parts)
}

// whole is the one-device placement: each layer whole on its one part.
func whole(infos []LayerInfo) []PlacedLayer {
	out := make([]PlacedLayer, len(infos))
	for i, info := range infos {
		p := PartLayer{Active: true, OpIn: info.In, OpOut: info.Out, Own: info.Out, NeedDx: i > 0,
			Conv: info.Conv, Linear: info.Linear, LRN: info.LRN, Pool: info.Pool}
		if info.WeightShape != nil {
			p.RowHi = info.WeightShape[0]
		}
		out[i] = PlacedLayer{LayerInfo: info, Mode: Replicate, Parts: []PartLayer{p}}
	}
	return out
}

func split(infos []LayerInfo, align int) ([]PlacedLayer, error) {
	st := Replicated
	var out []PlacedLayer
	for i, info := range infos {
		l := PlacedLayer{LayerInfo: info, InState: st, OutState: st, Parts: make([]PartLayer, 2)}
		fail := func(format string, a ...any) ([]PlacedLayer, error) {
			return nil, fmt.Errorf("layer %s: cannot split over two towers: %s", info.Name, fmt.Sprintf(format, a...))
		}
		if st == Lead {
			return fail("it follows the classifier, which runs whole on the first device")
		}
		in, whole := info.In, info.Out
		F := in.PerImage()
		halves := st == Halves
		// Both towers' parts of the whole input, side by side.
		gatherAll := []piece{{from: 0, dstOff: 0, width: F / 2}, {from: 1, dstOff: F / 2, width: F / 2}}
		for t := range 2 {
			tl := &l.Parts[t]
			tl.Active = true
			tl.NeedDx = halves
			if halves {
				tl.OpIn = halfC(in)
			} else {
				tl.OpIn = in
			}
			tl.OpOut, tl.Own = tl.OpIn, tl.OpIn // parameterless, shape-keeping layers
		}
		switch info.Type {
		case config.Conv:
			p := *info.Conv
			if whole.C%2 != 0 {
				return fail("its %d output channels do not halve", whole.C)
			}
			switch {
			case p.Groups == 1:
				l.Mode = Gather
			case p.Groups%2 == 0:
				l.Mode = PerTower
			default:
				return fail("groups %d: each tower must hold whole groups, so groups must be 1 or even", p.Groups)
			}
			for t := range 2 {
				tl := &l.Parts[t]
				tp := p
				tp.OutC = whole.C / 2
				if l.Mode == Gather {
					tl.OpIn = in
					if halves {
						tl.fwdIn = gatherAll
						tl.bwdOut = []piece{{from: t, srcOff: t * F / 2, width: F / 2}}
						tl.bwdAdd = []piece{{from: 1 - t, srcOff: t * F / 2, width: F / 2}}
					}
				} else {
					tp.Groups = p.Groups / 2
					tp.In = halfC(in)
					tl.OpIn = tp.In
					if !halves { // the image: take this tower's channels of it
						tl.fwdIn = []piece{{from: t, srcOff: t * F / 2, width: F / 2}}
					}
				}
				tp.In.N = 1
				tl.Conv = &tp
				tl.OpOut = halfC(whole)
				tl.Own = tl.OpOut
				tl.OwnOff = t * tl.Own.PerImage()
				tl.RowLo, tl.RowHi = t*whole.C/2, (t+1)*whole.C/2
			}
			l.OutState = Halves
		case config.Linear:
			last := i == len(infos)-1
			flatIn := backend.Shape{N: 1, C: F, H: 1, W: 1}
			if last {
				l.Mode = OnLead
				lead, other := &l.Parts[0], &l.Parts[1]
				lp := *info.Linear
				lead.Linear = &lp
				lead.OpIn, lead.OpOut, lead.Own = flatIn, whole, whole
				lead.RowLo, lead.RowHi = 0, whole.C
				*other = PartLayer{NeedDx: halves}
				if halves {
					lead.fwdIn = gatherAll
					lead.bwdOut = []piece{{from: 0, width: F / 2}}
					other.bwdOut = []piece{{from: 0, srcOff: F / 2, width: F / 2}}
				}
				l.OutState = Lead
				break
			}
			if whole.C%2 != 0 {
				return fail("its %d outputs do not halve (only the last layer, the classifier, runs whole)", whole.C)
			}
			l.Mode = Gather
			for t := range 2 {
				tl := &l.Parts[t]
				lp := *info.Linear
				lp.Out = whole.C / 2
				tl.Linear = &lp
				tl.OpIn = flatIn
				tl.OpOut = halfC(whole)
				tl.Own = tl.OpOut
				tl.OwnOff = t * tl.Own.PerImage()
				tl.RowLo, tl.RowHi = t*whole.C/2, (t+1)*whole.C/2
				if halves {
					tl.fwdIn = gatherAll
					tl.bwdOut = []piece{{from: t, srcOff: t * F / 2, width: F / 2}}
					tl.bwdAdd = []piece{{from: 1 - t, srcOff: t * F / 2, width: F / 2}}
				}
			}
			l.OutState = Halves
		case config.ReLU, config.Dropout:
			l.Mode = modeFor(halves)
			setOwn(&l, halves)
		case config.Flatten:
			l.Mode = modeFor(halves)
			for t := range 2 {
				tl := &l.Parts[t]
				tl.OpOut = backend.Shape{N: 1, C: tl.OpIn.PerImage(), H: 1, W: 1}
				tl.Own = tl.OpOut
			}
			setOwn(&l, halves)
		case config.MaxPool, config.AdaptiveAvgPool:
			l.Mode = modeFor(halves)
			for t := range 2 {
				tl := &l.Parts[t]
				pp := *info.Pool
				pp.In = tl.OpIn
				tl.Pool = &pp
				tl.OpOut = whole
				if halves {
					tl.OpOut = halfC(whole)
				}
				tl.Own = tl.OpOut
			}
			setOwn(&l, halves)
		case config.LRN:
			lp := *info.LRN
			lo, hi := lp.Size/2, (lp.Size-1)/2
			if !halves || lo+hi == 0 {
				l.Mode = modeFor(halves)
				for t := range 2 {
					tp := lp
					tp.In = l.Parts[t].OpIn
					l.Parts[t].LRN = &tp
				}
				setOwn(&l, halves)
				break
			}
			l.Mode = Halo
			if err := haloPlan(&l, lp, lo, hi, align); err != nil {
				return fail("%v", err)
			}
		default:
			return fail("unknown layer type %q", info.Type)
		}
		for t := range 2 {
			tl := &l.Parts[t]
			for _, ps := range []*[]piece{&tl.fwdIn, &tl.fwdOut, &tl.bwdIn, &tl.bwdOut, &tl.bwdAdd} {
				*ps = dropEmpty(*ps)
			}
			l.CrossForward += crossing(t, tl.fwdIn) + crossing(t, tl.fwdOut)
			l.CrossBackward += crossing(t, tl.bwdIn) + crossing(t, tl.bwdOut) + crossing(t, tl.bwdAdd)
		}
		st = l.OutState
		out = append(out, l)
	}
	return out, nil
}

// haloPlan: LRN with window c-lo .. c+hi. Tower 0 owns channels [0, h), tower 1
// [h, C). A tower's outputs need the input within hi (lo) channels past its edge,
// and their gradients need the output gradient within lo (hi) channels and the
// scale, hence the input, within lo+hi channels: so each tower runs the LRN on its
// half extended by e = lo+hi channels of the other's (clipped at the real edge,
// which then is the single network's edge too) and keeps its own channels. The
// extended outputs beyond lo (hi) channels are wrong (their windows are clipped at
// the extension's edge) but nothing kept reads them.
//
// The extension is padded with zero channels on its far side up to a multiple of
// align channels, where that stays within C: the backend's channel block
// (backend.ChannelAligner; oneDNN's JIT LRN runs only on whole blocks). A zero
// channel adds nothing to a window's sum, exactly as the clipped edge, and touches
// only discarded channels; it costs compute, no communication.
func haloPlan(l *PlacedLayer, lp backend.LRNParams, lo, hi, align int) error {
	C, hw := lp.In.C, lp.In.H*lp.In.W
	if C%2 != 0 {
		return fmt.Errorf("its %d input channels do not halve", C)
	}
	h, e := C/2, lo+hi
	ext := [2][2]int{{0, min(C, h+e)}, {max(0, h-e), C}} // channel range of each tower's extension
	need := [2][2]int{{h, min(C, h+lo)}, {max(0, h-hi), h}}
	for t := range 2 {
		tl := &l.Parts[t]
		a, b := ext[t][0], ext[t][1]
		width := b - a
		if p := (width + align - 1) / align * align; width < C && p <= C {
			width = p
		}
		// Real channel c sits at c - a + shift of the extension; tower 1's padding
		// comes first, at its far side.
		shift := 0
		if t == 1 {
			shift = width - (b - a)
		}
		at := func(c int) int { return (c - a + shift) * hw }
		tl.OpIn = backend.Shape{N: 1, C: width, H: lp.In.H, W: lp.In.W}
		tl.OpOut = tl.OpIn
		tl.Own = backend.Shape{N: 1, C: h, H: lp.In.H, W: lp.In.W}
		tl.OwnOff = t * h * hw
		tp := lp
		tp.In = tl.OpIn
		tl.LRN = &tp
		own := at(t * h) // where the tower's own channels sit in its extension
		// The other tower's channels in the extension, in its own numbering.
		o := 1 - t
		oa, ob := max(a, o*h), min(b, (o+1)*h)
		tl.fwdIn = []piece{
			{from: t, srcOff: 0, dstOff: own, width: h * hw},
			{from: o, srcOff: (oa - o*h) * hw, dstOff: at(oa), width: (ob - oa) * hw},
		}
		tl.fwdOut = []piece{{from: t, srcOff: own, width: h * hw}}
		na, nb := need[t][0], need[t][1]
		tl.bwdIn = []piece{
			{from: t, srcOff: 0, dstOff: own, width: h * hw},
			{from: o, srcOff: (na - o*h) * hw, dstOff: at(na), width: (nb - na) * hw},
		}
		tl.bwdOut = []piece{{from: t, srcOff: own, width: h * hw}}
	}
	return nil
}

// dropEmpty drops pieces of width 0 (an LRN halo of zero channels on one side).
func dropEmpty(ps []piece) []piece {
	var out []piece
	for _, p := range ps {
		if p.width > 0 {
			out = append(out, p)
		}
	}
	return out
}

func modeFor(halves bool) Mode {
	if halves {
		return PerTower
	}
	return Replicate
}

// setOwn places a shape-keeping layer's own output in the whole output.
func setOwn(l *PlacedLayer, halves bool) {
	for t := range 2 {
		if halves {
			l.Parts[t].OwnOff = t * l.Parts[t].Own.PerImage()
		}
	}
}

// halfC halves the channels (the features, after a flatten) of a per-image shape.
func halfC(s backend.Shape) backend.Shape {
	return backend.Shape{N: 1, C: s.C / 2, H: s.H, W: s.W}
}
