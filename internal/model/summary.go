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
	// AllReduceBytes: what each data-parallel rank sums with the others per step,
	// every parameter's gradient as float32, whatever the number of ranks.
	AllReduceBytes int64 `json:"allreduce_bytes_per_step"`
}

// Summarize plans the model and totals it for the given training batch size.
func Summarize(name string, cfg config.Model, batch int) (*Summary, error) {
	infos, err := Plan(cfg)
	if err != nil {
		return nil, err
	}
	s := &Summary{Name: name, Input: []int{cfg.Input.Channels, cfg.Input.Height, cfg.Input.Width}}
	for _, l := range infos {
		s.Layers = append(s.Layers, SummaryLayer{Name: l.Name, Type: l.Type,
			Output: []int{l.Out.C, l.Out.H, l.Out.W}, Params: l.Params, FLOPs: l.FLOPs})
		s.Totals.Params += l.Params
		s.Totals.FLOPs += l.FLOPs
	}
	lay := layout(whole(infos), 0, false)
	fwd, bwd := int64(lay.forward()), int64(lay.backward())
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
	t.AllReduceBytes = t.ParamBytes
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
	fmt.Fprintf(w, "data parallel (mpirun):     %s of gradients all-reduced per step by each rank\n", MiB(t.AllReduceBytes))
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

// PlacementSummary is what `alexnet summary` adds for a config with parallel.mode model:
// where each layer runs, what each device holds, and what crosses between them.
type PlacementSummary struct {
	Name    string             `json:"name"`
	Devices [2]string          `json:"devices"`
	Batch   int                `json:"batch"`
	Layers  []PlacementLayer   `json:"layers"`
	Towers  [2]PlacementDevice `json:"towers"`
	// Bytes crossing between the devices per image, and per training step at Batch.
	CrossForwardBytes1  int64 `json:"cross_forward_bytes_per_image"`
	CrossBackwardBytes1 int64 `json:"cross_backward_bytes_per_image"`
	CrossBytesPerStep   int64 `json:"cross_bytes_per_step"`
}

// PlacementLayer is where one layer runs and what crosses there.
type PlacementLayer struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Mode    string   `json:"mode"`
	Devices []string `json:"devices"`
	// Output is each tower's part of the output (C, H, W; nil where idle).
	Output [2][]int `json:"output"`
	Params [2]int   `json:"params"`
	// Bytes per image crossing between the devices at this layer.
	CrossForwardBytes  int64 `json:"cross_forward_bytes"`
	CrossBackwardBytes int64 `json:"cross_backward_bytes"`
}

// PlacementDevice is one device's memory in bytes of float32, as the network allocates it
// (backend workspaces and host staging buffers not included; LRN halos at their
// exact width, as on a backend that asks no alignment).
type PlacementDevice struct {
	Device          string `json:"device"`
	Params          int    `json:"params"`
	ParamBytes      int64  `json:"param_bytes"`
	TrainParamBytes int64  `json:"train_param_bytes"` // with gradients and momentum
	ForwardBytes    int64  `json:"forward_bytes"`     // activations at Batch
	BackwardBytes   int64  `json:"backward_bytes"`    // their gradients at Batch
	TrainingTotal   int64  `json:"training_total_bytes"`
}

// SummarizePlacement splits the model over par's two devices and totals it for batch.
func SummarizePlacement(name string, cfg config.Model, par config.Parallel, batch int) (*PlacementSummary, error) {
	if len(par.Devices) != 2 {
		return nil, fmt.Errorf("parallel.devices: model parallelism takes two devices (got %d)", len(par.Devices))
	}
	infos, err := Plan(cfg)
	if err != nil {
		return nil, err
	}
	plan, err := Place(infos, 2, 1)
	if err != nil {
		return nil, err
	}
	s := &PlacementSummary{Name: name, Devices: [2]string{par.Devices[0], par.Devices[1]}, Batch: batch}
	for _, l := range plan {
		sl := PlacementLayer{Name: l.Name, Type: l.Type, Mode: l.Mode.String(),
			CrossForwardBytes: 4 * int64(l.CrossForward), CrossBackwardBytes: 4 * int64(l.CrossBackward)}
		for t, tl := range l.Parts {
			if !tl.Active {
				continue
			}
			sl.Devices = append(sl.Devices, s.Devices[t])
			sl.Output[t] = []int{tl.Own.C, tl.Own.H, tl.Own.W}
			if l.WeightShape != nil {
				sl.Params[t] = (tl.RowHi - tl.RowLo) * (prod(l.WeightShape[1:]) + 1)
			}
		}
		s.Layers = append(s.Layers, sl)
		s.CrossForwardBytes1 += sl.CrossForwardBytes
		s.CrossBackwardBytes1 += sl.CrossBackwardBytes
	}
	s.CrossBytesPerStep = (s.CrossForwardBytes1 + s.CrossBackwardBytes1) * int64(batch)
	for t := range 2 {
		lay := layout(plan, t, false)
		st := &s.Towers[t]
		st.Device = s.Devices[t]
		st.Params = lay.params
		st.ParamBytes = 4 * int64(lay.params)
		st.TrainParamBytes = 3 * st.ParamBytes
		st.ForwardBytes = 4 * int64(lay.forward()) * int64(batch)
		st.BackwardBytes = 4 * int64(lay.backward()) * int64(batch)
		st.TrainingTotal = st.TrainParamBytes + st.ForwardBytes + st.BackwardBytes
	}
	return s, nil
}

// WriteText prints the split as a table and the per-device totals.
func (s *PlacementSummary) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "layer\ttype\tsplit\tdevices\toutput/tower\tparams %s\tparams %s\tcross fwd B/img\tcross bwd B/img\t\n", s.Devices[0], s.Devices[1])
	for _, l := range s.Layers {
		out := dimsOr(l.Output[0])
		if l.Output[1] != nil && dimsOr(l.Output[1]) != out {
			out += " | " + dimsOr(l.Output[1])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", l.Name, l.Type, l.Mode, strings.Join(l.Devices, ","), out,
			Comma(int64(l.Params[0])), Comma(int64(l.Params[1])),
			Comma(l.CrossForwardBytes), Comma(l.CrossBackwardBytes))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%s on two devices, batch %d: %s crossing per image forward, %s backward; %s per training step\n",
		s.Name, s.Batch, Comma(s.CrossForwardBytes1)+" B", Comma(s.CrossBackwardBytes1)+" B", MiB(s.CrossBytesPerStep))
	for t, st := range s.Towers {
		fmt.Fprintf(w, "device %s (tower %d): %s parameters, %s (training %s); activations forward %s, backward %s; training total %s\n",
			st.Device, t, Comma(int64(st.Params)), MiB(st.ParamBytes), MiB(st.TrainParamBytes),
			MiB(st.ForwardBytes), MiB(st.BackwardBytes), MiB(st.TrainingTotal))
	}
	return nil
}

// dimsOr is dims, or "-" for a part without output.
func dimsOr(d []int) string {
	if d == nil {
		return "-"
	}
	return dims(d)
}
