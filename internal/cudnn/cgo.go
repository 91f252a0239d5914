// Package cudnn is the GPU backend, registered as "cuda": cuDNN 9 for convolution,
// LRN, pooling and ReLU, cuBLAS for the fully connected layers, and a few small
// kernels compiled at run time by NVRTC (multi-tensor SGD, loss scaling's scale and
// overflow check, dropout, softmax cross-entropy, adaptive average pooling with
// uneven windows, and the float32 <-> bf16/fp16 casts of 16-bit precision).
//
// Nothing CUDA is linked: the libraries (libcudart, libcublas, libcudnn, libnvrtc and
// the driver's libcuda) are found and opened with dlopen when the backend is first
// opened, from LD_LIBRARY_PATH, CUDA_HOME, /usr/local/cuda*, the system folders and
// the lib folders of pip's nvidia-* wheels. The prototypes the project calls are
// declared in csrc/axcuda.h. Without a GPU or the libraries, Open returns an error
// wrapping backend.ErrUnavailable that says which library or device is missing.
//
// Layers of this package, bottom up:
//
//	csrc/axcuda.[ch], csrc/axwrap.h  prototypes, dlopen/dlsym, one C wrapper per call
//	api_*.go                         one Go function per C call, returning *Error
//	loader.go, devices.go            finding the libraries; the `devices` report
//	backend.go and one file per op   backend.Backend on top
package cudnn

/*
#cgo CFLAGS: -I${SRCDIR}/../../csrc -O2
#cgo LDFLAGS: -ldl
#include "axwrap.h"
*/
import "C"
