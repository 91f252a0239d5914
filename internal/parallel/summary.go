package parallel

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"alexnet/internal/config"
	"alexnet/internal/model"
)

// Summary is what `alexnet summary` adds for a config with parallel.mode model:
// where each layer runs, what each device holds, and what crosses between them.
type Summary struct {
	Name    string          `json:"name"`
	Devices [2]string       `json:"devices"`
	Batch   int             `json:"batch"`
	Layers  []SummaryLayer  `json:"layers"`
	Towers  [2]SummaryTower `json:"towers"`
	// Bytes crossing between the devices per image, and per training step at Batch.
	CrossForwardBytes1  int64 `json:"cross_forward_bytes_per_image"`
	CrossBackwardBytes1 int64 `json:"cross_backward_bytes_per_image"`
	CrossBytesPerStep   int64 `json:"cross_bytes_per_step"`
}

type SummaryLayer struct {
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

// SummaryTower is one device's memory in bytes of float32, as Towers allocates it
// (backend workspaces and host staging buffers not included).
type SummaryTower struct {
	Device          string `json:"device"`
	Params          int    `json:"params"`
	ParamBytes      int64  `json:"param_bytes"`
	TrainParamBytes int64  `json:"train_param_bytes"` // with gradients and momentum
	ForwardBytes    int64  `json:"forward_bytes"`     // activations at Batch
	BackwardBytes   int64  `json:"backward_bytes"`    // their gradients at Batch
	TrainingTotal   int64  `json:"training_total_bytes"`
}

// Summarize splits the model over par's two devices and totals it for batch.
func Summarize(name string, cfg config.Model, par config.Parallel, batch int) (*Summary, error) {
	if len(par.Devices) != 2 {
		return nil, fmt.Errorf("parallel.devices: model parallelism takes two devices (got %d)", len(par.Devices))
	}
	infos, err := model.Plan(cfg)
	if err != nil {
		return nil, err
	}
	plan, err := Split(infos)
	if err != nil {
		return nil, err
	}
	s := &Summary{Name: name, Devices: [2]string{par.Devices[0], par.Devices[1]}, Batch: batch}
	for _, l := range plan {
		sl := SummaryLayer{Name: l.Name, Type: l.Type, Mode: l.Mode.String(),
			CrossForwardBytes: 4 * int64(l.CrossForward), CrossBackwardBytes: 4 * int64(l.CrossBackward)}
		for t, tl := range l.Towers {
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
		lay := layout(plan, t)
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
func (s *Summary) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "layer\ttype\tsplit\tdevices\toutput/tower\tparams %s\tparams %s\tcross fwd B/img\tcross bwd B/img\t\n", s.Devices[0], s.Devices[1])
	for _, l := range s.Layers {
		out := dims(l.Output[0])
		if l.Output[1] != nil && dims(l.Output[1]) != out {
			out += " | " + dims(l.Output[1])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", l.Name, l.Type, l.Mode, strings.Join(l.Devices, ","), out,
			model.Comma(int64(l.Params[0])), model.Comma(int64(l.Params[1])),
			model.Comma(l.CrossForwardBytes), model.Comma(l.CrossBackwardBytes))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%s on two devices, batch %d: %s crossing per image forward, %s backward; %s per training step\n",
		s.Name, s.Batch, model.Comma(s.CrossForwardBytes1)+" B", model.Comma(s.CrossBackwardBytes1)+" B", model.MiB(s.CrossBytesPerStep))
	for t, st := range s.Towers {
		fmt.Fprintf(w, "device %s (tower %d): %s parameters, %s (training %s); activations forward %s, backward %s; training total %s\n",
			st.Device, t, model.Comma(int64(st.Params)), model.MiB(st.ParamBytes), model.MiB(st.TrainParamBytes),
			model.MiB(st.ForwardBytes), model.MiB(st.BackwardBytes), model.MiB(st.TrainingTotal))
	}
	return nil
}

func dims(d []int) string {
	if d == nil {
		return "-"
	}
	parts := make([]string, len(d))
	for i, v := range d {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, "x")
}
