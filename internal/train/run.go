// Package train is the training loop: SGD over the loader's batches, the learning-rate
// schedule, validation each epoch, the metrics log and plot, checkpoints, resume, and
// stopping cleanly on a signal or a non-finite loss.
package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	"alexnet/internal/atomicfile"
	"alexnet/internal/backend"
	"alexnet/internal/checkpoint"
	"alexnet/internal/config"
	"alexnet/internal/dataset"
	"alexnet/internal/metrics"
	"alexnet/internal/model"
	"alexnet/internal/plot"
	"alexnet/internal/progress"
	"alexnet/internal/schedule"
)

// Options are what a training run needs besides its config.
type Options struct {
	Config *config.Config
	// Net is the network built for the config's batch size (one device or two
	// towers); Backend names where it runs, for the checkpoint.
	Net     model.Net
	Backend string
	OutDir  string
	Resume  *checkpoint.Checkpoint // nil: a fresh run
	Strict  bool                   // an unreadable image stops the run
	Log     io.Writer              // epoch summaries and warnings
	// OnStep, if set, is called after each optimizer step with the number of steps
	// taken so far (for callers that watch a run; tests interrupt with it).
	OnStep   func(steps int64)
	Progress progress.Mode // Auto: a bar on a terminal, plain periodic lines otherwise
}

// Result is the outcome of a run.
type Result struct {
	Epochs      int // completed epochs
	Steps       int64
	Val         Tally
	Best        float64
	BestEpoch   int
	Seconds     float64
	LastPath    string
	BestPath    string
	Interrupted bool
}

// ErrInterrupted is returned when a signal stopped the run after a checkpoint.
var ErrInterrupted = errors.New("training interrupted")

// NonFiniteError reports a NaN or Inf loss.
type NonFiniteError struct {
	Step int64
	Loss float64
	LR   float64
	Last string // the last good checkpoint, if any
	// Weights: the loss was finite but a weight was not (a backend hid the NaN).
	Weights bool
}

func (e *NonFiniteError) Error() string {
	what := fmt.Sprintf("loss became %v", e.Loss)
	if e.Weights {
		what = fmt.Sprintf("weights became NaN or infinite (the loss, %.4g, still looked finite)", e.Loss)
	}
	msg := fmt.Sprintf("%s by step %d: the learning rate (%g) is probably too high for this network and batch; lower train.lr", what, e.Step, e.LR)
	if e.Last != "" {
		msg += "; the last good checkpoint is " + e.Last
	}
	return msg
}

// scoreEvery is how often, in steps, training reads its loss and accuracy back
// from the device: often enough for the progress line and to stop soon after a
// NaN, rarely enough that the device never waits for the host in between.
const scoreEvery = 10

const batchesDoneKey = "batches_done" // checkpoint Extra: batches of the unfinished epoch

// Run trains until the configured epochs are done or ctx is cancelled (then it
// finishes the step, writes last.ckpt and returns ErrInterrupted).
func Run(ctx context.Context, o Options) (*Result, error) {
	c := o.Config
	start := time.Now()
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("output folder: %w", err)
	}
	if err := writeConfig(filepath.Join(o.OutDir, "config.yaml"), c); err != nil {
		return nil, err
	}
	// Temporary files of writes a kill interrupted (atomicfile's): the files they were
	// to replace are whole; say so once rather than leave them to accumulate.
	if stale, _ := filepath.Glob(filepath.Join(o.OutDir, ".*.tmp-*")); len(stale) > 0 {
		for _, f := range stale {
			fmt.Fprintf(o.Log, "warning: %s is left from a write that was interrupted (a killed run); the files beside it are whole, and it can be deleted\n", f)
		}
	}
	trainSrc, err := OpenSource(c, c.Data.Train)
	if err != nil {
		return nil, err
	}
	valSrc, err := OpenSource(c, c.Data.Val)
	if err != nil {
		return nil, err
	}
	if n := len(trainSrc.Classes()); n != c.Model.Classes {
		return nil, badData{fmt.Errorf("the training data has %d classes, model.classes is %d%s", n, c.Model.Classes, strayHint(trainSrc.Classes()))}
	}
	if err := SameClasses(c.Data.Train+" split", trainSrc.Classes(), c.Data.Val+" split", valSrc.Classes()); err != nil {
		return nil, badData{err}
	}
	trainTf, evalTf := Transforms(c)
	trainL, err := NewLoader(c, trainSrc, trainTf, true, o.Strict)
	if err != nil {
		return nil, err
	}
	valL, err := NewLoader(c, valSrc, evalTf, false, o.Strict)
	if err != nil {
		return nil, err
	}
	net := o.Net

	if infos, err := model.Plan(c.Model); err == nil {
		verb := "training"
		if o.Resume != nil {
			verb = fmt.Sprintf("resuming at epoch %d of", o.Resume.State.Epoch+1)
		}
		fmt.Fprintf(o.Log, "%s %s (%s parameters) on %s, batch %d, %d epochs, %d training and %d validation images, into %s\n",
			verb, c.Name, model.Comma(int64(model.TotalParams(infos))), o.Backend, c.Train.BatchSize, c.Train.Epochs,
			trainSrc.Len(), valSrc.Len(), o.OutDir)
	}
	stepsPerEpoch := int64(trainL.NumBatches())
	if c.Train.MaxSteps > 0 {
		stepsPerEpoch = min(stepsPerEpoch, int64(c.Train.MaxSteps))
	}
	sched, err := schedule.New(c.Train.Schedule, schedule.Run{BaseLR: c.Train.LR, Epochs: c.Train.Epochs, StepsPerEpoch: stepsPerEpoch})
	if err != nil {
		return nil, err
	}
	cfgYAML, err := c.YAML()
	if err != nil {
		return nil, err
	}
	st := checkpoint.State{Config: string(cfgYAML), Classes: trainSrc.Classes(), Seed: uint64(c.Train.Seed),
		Backend: o.Backend}
	skipBatches := 0
	scaler := newLossScaler(c.Train.Precision, c.Train.LossScale)
	if o.Resume != nil {
		if err := net.LoadWeights(o.Resume.Weights); err != nil {
			return nil, fmt.Errorf("resume: %w", err)
		}
		if err := net.LoadMomentum(o.Resume.Momentum); err != nil {
			return nil, fmt.Errorf("resume: %w", err)
		}
		if len(o.Resume.State.Schedule) > 0 {
			if err := sched.Restore(o.Resume.State.Schedule); err != nil {
				return nil, fmt.Errorf("resume: %w", err)
			}
		}
		rs := o.Resume.State
		// The same config can read other classes if the folders changed since: the
		// checkpoint's labels would then mean other things.
		if err := SameClasses("checkpoint", rs.Classes, c.Data.Train+" split", trainSrc.Classes()); err != nil {
			return nil, badData{fmt.Errorf("resume: %w", err)}
		}
		st.Epoch, st.Step, st.Best, st.BestEpoch = rs.Epoch, rs.Step, rs.Best, rs.BestEpoch
		if v, ok := rs.Extra[batchesDoneKey]; ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || int64(n) > stepsPerEpoch {
				return nil, fmt.Errorf("resume: the checkpoint's %s %q is not a batch count of this epoch (0 to %d): the checkpoint is damaged", batchesDoneKey, v, stepsPerEpoch)
			}
			skipBatches = n
		}
		if scaler != nil {
			if err := scaler.restore(rs.Extra); err != nil {
				return nil, fmt.Errorf("resume: %w", err)
			}
		}
	} else if err := net.Init(uint64(c.Train.Seed)); err != nil {
		return nil, err
	}
	if o.Resume != nil {
		n, err := metrics.TruncateAfter(filepath.Join(o.OutDir, "metrics.jsonl"), o.Resume.State.Step)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			fmt.Fprintf(o.Log, "metrics.jsonl: %d line(s) past the checkpoint's step %d dropped (written after it by the run that stopped); they will be written again\n", n, o.Resume.State.Step)
		}
	}
	log, err := metrics.Create(filepath.Join(o.OutDir, "metrics.jsonl"), o.Resume != nil)
	if err != nil {
		return nil, err
	}
	defer log.Close()

	res := &Result{LastPath: filepath.Join(o.OutDir, "last.ckpt"), BestPath: filepath.Join(o.OutDir, "best.ckpt")}
	save := func(path string, batchesDone int) error {
		ws, err := net.Weights()
		if err != nil {
			return err
		}
		mom, err := net.Momentum()
		if err != nil {
			return err
		}
		s := st
		if s.Schedule, err = sched.State(); err != nil {
			return err
		}
		s.Extra = map[string]string{}
		if batchesDone > 0 {
			s.Extra[batchesDoneKey] = strconv.Itoa(batchesDone)
		}
		if scaler != nil {
			scaler.save(s.Extra)
		}
		if len(s.Extra) == 0 {
			s.Extra = nil
		}
		return checkpoint.Save(path, &checkpoint.Checkpoint{Weights: ws, Momentum: mom, State: s})
	}
	haveLast := o.Resume != nil
	lastGood := func() string {
		if haveLast {
			return res.LastPath
		}
		return ""
	}
	runSeed := uint64(c.Train.Seed)
	waitHinted := false
	for epoch := st.Epoch; epoch < c.Train.Epochs; epoch++ {
		epochStart := time.Now()
		var tally Tally
		logged, loggedAt := Tally{}, epochStart // the tally and time of the last step line
		bar := progress.New(o.Log, int(stepsPerEpoch), fmt.Sprintf("epoch %d/%d", epoch+1, c.Train.Epochs), progress.Options{Mode: o.Progress})
		done := 0
		var lr float64
		stop := errors.New("stop")
		var stepErr error
		// takeScores adds the network's scores to the epoch's tally and stops
		// training when the loss is no longer finite.
		takeScores := func() error {
			sc, err := net.TakeScores()
			if err != nil {
				return err
			}
			l := sc.MeanLoss()
			if math.IsNaN(l) || math.IsInf(l, 0) {
				stepErr = &NonFiniteError{Step: st.Step, Loss: l, LR: lr, Last: lastGood()}
			} else if ok, err := net.ParamsFinite(); err != nil {
				return err
			} else if !ok {
				stepErr = &NonFiniteError{Step: st.Step, Loss: l, LR: lr, Last: lastGood(), Weights: true}
			}
			tally.AddScores(sc)
			return nil
		}
		// A resumed epoch starts at the batch it was interrupted at: the loader
		// neither decodes nor delivers the ones before. done is a batch index, not
		// a count of deliveries: the loader does not deliver a batch whose images
		// all failed, and batches_done must be where RunFrom resumes.
		done = skipBatches
		lr = sched.LR(epoch, st.Step) // the epoch's rate even if no batch is left to run (resumed after its last)
		stats, err := trainL.RunFrom(ctx, epoch, skipBatches, func(b *dataset.Batch) error {
			if int64(b.Index) >= stepsPerEpoch {
				return stop
			}
			if ctx.Err() != nil {
				return stop
			}
			lr = sched.LR(epoch, st.Step)
			step := st.Step
			seed := func(layer int) uint64 { return backend.DropoutSeed(runSeed, step, layer) }
			if err := net.SetInput(b.X[:b.N*b.C*b.H*b.W], b.N); err != nil {
				return err
			}
			if err := net.Forward(true, seed); err != nil {
				return err
			}
			if scaler != nil {
				net.SetLossScale(scaler.scale)
			}
			if err := net.Loss(b.Labels[:b.N]); err != nil {
				return err
			}
			if err := net.ZeroGrad(); err != nil {
				return err
			}
			if err := net.Backward(); err != nil {
				return err
			}
			apply := true
			if scaler != nil {
				finite, err := net.GradsFinite()
				if err != nil {
					return err
				}
				apply = scaler.update(step, finite)
			}
			if apply {
				if err := net.Step(lr, c.Train.Momentum, c.Train.WeightDecay); err != nil {
					return err
				}
			}
			st.Step++
			done = b.Index + 1
			if o.OnStep != nil {
				o.OnStep(st.Step)
			}
			// The scores come back from the device every scoreEvery steps, not
			// every step: the loss and the weights (a second short round trip)
			// are checked for NaN then.
			logNow := c.Train.LogEvery > 0 && st.Step%int64(c.Train.LogEvery) == 0
			if logNow || st.Step%scoreEvery == 0 || int64(done) >= stepsPerEpoch {
				if err := takeScores(); err != nil {
					return err
				}
				if stepErr != nil {
					return stop
				}
			}
			if logNow {
				now := time.Now()
				w, secs := tally.minus(logged), now.Sub(loggedAt).Seconds()
				rec := metrics.Record{Kind: metrics.KindStep, Epoch: epoch + 1, Step: st.Step, LR: lr,
					Loss: w.Loss(), Top1: w.Top1Acc(), Top5: w.Top5Acc(),
					ImagesPerSec: float64(w.Images) / math.Max(secs, 1e-9), Seconds: secs, DataWait: math.NaN()}
				if err := log.Write(rec); err != nil {
					return err
				}
				if err := log.Flush(); err != nil { // so that a tail -f or a plot sees it now
					return err
				}
				logged, loggedAt = tally, now
			}
			el := time.Since(epochStart).Seconds()
			bar.Update(done, progress.Stats{Loss: tally.Loss(), Top1: tally.Top1Acc(), ImagesPerSec: float64(tally.Images) / math.Max(el, 1e-9)})
			return nil
		})
		interrupted := ctx.Err() != nil && errors.Is(err, ctx.Err()) // the loader stopped mid-wait
		if stepErr == nil && (err == nil || errors.Is(err, stop) || interrupted) {
			// What came after the last read, NaN check included: an interrupted run's
			// last.ckpt must not hold weights nobody checked.
			if err := takeScores(); err != nil {
				return res, err
			}
		}
		bar.Finish()
		skipBatches = 0
		if stepErr != nil {
			return res, stepErr
		}
		if err != nil && !errors.Is(err, stop) && !interrupted {
			return res, fmt.Errorf("epoch %d: %w", epoch+1, err)
		}
		for _, s := range stats.Skipped {
			fmt.Fprintf(o.Log, "warning: %s\n", s)
		}
		if scaler != nil {
			if line := scaler.report(); line != "" {
				fmt.Fprintln(o.Log, line)
			}
		}
		if ctx.Err() != nil && int64(done) < stepsPerEpoch {
			if err := save(res.LastPath, done); err != nil {
				return res, fmt.Errorf("interrupted, and the checkpoint failed: %w", err)
			}
			res.Epochs, res.Steps, res.Interrupted = st.Epoch, st.Step, true
			return res, ErrInterrupted
		}
		trainSecs := time.Since(epochStart).Seconds()
		val, err := Evaluate(ctx, net, valL)
		if err != nil && ctx.Err() != nil {
			// Interrupted in validation: the epoch's steps are done. last.ckpt says so
			// (all its batches done), and a resume runs the validation.
			if err := save(res.LastPath, done); err != nil {
				return res, fmt.Errorf("interrupted, and the checkpoint failed: %w", err)
			}
			res.Epochs, res.Steps, res.Interrupted = st.Epoch, st.Step, true
			return res, ErrInterrupted
		}
		if err != nil {
			return res, fmt.Errorf("validation after epoch %d: %w", epoch+1, err)
		}
		st.Epoch = epoch + 1
		st.LR = lr
		sched.Observe(val.Top1Acc())
		improved := val.Top1Acc() > st.Best || st.BestEpoch == 0
		if improved {
			st.Best, st.BestEpoch = val.Top1Acc(), st.Epoch
		}
		if err := save(res.LastPath, 0); err != nil {
			return res, err
		}
		haveLast = true
		if improved {
			if err := save(res.BestPath, 0); err != nil {
				return res, err
			}
		}
		ips := float64(tally.Images) / math.Max(trainSecs, 1e-9)
		trainLoss, trainTop1, trainTop5 := tally.Loss(), tally.Top1Acc(), tally.Top5Acc()
		if tally.Images == 0 {
			// Resumed after the epoch's last step (interrupted in validation): no
			// training numbers this time, written as null rather than as zeros.
			trainLoss, trainTop1, trainTop5, ips = math.NaN(), math.NaN(), math.NaN(), math.NaN()
		}
		rec := metrics.Record{Kind: metrics.KindEpoch, Epoch: st.Epoch, Step: st.Step, LR: lr,
			Loss: trainLoss, Top1: trainTop1, Top5: trainTop5, HasVal: true,
			ValLoss: val.Loss(), ValTop1: val.Top1Acc(), ValTop5: val.Top5Acc(),
			ImagesPerSec: ips, Seconds: time.Since(epochStart).Seconds(), DataWait: stats.Wait.Seconds(),
			Skipped: len(stats.Skipped) + val.Skipped}
		if err := log.Write(rec); err != nil {
			return res, err
		}
		if err := log.Flush(); err != nil {
			return res, err
		}
		if recs, _, err := metrics.ReadFile(filepath.Join(o.OutDir, "metrics.jsonl")); err == nil {
			if err := plot.WriteFile(filepath.Join(o.OutDir, "curves.png"), recs, plot.Options{}); err != nil {
				fmt.Fprintf(o.Log, "warning: plot: %v\n", err)
			}
		}
		skipped := ""
		if n := len(stats.Skipped) + val.Skipped; n > 0 {
			skipped = fmt.Sprintf("  (%d unreadable images skipped)", n)
		}
		fmt.Fprintf(o.Log, "epoch %d/%d  loss %.4f  top1 %.2f%%  val loss %.4f  top1 %.2f%%  top5 %.2f%%  lr %.3g  %.0f img/s  %s%s%s\n",
			st.Epoch, c.Train.Epochs, trainLoss, 100*trainTop1, val.Loss(), 100*val.Top1Acc(), 100*val.Top5Acc(),
			lr, ips, time.Since(epochStart).Round(time.Second), skipped, waitNote(stats.Wait.Seconds(), trainSecs, c, !waitHinted))
		waitHinted = waitHinted || stats.Wait.Seconds() >= loaderBoundShare*trainSecs
		res.Val = val
	}
	res.Epochs, res.Steps, res.Best, res.BestEpoch = st.Epoch, st.Step, st.Best, st.BestEpoch
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// loaderBoundShare is the share of an epoch spent waiting for data above which
// the epoch line says the run is loader-bound.
const loaderBoundShare = 0.1

// waitNote tells, on an epoch line, that training waited for the loader for a
// large share of the epoch, and the first time what to do about it.
func waitNote(wait, secs float64, c *config.Config, hint bool) string {
	if secs <= 0 || wait < loaderBoundShare*secs {
		return ""
	}
	note := fmt.Sprintf("  (waited for data %.0f%% of the time)", 100*wait/secs)
	if !hint {
		return note
	}
	switch c.Data.Format {
	case "imagefolder":
		return note + "; the loader is the bottleneck: pack the data once (alexnet pack) or raise data.workers (now " + fmt.Sprint(c.Data.Workers) + ")"
	default:
		return note + "; the loader is the bottleneck: raise data.workers (now " + fmt.Sprint(c.Data.Workers) + ")"
	}
}

// writeConfig records the run's resolved config (file, environment and --set
// applied, defaults filled in) in its folder, where `alexnet train --config
// DIR/config.yaml` reads it to repeat the run.
func writeConfig(path string, c *config.Config) error {
	text, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("config.yaml: %w", err)
	}
	head := "# The resolved config of this run (file, ALEXNET_* environment and --set applied).\n" +
		"# Repeat the run with: alexnet train --config " + path + "\n"
	return atomicfile.WriteFile(path, append([]byte(head), text...), 0o644)
}
