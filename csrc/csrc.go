// Package csrc is the C layer over the CUDA libraries (the runtime, the driver,
// cuBLAS, cuDNN 9 and NVRTC) and its Go face: one Go function per C call, each
// returning an error (*Error) built from the library's status.
//
// Nothing CUDA is linked. The prototypes the project calls are declared by the
// project itself (axcuda.h); axcuda.c opens the libraries with dlopen and fills a
// pointer per function with dlsym; axwrap.h holds one C wrapper per call, since cgo
// cannot call through a function pointer. Which library files to open is decided
// above, in internal/cudnn.
//
// Why a package of its own: the go command hashes only the files of a package's
// own folder (and cgo compiles only the C files there), so C shared by a package in
// another folder, through #include, is invisible to the build cache and an edit to it
// is not rebuilt. Here every C file is in the package that compiles it, and no other
// package includes these headers: an edit to any of them rebuilds this package, and
// the binaries that link it, with a plain `go build`. Handles and constants reach Go
// as this package's own types, since cgo's C types are private to each package.
//
// A value the C call writes through a pointer is read in the statement after the
// call: Go leaves unspecified whether `return T(v), f(&v)` reads v before or after
// calling f.
package csrc

/*
#cgo CFLAGS: -O2
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "axwrap.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// DevPtr is a device address. It is an integer on purpose: Go never dereferences it
// and the garbage collector must not look at it.
type DevPtr uintptr

func (p DevPtr) c() C.uintptr_t { return C.uintptr_t(p) }

// Handles of the libraries, opaque to Go.
type (
	Stream         C.cudaStream_t
	Event          C.cudaEvent_t
	Device         C.CUdevice
	Context        C.CUcontext
	Module         C.CUmodule
	Function       C.CUfunction
	CublasHandle   C.cublasHandle_t
	CudnnHandle    C.cudnnHandle_t
	TensorDesc     C.cudnnTensorDescriptor_t
	FilterDesc     C.cudnnFilterDescriptor_t
	ConvDesc       C.cudnnConvolutionDescriptor_t
	PoolDesc       C.cudnnPoolingDescriptor_t
	LRNDesc        C.cudnnLRNDescriptor_t
	ActivationDesc C.cudnnActivationDescriptor_t
	Program        C.nvrtcProgram
)

// Lib names one of the libraries of axcuda.h's function tables.
type Lib C.int

const (
	LibCudart Lib = C.AX_LIB_CUDART
	LibCuda   Lib = C.AX_LIB_CUDA
	LibCublas Lib = C.AX_LIB_CUBLAS
	LibNvrtc  Lib = C.AX_LIB_NVRTC
	LibCudnn  Lib = C.AX_LIB_CUDNN
)

// Loaded reports whether lib's functions are resolved. Call no function of a library
// before it is: the pointers start NULL.
func Loaded(lib Lib) bool { return C.ax_loaded(C.int(lib)) != 0 }

// Dlopen opens the shared library at path (RTLD_NOW | RTLD_GLOBAL); the error is
// dlerror's text.
func Dlopen(path string) (unsafe.Pointer, error) {
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	var msg [1024]C.char
	h := C.ax_dlopen(cs, &msg[0], C.size_t(len(msg)))
	if h == nil {
		return nil, fmt.Errorf("%s", C.GoString(&msg[0]))
	}
	return h, nil
}

// Dlclose closes a handle of Dlopen (nil is ignored).
func Dlclose(h unsafe.Pointer) { C.ax_dlclose(h) }

// Dlpath is the file handle's symbol came from (dladdr), or fallback.
func Dlpath(h unsafe.Pointer, symbol, fallback string) string {
	cs := C.CString(symbol)
	defer C.free(unsafe.Pointer(cs))
	var out [4096]C.char
	if C.ax_dlpath(h, cs, &out[0], C.size_t(len(out))) != 0 {
		return fallback
	}
	return C.GoString(&out[0])
}

// Resolve fills the function table of lib from handles (the first handle that has a
// name wins), all or nothing, or says which symbol is missing.
func Resolve(lib Lib, handles []unsafe.Pointer) (missing string, ok bool) {
	if len(handles) == 0 {
		return "(no library)", false
	}
	arr := (*unsafe.Pointer)(C.calloc(C.size_t(len(handles)), C.size_t(unsafe.Sizeof(uintptr(0)))))
	defer C.free(unsafe.Pointer(arr))
	copy(unsafe.Slice(arr, len(handles)), handles)
	var m *C.char
	if C.ax_resolve(C.int(lib), arr, C.int(len(handles)), &m) != 0 {
		return C.GoString(m), false
	}
	return "", true
}

// IsBound reports whether the calling OS thread is already bound to dev and ctx for
// the backend numbered gen (axcuda.c keeps the record per thread).
func IsBound(dev int, ctx Context, gen uint64) bool {
	return C.ax_is_bound(C.int(dev), C.CUcontext(ctx), C.ulonglong(gen)) != 0
}

// MarkBound records that the calling OS thread is bound to dev and ctx for gen.
func MarkBound(dev int, ctx Context, gen uint64) {
	C.ax_mark_bound(C.int(dev), C.CUcontext(ctx), C.ulonglong(gen))
}
