package csrc

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Status codes become errors that name the call, the status and its code; success
// is nil. Without the library loaded the names come from the project's tables, which
// must match the vendor headers' enumerators.
func TestStatusErrors(t *testing.T) {
	cases := []struct {
		lib, call string
		code      int
		name      string // expected when the library is not loaded
	}{
		{"cudart", "cudaMalloc", 2, "cudaErrorMemoryAllocation"},
		{"cudart", "cudaSetDevice", 101, "cudaErrorInvalidDevice"},
		{"cuda", "cuInit", 100, "CUDA_ERROR_NO_DEVICE"},
		{"cuda", "cuModuleLoadData", 209, "CUDA_ERROR_NO_BINARY_FOR_GPU"},
		{"cublas", "cublasSgemm_v2", 7, "CUBLAS_STATUS_INVALID_VALUE"},
		{"cublas", "cublasCreate_v2", 1, "CUBLAS_STATUS_NOT_INITIALIZED"},
		{"cudnn", "cudnnConvolutionForward", 2000, "CUDNN_STATUS_BAD_PARAM"},
		{"cudnn", "cudnnConvolutionForward", 3002, "CUDNN_STATUS_NOT_SUPPORTED_SHAPE"},
		{"cudnn", "cudnnCreate", 1001, "CUDNN_STATUS_NOT_INITIALIZED"},
		{"cudnn", "cudnnLRNCrossChannelForward", 3099, "CUDNN_STATUS_NOT_SUPPORTED_*"}, // unknown code: its category
		{"nvrtc", "nvrtcCompileProgram", 6, "NVRTC_ERROR_COMPILATION"},
	}
	libs := map[string]Lib{"cudart": LibCudart, "cuda": LibCuda, "cublas": LibCublas, "cudnn": LibCudnn, "nvrtc": LibNvrtc}
	for _, c := range cases {
		if err := statusError(c.lib, c.call, 0); err != nil {
			t.Errorf("%s status 0: %v, want nil", c.lib, err)
		}
		err := statusError(c.lib, c.call, c.code)
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("%s %d: %T, want *Error", c.lib, c.code, err)
		}
		msg := err.Error()
		t.Logf("%s", msg)
		if !strings.HasPrefix(msg, c.call+": ") || !strings.Contains(msg, fmt.Sprintf("(%d)", c.code)) {
			t.Errorf("%q should start with the call and show the code %d", msg, c.code)
		}
		if Loaded(libs[c.lib]) {
			if e.Name == "" {
				t.Errorf("%s %d: the loaded library gave no name", c.lib, c.code)
			}
			continue
		}
		if e.Name != c.name {
			t.Errorf("%s %d named %q, want %q", c.lib, c.code, e.Name, c.name)
		}
		if want := fmt.Sprintf("%s: %s (%d)", c.call, c.name, c.code); msg != want {
			t.Errorf("message %q, want %q", msg, want)
		}
	}
	if got := (&Error{Lib: "cudnn", Call: "f", Code: 77}).Error(); got != "f: cudnn status 77" {
		t.Errorf("nameless status: %q", got)
	}
	if got := (&Error{Call: "f", Code: 3, Name: "N", Detail: "what went wrong"}).Error(); got != "f: N (3): what went wrong" {
		t.Errorf("with detail: %q", got)
	}
}
