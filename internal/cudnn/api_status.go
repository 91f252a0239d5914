package cudnn

/*
#include <stdlib.h>
#include "axwrap.h"
*/
import "C"

import "strings"

// devPtr is a device address. It is an integer on purpose: Go never dereferences it
// and the garbage collector must not look at it.
type devPtr uintptr

func (p devPtr) c() C.uintptr_t { return C.uintptr_t(p) }

// Library indices of csrc/axcuda.h.
const (
	libCudart = C.AX_LIB_CUDART
	libCuda   = C.AX_LIB_CUDA
	libCublas = C.AX_LIB_CUBLAS
	libNvrtc  = C.AX_LIB_NVRTC
	libCudnn  = C.AX_LIB_CUDNN
)

func loaded(lib C.int) bool { return C.ax_loaded(lib) != 0 }

// The functions below turn a status code into an *Error, nil for success, naming the
// status with the library's own functions when it is loaded.

func cudaErr(call string, st C.cudaError_t) error {
	if st == 0 {
		return nil
	}
	e := &Error{Lib: "cudart", Call: call, Code: int(st)}
	if loaded(libCudart) {
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
	if loaded(libCuda) {
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
	if loaded(libCublas) {
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
	if loaded(libCudnn) {
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
	if loaded(libNvrtc) {
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

// libLoaded reports whether the named library's functions are resolved.
func libLoaded(lib string) bool {
	switch lib {
	case "cudart":
		return loaded(libCudart)
	case "cuda":
		return loaded(libCuda)
	case "cublas":
		return loaded(libCublas)
	case "cudnn":
		return loaded(libCudnn)
	case "nvrtc":
		return loaded(libNvrtc)
	}
	return false
}
