// Package cmd wires the command line: each command fills an options struct and
// calls its run function in internal/app.
package cmd

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"alexnet/configs"
	"alexnet/internal/app"
	"alexnet/internal/backend"
)

// Runners are the run functions the commands call, one per command: a command only
// fills its options struct and calls its runner (cli/cli's pattern), so tests can
// swap a runner for one that records the options it was given.
type Runners struct {
	Train   func(app.TrainOptions, io.Writer, io.Writer) error
	Eval    func(app.EvalOptions, io.Writer) error
	Predict func(app.PredictOptions, io.Writer) error
	Summary func(app.SummaryOptions, io.Writer) error
	Bench   func(app.BenchOptions, io.Writer) error
	Devices func(io.Writer) error
	Import  func(app.ImportOptions, io.Writer) error
	Filters func(app.FiltersOptions, io.Writer) error
	Pack    func(app.PackOptions, io.Writer, io.Writer) error
	Export  func(app.ExportOptions, io.Writer) error
}

// AppRunners are the real run functions, in internal/app.
func AppRunners() Runners {
	return Runners{Train: app.Train, Eval: app.Eval, Predict: app.Predict, Summary: app.Summary, Bench: app.Bench,
		Devices: app.Devices, Import: app.Import, Filters: app.Filters, Pack: app.Pack, Export: app.Export}
}

// Root builds the command tree over the real run functions.
func Root() *cobra.Command { return NewRoot(AppRunners()) }

// Execute runs root on args and returns the process's exit code, having printed an
// error as one line on stderr: app's typed codes, and 2 (app.ExitUsage) for the
// errors cobra itself finds (an unknown command or flag, a wrong number of
// arguments), with the hint to see --help.
func Execute(root *cobra.Command, args []string, stderr io.Writer) int {
	root.SetArgs(args)
	root.SetErr(stderr)
	c, err := root.ExecuteC()
	var typed *app.ExitErr
	if err != nil && !errors.As(err, &typed) && strings.HasPrefix(err.Error(), "unknown command") {
		err = usageError(c, err)
	}
	if err != nil && !(errors.As(err, &typed) && typed.Quiet) {
		fmt.Fprintln(stderr, "alexnet:", err)
	}
	return app.Code(err)
}

// usageError marks err as a usage error (exit 2) and points at the command's help.
func usageError(c *cobra.Command, err error) error {
	// One line: cobra's "Did you mean this?" list comes on lines of its own.
	msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n\nDid you mean this?\n", "; did you mean ")), " ")
	return app.Usage(fmt.Errorf("%s (see '%s --help')", msg, c.CommandPath()))
}

// args makes a positional-argument check's errors usage errors.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(c *cobra.Command, a []string) error {
		if err := check(c, a); err != nil {
			return usageError(c, err)
		}
		return nil
	}
}

// NewRoot builds the command tree over the given run functions.
func NewRoot(r Runners) *cobra.Command {
	root := &cobra.Command{
		Use:   "alexnet",
		Short: "Train and run AlexNet (Krizhevsky, Sutskever, Hinton 2012) on oneDNN and cuDNN",
		Long: `alexnet trains, evaluates and runs the 2012 AlexNet network and its variants,
described in YAML, on CPUs (oneDNN) and NVIDIA GPUs (cuDNN and cuBLAS, loaded at run time).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       app.Version(),
	}
	root.SetVersionTemplate("alexnet {{.Version}}\n")
	root.SetFlagErrorFunc(usageError)
	root.AddCommand(trainCmd(r), evalCmd(r), predictCmd(r), summaryCmd(r), benchCmd(r), devicesCmd(r), importCmd(r), filtersCmd(r), packCmd(r), exportCmd(r))
	return root
}

// fixed completes a flag with a fixed list of values.
func fixed(values ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp)
}

// completeConfig offers the built-in config names, then the shell's files.
func completeConfig(_ *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	names := configs.Names()
	for i, n := range names {
		names[i] = strings.TrimSuffix(n, ".yaml")
	}
	return names, cobra.ShellCompDirectiveDefault
}

// complete registers value completions for a flag c has. Registering fails only for
// a flag that does not exist or is registered twice: a slip in this file, caught at
// start-up by every test of cmd, before any input is read.
func complete(c *cobra.Command, flag string, f func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective)) {
	if err := c.RegisterFlagCompletionFunc(flag, f); err != nil {
		panic(err)
	}
}

func addConfigFlags(c *cobra.Command, src *app.ConfigSource) {
	addConfigFileFlags(c, src)
	c.Flags().StringVar(&src.Devices, "devices", "", "run the paper's two towers on these devices: 0,1 (two GPUs), 0,0 (one GPU) or cpu,cpu")
	complete(c, "devices", fixed("0,1", "0,0", "cpu,cpu"))
	c.Flags().StringVar(&src.Precision, "precision", "", "arithmetic of conv and linear layers: fp32, tf32, bf16 or fp16 (default: the config's train.precision); on CPUs bf16 runs natively where the CPU has AVX512_BF16, else bf16 and fp16 are emulated (same numbers, slower)")
	complete(c, "precision", fixed(backend.Precisions...))
}

// addConfigFileFlags are the flags that choose a config, for commands that do not run a network.
func addConfigFileFlags(c *cobra.Command, src *app.ConfigSource) {
	c.Flags().StringVarP(&src.Path, "config", "c", "", "config file, or a built-in name (alexnet, alexnet-1gpu, alexnet-owt, fashion-mnist); default: the built-in fashion-mnist")
	complete(c, "config", completeConfig)
	c.Flags().StringArrayVar(&src.Sets, "set", nil, "override a config key, section.key=value (repeatable)")
}

func summaryCmd(r Runners) *cobra.Command {
	var o app.SummaryOptions
	c := &cobra.Command{
		Use: "summary",
		Example: `  alexnet summary --config alexnet
  alexnet summary --config alexnet --batch 128 --json`,
		Short: "Per-layer shapes, parameters, FLOPs and memory of a network",
		Args:  args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			return r.Summary(o, c.OutOrStdout())
		},
	}
	addConfigFlags(c, &o.Config)
	c.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	c.Flags().IntVar(&o.Batch, "batch", 0, "batch size for the memory totals (default: the config's train.batch_size)")
	return c
}

func addBackendFlags(c *cobra.Command, name *string, threads, device *int) {
	c.Flags().StringVar(name, "backend", "", "auto, cuda, cpu (oneDNN) or ref (pure Go); default: the config's train.backend, else auto")
	complete(c, "backend", fixed("auto", "cuda", "cpu", "ref"))
	c.Flags().IntVar(threads, "threads", 0, "CPU threads for the cpu backend (default: all cores)")
	c.Flags().IntVar(device, "device", 0, "GPU ordinal for the cuda backend")
}

func benchCmd(r Runners) *cobra.Command {
	o := app.BenchOptions{Iters: 5, Warmup: 2, LoaderBatches: 20}
	c := &cobra.Command{
		Use: "bench",
		Example: `  alexnet bench --config alexnet --batch 32 --backend cpu
  alexnet bench --config alexnet --batch 128 --backend cuda --precision bf16 --json
  DNNL_MAX_CPU_ISA=AVX2 alexnet bench --config alexnet --batch 32 --backend cpu`,
		Short: "Time a training step and inference, whole and per layer (like caffe time)",
		Args:  args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			return r.Bench(o, c.OutOrStdout())
		},
	}
	addConfigFlags(c, &o.Config)
	addBackendFlags(c, &o.Backend, &o.Threads, &o.Device)
	c.Flags().IntVar(&o.Batch, "batch", 0, "batch size (default: the config's train.batch_size)")
	c.Flags().IntVar(&o.Iters, "iters", o.Iters, "timed iterations")
	c.Flags().IntVar(&o.Warmup, "warmup", o.Warmup, "untimed warm-up iterations")
	c.Flags().IntVar(&o.LoaderBatches, "loader-batches", o.LoaderBatches, "batches to time the data loader alone on the config's data (0: skip)")
	c.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return c
}

func trainCmd(r Runners) *cobra.Command {
	var o app.TrainOptions
	c := &cobra.Command{
		Use: "train",
		Example: `  alexnet train                                   # the built-in Fashion-MNIST net
  alexnet train --config alexnet --set data.root=/data/imagenet --out runs/paper
  alexnet train --resume runs/paper/last.ckpt
  alexnet train --config alexnet --devices 0,1    # the paper's two towers
  mpirun -np 8 alexnet train --config alexnet     # data parallel: 8 ranks, one GPU each`,
		Short: "Train a network (default: the built-in Fashion-MNIST net)",
		Long: `Train a network from a YAML config. Without --config it trains the built-in
default: a small AlexNet-shaped net on Fashion-MNIST from /usr/share/datasets/fashion-mnist
(Debian's dataset-fashion-mnist). Checkpoints (last.ckpt, best.ckpt), metrics.jsonl and
curves.png go to --out. SIGINT or SIGTERM finishes the step, writes last.ckpt and exits
with code 130; --resume continues from a checkpoint exactly.

Under mpirun (or srun) each process is a rank of data-parallel training: the ranks
split every batch of train.batch_size between them and sum their gradients; each
takes its node-local GPU unless --device is given, and rank 0 alone writes.`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			o.DeviceGiven = c.Flags().Changed("device")
			return r.Train(o, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	addConfigFlags(c, &o.Config)
	addBackendFlags(c, &o.Backend, &o.Threads, &o.Device)
	c.Flags().StringVarP(&o.OutDir, "out", "o", "", "run folder (default: runs/<name>-<time>; with --resume, the checkpoint's folder)")
	c.Flags().StringVar(&o.Resume, "resume", "", "continue from this checkpoint (its config unless --config is given)")
	c.Flags().BoolVar(&o.Strict, "strict", false, "stop at an unreadable image instead of skipping it")
	return c
}

func evalCmd(r Runners) *cobra.Command {
	var o app.EvalOptions
	c := &cobra.Command{
		Use: "eval",
		Example: `  alexnet eval --weights runs/demo/best.ckpt
  alexnet eval --config alexnet --weights runs/paper/best.ckpt --ten-crop --json`,
		Short: "Loss, top-1 and top-5 of a checkpoint on the validation split",
		Args:  args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			return r.Eval(o, c.OutOrStdout())
		},
	}
	addConfigFlags(c, &o.Config)
	addBackendFlags(c, &o.Backend, &o.Threads, &o.Device)
	c.Flags().StringVarP(&o.Weights, "weights", "w", "", "checkpoint to evaluate (required)")
	c.Flags().BoolVar(&o.TenCrop, "ten-crop", false, "the paper's test: four corners and centre and their mirrors, softmax averaged")
	c.Flags().BoolVar(&o.JSON, "json", false, "print JSON: top1, top5, loss (fractions) and images")
	c.Flags().BoolVar(&o.Strict, "strict", false, "stop at an unreadable image instead of skipping it")
	return c
}

func predictCmd(r Runners) *cobra.Command {
	o := app.PredictOptions{TopK: 5}
	c := &cobra.Command{
		Use: "predict --weights CKPT [IMAGE|FOLDER]... [--list FILE]",
		Example: `  alexnet predict --weights runs/demo/best.ckpt docs/samples/ankle-boot.png
  alexnet predict --weights owt.ckpt --topk 3 --json cat.jpg dog.png
  alexnet predict --weights owt.ckpt --jsonl photos/ > predictions.jsonl
  find /data -name '*.jpg' | alexnet predict --weights owt.ckpt --list - --jsonl`,
		Short: "Classify images, folders of them or a list: the top-K labels with probabilities",
		Long: `predict classifies images with the checkpoint's evaluation transform. Folders are
walked recursively for .jpg, .jpeg and .png files; --list reads paths, one a line ("-"
for stdin). Images stream through the prefetching loader in batches of --batch, so
memory stays flat however many there are; --jsonl writes one JSON object per image as
batches complete. An unreadable image gets its own line (an "error" key in JSON) and
the rest go on; the exit code is then 1.`,
		Args: args(cobra.ArbitraryArgs),
		RunE: func(c *cobra.Command, args []string) error {
			o.Images = args
			o.Stdin, o.Stderr = c.InOrStdin(), c.ErrOrStderr()
			return r.Predict(o, c.OutOrStdout())
		},
	}
	addConfigFlags(c, &o.Config)
	addBackendFlags(c, &o.Backend, &o.Threads, &o.Device)
	c.Flags().StringVarP(&o.Weights, "weights", "w", "", "checkpoint (required)")
	c.Flags().IntVarP(&o.TopK, "topk", "k", o.TopK, "labels to show per image")
	c.Flags().BoolVar(&o.JSON, "json", false, "print one JSON array at the end")
	c.Flags().BoolVar(&o.JSONL, "jsonl", false, "print one JSON object per image, as batches complete")
	c.Flags().IntVar(&o.Batch, "batch", 0, "images per forward pass (default: 128 on cuda, 32 elsewhere)")
	c.Flags().StringVar(&o.List, "list", "", "read image paths from this file, one a line (- for stdin)")
	return c
}

func devicesCmd(r Runners) *cobra.Command {
	return &cobra.Command{
		Use:     "devices",
		Example: `  alexnet devices`,
		Short:   "List the GPUs and the CUDA, cuBLAS and cuDNN libraries found",
		Args:    args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			return r.Devices(c.OutOrStdout())
		},
	}
}

func importCmd(r Runners) *cobra.Command {
	o := app.ImportOptions{From: "torchvision"}
	c := &cobra.Command{
		Use: "import --from torchvision FILE.pth --out model.ckpt",
		Example: `  alexnet import --from torchvision alexnet-owt-7be5be79.pth --out owt.ckpt
  alexnet predict --weights owt.ckpt rose.jpg`,
		Short: "Convert torchvision's AlexNet weights into a checkpoint (config alexnet-owt)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, args []string) error {
			o.In = args[0]
			return r.Import(o, c.OutOrStdout())
		},
	}
	c.Flags().StringVar(&o.From, "from", o.From, "where the weights come from (torchvision)")
	complete(c, "from", fixed("torchvision"))
	c.Flags().StringVarP(&o.Out, "out", "o", "", "checkpoint to write (required)")
	return c
}

func filtersCmd(r Runners) *cobra.Command {
	o := app.FiltersOptions{Scale: 3}
	c := &cobra.Command{
		Use: "filters --weights CKPT --out conv1.png",
		Example: `  alexnet filters --weights runs/paper/best.ckpt --out conv1.png
  alexnet filters --weights alexnet-owt-7be5be79.pth --out owt-conv1.png --scale 4`,
		Short: "Draw the first layer's kernels, as in the paper's Figure 3",
		Args:  args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			return r.Filters(o, c.OutOrStdout())
		},
	}
	addConfigFlags(c, &o.Config)
	c.Flags().StringVarP(&o.Weights, "weights", "w", "", "checkpoint or torchvision .pth (required)")
	c.Flags().StringVarP(&o.Out, "out", "o", "", "PNG to write (required)")
	c.Flags().StringVar(&o.Layer, "layer", "", "conv layer to draw (default: the first)")
	c.Flags().IntVar(&o.Towers, "towers", 0, "bands to draw (default: 2 for the paper's two-tower net, else 1)")
	c.Flags().IntVar(&o.Scale, "scale", o.Scale, "pixels per weight")
	return c
}

func packCmd(r Runners) *cobra.Command {
	var o app.PackOptions
	c := &cobra.Command{
		Use: "pack --config CONFIG --out DIR",
		Example: `  alexnet pack --config alexnet --set data.root=/data/imagenet --out /data/packs --square
  alexnet train --config alexnet --set data.format=packed --set data.root=/data/packs`,
		Short: "Decode and resize a data set once, into packs the loader reads without decoding",
		Long: `pack reads the config's data set (an ImageFolder of JPEGs, say), resizes every image
once (shorter side to data.resize, as the loader would) and writes DIR/<split>.pack for the
train and validation splits, memory-mapped, with a checksum per image. Training from a
pack (--set data.format=packed --set data.root=DIR) then does less per image:

  --encoding raw   (default) pixels: no decoding at all, about 8x fewer CPU-seconds per
                   image than JPEGs, and at --size data.resize without --square the
                   same batches bit for bit; large (ImageNet at 256: about 335 GB,
                   250 GB with --square)
  --encoding jpeg  the resized images re-encoded (--quality, default 90): about 2.7x
                   fewer CPU-seconds, lossy, about a tenth of raw's size (25 KB an
                   image in our benchmark: ImageNet ~32 GB)

--square keeps the central square as the paper did (256x256).`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			o.SizeSet = c.Flags().Changed("size")
			return r.Pack(o, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	addConfigFileFlags(c, &o.Config)
	c.Flags().StringVarP(&o.Out, "out", "o", "", "folder for the packs (required)")
	c.Flags().IntVar(&o.Size, "size", 0, "shorter side to resize to (default: the config's data.resize; 0 keeps the sizes)")
	c.Flags().BoolVar(&o.Square, "square", false, "keep the central size x size square of each image, as the paper (256x256)")
	c.Flags().StringVar(&o.Encoding, "encoding", "raw", "records: raw (pixels) or jpeg (re-encoded, smaller, lossy)")
	complete(c, "encoding", fixed("raw", "jpeg"))
	c.Flags().IntVar(&o.Quality, "quality", 0, "JPEG quality for --encoding jpeg (default 90)")
	c.Flags().StringSliceVar(&o.Splits, "split", nil, "splits to pack (default: the config's train and validation splits)")
	c.Flags().IntVar(&o.Workers, "workers", 0, "decoding goroutines (default: all cores)")
	c.Flags().BoolVar(&o.Strict, "strict", false, "stop at an unreadable image instead of recording it as failed")
	return c
}

func exportCmd(r Runners) *cobra.Command {
	o := app.ExportOptions{Format: "onnx"}
	c := &cobra.Command{
		Use:   "export --weights CKPT --out model.onnx",
		Short: "Write a checkpoint as an ONNX model (opset 13) for onnxruntime, TensorRT or OpenCV",
		Long: `export writes the inference network of a checkpoint (or of torchvision's .pth) as ONNX:
input [batch, C, H, W] float32 with a dynamic batch, output "probabilities" [batch,
classes] (the softmax alexnet predict prints). Preprocessing stays outside the graph;
the model's metadata holds it (resize, crop, mean, std) with the class names.`,
		Example: `  alexnet export --weights runs/demo/best.ckpt --out demo.onnx
  alexnet export --weights alexnet-owt-7be5be79.pth --out alexnet-owt.onnx
  python3 -c "import onnx; m = onnx.load('demo.onnx'); onnx.checker.check_model(m)"`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			return r.Export(o, c.OutOrStdout())
		},
	}
	addConfigFileFlags(c, &o.Config)
	c.Flags().StringVarP(&o.Weights, "weights", "w", "", "checkpoint or torchvision .pth (required)")
	c.Flags().StringVarP(&o.Out, "out", "o", "", "file to write (required)")
	c.Flags().StringVar(&o.Format, "format", o.Format, "onnx")
	complete(c, "format", fixed("onnx"))
	return c
}
