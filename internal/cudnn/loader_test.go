package cudnn

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"alexnet/csrc"
	"alexnet/internal/backend"
)

// fakeRoot is a finder over a temporary folder standing for "/": every absolute path
// the search asks about is looked up under it, so the test controls the whole tree.
func fakeRoot(t *testing.T, env map[string]string, files ...string) (finder, string) {
	t.Helper()
	root := t.TempDir()
	for _, f := range files {
		p := filepath.Join(root, f)
		if strings.HasSuffix(f, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("not a library"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := finder{
		getenv: func(k string) string { return env[k] },
		glob: func(pat string) ([]string, error) {
			m, err := filepath.Glob(filepath.Join(root, pat))
			for i := range m {
				m[i] = strings.TrimPrefix(m[i], root)
			}
			return m, err
		},
		stat: func(p string) (fs.FileInfo, error) { return os.Stat(filepath.Join(root, p)) },
		home: "/home/u",
	}
	return f, root
}

func TestSearchOrder(t *testing.T) {
	env := map[string]string{
		"LD_LIBRARY_PATH": "/ld/one::/ld/missing:/ld/two",
		"CUDA_HOME":       "/opt/cuda",
		"VIRTUAL_ENV":     "/opt/torch/.venv",
	}
	f, _ := fakeRoot(t, env,
		"/ld/one/", "/ld/two/",
		"/opt/cuda/lib64/", "/opt/cuda/lib64/stubs/",
		"/usr/local/cuda/lib64/", "/usr/local/cuda-12.8/lib64/", "/usr/local/cuda-13.0/lib64/", "/usr/local/cuda-12.10/lib64/",
		"/usr/lib/x86_64-linux-gnu/", "/usr/lib/aarch64-linux-gnu/", "/usr/lib/",
		// the active virtualenv, a user install, and a second venv under /opt
		"/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcudart.so.13",
		"/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cudnn/lib/libcudnn.so.9",
		"/home/u/.local/lib/python3.11/site-packages/nvidia/cuda_runtime/lib/libcudart.so.12",
		"/opt/other/.venv/lib/python3.10/site-packages/nvidia/cublas/lib/",
		"/usr/lib/python3/dist-packages/nvidia/cudnn/lib/",
	)
	deb, _ := multiarch()
	want := []string{
		"/ld/one", "/ld/two", // LD_LIBRARY_PATH, in order, missing folders dropped
		"/opt/cuda/lib64",                                                                         // CUDA_HOME (its stubs/ never)
		"/usr/local/cuda/lib64",                                                                   // the default toolkit
		"/usr/local/cuda-13.0/lib64", "/usr/local/cuda-12.10/lib64", "/usr/local/cuda-12.8/lib64", // newest first
		"/usr/lib/" + deb, "/usr/lib",
	}
	sys := f.dirs(false)
	if !slices.Equal(sys, want) {
		t.Errorf("system folders:\n got %q\nwant %q", sys, want)
	}
	pip := []string{
		"/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib", // VIRTUAL_ENV first
		"/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cudnn/lib",
		"/home/u/.local/lib/python3.11/site-packages/nvidia/cuda_runtime/lib",
		"/usr/lib/python3/dist-packages/nvidia/cudnn/lib",
		"/opt/other/.venv/lib/python3.10/site-packages/nvidia/cublas/lib",
	}
	all := f.dirs(true)
	if !slices.Equal(all, append(slices.Clone(want), pip...)) {
		t.Errorf("with pip wheels:\n got %q\nwant %q", all, append(want, pip...))
	}

	// The newest soname wins wherever it is; then the bare sonames for the linker.
	f.linkerDefault = true
	got := f.candidates(specCudart, all)
	wantC := []string{
		"/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcudart.so.13",
		"/home/u/.local/lib/python3.11/site-packages/nvidia/cuda_runtime/lib/libcudart.so.12",
		"libcudart.so.13", "libcudart.so.12",
	}
	if !slices.Equal(got, wantC) {
		t.Errorf("candidates:\n got %q\nwant %q", got, wantC)
	}
	if got := f.candidates(preferMajor(specCudart, "12"), all); got[0] != wantC[1] {
		t.Errorf("preferring CUDA 12, first candidate %q, want %q", got[0], wantC[1])
	}
}

func TestCondaAndCudaPath(t *testing.T) {
	env := map[string]string{"CONDA_PREFIX": "/opt/conda/envs/dl", "CUDA_PATH": "/cuda"}
	f, _ := fakeRoot(t, env,
		"/cuda/lib/", "/cuda/targets/x86_64-linux/lib/", "/cuda/targets/sbsa-linux/lib/",
		"/opt/conda/envs/dl/lib/python3.12/site-packages/nvidia/cublas/lib/",
		"/opt/conda/envs/dl/lib/")
	_, target := multiarch()
	got := f.dirs(true)
	want := []string{
		"/cuda/lib", "/cuda/targets/" + target + "/lib",
		"/opt/conda/envs/dl/lib/python3.12/site-packages/nvidia/cublas/lib",
		"/opt/conda/envs/dl/lib",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestVersionLess(t *testing.T) {
	sorted := []string{"cuda-11.8", "cuda-12.2", "cuda-12.10", "cuda-13.0", "python3.9", "python3.12"}
	for i := 0; i+1 < len(sorted); i++ {
		a, b := sorted[i], sorted[i+1]
		if strings.HasPrefix(a, "cuda") != strings.HasPrefix(b, "cuda") {
			continue
		}
		if !versionLess(a, b) || versionLess(b, a) {
			t.Errorf("versionLess(%q, %q) wrong", a, b)
		}
	}
}

// With nothing to find, the error says which library, where it looked, and that
// the backend is unavailable, in one line.
func TestLoadNothingFound(t *testing.T) {
	f, _ := fakeRoot(t, map[string]string{"LD_LIBRARY_PATH": "/libs"}, "/libs/", "/usr/lib/")
	_, err := f.load()
	if err == nil {
		t.Fatal("load over an empty tree succeeded")
	}
	msg := err.Error()
	t.Logf("error: %s", msg)
	if !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("error does not wrap backend.ErrUnavailable")
	}
	for _, want := range []string{"libcuda.so.1", "CUDA driver", "/libs", "/usr/lib", "not found"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error spans lines: %q", msg)
	}

	empty, _ := fakeRoot(t, nil)
	if _, err := empty.open(specCudnn, empty.dirs(true), nil, nil); err == nil || !strings.Contains(err.Error(), "no candidate folder exists") {
		t.Errorf("no folders at all: error %v", err)
	}
}

// A file with the right name that is not a library: the dlopen error names it.
func TestLoadBrokenFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "libcudart.so.13")
	if err := os.WriteFile(bad, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := systemFinder()
	f.linkerDefault = false
	_, err := f.open(specCudart, []string{dir}, nil, nil)
	if err == nil {
		t.Fatal("opened a garbage file")
	}
	t.Logf("error: %v", err)
	if !errors.Is(err, backend.ErrUnavailable) || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "cannot load") {
		t.Errorf("error %q should wrap ErrUnavailable and name %s", err, bad)
	}
}

// A real shared library that lacks most of the API: the error names the first
// missing function, and nothing is installed.
func TestLoadMissingSymbol(t *testing.T) {
	cc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("no gcc to build a fake library")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "fake.c")
	if err := os.WriteFile(src, []byte("int csrc.CudaRuntimeGetVersion(int *v) { *v = 13000; return 0; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lib := filepath.Join(dir, "libcudart.so.13")
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-o", lib, src).CombinedOutput(); err != nil {
		t.Skipf("gcc: %v: %s", err, out)
	}
	f := systemFinder()
	f.linkerDefault = false
	loadedBefore := csrc.Loaded(csrc.LibCudart)
	_, err = f.open(specCudart, []string{dir}, nil, nil)
	if err == nil {
		t.Fatal("a library without cudaDriverGetVersion loaded")
	}
	t.Logf("error: %v", err)
	if !errors.Is(err, backend.ErrUnavailable) || !strings.Contains(err.Error(), "lacks cudaDriverGetVersion") || !strings.Contains(err.Error(), lib) {
		t.Errorf("error %q should name %s and the missing cudaDriverGetVersion", err, lib)
	}
	if csrc.Loaded(csrc.LibCudart) != loadedBefore {
		t.Errorf("a failed resolve changed the cudart table")
	}
}

// On this machine: either the libraries load (a GPU host) or Load says why not in
// one line wrapping ErrUnavailable; the same holds for Devices.
func TestLoadHere(t *testing.T) {
	libs, err := Load()
	if err != nil {
		if !IsUnavailable(err) || strings.Contains(err.Error(), "\n") || err.Error() == "" {
			t.Fatalf("Load: %q: want one line wrapping ErrUnavailable", err)
		}
		t.Logf("no CUDA here: %v", err)
	} else {
		for _, l := range libs {
			t.Logf("loaded %-14s %s", l.Name, l.Path)
		}
	}
	info, err := Devices()
	if err != nil {
		if !IsUnavailable(err) {
			t.Fatalf("Devices: %v: want an error wrapping ErrUnavailable", err)
		}
		t.Logf("Devices: %v", err)
		return
	}
	var b strings.Builder
	if err := info.Write(&b); err != nil {
		t.Fatal(err)
	}
	t.Logf("devices:\n%s", b.String())
	if len(info.GPUs) == 0 || info.GPUs[0].MemoryBytes <= 0 || info.GPUs[0].Major <= 0 {
		t.Errorf("implausible GPU list %+v", info.GPUs)
	}
	if info.CUDNN < 90000 || info.Runtime < 12000 || info.Driver < info.Runtime {
		t.Errorf("implausible versions: cuDNN %d, runtime %d, driver %d", info.CUDNN, info.Runtime, info.Driver)
	}
}
