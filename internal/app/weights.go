package app

import (
	"errors"
	"fmt"
	"io"

	"alexnet/internal/checkpoint"
	"alexnet/internal/config"
	"alexnet/internal/filters"
	"alexnet/internal/model"
)

// ImportOptions are the flags of `alexnet import`.
type ImportOptions struct {
	From string // "torchvision"
	In   string
	Out  string
}

// Import converts a torchvision AlexNet state_dict into this program's checkpoint,
// once, so later runs load it without parsing pickles.
func Import(o ImportOptions, out io.Writer) error {
	if o.From != "torchvision" {
		return usage(fmt.Errorf("import: --from %q: only torchvision is supported", o.From))
	}
	if o.In == "" || o.Out == "" {
		return usage(errors.New("import: name the .pth file and --out"))
	}
	ck, err := torchvisionCheckpoint(o.In)
	if err != nil {
		return usage(err)
	}
	c, err := config.Load("alexnet-owt", []byte(ck.State.Config), nil)
	if err != nil {
		return err
	}
	infos, err := model.Plan(c.Model)
	if err != nil {
		return err
	}
	if err := checkpoint.Save(o.Out, ck); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s: torchvision's alexnet, %s parameters, %d classes (config alexnet-owt)\n",
		o.Out, model.Comma(int64(model.TotalParams(infos))), len(ck.State.Classes))
	return nil
}

// FiltersOptions are the flags of `alexnet filters`.
type FiltersOptions struct {
	Config  ConfigSource
	Weights string
	Out     string
	Layer   string // default: the first conv layer
	Towers  int    // 0: two when the next conv has groups 2 (the paper's towers), else one
	Scale   int
}

// Filters draws the first layer's kernels as in the paper's Figure 3.
func Filters(o FiltersOptions, out io.Writer) error {
	if o.Weights == "" || o.Out == "" {
		return usage(errors.New("filters: --weights and --out are required"))
	}
	ck, c, err := loadTrained(o.Config, o.Weights)
	if err != nil {
		return err
	}
	infos, err := model.Plan(c.Model)
	if err != nil {
		return usage(err)
	}
	layer, towers := o.Layer, o.Towers
	convs := 0
	for _, l := range infos {
		if l.Conv == nil {
			continue
		}
		convs++
		if layer == "" {
			layer = l.Name
		}
		if convs == 2 && towers == 0 {
			towers = 1
			if l.Conv.Groups == 2 {
				towers = 2
			}
		}
	}
	if towers == 0 {
		towers = 1
	}
	w, ok := ck.Weight(layer + ".weight")
	if !ok {
		return usage(fmt.Errorf("filters: %s has no tensor %s.weight", o.Weights, layer))
	}
	img, err := filters.Render(w, towers, o.Scale)
	if err != nil {
		return usage(fmt.Errorf("filters: %s: %w", layer, err))
	}
	if err := filters.WritePNG(o.Out, img); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s: %d kernels of %s (%dx%d), %d band(s)\n", o.Out, w.Shape[0], layer, w.Shape[2], w.Shape[3], towers)
	return nil
}
