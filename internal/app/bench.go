package app

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"syscall"
	"text/tabwriter"
	"time"

	"alexnet/internal/backend"
	"alexnet/internal/config"
	"alexnet/internal/dataset"
	"alexnet/internal/dist"
	"alexnet/internal/jsonx"
	"alexnet/internal/model"
	"alexnet/internal/onednn"
	"alexnet/internal/train"
)

// BenchOptions are the flags of `alexnet bench`.
type BenchOptions struct {
	Config  ConfigSource
	Backend string
	Threads int
	Device  int
	Batch   int // 0: the config's train.batch_size
	Iters   int
	Warmup  int
	JSON    bool
	// LoaderBatches of the training loader are timed alone (0: skip).
	LoaderBatches int
}

// BenchLayer is one row of per-layer timings, in milliseconds (medians).
type BenchLayer struct {
	Name       string  `json:"name"`
	Type       string  `json:"type"`
	ForwardMS  float64 `json:"forward_ms"`
	BackwardMS float64 `json:"backward_ms"`
}

// BenchResult is what `alexnet bench --json` prints.
type BenchResult struct {
	Config            string       `json:"config"`
	Backend           string       `json:"backend"`
	Precision         string       `json:"precision"`
	Batch             int          `json:"batch"`
	Iters             int          `json:"iters"`
	Layers            []BenchLayer `json:"layers"`
	TrainStepMS       float64      `json:"train_step_ms"`        // best step
	TrainStepMedianMS float64      `json:"train_step_median_ms"` //
	InferMS           float64      `json:"infer_ms"`
	InferMedianMS     float64      `json:"infer_median_ms"`
	TrainImagesPerSec float64      `json:"train_images_per_sec"` // from the best step
	InferImagesPerSec float64      `json:"infer_images_per_sec"`
	TrainMedianIPS    float64      `json:"train_images_per_sec_median"`
	InferMedianIPS    float64      `json:"infer_images_per_sec_median"`
	PeakBackendBytes  int64        `json:"peak_backend_bytes"`
	PeakRSSBytes      int64        `json:"peak_rss_bytes"`
	// The training loader alone (decode and augment, config's workers), when the
	// config's data is present; LoaderNote says why it is absent otherwise.
	LoaderImagesPerSec float64 `json:"loader_images_per_sec,omitempty"`
	LoaderWorkers      int     `json:"loader_workers,omitempty"`
	LoaderNote         string  `json:"loader_note,omitempty"`
	JPEGDecoder        string  `json:"jpeg_decoder,omitempty"`
	// CPUISA: the instruction set oneDNN's kernels ran on (cpu backend only; after
	// DNNL_MAX_CPU_ISA). Whether bf16 ran natively is in Backend: "(native)" or
	// "(emulated: ...)".
	CPUISA string `json:"cpu_isa,omitempty"`
	// CrossBytesPerStep: bytes copied between the two towers in a training step.
	CrossBytesPerStep int64 `json:"cross_bytes_per_step,omitempty"`
	// AllReduceBytesPerStep: the gradients each data-parallel rank sums with the
	// others per step (under mpirun; the same for any number of ranks).
	AllReduceBytesPerStep int64 `json:"allreduce_bytes_per_step"`
}

// Bench times a training step (forward, loss, backward, SGD update) and inference
// on synthetic data, whole and per layer, like `caffe time`. Whole steps are timed
// without synchronising between layers; per-layer rows synchronise around each layer.
func Bench(o BenchOptions, out io.Writer) error {
	c, _, err := o.Config.Load()
	if err != nil {
		return err
	}
	batch := o.Batch
	if batch == 0 {
		batch = c.Train.BatchSize
	}
	if batch <= 0 || o.Iters < 1 || o.Warmup < 0 {
		return usage(fmt.Errorf("bench: --batch and --iters must be positive"))
	}
	net, err := openNet(c, o.Backend, o.Threads, o.Device, batch)
	if err != nil {
		return err
	}
	defer net.Close()
	if err := net.Init(uint64(c.Train.Seed)); err != nil {
		return err
	}
	infos, err := model.Plan(c.Model)
	if err != nil {
		return usage(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, batch*infos[0].In.PerImage())
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	labels := make([]int32, batch)
	for i := range labels {
		labels[i] = int32(rng.IntN(c.Model.Classes))
	}
	if err := net.SetInput(x, batch); err != nil {
		return err
	}
	var step int64
	seed := func(layer int) uint64 { return backend.DropoutSeed(1, step, layer) }
	lr, mom, wd := c.Train.LR, c.Train.Momentum, c.Train.WeightDecay
	fp16 := c.Train.Precision == "fp16"
	if fp16 {
		net.SetLossScale(1024)
	}
	trainStep := func() error {
		step++
		if err := net.Forward(true, seed); err != nil {
			return err
		}
		if err := net.Loss(labels); err != nil {
			return err
		}
		if err := net.ZeroGrad(); err != nil {
			return err
		}
		if err := net.Backward(); err != nil {
			return err
		}
		if fp16 { // training checks fp16 gradients for overflow each step: so does the timing
			if _, err := net.GradsFinite(); err != nil {
				return err
			}
		}
		if err := net.Step(lr, mom, wd); err != nil {
			return err
		}
		return net.Sync()
	}
	infer := func() error {
		if err := net.Forward(false, nil); err != nil {
			return err
		}
		_, err := net.Logits() // inference ends when the host has the logits
		return err
	}
	timeIt := func(f func() error) (float64, error) {
		t0 := time.Now()
		err := f()
		return float64(time.Since(t0).Nanoseconds()) / 1e6, err
	}
	for i := 0; i < o.Warmup; i++ {
		if err := trainStep(); err != nil {
			return err
		}
		if err := infer(); err != nil {
			return err
		}
	}
	var trainMS, inferMS []float64
	fwd := make([][]float64, len(infos))
	bwd := make([][]float64, len(infos))
	for it := 0; it < o.Iters; it++ {
		ms, err := timeIt(trainStep)
		if err != nil {
			return err
		}
		trainMS = append(trainMS, ms)
		if ms, err = timeIt(infer); err != nil {
			return err
		}
		inferMS = append(inferMS, ms)
		// Per layer: synchronise around each layer so its time is its own. On the
		// towers a layer's time includes its copies and the waits at its joins.
		step++
		for i := range infos {
			ms, err := timeIt(func() error {
				if err := net.ForwardLayer(i, true, seed); err != nil {
					return err
				}
				return net.Sync()
			})
			if err != nil {
				return err
			}
			fwd[i] = append(fwd[i], ms)
		}
		if err := net.Loss(labels); err != nil {
			return err
		}
		for i := len(infos) - 1; i >= 0; i-- {
			ms, err := timeIt(func() error {
				if err := net.BackwardLayer(i); err != nil {
					return err
				}
				return net.Sync()
			})
			if err != nil {
				return err
			}
			bwd[i] = append(bwd[i], ms)
		}
	}
	r := BenchResult{Config: c.Name, Backend: net.Name, Precision: c.Train.Precision, Batch: batch, Iters: o.Iters,
		TrainStepMS: minOf(trainMS), TrainStepMedianMS: median(trainMS),
		InferMS: minOf(inferMS), InferMedianMS: median(inferMS),
		PeakBackendBytes: net.PeakBytes(), PeakRSSBytes: peakRSS()}
	r.TrainImagesPerSec = float64(batch) / r.TrainStepMS * 1000
	r.InferImagesPerSec = float64(batch) / r.InferMS * 1000
	r.TrainMedianIPS = float64(batch) / r.TrainStepMedianMS * 1000
	r.InferMedianIPS = float64(batch) / r.InferMedianMS * 1000
	var decodes bool
	r.LoaderImagesPerSec, decodes, r.LoaderNote = loaderThroughput(c, o.LoaderBatches)
	if r.LoaderImagesPerSec > 0 {
		r.JPEGDecoder = dataset.JPEGDecoder()
		if !decodes {
			r.JPEGDecoder = "none: packed pixels"
		}
	}
	r.LoaderWorkers = c.Data.Workers
	for _, b := range net.Backends() {
		if b.Name() == "cpu" {
			r.CPUISA = onednn.ISA()
		}
	}
	r.CrossBytesPerStep = net.CrossBytesPerStep()
	r.AllReduceBytesPerStep = dist.BytesPerStep(net.Network)
	for i, info := range infos {
		r.Layers = append(r.Layers, BenchLayer{Name: info.Name, Type: info.Type, ForwardMS: median(fwd[i]), BackwardMS: median(bwd[i])})
	}
	if o.JSON {
		return jsonx.Write(out, r)
	}
	return r.writeText(out)
}

func (r BenchResult) writeText(out io.Writer) error {
	if len(r.Layers) > 0 {
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "layer\ttype\tforward ms\tbackward ms\t\n")
		var f, bw float64
		for _, l := range r.Layers {
			fmt.Fprintf(tw, "%s\t%s\t%.3f\t%.3f\t\n", l.Name, l.Type, l.ForwardMS, l.BackwardMS)
			f += l.ForwardMS
			bw += l.BackwardMS
		}
		fmt.Fprintf(tw, "sum of layers\t\t%.3f\t%.3f\t\n", f, bw)
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	on := r.Backend
	if r.CPUISA != "" {
		on += " (oneDNN " + r.CPUISA + ")"
	}
	fmt.Fprintf(out, "\n%s on %s, batch %d, %d timed iterations (median per layer; best and median whole steps)\n", r.Config, on, r.Batch, r.Iters)
	fmt.Fprintf(out, "training step:  best %.1f ms (%s images/s), median %.1f ms (%s images/s)\n", r.TrainStepMS, rate(r.TrainImagesPerSec), r.TrainStepMedianMS, rate(r.TrainMedianIPS))
	fmt.Fprintf(out, "inference:      best %.1f ms (%s images/s), median %.1f ms (%s images/s)\n", r.InferMS, rate(r.InferImagesPerSec), r.InferMedianMS, rate(r.InferMedianIPS))
	fmt.Fprintf(out, "peak memory:    backend %s, process RSS %s\n", model.MiB(r.PeakBackendBytes), model.MiB(r.PeakRSSBytes))
	fmt.Fprintf(out, "data parallel: %s of gradients all-reduced per step by each rank\n", model.MiB(r.AllReduceBytesPerStep))
	if r.CrossBytesPerStep > 0 {
		fmt.Fprintf(out, "between towers: %s per training step\n", model.MiB(r.CrossBytesPerStep))
	}
	if r.LoaderImagesPerSec > 0 {
		fmt.Fprintf(out, "data loader:    %.0f images/s alone with %d workers (%.0f per worker; JPEG decoder %s)\n", r.LoaderImagesPerSec, r.LoaderWorkers, r.LoaderImagesPerSec/float64(max(r.LoaderWorkers, 1)), r.JPEGDecoder)
	} else if r.LoaderNote != "" {
		fmt.Fprintf(out, "data loader:    not measured: %s\n", r.LoaderNote)
	}
	return nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minOf(v []float64) float64 {
	m := v[0]
	for _, x := range v[1:] {
		m = min(m, x)
	}
	return m
}

// peakRSS is the process's peak resident set size, from getrusage (KiB on Linux).
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024
}

// loaderThroughput times the config's training loader alone (decoding and the
// training transform) over a number of batches; decodes is false for a pack
// of raw pixels.
func loaderThroughput(c *config.Config, batches int) (ips float64, decodes bool, note string) {
	if batches <= 0 {
		return 0, false, ""
	}
	src, err := train.OpenSource(c, c.Data.Train)
	if err != nil {
		return 0, false, err.Error()
	}
	decodes = true
	if p, ok := src.(*dataset.Packed); ok {
		defer p.Close()
		decodes = p.Info().Encoding != dataset.PackRaw
	}
	tf, _ := train.Transforms(c)
	l, err := train.NewLoader(c, src, tf, true, false)
	if err != nil {
		return 0, decodes, err.Error()
	}
	ips, _, err = dataset.Throughput(context.Background(), l, batches)
	if err != nil {
		return 0, decodes, err.Error()
	}
	return ips, decodes, ""
}

// rate prints three significant digits for slow backends, whole numbers otherwise.
func rate(v float64) string {
	if v < 100 {
		return fmt.Sprintf("%.3g", v)
	}
	return fmt.Sprintf("%.0f", v)
}
