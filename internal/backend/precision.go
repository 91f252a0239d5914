package backend

import (
	"fmt"
	"strings"

	"alexnet/internal/lowp"
)

// Precision is the arithmetic of convolutions and linear layers, the layers that
// hold nearly all of AlexNet's work. Everything else (ReLU, LRN, pooling, dropout,
// the loss, SGD with its float32 master weights and momentum) stays float32.
//
//   - FP32: float32 inputs and products (on GPUs, FMA math: no tensor cores).
//   - TF32: GPUs may round the products' inputs to TF32 (10-bit mantissa) on tensor
//     cores; CPU backends compute in float32, as FP32.
//   - BF16, FP16: the layer's inputs (x and w forward; w and dy for dx; x and dy for
//     dw) are rounded to the format, products accumulate in float32 or wider, and a
//     convolution's outputs (y, dx, and its contribution to dw) are rounded to the
//     format once more, as a GPU storing the tensors in 16 bits does; a linear
//     layer's outputs stay float32 (cuBLAS writes float32 results from 16-bit
//     inputs). Under FP16, values from 65520 up become infinite: training scales the
//     loss to keep gradients in range and skips the steps that overflow.
//
// GPU backends do this natively on tensor cores (NativePrecision); the CPU backends
// are wrapped by Emulate, which rounds at the same points: the same numerics, no
// speed-up, so reduced-precision training can be checked on any machine.
type Precision int

const (
	FP32 Precision = iota
	TF32
	BF16
	FP16
)

// Precisions lists every precision by name, in order.
var Precisions = []string{"fp32", "tf32", "bf16", "fp16"}

func (p Precision) String() string {
	if p >= 0 && int(p) < len(Precisions) {
		return Precisions[p]
	}
	return fmt.Sprintf("Precision(%d)", int(p))
}

// Format is the 16-bit format of BF16 and FP16, and 0 for the others.
func (p Precision) Format() lowp.Format {
	switch p {
	case BF16:
		return lowp.BF16
	case FP16:
		return lowp.FP16
	}
	return 0
}

// ParsePrecision reads fp32, tf32, bf16 or fp16 ("" is fp32).
func ParsePrecision(s string) (Precision, error) {
	switch strings.ToLower(s) {
	case "", "fp32", "float32":
		return FP32, nil
	case "tf32":
		return TF32, nil
	case "bf16", "bfloat16":
		return BF16, nil
	case "fp16", "float16", "half":
		return FP16, nil
	}
	return 0, fmt.Errorf("precision %q: want %s", s, strings.Join(Precisions, ", "))
}
