package cudnn

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"alexnet/internal/backend"
	"alexnet/internal/lowp"
	"alexnet/internal/ref"
)

// cudaShim turns kernelSource into host C++: a block's threads are POSIX threads
// that meet at a barrier in __syncthreads, __shared__ arrays are statics (blocks run
// one after another, so one copy serves each block in turn), blockIdx changes only
// between blocks. A kernel must leave a block with all its threads, as on a GPU. The kernels' own text then runs on a machine without a
// GPU: their arithmetic, indexing and reductions, not the launch code or the PTX
// (TestKernelsCompile checks that).
const cudaShim = `
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <pthread.h>
#include <thread>
#include <vector>
using std::isnan;
struct ax_dim3 { unsigned x, y, z; };
static thread_local ax_dim3 threadIdx;
static ax_dim3 blockIdx, blockDim, gridDim;
static pthread_barrier_t ax_bar;
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
static inline void __syncthreads() { pthread_barrier_wait(&ax_bar); }
static inline unsigned __float_as_uint(float x) { unsigned u; memcpy(&u, &x, 4); return u; }
static inline float __uint_as_float(unsigned u) { float x; memcpy(&x, &u, 4); return x; }
`

// hostMain runs each kernel on inputs from stdin and writes the outputs, in the
// order TestKernelsOnHost reads them. Launch shapes are small and odd on purpose,
// so the grid-stride loops go round more than once.
const hostMain = `
// One thread per CUDA thread for the whole launch, walking the blocks in step:
// thread 0 sets blockIdx between two barriers, so nobody reads it while it changes.
template <class F> static void ax_launch(unsigned gx, unsigned gy, unsigned bx, F f) {
	gridDim = {gx, gy, 1};
	blockDim = {bx, 1, 1};
	static pthread_barrier_t outer;
	pthread_barrier_init(&ax_bar, nullptr, bx);
	pthread_barrier_init(&outer, nullptr, bx);
	std::vector<std::thread> ts;
	for (unsigned t = 0; t < bx; t++)
		ts.emplace_back([=, &f] {
			threadIdx = {t, 0, 0};
			for (unsigned y = 0; y < gy; y++)
				for (unsigned x = 0; x < gx; x++) {
					if (t == 0) blockIdx = {x, y, 0};
					pthread_barrier_wait(&outer);
					f();
					pthread_barrier_wait(&outer);
				}
		});
	for (auto &t : ts) t.join();
	pthread_barrier_destroy(&outer);
	pthread_barrier_destroy(&ax_bar);
}
template <class T> static std::vector<T> readv(size_t n) {
	std::vector<T> v(n);
	if (n && fread(v.data(), sizeof(T), n, stdin) != n) exit(5);
	return v;
}
template <class T> static T read1() { return readv<T>(1)[0]; }
template <class T> static void writev(const std::vector<T> &v) { fwrite(v.data(), sizeof(T), v.size(), stdout); }

int main() {
	// sgd_multi: k tensors, two steps.
	int k = read1<int>();
	float momentum = read1<float>(), gscale = read1<float>();
	SGDBatch b;
	memset(&b, 0, sizeof b);
	std::vector<std::vector<float>> ws(k), gs(k), vs(k);
	long long most = 0;
	for (int i = 0; i < k; i++) {
		long long n = read1<long long>();
		ws[i] = readv<float>(n);
		gs[i] = readv<float>(n);
		vs[i] = readv<float>(n);
		b.t[i] = {ws[i].data(), gs[i].data(), vs[i].data(), n, read1<float>(), read1<float>()};
		if (n > most) most = n;
	}
	for (int step = 0; step < 2; step++) ax_launch(3, k, 7, [&] { sgd_multi(b, momentum, gscale); });
	for (int i = 0; i < k; i++) { writev(ws[i]); writev(vs[i]); }

	// softmax_xent then xent_sums, with and without dlogits, for each case.
	int cases = read1<int>();
	for (int cs = 0; cs < cases; cs++) {
		int n = read1<int>(), c = read1<int>();
		std::vector<float> logits = readv<float>((size_t)n * c);
		std::vector<int> labels = readv<int>(n);
		std::vector<float> dl((size_t)n * c, 7.0f), sums = {1.5f, 2.0f, 3.0f};
		std::vector<double> losses(n);
		std::vector<int> higher(n);
		for (int pass = 0; pass < 2; pass++) {
			ax_launch(n, 1, XENT_THREADS, [&] { softmax_xent(logits.data(), labels.data(), dl.data(), losses.data(), higher.data(), n, c, pass == 0); });
			ax_launch(1, 1, XENT_THREADS, [&] { xent_sums(losses.data(), higher.data(), n, sums.data()); });
		}
		writev(dl);
		writev(sums);
	}

	// nonfinite over each of m arrays; scale of the first.
	int m = read1<int>();
	for (int i = 0; i < m; i++) {
		long long len = read1<long long>();
		std::vector<float> x = readv<float>(len);
		int flag = 0;
		ax_launch(2, 1, 5, [&] { nonfinite(x.data(), len, &flag); });
		fwrite(&flag, 4, 1, stdout);
		float s = read1<float>();
		ax_launch(2, 1, 5, [&] { scale(x.data(), s, len); });
		writev(x);
	}

	// from16_bias: x [N, ch, hw] in 16 bits.
	int fmt = read1<int>(), N = read1<int>(), ch = read1<int>(), hw = read1<int>();
	std::vector<unsigned short> x16 = readv<unsigned short>((size_t)N * ch * hw);
	std::vector<float> bias = readv<float>(ch), y((size_t)N * ch * hw);
	ax_launch(3, 1, 11, [&] { from16_bias(x16.data(), bias.data(), y.data(), fmt, (long long)y.size(), hw, ch); });
	writev(y);

	// Casts, both formats: to16, from16 of those, add16 onto acc, round16.
	long long cn = read1<long long>();
	std::vector<float> cx = readv<float>(cn), acc0 = readv<float>(cn);
	for (int f = 1; f <= 2; f++) {
		std::vector<unsigned short> h(cn);
		std::vector<float> back(cn), acc = acc0, r(cn);
		ax_launch(2, 1, 9, [&] { to16(cx.data(), h.data(), f, cn); });
		ax_launch(2, 1, 9, [&] { from16(h.data(), back.data(), f, cn); });
		ax_launch(2, 1, 9, [&] { add16(h.data(), acc.data(), f, cn); });
		ax_launch(2, 1, 9, [&] { round16(cx.data(), r.data(), f, cn); });
		writev(h); writev(back); writev(acc); writev(r);
	}

	// Dropout forward, then backward through mul.
	long long dn = read1<long long>();
	unsigned long long seed = read1<unsigned long long>();
	float p = read1<float>(), sc = read1<float>();
	std::vector<float> dx_ = readv<float>(dn), dy_ = readv<float>(dn), dyo(dn), mask(dn), dxo(dn);
	ax_launch(3, 1, 13, [&] { dropout_forward(dx_.data(), dyo.data(), mask.data(), seed, p, sc, dn); });
	ax_launch(3, 1, 13, [&] { mul(dy_.data(), mask.data(), dxo.data(), dn); });
	writev(mask); writev(dyo); writev(dxo);

	// Adaptive average pooling, forward and backward.
	long long planes = read1<long long>();
	int ah = read1<int>(), aw = read1<int>(), aoh = read1<int>(), aow = read1<int>();
	std::vector<float> ax = readv<float>(planes * ah * aw), ady = readv<float>(planes * aoh * aow);
	std::vector<float> ay(planes * aoh * aow), adx(planes * ah * aw);
	ax_launch(2, 1, 7, [&] { adaptive_avg_forward(ax.data(), ay.data(), planes, ah, aw, aoh, aow); });
	ax_launch(2, 1, 7, [&] { adaptive_avg_backward(ady.data(), adx.data(), planes, ah, aw, aoh, aow); });
	writev(ay); writev(adx);
	return 0;
}
`

type hostIn struct{ bytes.Buffer }

func (h *hostIn) put(vs ...any) {
	for _, v := range vs {
		if err := binary.Write(&h.Buffer, binary.LittleEndian, v); err != nil {
			panic(err)
		}
	}
}

type hostOut struct {
	t *testing.T
	r *bytes.Reader
}

func (h hostOut) get(v any) {
	h.t.Helper()
	if err := binary.Read(h.r, binary.LittleEndian, v); err != nil {
		h.t.Fatalf("reading the host kernels' output: %v", err)
	}
}

// TestKernelsOnHost runs every kernel through cudaShim on the CPU, against the
// reference backend and lowp: multi-tensor SGD, softmax cross-entropy with its
// on-device sums, the non-finite check, scale, conv output with bias in 16
// bits, the casts, dropout and adaptive average pooling.
func TestKernelsOnHost(t *testing.T) {
	cxx, err := exec.LookPath("g++")
	if err != nil {
		t.Skip("no g++ to run the kernels on the host")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "kernels.cc")
	// 32 threads per softmax block instead of 256: the same reductions (any power of
	// two), an eighth of the barrier traffic, which dominates on a small machine.
	// The sizes below still cross the block in both directions.
	xentDef := fmt.Sprintf("#define XENT_THREADS %d", xentThreads)
	if !strings.Contains(kernelSource, xentDef) {
		t.Fatalf("kernelSource lacks %q: xentThreads and the kernels disagree", xentDef)
	}
	text := strings.Replace(kernelSource, xentDef, "#define XENT_THREADS 32", 1)
	if err := os.WriteFile(src, []byte(cudaShim+text+hostMain), 0o644); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "kernels")
	// No contraction into fused multiply-adds: NVRTC runs with --fmad=false.
	if out, err := exec.Command(cxx, "-std=c++17", "-O1", "-ffp-contract=off", "-pthread", "-Wall", "-Wno-unused-function",
		"-o", exe, src).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cxx, err, out)
	}
	rb := ref.New(backend.Options{})
	defer rb.Close()
	rng := rand.New(rand.NewPCG(7, 11))
	randf := func(n int, s float32) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = (rng.Float32()*2 - 1) * s
		}
		return v
	}
	upload := func(v []float32) backend.Buffer {
		b, err := rb.Alloc(len(v))
		if err == nil {
			err = rb.Upload(b, v)
		}
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	download := func(b backend.Buffer, n int) []float32 {
		v := make([]float32, n)
		if err := rb.Download(v, b); err != nil {
			t.Fatal(err)
		}
		return v
	}
	var in hostIn

	// sgd_multi: three tensors, one longer than the grid, one of a single value.
	sizes := []int{300, 1, 57}
	const momentum, gscale = float32(0.9), float32(1.0 / 1024)
	in.put(int32(len(sizes)), momentum, gscale)
	var ps []backend.SGDParam
	for i, n := range sizes {
		w, g, v := randf(n, 1), randf(n, 1024), randf(n, 0.1)
		lr, decay := 0.01*float32(i+1), 5e-4*float32(i)
		in.put(int64(n), w, g, v, lr, decay)
		ps = append(ps, backend.SGDParam{W: upload(w), G: upload(g), V: upload(v), LR: lr, Decay: decay})
	}
	for range 2 {
		if err := rb.SGD(ps, momentum, gscale); err != nil {
			t.Fatal(err)
		}
	}

	// softmax cases (32 threads a row here): 70 rows (more than xent_sums' 32
	// threads) of 37 classes (some threads take two) with a NaN label score in row
	// 0 and a NaN elsewhere in row 1; 45 rows of 10 classes without NaN (most
	// threads idle; the loss is compared); 20 rows of 3 classes with a NaN label
	// score (fewer classes than the top-5 cut).
	type smCase struct {
		n, c     int
		nanLabel []int // rows whose label score is NaN
		nanOther []int // rows with a NaN in another class
		labels   []int32
		logits   backend.Buffer
		dl, sums backend.Buffer
	}
	smCases := []*smCase{{n: 70, c: 37, nanLabel: []int{0}, nanOther: []int{1}}, {n: 45, c: 10}, {n: 20, c: 3, nanLabel: []int{4}}}
	in.put(int32(len(smCases)))
	for _, sc := range smCases {
		logits := randf(sc.n*sc.c, 8)
		sc.labels = make([]int32, sc.n)
		for i := range sc.labels {
			sc.labels[i] = int32(rng.IntN(sc.c))
		}
		for _, r := range sc.nanLabel {
			logits[r*sc.c+int(sc.labels[r])] = float32(math.NaN())
		}
		for _, r := range sc.nanOther {
			logits[r*sc.c+(int(sc.labels[r])+1)%sc.c] = float32(math.NaN())
		}
		in.put(int32(sc.n), int32(sc.c), logits, sc.labels)
		sc.logits, sc.dl, sc.sums = upload(logits), upload(make([]float32, sc.n*sc.c)), upload([]float32{1.5, 2, 3})
		for pass := range 2 {
			var d backend.Buffer
			if pass == 0 {
				d = sc.dl
			}
			if err := rb.SoftmaxCrossEntropy(sc.logits, sc.labels, sc.n, sc.c, d, sc.sums); err != nil {
				t.Fatal(err)
			}
		}
	}

	// nonfinite and scale.
	finiteCases := [][]float32{randf(23, 1e30), append(randf(17, 1), float32(math.Inf(-1))), append(randf(9, 1), float32(math.NaN())), {math.MaxFloat32}}
	in.put(int32(len(finiteCases)))
	for i, x := range finiteCases {
		in.put(int64(len(x)), x, float32(i)+0.5)
	}

	// from16_bias, bf16 then the values: N=2, ch=3, hw=5.
	const N, ch, hw = 2, 3, 5
	x16 := make([]uint16, N*ch*hw)
	for i := range x16 {
		x16[i] = lowp.FloatToBF16((rng.Float32()*2 - 1) * 100)
	}
	bias := randf(ch, 3)
	in.put(int32(1), int32(N), int32(ch), int32(hw), x16, bias)

	// Casts: ordinary values, halfway cases, fp16 subnormals and overflow, NaN, inf.
	cx := append(randf(40, 70000), 1+1.0/256, 1+3.0/256, 65504, 65520, -65536, 6e-8, -3e-5,
		float32(math.NaN()), float32(math.Inf(1)), 0, float32(math.Copysign(0, -1)))
	acc := randf(len(cx), 2)
	in.put(int64(len(cx)), cx, acc)

	// Dropout: p = 0.5 as in the paper's fc6/fc7, 1000 values.
	const dn, dp = 1000, float32(0.5)
	dropX, dropDY := randf(dn, 3), randf(dn, 3)
	dscale := 1 / (1 - dp)
	const seed = uint64(0x1234_5678_9abc)
	in.put(int64(dn), seed, dp, dscale, dropX, dropDY)

	// Adaptive pooling of uneven, overlapping windows: 5x7 to 3x2.
	const planes = 4
	type ap struct{ h, w, oh, ow int }
	apc := ap{5, 7, 3, 2}
	apX, apDY := randf(planes*apc.h*apc.w, 2), randf(planes*apc.oh*apc.ow, 2)
	in.put(int64(planes), int32(apc.h), int32(apc.w), int32(apc.oh), int32(apc.ow), apX, apDY)

	// A kernel some of whose threads left a block early would wait at a barrier
	// forever: a deadline turns that into a failure.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Stdin = &in.Buffer
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	out := hostOut{t, bytes.NewReader(raw)}

	for i, p := range ps {
		w, v := make([]float32, sizes[i]), make([]float32, sizes[i])
		out.get(w)
		out.get(v)
		if d, j := maxDiffBits(w, download(p.W, sizes[i])); d != 0 {
			t.Errorf("sgd_multi tensor %d: w[%d] differs from ref", i, j)
		}
		if d, j := maxDiffBits(v, download(p.V, sizes[i])); d != 0 {
			t.Errorf("sgd_multi tensor %d: v[%d] differs from ref", i, j)
		}
	}

	for _, sc := range smCases {
		gotD := make([]float32, sc.n*sc.c)
		out.get(gotD)
		var gotSums [3]float32
		out.get(gotSums[:])
		wantD := download(sc.dl, sc.n*sc.c)
		worst := 0.0
		for i := range gotD {
			if g, w := float64(gotD[i]), float64(wantD[i]); math.IsNaN(g) != math.IsNaN(w) {
				t.Fatalf("softmax %dx%d: dlogits[%d] = %g, ref %g", sc.n, sc.c, i, g, w)
			} else if !math.IsNaN(g) {
				worst = max(worst, math.Abs(g-w))
			}
		}
		// exp and log: glibc's and Go's may differ in the last bit of a float64,
		// which a float32 result almost never shows.
		if worst > 1e-9 {
			t.Errorf("softmax %dx%d: dlogits differ from ref by up to %g", sc.n, sc.c, worst)
		}
		wantSums := download(sc.sums, 3)
		lossOK := math.Abs(float64(gotSums[0]-wantSums[0])) <= 1e-6*math.Abs(float64(wantSums[0]))
		if len(sc.nanLabel)+len(sc.nanOther) > 0 { // the loss sum is NaN on both
			lossOK = math.IsNaN(float64(gotSums[0])) && math.IsNaN(float64(wantSums[0]))
		}
		if gotSums[1] != wantSums[1] || gotSums[2] != wantSums[2] || !lossOK {
			t.Errorf("softmax %dx%d: xent_sums %v, ref %v", sc.n, sc.c, gotSums, wantSums)
		}
		t.Logf("softmax %dx%d: dlogits within %g of ref; sums %v (ref %v)", sc.n, sc.c, worst, gotSums, wantSums)
	}

	for i, x := range finiteCases {
		var flag int32
		out.get(&flag)
		want := int32(0)
		for _, v := range x {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				want = 1
			}
		}
		if flag != want {
			t.Errorf("nonfinite case %d: flag %d, want %d", i, flag, want)
		}
		got := make([]float32, len(x))
		out.get(got)
		s := float32(i) + 0.5
		for j := range x {
			if w := x[j] * s; math.Float32bits(got[j]) != math.Float32bits(w) && !(w != w && got[j] != got[j]) {
				t.Errorf("scale case %d [%d]: %g, want %g", i, j, got[j], w)
				break
			}
		}
	}

	y := make([]float32, N*ch*hw)
	out.get(y)
	for i := range y {
		v := lowp.BF16ToFloat(x16[i]) + bias[(i/hw)%ch]
		if want := lowp.BF16ToFloat(lowp.FloatToBF16(v)); math.Float32bits(y[i]) != math.Float32bits(want) {
			t.Errorf("from16_bias [%d] = %g, want %g", i, y[i], want)
		}
	}
	for f := 1; f <= 2; f++ {
		to, from := lowp.FloatToBF16, lowp.BF16ToFloat
		if f == 2 {
			to, from = lowp.FloatToFP16, lowp.FP16ToFloat
		}
		h := make([]uint16, len(cx))
		back, sum, r := make([]float32, len(cx)), make([]float32, len(cx)), make([]float32, len(cx))
		out.get(h)
		out.get(back)
		out.get(sum)
		out.get(r)
		for i, x := range cx {
			w := to(x)
			wsum := float32(float64(acc[i]) + float64(from(w)))
			if h[i] != w || !sameBits(back[i], from(w)) || !sameBits(sum[i], wsum) || !sameBits(r[i], from(w)) {
				t.Errorf("fmt %d cast of %g: to16 %#04x (lowp %#04x), from16 %g, add16 %g (want %g), round16 %g", f, x, h[i], w, back[i], sum[i], wsum, r[i])
			}
		}
	}

	mask, dy, dx := make([]float32, dn), make([]float32, dn), make([]float32, dn)
	out.get(mask)
	out.get(dy)
	out.get(dx)
	rx, ry, rm := upload(dropX), upload(make([]float32, dn)), upload(make([]float32, dn))
	if err := rb.DropoutForward(rx, ry, rm, dp, seed); err != nil {
		t.Fatal(err)
	}
	rdy, rdx := upload(dropDY), upload(make([]float32, dn))
	if err := rb.Mul(rdy, rm, rdx); err != nil {
		t.Fatal(err)
	}
	for name, pair := range map[string][2][]float32{"mask": {mask, download(rm, dn)}, "y": {dy, download(ry, dn)}, "dx": {dx, download(rdx, dn)}} {
		if k, i := maxDiffBits(pair[0], pair[1]); k != 0 {
			t.Errorf("dropout %s: %d values differ from ref, the first at %d", name, k, i)
		}
	}

	ay, adx := make([]float32, planes*apc.oh*apc.ow), make([]float32, planes*apc.h*apc.w)
	out.get(ay)
	out.get(adx)
	op, err := rb.NewPool(backend.PoolParams{In: backend.Shape{N: 1, C: planes, H: apc.h, W: apc.w}, Kind: backend.AdaptiveAvgPool, OutH: apc.oh, OutW: apc.ow})
	if err != nil {
		t.Fatal(err)
	}
	rpx, rpy := upload(apX), upload(make([]float32, len(ay)))
	rpdy, rpdx := upload(apDY), upload(make([]float32, len(adx)))
	if err := op.Forward(rpx, rpy); err != nil {
		t.Fatal(err)
	}
	if err := op.Backward(rpx, rpy, rpdy, rpdx); err != nil {
		t.Fatal(err)
	}
	if k, i := maxDiffBits(ay, download(rpy, len(ay))); k != 0 {
		t.Errorf("adaptive_avg_forward: %d values differ from ref, the first at %d", k, i)
	}
	if k, i := maxDiffBits(adx, download(rpdx, len(adx))); k != 0 {
		t.Errorf("adaptive_avg_backward: %d values differ from ref, the first at %d", k, i)
	}
	if out.r.Len() != 0 {
		t.Errorf("%d bytes of output left over", out.r.Len())
	}
}

// sameBits: equal bit patterns, or both NaN.
func sameBits(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
}

// maxDiffBits returns how many values differ bit for bit, and the first.
func maxDiffBits(a, b []float32) (int, int) {
	n, first := 0, -1
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	return n, first
}
