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

// backend.DropoutKeep's splitmix64 finaliser.
__device__ __forceinline__ u64 mix64(u64 z) {
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

// SGD, the paper's form:  v <- momentum*v - decay*lr*w - lr*g;  w <- w + v
//   w, g, v [n]
extern "C" __global__ void sgd(float *w, const float *g, float *v, float lr, float momentum,
                               float decay, long long n) {
	double m = momentum, dl = (double)decay * (double)lr, l = lr;
	GRID_LOOP(i, n) {
		float nv = (float)(m * (double)v[i] - dl * (double)w[i] - l * (double)g[i]);
		v[i] = nv;
		w[i] = (float)((double)w[i] + (double)nv);
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
//   dlogits[r,j] = (softmax(logits[r,:])[j] - [j == labels[r]]) / n   (when want_grad)
//   logits, dlogits [n, c]   labels [n]   losses [n] (double; the host takes the mean)
#define XENT_THREADS 256
extern "C" __global__ void softmax_xent(const float *logits, const int *labels, float *dlogits,
                                        double *losses, int n, int c, int want_grad) {
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
	int label = labels[row];
	if (t == 0) losses[row] = lse - (double)x[label];
	if (!want_grad) return;
	float *d = dlogits + (long long)row * c;
	for (int j = t; j < c; j += XENT_THREADS) {
		double g = exp((double)x[j] - lse);
		if (j == label) g -= 1.0;
		d[j] = (float)(g / (double)n);
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
var kernelNames = []string{"sgd", "dropout_forward", "mul", "softmax_xent", "adaptive_avg_forward", "adaptive_avg_backward"}

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
	prog, err := nvrtcCreateProgram(kernelSource, "alexnet_kernels.cu")
	if err != nil {
		return nil, err
	}
	defer nvrtcDestroyProgram(prog)
	opts := []string{arch, "--fmad=false"}
	if err := nvrtcCompileProgram(prog, opts); err != nil {
		log, _ := nvrtcGetProgramLog(prog)
		return nil, fmt.Errorf("compile kernels (%s): %w: %s", strings.Join(opts, " "), err, strings.TrimSpace(log))
	}
	var img []byte
	if cubin {
		img, err = nvrtcGetCUBIN(prog)
	} else {
		img, err = nvrtcGetPTX(prog)
	}
	if err != nil {
		return nil, err
	}
	imageCache[cc] = img
	return img, nil
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
