package app

import (
	"io"

	"alexnet/internal/jsonx"
	"alexnet/internal/model"
)

// SummaryOptions are the flags of `alexnet summary`.
type SummaryOptions struct {
	Config ConfigSource
	JSON   bool
	Batch  int // 0: the config's train.batch_size
}

// Summary prints the per-layer table and totals of the configured network.
func Summary(o SummaryOptions, out io.Writer) error {
	c, _, err := o.Config.Load()
	if err != nil {
		return err
	}
	batch := o.Batch
	if batch == 0 {
		batch = c.Train.BatchSize
	}
	name := c.Name
	if name == "" {
		name = "model"
	}
	s, err := model.Summarize(name, c.Model, batch)
	if err != nil {
		return usage(err)
	}
	var ps *model.PlacementSummary
	if c.Parallel.Mode == "model" {
		if ps, err = model.SummarizePlacement(name, c.Model, c.Parallel, batch); err != nil {
			return usage(err)
		}
	}
	if o.JSON {
		if ps != nil {
			return jsonx.Write(out, struct {
				*model.Summary
				Parallel *model.PlacementSummary `json:"parallel"`
			}{s, ps})
		}
		return jsonx.Write(out, s)
	}
	if err := s.WriteText(out); err != nil {
		return err
	}
	if ps != nil {
		io.WriteString(out, "\n")
		return ps.WriteText(out)
	}
	return nil
}
