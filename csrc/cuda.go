package csrc

/*
#include <stdlib.h>
#include "axwrap.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// CUDA runtime and driver calls, one Go function per C call.

func CudaRuntimeGetVersion() (int, error) {
	var v C.int
	err := cudaErr("cudaRuntimeGetVersion", C.axw_cudaRuntimeGetVersion(&v))
	return int(v), err
}

func CudaSetDevice(d int) error {
	return cudaErr("cudaSetDevice", C.axw_cudaSetDevice(C.int(d)))
}

func CudaMalloc(bytes int64) (DevPtr, error) {
	var p C.uintptr_t
	err := cudaErr("cudaMalloc", C.axw_cudaMalloc(&p, C.size_t(bytes)))
	return DevPtr(p), err
}

func CudaFree(p DevPtr) error {
	return cudaErr("cudaFree", C.axw_cudaFree(p.c()))
}

func CudaMemsetAsync(p DevPtr, value int, bytes int64, s Stream) error {
	return cudaErr("cudaMemsetAsync", C.axw_cudaMemsetAsync(p.c(), C.int(value), C.size_t(bytes), C.cudaStream_t(s)))
}

func CudaMemcpyDtoD(dst, src DevPtr, bytes int64, s Stream) error {
	return cudaErr("cudaMemcpyAsync(DeviceToDevice)", C.axw_cudaMemcpyAsyncDtoD(dst.c(), src.c(), C.size_t(bytes), C.cudaStream_t(s)))
}

// CudaMemcpy2DDefault copies rows of width bytes between device buffers of any GPU.
func CudaMemcpy2DDefault(dst DevPtr, dpitch int64, src DevPtr, spitch, width, rows int64, s Stream) error {
	return cudaErr("cudaMemcpy2DAsync", C.axw_cudaMemcpy2DAsyncDefault(dst.c(), C.size_t(dpitch), src.c(), C.size_t(spitch),
		C.size_t(width), C.size_t(rows), C.cudaStream_t(s)))
}

func CudaDeviceCanAccessPeer(dev, peer int) (bool, error) {
	var can C.int
	err := cudaErr("cudaDeviceCanAccessPeer", C.axw_cudaDeviceCanAccessPeer(&can, C.int(dev), C.int(peer)))
	return can != 0, err
}

func CudaDeviceEnablePeerAccess(peer int) error {
	return cudaErr("cudaDeviceEnablePeerAccess", C.axw_cudaDeviceEnablePeerAccess(C.int(peer)))
}

// CudaMemcpyHtoDSync copies host to device and waits for the stream (see axwrap.h).
func CudaMemcpyHtoDSync(dst DevPtr, host unsafe.Pointer, bytes int64, s Stream) error {
	return cudaErr("cudaMemcpyAsync(HostToDevice)", C.axw_cudaMemcpyHtoDSync(dst.c(), host, C.size_t(bytes), C.cudaStream_t(s)))
}

// CudaMemcpyDtoHSync copies device to host and waits for the stream.
func CudaMemcpyDtoHSync(host unsafe.Pointer, src DevPtr, bytes int64, s Stream) error {
	return cudaErr("cudaMemcpyAsync(DeviceToHost)", C.axw_cudaMemcpyDtoHSync(host, src.c(), C.size_t(bytes), C.cudaStream_t(s)))
}

// CudaMallocHost allocates page-locked host memory (C memory, not Go's).
func CudaMallocHost(bytes int64) (unsafe.Pointer, error) {
	var p unsafe.Pointer
	err := cudaErr("cudaMallocHost", C.axw_cudaMallocHost(&p, C.size_t(bytes)))
	return p, err
}

func CudaFreeHost(p unsafe.Pointer) error {
	return cudaErr("cudaFreeHost", C.axw_cudaFreeHost(p))
}

// CudaMemcpyHtoDAsync queues a copy from page-locked host memory; it returns before
// the copy has read host.
func CudaMemcpyHtoDAsync(dst DevPtr, host unsafe.Pointer, bytes int64, s Stream) error {
	return cudaErr("cudaMemcpyAsync(HostToDevice)", C.axw_cudaMemcpyAsyncHtoD(dst.c(), host, C.size_t(bytes), C.cudaStream_t(s)))
}

func CudaEventCreateDisableTiming() (Event, error) {
	var e C.cudaEvent_t
	err := cudaErr("cudaEventCreateWithFlags", C.axw_cudaEventCreateDisableTiming(&e))
	return Event(e), err
}

func CudaEventDestroy(e Event) error {
	return cudaErr("cudaEventDestroy", C.axw_cudaEventDestroy(C.cudaEvent_t(e)))
}

func CudaEventRecord(e Event, s Stream) error {
	return cudaErr("cudaEventRecord", C.axw_cudaEventRecord(C.cudaEvent_t(e), C.cudaStream_t(s)))
}

func CudaEventSynchronize(e Event) error {
	return cudaErr("cudaEventSynchronize", C.axw_cudaEventSynchronize(C.cudaEvent_t(e)))
}

func CudaStreamWaitEvent(s Stream, e Event) error {
	return cudaErr("cudaStreamWaitEvent", C.axw_cudaStreamWaitEvent(C.cudaStream_t(s), C.cudaEvent_t(e)))
}

func CudaStreamCreateNonBlocking() (Stream, error) {
	var s C.cudaStream_t
	err := cudaErr("cudaStreamCreateWithFlags", C.axw_cudaStreamCreateNonBlocking(&s))
	return Stream(s), err
}

func CudaStreamDestroy(s Stream) error {
	return cudaErr("cudaStreamDestroy", C.axw_cudaStreamDestroy(C.cudaStream_t(s)))
}

func CudaStreamSynchronize(s Stream) error {
	return cudaErr("cudaStreamSynchronize", C.axw_cudaStreamSynchronize(C.cudaStream_t(s)))
}

func CudaMemGetInfo() (free, total int64, err error) {
	var f, t C.size_t
	err = cudaErr("cudaMemGetInfo", C.axw_cudaMemGetInfo(&f, &t))
	return int64(f), int64(t), err
}

// Device attributes of cuDeviceGetAttribute.
const (
	AttrMultiprocessorCount    = C.AX_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
	AttrComputeCapabilityMajor = C.AX_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
	AttrComputeCapabilityMinor = C.AX_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
)

func CuInit() error { return cuErr("cuInit", C.axw_cuInit()) }

func CuDriverGetVersion() (int, error) {
	var v C.int
	err := cuErr("cuDriverGetVersion", C.axw_cuDriverGetVersion(&v))
	return int(v), err
}

func CuDeviceGetCount() (int, error) {
	var n C.int
	err := cuErr("cuDeviceGetCount", C.axw_cuDeviceGetCount(&n))
	return int(n), err
}

func CuDeviceGet(ordinal int) (Device, error) {
	var d C.CUdevice
	err := cuErr("cuDeviceGet", C.axw_cuDeviceGet(&d, C.int(ordinal)))
	return Device(d), err
}

func CuDeviceGetName(d Device) (string, error) {
	var buf [256]C.char
	if err := cuErr("cuDeviceGetName", C.axw_cuDeviceGetName(&buf[0], C.int(len(buf)), C.CUdevice(d))); err != nil {
		return "", err
	}
	return C.GoString(&buf[0]), nil
}

func CuDeviceTotalMem(d Device) (int64, error) {
	var n C.size_t
	err := cuErr("cuDeviceTotalMem_v2", C.axw_cuDeviceTotalMem(&n, C.CUdevice(d)))
	return int64(n), err
}

// CuDeviceGetAttribute reads attr, one of the Attr* constants.
func CuDeviceGetAttribute(attr int, d Device) (int, error) {
	var v C.int
	err := cuErr("cuDeviceGetAttribute", C.axw_cuDeviceGetAttribute(&v, C.int(attr), C.CUdevice(d)))
	return int(v), err
}

func CuDevicePrimaryCtxRetain(d Device) (Context, error) {
	var c C.CUcontext
	err := cuErr("cuDevicePrimaryCtxRetain", C.axw_cuDevicePrimaryCtxRetain(&c, C.CUdevice(d)))
	return Context(c), err
}

func CuDevicePrimaryCtxRelease(d Device) error {
	return cuErr("cuDevicePrimaryCtxRelease_v2", C.axw_cuDevicePrimaryCtxRelease(C.CUdevice(d)))
}

func CuCtxSetCurrent(c Context) error {
	return cuErr("cuCtxSetCurrent", C.axw_cuCtxSetCurrent(C.CUcontext(c)))
}

func CuModuleLoadData(image []byte) (Module, error) {
	var m C.CUmodule
	if len(image) == 0 {
		return nil, &Error{Lib: "cuda", Call: "cuModuleLoadData", Code: 1, Name: "CUDA_ERROR_INVALID_VALUE", Detail: "empty image"}
	}
	err := cuErr("cuModuleLoadData", C.axw_cuModuleLoadData(&m, unsafe.Pointer(&image[0])))
	return Module(m), err
}

func CuModuleUnload(m Module) error {
	return cuErr("cuModuleUnload", C.axw_cuModuleUnload(C.CUmodule(m)))
}

func CuModuleGetFunction(m Module, name string) (Function, error) {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	var f C.CUfunction
	err := cuErr("cuModuleGetFunction("+name+")", C.axw_cuModuleGetFunction(&f, C.CUmodule(m), cs))
	return Function(f), err
}

// CuLaunchKernel launches f on s over grid blocks of block threads (x, y, z), with
// args as the kernel's parameters in order. cuLaunchKernel reads each parameter
// through a pointer to its value, as many bytes as the kernel's parameter has, so
// the caller must match the types: DevPtr for a pointer, int32 for int, int64 for
// long long, uint64 for unsigned long long, float32 for float, and []byte for a
// struct passed by value (its bytes, laid out as the kernel's struct).
func CuLaunchKernel(f Function, grid, block [3]int, s Stream, args ...any) error {
	argv, err := packArgs(args)
	if err != nil {
		return err
	}
	defer freeArgs(argv)
	return cuErr("cuLaunchKernel", C.axw_cuLaunchKernel(C.CUfunction(f), C.uint(grid[0]), C.uint(grid[1]), C.uint(grid[2]),
		C.uint(block[0]), C.uint(block[1]), C.uint(block[2]), C.CUstream(s), argv))
}

// argAlign is where each value starts after the pointer array: no parameter type of
// CuLaunchKernel needs more alignment.
const argAlign = 8

// packArgs copies args into one block of C memory, to free with freeArgs: the array
// of pointers that cuLaunchKernel takes, entry i pointing at value i, then the
// values. C memory, because cgo forbids passing C a Go pointer to memory that holds
// Go pointers, which an array of pointers to Go values would be.
func packArgs(args []any) (*unsafe.Pointer, error) {
	size := uintptr(len(args)) * unsafe.Sizeof(uintptr(0))
	offs := make([]uintptr, len(args))
	for i, a := range args {
		var n uintptr
		switch v := a.(type) {
		case DevPtr, int64, uint64:
			n = 8
		case int32, float32:
			n = 4
		case []byte:
			n = uintptr(len(v))
		default:
			return nil, fmt.Errorf("cuLaunchKernel: argument %d is a %T, not a kernel parameter type", i, a)
		}
		offs[i] = size
		size += (n + argAlign - 1) / argAlign * argAlign
	}
	mem := C.calloc(1, C.size_t(max(size, 1)))
	if mem == nil {
		return nil, fmt.Errorf("cuLaunchKernel: no memory for %d bytes of arguments", size)
	}
	argv := unsafe.Slice((*unsafe.Pointer)(mem), len(args))
	for i, a := range args {
		p := unsafe.Add(mem, offs[i])
		argv[i] = p
		switch v := a.(type) {
		case DevPtr:
			*(*uintptr)(p) = uintptr(v)
		case int64:
			*(*int64)(p) = v
		case uint64:
			*(*uint64)(p) = v
		case int32:
			*(*int32)(p) = v
		case float32:
			*(*float32)(p) = v
		case []byte:
			copy(unsafe.Slice((*byte)(p), len(v)), v)
		}
	}
	return (*unsafe.Pointer)(mem), nil
}

func freeArgs(argv *unsafe.Pointer) { C.free(unsafe.Pointer(argv)) }
