package cudnn

/*
#include "axwrap.h"
*/
import "C"

// Launchers of the NVRTC kernels (kernels.go), one Go function per C launcher. Each
// kernel loops over its range with a grid stride, so any grid size is correct.

func launchSGD(f C.CUfunction, s C.cudaStream_t, grid, block int, w, g, v devPtr, lr, momentum, decay float32, n int) error {
	return cuErr("cuLaunchKernel(sgd)", C.axk_sgd(f, s, C.unsigned(grid), C.unsigned(block), w.c(), g.c(), v.c(),
		C.float(lr), C.float(momentum), C.float(decay), C.longlong(n)))
}

func launchDropoutForward(f C.CUfunction, s C.cudaStream_t, grid, block int, x, y, mask devPtr, seed uint64, p, scale float32, n int) error {
	return cuErr("cuLaunchKernel(dropout_forward)", C.axk_dropout_forward(f, s, C.unsigned(grid), C.unsigned(block), x.c(), y.c(), mask.c(),
		C.ulonglong(seed), C.float(p), C.float(scale), C.longlong(n)))
}

func launchMul(f C.CUfunction, s C.cudaStream_t, grid, block int, a, b, out devPtr, n int) error {
	return cuErr("cuLaunchKernel(mul)", C.axk_mul(f, s, C.unsigned(grid), C.unsigned(block), a.c(), b.c(), out.c(), C.longlong(n)))
}

func launchSoftmaxXent(f C.CUfunction, s C.cudaStream_t, grid, block int, logits, labels, dlogits, losses devPtr, n, c int, wantGrad bool) error {
	g := C.int(0)
	if wantGrad {
		g = 1
	}
	return cuErr("cuLaunchKernel(softmax_xent)", C.axk_softmax_xent(f, s, C.unsigned(grid), C.unsigned(block), logits.c(), labels.c(),
		dlogits.c(), losses.c(), C.int(n), C.int(c), g))
}

func launchAdaptiveAvg(name string, f C.CUfunction, s C.cudaStream_t, grid, block int, in, out devPtr, planes, h, w, oh, ow int) error {
	return cuErr("cuLaunchKernel("+name+")", C.axk_adaptive_avg(f, s, C.unsigned(grid), C.unsigned(block), in.c(), out.c(),
		C.longlong(planes), C.int(h), C.int(w), C.int(oh), C.int(ow)))
}
