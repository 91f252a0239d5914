package train

import (
	"math"
	"sort"

	"alexnet/internal/backend"
	"alexnet/internal/jsonx"
	"alexnet/internal/model"
)

// Tally accumulates loss and top-1/top-5 hits over batches.
type Tally struct {
	Images  int
	LossSum float64 // sum over images of their loss
	Top1    int
	Top5    int
	Skipped int
}

// AddScores counts what a network's Loss accumulated.
func (t *Tally) AddScores(s model.Scores) {
	t.Images += s.Images
	t.LossSum += s.LossSum
	t.Top1 += s.Top1
	t.Top5 += s.Top5
}

// minus is what t counted since it was u: a window of training for a step line.
func (t Tally) minus(u Tally) Tally {
	return Tally{Images: t.Images - u.Images, LossSum: t.LossSum - u.LossSum, Top1: t.Top1 - u.Top1,
		Top5: t.Top5 - u.Top5, Skipped: t.Skipped - u.Skipped}
}

// Loss, Top1 and Top5 are means over the images counted (fractions in [0, 1]).
func (t *Tally) Loss() float64    { return t.LossSum / math.Max(1, float64(t.Images)) }
func (t *Tally) Top1Acc() float64 { return float64(t.Top1) / math.Max(1, float64(t.Images)) }
func (t *Tally) Top5Acc() float64 { return float64(t.Top5) / math.Max(1, float64(t.Images)) }

// Prediction is one class and its probability.
type Prediction struct {
	Index       int          `json:"index"`
	Label       string       `json:"label"`
	Probability jsonx.Number `json:"probability"` // null if NaN (broken weights)
}

// Softmax turns a row of logits into probabilities (stable: the max is subtracted).
func Softmax(row []float32) []float64 {
	m := math.Inf(-1)
	for _, x := range row {
		m = math.Max(m, float64(x))
	}
	p := make([]float64, len(row))
	var s float64
	for i, x := range row {
		p[i] = math.Exp(float64(x) - m)
		s += p[i]
	}
	for i := range p {
		p[i] /= s
	}
	return p
}

// TopK returns the k most probable classes of probs, most probable first.
func TopK(probs []float64, k int, classes []string) []Prediction {
	idx := make([]int, len(probs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return probs[idx[a]] > probs[idx[b]] })
	k = min(k, len(idx))
	out := make([]Prediction, k)
	for i := 0; i < k; i++ {
		label := ""
		if idx[i] < len(classes) {
			label = classes[idx[i]]
		}
		out[i] = Prediction{Index: idx[i], Label: label, Probability: jsonx.Number(probs[idx[i]])}
	}
	return out
}

// AddProbs counts one image from its class probabilities (the loss is -log p).
func (t *Tally) AddProbs(probs []float64, label int32) {
	row := make([]float32, len(probs))
	for i, p := range probs {
		row[i] = float32(p)
	}
	top1, top5 := backend.Hits(row, []int32{label}, len(row))
	t.Top1 += top1
	t.Top5 += top5
	t.Images++
	t.LossSum += -math.Log(math.Max(probs[label], 1e-45))
}
