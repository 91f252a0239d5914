/*
 * axcuda.h: the part of the CUDA runtime, CUDA driver, cuBLAS, cuDNN 9 and NVRTC APIs
 * this project calls, declared by the project itself so the binary builds on machines
 * without a CUDA toolkit. The libraries are opened at run time with dlopen (axcuda.c)
 * and every function is reached through a pointer filled by dlsym.
 *
 * Prototypes and enum values are copied from the vendor headers they name
 * (cuda_runtime_api.h / driver_types.h of CUDA 12-13, cuda.h, cublas_api.h, nvrtc.h,
 * cudnn_graph.h / cudnn_ops.h / cudnn_cnn.h of cuDNN 9). C enums are int-sized on the
 * platforms CUDA supports, so enum parameters are declared int here.
 *
 * Device pointers cross into Go as uintptr_t (see the axw_ wrappers in axwrap.h), so
 * Go never holds a device address in a pointer-typed variable.
 */
#ifndef AXCUDA_H
#define AXCUDA_H

#include <stddef.h>
#include <stdint.h>

/* ---- CUDA runtime: cuda_runtime_api.h, driver_types.h ---- */
typedef int cudaError_t; /* cudaSuccess = 0 */
typedef struct CUstream_st *cudaStream_t;
typedef struct CUevent_st *cudaEvent_t;
enum {
	AX_cudaMemcpyHostToDevice = 1,
	AX_cudaMemcpyDeviceToHost = 2,
	AX_cudaMemcpyDeviceToDevice = 3,
	AX_cudaMemcpyDefault = 4, /* direction from the pointers (unified addressing) */
};
enum { AX_cudaStreamNonBlocking = 0x01 };
enum { AX_cudaEventDisableTiming = 0x02 }; /* no timestamps: cheaper to record and wait on */

/* ---- CUDA driver: cuda.h ---- */
typedef int CUresult; /* CUDA_SUCCESS = 0 */
typedef int CUdevice;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream; /* the same type as cudaStream_t */
enum {
	AX_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
	AX_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
	AX_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
};

/* ---- cuBLAS: cublas_api.h ---- */
typedef int cublasStatus_t; /* CUBLAS_STATUS_SUCCESS = 0 */
typedef struct cublasContext *cublasHandle_t;
enum { AX_CUBLAS_OP_N = 0, AX_CUBLAS_OP_T = 1 };
enum { AX_CUBLAS_DEFAULT_MATH = 0, AX_CUBLAS_TF32_TENSOR_OP_MATH = 3 };
/* cublasComputeType_t: float accumulation (cublasGemmEx of 16-bit inputs) */
enum { AX_CUBLAS_COMPUTE_32F = 68 };
/* cublasGemmAlgo_t: the library's choice (tensor cores for 16-bit inputs) */
enum { AX_CUBLAS_GEMM_DEFAULT = -1 };
/* library_types.h: cudaDataType_t, the element types of cublasGemmEx */
enum { AX_CUDA_R_32F = 0, AX_CUDA_R_16F = 2, AX_CUDA_R_16BF = 14 };
/* library_types.h: libraryPropertyType */
enum { AX_MAJOR_VERSION = 0, AX_MINOR_VERSION = 1, AX_PATCH_LEVEL = 2 };

/* ---- NVRTC: nvrtc.h ---- */
typedef int nvrtcResult; /* NVRTC_SUCCESS = 0 */
typedef struct _nvrtcProgram *nvrtcProgram;

/* ---- cuDNN 9: cudnn_graph.h, cudnn_ops.h, cudnn_cnn.h ---- */
typedef int cudnnStatus_t; /* CUDNN_STATUS_SUCCESS = 0 */
typedef struct cudnnContext *cudnnHandle_t;
typedef struct cudnnTensorStruct *cudnnTensorDescriptor_t;
typedef struct cudnnFilterStruct *cudnnFilterDescriptor_t;
typedef struct cudnnConvolutionStruct *cudnnConvolutionDescriptor_t;
typedef struct cudnnPoolingStruct *cudnnPoolingDescriptor_t;
typedef struct cudnnLRNStruct *cudnnLRNDescriptor_t;
typedef struct cudnnActivationStruct *cudnnActivationDescriptor_t;
enum {                                                           /* cudnnDataType_t */
	AX_CUDNN_DATA_FLOAT = 0,
	AX_CUDNN_DATA_HALF = 2,
	AX_CUDNN_DATA_BFLOAT16 = 9,
};
enum { AX_CUDNN_TENSOR_NCHW = 0 };                               /* cudnnTensorFormat_t */
enum { AX_CUDNN_CROSS_CORRELATION = 1 };                         /* cudnnConvolutionMode_t */
enum { AX_CUDNN_NOT_PROPAGATE_NAN = 0, AX_CUDNN_PROPAGATE_NAN = 1 }; /* cudnnNanPropagation_t */
enum { AX_CUDNN_ACTIVATION_RELU = 1 };                           /* cudnnActivationMode_t */
enum { AX_CUDNN_LRN_CROSS_CHANNEL_DIM1 = 0 };                    /* cudnnLRNMode_t */
enum {                                                           /* cudnnPoolingMode_t */
	AX_CUDNN_POOLING_MAX = 0,
	AX_CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING = 1,
	AX_CUDNN_POOLING_MAX_DETERMINISTIC = 3,
};
enum {                                                           /* cudnnMathType_t */
	AX_CUDNN_DEFAULT_MATH = 0,
	AX_CUDNN_TENSOR_OP_MATH = 1,
	AX_CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION = 2,
	AX_CUDNN_FMA_MATH = 3,
};
/* cudnn_graph.h: LRN limits (cudnn_ops.h CUDNN_LRN_MIN_N ...) */
#define AX_CUDNN_LRN_MIN_N 1
#define AX_CUDNN_LRN_MAX_N 16
#define AX_CUDNN_LRN_MIN_K 1e-5
#define AX_CUDNN_LRN_MIN_BETA 0.01

/*
 * cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t share this layout in cuDNN 8 and 9
 * (cudnn_cnn.h): algo, status, time, memory, determinism, mathType, reserved[3].
 */
typedef struct {
	int algo;
	cudnnStatus_t status;
	float time;
	size_t memory;
	int determinism;
	int mathType;
	int reserved[3];
} axConvAlgoPerf;
#define AX_CONV_ALGO_MAX 16 /* more than any *_ALGO_COUNT (8, 6, 7) */

/*
 * The function tables. X(return type, name, parameter list). The loader resolves each
 * name with dlsym into ax_<name>; a library loads only if all its names resolve.
 */
#define AX_CUDART_FUNCS(X) \
	X(cudaError_t, cudaRuntimeGetVersion, (int *version)) \
	X(cudaError_t, cudaDriverGetVersion, (int *version)) \
	X(cudaError_t, cudaGetDeviceCount, (int *count)) \
	X(cudaError_t, cudaSetDevice, (int device)) \
	X(cudaError_t, cudaMalloc, (void **devPtr, size_t size)) \
	X(cudaError_t, cudaFree, (void *devPtr)) \
	X(cudaError_t, cudaMallocHost, (void **ptr, size_t size)) \
	X(cudaError_t, cudaFreeHost, (void *ptr)) \
	X(cudaError_t, cudaMemsetAsync, (void *devPtr, int value, size_t count, cudaStream_t stream)) \
	X(cudaError_t, cudaMemcpyAsync, (void *dst, const void *src, size_t count, int kind, cudaStream_t stream)) \
	X(cudaError_t, cudaMemcpy2DAsync, (void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height, int kind, cudaStream_t stream)) \
	X(cudaError_t, cudaDeviceCanAccessPeer, (int *canAccessPeer, int device, int peerDevice)) \
	X(cudaError_t, cudaDeviceEnablePeerAccess, (int peerDevice, unsigned int flags)) \
	X(cudaError_t, cudaStreamCreateWithFlags, (cudaStream_t *pStream, unsigned int flags)) \
	X(cudaError_t, cudaStreamDestroy, (cudaStream_t stream)) \
	X(cudaError_t, cudaStreamSynchronize, (cudaStream_t stream)) \
	X(cudaError_t, cudaStreamWaitEvent, (cudaStream_t stream, cudaEvent_t event, unsigned int flags)) \
	X(cudaError_t, cudaEventCreateWithFlags, (cudaEvent_t *event, unsigned int flags)) \
	X(cudaError_t, cudaEventDestroy, (cudaEvent_t event)) \
	X(cudaError_t, cudaEventRecord, (cudaEvent_t event, cudaStream_t stream)) \
	X(cudaError_t, cudaEventSynchronize, (cudaEvent_t event)) \
	X(cudaError_t, cudaMemGetInfo, (size_t *free, size_t *total)) \
	X(const char *, cudaGetErrorName, (cudaError_t error)) \
	X(const char *, cudaGetErrorString, (cudaError_t error))

/* Versioned names (cuDeviceTotalMem_v2 ...) are what cuda.h's macros call. */
#define AX_CUDA_FUNCS(X) \
	X(CUresult, cuInit, (unsigned int flags)) \
	X(CUresult, cuDriverGetVersion, (int *driverVersion)) \
	X(CUresult, cuDeviceGetCount, (int *count)) \
	X(CUresult, cuDeviceGet, (CUdevice *device, int ordinal)) \
	X(CUresult, cuDeviceGetName, (char *name, int len, CUdevice dev)) \
	X(CUresult, cuDeviceTotalMem_v2, (size_t *bytes, CUdevice dev)) \
	X(CUresult, cuDeviceGetAttribute, (int *pi, int attrib, CUdevice dev)) \
	X(CUresult, cuDevicePrimaryCtxRetain, (CUcontext *pctx, CUdevice dev)) \
	X(CUresult, cuDevicePrimaryCtxRelease_v2, (CUdevice dev)) \
	X(CUresult, cuCtxSetCurrent, (CUcontext ctx)) \
	X(CUresult, cuModuleLoadData, (CUmodule *module, const void *image)) \
	X(CUresult, cuModuleUnload, (CUmodule hmod)) \
	X(CUresult, cuModuleGetFunction, (CUfunction *hfunc, CUmodule hmod, const char *name)) \
	X(CUresult, cuLaunchKernel, (CUfunction f, unsigned int gridDimX, unsigned int gridDimY, \
		unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ, \
		unsigned int sharedMemBytes, CUstream hStream, void **kernelParams, void **extra)) \
	X(CUresult, cuGetErrorName, (CUresult error, const char **pStr)) \
	X(CUresult, cuGetErrorString, (CUresult error, const char **pStr))

/* cublas_v2.h maps cublasCreate to cublasCreate_v2 and so on: the _v2 names are the
 * exported symbols (the unsuffixed cublasSgemm is the legacy API without a handle). */
#define AX_CUBLAS_FUNCS(X) \
	X(cublasStatus_t, cublasCreate_v2, (cublasHandle_t *handle)) \
	X(cublasStatus_t, cublasDestroy_v2, (cublasHandle_t handle)) \
	X(cublasStatus_t, cublasGetProperty, (int type, int *value)) \
	X(cublasStatus_t, cublasSetStream_v2, (cublasHandle_t handle, cudaStream_t streamId)) \
	X(cublasStatus_t, cublasSetMathMode, (cublasHandle_t handle, int mode)) \
	X(const char *, cublasGetStatusName, (cublasStatus_t status)) \
	X(const char *, cublasGetStatusString, (cublasStatus_t status)) \
	X(cublasStatus_t, cublasSgemm_v2, (cublasHandle_t handle, int transa, int transb, int m, int n, int k, \
		const float *alpha, const float *A, int lda, const float *B, int ldb, const float *beta, \
		float *C, int ldc)) \
	X(cublasStatus_t, cublasGemmEx, (cublasHandle_t handle, int transa, int transb, int m, int n, int k, \
		const void *alpha, const void *A, int Atype, int lda, const void *B, int Btype, int ldb, \
		const void *beta, void *C, int Ctype, int ldc, int computeType, int algo))

#define AX_NVRTC_FUNCS(X) \
	X(const char *, nvrtcGetErrorString, (nvrtcResult result)) \
	X(nvrtcResult, nvrtcVersion, (int *major, int *minor)) \
	X(nvrtcResult, nvrtcGetNumSupportedArchs, (int *numArchs)) \
	X(nvrtcResult, nvrtcGetSupportedArchs, (int *supportedArchs)) \
	X(nvrtcResult, nvrtcCreateProgram, (nvrtcProgram *prog, const char *src, const char *name, \
		int numHeaders, const char *const *headers, const char *const *includeNames)) \
	X(nvrtcResult, nvrtcDestroyProgram, (nvrtcProgram *prog)) \
	X(nvrtcResult, nvrtcCompileProgram, (nvrtcProgram prog, int numOptions, const char *const *options)) \
	X(nvrtcResult, nvrtcGetPTXSize, (nvrtcProgram prog, size_t *ptxSizeRet)) \
	X(nvrtcResult, nvrtcGetPTX, (nvrtcProgram prog, char *ptx)) \
	X(nvrtcResult, nvrtcGetCUBINSize, (nvrtcProgram prog, size_t *cubinSizeRet)) \
	X(nvrtcResult, nvrtcGetCUBIN, (nvrtcProgram prog, char *cubin)) \
	X(nvrtcResult, nvrtcGetProgramLogSize, (nvrtcProgram prog, size_t *logSizeRet)) \
	X(nvrtcResult, nvrtcGetProgramLog, (nvrtcProgram prog, char *log))

#define AX_CUDNN_FUNCS(X) \
	X(size_t, cudnnGetVersion, (void)) \
	X(const char *, cudnnGetErrorString, (cudnnStatus_t status)) \
	X(cudnnStatus_t, cudnnCreate, (cudnnHandle_t *handle)) \
	X(cudnnStatus_t, cudnnDestroy, (cudnnHandle_t handle)) \
	X(cudnnStatus_t, cudnnSetStream, (cudnnHandle_t handle, cudaStream_t streamId)) \
	X(cudnnStatus_t, cudnnCreateTensorDescriptor, (cudnnTensorDescriptor_t *tensorDesc)) \
	X(cudnnStatus_t, cudnnSetTensor4dDescriptor, (cudnnTensorDescriptor_t tensorDesc, int format, \
		int dataType, int n, int c, int h, int w)) \
	X(cudnnStatus_t, cudnnDestroyTensorDescriptor, (cudnnTensorDescriptor_t tensorDesc)) \
	X(cudnnStatus_t, cudnnCreateFilterDescriptor, (cudnnFilterDescriptor_t *filterDesc)) \
	X(cudnnStatus_t, cudnnSetFilter4dDescriptor, (cudnnFilterDescriptor_t filterDesc, int dataType, \
		int format, int k, int c, int h, int w)) \
	X(cudnnStatus_t, cudnnDestroyFilterDescriptor, (cudnnFilterDescriptor_t filterDesc)) \
	X(cudnnStatus_t, cudnnAddTensor, (cudnnHandle_t handle, const void *alpha, \
		const cudnnTensorDescriptor_t aDesc, const void *A, const void *beta, \
		const cudnnTensorDescriptor_t cDesc, void *C)) \
	X(cudnnStatus_t, cudnnCreateActivationDescriptor, (cudnnActivationDescriptor_t *activationDesc)) \
	X(cudnnStatus_t, cudnnSetActivationDescriptor, (cudnnActivationDescriptor_t activationDesc, int mode, \
		int reluNanOpt, double coef)) \
	X(cudnnStatus_t, cudnnDestroyActivationDescriptor, (cudnnActivationDescriptor_t activationDesc)) \
	X(cudnnStatus_t, cudnnActivationForward, (cudnnHandle_t handle, cudnnActivationDescriptor_t activationDesc, \
		const void *alpha, const cudnnTensorDescriptor_t xDesc, const void *x, const void *beta, \
		const cudnnTensorDescriptor_t yDesc, void *y)) \
	X(cudnnStatus_t, cudnnActivationBackward, (cudnnHandle_t handle, cudnnActivationDescriptor_t activationDesc, \
		const void *alpha, const cudnnTensorDescriptor_t yDesc, const void *y, \
		const cudnnTensorDescriptor_t dyDesc, const void *dy, const cudnnTensorDescriptor_t xDesc, \
		const void *x, const void *beta, const cudnnTensorDescriptor_t dxDesc, void *dx)) \
	X(cudnnStatus_t, cudnnCreateLRNDescriptor, (cudnnLRNDescriptor_t *normDesc)) \
	X(cudnnStatus_t, cudnnSetLRNDescriptor, (cudnnLRNDescriptor_t normDesc, unsigned lrnN, double lrnAlpha, \
		double lrnBeta, double lrnK)) \
	X(cudnnStatus_t, cudnnDestroyLRNDescriptor, (cudnnLRNDescriptor_t lrnDesc)) \
	X(cudnnStatus_t, cudnnLRNCrossChannelForward, (cudnnHandle_t handle, cudnnLRNDescriptor_t normDesc, \
		int lrnMode, const void *alpha, const cudnnTensorDescriptor_t xDesc, const void *x, \
		const void *beta, const cudnnTensorDescriptor_t yDesc, void *y)) \
	X(cudnnStatus_t, cudnnLRNCrossChannelBackward, (cudnnHandle_t handle, cudnnLRNDescriptor_t normDesc, \
		int lrnMode, const void *alpha, const cudnnTensorDescriptor_t yDesc, const void *y, \
		const cudnnTensorDescriptor_t dyDesc, const void *dy, const cudnnTensorDescriptor_t xDesc, \
		const void *x, const void *beta, const cudnnTensorDescriptor_t dxDesc, void *dx)) \
	X(cudnnStatus_t, cudnnCreatePoolingDescriptor, (cudnnPoolingDescriptor_t *poolingDesc)) \
	X(cudnnStatus_t, cudnnSetPooling2dDescriptor, (cudnnPoolingDescriptor_t poolingDesc, int mode, \
		int maxpoolingNanOpt, int windowHeight, int windowWidth, int verticalPadding, \
		int horizontalPadding, int verticalStride, int horizontalStride)) \
	X(cudnnStatus_t, cudnnGetPooling2dForwardOutputDim, (const cudnnPoolingDescriptor_t poolingDesc, \
		const cudnnTensorDescriptor_t inputTensorDesc, int *n, int *c, int *h, int *w)) \
	X(cudnnStatus_t, cudnnDestroyPoolingDescriptor, (cudnnPoolingDescriptor_t poolingDesc)) \
	X(cudnnStatus_t, cudnnPoolingForward, (cudnnHandle_t handle, const cudnnPoolingDescriptor_t poolingDesc, \
		const void *alpha, const cudnnTensorDescriptor_t xDesc, const void *x, const void *beta, \
		const cudnnTensorDescriptor_t yDesc, void *y)) \
	X(cudnnStatus_t, cudnnPoolingBackward, (cudnnHandle_t handle, const cudnnPoolingDescriptor_t poolingDesc, \
		const void *alpha, const cudnnTensorDescriptor_t yDesc, const void *y, \
		const cudnnTensorDescriptor_t dyDesc, const void *dy, const cudnnTensorDescriptor_t xDesc, \
		const void *x, const void *beta, const cudnnTensorDescriptor_t dxDesc, void *dx)) \
	X(cudnnStatus_t, cudnnCreateConvolutionDescriptor, (cudnnConvolutionDescriptor_t *convDesc)) \
	X(cudnnStatus_t, cudnnDestroyConvolutionDescriptor, (cudnnConvolutionDescriptor_t convDesc)) \
	X(cudnnStatus_t, cudnnSetConvolution2dDescriptor, (cudnnConvolutionDescriptor_t convDesc, int pad_h, \
		int pad_w, int u, int v, int dilation_h, int dilation_w, int mode, int computeType)) \
	X(cudnnStatus_t, cudnnSetConvolutionGroupCount, (cudnnConvolutionDescriptor_t convDesc, int groupCount)) \
	X(cudnnStatus_t, cudnnSetConvolutionMathType, (cudnnConvolutionDescriptor_t convDesc, int mathType)) \
	X(cudnnStatus_t, cudnnGetConvolution2dForwardOutputDim, (const cudnnConvolutionDescriptor_t convDesc, \
		const cudnnTensorDescriptor_t inputTensorDesc, const cudnnFilterDescriptor_t filterDesc, \
		int *n, int *c, int *h, int *w)) \
	X(cudnnStatus_t, cudnnGetConvolutionForwardAlgorithm_v7, (cudnnHandle_t handle, \
		const cudnnTensorDescriptor_t srcDesc, const cudnnFilterDescriptor_t filterDesc, \
		const cudnnConvolutionDescriptor_t convDesc, const cudnnTensorDescriptor_t destDesc, \
		const int requestedAlgoCount, int *returnedAlgoCount, axConvAlgoPerf *perfResults)) \
	X(cudnnStatus_t, cudnnFindConvolutionForwardAlgorithmEx, (cudnnHandle_t handle, \
		const cudnnTensorDescriptor_t xDesc, const void *x, const cudnnFilterDescriptor_t wDesc, \
		const void *w, const cudnnConvolutionDescriptor_t convDesc, const cudnnTensorDescriptor_t yDesc, \
		void *y, const int requestedAlgoCount, int *returnedAlgoCount, axConvAlgoPerf *perfResults, \
		void *workSpace, size_t workSpaceSizeInBytes)) \
	X(cudnnStatus_t, cudnnGetConvolutionForwardWorkspaceSize, (cudnnHandle_t handle, \
		const cudnnTensorDescriptor_t xDesc, const cudnnFilterDescriptor_t wDesc, \
		const cudnnConvolutionDescriptor_t convDesc, const cudnnTensorDescriptor_t yDesc, int algo, \
		size_t *sizeInBytes)) \
	X(cudnnStatus_t, cudnnConvolutionForward, (cudnnHandle_t handle, const void *alpha, \
		const cudnnTensorDescriptor_t xDesc, const void *x, const cudnnFilterDescriptor_t wDesc, \
		const void *w, const cudnnConvolutionDescriptor_t convDesc, int algo, void *workSpace, \
		size_t workSpaceSizeInBytes, const void *beta, const cudnnTensorDescriptor_t yDesc, void *y)) \
	X(cudnnStatus_t, cudnnGetConvolutionBackwardDataAlgorithm_v7, (cudnnHandle_t handle, \
		const cudnnFilterDescriptor_t filterDesc, const cudnnTensorDescriptor_t diffDesc, \
		const cudnnConvolutionDescriptor_t convDesc, const cudnnTensorDescriptor_t gradDesc, \
		const int requestedAlgoCount, int *returnedAlgoCount, axConvAlgoPerf *perfResults)) \
	X(cudnnStatus_t, cudnnFindConvolutionBackwardDataAlgorithmEx, (cudnnHandle_t handle, \
		const cudnnFilterDescriptor_t wDesc, const void *w, const cudnnTensorDescriptor_t dyDesc, \
		const void *dy, const cudnnConvolutionDescriptor_t convDesc, const cudnnTensorDescriptor_t dxDesc, \
		void *dx, const int requestedAlgoCount, int *returnedAlgoCount, axConvAlgoPerf *perfResults, \
		void *workSpace, size_t workSpaceSizeInBytes)) \
	X(cudnnStatus_t, cudnnGetConvolutionBackwardDataWorkspaceSize, (cudnnHandle_t handle, \
		const cudnnFilterDescriptor_t wDesc, const cudnnTensorDescriptor_t dyDesc, \
		const cudnnConvolutionDescriptor_t convDesc, const cudnnTensorDescriptor_t dxDesc, int algo, \
		size_t *sizeInBytes)) \
	X(cudnnStatus_t, cudnnConvolutionBackwardData, (cudnnHandle_t handle, const void *alpha, \
		const cudnnFilterDescriptor_t wDesc, const void *w, const cudnnTensorDescriptor_t dyDesc, \
		const void *dy, const cudnnConvolutionDescriptor_t convDesc, int algo, void *workSpace, \
		size_t workSpaceSizeInBytes, const void *beta, const cudnnTensorDescriptor_t dxDesc, void *dx)) \
	X(cudnnStatus_t, cudnnGetConvolutionBackwardFilterAlgorithm_v7, (cudnnHandle_t handle, \
		const cudnnTensorDescriptor_t srcDesc, const cudnnTensorDescriptor_t diffDesc, \
		const cudnnConvolutionDescriptor_t convDesc, const cudnnFilterDescriptor_t gradDesc, \
		const int requestedAlgoCount, int *returnedAlgoCount, axConvAlgoPerf *perfResults)) \
	X(cudnnStatus_t, cudnnFindConvolutionBackwardFilterAlgorithmEx, (cudnnHandle_t handle, \
		const cudnnTensorDescriptor_t xDesc, const void *x, const cudnnTensorDescriptor_t dyDesc, \
		const void *y, const cudnnConvolutionDescriptor_t convDesc, const cudnnFilterDescriptor_t dwDesc, \
		void *dw, const int requestedAlgoCount, int *returnedAlgoCount, axConvAlgoPerf *perfResults, \
		void *workSpace, size_t workSpaceSizeInBytes)) \
	X(cudnnStatus_t, cudnnGetConvolutionBackwardFilterWorkspaceSize, (cudnnHandle_t handle, \
		const cudnnTensorDescriptor_t xDesc, const cudnnTensorDescriptor_t dyDesc, \
		const cudnnConvolutionDescriptor_t convDesc, const cudnnFilterDescriptor_t gradDesc, int algo, \
		size_t *sizeInBytes)) \
	X(cudnnStatus_t, cudnnConvolutionBackwardFilter, (cudnnHandle_t handle, const void *alpha, \
		const cudnnTensorDescriptor_t xDesc, const void *x, const cudnnTensorDescriptor_t dyDesc, \
		const void *dy, const cudnnConvolutionDescriptor_t convDesc, int algo, void *workSpace, \
		size_t workSpaceSizeInBytes, const void *beta, const cudnnFilterDescriptor_t dwDesc, void *dw)) \
	X(cudnnStatus_t, cudnnConvolutionBackwardBias, (cudnnHandle_t handle, const void *alpha, \
		const cudnnTensorDescriptor_t dyDesc, const void *dy, const void *beta, \
		const cudnnTensorDescriptor_t dbDesc, void *db))

/* cuDNN 9 only: the detail behind the last error; absent from cuDNN 8, so optional. */
#define AX_CUDNN_OPTIONAL_FUNCS(X) \
	X(void, cudnnGetLastErrorString, (char *message, size_t max_size))

#define AX_DECLARE_PTR(ret, name, params) extern ret(*ax_##name) params;
AX_CUDART_FUNCS(AX_DECLARE_PTR)
AX_CUDA_FUNCS(AX_DECLARE_PTR)
AX_CUBLAS_FUNCS(AX_DECLARE_PTR)
AX_NVRTC_FUNCS(AX_DECLARE_PTR)
AX_CUDNN_FUNCS(AX_DECLARE_PTR)
AX_CUDNN_OPTIONAL_FUNCS(AX_DECLARE_PTR)

/* ---- loader (axcuda.c) ---- */
enum { AX_LIB_CUDART, AX_LIB_CUDA, AX_LIB_CUBLAS, AX_LIB_NVRTC, AX_LIB_CUDNN, AX_LIB_COUNT };
/* ax_dlopen opens path with RTLD_NOW|RTLD_GLOBAL; on failure it copies dlerror() into
 * err (of errlen bytes) and returns NULL. */
void *ax_dlopen(const char *path, char *err, size_t errlen);
void ax_dlclose(void *handle);
/* ax_dlpath writes the file a symbol of handle was loaded from (dladdr) into out. */
int ax_dlpath(void *handle, const char *symbol, char *out, size_t outlen);
/* ax_resolve looks up every function of library lib in handles[0..nhandles) (the first
 * handle that has a name wins) and installs the pointers only if all resolve. It
 * returns 0, or -1 with *missing set to the first name not found. */
int ax_resolve(int lib, void **handles, int nhandles, const char **missing);
/* ax_loaded reports whether library lib has been resolved. */
int ax_loaded(int lib);
/* Per-thread record of the device and context the thread was bound to (see axcuda.c). */
int ax_is_bound(int dev, CUcontext ctx, unsigned long long gen);
void ax_mark_bound(int dev, CUcontext ctx, unsigned long long gen);

#endif
