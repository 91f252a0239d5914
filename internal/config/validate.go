package config

import (
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strconv"

	"alexnet/internal/schedule"
)

// MaxWorkers and MaxPrefetch bound data.workers and data.prefetch (and pack's
// --workers).
const (
	MaxWorkers  = 1024
	MaxPrefetch = 64
)

// finite refuses NaN and infinite numbers anywhere in v, naming the key by its
// mapstructure tags ("train.momentum", "model.layers[3].alpha").
func finite(v reflect.Value, path string) error {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%s must be a finite number (got %g)", path, f)
		}
	case reflect.Pointer:
		if !v.IsNil() {
			return finite(v.Elem(), path)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			if err := finite(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Struct:
		for _, f := range keyedFields(v.Type()) {
			if err := finite(v.FieldByIndex(f.Index), joinKey(path, keyOf(f))); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Config) applyDefaults() {
	for i := range c.Model.Layers {
		l := &c.Model.Layers[i]
		switch l.Type {
		case Conv:
			l.Stride = orInt(l.Stride, 1)
			l.Groups = orInt(l.Groups, 1)
			fallthrough
		case Linear:
			if l.Init == "" {
				l.Init = "pytorch"
				if l.Std > 0 {
					l.Init = "gaussian"
				}
			}
			if len(l.LRMult) == 0 {
				l.LRMult = []float64{1, 1}
			}
			if len(l.DecayMult) == 0 {
				l.DecayMult = []float64{1, 0} // biases are not decayed
			}
		case LRN: // the paper's values
			l.Size = orInt(l.Size, 5)
			l.Alpha = orFloat(l.Alpha, 1e-4)
			l.Beta = orFloat(l.Beta, 0.75)
			l.K = orFloat(l.K, 2)
		case MaxPool:
			l.Stride = orInt(l.Stride, l.Kernel)
		case Dropout:
			l.P = orFloat(l.P, 0.5)
		}
	}
	d := &c.Data
	if d.Train == "" {
		d.Train = "train"
	}
	if d.Val == "" {
		d.Val = "val"
		if d.Format == "idx" || d.Format == "cifar10" {
			d.Val = "test"
		}
	}
	if d.Workers == 0 {
		d.Workers = runtime.NumCPU()
	}
	if d.Prefetch == 0 {
		d.Prefetch = 4
	}
	if d.Crop == 0 {
		d.Crop = c.Model.Input.Height
	}
	if c.Train.Schedule.Type == "" {
		c.Train.Schedule.Type = "constant"
	}
}

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func orFloat(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

// Validate checks values one key at a time; shapes are checked by model.Plan.
func (c *Config) Validate() error {
	// Every range check below is a comparison, and NaN fails none of them (NaN < 0
	// and NaN >= 1 are both false): non-finite numbers are refused first, by key.
	if err := finite(reflect.ValueOf(*c), ""); err != nil {
		return err
	}
	in := c.Model.Input
	if in.Channels <= 0 || in.Height <= 0 || in.Width <= 0 {
		return fmt.Errorf("model.input: channels, height and width must be positive (got %d, %d, %d)", in.Channels, in.Height, in.Width)
	}
	if c.Model.Classes <= 0 {
		return fmt.Errorf("model.classes must be positive (got %d)", c.Model.Classes)
	}
	if len(c.Model.Layers) == 0 {
		return fmt.Errorf("model.layers is empty")
	}
	seen := map[string]bool{}
	for i, l := range c.Model.Layers {
		if l.Name == "" {
			return fmt.Errorf("model.layers[%d]: name is required", i)
		}
		if seen[l.Name] {
			return fmt.Errorf("model.layers[%d]: layer name %q is used twice", i, l.Name)
		}
		seen[l.Name] = true
		if err := l.validate(); err != nil {
			return fmt.Errorf("layer %s: %w", l.Name, err)
		}
	}
	if last := c.Model.Layers[len(c.Model.Layers)-1]; last.Type != Linear || last.Out != c.Model.Classes {
		return fmt.Errorf("layer %s: the last layer must be linear with out = model.classes (%d); the softmax lives in the loss, not the model", last.Name, c.Model.Classes)
	}
	if err := c.Data.validate(in.Channels); err != nil {
		return err
	}
	if err := c.Parallel.validate(); err != nil {
		return err
	}
	return c.Train.validate()
}

func (l Layer) validate() error {
	switch l.Type {
	case Conv, Linear:
		if l.Out <= 0 {
			return fmt.Errorf("out must be positive (got %d)", l.Out)
		}
		if l.Type == Conv {
			if l.Kernel <= 0 || l.Stride <= 0 || l.Pad < 0 || l.Groups <= 0 {
				return fmt.Errorf("kernel, stride and groups must be positive and pad non-negative (got kernel %d, stride %d, pad %d, groups %d)", l.Kernel, l.Stride, l.Pad, l.Groups)
			}
			if l.Out%l.Groups != 0 {
				return fmt.Errorf("groups %d must divide out %d", l.Groups, l.Out)
			}
		}
		if l.In < 0 {
			return fmt.Errorf("in must be positive (got %d)", l.In)
		}
		switch l.Init {
		case "gaussian":
			if l.Std <= 0 {
				return fmt.Errorf("init gaussian needs std > 0 (got %g)", l.Std)
			}
		case "kaiming", "xavier", "pytorch":
		default:
			return fmt.Errorf("init %q: want gaussian, kaiming, xavier or pytorch", l.Init)
		}
		if len(l.LRMult) != 2 || len(l.DecayMult) != 2 {
			return fmt.Errorf("lr_mult and decay_mult take two values, [weight, bias]")
		}
		for _, m := range append(append([]float64{}, l.LRMult...), l.DecayMult...) {
			if m < 0 {
				return fmt.Errorf("lr_mult and decay_mult must be non-negative")
			}
		}
	case LRN:
		if l.Size <= 0 || l.Alpha < 0 || l.Beta < 0 || l.K <= 0 {
			return fmt.Errorf("size and k must be positive, alpha and beta non-negative (got size %d, alpha %g, beta %g, k %g)", l.Size, l.Alpha, l.Beta, l.K)
		}
	case MaxPool:
		if l.Kernel <= 0 || l.Stride <= 0 || l.Pad < 0 {
			return fmt.Errorf("kernel and stride must be positive and pad non-negative (got kernel %d, stride %d, pad %d)", l.Kernel, l.Stride, l.Pad)
		}
	case AdaptiveAvgPool:
		if l.OutSize <= 0 {
			return fmt.Errorf("out_size must be positive (got %d)", l.OutSize)
		}
	case Dropout:
		if l.P < 0 || l.P >= 1 {
			return fmt.Errorf("p must be in [0, 1) (got %g)", l.P)
		}
	}
	return nil
}

func (d Data) validate(channels int) error {
	switch d.Format {
	case "idx", "cifar10", "imagefolder", "packed", "synthetic":
	default:
		return fmt.Errorf("data.format %q: want idx, cifar10, imagefolder, packed or synthetic", d.Format)
	}
	if d.Format != "synthetic" && d.Root == "" {
		return fmt.Errorf("data.root is required for format %s", d.Format)
	}
	if d.Resize < 0 || d.Crop < 0 || d.Pad < 0 || d.Workers < 0 || d.Prefetch < 0 || d.Samples < 0 {
		return fmt.Errorf("data: resize, crop, pad, workers, prefetch and samples must not be negative")
	}
	// Each worker and each prefetched batch holds memory: bounds that no machine
	// needs more than, so a typo cannot ask for terabytes.
	if d.Workers > MaxWorkers || d.Prefetch > MaxPrefetch {
		return fmt.Errorf("data.workers (%d) must be at most %d and data.prefetch (%d) at most %d batches", d.Workers, MaxWorkers, d.Prefetch, MaxPrefetch)
	}
	if d.Resize > 0 && d.Crop > d.Resize {
		return fmt.Errorf("data.crop %d is larger than data.resize %d", d.Crop, d.Resize)
	}
	if d.Lighting < 0 {
		return fmt.Errorf("data.lighting must not be negative (got %g)", d.Lighting)
	}
	if d.Lighting > 0 && channels != 3 {
		return fmt.Errorf("data.lighting needs 3-channel input (model.input.channels is %d)", channels)
	}
	for _, v := range []struct {
		key  string
		vals []float64
	}{{"data.mean", d.Mean}, {"data.std", d.Std}} {
		if len(v.vals) != 0 && len(v.vals) != channels {
			return fmt.Errorf("%s has %d values, model.input.channels is %d", v.key, len(v.vals), channels)
		}
	}
	for _, s := range d.Std {
		if s <= 0 {
			return fmt.Errorf("data.std values must be positive (got %g)", s)
		}
	}
	return nil
}

func (t Train) validate() error {
	switch {
	case t.BatchSize <= 0:
		return fmt.Errorf("train.batch_size must be positive (got %d)", t.BatchSize)
	case t.Epochs <= 0:
		return fmt.Errorf("train.epochs must be positive (got %d)", t.Epochs)
	case t.LR <= 0:
		return fmt.Errorf("train.lr must be positive (got %g)", t.LR)
	case t.Momentum < 0 || t.Momentum >= 1:
		return fmt.Errorf("train.momentum must be in [0, 1) (got %g)", t.Momentum)
	case t.WeightDecay < 0:
		return fmt.Errorf("train.weight_decay must not be negative (got %g)", t.WeightDecay)
	case t.Threads < 0 || t.MaxSteps < 0 || t.LogEvery < 0:
		return fmt.Errorf("train.threads, train.max_steps and train.log_every must not be negative")
	}
	switch t.Backend {
	case "", "auto", "cpu", "ref", "cuda":
	default:
		return fmt.Errorf("train.backend %q: want auto, cpu, ref or cuda", t.Backend)
	}
	if _, err := schedule.New(t.Schedule, schedule.Run{BaseLR: t.LR, Epochs: t.Epochs, StepsPerEpoch: 1}); err != nil {
		return err
	}
	switch t.Precision {
	case "", "fp32", "tf32", "bf16", "fp16":
	default:
		return fmt.Errorf("train.precision %q: want fp32, tf32, bf16 or fp16", t.Precision)
	}
	switch {
	case t.LossScale < 0 || math.IsInf(t.LossScale, 0) || math.IsNaN(t.LossScale):
		return fmt.Errorf("train.loss_scale must be a positive number, or 0 for a dynamic scale (got %g)", t.LossScale)
	case t.LossScale != 0 && t.Precision != "fp16":
		return fmt.Errorf("train.loss_scale applies to fp16 only (train.precision is %q, whose range needs no scaling); remove it", t.Precision)
	}
	return nil
}

func (p Parallel) validate() error {
	switch p.Mode {
	case "", "none":
		if len(p.Devices) > 0 {
			return fmt.Errorf("parallel.devices needs parallel.mode: model")
		}
	case "model":
		if len(p.Devices) != 2 {
			return fmt.Errorf("parallel.devices: model parallelism takes two devices, one per tower (got %d)", len(p.Devices))
		}
		for _, d := range p.Devices {
			if d == "cpu" {
				continue
			}
			if n, err := strconv.Atoi(d); err != nil || n < 0 {
				return fmt.Errorf("parallel.devices: %q is neither cpu nor a GPU ordinal", d)
			}
		}
		if (p.Devices[0] == "cpu") != (p.Devices[1] == "cpu") {
			return fmt.Errorf("parallel.devices: both towers run on CPUs or both on GPUs (got %v)", p.Devices)
		}
	default:
		return fmt.Errorf("parallel.mode %q: want model or none", p.Mode)
	}
	return nil
}
