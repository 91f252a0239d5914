package cudnn

import (
	"fmt"

	"alexnet/csrc"
	"alexnet/internal/backend"
)

// Fully connected layer by cuBLAS SGEMM, bias by cuDNN.
//
//	forward:         y  = x w^T + b     x [N, In]   w [Out, In]   b [Out]   y [N, Out]
//	backward data:   dx = dy w          dy [N, Out]                           dx [N, In]
//	backward filter: dw += dy^T x       db += sum_n dy[n, :]
//
// cuBLAS is column-major; a row-major [R, C] matrix is the column-major [C, R] one,
// its transpose, with leading dimension C. So each row-major product is computed as
// its transpose: y^T = w x^T is gemm(T, N) of w (stored [In, Out] column-major) and
// x^T (stored [In, N]), and so on below.
//
// Under bf16 and fp16 (precision.go) the two inputs of each product are cast to 16
// bits and the product is cublasGemmEx with float32 output and accumulation, so y and
// dx are float32 and dw accumulates into float32 with beta = 1 directly.
type linear struct {
	b     *Backend
	p     backend.LinearParams
	biasD csrc.TensorDesc // [1, Out, 1, 1]
	outD  csrc.TensorDesc // [N, Out, 1, 1]
}

func (b *Backend) NewLinear(p backend.LinearParams) (backend.Linear, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	for _, v := range []int64{int64(p.N) * int64(p.In), int64(p.Out) * int64(p.In), int64(p.N) * int64(p.Out)} {
		if v > maxElems {
			return nil, fmt.Errorf("cuda linear: %+v is too large", p)
		}
	}
	done, err := b.enter("linear")
	if err != nil {
		return nil, err
	}
	defer done()
	l := &linear{b: b, p: p}
	if l.biasD, err = b.tensorDesc(1, p.Out, 1, 1); err != nil {
		return nil, wrapOp("new linear", err)
	}
	if l.outD, err = b.tensorDesc(p.N, p.Out, 1, 1); err != nil {
		return nil, wrapOp("new linear", err)
	}
	return l, nil
}

func (l *linear) Forward(x, w, bias, y backend.Buffer) error {
	p := l.p
	a := l.b.args("linear forward")
	xp := a.get(x, p.N*p.In, "x")
	wp := a.get(w, p.Out*p.In, "w")
	bp := a.get(bias, p.Out, "b")
	yp := a.get(y, p.N*p.Out, "y")
	if a.err != nil {
		return a.err
	}
	done, err := l.b.enter(a.op)
	if err != nil {
		return err
	}
	defer done()
	// y^T [Out, N] = w [Out, In] . x^T [In, N]
	if l.b.f16 != 0 {
		if err := l.gemm16(true, false, p.Out, p.N, p.In, wp, 1, p.Out*p.In, p.In, xp, 0, p.N*p.In, p.In, 0, yp, p.Out); err != nil {
			return wrapOp(a.op, err)
		}
	} else if err := csrc.CublasSgemm(l.b.blas, true, false, p.Out, p.N, p.In, 1, wp, p.In, xp, p.In, 0, yp, p.Out); err != nil {
		return wrapOp(a.op, err)
	}
	return wrapOp(a.op, csrc.CudnnAddTensor(l.b.dnn, 1, l.biasD, bp, 1, l.outD, yp))
}

func (l *linear) BackwardData(w, dy, dx backend.Buffer) error {
	p := l.p
	a := l.b.args("linear backward data")
	wp := a.get(w, p.Out*p.In, "w")
	dyp := a.get(dy, p.N*p.Out, "dy")
	dxp := a.get(dx, p.N*p.In, "dx")
	if a.err != nil {
		return a.err
	}
	done, err := l.b.enter(a.op)
	if err != nil {
		return err
	}
	defer done()
	// dx^T [In, N] = w^T [In, Out] . dy^T [Out, N]
	if l.b.f16 != 0 {
		return wrapOp(a.op, l.gemm16(false, false, p.In, p.N, p.Out, wp, 1, p.Out*p.In, p.In, dyp, 2, p.N*p.Out, p.Out, 0, dxp, p.In))
	}
	return wrapOp(a.op, csrc.CublasSgemm(l.b.blas, false, false, p.In, p.N, p.Out, 1, wp, p.In, dyp, p.Out, 0, dxp, p.In))
}

func (l *linear) BackwardFilter(x, dy, dw, db backend.Buffer) error {
	p := l.p
	a := l.b.args("linear backward filter")
	xp := a.get(x, p.N*p.In, "x")
	dyp := a.get(dy, p.N*p.Out, "dy")
	dwp := a.get(dw, p.Out*p.In, "dw")
	dbp := a.get(db, p.Out, "db")
	if a.err != nil {
		return a.err
	}
	done, err := l.b.enter(a.op)
	if err != nil {
		return err
	}
	defer done()
	// dw^T [In, Out] += x^T [In, N] . dy [N, Out]
	if l.b.f16 != 0 {
		if err := l.gemm16(false, true, p.In, p.Out, p.N, xp, 0, p.N*p.In, p.In, dyp, 2, p.N*p.Out, p.Out, 1, dwp, p.In); err != nil {
			return wrapOp(a.op, err)
		}
	} else if err := csrc.CublasSgemm(l.b.blas, false, true, p.In, p.Out, p.N, 1, xp, p.In, dyp, p.Out, 1, dwp, p.In); err != nil {
		return wrapOp(a.op, err)
	}
	// db [1, Out, 1, 1] += sum over n of dy [N, Out, 1, 1]
	return wrapOp(a.op, csrc.CudnnConvolutionBackwardBias(l.b.dnn, 1, l.outD, dyp, 1, l.biasD, dbp))
}

// gemm16 is C = op(A) op(B) + beta*C in cuBLAS's terms with A and B (float32, na and
// nb values) cast first to the backend's 16-bit format in scratch slots sa and sb
// (Backend.s16), and C float32.
func (l *linear) gemm16(transA, transB bool, m, n, k int, a csrc.DevPtr, sa, na, lda int, b csrc.DevPtr, sb, nb, ldb int,
	beta float32, c csrc.DevPtr, ldc int) error {
	be := l.b
	a16, err := be.scratch(sa, na)
	if err != nil {
		return err
	}
	b16, err := be.scratch(sb, nb)
	if err != nil {
		return err
	}
	if err := be.to16Pair(a, a16, na, b, b16, nb); err != nil {
		return err
	}
	return csrc.CublasGemmEx16(be.blas, transA, transB, m, n, k, 1, a16, lda, b16, ldb, cudaType(be.f16), beta, c, ldc)
}
