package onednn

/*
#include "helpers.h"
*/
import "C"

import (
	"os"

	"alexnet/internal/backend"
)

// Native bf16.
//
// Where the CPU has bf16 dot-product instructions (AVX512_BF16, oneDNN's
// avx512_core_bf16 and up), --precision bf16 runs convolutions and matmuls on
// oneDNN's bf16 kernels: about twice the float32 rate on the paper's convolutions.
// The rounding points are backend.Emulate's (see backend.Precision), so the numbers
// are those of the emulation up to summation order:
//
//	conv forward         x, w -> bf16; y = round(conv + b)     (dst bf16, kept as float32)
//	conv backward data   w, dy -> bf16; dx = round(conv^T)
//	conv backward filter x, dy -> bf16; dw += round(corr) (diff weights bf16), db += sum(round(dy))
//	linear               inputs -> bf16, outputs float32 (matmul's dst), db += sum(round(dy))
//
// Conversions to bf16 are oneDNN reorders, round to nearest even as lowp.BF16. Everything
// else (ReLU, LRN, pooling, dropout, loss, SGD, the master weights) stays float32,
// and a bf16 result is converted back into the caller's float32 buffer in the same
// blocked layout, so the chain of layout.go is kept.
//
// Elsewhere (AVX2, or ALEXNET_CPU_BF16=emulate) backend.Open wraps the backend in
// backend.Emulate: the same rounding in float32 arithmetic, no speed-up.

// hasBF16 reports whether oneDNN's bf16 kernels run natively on this CPU (as limited
// by DNNL_MAX_CPU_ISA).
func hasBF16() bool { return isaHas(C.dnnl_cpu_isa_avx512_core_bf16) }

// isaHas reports whether the effective ISA includes want. oneDNN's ISA values are
// sets of bits, not an order: avx2_vnni (0x407) is numerically above
// avx512_core_bf16 (0xe7) but has no AVX-512 at all.
func isaHas(want C.dnnl_cpu_isa_t) bool {
	return C.dnnl_get_effective_cpu_isa()&want == want
}

// nativeBF16 is whether a backend opened for bf16 computes it natively.
func nativeBF16() bool {
	return hasBF16() && os.Getenv("ALEXNET_CPU_BF16") != "emulate"
}

// NativePrecision reports that bf16 is computed here when the backend was opened
// with it on a CPU with bf16 instructions; fp16 is always emulated on CPUs.
func (b *Backend) NativePrecision(p backend.Precision) bool {
	return p == backend.BF16 && b.bf16
}

// computeType is the element type convolutions and matmuls compute in.
func (b *Backend) computeType() C.dnnl_data_type_t {
	if b.bf16 {
		return C.dnnl_bf16
	}
	return C.dnnl_f32
}

// ISA names the instruction set oneDNN's kernels use on this CPU (after
// DNNL_MAX_CPU_ISA), for benchmarks and logs.
func ISA() string {
	for _, i := range []struct {
		isa  C.dnnl_cpu_isa_t
		name string
	}{
		{C.dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"},
		{C.dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"},
		{C.dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"},
		{C.dnnl_cpu_isa_avx512_core, "avx512_core"},
		{C.dnnl_cpu_isa_avx2_vnni, "avx2_vnni"},
		{C.dnnl_cpu_isa_avx2, "avx2"},
		{C.dnnl_cpu_isa_avx, "avx"},
	} {
		if isaHas(i.isa) {
			return i.name
		}
	}
	return "sse41"
}
