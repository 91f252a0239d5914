// Package config reads a run's YAML (through viper) into typed, validated structs.
// Every error names the key or layer at fault, so a typo costs one run, not a day.
package config

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"

	"github.com/go-viper/mapstructure/v2"

	"alexnet/internal/schedule"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// Config is a whole run: the network, its data and how to train it.
type Config struct {
	Name  string `mapstructure:"name" yaml:"name,omitempty"`
	Model Model  `mapstructure:"model" yaml:"model,omitempty"`
	Data  Data   `mapstructure:"data" yaml:"data,omitempty"`
	Train Train  `mapstructure:"train" yaml:"train,omitempty"`
	// Parallel splits the network over devices (the paper's two GPUs).
	Parallel Parallel `mapstructure:"parallel" yaml:"parallel,omitempty"`
}

// Parallel is model parallelism as in the paper: mode "model" runs the two towers
// (the halves of layers with groups 2, and of conv1) on Devices[0] and Devices[1],
// joined where a layer reads both towers. Devices are GPU ordinals ("0", "1"; the
// same one twice runs both towers on one GPU with two streams) or "cpu" ("cpu",
// "cpu" runs the towers in two goroutines). Mode "" or "none" is one device.
type Parallel struct {
	Mode    string   `mapstructure:"mode" yaml:"mode,omitempty"`
	Devices []string `mapstructure:"devices" yaml:"devices,omitempty"`
}

// Model is the network: its input, classes and layers in order.
type Model struct {
	Input   Input   `mapstructure:"input" yaml:"input,omitempty"`
	Classes int     `mapstructure:"classes" yaml:"classes,omitempty"`
	Layers  []Layer `mapstructure:"layers" yaml:"layers,omitempty"`
}

// Input is the shape of one image after the transform.
type Input struct {
	Channels int `mapstructure:"channels" yaml:"channels,omitempty"`
	Height   int `mapstructure:"height" yaml:"height,omitempty"`
	Width    int `mapstructure:"width" yaml:"width,omitempty"`
}

// Layer is one layer; which keys apply depends on Type (see layerKeys).
type Layer struct {
	Name string `mapstructure:"name" yaml:"name,omitempty"`
	Type string `mapstructure:"type" yaml:"type,omitempty"`

	// conv, linear
	Out    int `mapstructure:"out" yaml:"out,omitempty"`
	In     int `mapstructure:"in" yaml:"in,omitempty"` // linear: the input size it expects (optional; checked)
	Kernel int `mapstructure:"kernel" yaml:"kernel,omitempty"`
	Stride int `mapstructure:"stride" yaml:"stride,omitempty"`
	Pad    int `mapstructure:"pad" yaml:"pad,omitempty"`
	Groups int `mapstructure:"groups" yaml:"groups,omitempty"`
	// Init is gaussian (N(0, std), the paper's), kaiming, xavier or pytorch
	// (PyTorch's default: kaiming-uniform with a=sqrt(5), bias U(-1/sqrt(fan_in), ..)).
	Init      string    `mapstructure:"init" yaml:"init,omitempty"`
	Std       float64   `mapstructure:"std" yaml:"std,omitempty"`
	Bias      *float64  `mapstructure:"bias" yaml:"bias,omitempty"`
	LRMult    []float64 `mapstructure:"lr_mult" yaml:"lr_mult,omitempty"`       // [weight, bias], Caffe's lr_mult
	DecayMult []float64 `mapstructure:"decay_mult" yaml:"decay_mult,omitempty"` // [weight, bias], Caffe's decay_mult

	// lrn: alpha is divided by size, as cuda-convnet, Caffe, PyTorch, cuDNN and oneDNN do.
	Size  int     `mapstructure:"size" yaml:"size,omitempty"`
	Alpha float64 `mapstructure:"alpha" yaml:"alpha,omitempty"`
	Beta  float64 `mapstructure:"beta" yaml:"beta,omitempty"`
	K     float64 `mapstructure:"k" yaml:"k,omitempty"`

	// dropout
	P float64 `mapstructure:"p" yaml:"p,omitempty"`

	// adaptive_avgpool: output is OutSize x OutSize
	OutSize int `mapstructure:"out_size" yaml:"out_size,omitempty"`
}

// Layer types.
const (
	Conv            = "conv"
	ReLU            = "relu"
	LRN             = "lrn"
	MaxPool         = "maxpool"
	AdaptiveAvgPool = "adaptive_avgpool"
	Dropout         = "dropout"
	Flatten         = "flatten"
	Linear          = "linear"
)

// layerKeys lists the keys each layer type accepts besides name and type.
var layerKeys = map[string][]string{
	Conv:            {"out", "kernel", "stride", "pad", "groups", "init", "std", "bias", "lr_mult", "decay_mult"},
	Linear:          {"out", "in", "init", "std", "bias", "lr_mult", "decay_mult"},
	ReLU:            {},
	LRN:             {"size", "alpha", "beta", "k"},
	MaxPool:         {"kernel", "stride", "pad"},
	AdaptiveAvgPool: {"out_size"},
	Dropout:         {"p"},
	Flatten:         {},
}

// Data says where the examples are and how they are transformed.
type Data struct {
	// Format: idx (MNIST, Fashion-MNIST), cifar10, imagefolder, packed (made by
	// `alexnet pack`: root/<split>.pack) or synthetic.
	Format string `mapstructure:"format" yaml:"format,omitempty"`
	Root   string `mapstructure:"root" yaml:"root,omitempty"`
	Train  string `mapstructure:"train" yaml:"train,omitempty"` // split name or subfolder; default "train"
	Val    string `mapstructure:"val" yaml:"val,omitempty"`     // default "val" (imagefolder) or "test"
	Labels string `mapstructure:"labels" yaml:"labels,omitempty"`
	// Transform: shorter side to Resize (0: none), random (train) or centre crop of
	// Crop, Pad pixels of zero padding before a random crop, flips, PCA lighting std.
	Resize   int       `mapstructure:"resize" yaml:"resize,omitempty"`
	Crop     int       `mapstructure:"crop" yaml:"crop,omitempty"`
	Pad      int       `mapstructure:"pad" yaml:"pad,omitempty"`
	Flip     bool      `mapstructure:"flip" yaml:"flip,omitempty"`
	Lighting float64   `mapstructure:"lighting" yaml:"lighting,omitempty"`
	Mean     []float64 `mapstructure:"mean" yaml:"mean,omitempty"`
	Std      []float64 `mapstructure:"std" yaml:"std,omitempty"`
	Workers  int       `mapstructure:"workers" yaml:"workers,omitempty"`
	Prefetch int       `mapstructure:"prefetch" yaml:"prefetch,omitempty"`
	// Synthetic source: number of examples.
	Samples int `mapstructure:"samples" yaml:"samples,omitempty"`
}

// Train holds the optimiser and the loop's settings.
type Train struct {
	BatchSize   int             `mapstructure:"batch_size" yaml:"batch_size"`
	Epochs      int             `mapstructure:"epochs" yaml:"epochs"`
	LR          float64         `mapstructure:"lr" yaml:"lr"`
	Momentum    float64         `mapstructure:"momentum" yaml:"momentum"`
	WeightDecay float64         `mapstructure:"weight_decay" yaml:"weight_decay"`
	Schedule    schedule.Config `mapstructure:"schedule" yaml:"schedule"`
	Seed        int64           `mapstructure:"seed" yaml:"seed"`
	Backend     string          `mapstructure:"backend" yaml:"backend"`
	Threads     int             `mapstructure:"threads" yaml:"threads"`
	Precision   string          `mapstructure:"precision" yaml:"precision"`
	// LossScale fixes fp16's loss scale; 0 (the default) scales dynamically.
	LossScale float64 `mapstructure:"loss_scale" yaml:"loss_scale,omitempty"`
	// LogEvery writes a step line to metrics.jsonl (and a point to curves.png)
	// every this many steps, 0 for epoch lines only. The default, 100, gives a point
	// every second or two for ImageNet on a GPU and every few minutes on a CPU.
	LogEvery int `mapstructure:"log_every" yaml:"log_every"`
	// MaxSteps stops an epoch early (0: whole epochs); for smoke tests and demos.
	MaxSteps int `mapstructure:"max_steps" yaml:"max_steps"`
}

// EnvPrefix starts the environment variables that set config keys:
// ALEXNET_<SECTION>_<KEY>, e.g. ALEXNET_TRAIN_BATCH_SIZE=64 for train.batch_size.
const EnvPrefix = "ALEXNET_"

// envSections are the config sections the environment may set; other ALEXNET_
// variables (ALEXNET_TURBOJPEG, ALEXNET_CPU_BF16) are the program's own switches.
var envSections = []string{"model", "data", "train", "parallel"}

// envSets returns the config settings in environ, as section.key=value overrides in
// a stable order, each with the variable it came from.
func envSets(environ []string) (sets, from []string) {
	sort.Strings(environ)
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		rest := strings.ToLower(strings.TrimPrefix(name, EnvPrefix))
		for _, sec := range envSections {
			if key, ok := strings.CutPrefix(rest, sec+"_"); ok && key != "" {
				sets = append(sets, sec+"."+envPath(sec, key)+"="+val)
				from = append(from, name)
			}
		}
	}
	return sets, from
}

// envPath turns the underscore-joined rest of a variable's name into a key path by
// the config's own keys, so that nested keys can be set: in section train,
// "schedule_type" is schedule.type and "batch_size" stays batch_size. A name that
// matches no key is returned as it is, to be refused by name as unknown.
func envPath(section, rest string) string {
	if p, ok := matchPath(reflect.TypeOf(Config{}), append([]string{section}, strings.Split(rest, "_")...)); ok {
		_, p, _ = strings.Cut(p, ".")
		return p
	}
	return rest
}

// matchPath finds the key path whose parts, joined by "_", are parts: the longest
// key first at each level (batch_size before batch).
func matchPath(t reflect.Type, parts []string) (string, bool) {
	if t == nil || t.Kind() != reflect.Struct {
		return "", false
	}
	for n := len(parts); n >= 1; n-- {
		k := strings.Join(parts[:n], "_")
		for _, f := range keyedFields(t) {
			if keyOf(f) != k {
				continue
			}
			if n == len(parts) {
				return k, true
			}
			if sub, ok := matchPath(f.Type, parts[n:]); ok {
				return k + "." + sub, true
			}
		}
	}
	return "", false
}

// Load reads the YAML text (named source in errors), applies the environment's
// ALEXNET_<SECTION>_<KEY> settings and then the --set overrides ("train.lr=0.001"),
// and validates the result: a flag beats the environment, which beats the file,
// which beats the defaults.
func Load(source string, text []byte, sets []string) (*Config, error) {
	return load(source, text, sets, os.Environ())
}

// LoadStored is Load without the environment: a config as it was recorded (in a
// checkpoint), to compare with what a resume would run.
func LoadStored(source string, text []byte) (*Config, error) {
	return load(source, text, nil, nil)
}

func load(source string, text []byte, sets, environ []string) (*Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	// Section-level defaults; AllSettings carries them, so they are known keys.
	v.SetDefault("train.momentum", 0.9)
	v.SetDefault("train.weight_decay", 0.0005)
	v.SetDefault("train.seed", 1)
	v.SetDefault("train.backend", "auto")
	v.SetDefault("train.precision", "fp32")
	v.SetDefault("train.log_every", 100)
	if err := v.ReadConfig(bytes.NewReader(text)); err != nil {
		return nil, fmt.Errorf("%s: not valid YAML: %v", source, cleanYAMLError(err))
	}
	env, from := envSets(environ)
	for i, s := range env {
		key, val, _ := strings.Cut(s, "=")
		var parsed any
		if err := yaml.Unmarshal([]byte(val), &parsed); err != nil {
			return nil, fmt.Errorf("environment %s: value %q is not a YAML value: %v", from[i], val, err)
		}
		// The key alone first, so that a misspelt variable is named as such.
		var nested any = parsed
		parts := strings.Split(key, ".")
		for i := len(parts) - 1; i >= 0; i-- {
			nested = map[string]any{parts[i]: nested}
		}
		if err := checkKeys(nested.(map[string]any), reflect.TypeOf(Config{}), ""); err != nil {
			return nil, fmt.Errorf("environment %s: %w", from[i], err)
		}
		v.Set(key, parsed)
	}
	for _, s := range sets {
		key, val, ok := strings.Cut(s, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, fmt.Errorf("--set %q: want section.key=value", s)
		}
		var parsed any
		if err := yaml.Unmarshal([]byte(val), &parsed); err != nil {
			return nil, fmt.Errorf("--set %s: value %q is not a YAML value: %v", key, val, err)
		}
		v.Set(key, parsed)
	}
	settings := v.AllSettings()
	if err := checkKeys(settings, reflect.TypeOf(Config{}), ""); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	var c Config
	dc := &mapstructure.DecoderConfig{
		Result:           &c,
		ErrorUnused:      true,
		WeaklyTypedInput: false,
		DecodeHook:       mapstructure.ComposeDecodeHookFunc(intToFloatHook),
	}
	dec, err := mapstructure.NewDecoder(dc)
	if err != nil {
		return nil, err
	}
	if err := dec.Decode(settings); err != nil {
		return nil, fmt.Errorf("%s: %s", source, cleanDecodeError(err))
	}
	for _, key := range []string{"train.batch_size", "train.epochs", "train.lr", "data.root", "data.format"} {
		if !v.IsSet(key) && !(key == "data.root" && c.Data.Format == "synthetic") {
			return nil, fmt.Errorf("%s: %s is required", source, key)
		}
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return &c, nil
}

// LoadFile reads a config file.
func LoadFile(path string, sets []string) (*Config, []byte, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	c, err := Load(path, text, sets)
	return c, text, err
}

// YAML renders the validated config back to YAML (stored in checkpoints so a
// checkpoint carries the exact network and transform it was trained with).
func (c *Config) YAML() ([]byte, error) {
	return yaml.Marshal(c)
}

// intToFloatHook lets "lr: 1" fill a float field and "devices: [0, 1]" a list of
// strings; a float or string for an integer stays an error.
func intToFloatHook(from, to reflect.Type, data any) (any, error) {
	if to.Kind() == reflect.String {
		if d, ok := data.(int); ok {
			return fmt.Sprint(d), nil
		}
	}
	if to.Kind() == reflect.Float64 || to.Kind() == reflect.Float32 {
		switch d := data.(type) {
		case int:
			return float64(d), nil
		case int64:
			return float64(d), nil
		case uint64:
			return float64(d), nil
		}
	}
	return data, nil
}

// checkKeys reports the first unknown key, with its full path, walking the settings
// against the struct tags. Layers are checked against the keys of their own type, so
// "kernel" on a relu is an error rather than silently ignored.
func checkKeys(m map[string]any, t reflect.Type, prefix string) error {
	fields := map[string]reflect.StructField{}
	for _, f := range keyedFields(t) {
		fields[keyOf(f)] = f
	}
	for _, k := range sortedKeys(m) {
		f, ok := fields[k]
		path := prefix + k
		if !ok {
			return fmt.Errorf("unknown key %s%s", path, suggest(k, prefix, fields))
		}
		switch val := m[k].(type) {
		case map[string]any:
			if f.Type.Kind() != reflect.Struct {
				return fmt.Errorf("%s: expected %s, got a mapping", path, kindName(f.Type))
			}
			if err := checkKeys(val, f.Type, path+"."); err != nil {
				return err
			}
		case []any:
			if f.Type == reflect.TypeOf([]Layer{}) {
				for i, item := range val {
					lm, ok := item.(map[string]any)
					if !ok {
						return fmt.Errorf("%s[%d]: expected a mapping with name and type", path, i)
					}
					if err := checkLayerKeys(lm, fmt.Sprintf("%s[%d]", path, i)); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

func checkLayerKeys(m map[string]any, path string) error {
	name, _ := m["name"].(string)
	typ, _ := m["type"].(string)
	where := path
	if name != "" {
		where = fmt.Sprintf("layer %s (%s)", name, path)
	}
	keys, ok := layerKeys[typ]
	if !ok {
		var types []string
		for t := range layerKeys {
			types = append(types, t)
		}
		sort.Strings(types)
		return fmt.Errorf("%s: unknown layer type %q (one of %s)", where, typ, strings.Join(types, ", "))
	}
	allowed := map[string]reflect.StructField{"name": {}, "type": {}}
	for _, k := range keys {
		allowed[k] = reflect.StructField{}
	}
	for _, k := range sortedKeys(m) {
		if _, ok := allowed[k]; !ok {
			return fmt.Errorf("%s: key %q does not apply to a %s layer%s", where, k, typ, suggest(k, "", allowed))
		}
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// suggest names the closest known key when the unknown one looks like a typo.
func suggest(k, prefix string, known map[string]reflect.StructField) string {
	best, bestD := "", 3
	for cand := range known {
		if d := editDistance(k, cand); d < bestD || (d == bestD && cand < best) {
			best, bestD = cand, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s%s?)", prefix, best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice:
		return "a list"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Bool:
		return "true or false"
	}
	return "a " + t.Kind().String()
}

// cleanDecodeError turns mapstructure's multi-line report into one line.
func cleanDecodeError(err error) string {
	var parts []string
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "*"))
		if line == "" || strings.HasPrefix(line, "decoding failed") || strings.HasSuffix(line, "error(s) decoding:") {
			continue
		}
		parts = append(parts, strings.TrimSpace(line))
	}
	if len(parts) == 0 {
		return err.Error()
	}
	return strings.Join(parts, "; ")
}

func cleanYAMLError(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", " ")
}
