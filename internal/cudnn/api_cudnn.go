package cudnn

/*
#include "axwrap.h"
*/
import "C"

// cuDNN calls, one Go function per C call. Tensors are NCHW, float32 unless a
// function takes a data type (the *Type setters, for bf16/fp16 convolutions).

func cudnnGetVersion() int { return int(C.axw_cudnnGetVersion()) }

func cudnnCreate() (C.cudnnHandle_t, error) {
	var h C.cudnnHandle_t
	return h, cudnnErr("cudnnCreate", C.axw_cudnnCreate(&h))
}

func cudnnDestroy(h C.cudnnHandle_t) error { return cudnnErr("cudnnDestroy", C.axw_cudnnDestroy(h)) }

func cudnnSetStream(h C.cudnnHandle_t, s C.cudaStream_t) error {
	return cudnnErr("cudnnSetStream", C.axw_cudnnSetStream(h, s))
}

func cudnnCreateTensorDescriptor() (C.cudnnTensorDescriptor_t, error) {
	var d C.cudnnTensorDescriptor_t
	return d, cudnnErr("cudnnCreateTensorDescriptor", C.axw_cudnnCreateTensorDescriptor(&d))
}

func cudnnSetTensor4dDescriptor(d C.cudnnTensorDescriptor_t, n, c, h, w int) error {
	return cudnnErr("cudnnSetTensor4dDescriptor", C.axw_cudnnSetTensor4dDescriptor(d, C.int(n), C.int(c), C.int(h), C.int(w)))
}

// cudnnSetTensor4dDescriptorType is cudnnSetTensor4dDescriptor with element type dtype
// (AX_CUDNN_DATA_*).
func cudnnSetTensor4dDescriptorType(d C.cudnnTensorDescriptor_t, dtype, n, c, h, w int) error {
	return cudnnErr("cudnnSetTensor4dDescriptor", C.axw_cudnnSetTensor4dDescriptorType(d, C.int(dtype), C.int(n), C.int(c), C.int(h), C.int(w)))
}

func cudnnDestroyTensorDescriptor(d C.cudnnTensorDescriptor_t) error {
	return cudnnErr("cudnnDestroyTensorDescriptor", C.axw_cudnnDestroyTensorDescriptor(d))
}

func cudnnCreateFilterDescriptor() (C.cudnnFilterDescriptor_t, error) {
	var d C.cudnnFilterDescriptor_t
	return d, cudnnErr("cudnnCreateFilterDescriptor", C.axw_cudnnCreateFilterDescriptor(&d))
}

func cudnnSetFilter4dDescriptor(d C.cudnnFilterDescriptor_t, k, c, h, w int) error {
	return cudnnErr("cudnnSetFilter4dDescriptor", C.axw_cudnnSetFilter4dDescriptor(d, C.int(k), C.int(c), C.int(h), C.int(w)))
}

func cudnnSetFilter4dDescriptorType(d C.cudnnFilterDescriptor_t, dtype, k, c, h, w int) error {
	return cudnnErr("cudnnSetFilter4dDescriptor", C.axw_cudnnSetFilter4dDescriptorType(d, C.int(dtype), C.int(k), C.int(c), C.int(h), C.int(w)))
}

func cudnnDestroyFilterDescriptor(d C.cudnnFilterDescriptor_t) error {
	return cudnnErr("cudnnDestroyFilterDescriptor", C.axw_cudnnDestroyFilterDescriptor(d))
}

// cudnnAddTensor is C = alpha*A + beta*C, A broadcast over C's dimensions of size 1.
func cudnnAddTensor(h C.cudnnHandle_t, alpha float32, aDesc C.cudnnTensorDescriptor_t, a devPtr,
	beta float32, cDesc C.cudnnTensorDescriptor_t, c devPtr) error {
	return cudnnErr("cudnnAddTensor", C.axw_cudnnAddTensor(h, C.float(alpha), aDesc, a.c(), C.float(beta), cDesc, c.c()))
}

func cudnnCreateActivationDescriptor() (C.cudnnActivationDescriptor_t, error) {
	var d C.cudnnActivationDescriptor_t
	return d, cudnnErr("cudnnCreateActivationDescriptor", C.axw_cudnnCreateActivationDescriptor(&d))
}

func cudnnSetActivationDescriptorReLU(d C.cudnnActivationDescriptor_t) error {
	return cudnnErr("cudnnSetActivationDescriptor", C.axw_cudnnSetActivationDescriptorReLU(d))
}

func cudnnDestroyActivationDescriptor(d C.cudnnActivationDescriptor_t) error {
	return cudnnErr("cudnnDestroyActivationDescriptor", C.axw_cudnnDestroyActivationDescriptor(d))
}

func cudnnActivationForward(h C.cudnnHandle_t, a C.cudnnActivationDescriptor_t, alpha float32,
	xDesc C.cudnnTensorDescriptor_t, x devPtr, beta float32, yDesc C.cudnnTensorDescriptor_t, y devPtr) error {
	return cudnnErr("cudnnActivationForward", C.axw_cudnnActivationForward(h, a, C.float(alpha), xDesc, x.c(), C.float(beta), yDesc, y.c()))
}

func cudnnActivationBackward(h C.cudnnHandle_t, a C.cudnnActivationDescriptor_t, alpha float32,
	yDesc C.cudnnTensorDescriptor_t, y devPtr, dyDesc C.cudnnTensorDescriptor_t, dy devPtr,
	xDesc C.cudnnTensorDescriptor_t, x devPtr, beta float32, dxDesc C.cudnnTensorDescriptor_t, dx devPtr) error {
	return cudnnErr("cudnnActivationBackward", C.axw_cudnnActivationBackward(h, a, C.float(alpha), yDesc, y.c(),
		dyDesc, dy.c(), xDesc, x.c(), C.float(beta), dxDesc, dx.c()))
}

func cudnnCreateLRNDescriptor() (C.cudnnLRNDescriptor_t, error) {
	var d C.cudnnLRNDescriptor_t
	return d, cudnnErr("cudnnCreateLRNDescriptor", C.axw_cudnnCreateLRNDescriptor(&d))
}

func cudnnSetLRNDescriptor(d C.cudnnLRNDescriptor_t, n int, alpha, beta, k float64) error {
	return cudnnErr("cudnnSetLRNDescriptor", C.axw_cudnnSetLRNDescriptor(d, C.unsigned(n), C.double(alpha), C.double(beta), C.double(k)))
}

func cudnnDestroyLRNDescriptor(d C.cudnnLRNDescriptor_t) error {
	return cudnnErr("cudnnDestroyLRNDescriptor", C.axw_cudnnDestroyLRNDescriptor(d))
}

func cudnnLRNCrossChannelForward(h C.cudnnHandle_t, d C.cudnnLRNDescriptor_t, alpha float32,
	xDesc C.cudnnTensorDescriptor_t, x devPtr, beta float32, yDesc C.cudnnTensorDescriptor_t, y devPtr) error {
	return cudnnErr("cudnnLRNCrossChannelForward", C.axw_cudnnLRNCrossChannelForward(h, d, C.float(alpha), xDesc, x.c(),
		C.float(beta), yDesc, y.c()))
}

func cudnnLRNCrossChannelBackward(h C.cudnnHandle_t, d C.cudnnLRNDescriptor_t, alpha float32,
	yDesc C.cudnnTensorDescriptor_t, y devPtr, dyDesc C.cudnnTensorDescriptor_t, dy devPtr,
	xDesc C.cudnnTensorDescriptor_t, x devPtr, beta float32, dxDesc C.cudnnTensorDescriptor_t, dx devPtr) error {
	return cudnnErr("cudnnLRNCrossChannelBackward", C.axw_cudnnLRNCrossChannelBackward(h, d, C.float(alpha), yDesc, y.c(),
		dyDesc, dy.c(), xDesc, x.c(), C.float(beta), dxDesc, dx.c()))
}

func cudnnCreatePoolingDescriptor() (C.cudnnPoolingDescriptor_t, error) {
	var d C.cudnnPoolingDescriptor_t
	return d, cudnnErr("cudnnCreatePoolingDescriptor", C.axw_cudnnCreatePoolingDescriptor(&d))
}

func cudnnSetPooling2dDescriptor(d C.cudnnPoolingDescriptor_t, mode C.int, wh, ww, ph, pw, sh, sw int) error {
	return cudnnErr("cudnnSetPooling2dDescriptor", C.axw_cudnnSetPooling2dDescriptor(d, mode, C.int(wh), C.int(ww),
		C.int(ph), C.int(pw), C.int(sh), C.int(sw)))
}

func cudnnGetPooling2dForwardOutputDim(d C.cudnnPoolingDescriptor_t, in C.cudnnTensorDescriptor_t) (n, c, h, w int, err error) {
	var a, b, e, f C.int
	err = cudnnErr("cudnnGetPooling2dForwardOutputDim", C.axw_cudnnGetPooling2dForwardOutputDim(d, in, &a, &b, &e, &f))
	return int(a), int(b), int(e), int(f), err
}

func cudnnDestroyPoolingDescriptor(d C.cudnnPoolingDescriptor_t) error {
	return cudnnErr("cudnnDestroyPoolingDescriptor", C.axw_cudnnDestroyPoolingDescriptor(d))
}

func cudnnPoolingForward(h C.cudnnHandle_t, d C.cudnnPoolingDescriptor_t, alpha float32,
	xDesc C.cudnnTensorDescriptor_t, x devPtr, beta float32, yDesc C.cudnnTensorDescriptor_t, y devPtr) error {
	return cudnnErr("cudnnPoolingForward", C.axw_cudnnPoolingForward(h, d, C.float(alpha), xDesc, x.c(), C.float(beta), yDesc, y.c()))
}

func cudnnPoolingBackward(h C.cudnnHandle_t, d C.cudnnPoolingDescriptor_t, alpha float32,
	yDesc C.cudnnTensorDescriptor_t, y devPtr, dyDesc C.cudnnTensorDescriptor_t, dy devPtr,
	xDesc C.cudnnTensorDescriptor_t, x devPtr, beta float32, dxDesc C.cudnnTensorDescriptor_t, dx devPtr) error {
	return cudnnErr("cudnnPoolingBackward", C.axw_cudnnPoolingBackward(h, d, C.float(alpha), yDesc, y.c(), dyDesc, dy.c(),
		xDesc, x.c(), C.float(beta), dxDesc, dx.c()))
}

func cudnnCreateConvolutionDescriptor() (C.cudnnConvolutionDescriptor_t, error) {
	var d C.cudnnConvolutionDescriptor_t
	return d, cudnnErr("cudnnCreateConvolutionDescriptor", C.axw_cudnnCreateConvolutionDescriptor(&d))
}

func cudnnDestroyConvolutionDescriptor(d C.cudnnConvolutionDescriptor_t) error {
	return cudnnErr("cudnnDestroyConvolutionDescriptor", C.axw_cudnnDestroyConvolutionDescriptor(d))
}

func cudnnSetConvolution2dDescriptor(d C.cudnnConvolutionDescriptor_t, padH, padW, strideH, strideW int) error {
	return cudnnErr("cudnnSetConvolution2dDescriptor", C.axw_cudnnSetConvolution2dDescriptor(d, C.int(padH), C.int(padW),
		C.int(strideH), C.int(strideW)))
}

func cudnnSetConvolutionGroupCount(d C.cudnnConvolutionDescriptor_t, groups int) error {
	return cudnnErr("cudnnSetConvolutionGroupCount", C.axw_cudnnSetConvolutionGroupCount(d, C.int(groups)))
}

func cudnnSetConvolutionMathType(d C.cudnnConvolutionDescriptor_t, mathType int) error {
	return cudnnErr("cudnnSetConvolutionMathType", C.axw_cudnnSetConvolutionMathType(d, C.int(mathType)))
}

func cudnnGetConvolution2dForwardOutputDim(d C.cudnnConvolutionDescriptor_t, in C.cudnnTensorDescriptor_t,
	f C.cudnnFilterDescriptor_t) (n, c, h, w int, err error) {
	var a, b, e, g C.int
	err = cudnnErr("cudnnGetConvolution2dForwardOutputDim", C.axw_cudnnGetConvolution2dForwardOutputDim(d, in, f, &a, &b, &e, &g))
	return int(a), int(b), int(e), int(g), err
}

// algoPerf is one row of cudnnConvolution*AlgoPerf_t.
type algoPerf struct {
	Algo     int
	Status   int
	TimeMs   float32
	Memory   int64
	MathType int
}

func perfRows(perf []C.axConvAlgoPerf, n C.int) []algoPerf {
	out := make([]algoPerf, 0, int(n))
	for _, p := range perf[:min(int(n), len(perf))] {
		out = append(out, algoPerf{Algo: int(p.algo), Status: int(p.status), TimeMs: float32(p.time), Memory: int64(p.memory), MathType: int(p.mathType)})
	}
	return out
}

func cudnnGetConvolutionForwardAlgorithm_v7(h C.cudnnHandle_t, x C.cudnnTensorDescriptor_t, w C.cudnnFilterDescriptor_t,
	c C.cudnnConvolutionDescriptor_t, y C.cudnnTensorDescriptor_t) ([]algoPerf, error) {
	var perf [C.AX_CONV_ALGO_MAX]C.axConvAlgoPerf
	var n C.int
	err := cudnnErr("cudnnGetConvolutionForwardAlgorithm_v7", C.axw_cudnnGetConvolutionForwardAlgorithm_v7(h, x, w, c, y,
		C.int(len(perf)), &n, &perf[0]))
	return perfRows(perf[:], n), err
}

func cudnnFindConvolutionForwardAlgorithmEx(h C.cudnnHandle_t, xd C.cudnnTensorDescriptor_t, x devPtr,
	wd C.cudnnFilterDescriptor_t, w devPtr, c C.cudnnConvolutionDescriptor_t, yd C.cudnnTensorDescriptor_t, y devPtr,
	ws devPtr, wsSize int64) ([]algoPerf, error) {
	var perf [C.AX_CONV_ALGO_MAX]C.axConvAlgoPerf
	var n C.int
	err := cudnnErr("cudnnFindConvolutionForwardAlgorithmEx", C.axw_cudnnFindConvolutionForwardAlgorithmEx(h, xd, x.c(), wd, w.c(),
		c, yd, y.c(), C.int(len(perf)), &n, &perf[0], ws.c(), C.size_t(wsSize)))
	return perfRows(perf[:], n), err
}

func cudnnGetConvolutionForwardWorkspaceSize(h C.cudnnHandle_t, x C.cudnnTensorDescriptor_t, w C.cudnnFilterDescriptor_t,
	c C.cudnnConvolutionDescriptor_t, y C.cudnnTensorDescriptor_t, algo int) (int64, error) {
	var s C.size_t
	err := cudnnErr("cudnnGetConvolutionForwardWorkspaceSize", C.axw_cudnnGetConvolutionForwardWorkspaceSize(h, x, w, c, y, C.int(algo), &s))
	return int64(s), err
}

func cudnnConvolutionForward(h C.cudnnHandle_t, alpha float32, xd C.cudnnTensorDescriptor_t, x devPtr,
	wd C.cudnnFilterDescriptor_t, w devPtr, c C.cudnnConvolutionDescriptor_t, algo int, ws devPtr, wsSize int64,
	beta float32, yd C.cudnnTensorDescriptor_t, y devPtr) error {
	return cudnnErr("cudnnConvolutionForward", C.axw_cudnnConvolutionForward(h, C.float(alpha), xd, x.c(), wd, w.c(), c,
		C.int(algo), ws.c(), C.size_t(wsSize), C.float(beta), yd, y.c()))
}

func cudnnGetConvolutionBackwardDataAlgorithm_v7(h C.cudnnHandle_t, w C.cudnnFilterDescriptor_t, dy C.cudnnTensorDescriptor_t,
	c C.cudnnConvolutionDescriptor_t, dx C.cudnnTensorDescriptor_t) ([]algoPerf, error) {
	var perf [C.AX_CONV_ALGO_MAX]C.axConvAlgoPerf
	var n C.int
	err := cudnnErr("cudnnGetConvolutionBackwardDataAlgorithm_v7", C.axw_cudnnGetConvolutionBackwardDataAlgorithm_v7(h, w, dy, c, dx,
		C.int(len(perf)), &n, &perf[0]))
	return perfRows(perf[:], n), err
}

func cudnnFindConvolutionBackwardDataAlgorithmEx(h C.cudnnHandle_t, wd C.cudnnFilterDescriptor_t, w devPtr,
	dyd C.cudnnTensorDescriptor_t, dy devPtr, c C.cudnnConvolutionDescriptor_t, dxd C.cudnnTensorDescriptor_t, dx devPtr,
	ws devPtr, wsSize int64) ([]algoPerf, error) {
	var perf [C.AX_CONV_ALGO_MAX]C.axConvAlgoPerf
	var n C.int
	err := cudnnErr("cudnnFindConvolutionBackwardDataAlgorithmEx", C.axw_cudnnFindConvolutionBackwardDataAlgorithmEx(h, wd, w.c(),
		dyd, dy.c(), c, dxd, dx.c(), C.int(len(perf)), &n, &perf[0], ws.c(), C.size_t(wsSize)))
	return perfRows(perf[:], n), err
}

func cudnnGetConvolutionBackwardDataWorkspaceSize(h C.cudnnHandle_t, w C.cudnnFilterDescriptor_t, dy C.cudnnTensorDescriptor_t,
	c C.cudnnConvolutionDescriptor_t, dx C.cudnnTensorDescriptor_t, algo int) (int64, error) {
	var s C.size_t
	err := cudnnErr("cudnnGetConvolutionBackwardDataWorkspaceSize", C.axw_cudnnGetConvolutionBackwardDataWorkspaceSize(h, w, dy, c, dx,
		C.int(algo), &s))
	return int64(s), err
}

func cudnnConvolutionBackwardData(h C.cudnnHandle_t, alpha float32, wd C.cudnnFilterDescriptor_t, w devPtr,
	dyd C.cudnnTensorDescriptor_t, dy devPtr, c C.cudnnConvolutionDescriptor_t, algo int, ws devPtr, wsSize int64,
	beta float32, dxd C.cudnnTensorDescriptor_t, dx devPtr) error {
	return cudnnErr("cudnnConvolutionBackwardData", C.axw_cudnnConvolutionBackwardData(h, C.float(alpha), wd, w.c(), dyd, dy.c(),
		c, C.int(algo), ws.c(), C.size_t(wsSize), C.float(beta), dxd, dx.c()))
}

func cudnnGetConvolutionBackwardFilterAlgorithm_v7(h C.cudnnHandle_t, x C.cudnnTensorDescriptor_t, dy C.cudnnTensorDescriptor_t,
	c C.cudnnConvolutionDescriptor_t, dw C.cudnnFilterDescriptor_t) ([]algoPerf, error) {
	var perf [C.AX_CONV_ALGO_MAX]C.axConvAlgoPerf
	var n C.int
	err := cudnnErr("cudnnGetConvolutionBackwardFilterAlgorithm_v7", C.axw_cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, x, dy, c, dw,
		C.int(len(perf)), &n, &perf[0]))
	return perfRows(perf[:], n), err
}

func cudnnFindConvolutionBackwardFilterAlgorithmEx(h C.cudnnHandle_t, xd C.cudnnTensorDescriptor_t, x devPtr,
	dyd C.cudnnTensorDescriptor_t, dy devPtr, c C.cudnnConvolutionDescriptor_t, dwd C.cudnnFilterDescriptor_t, dw devPtr,
	ws devPtr, wsSize int64) ([]algoPerf, error) {
	var perf [C.AX_CONV_ALGO_MAX]C.axConvAlgoPerf
	var n C.int
	err := cudnnErr("cudnnFindConvolutionBackwardFilterAlgorithmEx", C.axw_cudnnFindConvolutionBackwardFilterAlgorithmEx(h, xd, x.c(),
		dyd, dy.c(), c, dwd, dw.c(), C.int(len(perf)), &n, &perf[0], ws.c(), C.size_t(wsSize)))
	return perfRows(perf[:], n), err
}

func cudnnGetConvolutionBackwardFilterWorkspaceSize(h C.cudnnHandle_t, x C.cudnnTensorDescriptor_t, dy C.cudnnTensorDescriptor_t,
	c C.cudnnConvolutionDescriptor_t, dw C.cudnnFilterDescriptor_t, algo int) (int64, error) {
	var s C.size_t
	err := cudnnErr("cudnnGetConvolutionBackwardFilterWorkspaceSize", C.axw_cudnnGetConvolutionBackwardFilterWorkspaceSize(h, x, dy, c, dw,
		C.int(algo), &s))
	return int64(s), err
}

func cudnnConvolutionBackwardFilter(h C.cudnnHandle_t, alpha float32, xd C.cudnnTensorDescriptor_t, x devPtr,
	dyd C.cudnnTensorDescriptor_t, dy devPtr, c C.cudnnConvolutionDescriptor_t, algo int, ws devPtr, wsSize int64,
	beta float32, dwd C.cudnnFilterDescriptor_t, dw devPtr) error {
	return cudnnErr("cudnnConvolutionBackwardFilter", C.axw_cudnnConvolutionBackwardFilter(h, C.float(alpha), xd, x.c(), dyd, dy.c(),
		c, C.int(algo), ws.c(), C.size_t(wsSize), C.float(beta), dwd, dw.c()))
}

// cudnnConvolutionBackwardBias is db = alpha*sum_{n,h,w} dy + beta*db.
func cudnnConvolutionBackwardBias(h C.cudnnHandle_t, alpha float32, dyd C.cudnnTensorDescriptor_t, dy devPtr,
	beta float32, dbd C.cudnnTensorDescriptor_t, db devPtr) error {
	return cudnnErr("cudnnConvolutionBackwardBias", C.axw_cudnnConvolutionBackwardBias(h, C.float(alpha), dyd, dy.c(), C.float(beta), dbd, db.c()))
}
