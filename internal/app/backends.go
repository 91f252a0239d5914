package app

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"alexnet/internal/backend"
	"alexnet/internal/config"
	"alexnet/internal/dist"
	"alexnet/internal/model"

	// The backends register themselves with internal/backend when linked in.
	_ "alexnet/internal/cudnn"
	_ "alexnet/internal/onednn"
	_ "alexnet/internal/ref"
)

// This file opens what the commands run on: backends (by flag, config or auto)
// and the network over them, on one device or as the paper's two towers.

// builtNet is a network on its backends, ready to run; closing it closes them.
type builtNet struct {
	*model.Network
	Name string // where it runs: "cpu", "cuda", "towers cuda:0 + cuda:1"
}

// PeakBytes is the most backend memory held, summed over the devices.
func (n *builtNet) PeakBytes() int64 {
	var p int64
	for _, m := range n.Memory() {
		p += m.Peak
	}
	return p
}

// openBackend opens the backend named by the flag, else the config's, else auto.
func openBackend(flag, fromConfig string, o backend.Options) (backend.Backend, error) {
	name := flag
	if name == "" {
		name = fromConfig
	}
	b, err := backend.Open(name, o)
	if err != nil {
		if isUnavailable(err) {
			return nil, unavailable(err)
		}
		return nil, usage(err)
	}
	return b, nil
}

// openNet builds c's network for batches of up to batch images: on one backend, or
// as the paper's two towers when parallel.mode is model. The backend flag (or the
// config's train.backend) chooses the kind; for towers the devices say where.
func openNet(c *config.Config, backendFlag string, threads, device, batch int) (*builtNet, error) {
	return openNetFor(c, backendFlag, threads, device, batch, false, 0)
}

// openInferenceNet is openNet for forward passes only (eval, predict): the
// backends and the network skip everything backward needs (model.NewInference,
// backend.Options.Inference).
func openInferenceNet(c *config.Config, backendFlag string, threads, device, batch int) (*builtNet, error) {
	return openNetFor(c, backendFlag, threads, device, batch, true, 0)
}

// localRank is the rank of a data-parallel process within its node (0: one
// process); it picks the rank's GPUs.
func localRank(g *dist.Group) int {
	if g == nil {
		return 0
	}
	return g.LocalRank
}

// openNetFor opens the network; local is the process's data-parallel rank on its
// node, whose towers take GPUs local*2 and local*2+1 of the ordinals the config
// names (mpirun -np 2 ... --devices 0,1 on four GPUs: 0,1 and 2,3).
func openNetFor(c *config.Config, backendFlag string, threads, device, batch int, inference bool, local int) (*builtNet, error) {
	if threads == 0 { // --threads beats the config's train.threads; 0 in both: every core
		threads = c.Train.Threads
	}
	prec, err := backend.ParsePrecision(c.Train.Precision)
	if err != nil {
		return nil, usage(err)
	}
	var opened []backend.Backend
	var where []string
	open := func(string) (backend.Backend, error) {
		b, err := openBackend(backendFlag, c.Train.Backend, backend.Options{Threads: threads, Device: device, Precision: prec, Inference: inference})
		if err == nil {
			opened, where = append(opened, b), append(where, b.Name())
		}
		return b, err
	}
	devices := []string{""}
	if c.Parallel.Mode == "model" {
		devices = c.Parallel.Devices
		kind := backendFlag
		if kind == "" {
			kind = c.Train.Backend
		}
		open = func(d string) (backend.Backend, error) {
			name, o := "cuda", backend.Options{Precision: prec, Inference: inference}
			if d == "cpu" {
				// Each tower gets one thread of its own: two goroutines already use two cores.
				name, o.Threads = "cpu", max(1, threads/2)
				if kind == "ref" {
					name = "ref"
				}
			} else {
				o.Device, _ = strconv.Atoi(d)
				o.Device += local * len(devices)
				d = strconv.Itoa(o.Device)
			}
			b, err := openBackend(name, "", o)
			if err != nil {
				return nil, err
			}
			opened = append(opened, b)
			if d == "cpu" {
				where = append(where, name)
			} else {
				where = append(where, fmt.Sprintf("%s:%s", name, d))
			}
			return b, nil
		}
	}
	net, err := model.NewOn(c.Model, devices, open, batch, inference)
	if err != nil {
		var exit *ExitErr
		if errors.As(err, &exit) { // a backend that would not open keeps its own code
			return nil, err
		}
		return nil, usage(err)
	}
	name := strings.Join(where, " + ")
	if len(devices) > 1 {
		name = "towers " + name
	}
	return &builtNet{Network: net, Name: name + precisionLabel(opened[0], prec)}, nil
}

// precisionLabel says what precision b computes in, when it is not plain fp32:
// " bf16", or " bf16 (emulated)" where a CPU rounds like a GPU without its speed.
func precisionLabel(b backend.Backend, p backend.Precision) string {
	native := backend.IsNative(b, p)
	switch {
	case p == backend.FP32:
		return ""
	case p == backend.TF32 && !native:
		return " tf32 (fp32 on this backend)"
	case p.Format() != 0 && !native:
		return fmt.Sprintf(" %v (emulated: rounded like a GPU, no speed-up)", p)
	}
	if p == backend.TF32 {
		return " tf32"
	}
	return fmt.Sprintf(" %v (native)", p)
}
