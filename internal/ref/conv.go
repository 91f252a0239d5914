package ref

import "alexnet/internal/backend"

// Convolution with groups, stride, zero padding and bias.
//
//	x  [N, C, H, W]            input
//	w  [OutC, C/G, KH, KW]     weights; output channel oc sees only input channels
//	                            of its group g = oc / (OutC/G)
//	b  [OutC]                  bias
//	y  [N, OutC, OH, OW]       OH = (H + 2*PadH - KH)/StrideH + 1, likewise OW
//
//	y[n,oc,oh,ow] = b[oc] + sum_{ic,kh,kw} w[oc,ic,kh,kw] * x[n, g*C/G+ic, oh*SH-PH+kh, ow*SW-PW+kw]
//
// with x read as zero outside the image.
type conv struct {
	r   *Backend
	p   backend.ConvParams
	out backend.Shape
}

func (r *Backend) NewConv(p backend.ConvParams) (backend.Conv, error) {
	out, err := p.Out()
	if err != nil {
		return nil, err
	}
	return &conv{r: r, p: p, out: out}, nil
}

func (c *conv) OutShape() backend.Shape { return c.out }

func (c *conv) Forward(x, w, b, y backend.Buffer) error {
	ck := checker{op: "conv forward"}
	xs := ck.get(x, c.p.In.Len(), "x")
	ws := ck.get(w, c.p.WeightLen(), "w")
	bs := ck.get(b, c.p.OutC, "b")
	ys := ck.get(y, c.out.Len(), "y")
	if ck.err != nil {
		return ck.err
	}
	convForward(c.p, c.out, xs, ws, bs, ys, c.r.workers)
	return nil
}

func (c *conv) BackwardData(w, dy, dx backend.Buffer) error {
	ck := checker{op: "conv backward data"}
	ws := ck.get(w, c.p.WeightLen(), "w")
	dys := ck.get(dy, c.out.Len(), "dy")
	dxs := ck.get(dx, c.p.In.Len(), "dx")
	if ck.err != nil {
		return ck.err
	}
	convBackwardData(c.p, c.out, ws, dys, dxs, c.r.workers)
	return nil
}

func (c *conv) BackwardFilter(x, dy, dw, db backend.Buffer) error {
	ck := checker{op: "conv backward filter"}
	xs := ck.get(x, c.p.In.Len(), "x")
	dys := ck.get(dy, c.out.Len(), "dy")
	dws := ck.get(dw, c.p.WeightLen(), "dw")
	dbs := ck.get(db, c.p.OutC, "db")
	if ck.err != nil {
		return ck.err
	}
	convBackwardFilter(c.p, c.out, xs, dys, dws, dbs, c.r.workers)
	return nil
}

// convGeom names the sizes the three kernels share.
type convGeom struct {
	N, C, H, W     int // input
	OC, OH, OW     int // output
	CG, OCG        int // input and output channels per group
	KH, KW         int
	SH, SW, PH, PW int
}

func geom(p backend.ConvParams, out backend.Shape) convGeom {
	return convGeom{
		N: p.In.N, C: p.In.C, H: p.In.H, W: p.In.W,
		OC: out.C, OH: out.H, OW: out.W,
		CG: p.In.C / p.Groups, OCG: p.OutC / p.Groups,
		KH: p.KH, KW: p.KW, SH: p.StrideH, SW: p.StrideW, PH: p.PadH, PW: p.PadW,
	}
}

// forEachTap calls f for every (input, weight) pair that output (n,oc,oh,ow) reads:
// the single loop nest the forward and both backward passes share, so they cannot
// disagree about which input a weight touches.
func (g convGeom) forEachTap(n, oc, oh, ow int, f func(xi, wi int)) {
	grp := oc / g.OCG
	for ic := 0; ic < g.CG; ic++ {
		c := grp*g.CG + ic
		for kh := 0; kh < g.KH; kh++ {
			ih := oh*g.SH - g.PH + kh
			if ih < 0 || ih >= g.H {
				continue // zero padding
			}
			for kw := 0; kw < g.KW; kw++ {
				iw := ow*g.SW - g.PW + kw
				if iw < 0 || iw >= g.W {
					continue
				}
				f(((n*g.C+c)*g.H+ih)*g.W+iw, ((oc*g.CG+ic)*g.KH+kh)*g.KW+kw)
			}
		}
	}
}

func (g convGeom) yIndex(n, oc, oh, ow int) int { return ((n*g.OC+oc)*g.OH+oh)*g.OW + ow }

// convForward: y = conv(x, w) + b, one image per goroutine.
func convForward[T float](p backend.ConvParams, out backend.Shape, x, w, b, y []T, workers int) {
	g := geom(p, out)
	parallelFor(workers, g.N, func(n int) {
		for oc := 0; oc < g.OC; oc++ {
			for oh := 0; oh < g.OH; oh++ {
				for ow := 0; ow < g.OW; ow++ {
					sum := float64(b[oc])
					g.forEachTap(n, oc, oh, ow, func(xi, wi int) {
						sum += float64(x[xi]) * float64(w[wi])
					})
					y[g.yIndex(n, oc, oh, ow)] = T(sum)
				}
			}
		}
	})
}

// convBackwardData: dx[n,c,h,w] = sum over the outputs that read x[n,c,h,w] of
// dy * the weight that connected them. Written as the forward's scatter into a
// float64 image, one image per goroutine; dx is overwritten.
func convBackwardData[T float](p backend.ConvParams, out backend.Shape, w, dy, dx []T, workers int) {
	g := geom(p, out)
	per := g.C * g.H * g.W
	parallelFor(workers, g.N, func(n int) {
		acc := make([]float64, per)
		base := n * per
		for oc := 0; oc < g.OC; oc++ {
			for oh := 0; oh < g.OH; oh++ {
				for ow := 0; ow < g.OW; ow++ {
					d := float64(dy[g.yIndex(n, oc, oh, ow)])
					g.forEachTap(n, oc, oh, ow, func(xi, wi int) {
						acc[xi-base] += d * float64(w[wi])
					})
				}
			}
		}
		for i, v := range acc {
			dx[base+i] = T(v)
		}
	})
}

// convBackwardFilter: dw[oc,ic,kh,kw] += sum_{n,oh,ow} dy[n,oc,oh,ow] * x[tap],
// db[oc] += sum_{n,oh,ow} dy[n,oc,oh,ow]; one output channel per goroutine, so each
// owns its slice of dw and its db entry.
func convBackwardFilter[T float](p backend.ConvParams, out backend.Shape, x, dy, dw, db []T, workers int) {
	g := geom(p, out)
	per := g.CG * g.KH * g.KW
	parallelFor(workers, g.OC, func(oc int) {
		acc := make([]float64, per)
		base := oc * per
		var bias float64
		for n := 0; n < g.N; n++ {
			for oh := 0; oh < g.OH; oh++ {
				for ow := 0; ow < g.OW; ow++ {
					d := float64(dy[g.yIndex(n, oc, oh, ow)])
					bias += d
					g.forEachTap(n, oc, oh, ow, func(xi, wi int) {
						acc[wi-base] += d * float64(x[xi])
					})
				}
			}
		}
		for i, v := range acc {
			dw[base+i] += T(v)
		}
		db[oc] += T(bias)
	})
}
