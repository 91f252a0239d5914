package backend

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Options configure a backend when it is opened.
type Options struct {
	// Threads for CPU backends (0: the library's default, all cores).
	Threads int
	// Device is the GPU ordinal for GPU backends.
	Device int
	// Precision of convolutions and linear layers; the zero value is FP32.
	Precision Precision
	// Inference opens the backend for forward passes only (predict, eval): a backend
	// may then skip what backward needs (the cpu backend builds no backward
	// primitives, gradient scratch or pooling workspaces), and ops' backward methods
	// fail. Backends that ignore it still compute the same forward pass.
	Inference bool
}

// Factory opens a backend; it returns an error wrapping ErrUnavailable when the
// machine lacks what the backend needs (no GPU, no library), with the reason.
type Factory func(Options) (Backend, error)

var (
	mu        sync.Mutex
	factories = map[string]Factory{}
	// autoOrder is the preference of "auto": fastest first.
	autoOrder = []string{"cuda", "cpu", "ref"}
)

// Register makes a backend available under name; backends call it from init.
func Register(name string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	factories[name] = f
}

// Names lists the registered backends.
func Names() []string {
	mu.Lock()
	defer mu.Unlock()
	var names []string
	for n := range factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Open opens the named backend; "auto" (or "") takes the first available of
// cuda, cpu, ref.
func Open(name string, o Options) (Backend, error) {
	if name == "" || name == "auto" {
		var reasons []string
		for _, n := range autoOrder {
			b, err := Open(n, o)
			if err == nil {
				return b, nil
			}
			reasons = append(reasons, err.Error())
		}
		return nil, fmt.Errorf("no backend available: %s", strings.Join(reasons, "; "))
	}
	mu.Lock()
	f, ok := factories[name]
	mu.Unlock()
	if !ok {
		if name == "cuda" || name == "cpu" || name == "ref" {
			return nil, fmt.Errorf("backend %q: %w (not built into this binary)", name, ErrUnavailable)
		}
		return nil, fmt.Errorf("unknown backend %q (choose auto, cuda, cpu or ref)", name)
	}
	b, err := f(o)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			return nil, err
		}
		return nil, fmt.Errorf("backend %s: %w", name, err)
	}
	if o.Precision.Format() != 0 && !IsNative(b, o.Precision) {
		e, err := Emulate(b, o.Precision)
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("backend %s: %w", name, err)
		}
		return e, nil
	}
	return b, nil
}
