// Package schedule computes the learning rate for each step of training.
//
// Types, with the framework whose habit they follow:
//
//	constant   lr
//	step       Caffe "step":      lr * gamma^floor(epoch / step_size)
//	multistep  Caffe "multistep": lr * gamma^(number of milestones <= epoch)
//	plateau    the 2012 paper:    divide by factor when the validation metric has not
//	                              improved for patience epochs (PyTorch ReduceLROnPlateau)
//	poly       Darknet "poly":    lr * (1 - step/max_steps)^power, updated every step
//
// Any type can start with a linear warmup over warmup_epochs, per step, from lr/W up to
// the scheduled value (Goyal et al. 2017), W being the number of warmup steps. min_lr is
// a floor for every decay (not for the warmup ramp).
//
// Epochs are counted from 0 (the epoch being trained), steps from 0 over the whole run
// (optimizer steps already taken). State and Restore carry everything that is not a
// function of (epoch, step), so a resumed run gets the same rates as an unbroken one.
package schedule

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
)

// Prefix is the config key the field names in errors start with.
const Prefix = "train.schedule."

// Config mirrors the train.schedule section of the YAML config. A zero field means
// "default" where the default is listed; other zero fields are errors when the type
// needs them.
type Config struct {
	Type         string  `mapstructure:"type" yaml:"type" json:"type"`                             // constant, step, multistep, plateau, poly (default constant)
	StepSize     int     `mapstructure:"step_size" yaml:"step_size" json:"step_size"`              // step: epochs between decays
	Gamma        float64 `mapstructure:"gamma" yaml:"gamma" json:"gamma"`                          // step, multistep: multiplier per decay (default 0.1)
	Milestones   []int   `mapstructure:"milestones" yaml:"milestones,omitempty" json:"milestones"` // multistep: epochs at which to decay, increasing
	Factor       float64 `mapstructure:"factor" yaml:"factor" json:"factor"`                       // plateau: divisor per decay (default 10)
	Patience     int     `mapstructure:"patience" yaml:"patience" json:"patience"`                 // plateau: epochs without improvement before a decay (default 1)
	Threshold    float64 `mapstructure:"threshold" yaml:"threshold" json:"threshold"`              // plateau: least change that counts as improvement, in metric units (default 0)
	Mode         string  `mapstructure:"mode" yaml:"mode" json:"mode"`                             // plateau: max (accuracy, the default) or min (loss, error)
	MinLR        float64 `mapstructure:"min_lr" yaml:"min_lr" json:"min_lr"`                       // floor for all decays (default 0)
	Power        float64 `mapstructure:"power" yaml:"power" json:"power"`                          // poly: exponent (default 4, as Darknet)
	MaxSteps     int64   `mapstructure:"max_steps" yaml:"max_steps" json:"max_steps"`              // poly: step where lr reaches 0 (default: epochs * steps per epoch)
	WarmupEpochs float64 `mapstructure:"warmup_epochs" yaml:"warmup_epochs" json:"warmup_epochs"`
}

// Run is what the schedule needs to know about the run itself.
type Run struct {
	BaseLR        float64 // train.lr
	Epochs        int     // total epochs planned
	StepsPerEpoch int64   // optimizer steps per epoch
}

// Schedule is a learning-rate schedule. It is not safe for concurrent use.
type Schedule struct {
	cfg         Config
	base        float64
	warmupSteps int64

	// plateau state: the only state that is not a function of (epoch, step).
	plateauLR  float64
	best       float64
	hasBest    bool
	badEpochs  int
	reductions int
}

// New validates c and builds the schedule. Errors name the config key.
func New(c Config, run Run) (*Schedule, error) {
	c.Type = strings.ToLower(strings.TrimSpace(c.Type))
	if c.Type == "" {
		c.Type = "constant"
	}
	if c.Gamma == 0 {
		c.Gamma = 0.1
	}
	if c.Factor == 0 {
		c.Factor = 10
	}
	if c.Patience == 0 {
		c.Patience = 1
	}
	if c.Power == 0 {
		c.Power = 4
	}
	if c.Mode == "" {
		c.Mode = "max"
	}
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%s%s %s", Prefix, field, fmt.Sprintf(format, args...))
	}
	if !(run.BaseLR > 0) || math.IsInf(run.BaseLR, 0) {
		return nil, fmt.Errorf("train.lr must be positive (got %g)", run.BaseLR)
	}
	if run.StepsPerEpoch < 0 {
		return nil, fmt.Errorf("schedule: steps per epoch %d is negative", run.StepsPerEpoch)
	}
	if c.MinLR < 0 || math.IsNaN(c.MinLR) || c.MinLR > run.BaseLR {
		return nil, bad("min_lr", "must be between 0 and train.lr (%g) (got %g)", run.BaseLR, c.MinLR)
	}
	if c.WarmupEpochs < 0 || math.IsNaN(c.WarmupEpochs) || math.IsInf(c.WarmupEpochs, 0) {
		return nil, bad("warmup_epochs", "must not be negative (got %g)", c.WarmupEpochs)
	}
	switch c.Type {
	case "constant":
	case "step":
		if c.StepSize <= 0 {
			return nil, bad("step_size", "must be positive (got %d)", c.StepSize)
		}
		if !(c.Gamma > 0 && c.Gamma <= 1) {
			return nil, bad("gamma", "must be in (0, 1] (got %g)", c.Gamma)
		}
	case "multistep":
		if !(c.Gamma > 0 && c.Gamma <= 1) {
			return nil, bad("gamma", "must be in (0, 1] (got %g)", c.Gamma)
		}
		if len(c.Milestones) == 0 {
			return nil, bad("milestones", "must list at least one epoch for type multistep")
		}
		for i, m := range c.Milestones {
			if m <= 0 {
				return nil, bad("milestones", "must be positive epochs (got %d)", m)
			}
			if i > 0 && m <= c.Milestones[i-1] {
				return nil, bad("milestones", "must be increasing (got %v)", c.Milestones)
			}
		}
	case "plateau":
		if !(c.Factor > 1) || math.IsInf(c.Factor, 0) {
			return nil, bad("factor", "must be greater than 1 (got %g)", c.Factor)
		}
		if c.Patience < 0 {
			return nil, bad("patience", "must be positive (got %d)", c.Patience)
		}
		if c.Threshold < 0 || math.IsNaN(c.Threshold) {
			return nil, bad("threshold", "must not be negative (got %g)", c.Threshold)
		}
		if c.Mode != "max" && c.Mode != "min" {
			return nil, bad("mode", "must be max or min (got %q)", c.Mode)
		}
	case "poly":
		if !(c.Power > 0) || math.IsInf(c.Power, 0) {
			return nil, bad("power", "must be positive (got %g)", c.Power)
		}
		if c.MaxSteps < 0 {
			return nil, bad("max_steps", "must be positive (got %d)", c.MaxSteps)
		}
		if c.MaxSteps == 0 {
			c.MaxSteps = int64(run.Epochs) * run.StepsPerEpoch
		}
		if c.MaxSteps <= 0 {
			return nil, bad("max_steps", "must be set for type poly when the run length is unknown")
		}
	default:
		return nil, bad("type", "must be constant, step, multistep, plateau or poly (got %q)", c.Type)
	}
	s := &Schedule{cfg: c, base: run.BaseLR, plateauLR: run.BaseLR}
	if c.WarmupEpochs > 0 {
		if run.StepsPerEpoch == 0 {
			return nil, bad("warmup_epochs", "needs the number of steps per epoch")
		}
		s.warmupSteps = int64(math.Ceil(c.WarmupEpochs * float64(run.StepsPerEpoch)))
	}
	return s, nil
}

// Type is the schedule type after defaults ("constant" for an empty one).
func (s *Schedule) Type() string { return s.cfg.Type }

// LR is the learning rate for the optimizer step taken at global step `step` (0-based)
// during epoch `epoch` (0-based).
func (s *Schedule) LR(epoch int, step int64) float64 {
	c := &s.cfg
	lr := s.base
	switch c.Type {
	case "step":
		lr = s.base * math.Pow(c.Gamma, float64(epoch/c.StepSize))
	case "multistep":
		// Milestones are increasing: the count of those <= epoch is the search index.
		n := sort.Search(len(c.Milestones), func(i int) bool { return c.Milestones[i] > epoch })
		lr = s.base * math.Pow(c.Gamma, float64(n))
	case "plateau":
		lr = s.plateauLR
	case "poly":
		frac := 1 - float64(step)/float64(c.MaxSteps)
		lr = s.base * math.Pow(math.Max(frac, 0), c.Power)
	}
	lr = math.Max(lr, c.MinLR)
	if step < s.warmupSteps {
		lr *= float64(step+1) / float64(s.warmupSteps)
	}
	return lr
}

// Observe reports the validation metric at the end of an epoch (top-1 accuracy for mode
// max, a loss or error for mode min). Only plateau uses it; call it once per validated
// epoch, before saving the checkpoint, so the saved State includes it. A NaN metric
// counts as no improvement.
func (s *Schedule) Observe(metric float64) {
	if s.cfg.Type != "plateau" {
		return
	}
	var improved bool
	switch {
	case math.IsNaN(metric):
	case !s.hasBest:
		improved = true
	case s.cfg.Mode == "max":
		improved = metric > s.best+s.cfg.Threshold
	default:
		improved = metric < s.best-s.cfg.Threshold
	}
	if improved {
		s.best, s.hasBest, s.badEpochs = metric, true, 0
		return
	}
	s.badEpochs++
	if s.badEpochs >= s.cfg.Patience {
		next := math.Max(s.plateauLR/s.cfg.Factor, s.cfg.MinLR)
		if next < s.plateauLR {
			s.reductions++
		}
		s.plateauLR = next
		s.badEpochs = 0 // the new rate gets a full patience before the next cut
	}
}

// Reductions is how many times plateau has lowered the rate (0 for other types).
func (s *Schedule) Reductions() int { return s.reductions }

// state is the JSON form of the mutable part, tagged with the type so a resume under a
// different schedule type is caught rather than misread.
type state struct {
	Type       string   `json:"type"`
	LR         float64  `json:"lr,omitempty"`
	Best       *float64 `json:"best,omitempty"`
	BadEpochs  int      `json:"bad_epochs,omitempty"`
	Reductions int      `json:"reductions,omitempty"`
}

// State is the schedule's resumable state as JSON (for checkpoint.State.Schedule).
func (s *Schedule) State() (json.RawMessage, error) {
	st := state{Type: s.cfg.Type}
	if s.cfg.Type == "plateau" {
		st.LR, st.BadEpochs, st.Reductions = s.plateauLR, s.badEpochs, s.reductions
		if s.hasBest {
			b := s.best
			st.Best = &b
		}
	}
	js, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("schedule state: %w", err)
	}
	return js, nil
}

// Restore loads a State saved by a schedule of the same type. An empty state (a
// checkpoint from before schedules were saved) leaves the schedule as new.
func (s *Schedule) Restore(js json.RawMessage) error {
	if len(js) == 0 {
		return nil
	}
	var st state
	if err := json.Unmarshal(js, &st); err != nil {
		return fmt.Errorf("schedule state: %w", err)
	}
	if st.Type != s.cfg.Type {
		return fmt.Errorf("checkpoint was trained with %s%s %q but the config says %q; keep the type to resume, or start a new run from its weights",
			Prefix, "type", st.Type, s.cfg.Type)
	}
	if s.cfg.Type != "plateau" {
		return nil
	}
	if !(st.LR > 0) || math.IsInf(st.LR, 0) || st.BadEpochs < 0 || st.Reductions < 0 {
		return fmt.Errorf("schedule state: implausible plateau state %s", js)
	}
	s.plateauLR = math.Max(st.LR, s.cfg.MinLR)
	s.badEpochs, s.reductions = st.BadEpochs, st.Reductions
	s.hasBest = st.Best != nil
	if st.Best != nil {
		s.best = *st.Best
	}
	return nil
}

// String describes the schedule in one line for the start-of-run log.
func (s *Schedule) String() string {
	c := &s.cfg
	var d string
	switch c.Type {
	case "constant":
		d = fmt.Sprintf("constant lr %g", s.base)
	case "step":
		d = fmt.Sprintf("step: lr %g x %g every %d epochs", s.base, c.Gamma, c.StepSize)
	case "multistep":
		d = fmt.Sprintf("multistep: lr %g x %g at epochs %v", s.base, c.Gamma, c.Milestones)
	case "plateau":
		d = fmt.Sprintf("plateau: lr %g / %g after %d epochs without validation improvement (mode %s, threshold %g)",
			s.base, c.Factor, c.Patience, c.Mode, c.Threshold)
	case "poly":
		d = fmt.Sprintf("poly: lr %g x (1 - step/%d)^%g", s.base, c.MaxSteps, c.Power)
	}
	if c.MinLR > 0 {
		d += fmt.Sprintf(", min %g", c.MinLR)
	}
	if s.warmupSteps > 0 {
		d += fmt.Sprintf(", linear warmup over %g epochs (%d steps)", c.WarmupEpochs, s.warmupSteps)
	}
	return d
}
