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
// Layers, bottom up:
//
//	csrc (package alexnet/csrc)     the C layer: prototypes, dlopen/dlsym, one C
//	                                wrapper and one Go function per call, each
//	                                returning *csrc.Error; the only cgo, so that an
//	                                edit to its C is rebuilt by a plain go build
//	loader.go, devices.go           finding the libraries; the `devices` report
//	kernels.go, kernels.cuh, *.cu   the NVRTC kernels: each .cu beside its op's .go,
//	                                embedded, one program; launch, the one path that
//	                                checks a kernel's arguments and launches it
//	backend.go and one file per op  backend.Backend on top
package cudnn
