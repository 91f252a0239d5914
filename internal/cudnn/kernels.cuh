// What every kernel file shares; kernels.go puts it first in the one NVRTC program,
// then round16.cuh, then every .cu file of this folder.
//
// The kernels mirror the reference backend (internal/ref) formula for formula,
// including its float64 accumulations, and are compiled with --fmad=false so a*b+c
// rounds twice there as it does in Go on amd64. Every kernel walks its range with a
// grid stride, so any grid size is correct.
//
// An entry point is written `extern "C" __global__ void name(parameters)`: kernels.go
// reads the names and parameter lists from this text, for loading, for checking each
// launch's arguments and for the PTX test. A parameter is a pointer (a device
// address), int, long long, u64, float, or a struct by value that kernels.go's
// paramTypes pairs with a Go struct of the same layout.

typedef unsigned long long u64;

#define GRID_LOOP(i, n) \
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
	     i += (long long)gridDim.x * blockDim.x)

#define AX_RD static __device__ __forceinline__
#define AX_F2U(x) __float_as_uint(x)
#define AX_U2F(u) __uint_as_float(u)
