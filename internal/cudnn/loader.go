package cudnn

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"alexnet/csrc"
)

// Library is one shared library the backend loaded, for the `devices` report.
type Library struct {
	Name string // what it is: "CUDA driver", "cuDNN", ...
	Path string // the file dlopen opened (as the dynamic linker resolved it)
}

// libSpec is one library to find: the sonames to look for, newest first.
type libSpec struct {
	lib     csrc.Lib
	name    string
	sonames []string
	pip     bool   // also look in the folders of pip's nvidia-* wheels
	probe   string // a symbol it exports, to ask dladdr where it was loaded from
	hint    string // what to do when it is missing
}

// finder holds what the search reads from the machine, so tests can give it a fake
// environment and file tree.
type finder struct {
	getenv func(string) string
	glob   func(string) ([]string, error)
	stat   func(string) (fs.FileInfo, error)
	home   string
	// linkerDefault makes the last candidate of each library its bare soname, which
	// dlopen resolves with the dynamic linker's own search (ld.so.cache, RUNPATH).
	linkerDefault bool
}

func systemFinder() finder {
	home, _ := os.UserHomeDir()
	return finder{getenv: os.Getenv, glob: filepath.Glob, stat: os.Stat, home: home, linkerDefault: true}
}

func (f finder) isDir(p string) bool {
	fi, err := f.stat(p)
	return err == nil && fi.IsDir()
}

func (f finder) isFile(p string) bool {
	fi, err := f.stat(p)
	return err == nil && !fi.IsDir()
}

// multiarch is Debian's name for this architecture's library folder and CUDA's
// targets/ name for it.
func multiarch() (debian, cudaTarget string) {
	if runtime.GOARCH == "arm64" {
		return "aarch64-linux-gnu", "sbsa-linux"
	}
	return "x86_64-linux-gnu", "x86_64-linux"
}

// dirs lists the folders to search, in order of preference, keeping those that
// exist: LD_LIBRARY_PATH, CUDA_HOME and CUDA_PATH, /usr/local/cuda and
// /usr/local/cuda-* (newest first), the system folders, then (with pip) the lib
// folders of pip's nvidia-* wheels in the Python environments the machine has.
func (f finder) dirs(pip bool) []string {
	deb, target := multiarch()
	var out []string
	seen := map[string]bool{}
	add := func(d string) {
		if d == "" {
			return
		}
		d = filepath.Clean(d)
		// A toolkit's stubs/ folder holds link-time stand-ins (libcuda.so that fails
		// at run time), never what we want to load.
		if filepath.Base(d) == "stubs" || seen[d] || !f.isDir(d) {
			return
		}
		seen[d] = true
		out = append(out, d)
	}
	for _, d := range strings.Split(f.getenv("LD_LIBRARY_PATH"), ":") {
		add(d)
	}
	for _, v := range []string{"CUDA_HOME", "CUDA_PATH"} {
		if root := f.getenv(v); root != "" {
			add(filepath.Join(root, "lib64"))
			add(filepath.Join(root, "lib"))
			add(filepath.Join(root, "targets", target, "lib"))
		}
	}
	add("/usr/local/cuda/lib64")
	add("/usr/local/cuda/targets/" + target + "/lib")
	for _, root := range f.globSorted("/usr/local/cuda-*") {
		add(filepath.Join(root, "lib64"))
		add(filepath.Join(root, "targets", target, "lib"))
	}
	for _, d := range []string{
		"/usr/lib/" + deb, "/lib/" + deb, "/usr/lib64", "/lib64", "/usr/lib", "/usr/local/lib",
		"/usr/lib/wsl/lib",        // WSL's driver
		"/usr/local/nvidia/lib64", // NVIDIA's container images
	} {
		add(d)
	}
	if !pip {
		return out
	}
	for _, sp := range f.sitePackages() {
		for _, sub := range []string{"cu13/lib", "cu12/lib", "cudnn/lib", "cublas/lib", "cuda_runtime/lib", "cuda_nvrtc/lib"} {
			add(filepath.Join(sp, "nvidia", sub))
		}
	}
	if p := f.getenv("CONDA_PREFIX"); p != "" {
		add(filepath.Join(p, "lib")) // conda's cuda-* packages install here
	}
	return out
}

// sitePackages lists Python package folders: the active virtualenv or conda
// environment first, then the user's, the system's, and virtualenvs under /opt.
func (f finder) sitePackages() []string {
	var pats []string
	for _, v := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if p := f.getenv(v); p != "" {
			pats = append(pats, filepath.Join(p, "lib", "python3*", "site-packages"))
		}
	}
	if f.home != "" {
		pats = append(pats,
			filepath.Join(f.home, ".local", "lib", "python3*", "site-packages"),
			filepath.Join(f.home, ".venv", "lib", "python3*", "site-packages"))
	}
	pats = append(pats,
		"/usr/local/lib/python3*/site-packages", "/usr/local/lib/python3*/dist-packages",
		"/usr/lib/python3*/site-packages", "/usr/lib/python3*/dist-packages", "/usr/lib/python3/dist-packages",
		"/opt/*/.venv/lib/python3*/site-packages", "/opt/*/venv/lib/python3*/site-packages",
		"/opt/*/lib/python3*/site-packages", "/opt/conda/envs/*/lib/python3*/site-packages")
	var out []string
	for _, p := range pats {
		out = append(out, f.globSorted(p)...)
	}
	return out
}

// globSorted returns the matches of pattern with the highest version numbers first
// (cuda-13.0 before cuda-12.8, python3.12 before python3.10).
func (f finder) globSorted(pattern string) []string {
	m, err := f.glob(pattern)
	if err != nil {
		return nil
	}
	sort.SliceStable(m, func(i, j int) bool { return versionLess(m[j], m[i]) })
	return m
}

// versionLess compares strings by their runs of digits as numbers.
func versionLess(a, b string) bool {
	for a != "" && b != "" {
		da, ra := leadingNumber(a)
		db, rb := leadingNumber(b)
		if da >= 0 && db >= 0 {
			if da != db {
				return da < db
			}
			a, b = ra, rb
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func leadingNumber(s string) (int, string) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return -1, s
	}
	n, err := strconv.Atoi(s[:i])
	if err != nil {
		return -1, s
	}
	return n, s[i:]
}

// candidates lists the files to try for spec, best first: every soname (newest
// first) in every folder, then the bare sonames for the dynamic linker.
func (f finder) candidates(spec libSpec, dirs []string) []string {
	var out []string
	for _, so := range spec.sonames {
		for _, d := range dirs {
			if p := filepath.Join(d, so); f.isFile(p) {
				out = append(out, p)
			}
		}
	}
	if f.linkerDefault {
		out = append(out, spec.sonames...)
	}
	return out
}

// opened is one library loaded and resolved.
type opened struct {
	spec   libSpec
	handle unsafe.Pointer
	path   string
	extra  []Library // companions loaded from its folder (cuBLASLt, cuDNN's parts)
}

// open finds, opens and resolves one library. before runs on each candidate's
// folder before the library itself is opened (to preload what it links); after
// returns more handles to look symbols up in and the companions it loaded.
func (f finder) open(spec libSpec, dirs []string,
	before func(dir string) []Library,
	after func(dir string) ([]unsafe.Pointer, []Library, error)) (*opened, error) {
	var tried []string
	files := 0 // candidates that exist as files (not bare sonames)
	for _, c := range f.candidates(spec, dirs) {
		if filepath.IsAbs(c) {
			files++
		}
		var extra []Library
		if before != nil && filepath.IsAbs(c) {
			extra = before(filepath.Dir(c))
		}
		h, err := csrc.Dlopen(c)
		if err != nil {
			tried = append(tried, err.Error())
			continue
		}
		path := csrc.Dlpath(h, spec.probe, c)
		handles := []unsafe.Pointer{h}
		if after != nil {
			more, libs, err := after(filepath.Dir(path))
			if err != nil {
				tried = append(tried, fmt.Sprintf("%s: %v", path, err))
				continue
			}
			handles = append(handles, more...)
			extra = append(extra, libs...)
		}
		if missing, ok := csrc.Resolve(spec.lib, handles); !ok {
			tried = append(tried, fmt.Sprintf("%s lacks %s (too old a version?)", path, missing))
			csrc.Dlclose(h)
			continue
		}
		return &opened{spec: spec, handle: h, path: path, extra: extra}, nil
	}
	want := strings.Join(spec.sonames, " or ")
	if files == 0 {
		// Only bare sonames were tried, if any, and the linker did not find them
		// either: say where we looked rather than repeat dlopen's "cannot open".
		where := "no candidate folder exists"
		if len(dirs) > 0 {
			where = "searched " + strings.Join(dirs, ", ")
		}
		if f.linkerDefault {
			where += " and the dynamic linker's default path"
		}
		return nil, unavailablef(nil, "cuda: %s (%s) not found: %s (%s)", want, spec.name, where, spec.hint)
	}
	return nil, unavailablef(nil, "cuda: cannot load %s (%s): %s", want, spec.name, strings.Join(tried, "; "))
}

// Specs of the libraries. CUDA 13 first, then 12; cuDNN 9 (its legacy API, which
// this backend uses, is still in 9 and gone from nothing we support).
var (
	specDriver = libSpec{lib: csrc.LibCuda, name: "CUDA driver", sonames: []string{"libcuda.so.1"}, probe: "cuInit",
		hint: "is the NVIDIA driver installed? this machine may have no GPU"}
	specCudart = libSpec{lib: csrc.LibCudart, name: "CUDA runtime", sonames: []string{"libcudart.so.13", "libcudart.so.12"}, pip: true, probe: "cudaMalloc",
		hint: "set LD_LIBRARY_PATH or CUDA_HOME to its folder, or pip install nvidia-cuda-runtime"}
	specCublas = libSpec{lib: csrc.LibCublas, name: "cuBLAS", sonames: []string{"libcublas.so.13", "libcublas.so.12"}, pip: true, probe: "cublasCreate_v2",
		hint: "set LD_LIBRARY_PATH or CUDA_HOME to its folder, or pip install nvidia-cublas"}
	// libnvrtc.so.11.2 is the soname of every NVRTC 11.2 to 11.8 (Debian's libnvrtc11.2
	// package ships 11.8, which knows up to sm_90): a last resort, and what the kernel
	// compile test uses on machines without a GPU.
	specNvrtc = libSpec{lib: csrc.LibNvrtc, name: "NVRTC", sonames: []string{"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2"}, pip: true, probe: "nvrtcVersion",
		hint: "set LD_LIBRARY_PATH or CUDA_HOME to its folder, or pip install nvidia-cuda-nvrtc"}
	specCudnn = libSpec{lib: csrc.LibCudnn, name: "cuDNN", sonames: []string{"libcudnn.so.9"}, pip: true, probe: "cudnnGetVersion",
		hint: "set LD_LIBRARY_PATH or CUDA_HOME to its folder, or pip install nvidia-cudnn-cu13"}
)

// preferMajor puts the sonames of one CUDA major version first, so cuBLAS and NVRTC
// match the runtime that loaded.
func preferMajor(spec libSpec, major string) libSpec {
	s := spec
	s.sonames = slices.Clone(spec.sonames)
	sort.SliceStable(s.sonames, func(i, j int) bool {
		return strings.HasSuffix(s.sonames[i], "."+major) && !strings.HasSuffix(s.sonames[j], "."+major)
	})
	return s
}

// cudnnParts are the libraries libcudnn.so.9 (a thin dispatcher in cuDNN 9) opens by
// soname when first needed; loading them from its own folder, with RTLD_GLOBAL,
// first makes that work when the folder is not on the linker's path (pip wheels).
// graph first: the others link it. The legacy convolution API lives in cnn, pooling,
// LRN and activations in ops.
var cudnnParts = []struct {
	file     string
	required bool
}{
	{"libcudnn_graph.so.9", true},
	{"libcudnn_engines_precompiled.so.9", false},
	{"libcudnn_engines_runtime_compiled.so.9", false},
	{"libcudnn_heuristic.so.9", false},
	{"libcudnn_ops.so.9", true},
	{"libcudnn_cnn.so.9", true},
}

// load opens every library, driver first (no driver is the commonest reason and the
// clearest message), and returns what it loaded.
func (f finder) load() ([]Library, error) {
	sys := f.dirs(false)
	all := f.dirs(true)
	var libs []Library
	add := func(o *opened) {
		libs = append(libs, o.extra...)
		libs = append(libs, Library{Name: o.spec.name, Path: o.path})
	}

	drv, err := f.open(specDriver, sys, nil, nil)
	if err != nil {
		return nil, err
	}
	add(drv)
	rt, err := f.open(specCudart, all, nil, nil)
	if err != nil {
		return nil, err
	}
	add(rt)
	major := "13"
	if strings.Contains(filepath.Base(rt.path), ".so.12") {
		major = "12"
	}
	// libcublas links libcublasLt by soname: open the one beside it first.
	blas, err := f.open(preferMajor(specCublas, major), all, func(dir string) []Library {
		var got []Library
		for _, so := range []string{"libcublasLt.so." + major, "libcublasLt.so.13", "libcublasLt.so.12"} {
			p := filepath.Join(dir, so)
			if f.isFile(p) {
				if _, err := csrc.Dlopen(p); err == nil {
					got = append(got, Library{Name: "cuBLASLt", Path: p})
				}
				break
			}
		}
		return got
	}, nil)
	if err != nil {
		return nil, err
	}
	add(blas)
	nvrtc, err := f.open(preferMajor(specNvrtc, major), all, nil, f.nvrtcBuiltins)
	if err != nil {
		return nil, err
	}
	add(nvrtc)
	dnn, err := f.open(specCudnn, all, nil, func(dir string) ([]unsafe.Pointer, []Library, error) {
		var hs []unsafe.Pointer
		var got []Library
		for _, part := range cudnnParts {
			p := filepath.Join(dir, part.file)
			if !f.isFile(p) {
				continue
			}
			h, err := csrc.Dlopen(p)
			if err != nil {
				if part.required {
					return nil, nil, fmt.Errorf("part %s: %v", part.file, err)
				}
				continue
			}
			hs = append(hs, h)
			got = append(got, Library{Name: "cuDNN part", Path: p})
		}
		return hs, got, nil
	})
	if err != nil {
		return nil, err
	}
	add(dnn)
	return libs, nil
}

// nvrtcBuiltins preloads the libnvrtc-builtins beside an NVRTC in dir, which NVRTC
// opens by soname when it compiles (an `after` of finder.open).
func (f finder) nvrtcBuiltins(dir string) ([]unsafe.Pointer, []Library, error) {
	var got []Library
	for _, p := range f.globSorted(filepath.Join(dir, "libnvrtc-builtins.so.*")) {
		if _, err := csrc.Dlopen(p); err == nil {
			got = append(got, Library{Name: "NVRTC builtins", Path: p})
			break
		}
	}
	return nil, got, nil
}

var (
	loadMu   sync.Mutex
	loadLibs []Library // set once everything loaded
	nvrtcLib *Library  // set once LoadNVRTC (or Load) loaded NVRTC
)

// LoadNVRTC finds and opens NVRTC alone (no driver, runtime or GPU needed), for
// compiling the kernels on a machine without a GPU (the kernel compile test). After a
// successful Load it returns the NVRTC that Load opened.
func LoadNVRTC() (Library, error) {
	loadMu.Lock()
	defer loadMu.Unlock()
	if nvrtcLib != nil {
		return *nvrtcLib, nil
	}
	f := systemFinder()
	o, err := f.open(specNvrtc, f.dirs(true), nil, f.nvrtcBuiltins)
	if err != nil {
		return Library{}, err
	}
	nvrtcLib = &Library{Name: o.spec.name, Path: o.path}
	return *nvrtcLib, nil
}

// Load finds and opens the CUDA libraries (once per process; a failure is retried on
// the next call) and returns where each came from. The error wraps
// backend.ErrUnavailable and names what is missing and where it looked.
func Load() ([]Library, error) {
	loadMu.Lock()
	defer loadMu.Unlock()
	if loadLibs != nil {
		return slices.Clone(loadLibs), nil
	}
	libs, err := systemFinder().load()
	if err != nil {
		return nil, err
	}
	loadLibs = libs
	for _, l := range libs {
		if l.Name == specNvrtc.name {
			nvrtcLib = &Library{Name: l.Name, Path: l.Path}
		}
	}
	return slices.Clone(libs), nil
}
