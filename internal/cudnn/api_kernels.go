package cudnn

/*
#include "axwrap.h"
*/
import "C"

// Launchers of the NVRTC kernels (kernels.go), one Go function per C launcher. Each
// kernel loops over its range with a grid stride, so any grid size is correct.

// launchSGDMulti runs sgd_multi over the first tensors entries of batch (grid.y).
func launchSGDMulti(f C.CUfunction, s C.cudaStream_t, grid, tensors, block int, batch *C.axSGDBatch, momentum, gscale float32) error {
	return cuErr("cuLaunchKernel(sgd_multi)", C.axk_sgd_multi(f, s, C.unsigned(grid), C.unsigned(tensors), C.unsigned(block), batch,
		C.float(momentum), C.float(gscale)))
}

// launchCast runs one of to16, from16, add16, round16: (in, out, fmt, n).
func launchCast(name string, f C.CUfunction, s C.cudaStream_t, grid, block int, in, out devPtr, fmt16 int, n int) error {
	return cuErr("cuLaunchKernel("+name+")", C.axk_cast(f, s, C.unsigned(grid), C.unsigned(block), in.c(), out.c(), C.int(fmt16), C.longlong(n)))
}

func launchFrom16Bias(f C.CUfunction, s C.cudaStream_t, grid, block int, x, bias, y devPtr, fmt16, n, hw, c int) error {
	return cuErr("cuLaunchKernel(from16_bias)", C.axk_from16_bias(f, s, C.unsigned(grid), C.unsigned(block), x.c(), bias.c(), y.c(),
		C.int(fmt16), C.longlong(n), C.longlong(hw), C.int(c)))
}

func launchScale(f C.CUfunction, s C.cudaStream_t, grid, block int, x devPtr, sc float32, n int) error {
	return cuErr("cuLaunchKernel(scale)", C.axk_scale(f, s, C.unsigned(grid), C.unsigned(block), x.c(), C.float(sc), C.longlong(n)))
}

func launchAxpy(f C.CUfunction, s C.cudaStream_t, grid, block int, alpha float32, x, y devPtr, n int) error {
	return cuErr("cuLaunchKernel(axpy)", C.axk_axpy(f, s, C.unsigned(grid), C.unsigned(block), C.float(alpha), x.c(), y.c(), C.longlong(n)))
}

func launchNonfinite(f C.CUfunction, s C.cudaStream_t, grid, block int, x devPtr, n int, flag devPtr) error {
	return cuErr("cuLaunchKernel(nonfinite)", C.axk_nonfinite(f, s, C.unsigned(grid), C.unsigned(block), x.c(), C.longlong(n), flag.c()))
}

func launchDropoutForward(f C.CUfunction, s C.cudaStream_t, grid, block int, x, y, mask devPtr, seed uint64, p, scale float32, n int) error {
	return cuErr("cuLaunchKernel(dropout_forward)", C.axk_dropout_forward(f, s, C.unsigned(grid), C.unsigned(block), x.c(), y.c(), mask.c(),
		C.ulonglong(seed), C.float(p), C.float(scale), C.longlong(n)))
}

func launchMul(f C.CUfunction, s C.cudaStream_t, grid, block int, a, b, out devPtr, n int) error {
	return cuErr("cuLaunchKernel(mul)", C.axk_mul(f, s, C.unsigned(grid), C.unsigned(block), a.c(), b.c(), out.c(), C.longlong(n)))
}

func launchSoftmaxXent(f C.CUfunction, s C.cudaStream_t, grid, block int, logits, labels, dlogits, losses, higher devPtr, n, c int, wantGrad bool) error {
	g := C.int(0)
	if wantGrad {
		g = 1
	}
	return cuErr("cuLaunchKernel(softmax_xent)", C.axk_softmax_xent(f, s, C.unsigned(grid), C.unsigned(block), logits.c(), labels.c(),
		dlogits.c(), losses.c(), higher.c(), C.int(n), C.int(c), g))
}

func launchXentSums(f C.CUfunction, s C.cudaStream_t, block int, losses, higher devPtr, n int, sums devPtr) error {
	return cuErr("cuLaunchKernel(xent_sums)", C.axk_xent_sums(f, s, C.unsigned(block), losses.c(), higher.c(), C.int(n), sums.c()))
}

func launchAdaptiveAvg(name string, f C.CUfunction, s C.cudaStream_t, grid, block int, in, out devPtr, planes, h, w, oh, ow int) error {
	return cuErr("cuLaunchKernel("+name+")", C.axk_adaptive_avg(f, s, C.unsigned(grid), C.unsigned(block), in.c(), out.c(),
		C.longlong(planes), C.int(h), C.int(w), C.int(oh), C.int(ow)))
}
