package train

import (
	"math"
	"testing"

	"alexnet/internal/backend"
	"alexnet/internal/model"
)

func TestTallyTopK(t *testing.T) {
	var tl Tally
	// Row 0: label 2 is the best; row 1: label 0 is 6th of 7; row 2: label 1 is 2nd.
	logits := []float32{
		0, 1, 5, 2, 0, 0, 0,
		0, 9, 8, 7, 6, 5, 1,
		3, 2, 0, 0, 0, 0, 0,
	}
	top1, top5 := backend.Hits(logits, []int32{2, 0, 1}, 7)
	tl.AddScores(model.Scores{Images: 3, LossSum: 1.5, Top1: top1, Top5: top5})
	if tl.Top1 != 1 || tl.Top5 != 2 || tl.Images != 3 || math.Abs(tl.Loss()-0.5) > 1e-12 {
		t.Errorf("tally %+v", tl)
	}
	p := Softmax([]float32{1000, 1000, 0})
	if math.Abs(p[0]-0.5) > 1e-9 || p[2] > 1e-300 {
		t.Errorf("softmax %v", p)
	}
	top := TopK([]float64{0.1, 0.6, 0.3}, 2, []string{"a", "b", "c"})
	if len(top) != 2 || top[0].Label != "b" || top[1].Index != 2 {
		t.Errorf("topk %+v", top)
	}
}
