package cudnn

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"alexnet/csrc"
	"alexnet/internal/lowp"
)

// parseKernels reads each entry point's parameters as the Go types launch takes,
// and refuses what it cannot size; the constants Go shares with the source agree.
func TestParseKernels(t *testing.T) {
	ptr, i32, i64, u64, f32 := reflect.TypeFor[csrc.DevPtr](), reflect.TypeFor[int32](), reflect.TypeFor[int64](),
		reflect.TypeFor[uint64](), reflect.TypeFor[float32]()
	src := `
// extern "C" __global__ void commented(float x) is not a kernel
__device__ int helper(int a) { return a; }
extern "C" __global__ void a(const float *x, unsigned short* __restrict__ y, int n, long long m,
                             u64 seed, unsigned long long z, float s) {}
/* extern "C" __global__ void hidden(int n) {} */
extern "C" __global__ void b(const SGDBatch batch, float m) {}
extern "C" __global__ void c(void) {}
`
	got, err := parseKernels(src)
	if err != nil {
		t.Fatal(err)
	}
	want := []kernelSig{
		{"a", []reflect.Type{ptr, ptr, i32, i64, u64, u64, f32}},
		{"b", []reflect.Type{reflect.TypeFor[sgdBatch](), f32}},
		{"c", nil},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed %v, want %v", got, want)
	}
	for _, bad := range []string{
		`extern "C" __global__ void d(short n) {}`,
		`extern "C" __global__ void e(double x) {}`,
		`extern "C" __global__ void f(Unknown u) {}`,
		`extern "C" __global__ void g(int) {}`,
		`extern "C" __global__ void h(int n) {} extern "C" __global__ void h(float x) {}`,
		`__global__ void mangled(int n) {}`,
	} {
		if sigs, err := parseKernels(bad); err == nil {
			t.Errorf("%s: parsed as %v, want an error", bad, sigs)
		}
	}

	if _, err := kernelSigs(); err != nil {
		t.Errorf("the kernel source: %v", err)
	}
	for _, def := range []string{fmt.Sprintf("#define SGD_MAX %d\n", sgdMax), fmt.Sprintf("#define XENT_THREADS %d\n", xentThreads)} {
		if !strings.Contains(kernelSource, def) {
			t.Errorf("the kernel source lacks %q: Go and the kernels disagree", strings.TrimSpace(def))
		}
	}
	if got, want := reflect.TypeFor[sgdBatch]().Size(), uintptr(40*sgdMax); got != want {
		t.Errorf("sgdBatch is %d bytes, SGDBatch %d", got, want)
	}
}

// ptxType is the PTX parameter type NVRTC gives a kernel parameter that launch
// passes as a value of Go type t: .u64 for pointers and 64-bit integers, .u32 for
// int, .f32 for float, b8[size] for a struct by value.
func ptxType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Uintptr, reflect.Int64, reflect.Uint64:
		return ".u64"
	case reflect.Int32:
		return ".u32"
	case reflect.Float32:
		return ".f32"
	case reflect.Struct:
		return fmt.Sprintf("b8[%d]", t.Size())
	}
	return "(no PTX type for " + t.String() + ")"
}

var (
	ptxEntry = regexp.MustCompile(`\.entry\s+(\w+)\s*\(([^)]*)\)`)
	ptxParam = regexp.MustCompile(`\.param\s+(?:\.align\s+\d+\s+)?(\.\w+)\s+\w+?_param_\d+(\[\d+\])?`)
)

// ptxSignatures reads each entry point's parameter types from PTX text.
func ptxSignatures(ptx string) map[string][]string {
	out := map[string][]string{}
	for _, m := range ptxEntry.FindAllStringSubmatch(ptx, -1) {
		var ps []string
		for _, p := range ptxParam.FindAllStringSubmatch(m[2], -1) {
			t := p[1]
			if p[2] != "" {
				t = strings.TrimPrefix(t, ".") + p[2]
			}
			ps = append(ps, t)
		}
		out[m[1]] = ps
	}
	return out
}

// TestKernelsCompile compiles the whole kernel source with NVRTC, as the backend does
// (kernelOptions), for every architecture it may be asked for: PTX for compute_80
// and compute_90 (what pickArch falls back to on GPUs newer than the NVRTC) and
// machine code for each architecture the NVRTC knows from sm_70 up. Any error, and
// any warning in NVRTC's log, fails. The PTX must define exactly the kernels
// parseKernels reads from the source, with the parameter types launch passes for
// them. It needs only libnvrtc, no GPU.
func TestKernelsCompile(t *testing.T) {
	lib, err := LoadNVRTC()
	if err != nil {
		if IsUnavailable(err) {
			t.Skipf("no NVRTC library can be loaded here, kernels not compiled: %v", err)
		}
		t.Fatal(err)
	}
	major, minor, err := csrc.NvrtcVersion()
	if err != nil {
		t.Fatal(err)
	}
	archs, err := csrc.NvrtcSupportedArchs()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("NVRTC %d.%d from %s, architectures %v", major, minor, lib.Path, archs)
	kernels, err := kernelSigs()
	if err != nil {
		t.Fatal(err)
	}

	type target struct {
		arch  string
		cubin bool
	}
	var targets []target
	for _, cc := range []int{80, 90} {
		if !slices.Contains(archs, cc) {
			t.Errorf("this NVRTC cannot compile for compute_%d", cc)
			continue
		}
		targets = append(targets, target{fmt.Sprintf("--gpu-architecture=compute_%d", cc), false})
	}
	for _, cc := range archs {
		if cc >= 70 {
			opt, cubin, err := pickArch(cc, archs)
			if err != nil || !cubin {
				t.Errorf("pickArch(%d, %v) = %q, %v, %v; want machine code", cc, archs, opt, cubin, err)
				continue
			}
			targets = append(targets, target{opt, true})
		}
	}
	for _, tg := range targets {
		img, log, err := compileKernels(tg.arch, tg.cubin)
		if err != nil {
			t.Errorf("%s: %v", tg.arch, err)
			continue
		}
		if log != "" {
			t.Errorf("%s: NVRTC warns:\n%s", tg.arch, log)
		}
		if len(img) == 0 {
			t.Errorf("%s: empty image", tg.arch)
			continue
		}
		if tg.cubin {
			if !bytes.HasPrefix(img, []byte("\x7fELF")) {
				t.Errorf("%s: the cubin is not an ELF file", tg.arch)
			}
			t.Logf("%s: %d bytes of machine code", tg.arch, len(img))
			continue
		}
		ptx := strings.TrimRight(string(img), "\x00")
		sigs := ptxSignatures(ptx)
		for _, k := range kernels {
			got, ok := sigs[k.name]
			if !ok {
				t.Errorf("%s: PTX has no entry %s (entries: %v)", tg.arch, k.name, mapKeys(sigs))
				continue
			}
			var want []string
			for _, p := range k.params {
				want = append(want, ptxType(p))
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: %s takes %v, launch passes %v", tg.arch, k.name, got, want)
			}
		}
		if len(sigs) != len(kernels) {
			t.Errorf("%s: PTX has %d entries %v, the source declares %d", tg.arch, len(sigs), mapKeys(sigs), len(kernels))
		}
		t.Logf("%s: %d bytes of PTX, %d entries with launch's parameters", tg.arch, len(ptx), len(sigs))
	}
}

func mapKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// roundInputs are float32 bit patterns that probe both formats' rounding: every value
// of each format, one float32 step either side, the midpoints to the next value and
// one step either side of those, the edges (fp16's largest finite, overflow and
// subnormal boundaries), the specials, and random patterns.
func roundInputs() []uint32 {
	var in []uint32
	add := func(u uint32) { in = append(in, u, u+1, u-1) }
	for h := 0; h < 1<<16; h++ {
		bf := math.Float32bits(lowp.BF16ToFloat(uint16(h)))
		add(bf)
		add(bf + 0x8000) // midpoint to the next bf16
		fp := lowp.FP16ToFloat(uint16(h))
		if f := float64(fp); !math.IsInf(f, 0) && !math.IsNaN(f) {
			add(math.Float32bits(fp))
			next := lowp.FP16ToFloat(uint16(h + 1))
			if n := float64(next); !math.IsInf(n, 0) && !math.IsNaN(n) && (fp >= 0) == (next >= 0) {
				add(math.Float32bits((fp + next) / 2)) // exact in float32
			}
		}
	}
	for _, f := range []float32{65504, 65519.996, 65520, 65536, 1e10, 6.1035156e-05, 5.9604645e-08, 2.9802322e-08, 2.9802326e-08, 1e-10} {
		add(math.Float32bits(f))
		add(math.Float32bits(-f))
	}
	for _, u := range []uint32{0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffbfffff, 0x7fffffff, 0x7f7fffff, 0xff7fffff, 0x00000001, 0x007fffff} {
		add(u)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 1 << 20 {
		in = append(in, rng.Uint32())
	}
	return in
}

// roundMain drives roundSource on the host: read float32 bit patterns from stdin,
// write their bf16 and fp16 bits; then write the widening of every 16-bit pattern.
const roundMain = `
int main(void) {
	unsigned int u;
	unsigned int h;
	while (fread(&u, 4, 1, stdin) == 1) {
		unsigned short o[2];
		o[0] = ax_to_bf16(AX_U2F(u));
		o[1] = ax_to_fp16(AX_U2F(u));
		if (ax_to16(AX_U2F(u), 1) != o[0] || ax_to16(AX_U2F(u), 2) != o[1]) return 3;
		fwrite(o, 2, 2, stdout);
	}
	for (h = 0; h < 65536; h++) {
		unsigned int w[2];
		w[0] = AX_F2U(ax_from_bf16((unsigned short)h));
		w[1] = AX_F2U(ax_from_fp16((unsigned short)h));
		if (AX_F2U(ax_from16((unsigned short)h, 1)) != w[0] || AX_F2U(ax_from16((unsigned short)h, 2)) != w[1]) return 4;
		fwrite(w, 4, 2, stdout);
	}
	return 0;
}
`

// TestRoundingHost compiles the kernels' rounding functions (roundSource, the very
// text NVRTC compiles) with the host C compiler and checks them against
// internal/lowp bit for bit: the part of the cast kernels that can be run without a
// GPU. TestCastKernels does the same on the GPU.
func TestRoundingHost(t *testing.T) {
	cc, err := exec.LookPath("gcc")
	if err != nil {
		if cc, err = exec.LookPath("cc"); err != nil {
			t.Skip("no C compiler to build the rounding functions for the host")
		}
	}
	dir := t.TempDir()
	src := `#include <stdio.h>
#include <string.h>
static unsigned int ax_f2u(float x) { unsigned int u; memcpy(&u, &x, 4); return u; }
static float ax_u2f(unsigned int u) { float x; memcpy(&x, &u, 4); return x; }
#define AX_RD static
#define AX_F2U(x) ax_f2u(x)
#define AX_U2F(u) ax_u2f(u)
` + roundSource + roundMain
	if err := os.WriteFile(filepath.Join(dir, "round.c"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "round")
	if out, err := exec.Command(cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-o", exe, filepath.Join(dir, "round.c")).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cc, err, out)
	}
	in := roundInputs()
	var stdin bytes.Buffer
	if err := binary.Write(&stdin, binary.LittleEndian, in); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Stdin = &stdin
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if want := 4*len(in) + 8*65536; len(out) != want {
		t.Fatalf("got %d bytes of output, want %d", len(out), want)
	}
	bad := 0
	for i, u := range in {
		x := math.Float32frombits(u)
		gb := binary.LittleEndian.Uint16(out[4*i:])
		gf := binary.LittleEndian.Uint16(out[4*i+2:])
		if wb := lowp.FloatToBF16(x); gb != wb && bad < 10 {
			bad++
			t.Errorf("to bf16 of %#08x (%g) = %#04x, lowp %#04x", u, x, gb, wb)
		}
		if wf := lowp.FloatToFP16(x); gf != wf && bad < 10 {
			bad++
			t.Errorf("to fp16 of %#08x (%g) = %#04x, lowp %#04x", u, x, gf, wf)
		}
	}
	rest := out[4*len(in):]
	for h := 0; h < 65536; h++ {
		gb := binary.LittleEndian.Uint32(rest[8*h:])
		gf := binary.LittleEndian.Uint32(rest[8*h+4:])
		if wb := math.Float32bits(lowp.BF16ToFloat(uint16(h))); gb != wb && bad < 10 {
			bad++
			t.Errorf("bf16 %#04x widens to %#08x, lowp %#08x", h, gb, wb)
		}
		if wf := math.Float32bits(lowp.FP16ToFloat(uint16(h))); gf != wf && bad < 10 {
			bad++
			t.Errorf("fp16 %#04x widens to %#08x, lowp %#08x", h, gf, wf)
		}
	}
	t.Logf("%d float32 inputs and all 65536 16-bit patterns agree with lowp", len(in))
}
