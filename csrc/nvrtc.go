package csrc

/*
#include <stdlib.h>
#include "axwrap.h"
*/
import "C"

import "unsafe"

// NVRTC calls, one Go function per C call.

func NvrtcVersion() (major, minor int, err error) {
	var a, b C.int
	err = nvrtcErr("nvrtcVersion", C.axw_nvrtcVersion(&a, &b))
	return int(a), int(b), err
}

// NvrtcSupportedArchs is nvrtcGetNumSupportedArchs then nvrtcGetSupportedArchs:
// the compute capabilities (75, 80, 90, ...) this NVRTC can compile for.
func NvrtcSupportedArchs() ([]int, error) {
	var n C.int
	if err := nvrtcErr("nvrtcGetNumSupportedArchs", C.axw_nvrtcGetNumSupportedArchs(&n)); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, nil
	}
	archs := make([]C.int, int(n))
	if err := nvrtcErr("nvrtcGetSupportedArchs", C.axw_nvrtcGetSupportedArchs(&archs[0])); err != nil {
		return nil, err
	}
	out := make([]int, len(archs))
	for i, a := range archs {
		out[i] = int(a)
	}
	return out, nil
}

func NvrtcCreateProgram(src, name string) (Program, error) {
	cs, cn := C.CString(src), C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	defer C.free(unsafe.Pointer(cn))
	var p C.nvrtcProgram
	err := nvrtcErr("nvrtcCreateProgram", C.axw_nvrtcCreateProgram(&p, cs, cn))
	return Program(p), err
}

func NvrtcDestroyProgram(p Program) error {
	cp := C.nvrtcProgram(p)
	return nvrtcErr("nvrtcDestroyProgram", C.axw_nvrtcDestroyProgram(&cp))
}

func NvrtcCompileProgram(p Program, options []string) error {
	// The option strings and the array of pointers to them live in C memory: a Go
	// array of pointers to Go memory may not be passed to C.
	arr := (**C.char)(C.calloc(C.size_t(len(options)+1), C.size_t(unsafe.Sizeof(uintptr(0)))))
	defer C.free(unsafe.Pointer(arr))
	opts := unsafe.Slice(arr, len(options)+1)
	for i, o := range options {
		opts[i] = C.CString(o)
	}
	defer func() {
		for _, o := range opts[:len(options)] {
			C.free(unsafe.Pointer(o))
		}
	}()
	return nvrtcErr("nvrtcCompileProgram", C.axw_nvrtcCompileProgram(C.nvrtcProgram(p), C.int(len(options)), arr))
}

func NvrtcGetProgramLog(p Program) (string, error) {
	var n C.size_t
	if err := nvrtcErr("nvrtcGetProgramLogSize", C.axw_nvrtcGetProgramLogSize(C.nvrtcProgram(p), &n)); err != nil || n == 0 {
		return "", err
	}
	buf := make([]byte, int(n))
	if err := nvrtcErr("nvrtcGetProgramLog", C.axw_nvrtcGetProgramLog(C.nvrtcProgram(p), (*C.char)(unsafe.Pointer(&buf[0])))); err != nil {
		return "", err
	}
	return C.GoString((*C.char)(unsafe.Pointer(&buf[0]))), nil
}

// NvrtcGetCUBIN returns the compiled machine code (the program was compiled for a
// real sm_XY architecture).
func NvrtcGetCUBIN(p Program) ([]byte, error) {
	var n C.size_t
	if err := nvrtcErr("nvrtcGetCUBINSize", C.axw_nvrtcGetCUBINSize(C.nvrtcProgram(p), &n)); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, &Error{Lib: "nvrtc", Call: "nvrtcGetCUBINSize", Code: 3, Name: "NVRTC_ERROR_INVALID_INPUT", Detail: "no CUBIN (compiled for a virtual architecture?)"}
	}
	buf := make([]byte, int(n))
	return buf, nvrtcErr("nvrtcGetCUBIN", C.axw_nvrtcGetCUBIN(C.nvrtcProgram(p), (*C.char)(unsafe.Pointer(&buf[0]))))
}

// NvrtcGetPTX returns the PTX text, NUL-terminated as cuModuleLoadData wants it.
func NvrtcGetPTX(p Program) ([]byte, error) {
	var n C.size_t
	if err := nvrtcErr("nvrtcGetPTXSize", C.axw_nvrtcGetPTXSize(C.nvrtcProgram(p), &n)); err != nil {
		return nil, err
	}
	buf := make([]byte, int(n)+1)
	return buf, nvrtcErr("nvrtcGetPTX", C.axw_nvrtcGetPTX(C.nvrtcProgram(p), (*C.char)(unsafe.Pointer(&buf[0]))))
}
