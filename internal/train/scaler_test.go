package train

import (
	"strings"
	"testing"
)

func TestLossScalerDynamic(t *testing.T) {
	if newLossScaler("bf16", 0) != nil || newLossScaler("fp32", 0) != nil {
		t.Fatal("a scaler for a precision that needs none")
	}
	s := newLossScaler("fp16", 0)
	if s.scale != 65536 {
		t.Fatalf("initial scale %g", s.scale)
	}
	if s.update(0, false) || s.scale != 32768 {
		t.Fatalf("overflow: applied, or scale %g", s.scale)
	}
	if !s.update(1, true) {
		t.Fatal("finite step skipped")
	}
	for i := int64(2); i <= scaleInterval; i++ {
		s.update(i, true)
	}
	if s.scale != 65536 {
		t.Fatalf("after %d clean steps scale %g, want 65536", scaleInterval, s.scale)
	}
	line := s.report()
	if !strings.Contains(line, "1 step(s) skipped") || !strings.Contains(line, "step 1)") || !strings.Contains(line, "65536") {
		t.Errorf("report %q", line)
	}
	if s.report() != "" {
		t.Error("report does not start afresh")
	}
	extra := map[string]string{}
	s.update(5000, false)
	s.save(extra)
	r := newLossScaler("fp16", 0)
	if err := r.restore(extra); err != nil || r.scale != s.scale || r.good != s.good {
		t.Errorf("restore: %v, scale %g good %d, want %g %d", err, r.scale, r.good, s.scale, s.good)
	}
	if err := r.restore(map[string]string{lossScaleKey: "-3", scaleGoodKey: "0"}); err == nil {
		t.Error("negative scale restored")
	}
}

func TestLossScalerFixed(t *testing.T) {
	s := newLossScaler("fp16", 1024)
	for i := range int64(3 * scaleInterval) {
		s.update(i, i%7 != 0)
	}
	if s.scale != 1024 {
		t.Errorf("fixed scale moved to %g", s.scale)
	}
}
