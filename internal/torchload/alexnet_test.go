package torchload

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"alexnet/internal/safetensors"
)

// torchvisionStateDict builds torchvision alexnet's state_dict names and shapes
// with zero values (61 million of them; untouched zero pages cost no memory), the
// first value of each tensor set to its index so the mapping can be traced.
func torchvisionStateDict(prefix string) []safetensors.Tensor {
	shapes := []struct {
		name  string
		shape []int
	}{
		{"features.0.weight", []int{64, 3, 11, 11}}, {"features.0.bias", []int{64}},
		{"features.3.weight", []int{192, 64, 5, 5}}, {"features.3.bias", []int{192}},
		{"features.6.weight", []int{384, 192, 3, 3}}, {"features.6.bias", []int{384}},
		{"features.8.weight", []int{256, 384, 3, 3}}, {"features.8.bias", []int{256}},
		{"features.10.weight", []int{256, 256, 3, 3}}, {"features.10.bias", []int{256}},
		{"classifier.1.weight", []int{4096, 9216}}, {"classifier.1.bias", []int{4096}},
		{"classifier.4.weight", []int{4096, 4096}}, {"classifier.4.bias", []int{4096}},
		{"classifier.6.weight", []int{1000, 4096}}, {"classifier.6.bias", []int{1000}},
	}
	out := make([]safetensors.Tensor, len(shapes))
	for i, s := range shapes {
		n := 1
		for _, d := range s.shape {
			n *= d
		}
		data := make([]float32, n)
		data[0] = float32(i + 1)
		out[i] = safetensors.Tensor{Name: prefix + s.name, Shape: slices.Clone(s.shape), Data: data}
	}
	return out
}

var owtNames = []string{
	"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "conv3.weight", "conv3.bias",
	"conv4.weight", "conv4.bias", "conv5.weight", "conv5.bias", "fc6.weight", "fc6.bias",
	"fc7.weight", "fc7.bias", "fc8.weight", "fc8.bias",
}

func TestMapTorchvisionAlexNet(t *testing.T) {
	for _, prefix := range []string{"", "module."} {
		in := torchvisionStateDict(prefix)
		// The file's order should not matter: reverse it.
		slices.Reverse(in)
		got, err := MapTorchvisionAlexNet(in)
		if err != nil {
			t.Fatalf("prefix %q: %v", prefix, err)
		}
		var names []string
		for i, g := range got {
			names = append(names, g.Name)
			if g.Data[0] != float32(i+1) {
				t.Errorf("prefix %q: %s holds tensor %v, want %d", prefix, g.Name, g.Data[0], i+1)
			}
		}
		if !slices.Equal(names, owtNames) {
			t.Errorf("prefix %q: names %v, want %v", prefix, names, owtNames)
		}
		if got[0].Shape[0] != 64 || got[10].Shape[1] != 9216 {
			t.Errorf("shapes %v, %v", got[0].Shape, got[10].Shape)
		}
	}
}

func TestMapTorchvisionAlexNetErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func([]safetensors.Tensor) []safetensors.Tensor
		want string
	}{
		{"wrong shape", func(ts []safetensors.Tensor) []safetensors.Tensor {
			ts[2].Shape = []int{256, 64, 5, 5} // the paper's 256 instead of torchvision's 192
			ts[2].Data = make([]float32, 256*64*5*5)
			return ts
		}, "features.3.weight has shape [256 64 5 5], torchvision's alexnet needs [192 64 5 5]"},
		{"first of two wrong shapes", func(ts []safetensors.Tensor) []safetensors.Tensor {
			ts[14].Shape = []int{10, 4096}
			ts[3].Shape = []int{256}
			return ts
		}, "features.3.bias has shape [256], torchvision's alexnet needs [192]"},
		{"missing", func(ts []safetensors.Tensor) []safetensors.Tensor {
			return slices.Delete(ts, 9, 10)
		}, "features.10.bias is missing, torchvision's alexnet needs it with shape [256]"},
		{"unexpected", func(ts []safetensors.Tensor) []safetensors.Tensor {
			return append(ts, safetensors.Tensor{Name: "features.1.running_mean", Shape: []int{64}, Data: make([]float32, 64)})
		}, "unexpected tensors features.1.running_mean"},
		{"data does not fit the shape", func(ts []safetensors.Tensor) []safetensors.Tensor {
			ts[1].Data = ts[1].Data[:10]
			return ts
		}, "features.0.bias has shape [64] but 10 values"},
		{"another network", func(ts []safetensors.Tensor) []safetensors.Tensor {
			return []safetensors.Tensor{{Name: "conv1.weight", Shape: []int{64, 3, 7, 7}}, {Name: "bn1.weight", Shape: []int{64}}}
		}, "not a torchvision alexnet state_dict: none of its keys"},
		{"empty", func([]safetensors.Tensor) []safetensors.Tensor { return nil }, "no tensors"},
	}
	for _, c := range cases {
		_, err := MapTorchvisionAlexNet(c.edit(torchvisionStateDict("")))
		if err == nil {
			t.Errorf("%s: no error, want %q", c.name, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %q, want one line containing %q", c.name, err, c.want)
		}
	}
}

// TestFullTorchvisionFile reads a real torchvision AlexNet file when one is
// named (244 MB, too big to commit), e.g. after, in Python,
// torch.save(torchvision.models.alexnet(weights="DEFAULT").state_dict(), "alexnet.pth"):
//
//	ALEXNET_PTH=alexnet.pth go test ./internal/torchload -run Full -v
func TestFullTorchvisionFile(t *testing.T) {
	path := os.Getenv("ALEXNET_PTH")
	if path == "" {
		t.Skip("set ALEXNET_PTH to a torchvision alexnet state_dict to run")
	}
	t0 := time.Now()
	ts, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	read := time.Since(t0)
	mapped, err := MapTorchvisionAlexNet(ts)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mapped {
		var sum float64
		for _, v := range m.Data {
			sum += float64(v)
		}
		t.Logf("%-13s %-18s sum %.6f first %.8g", m.Name, fmt.Sprint(m.Shape), sum, m.Data[0])
	}
	t.Logf("read %s in %v", path, read)
}
