package cudnn

/*
#include "axwrap.h"
*/
import "C"

// cuBLAS calls, one Go function per C call.

func cublasCreate() (C.cublasHandle_t, error) {
	var h C.cublasHandle_t
	return h, cublasErr("cublasCreate_v2", C.axw_cublasCreate(&h))
}

func cublasDestroy(h C.cublasHandle_t) error {
	return cublasErr("cublasDestroy_v2", C.axw_cublasDestroy(h))
}

// cublasVersion is cublasGetProperty for major, minor and patch.
func cublasGetProperty(prop C.int) (int, error) {
	var v C.int
	return int(v), cublasErr("cublasGetProperty", C.axw_cublasGetProperty(prop, &v))
}

func cublasSetStream(h C.cublasHandle_t, s C.cudaStream_t) error {
	return cublasErr("cublasSetStream_v2", C.axw_cublasSetStream(h, s))
}

func cublasSetMathMode(h C.cublasHandle_t, mode C.int) error {
	return cublasErr("cublasSetMathMode", C.axw_cublasSetMathMode(h, mode))
}

func cublasOp(t bool) C.int {
	if t {
		return C.AX_CUBLAS_OP_T
	}
	return C.AX_CUBLAS_OP_N
}

// cublasGemmEx16 is cublasGemmEx with A and B of 16-bit type abType (AX_CUDA_R_16BF or
// AX_CUDA_R_16F), C float32, float accumulation (CUBLAS_COMPUTE_32F).
func cublasGemmEx16(h C.cublasHandle_t, transA, transB bool, m, n, k int, alpha float32,
	a devPtr, lda int, b devPtr, ldb int, abType int, beta float32, c devPtr, ldc int) error {
	return cublasErr("cublasGemmEx", C.axw_cublasGemmEx16(h, cublasOp(transA), cublasOp(transB), C.int(m), C.int(n), C.int(k),
		C.float(alpha), a.c(), C.int(lda), b.c(), C.int(ldb), C.int(abType), C.float(beta), c.c(), C.int(ldc)))
}

// cublasSgemm is C = alpha*op(A)*op(B) + beta*C in cuBLAS's column-major terms.
func cublasSgemm(h C.cublasHandle_t, transA, transB bool, m, n, k int, alpha float32,
	a devPtr, lda int, b devPtr, ldb int, beta float32, c devPtr, ldc int) error {
	return cublasErr("cublasSgemm_v2", C.axw_cublasSgemm(h, cublasOp(transA), cublasOp(transB), C.int(m), C.int(n), C.int(k),
		C.float(alpha), a.c(), C.int(lda), b.c(), C.int(ldb), C.float(beta), c.c(), C.int(ldc)))
}
