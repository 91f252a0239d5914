package parallel

import "alexnet/internal/config"

// layerBufs are the floats per image of the buffers one tower allocates for one
// layer (0: none, the buffer is shared with a neighbour's).
type layerBufs struct {
	x    int // gathered or extended input (Gather, Halo; a grouped conv's half of the image)
	y    int // the op's output (0 for in-place ReLU and flatten)
	own  int // the tower's part of an extended output (Halo)
	mask int // dropout mask
	dy   int // gradient of the extended output (Halo)
	dx   int // gradient of the whole or extended input (Gather, Halo, OnLead)
	sum  int // the other tower's contribution to the input gradient, and the add's scratch (Gather)
}

// towerLayout is what one tower allocates, per image, besides parameters. The
// gradients of the tower's parts of the activations share buffers as in the
// single network (model's gradPlan): layer i writes the gradient of its input part
// into grads[ids[i]] (-1: nobody needs it) and reads its output's from layer i+1's,
// two buffers of each size sufficing; grads[0] is the loss gradient.
type towerLayout struct {
	input  int
	layers []layerBufs
	ids    []int
	grads  []int
	params int // floats of parameters (weights and biases) the tower holds
}

func layout(plan []Layer, t int) towerLayout {
	lay := towerLayout{input: plan[0].In.PerImage(), layers: make([]layerBufs, len(plan))}
	for i, l := range plan {
		tl := l.Towers[t]
		if !tl.Active {
			continue
		}
		b := &lay.layers[i]
		if len(tl.fwdIn) > 0 {
			b.x = tl.OpIn.PerImage()
		}
		if !l.InPlace {
			b.y = tl.OpOut.PerImage()
		}
		if len(tl.fwdOut) > 0 {
			b.own = tl.Own.PerImage()
		}
		if l.Type == config.Dropout {
			b.mask = tl.Own.PerImage()
		}
		if len(tl.bwdIn) > 0 {
			b.dy = tl.OpOut.PerImage()
		}
		if tl.NeedDx && len(tl.bwdOut) > 0 {
			b.dx = tl.OpIn.PerImage()
		}
		if len(tl.bwdAdd) > 0 {
			b.sum = plan[i-1].Towers[t].Own.PerImage()
		}
		if tl.Conv != nil || tl.Linear != nil {
			rowLen := 1
			for _, d := range l.WeightShape[1:] {
				rowLen *= d
			}
			lay.params += (tl.RowHi - tl.RowLo) * (rowLen + 1)
		}
	}
	lay.ids, lay.grads = gradPlan(plan, t)
	return lay
}

// gradPlan is model's gradPlan over one tower's parts of the activations: walking
// backwards, dx must differ from the dy it is computed from. A tower takes part in
// a layer's backward pass even where its op is inactive (the second tower at the
// classifier receives its input gradient from the first).
func gradPlan(plan []Layer, t int) (ids, sizes []int) {
	ids = make([]int, len(plan))
	sizes = []int{plan[len(plan)-1].Towers[t].Own.PerImage()}
	bySize := map[int][]int{}
	dy := 0
	for i := len(plan) - 1; i >= 0; i-- {
		switch {
		case i == 0 || !plan[i].Towers[t].NeedDx:
			ids[i] = -1
		case plan[i].Type == config.Flatten:
			ids[i] = dy // a view: its input gradient is its output gradient
		default:
			size := plan[i-1].Towers[t].Own.PerImage()
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

// forward and backward are the floats per image of activation memory.
func (lay towerLayout) forward() int {
	n := lay.input
	for _, b := range lay.layers {
		n += b.x + b.y + b.own + b.mask
	}
	return n
}

func (lay towerLayout) backward() int {
	n := 0
	for _, g := range lay.grads {
		n += g
	}
	for _, b := range lay.layers {
		n += b.dy + b.dx + 2*b.sum
	}
	return n
}
