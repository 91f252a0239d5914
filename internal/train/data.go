package train

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"alexnet/internal/config"
	"alexnet/internal/dataset"
)

// ErrBadData is wrapped by errors about data that contradicts the config or itself
// (class lists that disagree, a class count other than model.classes): input to fix,
// not a failed run.
var ErrBadData = errors.New("bad data")

// badData is an error that Is ErrBadData without saying so in its text.
type badData struct{ error }

func (e badData) Is(target error) bool { return target == ErrBadData }
func (e badData) Unwrap() error        { return e.error }

// MissingDataError says a data set is not where the config points, and how to get it.
type MissingDataError struct {
	Root string
	Hint string
	Err  error
}

func (e *MissingDataError) Error() string {
	return fmt.Sprintf("data not found at %s (%v); %s", e.Root, e.Err, e.Hint)
}
func (e *MissingDataError) Unwrap() error { return e.Err }

// OpenSource opens the named split of the configured data set.
func OpenSource(c *config.Config, split string) (dataset.Source, error) {
	d := c.Data
	if d.Format != "synthetic" {
		if _, err := os.Stat(d.Root); err != nil {
			hint := "set data.root (--set data.root=DIR) to the data set's folder"
			if d.Format == "idx" && filepath.Clean(d.Root) == "/usr/share/datasets/fashion-mnist" {
				hint = "install it with `sudo apt-get install dataset-fashion-mnist`, or " + hint
			}
			return nil, &MissingDataError{Root: d.Root, Hint: hint, Err: err}
		}
	}
	labels := d.Labels
	if labels != "" && !filepath.IsAbs(labels) {
		labels = filepath.Join(d.Root, labels)
		if _, err := os.Stat(labels); err != nil {
			labels = "" // the labels file is optional: folder names serve as class names
		}
	}
	n := d.Samples
	if n == 0 {
		n = 1024
	}
	in := c.Model.Input
	if d.Format == "packed" {
		path := dataset.PackPath(d.Root, split)
		if _, err := os.Stat(path); err != nil {
			return nil, &MissingDataError{Root: path, Err: err,
				Hint: "make it with `alexnet pack --config CONFIG --out " + d.Root + "` from a config that reads the original images"}
		}
	}
	return dataset.Open(dataset.Config{
		Kind: d.Format, Root: d.Root, Split: split, LabelsFile: labels, Channels: in.Channels,
		Len: n, Height: in.Height, Width: in.Width, NumClasses: c.Model.Classes, Seed: c.Train.Seed,
	})
}

// Transforms are the training (random) and evaluation transforms of the config.
func Transforms(c *config.Config) (trainTf, evalTf dataset.Transform) {
	d := c.Data
	f32 := func(v []float64) []float32 {
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = float32(x)
		}
		return out
	}
	tf := dataset.Transform{Resize: d.Resize, Crop: d.Crop, Pad: d.Pad, RandomCrop: true, Flip: d.Flip,
		Lighting: d.Lighting, Mean: f32(d.Mean), Std: f32(d.Std)}
	return tf, tf.Eval()
}

// NewLoader builds a loader over src for the config's batches.
func NewLoader(c *config.Config, src dataset.Source, tf dataset.Transform, shuffle, strict bool) (*dataset.Loader, error) {
	return NewShardLoader(c, src, tf, shuffle, strict, 0, 1)
}

// NewShardLoader is NewLoader for rank of ranks data-parallel processes: the same
// global batches, each rank loading its rows of them.
func NewShardLoader(c *config.Config, src dataset.Source, tf dataset.Transform, shuffle, strict bool, rank, ranks int) (*dataset.Loader, error) {
	if src.Channels() != c.Model.Input.Channels {
		return nil, fmt.Errorf("data has %d channels, model.input.channels is %d", src.Channels(), c.Model.Input.Channels)
	}
	l, err := dataset.NewLoader(src, tf, dataset.LoaderConfig{BatchSize: c.Train.BatchSize, Shuffle: shuffle,
		Seed: c.Train.Seed, Workers: c.Data.Workers, Prefetch: c.Data.Prefetch, Strict: strict, Rank: rank, Ranks: ranks})
	if err != nil {
		return nil, err
	}
	if _, h, w := l.Shape(); h != c.Model.Input.Height || w != c.Model.Input.Width {
		return nil, fmt.Errorf("the transform gives %dx%d images, model.input is %dx%d (check data.crop and data.resize)", h, w, c.Model.Input.Height, c.Model.Input.Width)
	}
	return l, nil
}

// SameClasses refuses two class lists that differ: labels are indices, so a
// validation split that lacks one training class (an ImageFolder missing a folder)
// would shift every later label and score the wrong classes. It names what is
// missing on each side, or the first position where the orders differ.
func SameClasses(aName string, a []string, bName string, b []string) error {
	if len(a) == 0 || len(b) == 0 { // a source without names (synthetic) has nothing to compare
		return nil
	}
	inA, inB := map[string]bool{}, map[string]bool{}
	for _, c := range a {
		inA[c] = true
	}
	for _, c := range b {
		inB[c] = true
	}
	var onlyA, onlyB []string
	for _, c := range a {
		if !inB[c] {
			onlyA = append(onlyA, c)
		}
	}
	for _, c := range b {
		if !inA[c] {
			onlyB = append(onlyB, c)
		}
	}
	if len(onlyA) > 0 || len(onlyB) > 0 {
		msg := fmt.Sprintf("the classes of the %s and the %s differ, so their labels would not line up:", aName, bName)
		if len(onlyA) > 0 {
			msg += fmt.Sprintf(" only in the %s: %s;", aName, names(onlyA))
		}
		if len(onlyB) > 0 {
			msg += fmt.Sprintf(" only in the %s: %s;", bName, names(onlyB))
		}
		return fmt.Errorf("%s make the folders agree%s", msg, strayHint(append(onlyA, onlyB...)))
	}
	for i := range a {
		if a[i] != b[i] {
			return fmt.Errorf("the %s and the %s have the same classes in another order (label %d is %q in one, %q in the other)", aName, bName, i, a[i], b[i])
		}
	}
	return nil
}

// names lists up to 5 class names.
func names(cs []string) string {
	if len(cs) > 5 {
		return fmt.Sprintf("%q and %d more", cs[:5], len(cs)-5)
	}
	return fmt.Sprintf("%q", cs)
}

// strayHint points at folders that are no class (lost+found on a mounted volume).
func strayHint(classes []string) string {
	for _, c := range classes {
		if c == "lost+found" || strings.HasPrefix(c, "$") {
			return fmt.Sprintf(" (%q is a folder of the file system, not a class: move it out of the split)", c)
		}
	}
	return ""
}
