// The kernels of dropout.go: DropoutForward, and Mul (its backward).
// Part of the one NVRTC program of kernels.go, after kernels.cuh and round16.cuh.

// backend.DropoutKeep's splitmix64 finaliser.
__device__ __forceinline__ u64 mix64(u64 z) {
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

// Dropout forward: mask[i] = scale if DropoutKeep(seed, i, p) else 0;  y = x * mask
//   x, y, mask [n]; x and y may be one buffer. scale = 1/(1-p), computed by the host
//   in float32 as every backend does.
extern "C" __global__ void dropout_forward(const float *x, float *y, float *mask, u64 seed,
                                           float p, float scale, long long n) {
	GRID_LOOP(i, n) {
		u64 z = mix64(seed + (u64)i * 0x9E3779B97F4A7C15ULL);
		float u = (float)(z >> 40) * (1.0f / 16777216.0f); // 24 random bits in [0, 1)
		float m = u >= p ? scale : 0.0f;
		float xv = x[i];
		mask[i] = m;
		y[i] = xv * m;
	}
}

// out = a * b elementwise (dropout backward: dx = dy * mask).   a, b, out [n]
extern "C" __global__ void mul(const float *a, const float *b, float *out, long long n) {
	GRID_LOOP(i, n) { out[i] = a[i] * b[i]; }
}
