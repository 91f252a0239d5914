package app

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"alexnet/internal/backend"
	"alexnet/internal/config"
	"alexnet/internal/model"
	"alexnet/internal/parallel"
)

// builtNet is a network on its backends, ready to run.
type builtNet struct {
	model.Net
	Name     string            // where it runs: "cpu", "cuda", "towers cuda:0 + cuda:1"
	Single   *model.Network    // the one-device network (nil for towers)
	Backend  backend.Backend   // its backend (nil for towers)
	Towers   *parallel.Towers  // the two towers (nil for one device)
	backends []backend.Backend // to close
}

func (n *builtNet) Close() {
	n.Net.Close()
	for _, b := range n.backends {
		b.Close()
	}
}

// Sync waits for every backend's queued work.
func (n *builtNet) Sync() error {
	for _, b := range n.backends {
		if err := b.Sync(); err != nil {
			return err
		}
	}
	return nil
}

// PeakBytes is the most backend memory held, summed over the devices.
func (n *builtNet) PeakBytes() int64 {
	var p int64
	for _, b := range n.backends {
		p += b.Memory().Peak
	}
	return p
}

// openNet builds c's network for batches of up to batch images: on one backend, or
// as the paper's two towers when parallel.mode is model. The backend flag (or the
// config's train.backend) chooses the kind; for towers the devices say where.
func openNet(c *config.Config, backendFlag string, threads, device, batch int) (*builtNet, error) {
	return openNetFor(c, backendFlag, threads, device, batch, false)
}

// openInferenceNet is openNet for forward passes only (eval, predict): on one
// device the backend and the network skip everything backward needs
// (model.NewInference, backend.Options.Inference); the towers are built as for
// training.
func openInferenceNet(c *config.Config, backendFlag string, threads, device, batch int) (*builtNet, error) {
	return openNetFor(c, backendFlag, threads, device, batch, true)
}

func openNetFor(c *config.Config, backendFlag string, threads, device, batch int, inference bool) (*builtNet, error) {
	if threads == 0 { // --threads beats the config's train.threads; 0 in both: every core
		threads = c.Train.Threads
	}
	if c.Parallel.Mode != "model" {
		prec, err := backend.ParsePrecision(c.Train.Precision)
		if err != nil {
			return nil, usage(err)
		}
		b, err := openBackend(backendFlag, c.Train.Backend, backend.Options{Threads: threads, Device: device, Precision: prec, Inference: inference})
		if err != nil {
			return nil, err
		}
		build := model.New
		if inference {
			build = model.NewInference
		}
		net, err := build(c.Model, b, batch)
		if err != nil {
			b.Close()
			return nil, usage(err)
		}
		return &builtNet{Net: net, Name: b.Name() + precisionLabel(b, prec), Single: net, Backend: b, backends: []backend.Backend{b}}, nil
	}
	kind := backendFlag
	if kind == "" {
		kind = c.Train.Backend
	}
	prec, err := backend.ParsePrecision(c.Train.Precision)
	if err != nil {
		return nil, usage(err)
	}
	var opened []backend.Backend
	var where []string
	open := func(d string) (backend.Backend, error) {
		name, o := "cuda", backend.Options{Precision: prec}
		if d == "cpu" {
			// Each tower gets one thread of its own: two goroutines already use two cores.
			name, o = "cpu", backend.Options{Threads: max(1, threads/2), Precision: prec}
			if kind == "ref" {
				name = "ref"
			}
		} else {
			o.Device, _ = strconv.Atoi(d)
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
	towers, err := parallel.New(c.Model, c.Parallel, open, batch)
	if err != nil {
		for _, b := range opened {
			b.Close()
		}
		var exit *ExitErr
		if errors.As(err, &exit) { // a backend that would not open keeps its own code
			return nil, err
		}
		return nil, usage(err)
	}
	label := ""
	if len(opened) > 0 {
		label = precisionLabel(opened[0], prec)
	}
	return &builtNet{Net: towers, Name: "towers " + strings.Join(where, " + ") + label, Towers: towers, backends: opened}, nil
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
