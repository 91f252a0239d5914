package train

import (
	"fmt"
	"strconv"
	"strings"
)

// Loss scaling for fp16, as torch.cuda.amp.GradScaler does it: the loss's gradient
// is multiplied by the scale so that small gradients stay above fp16's underflow
// (6e-8), SGD divides it out, and a step whose gradients overflowed (an infinity
// or NaN anywhere) is skipped. A dynamic scale starts at 2^16, halves at each
// overflow and doubles after scaleInterval clean steps, so it settles just below
// where gradients overflow.
const (
	initialLossScale = 1 << 16
	scaleInterval    = 2000
	minLossScale     = 1.0 / (1 << 24)
)

// Checkpoint keys of the scaler's state, so a resumed run scales as it would have.
const (
	lossScaleKey = "loss_scale"
	scaleGoodKey = "loss_scale_clean_steps"
)

type lossScaler struct {
	scale   float64
	dynamic bool
	good    int // clean steps since the last change
	// skipped are the steps skipped for overflow this epoch.
	skipped []int64
}

// newLossScaler returns the scaler for precision, or nil when it needs none
// (bf16 has fp32's range; fp32 and tf32 need no scaling). fixed > 0 fixes the scale.
func newLossScaler(precision string, fixed float64) *lossScaler {
	if precision != "fp16" {
		return nil
	}
	if fixed > 0 {
		return &lossScaler{scale: fixed}
	}
	return &lossScaler{scale: initialLossScale, dynamic: true}
}

// update takes whether the step's gradients were finite and reports whether the
// step may be applied.
func (s *lossScaler) update(step int64, finite bool) bool {
	if !finite {
		s.skipped = append(s.skipped, step)
		s.good = 0
		if s.dynamic {
			s.scale = max(s.scale/2, minLossScale)
		}
		return false
	}
	if s.dynamic {
		if s.good++; s.good >= scaleInterval {
			s.scale, s.good = s.scale*2, 0
		}
	}
	return true
}

// report is the epoch's line about skipped steps ("" when none), and starts the
// next epoch's count.
func (s *lossScaler) report() string {
	if len(s.skipped) == 0 {
		return ""
	}
	var steps []string
	for i, st := range s.skipped {
		if i == 8 {
			steps = append(steps, fmt.Sprintf("and %d more", len(s.skipped)-8))
			break
		}
		steps = append(steps, strconv.FormatInt(st+1, 10))
	}
	line := fmt.Sprintf("fp16: %d step(s) skipped because gradients overflowed (step %s); loss scale now %g",
		len(s.skipped), strings.Join(steps, ", "), s.scale)
	s.skipped = nil
	return line
}

func (s *lossScaler) save(extra map[string]string) {
	extra[lossScaleKey] = strconv.FormatFloat(s.scale, 'g', -1, 64)
	extra[scaleGoodKey] = strconv.Itoa(s.good)
}

func (s *lossScaler) restore(extra map[string]string) error {
	v, ok := extra[lossScaleKey]
	if !ok {
		return nil // a checkpoint from a run in another precision: start afresh
	}
	scale, err := strconv.ParseFloat(v, 64)
	if err != nil || !(scale > 0) {
		return fmt.Errorf("checkpoint: loss scale %q is not a positive number", v)
	}
	good, err := strconv.Atoi(extra[scaleGoodKey])
	if err != nil || good < 0 {
		return fmt.Errorf("checkpoint: %s %q is not a count", scaleGoodKey, extra[scaleGoodKey])
	}
	if s.dynamic {
		s.scale, s.good = scale, good
	}
	return nil
}
