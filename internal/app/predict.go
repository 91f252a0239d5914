package app

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"alexnet/internal/config"
	"alexnet/internal/dataset"
	"alexnet/internal/jsonx"
	"alexnet/internal/progress"
	"alexnet/internal/train"
)

// PredictOptions are the flags of `alexnet predict`.
type PredictOptions struct {
	Config  ConfigSource
	Weights string
	TopK    int
	JSON    bool // one JSON array at the end
	JSONL   bool // one JSON object per image, as batches complete
	Backend string
	Threads int
	Device  int
	// Batch is the images per forward pass (0: DefaultPredictBatch, at most the
	// number of images).
	Batch int
	// Images are files, and folders walked recursively for JPEG and PNG files.
	Images []string
	// List names a file of image paths, one a line ("-": Stdin).
	List   string
	Stdin  io.Reader // for List "-" (nil: os.Stdin)
	Stderr io.Writer // error lines and the progress bar (nil: os.Stderr)
}

// DefaultPredictBatch is predict's batch when --batch is not given: 128 on a GPU,
// where small batches leave it idle, and 32 elsewhere, where a batch's activations
// are what memory holds besides the weights (the paper's network: ~3 MB an image).
func DefaultPredictBatch(backendName string) int {
	if backendName == "cuda" {
		return 128
	}
	return 32
}

// ImagePrediction is one image's entry in `alexnet predict --json` and --jsonl:
// its predictions, or the error that kept it from having any.
type ImagePrediction struct {
	Image       string             `json:"image"`
	Predictions []train.Prediction `json:"predictions,omitempty"`
	Error       string             `json:"error,omitempty"`
}

// Predict classifies images with the config's evaluation transform. Images stream
// through the prefetching loader (decoding in worker goroutines while the network
// runs) in fixed-size batches, so memory stays what one batch needs whatever their
// number. An unreadable image gets its own line and the rest go on; the exit code
// is then 1, with the count.
func Predict(o PredictOptions, out io.Writer) error {
	stderr := o.Stderr
	if stderr == nil {
		stderr = os.Stderr
	}
	switch {
	case o.Weights == "":
		return usage(errors.New("predict: --weights is required"))
	case len(o.Images) == 0 && o.List == "":
		return usage(errors.New("predict: name at least one image or folder, or --list FILE"))
	case o.TopK <= 0:
		return usage(fmt.Errorf("predict: --topk must be positive (got %d)", o.TopK))
	case o.Batch < 0:
		return usage(fmt.Errorf("predict: --batch must be positive (got %d)", o.Batch))
	case o.JSON && o.JSONL:
		return usage(errors.New("predict: --json and --jsonl are two forms of one output; choose one"))
	}
	paths, bad, err := collectImages(o.Images, o.List, o.Stdin)
	if err != nil {
		return usage(err)
	}
	emit := newPredictWriter(o, out, stderr)
	for _, b := range bad {
		if err := emit.failed(b.path, b.err); err != nil {
			return err
		}
	}
	if len(paths) > 0 {
		if err := predictPaths(o, paths, emit, stderr); err != nil {
			emit.finish() // what was classified still prints (--json's array)
			return err
		}
	}
	if err := emit.finish(); err != nil {
		return err
	}
	if emit.failures > 0 {
		return &ExitErr{Code: ExitError, Err: fmt.Errorf("predict: %d of %d images could not be read (see above)", emit.failures, emit.failures+emit.done)}
	}
	return nil
}

// predictPaths runs the network over paths in batches, handing each result to emit.
func predictPaths(o PredictOptions, paths []string, emit *predictWriter, stderr io.Writer) error {
	// The state first (config, classes): the batch size needs the backend's name.
	name := o.Backend
	batch := o.Batch
	if batch == 0 {
		batch = DefaultPredictBatch(name)
	}
	batch = min(batch, len(paths)) // the primitives are built for the batch that runs
	ck, c, net, err := openInference(o.Config, o.Weights, o.Backend, o.Threads, o.Device, batch)
	if err != nil {
		return err
	}
	defer net.Close()
	in := c.Model.Input
	src := &fileSource{paths: paths, channels: in.Channels}
	l, err := dataset.NewLoader(src, predictTransform(c), dataset.LoaderConfig{BatchSize: batch, Workers: c.Data.Workers, Prefetch: c.Data.Prefetch, KeepGoing: true})
	if err != nil {
		return usage(err)
	}
	if _, h, w := l.Shape(); h != in.Height || w != in.Width {
		return usage(fmt.Errorf("predict: the transform gives %dx%d images, the network takes %dx%d (check data.crop and data.resize)", h, w, in.Height, in.Width))
	}
	bar := predictBar(stderr, len(paths))
	start := time.Now()
	reported := map[int]bool{}
	classes, k := ck.State.Classes, c.Model.Classes
	st, err := l.Run(context.Background(), 0, func(b *dataset.Batch) error {
		for _, s := range b.Skipped {
			reported[s.Index] = true
			if err := emit.failed(s.Name, s.Err); err != nil {
				return err
			}
		}
		if err := net.SetInput(b.X, b.N); err != nil {
			return err
		}
		if err := net.Forward(false, nil); err != nil {
			return err
		}
		logits, err := net.Logits()
		if err != nil {
			return err
		}
		for i := 0; i < b.N; i++ {
			probs := train.Softmax(logits[i*k : (i+1)*k])
			if err := emit.result(ImagePrediction{Image: paths[b.Indices[i]], Predictions: train.TopK(probs, o.TopK, classes)}); err != nil {
				return err
			}
		}
		if bar != nil {
			bar.Update(emit.done+emit.failures, progress.Stats{ImagesPerSec: float64(emit.done) / time.Since(start).Seconds()})
		}
		return nil
	})
	if bar != nil {
		bar.Finish()
	}
	for _, s := range st.Skipped { // failures carried past the last batch
		if !reported[s.Index] {
			reported[s.Index] = true
			if err := emit.failed(s.Name, s.Err); err != nil {
				return err
			}
		}
	}
	return err
}

// predictBar is a progress bar on a terminal, nil elsewhere (the results are the output).
func predictBar(w io.Writer, total int) *progress.Reporter {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || total < 2 {
		return nil
	}
	return progress.New(w, total, "predict", progress.Options{Mode: progress.Bar, Unit: "image"})
}

// predictWriter writes results as text, JSON lines, or one JSON array.
type predictWriter struct {
	o              PredictOptions
	out, stderr    io.Writer
	enc            *json.Encoder
	all            []ImagePrediction
	done, failures int
}

func newPredictWriter(o PredictOptions, out, stderr io.Writer) *predictWriter {
	return &predictWriter{o: o, out: out, stderr: stderr, enc: json.NewEncoder(out)}
}

func (w *predictWriter) result(r ImagePrediction) error {
	w.done++
	switch {
	case w.o.JSONL:
		return w.enc.Encode(r)
	case w.o.JSON:
		w.all = append(w.all, r)
		return nil
	}
	if _, err := fmt.Fprintf(w.out, "%s\n", r.Image); err != nil {
		return err
	}
	for _, p := range r.Predictions {
		label := p.Label
		if label == "" {
			label = fmt.Sprintf("class %d", p.Index)
		}
		if _, err := fmt.Fprintf(w.out, "  %6.2f%%  %s\n", 100*p.Probability, label); err != nil {
			return err
		}
	}
	return nil
}

// failed reports an image that could not be read: a line on stderr, or an entry with
// an error key in the JSON forms.
func (w *predictWriter) failed(path string, err error) error {
	w.failures++
	msg := err.Error()
	if !strings.Contains(msg, path) {
		msg = path + ": " + msg
	}
	switch {
	case w.o.JSONL:
		return w.enc.Encode(ImagePrediction{Image: path, Error: msg})
	case w.o.JSON:
		w.all = append(w.all, ImagePrediction{Image: path, Error: msg})
		return nil
	}
	_, werr := fmt.Fprintf(w.stderr, "alexnet: %s\n", msg)
	return werr
}

func (w *predictWriter) finish() error {
	if !w.o.JSON {
		return nil
	}
	if w.all == nil {
		w.all = []ImagePrediction{}
	}
	return jsonx.Write(w.out, w.all)
}

// badPath is a named input that is no image to read.
type badPath struct {
	path string
	err  error
}

// collectImages expands the arguments and the list into image paths: files as
// named (whatever their extension: a bad one gets its line when read), folders
// walked recursively for .jpg, .jpeg and .png files in lexical order. A name that
// does not exist is a bad path, not a stop.
func collectImages(args []string, list string, stdin io.Reader) (paths []string, bad []badPath, err error) {
	names := append([]string(nil), args...)
	if list != "" {
		r := stdin
		if list != "-" {
			f, err := os.Open(list)
			if err != nil {
				return nil, nil, fmt.Errorf("predict: --list: %w", err)
			}
			defer f.Close()
			r = f
		} else if r == nil {
			r = os.Stdin
		}
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" {
				names = append(names, line)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, nil, fmt.Errorf("predict: --list %s: %w", list, err)
		}
	}
	for _, name := range names {
		st, err := os.Stat(name)
		switch {
		case err != nil:
			bad = append(bad, badPath{name, fmt.Errorf("%s: %w", name, errors.Unwrap(err))})
		case st.IsDir():
			n := len(paths)
			err := filepath.WalkDir(name, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					bad = append(bad, badPath{p, err})
					return nil
				}
				if !d.IsDir() && isImageName(p) {
					paths = append(paths, p)
				}
				return nil
			})
			if err != nil {
				return nil, nil, err
			}
			if len(paths) == n {
				bad = append(bad, badPath{name, fmt.Errorf("%s: a folder with no .jpg, .jpeg or .png files", name)})
			}
		default:
			paths = append(paths, name)
		}
	}
	return paths, bad, nil
}

func isImageName(p string) bool {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".jpg", ".jpeg", ".png":
		return true
	}
	return false
}

// fileSource is the loader's view of predict's images: no labels, the model's channels.
type fileSource struct {
	paths    []string
	channels int
}

func (s *fileSource) Len() int          { return len(s.paths) }
func (s *fileSource) Classes() []string { return nil }
func (s *fileSource) Channels() int     { return s.channels }
func (s *fileSource) Name(i int) string { return s.paths[i] }
func (s *fileSource) Load(i int) (dataset.Image, int32, error) {
	img, err := decodeImage(s.paths[i])
	if err != nil {
		return dataset.Image{}, 0, err
	}
	if img, err = dataset.ToChannels(img, s.channels); err != nil {
		return dataset.Image{}, 0, fmt.Errorf("%s: %w", s.paths[i], err)
	}
	return img, 0, nil
}

// decodeImage reads one image, with a one-line error naming it for folders, empty,
// truncated and non-image files.
func decodeImage(path string) (dataset.Image, error) {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return dataset.Image{}, fmt.Errorf("%s: %w", path, errors.Unwrap(err))
	case st.IsDir():
		return dataset.Image{}, fmt.Errorf("%s is a folder, not an image", path)
	case st.Size() == 0:
		return dataset.Image{}, fmt.Errorf("%s is empty, not an image", path)
	}
	img, err := dataset.DecodeFile(path)
	if err != nil {
		return dataset.Image{}, fmt.Errorf("not a readable JPEG or PNG image: %w", err) // err names the file
	}
	return img, nil
}

// predictTransform is c's evaluation transform for images of any size: a network
// trained without resizing is given its own size (unchanged when it matches).
func predictTransform(c *config.Config) dataset.Transform {
	_, tf := train.Transforms(c)
	if tf.Resize == 0 {
		tf.Resize = min(c.Model.Input.Width, c.Model.Input.Height)
	}
	return tf
}
