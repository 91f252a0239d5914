package model

import "alexnet/internal/config"

// layerBufs are the floats per image of the buffers one part allocates for one
// layer (0: none, the buffer is shared with a neighbour's).
type layerBufs struct {
	x    int // gathered or extended input (Gather, Halo; a grouped conv's half of the image)
	y    int // the op's output (0 for in-place ReLU and flatten)
	own  int // the part's share of an extended output (Halo)
	mask int // dropout mask
	dy   int // gradient of the extended output (Halo)
	dx   int // gradient of the whole or extended input (Gather, Halo, OnLead)
	sum  int // the other part's contribution to the input gradient (Gather)
}

// partLayout is what one part allocates, per image, besides parameters.
//
// Gradients of activations share buffers: layer i writes the gradient of its
// input into grads[ids[i]] (-1: nobody needs it) and reads its output's from
// layer i+1's, grads[0] being the loss's. Walking backwards, dx must differ from
// the dy it is computed from, so two buffers of each size suffice where the
// forward pass needs one per layer.
type partLayout struct {
	input  int
	layers []layerBufs
	ids    []int
	grads  []int
	params int // floats of parameters (weights and biases) the part holds
}

// layout is part t's buffers under plan; an inference network has no gradients
// and runs dropout in place.
func layout(plan []PlacedLayer, t int, inference bool) partLayout {
	lay := partLayout{input: plan[0].In.PerImage(), layers: make([]layerBufs, len(plan))}
	for i, l := range plan {
		tl := l.Parts[t]
		if tl.Conv != nil || tl.Linear != nil {
			lay.params += (tl.RowHi - tl.RowLo) * (prod(l.WeightShape[1:]) + 1)
		}
		if !tl.Active {
			continue
		}
		b := &lay.layers[i]
		if len(tl.fwdIn) > 0 {
			b.x = tl.OpIn.PerImage()
		}
		if !l.InPlace && !(inference && l.Type == config.Dropout) {
			b.y = tl.OpOut.PerImage()
		}
		if len(tl.fwdOut) > 0 {
			b.own = tl.Own.PerImage()
		}
		if inference {
			continue
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
			b.sum = plan[i-1].Parts[t].Own.PerImage()
		}
	}
	if !inference {
		lay.ids, lay.grads = gradPlan(plan, t)
	}
	return lay
}

// gradPlan assigns part t's activation gradients to buffers (see partLayout). A
// part takes part in a layer's backward pass even where its op is inactive (the
// second tower at the classifier receives its input gradient from the first).
func gradPlan(plan []PlacedLayer, t int) (ids, sizes []int) {
	ids = make([]int, len(plan))
	sizes = []int{plan[len(plan)-1].Parts[t].Own.PerImage()}
	bySize := map[int][]int{}
	dy := 0
	for i := len(plan) - 1; i >= 0; i-- {
		switch {
		case i == 0 || !plan[i].Parts[t].NeedDx:
			ids[i] = -1
		case plan[i].Type == config.Flatten:
			ids[i] = dy // a view: its input gradient is its output gradient
		default:
			size := plan[i-1].Parts[t].Own.PerImage()
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
func (lay partLayout) forward() int {
	n := lay.input
	for _, b := range lay.layers {
		n += b.x + b.y + b.own + b.mask
	}
	return n
}

func (lay partLayout) backward() int {
	n := 0
	for _, g := range lay.grads {
		n += g
	}
	for _, b := range lay.layers {
		n += b.dy + b.dx + b.sum
	}
	return n
}

func prod(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}
