package csrc

/*
#include "axwrap.h"
*/
import "C"

// cuDNN calls, one Go function per C call. Tensors are NCHW, float32 unless a
// function takes a data type (the *Type setters, for bf16/fp16 convolutions).

// Element types (cudnnDataType_t).
const (
	CudnnDataFloat    = C.AX_CUDNN_DATA_FLOAT
	CudnnDataHalf     = C.AX_CUDNN_DATA_HALF
	CudnnDataBfloat16 = C.AX_CUDNN_DATA_BFLOAT16
)

// Math types of a convolution (cudnnMathType_t), as CudnnSetConvolutionMathType
// takes them and AlgoPerf.MathType reports them.
const (
	CudnnDefaultMath                 = C.AX_CUDNN_DEFAULT_MATH
	CudnnTensorOpMath                = C.AX_CUDNN_TENSOR_OP_MATH
	CudnnTensorOpMathAllowConversion = C.AX_CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION
	CudnnFMAMath                     = C.AX_CUDNN_FMA_MATH
)

// Pooling modes (cudnnPoolingMode_t) of CudnnSetPooling2dDescriptor.
const (
	CudnnPoolingMaxDeterministic           = C.AX_CUDNN_POOLING_MAX_DETERMINISTIC
	CudnnPoolingAverageCountIncludePadding = C.AX_CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING
)

// cuDNN's limits on LRN parameters (CUDNN_LRN_MIN_N ...).
const (
	CudnnLRNMinN    = C.AX_CUDNN_LRN_MIN_N
	CudnnLRNMaxN    = C.AX_CUDNN_LRN_MAX_N
	CudnnLRNMinK    = C.AX_CUDNN_LRN_MIN_K
	CudnnLRNMinBeta = C.AX_CUDNN_LRN_MIN_BETA
)

func CudnnGetVersion() int { return int(C.axw_cudnnGetVersion()) }

func CudnnCreate() (CudnnHandle, error) {
	var h C.cudnnHandle_t
	err := cudnnErr("cudnnCreate", C.axw_cudnnCreate(&h))
	return CudnnHandle(h), err
}

func CudnnDestroy(h CudnnHandle) error {
	return cudnnErr("cudnnDestroy", C.axw_cudnnDestroy(C.cudnnHandle_t(h)))
}

func CudnnSetStream(h CudnnHandle, s Stream) error {
	return cudnnErr("cudnnSetStream", C.axw_cudnnSetStream(C.cudnnHandle_t(h), C.cudaStream_t(s)))
}

func CudnnCreateTensorDescriptor() (TensorDesc, error) {
	var d C.cudnnTensorDescriptor_t
	err := cudnnErr("cudnnCreateTensorDescriptor", C.axw_cudnnCreateTensorDescriptor(&d))
	return TensorDesc(d), err
}

func CudnnSetTensor4dDescriptor(d TensorDesc, n, c, h, w int) error {
	return cudnnErr("cudnnSetTensor4dDescriptor", C.axw_cudnnSetTensor4dDescriptor(C.cudnnTensorDescriptor_t(d), C.int(n), C.int(c), C.int(h), C.int(w)))
}

// CudnnSetTensor4dDescriptorType is cudnnSetTensor4dDescriptor with element type dtype
// (a CudnnData* constant).
func CudnnSetTensor4dDescriptorType(d TensorDesc, dtype, n, c, h, w int) error {
	return cudnnErr("cudnnSetTensor4dDescriptor", C.axw_cudnnSetTensor4dDescriptorType(C.cudnnTensorDescriptor_t(d), C.int(dtype), C.int(n), C.int(c), C.int(h), C.int(w)))
}

func CudnnDestroyTensorDescriptor(d TensorDesc) error {
	return cudnnErr("cudnnDestroyTensorDescriptor", C.axw_cudnnDestroyTensorDescriptor(C.cudnnTensorDescriptor_t(d)))
}

func CudnnCreateFilterDescriptor() (FilterDesc, error) {
	var d C.cudnnFilterDescriptor_t
	err := cudnnErr("cudnnCreateFilterDescriptor", C.axw_cudnnCreateFilterDescriptor(&d))
	return FilterDesc(d), err
}

func CudnnSetFilter4dDescriptor(d FilterDesc, k, c, h, w int) error {
	return cudnnErr("cudnnSetFilter4dDescriptor", C.axw_cudnnSetFilter4dDescriptor(C.cudnnFilterDescriptor_t(d), C.int(k), C.int(c), C.int(h), C.int(w)))
}

func CudnnSetFilter4dDescriptorType(d FilterDesc, dtype, k, c, h, w int) error {
	return cudnnErr("cudnnSetFilter4dDescriptor", C.axw_cudnnSetFilter4dDescriptorType(C.cudnnFilterDescriptor_t(d), C.int(dtype), C.int(k), C.int(c), C.int(h), C.int(w)))
}

func CudnnDestroyFilterDescriptor(d FilterDesc) error {
	return cudnnErr("cudnnDestroyFilterDescriptor", C.axw_cudnnDestroyFilterDescriptor(C.cudnnFilterDescriptor_t(d)))
}

// CudnnAddTensor is C = alpha*A + beta*C, A broadcast over C's dimensions of size 1.
func CudnnAddTensor(h CudnnHandle, alpha float32, aDesc TensorDesc, a DevPtr,
	beta float32, cDesc TensorDesc, c DevPtr) error {
	return cudnnErr("cudnnAddTensor", C.axw_cudnnAddTensor(C.cudnnHandle_t(h), C.float(alpha), C.cudnnTensorDescriptor_t(aDesc), a.c(), C.float(beta), C.cudnnTensorDescriptor_t(cDesc), c.c()))
}

func CudnnCreateActivationDescriptor() (ActivationDesc, error) {
	var d C.cudnnActivationDescriptor_t
	err := cudnnErr("cudnnCreateActivationDescriptor", C.axw_cudnnCreateActivationDescriptor(&d))
	return ActivationDesc(d), err
}

func CudnnSetActivationDescriptorReLU(d ActivationDesc) error {
	return cudnnErr("cudnnSetActivationDescriptor", C.axw_cudnnSetActivationDescriptorReLU(C.cudnnActivationDescriptor_t(d)))
}

func CudnnDestroyActivationDescriptor(d ActivationDesc) error {
	return cudnnErr("cudnnDestroyActivationDescriptor", C.axw_cudnnDestroyActivationDescriptor(C.cudnnActivationDescriptor_t(d)))
}

func CudnnActivationForward(h CudnnHandle, a ActivationDesc, alpha float32,
	xDesc TensorDesc, x DevPtr, beta float32, yDesc TensorDesc, y DevPtr) error {
	return cudnnErr("cudnnActivationForward", C.axw_cudnnActivationForward(C.cudnnHandle_t(h), C.cudnnActivationDescriptor_t(a), C.float(alpha), C.cudnnTensorDescriptor_t(xDesc), x.c(), C.float(beta), C.cudnnTensorDescriptor_t(yDesc), y.c()))
}

func CudnnActivationBackward(h CudnnHandle, a ActivationDesc, alpha float32,
	yDesc TensorDesc, y DevPtr, dyDesc TensorDesc, dy DevPtr,
	xDesc TensorDesc, x DevPtr, beta float32, dxDesc TensorDesc, dx DevPtr) error {
	return cudnnErr("cudnnActivationBackward", C.axw_cudnnActivationBackward(C.cudnnHandle_t(h), C.cudnnActivationDescriptor_t(a), C.float(alpha), C.cudnnTensorDescriptor_t(yDesc), y.c(),
		C.cudnnTensorDescriptor_t(dyDesc), dy.c(), C.cudnnTensorDescriptor_t(xDesc), x.c(), C.float(beta), C.cudnnTensorDescriptor_t(dxDesc), dx.c()))
}

func CudnnCreateLRNDescriptor() (LRNDesc, error) {
	var d C.cudnnLRNDescriptor_t
	err := cudnnErr("cudnnCreateLRNDescriptor", C.axw_cudnnCreateLRNDescriptor(&d))
	return LRNDesc(d), err
}

func CudnnSetLRNDescriptor(d LRNDesc, n int, alpha, beta, k float64) error {
	return cudnnErr("cudnnSetLRNDescriptor", C.axw_cudnnSetLRNDescriptor(C.cudnnLRNDescriptor_t(d), C.unsigned(n), C.double(alpha), C.double(beta), C.double(k)))
}

func CudnnDestroyLRNDescriptor(d LRNDesc) error {
	return cudnnErr("cudnnDestroyLRNDescriptor", C.axw_cudnnDestroyLRNDescriptor(C.cudnnLRNDescriptor_t(d)))
}

func CudnnLRNCrossChannelForward(h CudnnHandle, d LRNDesc, alpha float32,
	xDesc TensorDesc, x DevPtr, beta float32, yDesc TensorDesc, y DevPtr) error {
	return cudnnErr("cudnnLRNCrossChannelForward", C.axw_cudnnLRNCrossChannelForward(C.cudnnHandle_t(h), C.cudnnLRNDescriptor_t(d), C.float(alpha), C.cudnnTensorDescriptor_t(xDesc), x.c(),
		C.float(beta), C.cudnnTensorDescriptor_t(yDesc), y.c()))
}

func CudnnLRNCrossChannelBackward(h CudnnHandle, d LRNDesc, alpha float32,
	yDesc TensorDesc, y DevPtr, dyDesc TensorDesc, dy DevPtr,
	xDesc TensorDesc, x DevPtr, beta float32, dxDesc TensorDesc, dx DevPtr) error {
	return cudnnErr("cudnnLRNCrossChannelBackward", C.axw_cudnnLRNCrossChannelBackward(C.cudnnHandle_t(h), C.cudnnLRNDescriptor_t(d), C.float(alpha), C.cudnnTensorDescriptor_t(yDesc), y.c(),
		C.cudnnTensorDescriptor_t(dyDesc), dy.c(), C.cudnnTensorDescriptor_t(xDesc), x.c(), C.float(beta), C.cudnnTensorDescriptor_t(dxDesc), dx.c()))
}

func CudnnCreatePoolingDescriptor() (PoolDesc, error) {
	var d C.cudnnPoolingDescriptor_t
	err := cudnnErr("cudnnCreatePoolingDescriptor", C.axw_cudnnCreatePoolingDescriptor(&d))
	return PoolDesc(d), err
}

func CudnnSetPooling2dDescriptor(d PoolDesc, mode int, wh, ww, ph, pw, sh, sw int) error {
	return cudnnErr("cudnnSetPooling2dDescriptor", C.axw_cudnnSetPooling2dDescriptor(C.cudnnPoolingDescriptor_t(d), C.int(mode), C.int(wh), C.int(ww),
		C.int(ph), C.int(pw), C.int(sh), C.int(sw)))
}

func CudnnGetPooling2dForwardOutputDim(d PoolDesc, in TensorDesc) (n, c, h, w int, err error) {
	var a, b, e, f C.int
	err = cudnnErr("cudnnGetPooling2dForwardOutputDim", C.axw_cudnnGetPooling2dForwardOutputDim(C.cudnnPoolingDescriptor_t(d), C.cudnnTensorDescriptor_t(in), &a, &b, &e, &f))
	return int(a), int(b), int(e), int(f), err
}

func CudnnDestroyPoolingDescriptor(d PoolDesc) error {
	return cudnnErr("cudnnDestroyPoolingDescriptor", C.axw_cudnnDestroyPoolingDescriptor(C.cudnnPoolingDescriptor_t(d)))
}

func CudnnPoolingForward(h CudnnHandle, d PoolDesc, alpha float32,
	xDesc TensorDesc, x DevPtr, beta float32, yDesc TensorDesc, y DevPtr) error {
	return cudnnErr("cudnnPoolingForward", C.axw_cudnnPoolingForward(C.cudnnHandle_t(h), C.cudnnPoolingDescriptor_t(d), C.float(alpha), C.cudnnTensorDescriptor_t(xDesc), x.c(), C.float(beta), C.cudnnTensorDescriptor_t(yDesc), y.c()))
}

func CudnnPoolingBackward(h CudnnHandle, d PoolDesc, alpha float32,
	yDesc TensorDesc, y DevPtr, dyDesc TensorDesc, dy DevPtr,
	xDesc TensorDesc, x DevPtr, beta float32, dxDesc TensorDesc, dx DevPtr) error {
	return cudnnErr("cudnnPoolingBackward", C.axw_cudnnPoolingBackward(C.cudnnHandle_t(h), C.cudnnPoolingDescriptor_t(d), C.float(alpha), C.cudnnTensorDescriptor_t(yDesc), y.c(), C.cudnnTensorDescriptor_t(dyDesc), dy.c(),
		C.cudnnTensorDescriptor_t(xDesc), x.c(), C.float(beta), C.cudnnTensorDescriptor_t(dxDesc), dx.c()))
}

func CudnnCreateConvolutionDescriptor() (ConvDesc, error) {
	var d C.cudnnConvolutionDescriptor_t
	err := cudnnErr("cudnnCreateConvolutionDescriptor", C.axw_cudnnCreateConvolutionDescriptor(&d))
	return ConvDesc(d), err
}

func CudnnDestroyConvolutionDescriptor(d ConvDesc) error {
	return cudnnErr("cudnnDestroyConvolutionDescriptor", C.axw_cudnnDestroyConvolutionDescriptor(C.cudnnConvolutionDescriptor_t(d)))
}

func CudnnSetConvolution2dDescriptor(d ConvDesc, padH, padW, strideH, strideW int) error {
	return cudnnErr("cudnnSetConvolution2dDescriptor", C.axw_cudnnSetConvolution2dDescriptor(C.cudnnConvolutionDescriptor_t(d), C.int(padH), C.int(padW),
		C.int(strideH), C.int(strideW)))
}

func CudnnSetConvolutionGroupCount(d ConvDesc, groups int) error {
	return cudnnErr("cudnnSetConvolutionGroupCount", C.axw_cudnnSetConvolutionGroupCount(C.cudnnConvolutionDescriptor_t(d), C.int(groups)))
}

func CudnnSetConvolutionMathType(d ConvDesc, mathType int) error {
	return cudnnErr("cudnnSetConvolutionMathType", C.axw_cudnnSetConvolutionMathType(C.cudnnConvolutionDescriptor_t(d), C.int(mathType)))
}

func CudnnGetConvolution2dForwardOutputDim(d ConvDesc, in TensorDesc,
	f FilterDesc) (n, c, h, w int, err error) {
	var a, b, e, g C.int
	err = cudnnErr("cudnnGetConvolution2dForwardOutputDim", C.axw_cudnnGetConvolution2dForwardOutputDim(C.cudnnConvolutionDescriptor_t(d), C.cudnnTensorDescriptor_t(in), C.cudnnFilterDescriptor_t(f), &a, &b, &e, &g))
	return int(a), int(b), int(e), int(g), err
}

// AlgoPerf is one row of cudnnConvolution*AlgoPerf_t.
type AlgoPerf struct {
	Algo     int
	Status   int
	TimeMs   float32
	Memory   int64
	MathType int
}

func perfRows(perf []C.axConvAlgoPerf, n C.int) []AlgoPerf {
	out := make([]AlgoPerf, 0, int(n))
	for _, p := range perf[:min(int(n), len(perf))] {
		out = append(out, AlgoPerf{Algo: int(p.algo), Status: int(p.status), TimeMs: float32(p.time), Memory: int64(p.memory), MathType: int(p.mathType)})
	}
	return out
}

func CudnnGetConvolutionForwardAlgorithm_v7(h CudnnHandle, x TensorDesc, w FilterDesc,
	c ConvDesc, y TensorDesc) ([]AlgoPerf, error) {
	var perf [C.AX_CONV_ALGO_MAX]C.axConvAlgoPerf
	var n C.int
	err := cudnnErr("cudnnGetConvolutionForwardAlgorithm_v7", C.axw_cudnnGetConvolutionForwardAlgorithm_v7(C.cudnnHandle_t(h), C.cudnnTensorDescriptor_t(x),
		C.cudnnFilterDescriptor_t(w), C.cudnnConvolutionDescriptor_t(c), C.cudnnTensorDescriptor_t(y),
		C.int(len(perf)), &n, &perf[0]))
	return perfRows(perf[:], n), err
}

func CudnnFindConvolutionForwardAlgorithmEx(h CudnnHandle, xd TensorDesc, x DevPtr,
	wd FilterDesc, w DevPtr, c ConvDesc, yd TensorDesc, y DevPtr,
	ws DevPtr, wsSize int64) ([]AlgoPerf, error) {
	var perf [C.AX_CONV_ALGO_MAX]C.axConvAlgoPerf
	var n C.int
	err := cudnnErr("cudnnFindConvolutionForwardAlgorithmEx", C.axw_cudnnFindConvolutionForwardAlgorithmEx(C.cudnnHandle_t(h),
		C.cudnnTensorDescriptor_t(xd), x.c(), C.cudnnFilterDescriptor_t(wd), w.c(), C.cudnnConvolutionDescriptor_t(c),
		C.cudnnTensorDescriptor_t(yd), y.c(), C.int(len(perf)), &n, &perf[0], ws.c(), C.size_t(wsSize)))
	return perfRows(perf[:], n), err
}

func CudnnGetConvolutionForwardWorkspaceSize(h CudnnHandle, x TensorDesc, w FilterDesc,
	c ConvDesc, y TensorDesc, algo int) (int64, error) {
	var s C.size_t
	err := cudnnErr("cudnnGetConvolutionForwardWorkspaceSize", C.axw_cudnnGetConvolutionForwardWorkspaceSize(C.cudnnHandle_t(h), C.cudnnTensorDescriptor_t(x), C.cudnnFilterDescriptor_t(w), C.cudnnConvolutionDescriptor_t(c), C.cudnnTensorDescriptor_t(y), C.int(algo), &s))
	return int64(s), err
}

func CudnnConvolutionForward(h CudnnHandle, alpha float32, xd TensorDesc, x DevPtr,
	wd FilterDesc, w DevPtr, c ConvDesc, algo int, ws DevPtr, wsSize int64,
	beta float32, yd TensorDesc, y DevPtr) error {
	return cudnnErr("cudnnConvolutionForward", C.axw_cudnnConvolutionForward(C.cudnnHandle_t(h), C.float(alpha), C.cudnnTensorDescriptor_t(xd), x.c(), C.cudnnFilterDescriptor_t(wd), w.c(), C.cudnnConvolutionDescriptor_t(c),
		C.int(algo), ws.c(), C.size_t(wsSize), C.float(beta), C.cudnnTensorDescriptor_t(yd), y.c()))
}

func CudnnGetConvolutionBackwardDataAlgorithm_v7(h CudnnHandle, w FilterDesc, dy TensorDesc,
	c ConvDesc, dx TensorDesc) ([]AlgoPerf, error) {
	var perf [C.AX_CONV_ALGO_MAX]C.axConvAlgoPerf
	var n C.int
	err := cudnnErr("cudnnGetConvolutionBackwardDataAlgorithm_v7", C.axw_cudnnGetConvolutionBackwardDataAlgorithm_v7(C.cudnnHandle_t(h),
		C.cudnnFilterDescriptor_t(w), C.cudnnTensorDescriptor_t(dy), C.cudnnConvolutionDescriptor_t(c), C.cudnnTensorDescriptor_t(dx),
		C.int(len(perf)), &n, &perf[0]))
	return perfRows(perf[:], n), err
}

func CudnnFindConvolutionBackwardDataAlgorithmEx(h CudnnHandle, wd FilterDesc, w DevPtr,
	dyd TensorDesc, dy DevPtr, c ConvDesc, dxd TensorDesc, dx DevPtr,
	ws DevPtr, wsSize int64) ([]AlgoPerf, error) {
	var perf [C.AX_CONV_ALGO_MAX]C.axConvAlgoPerf
	var n C.int
	err := cudnnErr("cudnnFindConvolutionBackwardDataAlgorithmEx", C.axw_cudnnFindConvolutionBackwardDataAlgorithmEx(C.cudnnHandle_t(h),
		C.cudnnFilterDescriptor_t(wd), w.c(), C.cudnnTensorDescriptor_t(dyd), dy.c(), C.cudnnConvolutionDescriptor_t(c),
		C.cudnnTensorDescriptor_t(dxd), dx.c(), C.int(len(perf)), &n, &perf[0], ws.c(), C.size_t(wsSize)))
	return perfRows(perf[:], n), err
}

func CudnnGetConvolutionBackwardDataWorkspaceSize(h CudnnHandle, w FilterDesc, dy TensorDesc,
	c ConvDesc, dx TensorDesc, algo int) (int64, error) {
	var s C.size_t
	err := cudnnErr("cudnnGetConvolutionBackwardDataWorkspaceSize", C.axw_cudnnGetConvolutionBackwardDataWorkspaceSize(C.cudnnHandle_t(h), C.cudnnFilterDescriptor_t(w), C.cudnnTensorDescriptor_t(dy), C.cudnnConvolutionDescriptor_t(c), C.cudnnTensorDescriptor_t(dx),
		C.int(algo), &s))
	return int64(s), err
}

func CudnnConvolutionBackwardData(h CudnnHandle, alpha float32, wd FilterDesc, w DevPtr,
	dyd TensorDesc, dy DevPtr, c ConvDesc, algo int, ws DevPtr, wsSize int64,
	beta float32, dxd TensorDesc, dx DevPtr) error {
	return cudnnErr("cudnnConvolutionBackwardData", C.axw_cudnnConvolutionBackwardData(C.cudnnHandle_t(h), C.float(alpha), C.cudnnFilterDescriptor_t(wd), w.c(), C.cudnnTensorDescriptor_t(dyd), dy.c(),
		C.cudnnConvolutionDescriptor_t(c), C.int(algo), ws.c(), C.size_t(wsSize), C.float(beta), C.cudnnTensorDescriptor_t(dxd), dx.c()))
}

func CudnnGetConvolutionBackwardFilterAlgorithm_v7(h CudnnHandle, x TensorDesc, dy TensorDesc,
	c ConvDesc, dw FilterDesc) ([]AlgoPerf, error) {
	var perf [C.AX_CONV_ALGO_MAX]C.axConvAlgoPerf
	var n C.int
	err := cudnnErr("cudnnGetConvolutionBackwardFilterAlgorithm_v7", C.axw_cudnnGetConvolutionBackwardFilterAlgorithm_v7(C.cudnnHandle_t(h),
		C.cudnnTensorDescriptor_t(x), C.cudnnTensorDescriptor_t(dy), C.cudnnConvolutionDescriptor_t(c), C.cudnnFilterDescriptor_t(dw),
		C.int(len(perf)), &n, &perf[0]))
	return perfRows(perf[:], n), err
}

func CudnnFindConvolutionBackwardFilterAlgorithmEx(h CudnnHandle, xd TensorDesc, x DevPtr,
	dyd TensorDesc, dy DevPtr, c ConvDesc, dwd FilterDesc, dw DevPtr,
	ws DevPtr, wsSize int64) ([]AlgoPerf, error) {
	var perf [C.AX_CONV_ALGO_MAX]C.axConvAlgoPerf
	var n C.int
	err := cudnnErr("cudnnFindConvolutionBackwardFilterAlgorithmEx", C.axw_cudnnFindConvolutionBackwardFilterAlgorithmEx(C.cudnnHandle_t(h),
		C.cudnnTensorDescriptor_t(xd), x.c(), C.cudnnTensorDescriptor_t(dyd), dy.c(), C.cudnnConvolutionDescriptor_t(c),
		C.cudnnFilterDescriptor_t(dwd), dw.c(), C.int(len(perf)), &n, &perf[0], ws.c(), C.size_t(wsSize)))
	return perfRows(perf[:], n), err
}

func CudnnGetConvolutionBackwardFilterWorkspaceSize(h CudnnHandle, x TensorDesc, dy TensorDesc,
	c ConvDesc, dw FilterDesc, algo int) (int64, error) {
	var s C.size_t
	err := cudnnErr("cudnnGetConvolutionBackwardFilterWorkspaceSize", C.axw_cudnnGetConvolutionBackwardFilterWorkspaceSize(C.cudnnHandle_t(h), C.cudnnTensorDescriptor_t(x), C.cudnnTensorDescriptor_t(dy), C.cudnnConvolutionDescriptor_t(c), C.cudnnFilterDescriptor_t(dw),
		C.int(algo), &s))
	return int64(s), err
}

func CudnnConvolutionBackwardFilter(h CudnnHandle, alpha float32, xd TensorDesc, x DevPtr,
	dyd TensorDesc, dy DevPtr, c ConvDesc, algo int, ws DevPtr, wsSize int64,
	beta float32, dwd FilterDesc, dw DevPtr) error {
	return cudnnErr("cudnnConvolutionBackwardFilter", C.axw_cudnnConvolutionBackwardFilter(C.cudnnHandle_t(h), C.float(alpha), C.cudnnTensorDescriptor_t(xd), x.c(), C.cudnnTensorDescriptor_t(dyd), dy.c(),
		C.cudnnConvolutionDescriptor_t(c), C.int(algo), ws.c(), C.size_t(wsSize), C.float(beta), C.cudnnFilterDescriptor_t(dwd), dw.c()))
}

// CudnnConvolutionBackwardBias is db = alpha*sum_{n,h,w} dy + beta*db.
func CudnnConvolutionBackwardBias(h CudnnHandle, alpha float32, dyd TensorDesc, dy DevPtr,
	beta float32, dbd TensorDesc, db DevPtr) error {
	return cudnnErr("cudnnConvolutionBackwardBias", C.axw_cudnnConvolutionBackwardBias(C.cudnnHandle_t(h), C.float(alpha), C.cudnnTensorDescriptor_t(dyd), dy.c(), C.float(beta), C.cudnnTensorDescriptor_t(dbd), db.c()))
}
