// The kernels of softmax.go: SoftmaxCrossEntropy.
// Part of the one NVRTC program of kernels.go, after kernels.cuh and round16.cuh.

// Softmax cross-entropy, one block of XENT_THREADS threads per row:
//   losses[r] = logsumexp(logits[r,:]) - logits[r, labels[r]]
//   higher[r] = the number of classes scoring strictly higher than labels[r] (NaN: INT_MAX)
//   dlogits[r,j] = (softmax(logits[r,:])[j] - [j == labels[r]]) / n   (when want_grad)
//   logits, dlogits [n, c]   labels, higher [n]   losses [n] (double)
// xent_sums then adds the rows' totals to the caller's sums on the device.
#define XENT_THREADS 256
extern "C" __global__ void softmax_xent(const float *logits, const int *labels, float *dlogits,
                                        double *losses, int *higher, int n, int c, int want_grad) {
	__shared__ double red[XENT_THREADS];
	int row = blockIdx.x, t = threadIdx.x;
	if (row >= n) return; // the whole block leaves together
	const float *x = logits + (long long)row * c;
	double m = (double)x[0]; // any element of the row starts the maximum (c >= 1)
	for (int j = t; j < c; j += XENT_THREADS) m = fmax(m, (double)x[j]);
	red[t] = m;
	__syncthreads();
	for (int s = XENT_THREADS / 2; s > 0; s >>= 1) {
		if (t < s) red[t] = fmax(red[t], red[t + s]);
		__syncthreads();
	}
	m = red[0];
	__syncthreads();
	double sum = 0;
	for (int j = t; j < c; j += XENT_THREADS) sum += exp((double)x[j] - m);
	red[t] = sum;
	__syncthreads();
	for (int s = XENT_THREADS / 2; s > 0; s >>= 1) {
		if (t < s) red[t] += red[t + s];
		__syncthreads();
	}
	double lse = m + log(red[0]);
	__syncthreads(); // every thread has read red[0]; red is reused below
	int label = labels[row];
	float xl = x[label];
	double cnt = 0;
	// A NaN outscores every number, and a NaN label score is never a hit (backend.Hits).
	for (int j = t; j < c; j += XENT_THREADS) cnt += (x[j] > xl || isnan(x[j])) ? 1.0 : 0.0;
	red[t] = cnt;
	__syncthreads();
	for (int s = XENT_THREADS / 2; s > 0; s >>= 1) {
		if (t < s) red[t] += red[t + s];
		__syncthreads();
	}
	if (t == 0) {
		losses[row] = lse - (double)xl;
		higher[row] = isnan(xl) ? 0x7fffffff : (int)red[0]; // never a hit, whatever c
	}
	if (!want_grad) return;
	float *d = dlogits + (long long)row * c;
	for (int j = t; j < c; j += XENT_THREADS) {
		double g = exp((double)x[j] - lse);
		if (j == label) g -= 1.0;
		d[j] = (float)(g / (double)n);
	}
}

// One block of XENT_THREADS threads: sums[0] += sum of losses, sums[1] += rows with
// higher == 0 (top-1 hits), sums[2] += rows with higher < 5 (top-5 hits). The order
// of the sums is fixed, so the result is the same on every run.
//   losses [n] (double)   higher [n]   sums [3]
extern "C" __global__ void xent_sums(const double *losses, const int *higher, int n, float *sums) {
	__shared__ double red[3][XENT_THREADS];
	int t = threadIdx.x;
	double l = 0, h1 = 0, h5 = 0;
	for (int r = t; r < n; r += XENT_THREADS) {
		l += losses[r];
		h1 += higher[r] < 1 ? 1.0 : 0.0;
		h5 += higher[r] < 5 ? 1.0 : 0.0;
	}
	red[0][t] = l;
	red[1][t] = h1;
	red[2][t] = h5;
	__syncthreads();
	for (int s = XENT_THREADS / 2; s > 0; s >>= 1) {
		if (t < s) {
			red[0][t] += red[0][t + s];
			red[1][t] += red[1][t + s];
			red[2][t] += red[2][t + s];
		}
		__syncthreads();
	}
	if (t == 0) {
		sums[0] = (float)((double)sums[0] + red[0][0]);
		sums[1] = (float)((double)sums[1] + red[1][0]);
		sums[2] = (float)((double)sums[2] + red[2][0]);
	}
}
