// The kernels of sgd.go: SGD, Scale, Axpy, AllFinite.
// Part of the one NVRTC program of kernels.go, after kernels.cuh and round16.cuh.

// SGD over up to SGD_MAX tensors in one launch (backend.Backend.SGD), the paper's form
// with a gradient scale, in float64 as internal/ref computes it:
//   v <- momentum*v - decay*lr*w - lr*(gscale*g);  w <- w + v       w, g, v [n]
// blockIdx.y is the tensor; the batch arrives by value, filled by sgd.go (sgdBatch).
#define SGD_MAX 24
struct SGDTensor {
	float *w;
	const float *g;
	float *v;
	long long n;
	float lr, decay;
};
struct SGDBatch {
	SGDTensor t[SGD_MAX];
};
// Compile-time layout checks (an array of size -1 fails), in a form every NVRTC
// dialect accepts: SGDTensor must be sgd.go's sgdTensor, 40 bytes.
typedef char sgd_tensor_is_40_bytes[sizeof(SGDTensor) == 40 ? 1 : -1];
typedef char sgd_batch_is_packed[sizeof(SGDBatch) == 40 * SGD_MAX ? 1 : -1];
extern "C" __global__ void sgd_multi(const SGDBatch b, float momentum, float gscale) {
	const SGDTensor &p = b.t[blockIdx.y];
	float *w = p.w, *v = p.v;
	const float *g = p.g;
	double m = momentum, dl = (double)p.decay * (double)p.lr, l = p.lr, gs = gscale;
	GRID_LOOP(i, p.n) {
		float nv = (float)(m * (double)v[i] - dl * (double)w[i] - l * (gs * (double)g[i]));
		v[i] = nv;
		w[i] = (float)((double)w[i] + (double)nv);
	}
}

// x *= s (Backend.Scale).   x [n]
extern "C" __global__ void scale(float *x, float s, long long n) {
	GRID_LOOP(i, n) { x[i] = x[i] * s; }
}

// y += alpha * x (Backend.Axpy): a gradient that arrives from another device added.
// No FMA (--fmad=false), so alpha 1 adds exactly as the CPU backends do.   x, y [n]
extern "C" __global__ void axpy(float alpha, const float *x, float *y, long long n) {
	GRID_LOOP(i, n) { y[i] = y[i] + alpha * x[i]; }
}

// *flag = 1 when some x[i] is infinite or NaN (Backend.AllFinite). Every writer
// writes the same value, so the race is harmless.   x [n]
extern "C" __global__ void nonfinite(const float *x, long long n, int *flag) {
	GRID_LOOP(i, n) {
		if ((AX_F2U(x[i]) & 0x7f800000u) == 0x7f800000u) *flag = 1;
	}
}
