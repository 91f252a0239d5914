package cudnn

import (
	"errors"
	"strings"
	"testing"

	"alexnet/csrc"
	"alexnet/internal/backend"
)

func TestUnavailable(t *testing.T) {
	cause := &csrc.Error{Lib: "cuda", Call: "cuInit", Code: 100, Name: "CUDA_ERROR_NO_DEVICE"}
	err := unavailablef(cause, "cuda: no usable NVIDIA GPU or driver")
	if !errors.Is(err, backend.ErrUnavailable) {
		t.Error("does not match backend.ErrUnavailable")
	}
	var e *csrc.Error
	if !errors.As(err, &e) || e.Code != 100 {
		t.Error("the cause is not reachable with errors.As")
	}
	if want := "cuda: no usable NVIDIA GPU or driver: cuInit: CUDA_ERROR_NO_DEVICE (100)"; err.Error() != want {
		t.Errorf("%q, want %q", err, want)
	}
	// The registry passes it through unchanged, so `--backend cuda` prints this line.
	if _, err := backend.Open("cuda", backend.Options{}); err != nil && !errors.Is(err, backend.ErrUnavailable) && !csrc.Loaded(csrc.LibCuda) {
		t.Errorf("backend.Open(cuda) without CUDA: %v does not wrap ErrUnavailable", err)
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := ConfigFromEnv(env(nil))
	if err != nil || c.TF32 || c.Heuristic || c.workspaceLimit() != DefaultWorkspaceLimit {
		t.Errorf("defaults: %+v, %v", c, err)
	}
	c, err = ConfigFromEnv(env(map[string]string{"ALEXNET_CUDA_TF32": "1", "ALEXNET_CUDA_WORKSPACE_MB": "64", "ALEXNET_CUDNN_ALGO": "Heuristic"}))
	if err != nil || !c.TF32 || !c.Heuristic || c.workspaceLimit() != 64<<20 {
		t.Errorf("set: %+v, %v", c, err)
	}
	c, err = ConfigFromEnv(env(map[string]string{"ALEXNET_CUDA_WORKSPACE_MB": "0"}))
	if err != nil || c.workspaceLimit() != 0 {
		t.Errorf("no workspace: %+v (limit %d), %v", c, c.workspaceLimit(), err)
	}
	for k, v := range map[string]string{"ALEXNET_CUDA_TF32": "maybe", "ALEXNET_CUDA_WORKSPACE_MB": "-3", "ALEXNET_CUDNN_ALGO": "fastest"} {
		if _, err := ConfigFromEnv(env(map[string]string{k: v})); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: error %v should name the variable", k, v, err)
		}
	}
}

func TestPickArch(t *testing.T) {
	nvrtc13 := []int{75, 80, 86, 87, 89, 90, 100, 103, 110, 120, 121}
	cases := []struct {
		cc      int
		archs   []int
		option  string
		cubin   bool
		wantErr bool
	}{
		{90, nvrtc13, "--gpu-architecture=sm_90", true, false},         // H100: machine code
		{130, nvrtc13, "--gpu-architecture=compute_121", false, false}, // newer GPU: PTX the driver compiles
		{70, nvrtc13, "", false, true},                                 // V100 with an NVRTC that dropped it
	}
	for _, c := range cases {
		opt, cubin, err := pickArch(c.cc, c.archs)
		if (err != nil) != c.wantErr || opt != c.option || cubin != c.cubin {
			t.Errorf("pickArch(%d): %q %v %v, want %q %v error=%v", c.cc, opt, cubin, err, c.option, c.cubin, c.wantErr)
		}
	}
}

func TestFormats(t *testing.T) {
	if got := cudaVersion(13000); got != "13.0" {
		t.Errorf("cudaVersion(13000) = %s", got)
	}
	if got := cudaVersion(12080); got != "12.8" {
		t.Errorf("cudaVersion(12080) = %s", got)
	}
	if got := cudnnVersion(91300); got != "9.13.0" {
		t.Errorf("cudnnVersion(91300) = %s", got)
	}
	if got := cudnnVersion(8907); got != "8.9.7" {
		t.Errorf("cudnnVersion(8907) = %s", got)
	}
	for _, c := range [][3]int{{1, 256, 1}, {256, 256, 1}, {257, 256, 2}, {1 << 30, 256, 1 << 16}, {0, 256, 1}} {
		if got := gridFor(c[0], c[1]); got != c[2] {
			t.Errorf("gridFor(%d, %d) = %d, want %d", c[0], c[1], got, c[2])
		}
	}
}
