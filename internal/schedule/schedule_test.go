package schedule

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func mustNew(t *testing.T, c Config, run Run) *Schedule {
	t.Helper()
	s, err := New(c, run)
	if err != nil {
		t.Fatalf("New(%+v): %v", c, err)
	}
	return s
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }

func TestStep(t *testing.T) {
	// Caffe: base_lr 0.01, gamma 0.1, stepsize 30 (epochs here).
	s := mustNew(t, Config{Type: "step", StepSize: 30, Gamma: 0.1}, Run{BaseLR: 0.01, Epochs: 90, StepsPerEpoch: 100})
	for _, c := range []struct {
		epoch int
		want  float64
	}{{0, 0.01}, {29, 0.01}, {30, 0.001}, {59, 0.001}, {60, 1e-4}, {89, 1e-4}, {90, 1e-5}} {
		if got := s.LR(c.epoch, int64(c.epoch)*100); !near(got, c.want) {
			t.Errorf("epoch %d: lr %g, want %g (difference %g)", c.epoch, got, c.want, got-c.want)
		}
	}
}

func TestStepDefaultsAndFloor(t *testing.T) {
	s := mustNew(t, Config{Type: "STEP ", StepSize: 1, MinLR: 1e-4}, Run{BaseLR: 0.1})
	if s.Type() != "step" {
		t.Errorf("type %q", s.Type())
	}
	// Default gamma 0.1: 0.1, 0.01, 0.001, 1e-4, then floored at 1e-4.
	for e, want := range []float64{0.1, 0.01, 0.001, 1e-4, 1e-4, 1e-4} {
		if got := s.LR(e, 0); !near(got, want) {
			t.Errorf("epoch %d: lr %g, want %g", e, got, want)
		}
	}
}

func TestMultistep(t *testing.T) {
	s := mustNew(t, Config{Type: "multistep", Gamma: 0.5, Milestones: []int{3, 5}}, Run{BaseLR: 1})
	for e, want := range []float64{1, 1, 1, 0.5, 0.5, 0.25, 0.25, 0.25} {
		if got := s.LR(e, 0); !near(got, want) {
			t.Errorf("epoch %d: lr %g, want %g", e, got, want)
		}
	}
}

func TestConstant(t *testing.T) {
	s := mustNew(t, Config{}, Run{BaseLR: 0.02})
	s.Observe(0.1)
	s.Observe(0.05)
	if got := s.LR(50, 1e9); got != 0.02 {
		t.Errorf("lr %g, want 0.02", got)
	}
}

func TestPoly(t *testing.T) {
	// Darknet: lr * (1 - batch/max_batches)^power.
	s := mustNew(t, Config{Type: "poly", Power: 2, MaxSteps: 1000}, Run{BaseLR: 0.1})
	for _, c := range []struct {
		step int64
		want float64
	}{{0, 0.1}, {500, 0.025}, {900, 0.001}, {1000, 0}, {1200, 0}} {
		if got := s.LR(0, c.step); !near(got, c.want) {
			t.Errorf("step %d: lr %g, want %g", c.step, got, c.want)
		}
	}
	// max_steps defaults to the whole run; default power is 4.
	s = mustNew(t, Config{Type: "poly"}, Run{BaseLR: 1, Epochs: 10, StepsPerEpoch: 100})
	if got, want := s.LR(5, 500), math.Pow(0.5, 4); !near(got, want) {
		t.Errorf("default poly at half way: lr %g, want %g", got, want)
	}
}

func TestWarmup(t *testing.T) {
	// 2 warmup epochs of 10 steps: lr ramps (step+1)/20 of the scheduled value.
	s := mustNew(t, Config{Type: "step", StepSize: 1, Gamma: 0.5, WarmupEpochs: 2}, Run{BaseLR: 1, StepsPerEpoch: 10})
	for _, c := range []struct {
		epoch int
		step  int64
		want  float64
	}{{0, 0, 1.0 / 20}, {0, 9, 10.0 / 20}, {1, 10, 0.5 * 11 / 20}, {1, 19, 0.5}, {2, 20, 0.25}} {
		if got := s.LR(c.epoch, c.step); !near(got, c.want) {
			t.Errorf("epoch %d step %d: lr %g, want %g", c.epoch, c.step, got, c.want)
		}
	}
	// Monotone during the warmup of a constant schedule.
	s = mustNew(t, Config{WarmupEpochs: 0.5}, Run{BaseLR: 1, StepsPerEpoch: 7})
	prev := 0.0
	for st := int64(0); st < 10; st++ {
		lr := s.LR(0, st)
		if lr < prev || lr > 1 {
			t.Errorf("step %d: lr %g after %g", st, lr, prev)
		}
		prev = lr
	}
	if prev != 1 {
		t.Errorf("after warmup lr %g, want 1", prev)
	}
}

func TestPlateau(t *testing.T) {
	s := mustNew(t, Config{Type: "plateau", Factor: 10, Patience: 2, Threshold: 0.01, MinLR: 1e-4}, Run{BaseLR: 0.01})
	// Validation top-1 per epoch and the lr expected for the next epoch.
	steps := []struct {
		acc, want float64
	}{
		{0.30, 0.01},
		{0.40, 0.01},  // improved
		{0.405, 0.01}, // within threshold: bad epoch 1
		{0.41, 0.001}, // +0.01 is not more than threshold: bad epoch 2 -> cut
		{0.39, 0.001}, // bad 1 of the new patience
		{0.50, 0.001}, // improved, resets
		{0.49, 0.001},
		{math.NaN(), 1e-4}, // NaN counts as not improved -> cut
		{0.1, 1e-4},
		{0.1, 1e-4}, // would cut below min_lr: stays at the floor
	}
	for i, c := range steps {
		s.Observe(c.acc)
		if got := s.LR(i+1, 0); !near(got, c.want) {
			t.Errorf("after epoch %d (metric %g): lr %g, want %g", i, c.acc, got, c.want)
		}
	}
	if s.Reductions() != 2 {
		t.Errorf("reductions %d, want 2", s.Reductions())
	}
}

func TestPlateauMin(t *testing.T) {
	s := mustNew(t, Config{Type: "plateau", Mode: "min"}, Run{BaseLR: 1}) // patience 1, factor 10
	for i, c := range []struct{ loss, want float64 }{{2, 1}, {1.5, 1}, {1.6, 0.1}, {1.4, 0.1}, {1.4, 0.01}} {
		s.Observe(c.loss)
		if got := s.LR(i+1, 0); !near(got, c.want) {
			t.Errorf("after loss %g: lr %g, want %g", c.loss, got, c.want)
		}
	}
}

// A run interrupted after any epoch and resumed from State must produce exactly the
// rates of an unbroken run.
func TestResumeMatchesUnbroken(t *testing.T) {
	cfgs := []Config{
		{Type: "plateau", Patience: 2, Threshold: 0.001, MinLR: 1e-5, WarmupEpochs: 1},
		{Type: "step", StepSize: 3},
		{Type: "poly", Power: 1.5},
		{Type: "multistep", Milestones: []int{2, 4}},
	}
	metric := []float64{0.1, 0.2, 0.2, 0.2, 0.25, 0.24, 0.24, 0.3, 0.3, 0.3}
	run := Run{BaseLR: 0.01, Epochs: len(metric), StepsPerEpoch: 5}
	for _, c := range cfgs {
		trace := func(s *Schedule, from int) []float64 {
			var lrs []float64
			for e := from; e < len(metric); e++ {
				for k := int64(0); k < run.StepsPerEpoch; k++ {
					lrs = append(lrs, s.LR(e, int64(e)*run.StepsPerEpoch+k))
				}
				s.Observe(metric[e])
			}
			return lrs
		}
		full := trace(mustNew(t, c, run), 0)
		for cut := 1; cut < len(metric); cut++ {
			a := mustNew(t, c, run)
			for e := 0; e < cut; e++ {
				a.Observe(metric[e])
			}
			js, err := a.State()
			if err != nil {
				t.Fatal(err)
			}
			b := mustNew(t, c, run)
			if err := b.Restore(js); err != nil {
				t.Fatalf("%s: Restore(%s): %v", c.Type, js, err)
			}
			tail := trace(b, cut)
			want := full[cut*int(run.StepsPerEpoch):]
			for i := range want {
				if tail[i] != want[i] {
					t.Errorf("%s resumed after epoch %d: step %d lr %g, unbroken %g (state %s)",
						c.Type, cut, cut*int(run.StepsPerEpoch)+i, tail[i], want[i], js)
					break
				}
			}
		}
	}
}

func TestRestoreErrors(t *testing.T) {
	p := mustNew(t, Config{Type: "plateau"}, Run{BaseLR: 0.01})
	st, _ := mustNew(t, Config{Type: "step", StepSize: 2}, Run{BaseLR: 0.01}).State()
	if err := p.Restore(st); err == nil || !strings.Contains(err.Error(), "train.schedule.type") {
		t.Errorf("type mismatch: %v", err)
	}
	for _, js := range []string{`{`, `{"type":"plateau","lr":-1}`, `{"type":"plateau","lr":0.1,"bad_epochs":-3}`} {
		if err := p.Restore(json.RawMessage(js)); err == nil {
			t.Errorf("Restore(%s) succeeded", js)
		}
	}
	if err := p.Restore(nil); err != nil {
		t.Errorf("Restore(nil): %v", err)
	}
	if got := p.LR(0, 0); got != 0.01 {
		t.Errorf("after failed restores lr %g, want 0.01", got)
	}
}

func TestValidation(t *testing.T) {
	run := Run{BaseLR: 0.01, Epochs: 10, StepsPerEpoch: 100}
	cases := []struct {
		c    Config
		run  Run
		want string
	}{
		{Config{Type: "step"}, run, "train.schedule.step_size must be positive"},
		{Config{Type: "step", StepSize: 1, Gamma: 2}, run, "train.schedule.gamma"},
		{Config{Type: "multistep"}, run, "train.schedule.milestones"},
		{Config{Type: "multistep", Milestones: []int{5, 3}}, run, "train.schedule.milestones must be increasing"},
		{Config{Type: "multistep", Milestones: []int{0}}, run, "train.schedule.milestones"},
		{Config{Type: "plateau", Factor: 0.5}, run, "train.schedule.factor"},
		{Config{Type: "plateau", Patience: -1}, run, "train.schedule.patience"},
		{Config{Type: "plateau", Threshold: -1}, run, "train.schedule.threshold"},
		{Config{Type: "plateau", Mode: "up"}, run, "train.schedule.mode"},
		{Config{Type: "poly", Power: -1}, run, "train.schedule.power"},
		{Config{Type: "poly"}, Run{BaseLR: 0.01}, "train.schedule.max_steps"},
		{Config{Type: "cosine"}, run, "train.schedule.type"},
		{Config{MinLR: 1}, run, "train.schedule.min_lr"},
		{Config{WarmupEpochs: -1}, run, "train.schedule.warmup_epochs"},
		{Config{WarmupEpochs: 1}, Run{BaseLR: 0.01}, "train.schedule.warmup_epochs"},
		{Config{}, Run{BaseLR: 0}, "train.lr must be positive"},
		{Config{}, Run{BaseLR: math.NaN()}, "train.lr must be positive"},
	}
	for _, c := range cases {
		_, err := New(c.c, c.run)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v): error %v, want %q", c.c, err, c.want)
		}
	}
}

func TestString(t *testing.T) {
	s := mustNew(t, Config{Type: "plateau", WarmupEpochs: 1}, Run{BaseLR: 0.01, StepsPerEpoch: 10})
	if d := s.String(); !strings.Contains(d, "plateau") || !strings.Contains(d, "/ 10") || !strings.Contains(d, "10 steps") {
		t.Errorf("String() = %q", d)
	}
}
