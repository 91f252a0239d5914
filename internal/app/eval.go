package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"alexnet/internal/checkpoint"
	"alexnet/internal/config"
	"alexnet/internal/jsonx"
	"alexnet/internal/train"
)

// EvalOptions are the flags of `alexnet eval`.
type EvalOptions struct {
	Config  ConfigSource
	Weights string
	TenCrop bool
	JSON    bool
	Backend string
	Threads int
	Device  int
	Strict  bool
}

// EvalResult is what `alexnet eval --json` prints; accuracies are fractions.
type EvalResult struct {
	Top1    float64      `json:"top1"`
	Top5    float64      `json:"top5"`
	Loss    jsonx.Number `json:"loss"` // null when it is NaN or infinite
	Images  int          `json:"images"`
	Skipped int          `json:"skipped"`
	TenCrop bool         `json:"ten_crop"`
	Split   string       `json:"split"`
}

// Eval measures a checkpoint on the config's validation split.
func Eval(o EvalOptions, out io.Writer) error {
	if o.Weights == "" {
		return usage(errors.New("eval: --weights is required"))
	}
	ck, c, net, err := openInference(o.Config, o.Weights, o.Backend, o.Threads, o.Device, evalBatch(o))
	if err != nil {
		return err
	}
	defer net.Close()
	src, err := train.OpenSource(c, c.Data.Val)
	if err != nil {
		var missing *train.MissingDataError
		if errors.As(err, &missing) {
			return unavailable(err)
		}
		return usage(err)
	}
	if err := train.SameClasses("checkpoint "+filepath.Base(o.Weights), ck.State.Classes, c.Data.Val+" split", src.Classes()); err != nil {
		return usage(err)
	}
	_, evalTf := train.Transforms(c)
	var t train.Tally
	if o.TenCrop {
		t, err = train.EvaluateTenCrop(context.Background(), net.Network, src, evalTf)
	} else {
		l, lerr := train.NewLoader(c, src, evalTf, false, o.Strict)
		if lerr != nil {
			return usage(lerr)
		}
		t, err = train.Evaluate(context.Background(), net.Network, l)
	}
	if err != nil {
		return err
	}
	r := EvalResult{Top1: t.Top1Acc(), Top5: t.Top5Acc(), Loss: jsonx.Number(t.Loss()), Images: t.Images, Skipped: t.Skipped,
		TenCrop: o.TenCrop, Split: c.Data.Val}
	if o.JSON {
		return jsonx.Write(out, r)
	}
	how := "centre crop"
	if o.TenCrop {
		how = "ten crops"
	}
	fmt.Fprintf(out, "%s (%s): %d images, top-1 %.2f%% (error %.2f%%), top-5 %.2f%% (error %.2f%%), loss %.4f\n",
		c.Data.Val, how, r.Images, 100*r.Top1, 100*(1-r.Top1), 100*r.Top5, 100*(1-r.Top5), r.Loss)
	if r.Skipped > 0 {
		fmt.Fprintf(out, "%d unreadable images skipped\n", r.Skipped)
	}
	return nil
}

func evalBatch(o EvalOptions) int {
	if o.TenCrop {
		return 10
	}
	return 0
}

// openInference builds the inference network of a checkpoint. A checkpoint of this
// program is read in two passes over the file: its state (config, classes) from the
// header, then, once the network exists, its weights straight into the network's
// buffers (model.WeightLoader; the momentum is never read), on one device or the
// towers. A torchvision .pth takes the whole-file path of loadTrained.
func openInference(src ConfigSource, weights, backendName string, threads, device, batch int) (*checkpoint.Checkpoint, *config.Config, *builtNet, error) {
	r, err := checkpoint.Open(weights)
	if err != nil {
		ck, c, err := loadTrained(src, weights)
		if err != nil {
			return nil, nil, nil, err
		}
		net, err := buildTrained(c, ck, weights, backendName, threads, device, batch)
		return ck, c, net, err
	}
	defer r.Close()
	ck := r.State
	c, err := configFor(src, ck)
	if err != nil {
		return nil, nil, nil, err
	}
	if batch == 0 {
		batch = c.Train.BatchSize
	}
	net, err := openInferenceNet(c, backendName, threads, device, batch)
	if err != nil {
		return nil, nil, nil, err
	}
	l := net.WeightLoader()
	if err := r.LoadWeightsInto(l.Dest); err != nil {
		net.Close()
		if checkpoint.IsBadFile(err) { // corrupt, or weights this network does not have
			return nil, nil, nil, usage(err)
		}
		return nil, nil, nil, err // an I/O error: the file may be fine
	}
	if err := l.Done(); err != nil {
		net.Close()
		return nil, nil, nil, usage(fmt.Errorf("%s: %w", weights, err))
	}
	return ck, c, net, nil
}

// buildTrained builds c's network and loads the checkpoint's weights.
func buildTrained(c *config.Config, ck *checkpoint.Checkpoint, weights, backendName string, threads, device, batch int) (*builtNet, error) {
	if batch == 0 {
		batch = c.Train.BatchSize
	}
	net, err := openInferenceNet(c, backendName, threads, device, batch)
	if err != nil {
		return nil, err
	}
	if err := net.LoadWeights(ck.Weights); err != nil {
		net.Close()
		return nil, usage(fmt.Errorf("%s: %w", weights, err))
	}
	return net, nil
}
