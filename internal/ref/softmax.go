package ref

import (
	"fmt"
	"math"

	"alexnet/internal/backend"
)

// Softmax cross-entropy, averaged over the batch (PyTorch's F.cross_entropy).
//
//	logits [N, C]   labels [N] in 0..C-1   dlogits [N, C]
//	loss = 1/N * sum_n ( logsumexp(logits[n,:]) - logits[n, labels[n]] )
//	dlogits[n,c] = (softmax(logits[n,:])[c] - [c == labels[n]]) / N
//
// logsumexp subtracts the row maximum first, so large logits do not overflow.
// dlogits may be nil when only the loss is wanted (evaluation).

func (r *Backend) SoftmaxCrossEntropy(logits backend.Buffer, labels []int32, n, c int, dlogits, sums backend.Buffer) error {
	if n <= 0 || c <= 0 {
		return fmt.Errorf("softmax cross-entropy: sizes must be positive (got n=%d, c=%d)", n, c)
	}
	if len(labels) != n {
		return fmt.Errorf("softmax cross-entropy: %d labels for %d rows", len(labels), n)
	}
	for i, l := range labels {
		if l < 0 || int(l) >= c {
			return fmt.Errorf("softmax cross-entropy: label %d of row %d is outside 0..%d", l, i, c-1)
		}
	}
	ck := checker{op: "softmax cross-entropy"}
	ls := ck.atLeast(logits, n*c, "logits")
	var ds []float32
	if dlogits != nil {
		ds = ck.atLeast(dlogits, n*c, "dlogits")
	}
	ss := ck.get(sums, 3, "sums")
	if ck.err != nil {
		return ck.err
	}
	loss := softmaxCrossEntropy(ls, labels, n, c, ds)
	top1, top5 := backend.Hits(ls, labels, c)
	ss[0] += float32(loss * float64(n))
	ss[1] += float32(top1)
	ss[2] += float32(top5)
	return nil
}

// softmaxCrossEntropy returns the mean loss and, when d is not nil, fills it with the
// gradient of that mean.
func softmaxCrossEntropy[T float](logits []T, labels []int32, n, c int, d []T) float64 {
	var total float64
	for i := 0; i < n; i++ {
		row := logits[i*c : (i+1)*c]
		m := math.Inf(-1)
		for _, v := range row {
			m = max(m, float64(v))
		}
		var sum float64
		for _, v := range row {
			sum += math.Exp(float64(v) - m)
		}
		lse := m + math.Log(sum)
		total += lse - float64(row[labels[i]])
		if d == nil {
			continue
		}
		for j, v := range row {
			g := math.Exp(float64(v) - lse)
			if j == int(labels[i]) {
				g--
			}
			d[i*c+j] = T(g / float64(n))
		}
	}
	return total / float64(n)
}
