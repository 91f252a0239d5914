// The casts of bf16/fp16 precision (precision.go, conv.go, linear.go); fmt is 1 for
// bf16, 2 for fp16, as in ax_to16.
// Part of the one NVRTC program of kernels.go, after kernels.cuh and round16.cuh.

// out = to16(in): the 16-bit inputs of cuDNN and cuBLAS.   in float [n], out u16 [n]
extern "C" __global__ void to16(const float *in, unsigned short *out, int fmt, long long n) {
	GRID_LOOP(i, n) { out[i] = ax_to16(in[i], fmt); }
}

// out = float(in): a convolution's dx.   in u16 [n], out float [n]
extern "C" __global__ void from16(const unsigned short *in, float *out, int fmt, long long n) {
	GRID_LOOP(i, n) { out[i] = ax_from16(in[i], fmt); }
}

// out += float(in), added in float64 then rounded, as backend.Add (an SGD step) adds:
// a convolution's dw.   in u16 [n], out float [n]
extern "C" __global__ void add16(const unsigned short *in, float *out, int fmt, long long n) {
	GRID_LOOP(i, n) { out[i] = (float)((double)out[i] + (double)ax_from16(in[i], fmt)); }
}

// out = float(round16(in)) (Backend.Round).   in, out float [n]; may be one buffer
extern "C" __global__ void round16(const float *in, float *out, int fmt, long long n) {
	GRID_LOOP(i, n) { out[i] = ax_from16(ax_to16(in[i], fmt), fmt); }
}

// A convolution's forward output with its bias: y = round16(float(x) + bias[channel]),
// so y holds 16-bit values as under backend.Emulate (which rounds conv + bias once;
// here the convolution was rounded once already, by cuDNN storing it in 16 bits).
//   x u16 [N, c, hw]   bias float [c]   y float [N, c, hw]
extern "C" __global__ void from16_bias(const unsigned short *x, const float *bias, float *y, int fmt,
                                       long long n, long long hw, int c) {
	GRID_LOOP(i, n) {
		float v = ax_from16(x[i], fmt) + bias[(i / hw) % c];
		y[i] = ax_from16(ax_to16(v, fmt), fmt);
	}
}
