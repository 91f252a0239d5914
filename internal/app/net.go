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
	if c.Parallel.Mode != "model" {
		b, err := openBackend(backendFlag, c.Train.Backend, threads, device)
		if err != nil {
			return nil, err
		}
		net, err := model.New(c.Model, b, batch)
		if err != nil {
			b.Close()
			return nil, usage(err)
		}
		return &builtNet{Net: net, Name: b.Name(), Single: net, Backend: b, backends: []backend.Backend{b}}, nil
	}
	kind := backendFlag
	if kind == "" {
		kind = c.Train.Backend
	}
	var opened []backend.Backend
	var where []string
	open := func(d string) (backend.Backend, error) {
		name, o := "cuda", backend.Options{}
		if d == "cpu" {
			// Each tower gets one thread of its own: two goroutines already use two cores.
			name, o = "cpu", backend.Options{Threads: max(1, threads/2)}
			if kind == "ref" {
				name = "ref"
			}
		} else {
			o.Device, _ = strconv.Atoi(d)
		}
		b, err := openBackend(name, "", o.Threads, o.Device)
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
	return &builtNet{Net: towers, Name: "towers " + strings.Join(where, " + "), Towers: towers, backends: opened}, nil
}
