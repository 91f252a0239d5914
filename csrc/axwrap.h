/*
 * axwrap.h: one C wrapper per library call, for cgo, which cannot call through a
 * function pointer. Device pointers arrive as uintptr_t; alpha and beta scalars
 * arrive by value and are passed by address (cuDNN and cuBLAS, in host pointer mode,
 * read them during the call). Each wrapper returns the library's own status code.
 *
 * Only call a wrapper after its library loaded (ax_loaded): the pointers start NULL.
 */
#ifndef AXWRAP_H
#define AXWRAP_H

#include "axcuda.h"

#define AXP(p) ((void *)(p))

/* ---- CUDA runtime ---- */
static inline cudaError_t axw_cudaRuntimeGetVersion(int *v) { return ax_cudaRuntimeGetVersion(v); }
static inline cudaError_t axw_cudaDriverGetVersion(int *v) { return ax_cudaDriverGetVersion(v); }
static inline cudaError_t axw_cudaGetDeviceCount(int *n) { return ax_cudaGetDeviceCount(n); }
static inline cudaError_t axw_cudaSetDevice(int d) { return ax_cudaSetDevice(d); }
static inline cudaError_t axw_cudaMalloc(uintptr_t *p, size_t size) {
	void *q = NULL;
	cudaError_t e = ax_cudaMalloc(&q, size);
	*p = (uintptr_t)q;
	return e;
}
static inline cudaError_t axw_cudaFree(uintptr_t p) { return ax_cudaFree(AXP(p)); }
static inline cudaError_t axw_cudaMemsetAsync(uintptr_t p, int v, size_t n, cudaStream_t s) {
	return ax_cudaMemsetAsync(AXP(p), v, n, s);
}
static inline cudaError_t axw_cudaMemcpyAsyncDtoD(uintptr_t dst, uintptr_t src, size_t n, cudaStream_t s) {
	return ax_cudaMemcpyAsync(AXP(dst), AXP(src), n, AX_cudaMemcpyDeviceToDevice, s);
}
/* Strided copy between any two device buffers, on one GPU or two (cudaMemcpyDefault). */
static inline cudaError_t axw_cudaMemcpy2DAsyncDefault(uintptr_t dst, size_t dpitch, uintptr_t src, size_t spitch,
	size_t width, size_t height, cudaStream_t s) {
	return ax_cudaMemcpy2DAsync(AXP(dst), dpitch, AXP(src), spitch, width, height, AX_cudaMemcpyDefault, s);
}
static inline cudaError_t axw_cudaDeviceCanAccessPeer(int *can, int dev, int peer) {
	return ax_cudaDeviceCanAccessPeer(can, dev, peer);
}
static inline cudaError_t axw_cudaDeviceEnablePeerAccess(int peer) { return ax_cudaDeviceEnablePeerAccess(peer, 0); }
/*
 * Host copies queue on the stream and wait for it inside one C call: the Go memory
 * at host may only be used while the call that received it runs (cgo's rule), and an
 * async copy from pageable memory may still be reading it after cudaMemcpyAsync
 * returns. The status of the copy wins over that of the wait.
 */
static inline cudaError_t axw_cudaMemcpyHtoDSync(uintptr_t dst, const void *host, size_t n, cudaStream_t s) {
	cudaError_t e = ax_cudaMemcpyAsync(AXP(dst), host, n, AX_cudaMemcpyHostToDevice, s);
	cudaError_t w = ax_cudaStreamSynchronize(s);
	return e != 0 ? e : w;
}
static inline cudaError_t axw_cudaMemcpyDtoHSync(void *host, uintptr_t src, size_t n, cudaStream_t s) {
	cudaError_t e = ax_cudaMemcpyAsync(host, AXP(src), n, AX_cudaMemcpyDeviceToHost, s);
	cudaError_t w = ax_cudaStreamSynchronize(s);
	return e != 0 ? e : w;
}
/*
 * Page-locked host memory, for uploads the copy engine can read while the host goes
 * on (cudaMemcpyAsync from pageable memory is staged by the driver and may block).
 * The pointer is C memory: Go may keep it across calls.
 */
static inline cudaError_t axw_cudaMallocHost(void **p, size_t n) {
	*p = NULL;
	return ax_cudaMallocHost(p, n);
}
static inline cudaError_t axw_cudaFreeHost(void *p) { return ax_cudaFreeHost(p); }
/* Asynchronous only when host is page-locked (axw_cudaMallocHost); the caller keeps it
 * untouched until an event recorded after the copy has completed. */
static inline cudaError_t axw_cudaMemcpyAsyncHtoD(uintptr_t dst, const void *host, size_t n, cudaStream_t s) {
	return ax_cudaMemcpyAsync(AXP(dst), host, n, AX_cudaMemcpyHostToDevice, s);
}
static inline cudaError_t axw_cudaEventCreateDisableTiming(cudaEvent_t *e) {
	return ax_cudaEventCreateWithFlags(e, AX_cudaEventDisableTiming);
}
static inline cudaError_t axw_cudaEventDestroy(cudaEvent_t e) { return ax_cudaEventDestroy(e); }
static inline cudaError_t axw_cudaEventRecord(cudaEvent_t e, cudaStream_t s) { return ax_cudaEventRecord(e, s); }
static inline cudaError_t axw_cudaEventSynchronize(cudaEvent_t e) { return ax_cudaEventSynchronize(e); }
/* Work queued on s after this waits for e's latest record (flags 0: cudaEventWaitDefault). */
static inline cudaError_t axw_cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e) { return ax_cudaStreamWaitEvent(s, e, 0); }
static inline cudaError_t axw_cudaStreamCreateNonBlocking(cudaStream_t *s) {
	return ax_cudaStreamCreateWithFlags(s, AX_cudaStreamNonBlocking);
}
static inline cudaError_t axw_cudaStreamDestroy(cudaStream_t s) { return ax_cudaStreamDestroy(s); }
static inline cudaError_t axw_cudaStreamSynchronize(cudaStream_t s) { return ax_cudaStreamSynchronize(s); }
static inline cudaError_t axw_cudaMemGetInfo(size_t *free, size_t *total) { return ax_cudaMemGetInfo(free, total); }
static inline const char *axw_cudaGetErrorName(cudaError_t e) { return ax_cudaGetErrorName(e); }
static inline const char *axw_cudaGetErrorString(cudaError_t e) { return ax_cudaGetErrorString(e); }

/* ---- CUDA driver ---- */
static inline CUresult axw_cuInit(void) { return ax_cuInit(0); }
static inline CUresult axw_cuDriverGetVersion(int *v) { return ax_cuDriverGetVersion(v); }
static inline CUresult axw_cuDeviceGetCount(int *n) { return ax_cuDeviceGetCount(n); }
static inline CUresult axw_cuDeviceGet(CUdevice *d, int ordinal) { return ax_cuDeviceGet(d, ordinal); }
static inline CUresult axw_cuDeviceGetName(char *name, int len, CUdevice d) { return ax_cuDeviceGetName(name, len, d); }
static inline CUresult axw_cuDeviceTotalMem(size_t *bytes, CUdevice d) { return ax_cuDeviceTotalMem_v2(bytes, d); }
static inline CUresult axw_cuDeviceGetAttribute(int *v, int attr, CUdevice d) {
	return ax_cuDeviceGetAttribute(v, attr, d);
}
static inline CUresult axw_cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice d) {
	return ax_cuDevicePrimaryCtxRetain(c, d);
}
static inline CUresult axw_cuDevicePrimaryCtxRelease(CUdevice d) { return ax_cuDevicePrimaryCtxRelease_v2(d); }
static inline CUresult axw_cuCtxSetCurrent(CUcontext c) { return ax_cuCtxSetCurrent(c); }
static inline CUresult axw_cuModuleLoadData(CUmodule *m, const void *image) { return ax_cuModuleLoadData(m, image); }
static inline CUresult axw_cuModuleUnload(CUmodule m) { return ax_cuModuleUnload(m); }
static inline CUresult axw_cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name) {
	return ax_cuModuleGetFunction(f, m, name);
}
static inline CUresult axw_cuGetErrorName(CUresult e, const char **s) { return ax_cuGetErrorName(e, s); }
static inline CUresult axw_cuGetErrorString(CUresult e, const char **s) { return ax_cuGetErrorString(e, s); }

/* ---- cuBLAS ---- */
static inline cublasStatus_t axw_cublasCreate(cublasHandle_t *h) { return ax_cublasCreate_v2(h); }
static inline cublasStatus_t axw_cublasDestroy(cublasHandle_t h) { return ax_cublasDestroy_v2(h); }
static inline cublasStatus_t axw_cublasGetProperty(int type, int *v) { return ax_cublasGetProperty(type, v); }
static inline cublasStatus_t axw_cublasSetStream(cublasHandle_t h, cudaStream_t s) { return ax_cublasSetStream_v2(h, s); }
static inline cublasStatus_t axw_cublasSetMathMode(cublasHandle_t h, int mode) { return ax_cublasSetMathMode(h, mode); }
static inline const char *axw_cublasGetStatusName(cublasStatus_t s) { return ax_cublasGetStatusName(s); }
static inline const char *axw_cublasGetStatusString(cublasStatus_t s) { return ax_cublasGetStatusString(s); }
static inline cublasStatus_t axw_cublasSgemm(cublasHandle_t h, int transa, int transb, int m, int n, int k,
	float alpha, uintptr_t A, int lda, uintptr_t B, int ldb, float beta, uintptr_t C, int ldc) {
	return ax_cublasSgemm_v2(h, transa, transb, m, n, k, &alpha, (const float *)A, lda, (const float *)B, ldb,
		&beta, (float *)C, ldc);
}

/* C = alpha*op(A)*op(B) + beta*C with A and B of type abType (AX_CUDA_R_16BF or
 * AX_CUDA_R_16F), C float, float accumulation (CUBLAS_COMPUTE_32F): alpha and beta
 * are floats for that compute type. */
static inline cublasStatus_t axw_cublasGemmEx16(cublasHandle_t h, int transa, int transb, int m, int n, int k,
	float alpha, uintptr_t A, int lda, uintptr_t B, int ldb, int abType, float beta, uintptr_t C, int ldc) {
	return ax_cublasGemmEx(h, transa, transb, m, n, k, &alpha, AXP(A), abType, lda, AXP(B), abType, ldb, &beta, AXP(C),
		AX_CUDA_R_32F, ldc, AX_CUBLAS_COMPUTE_32F, AX_CUBLAS_GEMM_DEFAULT);
}

/* ---- NVRTC ---- */
static inline const char *axw_nvrtcGetErrorString(nvrtcResult r) { return ax_nvrtcGetErrorString(r); }
static inline nvrtcResult axw_nvrtcVersion(int *major, int *minor) { return ax_nvrtcVersion(major, minor); }
static inline nvrtcResult axw_nvrtcGetNumSupportedArchs(int *n) { return ax_nvrtcGetNumSupportedArchs(n); }
static inline nvrtcResult axw_nvrtcGetSupportedArchs(int *archs) { return ax_nvrtcGetSupportedArchs(archs); }
static inline nvrtcResult axw_nvrtcCreateProgram(nvrtcProgram *p, const char *src, const char *name) {
	return ax_nvrtcCreateProgram(p, src, name, 0, NULL, NULL);
}
static inline nvrtcResult axw_nvrtcDestroyProgram(nvrtcProgram *p) { return ax_nvrtcDestroyProgram(p); }
static inline nvrtcResult axw_nvrtcCompileProgram(nvrtcProgram p, int n, char **opts) {
	return ax_nvrtcCompileProgram(p, n, (const char *const *)opts);
}
static inline nvrtcResult axw_nvrtcGetPTXSize(nvrtcProgram p, size_t *n) { return ax_nvrtcGetPTXSize(p, n); }
static inline nvrtcResult axw_nvrtcGetPTX(nvrtcProgram p, char *out) { return ax_nvrtcGetPTX(p, out); }
static inline nvrtcResult axw_nvrtcGetCUBINSize(nvrtcProgram p, size_t *n) { return ax_nvrtcGetCUBINSize(p, n); }
static inline nvrtcResult axw_nvrtcGetCUBIN(nvrtcProgram p, char *out) { return ax_nvrtcGetCUBIN(p, out); }
static inline nvrtcResult axw_nvrtcGetProgramLogSize(nvrtcProgram p, size_t *n) { return ax_nvrtcGetProgramLogSize(p, n); }
static inline nvrtcResult axw_nvrtcGetProgramLog(nvrtcProgram p, char *out) { return ax_nvrtcGetProgramLog(p, out); }

/* ---- cuDNN ---- */
static inline size_t axw_cudnnGetVersion(void) { return ax_cudnnGetVersion(); }
static inline const char *axw_cudnnGetErrorString(cudnnStatus_t s) { return ax_cudnnGetErrorString(s); }
/* Empty when the library lacks the call (cuDNN 8) or has nothing to say. */
static inline void axw_cudnnGetLastErrorString(char *msg, size_t n) {
	if (n > 0) {
		msg[0] = 0;
	}
	if (ax_cudnnGetLastErrorString != NULL) {
		ax_cudnnGetLastErrorString(msg, n);
	}
}
static inline cudnnStatus_t axw_cudnnCreate(cudnnHandle_t *h) { return ax_cudnnCreate(h); }
static inline cudnnStatus_t axw_cudnnDestroy(cudnnHandle_t h) { return ax_cudnnDestroy(h); }
static inline cudnnStatus_t axw_cudnnSetStream(cudnnHandle_t h, cudaStream_t s) { return ax_cudnnSetStream(h, s); }

static inline cudnnStatus_t axw_cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t *d) {
	return ax_cudnnCreateTensorDescriptor(d);
}
static inline cudnnStatus_t axw_cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, int n, int c, int h, int w) {
	return ax_cudnnSetTensor4dDescriptor(d, AX_CUDNN_TENSOR_NCHW, AX_CUDNN_DATA_FLOAT, n, c, h, w);
}
/* The same with another element type (AX_CUDNN_DATA_HALF, AX_CUDNN_DATA_BFLOAT16). */
static inline cudnnStatus_t axw_cudnnSetTensor4dDescriptorType(cudnnTensorDescriptor_t d, int dtype, int n, int c,
	int h, int w) {
	return ax_cudnnSetTensor4dDescriptor(d, AX_CUDNN_TENSOR_NCHW, dtype, n, c, h, w);
}
static inline cudnnStatus_t axw_cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d) {
	return ax_cudnnDestroyTensorDescriptor(d);
}
static inline cudnnStatus_t axw_cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t *d) {
	return ax_cudnnCreateFilterDescriptor(d);
}
static inline cudnnStatus_t axw_cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, int k, int c, int h, int w) {
	return ax_cudnnSetFilter4dDescriptor(d, AX_CUDNN_DATA_FLOAT, AX_CUDNN_TENSOR_NCHW, k, c, h, w);
}
static inline cudnnStatus_t axw_cudnnSetFilter4dDescriptorType(cudnnFilterDescriptor_t d, int dtype, int k, int c,
	int h, int w) {
	return ax_cudnnSetFilter4dDescriptor(d, dtype, AX_CUDNN_TENSOR_NCHW, k, c, h, w);
}
static inline cudnnStatus_t axw_cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t d) {
	return ax_cudnnDestroyFilterDescriptor(d);
}
static inline cudnnStatus_t axw_cudnnAddTensor(cudnnHandle_t h, float alpha, cudnnTensorDescriptor_t aDesc,
	uintptr_t A, float beta, cudnnTensorDescriptor_t cDesc, uintptr_t C) {
	return ax_cudnnAddTensor(h, &alpha, aDesc, AXP(A), &beta, cDesc, AXP(C));
}

static inline cudnnStatus_t axw_cudnnCreateActivationDescriptor(cudnnActivationDescriptor_t *d) {
	return ax_cudnnCreateActivationDescriptor(d);
}
static inline cudnnStatus_t axw_cudnnSetActivationDescriptorReLU(cudnnActivationDescriptor_t d) {
	/* NaN propagates, as max(x, 0) of the reference does for a NaN x. */
	return ax_cudnnSetActivationDescriptor(d, AX_CUDNN_ACTIVATION_RELU, AX_CUDNN_PROPAGATE_NAN, 0.0);
}
static inline cudnnStatus_t axw_cudnnDestroyActivationDescriptor(cudnnActivationDescriptor_t d) {
	return ax_cudnnDestroyActivationDescriptor(d);
}
static inline cudnnStatus_t axw_cudnnActivationForward(cudnnHandle_t h, cudnnActivationDescriptor_t a,
	float alpha, cudnnTensorDescriptor_t xDesc, uintptr_t x, float beta, cudnnTensorDescriptor_t yDesc,
	uintptr_t y) {
	return ax_cudnnActivationForward(h, a, &alpha, xDesc, AXP(x), &beta, yDesc, AXP(y));
}
static inline cudnnStatus_t axw_cudnnActivationBackward(cudnnHandle_t h, cudnnActivationDescriptor_t a,
	float alpha, cudnnTensorDescriptor_t yDesc, uintptr_t y, cudnnTensorDescriptor_t dyDesc, uintptr_t dy,
	cudnnTensorDescriptor_t xDesc, uintptr_t x, float beta, cudnnTensorDescriptor_t dxDesc, uintptr_t dx) {
	return ax_cudnnActivationBackward(h, a, &alpha, yDesc, AXP(y), dyDesc, AXP(dy), xDesc, AXP(x), &beta, dxDesc,
		AXP(dx));
}

static inline cudnnStatus_t axw_cudnnCreateLRNDescriptor(cudnnLRNDescriptor_t *d) { return ax_cudnnCreateLRNDescriptor(d); }
static inline cudnnStatus_t axw_cudnnSetLRNDescriptor(cudnnLRNDescriptor_t d, unsigned n, double alpha, double beta,
	double k) {
	return ax_cudnnSetLRNDescriptor(d, n, alpha, beta, k);
}
static inline cudnnStatus_t axw_cudnnDestroyLRNDescriptor(cudnnLRNDescriptor_t d) { return ax_cudnnDestroyLRNDescriptor(d); }
static inline cudnnStatus_t axw_cudnnLRNCrossChannelForward(cudnnHandle_t h, cudnnLRNDescriptor_t d, float alpha,
	cudnnTensorDescriptor_t xDesc, uintptr_t x, float beta, cudnnTensorDescriptor_t yDesc, uintptr_t y) {
	return ax_cudnnLRNCrossChannelForward(h, d, AX_CUDNN_LRN_CROSS_CHANNEL_DIM1, &alpha, xDesc, AXP(x), &beta, yDesc,
		AXP(y));
}
static inline cudnnStatus_t axw_cudnnLRNCrossChannelBackward(cudnnHandle_t h, cudnnLRNDescriptor_t d, float alpha,
	cudnnTensorDescriptor_t yDesc, uintptr_t y, cudnnTensorDescriptor_t dyDesc, uintptr_t dy,
	cudnnTensorDescriptor_t xDesc, uintptr_t x, float beta, cudnnTensorDescriptor_t dxDesc, uintptr_t dx) {
	return ax_cudnnLRNCrossChannelBackward(h, d, AX_CUDNN_LRN_CROSS_CHANNEL_DIM1, &alpha, yDesc, AXP(y), dyDesc,
		AXP(dy), xDesc, AXP(x), &beta, dxDesc, AXP(dx));
}

static inline cudnnStatus_t axw_cudnnCreatePoolingDescriptor(cudnnPoolingDescriptor_t *d) {
	return ax_cudnnCreatePoolingDescriptor(d);
}
static inline cudnnStatus_t axw_cudnnSetPooling2dDescriptor(cudnnPoolingDescriptor_t d, int mode, int wh, int ww,
	int ph, int pw, int sh, int sw) {
	return ax_cudnnSetPooling2dDescriptor(d, mode, AX_CUDNN_PROPAGATE_NAN, wh, ww, ph, pw, sh, sw);
}
static inline cudnnStatus_t axw_cudnnGetPooling2dForwardOutputDim(cudnnPoolingDescriptor_t d,
	cudnnTensorDescriptor_t in, int *n, int *c, int *h, int *w) {
	return ax_cudnnGetPooling2dForwardOutputDim(d, in, n, c, h, w);
}
static inline cudnnStatus_t axw_cudnnDestroyPoolingDescriptor(cudnnPoolingDescriptor_t d) {
	return ax_cudnnDestroyPoolingDescriptor(d);
}
static inline cudnnStatus_t axw_cudnnPoolingForward(cudnnHandle_t h, cudnnPoolingDescriptor_t d, float alpha,
	cudnnTensorDescriptor_t xDesc, uintptr_t x, float beta, cudnnTensorDescriptor_t yDesc, uintptr_t y) {
	return ax_cudnnPoolingForward(h, d, &alpha, xDesc, AXP(x), &beta, yDesc, AXP(y));
}
static inline cudnnStatus_t axw_cudnnPoolingBackward(cudnnHandle_t h, cudnnPoolingDescriptor_t d, float alpha,
	cudnnTensorDescriptor_t yDesc, uintptr_t y, cudnnTensorDescriptor_t dyDesc, uintptr_t dy,
	cudnnTensorDescriptor_t xDesc, uintptr_t x, float beta, cudnnTensorDescriptor_t dxDesc, uintptr_t dx) {
	return ax_cudnnPoolingBackward(h, d, &alpha, yDesc, AXP(y), dyDesc, AXP(dy), xDesc, AXP(x), &beta, dxDesc, AXP(dx));
}

static inline cudnnStatus_t axw_cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t *d) {
	return ax_cudnnCreateConvolutionDescriptor(d);
}
static inline cudnnStatus_t axw_cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d) {
	return ax_cudnnDestroyConvolutionDescriptor(d);
}
static inline cudnnStatus_t axw_cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int ph, int pw,
	int sh, int sw) {
	/* Cross-correlation (what deep learning calls convolution), no dilation, fp32 math. */
	return ax_cudnnSetConvolution2dDescriptor(d, ph, pw, sh, sw, 1, 1, AX_CUDNN_CROSS_CORRELATION, AX_CUDNN_DATA_FLOAT);
}
static inline cudnnStatus_t axw_cudnnSetConvolutionGroupCount(cudnnConvolutionDescriptor_t d, int g) {
	return ax_cudnnSetConvolutionGroupCount(d, g);
}
static inline cudnnStatus_t axw_cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, int m) {
	return ax_cudnnSetConvolutionMathType(d, m);
}
static inline cudnnStatus_t axw_cudnnGetConvolution2dForwardOutputDim(cudnnConvolutionDescriptor_t d,
	cudnnTensorDescriptor_t in, cudnnFilterDescriptor_t f, int *n, int *c, int *h, int *w) {
	return ax_cudnnGetConvolution2dForwardOutputDim(d, in, f, n, c, h, w);
}
static inline cudnnStatus_t axw_cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t h, cudnnTensorDescriptor_t x,
	cudnnFilterDescriptor_t w, cudnnConvolutionDescriptor_t c, cudnnTensorDescriptor_t y, int req, int *ret,
	axConvAlgoPerf *perf) {
	return ax_cudnnGetConvolutionForwardAlgorithm_v7(h, x, w, c, y, req, ret, perf);
}
static inline cudnnStatus_t axw_cudnnFindConvolutionForwardAlgorithmEx(cudnnHandle_t h, cudnnTensorDescriptor_t xd,
	uintptr_t x, cudnnFilterDescriptor_t wd, uintptr_t w, cudnnConvolutionDescriptor_t c, cudnnTensorDescriptor_t yd,
	uintptr_t y, int req, int *ret, axConvAlgoPerf *perf, uintptr_t ws, size_t wsSize) {
	return ax_cudnnFindConvolutionForwardAlgorithmEx(h, xd, AXP(x), wd, AXP(w), c, yd, AXP(y), req, ret, perf, AXP(ws),
		wsSize);
}
static inline cudnnStatus_t axw_cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t h, cudnnTensorDescriptor_t x,
	cudnnFilterDescriptor_t w, cudnnConvolutionDescriptor_t c, cudnnTensorDescriptor_t y, int algo, size_t *size) {
	return ax_cudnnGetConvolutionForwardWorkspaceSize(h, x, w, c, y, algo, size);
}
static inline cudnnStatus_t axw_cudnnConvolutionForward(cudnnHandle_t h, float alpha, cudnnTensorDescriptor_t xd,
	uintptr_t x, cudnnFilterDescriptor_t wd, uintptr_t w, cudnnConvolutionDescriptor_t c, int algo, uintptr_t ws,
	size_t wsSize, float beta, cudnnTensorDescriptor_t yd, uintptr_t y) {
	return ax_cudnnConvolutionForward(h, &alpha, xd, AXP(x), wd, AXP(w), c, algo, AXP(ws), wsSize, &beta, yd, AXP(y));
}
static inline cudnnStatus_t axw_cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnnHandle_t h,
	cudnnFilterDescriptor_t w, cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t c, cudnnTensorDescriptor_t dx,
	int req, int *ret, axConvAlgoPerf *perf) {
	return ax_cudnnGetConvolutionBackwardDataAlgorithm_v7(h, w, dy, c, dx, req, ret, perf);
}
static inline cudnnStatus_t axw_cudnnFindConvolutionBackwardDataAlgorithmEx(cudnnHandle_t h,
	cudnnFilterDescriptor_t wd, uintptr_t w, cudnnTensorDescriptor_t dyd, uintptr_t dy, cudnnConvolutionDescriptor_t c,
	cudnnTensorDescriptor_t dxd, uintptr_t dx, int req, int *ret, axConvAlgoPerf *perf, uintptr_t ws, size_t wsSize) {
	return ax_cudnnFindConvolutionBackwardDataAlgorithmEx(h, wd, AXP(w), dyd, AXP(dy), c, dxd, AXP(dx), req, ret, perf,
		AXP(ws), wsSize);
}
static inline cudnnStatus_t axw_cudnnGetConvolutionBackwardDataWorkspaceSize(cudnnHandle_t h,
	cudnnFilterDescriptor_t w, cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t c, cudnnTensorDescriptor_t dx,
	int algo, size_t *size) {
	return ax_cudnnGetConvolutionBackwardDataWorkspaceSize(h, w, dy, c, dx, algo, size);
}
static inline cudnnStatus_t axw_cudnnConvolutionBackwardData(cudnnHandle_t h, float alpha, cudnnFilterDescriptor_t wd,
	uintptr_t w, cudnnTensorDescriptor_t dyd, uintptr_t dy, cudnnConvolutionDescriptor_t c, int algo, uintptr_t ws,
	size_t wsSize, float beta, cudnnTensorDescriptor_t dxd, uintptr_t dx) {
	return ax_cudnnConvolutionBackwardData(h, &alpha, wd, AXP(w), dyd, AXP(dy), c, algo, AXP(ws), wsSize, &beta, dxd,
		AXP(dx));
}
static inline cudnnStatus_t axw_cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnnHandle_t h,
	cudnnTensorDescriptor_t x, cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t c, cudnnFilterDescriptor_t dw,
	int req, int *ret, axConvAlgoPerf *perf) {
	return ax_cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, x, dy, c, dw, req, ret, perf);
}
static inline cudnnStatus_t axw_cudnnFindConvolutionBackwardFilterAlgorithmEx(cudnnHandle_t h,
	cudnnTensorDescriptor_t xd, uintptr_t x, cudnnTensorDescriptor_t dyd, uintptr_t dy, cudnnConvolutionDescriptor_t c,
	cudnnFilterDescriptor_t dwd, uintptr_t dw, int req, int *ret, axConvAlgoPerf *perf, uintptr_t ws, size_t wsSize) {
	return ax_cudnnFindConvolutionBackwardFilterAlgorithmEx(h, xd, AXP(x), dyd, AXP(dy), c, dwd, AXP(dw), req, ret,
		perf, AXP(ws), wsSize);
}
static inline cudnnStatus_t axw_cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnnHandle_t h,
	cudnnTensorDescriptor_t x, cudnnTensorDescriptor_t dy, cudnnConvolutionDescriptor_t c, cudnnFilterDescriptor_t dw,
	int algo, size_t *size) {
	return ax_cudnnGetConvolutionBackwardFilterWorkspaceSize(h, x, dy, c, dw, algo, size);
}
static inline cudnnStatus_t axw_cudnnConvolutionBackwardFilter(cudnnHandle_t h, float alpha,
	cudnnTensorDescriptor_t xd, uintptr_t x, cudnnTensorDescriptor_t dyd, uintptr_t dy, cudnnConvolutionDescriptor_t c,
	int algo, uintptr_t ws, size_t wsSize, float beta, cudnnFilterDescriptor_t dwd, uintptr_t dw) {
	return ax_cudnnConvolutionBackwardFilter(h, &alpha, xd, AXP(x), dyd, AXP(dy), c, algo, AXP(ws), wsSize, &beta, dwd,
		AXP(dw));
}
static inline cudnnStatus_t axw_cudnnConvolutionBackwardBias(cudnnHandle_t h, float alpha, cudnnTensorDescriptor_t dyd,
	uintptr_t dy, float beta, cudnnTensorDescriptor_t dbd, uintptr_t db) {
	return ax_cudnnConvolutionBackwardBias(h, &alpha, dyd, AXP(dy), &beta, dbd, AXP(db));
}

/* ---- kernels compiled by NVRTC (internal/cudnn) ---- */
/* The one launcher of them all: args[i] points at the value of parameter i, which
 * cuLaunchKernel copies with the size the kernel declares, so the launcher does not
 * need to know any kernel's signature (csrc's CuLaunchKernel packs them). */
static inline CUresult axw_cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
	unsigned bz, CUstream s, void **args) {
	return ax_cuLaunchKernel(f, gx, gy, gz, bx, by, bz, 0, s, args, NULL);
}

#endif
