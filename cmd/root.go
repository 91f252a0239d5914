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
	root.AddCommand(summaryCmd())
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
