package torchload

import (
	"fmt"
	"slices"
	"strings"

	"alexnet/internal/safetensors"
)

// torchvisionAlexNet lists torchvision.models.alexnet's parameters in its
// state_dict order with the names of configs/alexnet-owt.yaml. The numbers are
// the indices in torchvision's nn.Sequential blocks (features: conv, ReLU, pool,
// ...; classifier: Dropout, Linear, ReLU, Dropout, Linear, ReLU, Linear).
var torchvisionAlexNet = []struct {
	torch, ours string
	shape       []int
}{
	{"features.0.weight", "conv1.weight", []int{64, 3, 11, 11}},
	{"features.0.bias", "conv1.bias", []int{64}},
	{"features.3.weight", "conv2.weight", []int{192, 64, 5, 5}},
	{"features.3.bias", "conv2.bias", []int{192}},
	{"features.6.weight", "conv3.weight", []int{384, 192, 3, 3}},
	{"features.6.bias", "conv3.bias", []int{384}},
	{"features.8.weight", "conv4.weight", []int{256, 384, 3, 3}},
	{"features.8.bias", "conv4.bias", []int{256}},
	{"features.10.weight", "conv5.weight", []int{256, 256, 3, 3}},
	{"features.10.bias", "conv5.bias", []int{256}},
	{"classifier.1.weight", "fc6.weight", []int{4096, 9216}},
	{"classifier.1.bias", "fc6.bias", []int{4096}},
	{"classifier.4.weight", "fc7.weight", []int{4096, 4096}},
	{"classifier.4.bias", "fc7.bias", []int{4096}},
	{"classifier.6.weight", "fc8.weight", []int{1000, 4096}},
	{"classifier.6.bias", "fc8.bias", []int{1000}},
}

// MapTorchvisionAlexNet renames the state_dict of torchvision.models.alexnet
// (as from torch.save(model.state_dict())) onto configs/alexnet-owt.yaml's
// parameter names: features.0 -> conv1, features.3 -> conv2, features.6 -> conv3,
// features.8 -> conv4, features.10 -> conv5, classifier.1 -> fc6,
// classifier.4 -> fc7, classifier.6 -> fc8. A "module." prefix (nn.DataParallel)
// is dropped. Layouts are PyTorch's, as the model expects, so data is shared,
// not copied. The result is in the network's order, conv1.weight first.
//
// Anything else is one error line: the first tensor whose shape differs (with
// both shapes), a missing tensor, or keys torchvision's AlexNet does not have.
// CheckTorchvisionAlexNet is a check for ReadFile: every tensor torchvision's
// AlexNet has must come with its shape, and nothing else is read (a key it does not
// have is refused by name before its storage is read).
func CheckTorchvisionAlexNet(name string, shape []int) error {
	name = strings.TrimPrefix(name, "module.")
	for _, p := range torchvisionAlexNet {
		if p.torch == name {
			if !slices.Equal(shape, p.shape) {
				return fmt.Errorf("%s has shape %v, torchvision's alexnet needs %v", name, shape, p.shape)
			}
			return nil
		}
	}
	return fmt.Errorf("%s is not a tensor of torchvision's alexnet (its keys are features.0.weight ... classifier.6.bias)", name)
}

func MapTorchvisionAlexNet(tensors []safetensors.Tensor) ([]safetensors.Tensor, error) {
	byName := make(map[string]safetensors.Tensor, len(tensors))
	var order []string
	for _, t := range tensors {
		name := strings.TrimPrefix(t.Name, "module.")
		if _, dup := byName[name]; dup {
			return nil, fmt.Errorf("torchvision alexnet: %s appears twice (with and without \"module.\"?)", name)
		}
		byName[name] = t
		order = append(order, name)
	}
	found := 0
	for _, p := range torchvisionAlexNet {
		if _, ok := byName[p.torch]; ok {
			found++
		}
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("not a torchvision alexnet state_dict: it has no tensors")
	}
	if found == 0 {
		first := order[:min(len(order), 4)]
		return nil, fmt.Errorf("not a torchvision alexnet state_dict: none of its keys (features.0.weight, ..., classifier.6.bias) is there; the file has %d tensors, first %s",
			len(order), strings.Join(first, ", "))
	}
	out := make([]safetensors.Tensor, 0, len(torchvisionAlexNet))
	for _, p := range torchvisionAlexNet {
		t, ok := byName[p.torch]
		if !ok {
			return nil, fmt.Errorf("%s is missing, torchvision's alexnet needs it with shape %v", p.torch, p.shape)
		}
		if !slices.Equal(t.Shape, p.shape) {
			return nil, fmt.Errorf("%s has shape %v, torchvision's alexnet needs %v", p.torch, t.Shape, p.shape)
		}
		if n := numel(p.shape); len(t.Data) != n {
			return nil, fmt.Errorf("%s has shape %v but %d values, not %d", p.torch, t.Shape, len(t.Data), n)
		}
		out = append(out, safetensors.Tensor{Name: p.ours, Shape: t.Shape, Data: t.Data})
		delete(byName, p.torch)
	}
	if len(byName) > 0 {
		var extra []string
		for _, name := range order {
			if _, ok := byName[name]; ok {
				extra = append(extra, name)
			}
		}
		msg := strings.Join(extra[:min(len(extra), 4)], ", ")
		if len(extra) > 4 {
			msg += fmt.Sprintf(" (%d in all)", len(extra))
		}
		return nil, fmt.Errorf("torchvision alexnet: unexpected tensors %s", msg)
	}
	return out, nil
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
