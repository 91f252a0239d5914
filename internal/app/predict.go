package app

import (
	"errors"
	"fmt"
	"io"
	"os"

	"alexnet/internal/config"
	"alexnet/internal/dataset"
	"alexnet/internal/jsonx"
	"alexnet/internal/train"
)

// PredictOptions are the flags of `alexnet predict`.
type PredictOptions struct {
	Config  ConfigSource
	Weights string
	TopK    int
	JSON    bool
	Backend string
	Threads int
	Device  int
	Images  []string
}

// ImagePrediction is one image's entry in `alexnet predict --json`.
type ImagePrediction struct {
	Image       string             `json:"image"`
	Predictions []train.Prediction `json:"predictions"`
}

// Predict classifies images with the config's evaluation transform.
func Predict(o PredictOptions, out io.Writer) error {
	if o.Weights == "" {
		return usage(errors.New("predict: --weights is required"))
	}
	if len(o.Images) == 0 {
		return usage(errors.New("predict: name at least one image"))
	}
	if o.TopK <= 0 {
		return usage(fmt.Errorf("predict: --topk must be positive (got %d)", o.TopK))
	}
	// Decode every image before any work, so a bad file fails fast and alone.
	ck, c, err := loadTrained(o.Config, o.Weights)
	if err != nil {
		return err
	}
	var x []float32
	for _, path := range o.Images {
		v, err := prepareImage(c, path)
		if err != nil {
			return usage(err)
		}
		x = append(x, v...)
	}
	net, err := buildTrained(c, ck, o.Weights, o.Backend, o.Threads, o.Device, len(o.Images))
	if err != nil {
		return err
	}
	defer net.Close()
	if err := net.SetInput(x, len(o.Images)); err != nil {
		return err
	}
	if err := net.Forward(false, nil); err != nil {
		return err
	}
	logits, err := net.Logits()
	if err != nil {
		return err
	}
	classes := ck.State.Classes
	k := c.Model.Classes
	var results []ImagePrediction
	for i, path := range o.Images {
		probs := train.Softmax(logits[i*k : (i+1)*k])
		results = append(results, ImagePrediction{Image: path, Predictions: train.TopK(probs, o.TopK, classes)})
	}
	if o.JSON {
		return jsonx.Write(out, results)
	}
	for _, r := range results {
		fmt.Fprintf(out, "%s\n", r.Image)
		for _, p := range r.Predictions {
			label := p.Label
			if label == "" {
				label = fmt.Sprintf("class %d", p.Index)
			}
			fmt.Fprintf(out, "  %6.2f%%  %s\n", 100*p.Probability, label)
		}
	}
	return nil
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

// prepareImage decodes an image and applies c's evaluation transform: the network's
// input for it, [C, H, W].
func prepareImage(c *config.Config, path string) ([]float32, error) {
	in := c.Model.Input
	_, tf := train.Transforms(c)
	img, err := decodeImage(path)
	if err != nil {
		return nil, err
	}
	if img, err = dataset.ToChannels(img, in.Channels); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if tf.Resize == 0 && (img.W != in.Width || img.H != in.Height) {
		tf.Resize = min(in.Width, in.Height) // a model trained without resizing still takes other sizes
	}
	tensor, err := tf.Apply(img, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return tensor.Data, nil
}
