package cudnn

import (
	"embed"
	"fmt"
	"io/fs"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"unsafe"

	"alexnet/csrc"
)

// The kernels are the few operations cuDNN and cuBLAS do not offer. Each lives in a
// .cu file beside the Go file of its op (sgd.cu beside sgd.go, ...); kernels.cuh and
// round16.cuh hold what they share. All are one NVRTC program, compiled once per
// process for the GPU's architecture: the shared files first, then every .cu file
// in name order, each behind a #line so that NVRTC's messages name its file and line.
//
// A kernel is declared only there: the names to load and the parameter lists that
// launch checks its arguments against are read from the source (parseKernels).

//go:embed kernels.cuh
var kernelPrelude string

// roundSource is round16.cuh, which the host test compiles as C too.
//
//go:embed round16.cuh
var roundSource string

//go:embed *.cu
var kernelFiles embed.FS

// kernelSource is the whole program.
var kernelSource = joinKernels()

func joinKernels() string {
	var b strings.Builder
	add := func(name, text string) { fmt.Fprintf(&b, "#line 1 %q\n%s\n", name, text) }
	add("kernels.cuh", kernelPrelude)
	add("round16.cuh", roundSource)
	names, err := fs.Glob(kernelFiles, "*.cu")
	if err != nil {
		panic(err) // the pattern is a constant and valid
	}
	for _, name := range names {
		text, err := kernelFiles.ReadFile(name)
		if err != nil {
			panic(err) // embedded: it is there
		}
		add(name, string(text))
	}
	return b.String()
}

// paramTypes pairs the C type of a kernel parameter with the Go type launch takes
// for it; a pointer parameter takes a csrc.DevPtr. A struct passed by value takes a
// Go struct of the same layout, which must hold no Go pointers (it is copied to C
// memory as bytes); its .cu file checks the C side's size, the PTX test both.
var paramTypes = map[string]reflect.Type{
	"int":                reflect.TypeFor[int32](),
	"long long":          reflect.TypeFor[int64](),
	"u64":                reflect.TypeFor[uint64](),
	"unsigned long long": reflect.TypeFor[uint64](),
	"float":              reflect.TypeFor[float32](),
	"SGDBatch":           reflect.TypeFor[sgdBatch](),
}

var devPtrType = reflect.TypeFor[csrc.DevPtr]()

// kernelSig is one entry point of the program and the Go types of its parameters.
type kernelSig struct {
	name   string
	params []reflect.Type
}

var (
	kernelDecl = regexp.MustCompile(`extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)`)
	cComment   = regexp.MustCompile(`(?s)//[^\n]*|/\*.*?\*/`)
)

// parseKernels reads the entry points of src, in order, ignoring comments. A
// parameter type that paramTypes does not know is an error, so a kernel cannot be
// launched with arguments of a size nobody checked.
func parseKernels(src string) ([]kernelSig, error) {
	var sigs []kernelSig
	seen := map[string]bool{}
	for _, m := range kernelDecl.FindAllStringSubmatch(cComment.ReplaceAllString(src, " "), -1) {
		sig := kernelSig{name: m[1]}
		if seen[sig.name] {
			return nil, fmt.Errorf("kernel %s is defined twice", sig.name)
		}
		seen[sig.name] = true
		if params := strings.TrimSpace(m[2]); params == "" || params == "void" {
			sigs = append(sigs, sig)
			continue
		}
		for _, p := range strings.Split(m[2], ",") {
			var words []string
			for _, w := range strings.Fields(strings.ReplaceAll(p, "*", " * ")) {
				if w != "const" && w != "__restrict__" {
					words = append(words, w)
				}
			}
			if len(words) < 2 {
				return nil, fmt.Errorf("kernel %s: cannot read parameter %q", sig.name, strings.TrimSpace(p))
			}
			ctype := strings.Join(words[:len(words)-1], " ")
			t, ok := paramTypes[ctype]
			if strings.Contains(ctype, "*") {
				t, ok = devPtrType, true
			}
			if !ok {
				return nil, fmt.Errorf("kernel %s: parameter %q: no Go type for %q in paramTypes", sig.name, strings.TrimSpace(p), ctype)
			}
			sig.params = append(sig.params, t)
		}
		sigs = append(sigs, sig)
	}
	if len(sigs) == 0 {
		return nil, fmt.Errorf("the kernel source declares no kernel")
	}
	return sigs, nil
}

var kernelSigs = sync.OnceValues(func() ([]kernelSig, error) { return parseKernels(kernelSource) })

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
	archs, err := csrc.NvrtcSupportedArchs()
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
	prog, err := csrc.NvrtcCreateProgram(kernelSource, "alexnet_kernels.cu")
	if err != nil {
		return nil, "", err
	}
	defer csrc.NvrtcDestroyProgram(prog)
	opts := append([]string{arch}, kernelOptions...)
	cerr := csrc.NvrtcCompileProgram(prog, opts)
	log, _ = csrc.NvrtcGetProgramLog(prog)
	log = strings.TrimSpace(log)
	if cerr != nil {
		return nil, log, fmt.Errorf("compile kernels (%s): %w: %s", strings.Join(opts, " "), cerr, log)
	}
	if cubin {
		img, err = csrc.NvrtcGetCUBIN(prog)
	} else {
		img, err = csrc.NvrtcGetPTX(prog)
	}
	return img, log, err
}

// kernels is the loaded module of one backend and its functions.
type kernels struct {
	module csrc.Module
	fn     map[string]kernel
}

type kernel struct {
	fn     csrc.Function
	params []reflect.Type
}

// loadKernels compiles (once) and loads the module into the current context.
func loadKernels(cc int) (*kernels, error) {
	sigs, err := kernelSigs()
	if err != nil {
		return nil, err
	}
	img, err := kernelImage(cc)
	if err != nil {
		return nil, err
	}
	m, err := csrc.CuModuleLoadData(img)
	if err != nil {
		return nil, err
	}
	k := &kernels{module: m, fn: map[string]kernel{}}
	for _, sig := range sigs {
		f, err := csrc.CuModuleGetFunction(m, sig.name)
		if err != nil {
			csrc.CuModuleUnload(m)
			return nil, err
		}
		k.fn[sig.name] = kernel{fn: f, params: sig.params}
	}
	return k, nil
}

func (k *kernels) unload() error {
	if k == nil {
		return nil
	}
	return csrc.CuModuleUnload(k.module)
}

// launch runs kernel name on the backend's stream, over gridX x gridY blocks of
// block threads. The arguments must have the Go types of the kernel's parameters
// (paramTypes): cuLaunchKernel copies as many bytes as each parameter has from
// wherever it is pointed, so a mismatch would pass garbage rather than fail.
func (b *Backend) launch(name string, gridX, gridY, block int, args ...any) error {
	k, ok := b.kern.fn[name]
	if !ok {
		return fmt.Errorf("no kernel %s in the program", name)
	}
	if len(args) != len(k.params) {
		return fmt.Errorf("kernel %s takes %d arguments, got %d", name, len(k.params), len(args))
	}
	cargs := make([]any, len(args))
	for i, a := range args {
		t := k.params[i]
		if reflect.TypeOf(a) != t {
			return fmt.Errorf("kernel %s: argument %d is a %T, the parameter takes a %v", name, i, a, t)
		}
		cargs[i] = a
		if t.Kind() == reflect.Struct {
			v := reflect.New(t)
			v.Elem().Set(reflect.ValueOf(a))
			cargs[i] = unsafe.Slice((*byte)(v.UnsafePointer()), t.Size())
		}
	}
	if err := csrc.CuLaunchKernel(k.fn, [3]int{gridX, gridY, 1}, [3]int{block, 1, 1}, b.stream, cargs...); err != nil {
		return fmt.Errorf("kernel %s: %w", name, err)
	}
	return nil
}

const elemBlock = 256 // threads per block of the elementwise kernels

// elementwise launches kernel name over n elements with elemBlock threads a block.
func (b *Backend) elementwise(name string, n int, args ...any) error {
	return b.launch(name, gridFor(n, elemBlock), 1, elemBlock, args...)
}

// gridFor is the number of blocks of block threads for n elements, capped: the
// kernels loop with a grid stride, and a few blocks per SM keep a GPU busy.
func gridFor(n, block int) int {
	g := (n + block - 1) / block
	return max(1, min(g, 1<<16))
}
