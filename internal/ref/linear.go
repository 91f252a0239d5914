package ref

import "alexnet/internal/backend"

// Fully connected layer, PyTorch's layout.
//
//	x [N, In]   w [Out, In]   b [Out]   y [N, Out]
//	y[n,o] = b[o] + sum_i x[n,i] * w[o,i]
type linear struct {
	r *Backend
	p backend.LinearParams
}

func (r *Backend) NewLinear(p backend.LinearParams) (backend.Linear, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	return &linear{r: r, p: p}, nil
}

func (l *linear) Forward(x, w, b, y backend.Buffer) error {
	p := l.p
	ck := checker{op: "linear forward"}
	xs := ck.get(x, p.N*p.In, "x")
	ws := ck.get(w, p.Out*p.In, "w")
	bs := ck.get(b, p.Out, "b")
	ys := ck.get(y, p.N*p.Out, "y")
	if ck.err != nil {
		return ck.err
	}
	linearForward(p, xs, ws, bs, ys, l.r.workers)
	return nil
}

func (l *linear) BackwardData(w, dy, dx backend.Buffer) error {
	p := l.p
	ck := checker{op: "linear backward data"}
	ws := ck.get(w, p.Out*p.In, "w")
	dys := ck.get(dy, p.N*p.Out, "dy")
	dxs := ck.get(dx, p.N*p.In, "dx")
	if ck.err != nil {
		return ck.err
	}
	linearBackwardData(p, ws, dys, dxs, l.r.workers)
	return nil
}

func (l *linear) BackwardFilter(x, dy, dw, db backend.Buffer) error {
	p := l.p
	ck := checker{op: "linear backward filter"}
	xs := ck.get(x, p.N*p.In, "x")
	dys := ck.get(dy, p.N*p.Out, "dy")
	dws := ck.get(dw, p.Out*p.In, "dw")
	dbs := ck.get(db, p.Out, "db")
	if ck.err != nil {
		return ck.err
	}
	linearBackwardFilter(p, xs, dys, dws, dbs, l.r.workers)
	return nil
}

// linearForward: y[n,o] = b[o] + sum_i x[n,i] w[o,i]; one row per goroutine.
func linearForward[T float](p backend.LinearParams, x, w, b, y []T, workers int) {
	parallelFor(workers, p.N, func(n int) {
		for o := 0; o < p.Out; o++ {
			sum := float64(b[o])
			for i := 0; i < p.In; i++ {
				sum += float64(x[n*p.In+i]) * float64(w[o*p.In+i])
			}
			y[n*p.Out+o] = T(sum)
		}
	})
}

// linearBackwardData: dx[n,i] = sum_o dy[n,o] w[o,i] (dx = dy w), overwritten.
func linearBackwardData[T float](p backend.LinearParams, w, dy, dx []T, workers int) {
	parallelFor(workers, p.N, func(n int) {
		for i := 0; i < p.In; i++ {
			var sum float64
			for o := 0; o < p.Out; o++ {
				sum += float64(dy[n*p.Out+o]) * float64(w[o*p.In+i])
			}
			dx[n*p.In+i] = T(sum)
		}
	})
}

// linearBackwardFilter: dw[o,i] += sum_n dy[n,o] x[n,i] (dw += dy^T x),
// db[o] += sum_n dy[n,o]; one output unit per goroutine.
func linearBackwardFilter[T float](p backend.LinearParams, x, dy, dw, db []T, workers int) {
	parallelFor(workers, p.Out, func(o int) {
		var bias float64
		for n := 0; n < p.N; n++ {
			bias += float64(dy[n*p.Out+o])
		}
		db[o] += T(bias)
		for i := 0; i < p.In; i++ {
			var sum float64
			for n := 0; n < p.N; n++ {
				sum += float64(dy[n*p.Out+o]) * float64(x[n*p.In+i])
			}
			dw[o*p.In+i] += T(sum)
		}
	})
}
