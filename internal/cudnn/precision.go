package cudnn

import (
	"fmt"

	"alexnet/csrc"
	"alexnet/internal/backend"
	"alexnet/internal/lowp"
)

// BF16 and FP16 precision (backend.Precision), natively: a convolution or linear
// layer casts its float32 inputs into 16-bit scratch with the to16 kernel (rounding
// exactly as internal/lowp does), runs cuDNN on bf16/fp16 tensor and filter
// descriptors (float32 compute type, tensor-core math) or cublasGemmEx on bf16/fp16
// A and B (float32 C, CUBLAS_COMPUTE_32F), and brings the results back to float32:
//
//	conv forward:         y  = round16(float(y16) + b)      (from16_bias)
//	conv backward data:   dx = float(dx16)                  (from16)
//	conv backward filter: dw += float(dw16)                 (add16; dw16 written with beta 0)
//	                      db += sum of the float32 dy       (cuDNN, as under fp32)
//	linear:               float32 outputs straight from cuBLAS; dw accumulates with
//	                      beta = 1; the bias as under fp32
//
// These are backend.Emulate's rounding points (internal/backend/emulate.go) but two:
// the forward convolution is rounded to 16 bits by cuDNN before the bias is added and
// then rounded again with it (Emulate rounds conv + b once), and the bias gradients
// sum the float32 dy (Emulate sums the rounded dy). Both move results by at most
// about one step of the format, which the conformance tolerance allows, with one
// exception under fp16: a convolution of 65520 or more becomes infinity before a
// negative bias could bring it back into range, where Emulate stays finite (it
// needs |b| of 16 or more at the edge of the range; the loss scaler then skips
// the step).

// fmtCode is the kernels' fmt argument for f: 1 bf16, 2 fp16.
func fmtCode(f lowp.Format) int32 {
	if f == lowp.FP16 {
		return 2
	}
	return 1
}

// cudnnType is f's cudnnDataType_t.
func cudnnType(f lowp.Format) int {
	if f == lowp.FP16 {
		return csrc.CudnnDataHalf
	}
	return csrc.CudnnDataBfloat16
}

// cudaType is f's cudaDataType_t, for cublasGemmEx.
func cudaType(f lowp.Format) int {
	if f == lowp.FP16 {
		return csrc.CudaR16F
	}
	return csrc.CudaR16BF
}

// scratch16 is one slot of Backend.s16: device memory for 16-bit values.
type scratch16 struct {
	p     csrc.DevPtr
	bytes int64
}

// scratch returns slot i of the 16-bit scratch, grown to hold at least n values.
// Growing frees the old memory first (cudaFree waits for the work that may use it).
func (b *Backend) scratch(i, n int) (csrc.DevPtr, error) {
	s := &b.s16[i]
	bytes := 2 * int64(n)
	if bytes <= s.bytes {
		return s.p, nil
	}
	if err := b.mfree(s.p, s.bytes); err != nil {
		return 0, err
	}
	*s = scratch16{}
	p, err := b.malloc(bytes)
	if err != nil {
		return 0, fmt.Errorf("%v scratch of %d MiB: %w", b.f16, bytes>>20, err)
	}
	*s = scratch16{p: p, bytes: bytes}
	return p, nil
}

// scratch3 returns the three slots, sized for x (or dx), w (or dw) and y (or dy).
func (b *Backend) scratch3(nx, nw, ny int) (x16, w16, y16 csrc.DevPtr, err error) {
	if x16, err = b.scratch(0, nx); err != nil {
		return
	}
	if w16, err = b.scratch(1, nw); err != nil {
		return
	}
	y16, err = b.scratch(2, ny)
	return
}

// cast launches one of the elementwise casts to16, from16, add16, round16 over n values.
func (b *Backend) cast(kernel string, in, out csrc.DevPtr, n int) error {
	if n == 0 {
		return nil
	}
	return b.elementwise(kernel, n, in, out, fmtCode(b.f16), int64(n))
}

// to16Pair casts two float32 inputs into 16-bit scratch.
func (b *Backend) to16Pair(a csrc.DevPtr, a16 csrc.DevPtr, na int, c csrc.DevPtr, c16 csrc.DevPtr, nc int) error {
	if err := b.cast("to16", a, a16, na); err != nil {
		return err
	}
	return b.cast("to16", c, c16, nc)
}

// Round writes dst = f.Round(src) elementwise (src and dst may be one buffer), with
// the kernels' rounding, which is internal/lowp's: the backend.Rounder of this
// backend, and what the cast test compares with lowp bit for bit.
func (b *Backend) Round(dst, src backend.Buffer, f lowp.Format) error {
	if f != lowp.BF16 && f != lowp.FP16 {
		return fmt.Errorf("cuda round: unknown format %v", f)
	}
	a := b.args("round")
	sp, n := a.any(src, "src")
	dp := a.get(dst, n, "dst")
	if a.err != nil || n == 0 {
		return a.err
	}
	done, err := b.enter(a.op)
	if err != nil {
		return err
	}
	defer done()
	return wrapOp(a.op, b.elementwise("round16", n, sp, dp, fmtCode(f), int64(n)))
}
