// Package cmd wires the command line: each command fills an options struct and
// calls its run function in internal/app.
package cmd

import (
	"github.com/spf13/cobra"

	"alexnet/internal/app"
)

// Root builds the command tree.
func Root() *cobra.Command {
	root := &cobra.Command{
		Use:   "alexnet",
		Short: "Train and run AlexNet (Krizhevsky, Sutskever, Hinton 2012) on oneDNN and cuDNN",
		Long: `alexnet trains, evaluates and runs the 2012 AlexNet network and its variants,
described in YAML, on CPUs (oneDNN) and NVIDIA GPUs (cuDNN and cuBLAS, loaded at run time).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(summaryCmd(), benchCmd())
	return root
}

func addConfigFlags(c *cobra.Command, src *app.ConfigSource) {
	c.Flags().StringVarP(&src.Path, "config", "c", "", "config file, or a built-in name (alexnet, alexnet-1gpu, alexnet-owt, fashion-mnist); default: the built-in fashion-mnist")
	c.Flags().StringArrayVar(&src.Sets, "set", nil, "override a config key, section.key=value (repeatable)")
}

func summaryCmd() *cobra.Command {
	var o app.SummaryOptions
	c := &cobra.Command{
		Use:   "summary",
		Short: "Per-layer shapes, parameters, FLOPs and memory of a network",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return app.Summary(o, c.OutOrStdout())
		},
	}
	addConfigFlags(c, &o.Config)
	c.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	c.Flags().IntVar(&o.Batch, "batch", 0, "batch size for the memory totals (default: the config's train.batch_size)")
	return c
}

func addBackendFlags(c *cobra.Command, name *string, threads, device *int) {
	c.Flags().StringVar(name, "backend", "", "auto, cuda, cpu (oneDNN) or ref (pure Go); default: the config's train.backend, else auto")
	c.Flags().IntVar(threads, "threads", 0, "CPU threads for the cpu backend (default: all cores)")
	c.Flags().IntVar(device, "device", 0, "GPU ordinal for the cuda backend")
}

func benchCmd() *cobra.Command {
	o := app.BenchOptions{Iters: 5, Warmup: 2}
	c := &cobra.Command{
		Use:   "bench",
		Short: "Time a training step and inference, whole and per layer (like caffe time)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return app.Bench(o, c.OutOrStdout())
		},
	}
	addConfigFlags(c, &o.Config)
	addBackendFlags(c, &o.Backend, &o.Threads, &o.Device)
	c.Flags().IntVar(&o.Batch, "batch", 0, "batch size (default: the config's train.batch_size)")
	c.Flags().IntVar(&o.Iters, "iters", o.Iters, "timed iterations")
	c.Flags().IntVar(&o.Warmup, "warmup", o.Warmup, "untimed warm-up iterations")
	c.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return c
}
