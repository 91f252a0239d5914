package train

import (
	"strings"
	"testing"

	"alexnet/internal/config"
)

func TestWaitNote(t *testing.T) {
	folder := &config.Config{Data: config.Data{Format: "imagefolder", Workers: 16}}
	idx := &config.Config{Data: config.Data{Format: "idx", Workers: 2}}
	for _, c := range []struct {
		wait, secs float64
		cfg        *config.Config
		hint       bool
		want       string
	}{
		{0.5, 10, folder, true, ""},
		{0, 0, folder, true, ""},
		{4, 10, folder, false, "  (waited for data 40% of the time)"},
		{4, 10, folder, true, "  (waited for data 40% of the time); the loader is the bottleneck: pack the data once (alexnet pack) or raise data.workers (now 16)"},
		{9, 10, idx, true, "  (waited for data 90% of the time); the loader is the bottleneck: raise data.workers (now 2)"},
	} {
		if got := waitNote(c.wait, c.secs, c.cfg, c.hint); got != c.want {
			t.Errorf("waitNote(%g, %g, %s, %v) = %q, want %q", c.wait, c.secs, c.cfg.Data.Format, c.hint, got, c.want)
		}
	}
	if !strings.HasPrefix(waitNote(1, 10, idx, true), "  (waited") {
		t.Error("10% is loader-bound")
	}
}
