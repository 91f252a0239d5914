package cudnn

/*
#include <stdlib.h>
#include "axwrap.h"
*/
import "C"

import "unsafe"

// CUDA runtime and driver calls, one Go function per C call.

func cudaRuntimeGetVersion() (int, error) {
	var v C.int
	return int(v), cudaErr("cudaRuntimeGetVersion", C.axw_cudaRuntimeGetVersion(&v))
}

func cudaSetDevice(d int) error {
	return cudaErr("cudaSetDevice", C.axw_cudaSetDevice(C.int(d)))
}

func cudaMalloc(bytes int64) (devPtr, error) {
	var p C.uintptr_t
	err := cudaErr("cudaMalloc", C.axw_cudaMalloc(&p, C.size_t(bytes)))
	return devPtr(p), err
}

func cudaFree(p devPtr) error {
	return cudaErr("cudaFree", C.axw_cudaFree(p.c()))
}

func cudaMemsetAsync(p devPtr, value int, bytes int64, s C.cudaStream_t) error {
	return cudaErr("cudaMemsetAsync", C.axw_cudaMemsetAsync(p.c(), C.int(value), C.size_t(bytes), s))
}

func cudaMemcpyDtoD(dst, src devPtr, bytes int64, s C.cudaStream_t) error {
	return cudaErr("cudaMemcpyAsync(DeviceToDevice)", C.axw_cudaMemcpyAsyncDtoD(dst.c(), src.c(), C.size_t(bytes), s))
}

// cudaMemcpy2DDefault copies rows of width bytes between device buffers of any GPU.
func cudaMemcpy2DDefault(dst devPtr, dpitch int64, src devPtr, spitch, width, rows int64, s C.cudaStream_t) error {
	return cudaErr("cudaMemcpy2DAsync", C.axw_cudaMemcpy2DAsyncDefault(dst.c(), C.size_t(dpitch), src.c(), C.size_t(spitch),
		C.size_t(width), C.size_t(rows), s))
}

func cudaDeviceCanAccessPeer(dev, peer int) (bool, error) {
	var can C.int
	err := cudaErr("cudaDeviceCanAccessPeer", C.axw_cudaDeviceCanAccessPeer(&can, C.int(dev), C.int(peer)))
	return can != 0, err
}

func cudaDeviceEnablePeerAccess(peer int) error {
	return cudaErr("cudaDeviceEnablePeerAccess", C.axw_cudaDeviceEnablePeerAccess(C.int(peer)))
}

// cudaMemcpyHtoDSync copies host to device and waits for the stream (see axwrap.h).
func cudaMemcpyHtoDSync(dst devPtr, host unsafe.Pointer, bytes int64, s C.cudaStream_t) error {
	return cudaErr("cudaMemcpyAsync(HostToDevice)", C.axw_cudaMemcpyHtoDSync(dst.c(), host, C.size_t(bytes), s))
}

// cudaMemcpyDtoHSync copies device to host and waits for the stream.
func cudaMemcpyDtoHSync(host unsafe.Pointer, src devPtr, bytes int64, s C.cudaStream_t) error {
	return cudaErr("cudaMemcpyAsync(DeviceToHost)", C.axw_cudaMemcpyDtoHSync(host, src.c(), C.size_t(bytes), s))
}

// cudaMallocHost allocates page-locked host memory (C memory, not Go's).
func cudaMallocHost(bytes int64) (unsafe.Pointer, error) {
	var p unsafe.Pointer
	err := cudaErr("cudaMallocHost", C.axw_cudaMallocHost(&p, C.size_t(bytes)))
	return p, err
}

func cudaFreeHost(p unsafe.Pointer) error {
	return cudaErr("cudaFreeHost", C.axw_cudaFreeHost(p))
}

// cudaMemcpyHtoDAsync queues a copy from page-locked host memory; it returns before
// the copy has read host.
func cudaMemcpyHtoDAsync(dst devPtr, host unsafe.Pointer, bytes int64, s C.cudaStream_t) error {
	return cudaErr("cudaMemcpyAsync(HostToDevice)", C.axw_cudaMemcpyAsyncHtoD(dst.c(), host, C.size_t(bytes), s))
}

func cudaEventCreateDisableTiming() (C.cudaEvent_t, error) {
	var e C.cudaEvent_t
	return e, cudaErr("cudaEventCreateWithFlags", C.axw_cudaEventCreateDisableTiming(&e))
}

func cudaEventDestroy(e C.cudaEvent_t) error {
	return cudaErr("cudaEventDestroy", C.axw_cudaEventDestroy(e))
}

func cudaEventRecord(e C.cudaEvent_t, s C.cudaStream_t) error {
	return cudaErr("cudaEventRecord", C.axw_cudaEventRecord(e, s))
}

func cudaEventSynchronize(e C.cudaEvent_t) error {
	return cudaErr("cudaEventSynchronize", C.axw_cudaEventSynchronize(e))
}

func cudaStreamWaitEvent(s C.cudaStream_t, e C.cudaEvent_t) error {
	return cudaErr("cudaStreamWaitEvent", C.axw_cudaStreamWaitEvent(s, e))
}

func cudaStreamCreateNonBlocking() (C.cudaStream_t, error) {
	var s C.cudaStream_t
	return s, cudaErr("cudaStreamCreateWithFlags", C.axw_cudaStreamCreateNonBlocking(&s))
}

func cudaStreamDestroy(s C.cudaStream_t) error {
	return cudaErr("cudaStreamDestroy", C.axw_cudaStreamDestroy(s))
}

func cudaStreamSynchronize(s C.cudaStream_t) error {
	return cudaErr("cudaStreamSynchronize", C.axw_cudaStreamSynchronize(s))
}

func cudaMemGetInfo() (free, total int64, err error) {
	var f, t C.size_t
	err = cudaErr("cudaMemGetInfo", C.axw_cudaMemGetInfo(&f, &t))
	return int64(f), int64(t), err
}

func cuInit() error { return cuErr("cuInit", C.axw_cuInit()) }

func cuDriverGetVersion() (int, error) {
	var v C.int
	return int(v), cuErr("cuDriverGetVersion", C.axw_cuDriverGetVersion(&v))
}

func cuDeviceGetCount() (int, error) {
	var n C.int
	return int(n), cuErr("cuDeviceGetCount", C.axw_cuDeviceGetCount(&n))
}

func cuDeviceGet(ordinal int) (C.CUdevice, error) {
	var d C.CUdevice
	return d, cuErr("cuDeviceGet", C.axw_cuDeviceGet(&d, C.int(ordinal)))
}

func cuDeviceGetName(d C.CUdevice) (string, error) {
	var buf [256]C.char
	if err := cuErr("cuDeviceGetName", C.axw_cuDeviceGetName(&buf[0], C.int(len(buf)), d)); err != nil {
		return "", err
	}
	return C.GoString(&buf[0]), nil
}

func cuDeviceTotalMem(d C.CUdevice) (int64, error) {
	var n C.size_t
	return int64(n), cuErr("cuDeviceTotalMem_v2", C.axw_cuDeviceTotalMem(&n, d))
}

func cuDeviceGetAttribute(attr C.int, d C.CUdevice) (int, error) {
	var v C.int
	return int(v), cuErr("cuDeviceGetAttribute", C.axw_cuDeviceGetAttribute(&v, attr, d))
}

func cuDevicePrimaryCtxRetain(d C.CUdevice) (C.CUcontext, error) {
	var c C.CUcontext
	return c, cuErr("cuDevicePrimaryCtxRetain", C.axw_cuDevicePrimaryCtxRetain(&c, d))
}

func cuDevicePrimaryCtxRelease(d C.CUdevice) error {
	return cuErr("cuDevicePrimaryCtxRelease_v2", C.axw_cuDevicePrimaryCtxRelease(d))
}

func cuCtxSetCurrent(c C.CUcontext) error {
	return cuErr("cuCtxSetCurrent", C.axw_cuCtxSetCurrent(c))
}

func cuModuleLoadData(image []byte) (C.CUmodule, error) {
	var m C.CUmodule
	if len(image) == 0 {
		return m, &Error{Lib: "cuda", Call: "cuModuleLoadData", Code: 1, Name: "CUDA_ERROR_INVALID_VALUE", Detail: "empty image"}
	}
	return m, cuErr("cuModuleLoadData", C.axw_cuModuleLoadData(&m, unsafe.Pointer(&image[0])))
}

func cuModuleUnload(m C.CUmodule) error {
	return cuErr("cuModuleUnload", C.axw_cuModuleUnload(m))
}

func cuModuleGetFunction(m C.CUmodule, name string) (C.CUfunction, error) {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	var f C.CUfunction
	return f, cuErr("cuModuleGetFunction("+name+")", C.axw_cuModuleGetFunction(&f, m, cs))
}

// isBound reports whether the calling OS thread is already bound to dev and ctx for
// the backend numbered gen.
func isBound(dev int, ctx C.CUcontext, gen uint64) bool {
	return C.ax_is_bound(C.int(dev), ctx, C.ulonglong(gen)) != 0
}

// markBound records that the calling OS thread is bound to dev and ctx for gen.
func markBound(dev int, ctx C.CUcontext, gen uint64) {
	C.ax_mark_bound(C.int(dev), ctx, C.ulonglong(gen))
}
