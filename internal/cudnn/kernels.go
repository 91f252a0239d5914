package cudnn

/*
#include "axwrap.h"
*/
import "C"

import (
	"fmt"
	"strings"
	"sync"
)

// roundSource is the rounding of float32 to bfloat16 and IEEE binary16 and back,
// internal/lowp's functions line for line: round to nearest even on the float's
// bits, fp16 subnormals kept, overflow to infinity, NaN kept (quiet). Integer
// operations only, no cuda_fp16.h, so the GPU rounds exactly as the CPU backends'
// emulation does. It is plain C apart from the macros it expects, AX_RD (function
// qualifiers), AX_F2U and AX_U2F (float <-> bits), so a test compiles it for the host
// too and compares it with lowp bit for bit (kernels_test.go).
//
// fmt: 1 = bf16, 2 = fp16 (lowp.BF16, lowp.FP16).
const roundSource = `
AX_RD unsigned short ax_to_bf16(float x) {
	unsigned int b = AX_F2U(x);
	if ((b & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((b >> 16) | 0x0040u);
	b += 0x7fffu + ((b >> 16) & 1u); /* a carry out of the mantissa bumps the exponent, to inf at the top */
	return (unsigned short)(b >> 16);
}

AX_RD float ax_from_bf16(unsigned short h) { return AX_U2F((unsigned int)h << 16); }

AX_RD unsigned short ax_to_fp16(float x) {
	unsigned int b = AX_F2U(x);
	unsigned short sign = (unsigned short)((b >> 16) & 0x8000u);
	int exp = (int)((b >> 23) & 0xffu);
	unsigned int man = b & 0x7fffffu;
	if (exp == 0xff) return (unsigned short)(sign | (man != 0 ? 0x7e00u : 0x7c00u));
	int e = exp - 127 + 15; /* biased fp16 exponent */
	if (e >= 31) return (unsigned short)(sign | 0x7c00u);
	if (e <= 0) { /* fp16 subnormal (or zero): units of 2^-24 */
		if (e < -10) return sign; /* |x| < 2^-25, half the smallest subnormal: rounds to zero */
		man |= 0x800000u;
		unsigned int shift = (unsigned int)(14 - e);
		unsigned int h = man >> shift;
		unsigned int rem = man & ((1u << shift) - 1u), half = 1u << (shift - 1u);
		if (rem > half || (rem == half && (h & 1u) == 1u)) h++; /* may carry into the smallest normal */
		return (unsigned short)(sign | h);
	}
	unsigned int h = ((unsigned int)e << 10) | (man >> 13);
	unsigned int rem = man & 0x1fffu;
	if (rem > 0x1000u || (rem == 0x1000u && (h & 1u) == 1u)) h++; /* a carry into the exponent, up to inf */
	return (unsigned short)(sign | h);
}

AX_RD float ax_from_fp16(unsigned short h) {
	unsigned int sign = (unsigned int)(h & 0x8000u) << 16;
	unsigned int exp = ((unsigned int)h >> 10) & 0x1fu;
	unsigned int man = (unsigned int)h & 0x3ffu;
	if (exp == 0x1fu) return AX_U2F(sign | 0x7f800000u | (man << 13));
	if (exp != 0) return AX_U2F(sign | ((exp + 127u - 15u) << 23) | (man << 13));
	if (man == 0) return AX_U2F(sign);
	float v = (float)man * (1.0f / 16777216.0f); /* subnormal: exact in float32 */
	return sign != 0 ? -v : v;
}

AX_RD unsigned short ax_to16(float x, int fmt) { return fmt == 2 ? ax_to_fp16(x) : ax_to_bf16(x); }
AX_RD float ax_from16(unsigned short h, int fmt) { return fmt == 2 ? ax_from_fp16(h) : ax_from_bf16(h); }
`

// kernelSource holds the few operations cuDNN and cuBLAS do not offer, compiled once
// per process by NVRTC for the GPU's architecture. They mirror the reference backend
// (internal/ref) formula for formula, including its float64 accumulations, and are
// compiled with --fmad=false so a*b+c rounds twice there as it does in Go on amd64.
// Every kernel walks its range with a grid stride, so any grid size is correct.
//
// The launchers (csrc/axwrap.h, axk_*) must pass exactly these parameter types.
const kernelSource = `
typedef unsigned long long u64;

#define GRID_LOOP(i, n) \
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
	     i += (long long)gridDim.x * blockDim.x)

#define AX_RD static __device__ __forceinline__
#define AX_F2U(x) __float_as_uint(x)
#define AX_U2F(u) __uint_as_float(u)
` + roundSource + `
// backend.DropoutKeep's splitmix64 finaliser.
__device__ __forceinline__ u64 mix64(u64 z) {
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

// SGD over up to SGD_MAX tensors in one launch (backend.Backend.SGD), the paper's form
// with a gradient scale, in float64 as internal/ref computes it:
//   v <- momentum*v - decay*lr*w - lr*(gscale*g);  w <- w + v       w, g, v [n]
// blockIdx.y is the tensor; the batch arrives by value (csrc/axcuda.h, axSGDBatch).
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
// dialect accepts: SGDTensor must be axSGDTensor, 40 bytes.
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

// The casts of bf16/fp16 precision (conv.go, linear.go). fmt as in ax_to16.
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

// Adaptive average pooling for windows of uneven size (torchvision's
// AdaptiveAvgPool2d): cell i of out covers rows floor(i*h/oh) .. ceil((i+1)*h/oh)-1.
//   x [planes, h, w]   y [planes, oh, ow]
extern "C" __global__ void adaptive_avg_forward(const float *x, float *y, long long planes, int h,
                                                int w, int oh, int ow) {
	GRID_LOOP(i, planes * oh * ow) {
		int ox = (int)(i % ow), oy = (int)((i / ow) % oh);
		long long p = i / ((long long)ow * oh);
		int y0 = oy * h / oh, y1 = ((oy + 1) * h + oh - 1) / oh;
		int x0 = ox * w / ow, x1 = ((ox + 1) * w + ow - 1) / ow;
		const float *src = x + p * h * w;
		double s = 0;
		for (int yy = y0; yy < y1; yy++)
			for (int xx = x0; xx < x1; xx++) s += (double)src[yy * w + xx];
		y[i] = (float)(s / (double)((y1 - y0) * (x1 - x0)));
	}
}

// Its backward, gathering rather than scattering so no atomics are needed: each input
// adds the share dy/count of every cell whose window holds it (windows may overlap).
//   dy [planes, oh, ow]   dx [planes, h, w] (overwritten)
extern "C" __global__ void adaptive_avg_backward(const float *dy, float *dx, long long planes, int h,
                                                 int w, int oh, int ow) {
	GRID_LOOP(i, planes * h * w) {
		int xx = (int)(i % w), yy = (int)((i / w) % h);
		long long p = i / ((long long)w * h);
		const float *g = dy + p * oh * ow;
		double s = 0;
		for (int oy = 0; oy < oh; oy++) {
			int y0 = oy * h / oh, y1 = ((oy + 1) * h + oh - 1) / oh;
			if (yy < y0 || yy >= y1) continue;
			for (int ox = 0; ox < ow; ox++) {
				int x0 = ox * w / ow, x1 = ((ox + 1) * w + ow - 1) / ow;
				if (xx < x0 || xx >= x1) continue;
				s += (double)g[oy * ow + ox] / (double)((y1 - y0) * (x1 - x0));
			}
		}
		dx[i] = (float)s;
	}
}
`

// xentThreads must equal XENT_THREADS above.
const xentThreads = 256

// kernelNames are the entry points looked up after loading the module.
var kernelNames = []string{"sgd_multi", "scale", "axpy", "nonfinite", "to16", "from16", "add16", "round16", "from16_bias",
	"dropout_forward", "mul", "softmax_xent", "xent_sums", "adaptive_avg_forward", "adaptive_avg_backward"}

// pickArch chooses what to compile for a GPU of compute capability cc (e.g. 90)
// given the architectures NVRTC supports: machine code for cc itself when NVRTC
// knows it; otherwise PTX for the newest architecture below cc, which the driver
// compiles on load (a GPU newer than the NVRTC); an error when NVRTC only knows
// newer architectures than the GPU.
func pickArch(cc int, supported []int) (option string, cubin bool, err error) {
	best := -1
	for _, a := range supported {
		if a == cc {
			return fmt.Sprintf("--gpu-architecture=sm_%d", cc), true, nil
		}
		if a < cc && a > best {
			best = a
		}
	}
	if best < 0 {
		return "", false, fmt.Errorf("NVRTC supports architectures %v, none at or below this GPU's %d.%d", supported, cc/10, cc%10)
	}
	return fmt.Sprintf("--gpu-architecture=compute_%d", best), false, nil
}

var (
	imageMu    sync.Mutex
	imageCache = map[int][]byte{} // compute capability -> compiled module
)

// kernelImage compiles kernelSource for compute capability cc, once per process.
func kernelImage(cc int) ([]byte, error) {
	imageMu.Lock()
	defer imageMu.Unlock()
	if img, ok := imageCache[cc]; ok {
		return img, nil
	}
	archs, err := nvrtcSupportedArchs()
	if err != nil {
		return nil, err
	}
	arch, cubin, err := pickArch(cc, archs)
	if err != nil {
		return nil, err
	}
	img, _, err := compileKernels(arch, cubin)
	if err != nil {
		return nil, err
	}
	imageCache[cc] = img
	return img, nil
}

// kernelOptions are the NVRTC options besides the architecture: no fused multiply-add
// contraction, so the kernels round as the Go reference does.
var kernelOptions = []string{"--fmad=false"}

// compileKernels compiles kernelSource for arch (an NVRTC --gpu-architecture option)
// and returns machine code (cubin) or PTX, and NVRTC's log (its warnings; empty for a
// clean compile).
func compileKernels(arch string, cubin bool) (img []byte, log string, err error) {
	prog, err := nvrtcCreateProgram(kernelSource, "alexnet_kernels.cu")
	if err != nil {
		return nil, "", err
	}
	defer nvrtcDestroyProgram(prog)
	opts := append([]string{arch}, kernelOptions...)
	cerr := nvrtcCompileProgram(prog, opts)
	log, _ = nvrtcGetProgramLog(prog)
	log = strings.TrimSpace(log)
	if cerr != nil {
		return nil, log, fmt.Errorf("compile kernels (%s): %w: %s", strings.Join(opts, " "), cerr, log)
	}
	if cubin {
		img, err = nvrtcGetCUBIN(prog)
	} else {
		img, err = nvrtcGetPTX(prog)
	}
	return img, log, err
}

// kernels is the loaded module of one backend and its functions.
type kernels struct {
	module C.CUmodule
	fn     map[string]C.CUfunction
}

// loadKernels compiles (once) and loads the module into the current context.
func loadKernels(cc int) (*kernels, error) {
	img, err := kernelImage(cc)
	if err != nil {
		return nil, err
	}
	m, err := cuModuleLoadData(img)
	if err != nil {
		return nil, err
	}
	k := &kernels{module: m, fn: map[string]C.CUfunction{}}
	for _, name := range kernelNames {
		f, err := cuModuleGetFunction(m, name)
		if err != nil {
			cuModuleUnload(m)
			return nil, err
		}
		k.fn[name] = f
	}
	return k, nil
}

func (k *kernels) unload() error {
	if k == nil {
		return nil
	}
	return cuModuleUnload(k.module)
}

// gridFor is the number of blocks of block threads for n elements, capped: the
// kernels loop with a grid stride, and a few blocks per SM keep a GPU busy.
func gridFor(n, block int) int {
	g := (n + block - 1) / block
	return max(1, min(g, 1<<16))
}
