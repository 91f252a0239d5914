package cudnn

import (
	"fmt"
	"io"
	"strings"

	"alexnet/csrc"
)

// GPU is one device as the driver reports it.
type GPU struct {
	Index        int
	Name         string
	MemoryBytes  int64
	Major, Minor int // compute capability
	SMs          int
}

// Info is what `alexnet devices` prints: the GPUs and the versions and files of the
// libraries the backend would use.
type Info struct {
	Driver    int // CUDA version the driver supports, e.g. 13000 for 13.0
	Runtime   int // cudart, same encoding
	CUBLAS    [3]int
	CUDNN     int // e.g. 91300 for 9.13.0
	NVRTC     [2]int
	GPUs      []GPU
	Libraries []Library
}

// Devices loads the libraries and lists the GPUs. With no driver, no library or no
// GPU it returns an error wrapping backend.ErrUnavailable, in one line; Info then
// holds whatever was found before that.
func Devices() (*Info, error) {
	info := &Info{}
	libs, err := Load()
	if err != nil {
		return info, err
	}
	info.Libraries = libs
	if err := csrc.CuInit(); err != nil {
		return info, unavailablef(err, "cuda: no usable NVIDIA GPU or driver")
	}
	if info.Driver, err = csrc.CuDriverGetVersion(); err != nil {
		return info, err
	}
	if info.Runtime, err = csrc.CudaRuntimeGetVersion(); err != nil {
		return info, err
	}
	for i, p := range []int{csrc.MajorVersion, csrc.MinorVersion, csrc.PatchLevel} {
		if info.CUBLAS[i], err = csrc.CublasGetProperty(p); err != nil {
			return info, err
		}
	}
	info.CUDNN = csrc.CudnnGetVersion()
	if info.NVRTC[0], info.NVRTC[1], err = csrc.NvrtcVersion(); err != nil {
		return info, err
	}
	n, err := csrc.CuDeviceGetCount()
	if err != nil {
		return info, err
	}
	if n == 0 {
		return info, unavailablef(nil, "cuda: the driver reports no GPU")
	}
	for i := 0; i < n; i++ {
		g, err := describeGPU(i)
		if err != nil {
			return info, fmt.Errorf("GPU %d: %w", i, err)
		}
		info.GPUs = append(info.GPUs, g)
	}
	return info, nil
}

func describeGPU(i int) (GPU, error) {
	g := GPU{Index: i}
	d, err := csrc.CuDeviceGet(i)
	if err != nil {
		return g, err
	}
	if g.Name, err = csrc.CuDeviceGetName(d); err != nil {
		return g, err
	}
	if g.MemoryBytes, err = csrc.CuDeviceTotalMem(d); err != nil {
		return g, err
	}
	if g.Major, err = csrc.CuDeviceGetAttribute(csrc.AttrComputeCapabilityMajor, d); err != nil {
		return g, err
	}
	if g.Minor, err = csrc.CuDeviceGetAttribute(csrc.AttrComputeCapabilityMinor, d); err != nil {
		return g, err
	}
	if g.SMs, err = csrc.CuDeviceGetAttribute(csrc.AttrMultiprocessorCount, d); err != nil {
		return g, err
	}
	return g, nil
}

// cudaVersion formats CUDA's 1000*major + 10*minor.
func cudaVersion(v int) string { return fmt.Sprintf("%d.%d", v/1000, v%1000/10) }

// cudnnVersion formats cuDNN 9's 10000*major + 100*minor + patch.
func cudnnVersion(v int) string {
	if v < 90000 { // cuDNN 8 and older: 1000*major + 100*minor + patch
		return fmt.Sprintf("%d.%d.%d", v/1000, v%1000/100, v%100)
	}
	return fmt.Sprintf("%d.%d.%d", v/10000, v%10000/100, v%100)
}

// Write prints the report, one fact per line.
func (info *Info) Write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "driver:  CUDA %s\n", cudaVersion(info.Driver))
	fmt.Fprintf(&b, "runtime: CUDA %s\n", cudaVersion(info.Runtime))
	fmt.Fprintf(&b, "cuBLAS:  %d.%d.%d\n", info.CUBLAS[0], info.CUBLAS[1], info.CUBLAS[2])
	fmt.Fprintf(&b, "cuDNN:   %s\n", cudnnVersion(info.CUDNN))
	fmt.Fprintf(&b, "NVRTC:   %d.%d\n", info.NVRTC[0], info.NVRTC[1])
	for _, g := range info.GPUs {
		fmt.Fprintf(&b, "GPU %d:   %s, %.1f GiB, compute capability %d.%d, %d SMs\n",
			g.Index, g.Name, float64(g.MemoryBytes)/(1<<30), g.Major, g.Minor, g.SMs)
	}
	for _, l := range info.Libraries {
		fmt.Fprintf(&b, "library: %-14s %s\n", l.Name, l.Path)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
