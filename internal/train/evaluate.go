package train

import (
	"context"
	"fmt"

	"alexnet/internal/dataset"
	"alexnet/internal/model"
)

// Evaluate runs the network in evaluation mode over one pass of the loader: mean
// loss, top-1 and top-5.
func Evaluate(ctx context.Context, net *model.Network, l *dataset.Loader) (Tally, error) {
	var t Tally
	if _, err := net.TakeScores(); err != nil { // start from zero
		return t, err
	}
	st, err := l.Run(ctx, 0, func(b *dataset.Batch) error {
		if b.N == 0 { // a rank's empty share of a short last batch
			return nil
		}
		if err := net.SetInput(b.X[:b.N*b.C*b.H*b.W], b.N); err != nil {
			return err
		}
		if err := net.Forward(false, nil); err != nil {
			return err
		}
		return net.Loss(b.Labels[:b.N]) // scores stay on the device until the end
	})
	t.Skipped = len(st.Skipped)
	if err != nil {
		return t, err
	}
	s, err := net.TakeScores()
	t.AddScores(s)
	return t, err
}

// EvaluateTenCrop is the paper's test: each image's four corner and centre crops and
// their mirrors, softmax averaged over the ten. The loader must have an evaluation
// transform without crop (the crop is done here), and the network a batch of at
// least 10.
func EvaluateTenCrop(ctx context.Context, net *model.Network, src dataset.Source, tf dataset.Transform) (Tally, error) {
	var t Tally
	if net.BatchSize() < 10 {
		return t, fmt.Errorf("ten-crop evaluation needs a batch of at least 10 (got %d)", net.BatchSize())
	}
	classes := net.Classes()
	for i := 0; i < src.Len(); i++ {
		if err := ctx.Err(); err != nil {
			return t, err
		}
		img, label, err := src.Load(i)
		if err != nil {
			t.Skipped++
			continue
		}
		crops, err := tf.TenCrop(img)
		if err != nil {
			return t, fmt.Errorf("%s: %w", src.Name(i), err)
		}
		var x []float32
		for _, c := range crops {
			x = append(x, c.Data...)
		}
		if err := net.SetInput(x, 10); err != nil {
			return t, err
		}
		if err := net.Forward(false, nil); err != nil {
			return t, err
		}
		logits, err := net.Logits()
		if err != nil {
			return t, err
		}
		if label < 0 || int(label) >= classes {
			return t, fmt.Errorf("%s: label %d is past the network's %d classes", src.Name(i), label, classes)
		}
		avg := make([]float64, classes)
		for k := 0; k < 10; k++ {
			for j, p := range Softmax(logits[k*classes : (k+1)*classes]) {
				avg[j] += p / 10
			}
		}
		t.AddProbs(avg, label)
	}
	return t, nil
}
