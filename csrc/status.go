package csrc

/*
#include "axwrap.h"
*/
import "C"

import (
	"fmt"
	"strings"
)

// Error is a failed library call: which library, which call, the status code and the
// library's own name and description of it.
type Error struct {
	Lib    string // "cudart", "cuda", "cublas", "cudnn", "nvrtc"
	Call   string // the C function, e.g. "cudnnConvolutionForward"
	Code   int
	Name   string // e.g. "CUDNN_STATUS_BAD_PARAM"; "" when unknown
	Detail string // the library's description, when it has one beyond the name
}

func (e *Error) Error() string {
	name := e.Name
	if name == "" {
		name = fmt.Sprintf("%s status %d", e.Lib, e.Code)
	} else {
		name = fmt.Sprintf("%s (%d)", name, e.Code)
	}
	if e.Detail != "" && e.Detail != e.Name {
		return fmt.Sprintf("%s: %s: %s", e.Call, name, e.Detail)
	}
	return fmt.Sprintf("%s: %s", e.Call, name)
}

// The functions below turn a status code into an *Error, nil for success, naming the
// status with the library's own functions when it is loaded.

func cudaErr(call string, st C.cudaError_t) error {
	if st == 0 {
		return nil
	}
	e := &Error{Lib: "cudart", Call: call, Code: int(st)}
	if Loaded(LibCudart) {
		e.Name = C.GoString(C.axw_cudaGetErrorName(st))
		e.Detail = C.GoString(C.axw_cudaGetErrorString(st))
	} else {
		e.Name = fallbackName(e.Lib, e.Code)
	}
	return e
}

func cuErr(call string, st C.CUresult) error {
	if st == 0 {
		return nil
	}
	e := &Error{Lib: "cuda", Call: call, Code: int(st)}
	if Loaded(LibCuda) {
		var s *C.char
		if C.axw_cuGetErrorName(st, &s) == 0 && s != nil {
			e.Name = C.GoString(s)
		}
		if C.axw_cuGetErrorString(st, &s) == 0 && s != nil {
			e.Detail = C.GoString(s)
		}
	}
	if e.Name == "" {
		e.Name = fallbackName(e.Lib, e.Code)
	}
	return e
}

func cublasErr(call string, st C.cublasStatus_t) error {
	if st == 0 {
		return nil
	}
	e := &Error{Lib: "cublas", Call: call, Code: int(st)}
	if Loaded(LibCublas) {
		e.Name = C.GoString(C.axw_cublasGetStatusName(st))
		e.Detail = C.GoString(C.axw_cublasGetStatusString(st))
	} else {
		e.Name = fallbackName(e.Lib, e.Code)
	}
	return e
}

func cudnnErr(call string, st C.cudnnStatus_t) error {
	if st == 0 {
		return nil
	}
	e := &Error{Lib: "cudnn", Call: call, Code: int(st)}
	if Loaded(LibCudnn) {
		e.Name = C.GoString(C.axw_cudnnGetErrorString(st))
		// cuDNN 9 keeps a sentence on what went wrong (which parameter, which limit).
		var buf [512]C.char
		C.axw_cudnnGetLastErrorString(&buf[0], C.size_t(len(buf)))
		e.Detail = strings.TrimSpace(C.GoString(&buf[0]))
	} else {
		e.Name = fallbackName(e.Lib, e.Code)
	}
	return e
}

func nvrtcErr(call string, st C.nvrtcResult) error {
	if st == 0 {
		return nil
	}
	e := &Error{Lib: "nvrtc", Call: call, Code: int(st)}
	if Loaded(LibNvrtc) {
		e.Name = C.GoString(C.axw_nvrtcGetErrorString(st))
	} else {
		e.Name = fallbackName(e.Lib, e.Code)
	}
	return e
}

// statusError is the error of a status code of the named library ("cudart", "cuda",
// "cublas", "cudnn", "nvrtc"), for code that has the code as a plain int (tests).
func statusError(lib, call string, code int) error {
	switch lib {
	case "cudart":
		return cudaErr(call, C.cudaError_t(code))
	case "cuda":
		return cuErr(call, C.CUresult(code))
	case "cublas":
		return cublasErr(call, C.cublasStatus_t(code))
	case "cudnn":
		return cudnnErr(call, C.cudnnStatus_t(code))
	case "nvrtc":
		return nvrtcErr(call, C.nvrtcResult(code))
	}
	return &Error{Lib: lib, Call: call, Code: code}
}

// The status names below are used when the library that would name a status is not
// loaded (an error from the loader itself, or a test); they are the enumerators of
// the vendor headers: driver_types.h (cudaError), cuda.h (CUresult), cublas_api.h,
// cudnn_graph.h (cuDNN 9's categorised codes) and nvrtc.h.

var cudaErrorNames = map[int]string{
	0: "cudaSuccess", 1: "cudaErrorInvalidValue", 2: "cudaErrorMemoryAllocation",
	3: "cudaErrorInitializationError", 4: "cudaErrorCudartUnloading",
	35: "cudaErrorInsufficientDriver", 100: "cudaErrorNoDevice", 101: "cudaErrorInvalidDevice",
	209: "cudaErrorNoKernelImageForDevice", 222: "cudaErrorUnsupportedPtxVersion",
	400: "cudaErrorInvalidResourceHandle", 700: "cudaErrorIllegalAddress",
	719: "cudaErrorLaunchFailure", 999: "cudaErrorUnknown",
}

var cuResultNames = map[int]string{
	0: "CUDA_SUCCESS", 1: "CUDA_ERROR_INVALID_VALUE", 2: "CUDA_ERROR_OUT_OF_MEMORY",
	3: "CUDA_ERROR_NOT_INITIALIZED", 4: "CUDA_ERROR_DEINITIALIZED", 100: "CUDA_ERROR_NO_DEVICE",
	101: "CUDA_ERROR_INVALID_DEVICE", 200: "CUDA_ERROR_INVALID_IMAGE", 201: "CUDA_ERROR_INVALID_CONTEXT",
	209: "CUDA_ERROR_NO_BINARY_FOR_GPU", 218: "CUDA_ERROR_INVALID_PTX",
	222: "CUDA_ERROR_UNSUPPORTED_PTX_VERSION", 400: "CUDA_ERROR_INVALID_HANDLE", 500: "CUDA_ERROR_NOT_FOUND",
	700: "CUDA_ERROR_ILLEGAL_ADDRESS", 701: "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
	719: "CUDA_ERROR_LAUNCH_FAILED", 804: "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE",
	999: "CUDA_ERROR_UNKNOWN",
}

var cublasStatusNames = map[int]string{
	0: "CUBLAS_STATUS_SUCCESS", 1: "CUBLAS_STATUS_NOT_INITIALIZED", 3: "CUBLAS_STATUS_ALLOC_FAILED",
	7: "CUBLAS_STATUS_INVALID_VALUE", 8: "CUBLAS_STATUS_ARCH_MISMATCH", 11: "CUBLAS_STATUS_MAPPING_ERROR",
	13: "CUBLAS_STATUS_EXECUTION_FAILED", 14: "CUBLAS_STATUS_INTERNAL_ERROR",
	15: "CUBLAS_STATUS_NOT_SUPPORTED", 16: "CUBLAS_STATUS_LICENSE_ERROR",
}

var cudnnStatusNames = map[int]string{
	0:    "CUDNN_STATUS_SUCCESS",
	1001: "CUDNN_STATUS_NOT_INITIALIZED", 1002: "CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH",
	1004: "CUDNN_STATUS_DEPRECATED", 1005: "CUDNN_STATUS_LICENSE_ERROR",
	1008: "CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED",
	2000: "CUDNN_STATUS_BAD_PARAM", 2001: "CUDNN_STATUS_INVALID_VALUE",
	2002: "CUDNN_STATUS_BAD_PARAM_NULL_POINTER", 2003: "CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER",
	2007: "CUDNN_STATUS_BAD_PARAM_STREAM_MISMATCH", 2008: "CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH",
	3000: "CUDNN_STATUS_NOT_SUPPORTED", 3002: "CUDNN_STATUS_NOT_SUPPORTED_SHAPE",
	3005: "CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER",
	3006: "CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDART",
	3007: "CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH",
	3008: "CUDNN_STATUS_NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING",
	3009: "CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE",
	4000: "CUDNN_STATUS_INTERNAL_ERROR", 4001: "CUDNN_STATUS_INTERNAL_ERROR_COMPILATION_FAILED",
	4003: "CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED",
	4004: "CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED",
	5000: "CUDNN_STATUS_EXECUTION_FAILED", 5001: "CUDNN_STATUS_EXECUTION_FAILED_CUDA_DRIVER",
	5002: "CUDNN_STATUS_EXECUTION_FAILED_CUBLAS", 5003: "CUDNN_STATUS_EXECUTION_FAILED_CUDART",
}

var nvrtcResultNames = map[int]string{
	0: "NVRTC_SUCCESS", 1: "NVRTC_ERROR_OUT_OF_MEMORY", 2: "NVRTC_ERROR_PROGRAM_CREATION_FAILURE",
	3: "NVRTC_ERROR_INVALID_INPUT", 4: "NVRTC_ERROR_INVALID_PROGRAM", 5: "NVRTC_ERROR_INVALID_OPTION",
	6: "NVRTC_ERROR_COMPILATION", 7: "NVRTC_ERROR_BUILTIN_OPERATION_FAILURE",
	8: "NVRTC_ERROR_NO_NAME_EXPRESSIONS_AFTER_COMPILATION", 9: "NVRTC_ERROR_NO_LOWERED_NAMES_BEFORE_COMPILATION",
	10: "NVRTC_ERROR_NAME_EXPRESSION_NOT_VALID", 11: "NVRTC_ERROR_INTERNAL_ERROR",
}

// fallbackName names a status from the tables above; cuDNN 9's codes fall back to
// their category (the thousands) when the exact code is not listed.
func fallbackName(lib string, code int) string {
	var m map[int]string
	switch lib {
	case "cudart":
		m = cudaErrorNames
	case "cuda":
		m = cuResultNames
	case "cublas":
		m = cublasStatusNames
	case "cudnn":
		m = cudnnStatusNames
	case "nvrtc":
		m = nvrtcResultNames
	}
	if n, ok := m[code]; ok {
		return n
	}
	if lib == "cudnn" && code >= 1000 {
		if n, ok := m[code/1000*1000]; ok {
			return n + "_*"
		}
	}
	return ""
}
