package csrc

/*
#include "axwrap.h"
*/
import "C"

// cuBLAS calls, one Go function per C call.

func CublasCreate() (CublasHandle, error) {
	var h C.cublasHandle_t
	err := cublasErr("cublasCreate_v2", C.axw_cublasCreate(&h))
	return CublasHandle(h), err
}

func CublasDestroy(h CublasHandle) error {
	return cublasErr("cublasDestroy_v2", C.axw_cublasDestroy(C.cublasHandle_t(h)))
}

// Library properties of cublasGetProperty.
const (
	MajorVersion = C.AX_MAJOR_VERSION
	MinorVersion = C.AX_MINOR_VERSION
	PatchLevel   = C.AX_PATCH_LEVEL
)

// CublasGetProperty reads prop: MajorVersion, MinorVersion or PatchLevel.
func CublasGetProperty(prop int) (int, error) {
	var v C.int
	err := cublasErr("cublasGetProperty", C.axw_cublasGetProperty(C.int(prop), &v))
	return int(v), err
}

func CublasSetStream(h CublasHandle, s Stream) error {
	return cublasErr("cublasSetStream_v2", C.axw_cublasSetStream(C.cublasHandle_t(h), C.cudaStream_t(s)))
}

// Math modes of cublasSetMathMode.
const (
	CublasDefaultMath      = C.AX_CUBLAS_DEFAULT_MATH
	CublasTF32TensorOpMath = C.AX_CUBLAS_TF32_TENSOR_OP_MATH
)

func CublasSetMathMode(h CublasHandle, mode int) error {
	return cublasErr("cublasSetMathMode", C.axw_cublasSetMathMode(C.cublasHandle_t(h), C.int(mode)))
}

func cublasOp(t bool) C.int {
	if t {
		return C.AX_CUBLAS_OP_T
	}
	return C.AX_CUBLAS_OP_N
}

// Element types (cudaDataType_t) of CublasGemmEx16's A and B.
const (
	CudaR16F  = C.AX_CUDA_R_16F
	CudaR16BF = C.AX_CUDA_R_16BF
)

// CublasGemmEx16 is cublasGemmEx with A and B of 16-bit type abType (CudaR16BF or
// CudaR16F), C float32, float accumulation (CUBLAS_COMPUTE_32F).
func CublasGemmEx16(h CublasHandle, transA, transB bool, m, n, k int, alpha float32,
	a DevPtr, lda int, b DevPtr, ldb int, abType int, beta float32, c DevPtr, ldc int) error {
	return cublasErr("cublasGemmEx", C.axw_cublasGemmEx16(C.cublasHandle_t(h), cublasOp(transA), cublasOp(transB), C.int(m), C.int(n), C.int(k),
		C.float(alpha), a.c(), C.int(lda), b.c(), C.int(ldb), C.int(abType), C.float(beta), c.c(), C.int(ldc)))
}

// CublasSgemm is C = alpha*op(A)*op(B) + beta*C in cuBLAS's column-major terms.
func CublasSgemm(h CublasHandle, transA, transB bool, m, n, k int, alpha float32,
	a DevPtr, lda int, b DevPtr, ldb int, beta float32, c DevPtr, ldc int) error {
	return cublasErr("cublasSgemm_v2", C.axw_cublasSgemm(C.cublasHandle_t(h), cublasOp(transA), cublasOp(transB), C.int(m), C.int(n), C.int(k),
		C.float(alpha), a.c(), C.int(lda), b.c(), C.int(ldb), C.float(beta), c.c(), C.int(ldc)))
}
