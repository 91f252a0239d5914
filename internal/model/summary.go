package model

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"alexnet/internal/config"
)

// Summary is what `alexnet summary` prints: per layer and totals, like torchsummary.
type Summary struct {
	Name   string         `json:"name"`
	Input  []int          `json:"input"`
	Layers []SummaryLayer `json:"layers"`
	Totals SummaryTotals  `json:"totals"`
}

type SummaryLayer struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Output []int  `json:"output"` // C, H, W
	Params int    `json:"params"`
	FLOPs  int64  `json:"flops"`
}

// SummaryTotals: memory in bytes of float32, as this program allocates it: the
// forward keeps each layer's output (ReLU and Flatten in place) and dropout masks;
// the backward adds the gradient buffers (two per activation size, not one per
// layer); training adds a gradient and a momentum buffer per parameter.
type SummaryTotals struct {
	Params          int   `json:"params"`
	FLOPs           int64 `json:"flops"`
	TrainFLOPs      int64 `json:"train_flops"`
	Batch           int   `json:"batch"`
	ForwardBytes1   int64 `json:"forward_bytes_batch1"`
	BackwardBytes1  int64 `json:"backward_bytes_batch1"`
	ForwardBytes    int64 `json:"forward_bytes"`
	BackwardBytes   int64 `json:"backward_bytes"`
	ParamBytes      int64 `json:"param_bytes"`
	TrainParamBytes int64 `json:"train_param_bytes"`
	InferenceTotal  int64 `json:"inference_total_bytes"`
	TrainingTotal   int64 `json:"training_total_bytes"`
}

// Summarize plans the model and totals it for the given training batch size.
func Summarize(name string, cfg config.Model, batch int) (*Summary, error) {
	infos, err := Plan(cfg)
	if err != nil {
		return nil, err
	}
	s := &Summary{Name: name, Input: []int{cfg.Input.Channels, cfg.Input.Height, cfg.Input.Width}}
	fwd := int64(infos[0].In.PerImage())
	for _, l := range infos {
		s.Layers = append(s.Layers, SummaryLayer{Name: l.Name, Type: l.Type,
			Output: []int{l.Out.C, l.Out.H, l.Out.W}, Params: l.Params, FLOPs: l.FLOPs})
		s.Totals.Params += l.Params
		s.Totals.FLOPs += l.FLOPs
		if !l.InPlace {
			fwd += int64(l.Out.PerImage())
		}
		if l.Type == config.Dropout {
			fwd += int64(l.Out.PerImage())
		}
	}
	_, sizes := gradPlan(infos)
	var bwd int64
	for _, n := range sizes {
		bwd += int64(n)
	}
	t := &s.Totals
	// Backward is about twice the forward: data and filter gradients each cost one
	// forward's worth of multiply-adds for conv and linear layers.
	t.TrainFLOPs = 3 * t.FLOPs
	t.Batch = batch
	t.ForwardBytes1, t.BackwardBytes1 = 4*fwd, 4*bwd
	t.ForwardBytes, t.BackwardBytes = 4*fwd*int64(batch), 4*bwd*int64(batch)
	t.ParamBytes = 4 * int64(t.Params)
	t.TrainParamBytes = 3 * t.ParamBytes
	t.InferenceTotal = t.ParamBytes + 4*fwd
	t.TrainingTotal = t.TrainParamBytes + t.ForwardBytes + t.BackwardBytes
	return s, nil
}

// WriteText prints the summary as a table.
func (s *Summary) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "layer\ttype\toutput\tparams\tFLOPs\t\n")
	fmt.Fprintf(tw, "input\t\t%s\t\t\t\n", dims(s.Input))
	for _, l := range s.Layers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", l.Name, l.Type, dims(l.Output), Comma(int64(l.Params)), Comma(l.FLOPs))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	t := s.Totals
	fmt.Fprintf(w, "\n%s: %s parameters, %s forward per image (about %s per training step)\n",
		s.Name, Comma(int64(t.Params)), GFLOP(t.FLOPs), GFLOP(t.TrainFLOPs))
	fmt.Fprintf(w, "activations, batch 1:       forward %s, backward %s\n", MiB(t.ForwardBytes1), MiB(t.BackwardBytes1))
	fmt.Fprintf(w, "activations, batch %-8d forward %s, backward %s\n", t.Batch, MiB(t.ForwardBytes), MiB(t.BackwardBytes))
	fmt.Fprintf(w, "parameters:                 %s (training, with gradients and momentum: %s)\n", MiB(t.ParamBytes), MiB(t.TrainParamBytes))
	fmt.Fprintf(w, "estimated total:            inference at batch 1 %s, training at batch %d %s (plus backend workspaces)\n",
		MiB(t.InferenceTotal), t.Batch, MiB(t.TrainingTotal))
	return nil
}

func dims(d []int) string {
	parts := make([]string, len(d))
	for i, v := range d {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, "x")
}

// Comma writes n with thousands separators: 60,965,224.
func Comma(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + Comma(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// MiB formats bytes.
func MiB(b int64) string { return fmt.Sprintf("%.2f MiB", float64(b)/(1<<20)) }

// GFLOP formats a FLOP count.
func GFLOP(f int64) string { return fmt.Sprintf("%.3f GFLOP", float64(f)/1e9) }
