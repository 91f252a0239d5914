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
	"alexnet/internal/dist"
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
	Net     *model.Network
	Backend string
	OutDir  string
	Resume  *checkpoint.Checkpoint // nil: a fresh run
	Strict  bool                   // an unreadable image stops the run
	Log     io.Writer              // epoch summaries and warnings
	// OnStep, if set, is called after each optimizer step with the number of steps
	// taken so far (for callers that watch a run; tests interrupt with it).
	OnStep   func(steps int64)
	Progress progress.Mode // Auto: a bar on a terminal, plain periodic lines otherwise
	// Group is this process's rank among data-parallel ranks (nil: one process).
	// Net is then built for the rank's share of train.batch_size, the global batch;
	// only rank 0 writes files.
	Group *dist.Group
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

const (
	batchesDoneKey = "batches_done" // checkpoint Extra: batches of the unfinished epoch
	ranksKey       = "ranks"        // checkpoint Extra: data-parallel ranks that wrote it (absent: 1)
)

// errStop is how the batch callback ends an epoch early (train.max_steps, a signal,
// a non-finite loss); it never leaves the package.
var errStop = errors.New("stop")

// trainer is one training run. Run builds it (newTrainer: the data, the schedule,
// the network initialised or resumed) and then drives a flat loop, as llm.c's does:
//
//	for each epoch:
//	    train       for each batch: step (forward, loss, backward, SGD), and every
//	                scoreEvery steps read the scores back and check them for NaN
//	    validate    the validation split, in evaluation mode
//	    observe     the schedule sees the accuracy; the best epoch is kept
//	    checkpoint  last.ckpt, and best.ckpt when validation improved
//	    report      metrics.jsonl, curves.png and the epoch line
//
// What lasts across epochs is here, in st above all (it is what a checkpoint
// holds); what one epoch accumulates is in an epochRun. A cancelled context stops
// the loop at the next batch or in validation, and interrupt writes last.ckpt at
// that batch, from which a resume goes on bit for bit.
//
// Data parallelism changes three things, each in one place: every rank loads its
// shard of each global batch (the loaders), the gradients are summed over the
// ranks before the SGD step (step), and whatever decides the loop's course (rows,
// scores, validation tallies, a signal) is summed too, so that every rank takes
// the same decision at the same batch (rows, takeScores, validate). Files are
// written by rank 0 alone (writes).
type trainer struct {
	o             Options
	c             *config.Config
	net           *model.Network
	trainL, valL  *dataset.Loader
	stepsPerEpoch int64
	sched         *schedule.Schedule
	scaler        *lossScaler // nil unless fp16
	st            checkpoint.State
	log           *metrics.Writer
	res           *Result
	start         time.Time

	skipBatches int  // of the first epoch, when resumed in its middle
	haveLast    bool // last.ckpt holds weights that were checked, for NonFiniteError
	waitHinted  bool // the loader-bound advice was given once already

	g   *dist.Group
	red *dist.Reducer
	// stopped: the ranks agreed to stop at a batch because one was signalled.
	stopped bool
}

// epochRun is what one epoch's training pass accumulates.
type epochRun struct {
	epoch int
	start time.Time
	bar   *progress.Reporter
	// done is the index after the last batch trained, not a count of deliveries:
	// the loader does not deliver a batch whose images all failed, and
	// batches_done must be where RunFrom resumes.
	done     int
	lr       float64
	tally    Tally
	logged   Tally     // the tally at the last step line
	loggedAt time.Time // and its time
	// nonFinite is the NonFiniteError that ends the run, once the loss or a
	// weight is seen to be NaN or infinite.
	nonFinite error
	stats     dataset.Stats
	trainSecs float64 // the training pass alone: img/s and the loader's share leave validation out
}

// Run trains until the configured epochs are done or ctx is cancelled (then it
// finishes the step, writes last.ckpt and returns ErrInterrupted).
func Run(ctx context.Context, o Options) (*Result, error) {
	t, err := newTrainer(o)
	if err != nil {
		return nil, err
	}
	defer t.closeLog()
	for epoch := t.st.Epoch; epoch < t.c.Train.Epochs; epoch++ {
		e, err := t.train(ctx, epoch)
		if err != nil {
			return t.res, err
		}
		if (ctx.Err() != nil || t.stopped) && int64(e.done) < t.stepsPerEpoch {
			return t.res, t.interrupt(e.done)
		}
		val, err := t.validate(ctx, e)
		if err != nil {
			return t.res, err
		}
		improved := t.observe(e, val)
		if err := t.checkpoint(improved); err != nil {
			return t.res, err
		}
		if err := t.report(e, val); err != nil {
			return t.res, err
		}
		t.res.Val = val
	}
	t.res.Epochs, t.res.Steps, t.res.Best, t.res.BestEpoch = t.st.Epoch, t.st.Step, t.st.Best, t.st.BestEpoch
	t.res.Seconds = time.Since(t.start).Seconds()
	return t.res, nil
}

// newTrainer sets the run up: its folder, the loaders, the schedule, and the
// network initialised from the seed or resumed from o.Resume.
func newTrainer(o Options) (*trainer, error) {
	c := o.Config
	t := &trainer{o: o, c: c, net: o.Net, start: time.Now(), haveLast: o.Resume != nil, g: o.Group,
		res: &Result{LastPath: filepath.Join(o.OutDir, "last.ckpt"), BestPath: filepath.Join(o.OutDir, "best.ckpt")}}
	if t.g == nil {
		t.g = &dist.Group{Size: 1}
	}
	t.red = t.g.Reducer(o.Net)
	if t.writes() {
		if err := prepareOutDir(o.OutDir, c, o.Log); err != nil {
			return nil, err
		}
	}
	trainSrc, valSrc, err := openSplits(c)
	if err != nil {
		return nil, err
	}
	trainTf, evalTf := Transforms(c)
	if t.trainL, err = NewShardLoader(c, trainSrc, trainTf, true, o.Strict, t.g.Rank, t.g.Size); err != nil {
		return nil, err
	}
	if t.valL, err = NewShardLoader(c, valSrc, evalTf, false, o.Strict, t.g.Rank, t.g.Size); err != nil {
		return nil, err
	}
	t.announce(trainSrc.Len(), valSrc.Len())
	t.stepsPerEpoch = int64(t.trainL.NumBatches())
	if c.Train.MaxSteps > 0 {
		t.stepsPerEpoch = min(t.stepsPerEpoch, int64(c.Train.MaxSteps))
	}
	if t.sched, err = schedule.New(c.Train.Schedule, schedule.Run{BaseLR: c.Train.LR, Epochs: c.Train.Epochs, StepsPerEpoch: t.stepsPerEpoch}); err != nil {
		return nil, err
	}
	cfgYAML, err := c.YAML()
	if err != nil {
		return nil, err
	}
	if err := t.g.Agree(cfgYAML); err != nil {
		return nil, err
	}
	t.st = checkpoint.State{Config: string(cfgYAML), Classes: trainSrc.Classes(), Seed: uint64(c.Train.Seed),
		Backend: o.Backend}
	t.scaler = newLossScaler(c.Train.Precision, c.Train.LossScale)
	if o.Resume != nil {
		err = t.resume(o.Resume)
	} else {
		err = t.net.Init(uint64(c.Train.Seed))
	}
	if err != nil {
		return nil, err
	}
	if t.writes() {
		if t.log, err = metrics.Create(filepath.Join(o.OutDir, "metrics.jsonl"), o.Resume != nil); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// writes reports whether this process writes the run's files: rank 0, or the one
// process.
func (t *trainer) writes() bool { return t.g.Rank == 0 }

func (t *trainer) closeLog() {
	if t.log != nil {
		t.log.Close()
	}
}

// prepareOutDir creates the run's folder and records its config there.
func prepareOutDir(dir string, c *config.Config, log io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	if err := writeConfig(filepath.Join(dir, "config.yaml"), c); err != nil {
		return err
	}
	// Temporary files of writes a kill interrupted (atomicfile's): the files they were
	// to replace are whole; say so once rather than leave them to accumulate.
	if stale, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*")); len(stale) > 0 {
		for _, f := range stale {
			fmt.Fprintf(log, "warning: %s is left from a write that was interrupted (a killed run); the files beside it are whole, and it can be deleted\n", f)
		}
	}
	return nil
}

// openSplits opens the training and validation data, which must have the
// model's classes, and the same ones.
func openSplits(c *config.Config) (trainSrc, valSrc dataset.Source, err error) {
	if trainSrc, err = OpenSource(c, c.Data.Train); err != nil {
		return nil, nil, err
	}
	if valSrc, err = OpenSource(c, c.Data.Val); err != nil {
		return nil, nil, err
	}
	if n := len(trainSrc.Classes()); n != c.Model.Classes {
		return nil, nil, badData{fmt.Errorf("the training data has %d classes, model.classes is %d%s", n, c.Model.Classes, strayHint(trainSrc.Classes()))}
	}
	if err := SameClasses(c.Data.Train+" split", trainSrc.Classes(), c.Data.Val+" split", valSrc.Classes()); err != nil {
		return nil, nil, badData{err}
	}
	return trainSrc, valSrc, nil
}

// announce is the run's first line: what trains, where, on how much data.
func (t *trainer) announce(trainImages, valImages int) {
	c, o := t.c, t.o
	if infos, err := model.Plan(c.Model); err == nil {
		verb := "training"
		if o.Resume != nil {
			verb = fmt.Sprintf("resuming at epoch %d of", o.Resume.State.Epoch+1)
		}
		where := o.Backend
		if n := t.g.Size; n > 1 {
			where = fmt.Sprintf("%d ranks (data parallel: %s each, %d to %d images of every batch)", n, o.Backend,
				c.Train.BatchSize/n, (c.Train.BatchSize+n-1)/n)
		}
		fmt.Fprintf(o.Log, "%s %s (%s parameters) on %s, batch %d, %d epochs, %d training and %d validation images, into %s\n",
			verb, c.Name, model.Comma(int64(model.TotalParams(infos))), where, c.Train.BatchSize, c.Train.Epochs,
			trainImages, valImages, o.OutDir)
	}
}

// resume loads everything that makes ck's run go on as if it had not stopped:
// weights, momentum, the schedule's and the loss scaler's state, the counters
// and, for an epoch interrupted in its middle, the batch to start at. The
// metrics written after ck are dropped, to be written again.
func (t *trainer) resume(ck *checkpoint.Checkpoint) error {
	if err := t.net.LoadWeights(ck.Weights); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	if err := t.net.LoadMomentum(ck.Momentum); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	rs := ck.State
	if len(rs.Schedule) > 0 {
		if err := t.sched.Restore(rs.Schedule); err != nil {
			return fmt.Errorf("resume: %w", err)
		}
	}
	// The same config can read other classes if the folders changed since: the
	// checkpoint's labels would then mean other things.
	if err := SameClasses("checkpoint", rs.Classes, t.c.Data.Train+" split", t.st.Classes); err != nil {
		return badData{fmt.Errorf("resume: %w", err)}
	}
	t.st.Epoch, t.st.Step, t.st.Best, t.st.BestEpoch = rs.Epoch, rs.Step, rs.Best, rs.BestEpoch
	if v, ok := rs.Extra[batchesDoneKey]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || int64(n) > t.stepsPerEpoch {
			return fmt.Errorf("resume: the checkpoint's %s %q is not a batch count of this epoch (0 to %d): the checkpoint is damaged", batchesDoneKey, v, t.stepsPerEpoch)
		}
		t.skipBatches = n
	}
	if t.scaler != nil {
		if err := t.scaler.restore(rs.Extra); err != nil {
			return fmt.Errorf("resume: %w", err)
		}
	}
	if was := rs.Extra[ranksKey]; was != strconv.Itoa(t.g.Size) && !(was == "" && t.g.Size == 1) {
		if was == "" {
			was = "1"
		}
		fmt.Fprintf(t.o.Log, "resuming with %d rank(s) a run that %s rank(s) trained: the same batches and images, but the gradients are summed in another order, so the run equals the straight one to rounding, not bit for bit\n", t.g.Size, was)
	}
	if !t.writes() {
		return nil
	}
	n, err := metrics.TruncateAfter(filepath.Join(t.o.OutDir, "metrics.jsonl"), rs.Step)
	if err != nil {
		return err
	}
	if n > 0 {
		fmt.Fprintf(t.o.Log, "metrics.jsonl: %d line(s) past the checkpoint's step %d dropped (written after it by the run that stopped); they will be written again\n", n, rs.Step)
	}
	return nil
}

// train is the epoch's training pass: the loader's batches from where a resumed
// run left off, until they are done, ctx is cancelled or the loss goes non-finite.
func (t *trainer) train(ctx context.Context, epoch int) (*epochRun, error) {
	e := &epochRun{epoch: epoch, start: time.Now()}
	e.loggedAt = e.start
	e.bar = progress.New(t.o.Log, int(t.stepsPerEpoch), fmt.Sprintf("epoch %d/%d", epoch+1, t.c.Train.Epochs), progress.Options{Mode: t.o.Progress})
	// A resumed epoch starts at the batch it was interrupted at: the loader
	// neither decodes nor delivers the ones before.
	e.done = t.skipBatches
	e.lr = t.sched.LR(epoch, t.st.Step) // the epoch's rate even if no batch is left to run (resumed after its last)
	var err error
	e.stats, err = t.trainL.RunFrom(t.loaderCtx(ctx), epoch, t.skipBatches, func(b *dataset.Batch) error { return t.batch(ctx, e, b) })
	interrupted := ctx.Err() != nil && errors.Is(err, ctx.Err()) // the loader stopped mid-wait
	if e.nonFinite == nil && (err == nil || errors.Is(err, errStop) || interrupted) {
		// What came after the last read, NaN check included: an interrupted run's
		// last.ckpt must not hold weights nobody checked.
		if err := t.takeScores(e); err != nil {
			return nil, err
		}
	}
	e.bar.Finish()
	t.skipBatches = 0
	if e.nonFinite != nil {
		return nil, e.nonFinite
	}
	if err != nil && !errors.Is(err, errStop) && !interrupted {
		return nil, fmt.Errorf("epoch %d: %w", epoch+1, err)
	}
	for _, s := range e.stats.Skipped {
		fmt.Fprintf(t.o.Log, "warning: %s\n", s)
	}
	if t.scaler != nil {
		if line := t.scaler.report(); line != "" {
			fmt.Fprintln(t.o.Log, line)
		}
	}
	e.trainSecs = time.Since(e.start).Seconds()
	return e, nil
}

// batch is the loader's callback: a step on b, then, when they are due, the
// scores, the step's metrics line, and the bar.
func (t *trainer) batch(ctx context.Context, e *epochRun, b *dataset.Batch) error {
	if int64(b.Index) >= t.stepsPerEpoch {
		return errStop
	}
	rows, stop, err := t.rows(b.N, ctx.Err() != nil)
	if err != nil {
		return err
	}
	if stop {
		t.stopped = true
		return errStop
	}
	e.lr = t.sched.LR(e.epoch, t.st.Step)
	if err := t.step(b, rows, e.lr); err != nil {
		return err
	}
	t.st.Step++
	e.done = b.Index + 1
	if t.o.OnStep != nil {
		t.o.OnStep(t.st.Step)
	}
	// The scores come back from the device every scoreEvery steps, not
	// every step: the loss and the weights (a second short round trip)
	// are checked for NaN then.
	logNow := t.c.Train.LogEvery > 0 && t.st.Step%int64(t.c.Train.LogEvery) == 0
	if logNow || t.st.Step%scoreEvery == 0 || int64(e.done) >= t.stepsPerEpoch {
		if err := t.takeScores(e); err != nil {
			return err
		}
		if e.nonFinite != nil {
			return errStop
		}
	}
	if logNow {
		if err := t.logStep(e); err != nil {
			return err
		}
	}
	el := time.Since(e.start).Seconds()
	e.bar.Update(e.done, progress.Stats{Loss: e.tally.Loss(), Top1: e.tally.Top1Acc(), ImagesPerSec: float64(e.tally.Images) / math.Max(el, 1e-9)})
	return nil
}

// loaderCtx is the context the loaders run under. One process: ctx, so that a
// signal reaches a loader stuck in a read. Ranks: never cancelled, since a rank
// whose loader stopped on its own signal would leave the others waiting in a
// reduction; the ranks stop together at a batch they agree on (rows).
func (t *trainer) loaderCtx(ctx context.Context) context.Context {
	if t.g.Size > 1 {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// rows is the global batch's rows, and whether any rank was signalled: summed over
// the ranks, one small reduction per step (one process: n and its own signal).
func (t *trainer) rows(n int, signalled bool) (total int, stop bool, err error) {
	if t.g.Size == 1 {
		return n, signalled, nil
	}
	v := []float64{float64(n), 0}
	if signalled {
		v[1] = 1
	}
	if err := t.g.Sum(v); err != nil {
		return 0, false, err
	}
	return int(v[0]), v[1] > 0, nil
}

// step is one SGD step on b, this rank's rows of a global batch of rows, at the
// rate lr. Dropout's masks are seeded by the step number and the global row, so a
// resumed run, and any number of ranks, draw the same ones.
func (t *trainer) step(b *dataset.Batch, rows int, lr float64) error {
	step := t.st.Step
	seed := func(layer int) uint64 { return backend.DropoutSeed(uint64(t.c.Train.Seed), step, layer) }
	if t.scaler != nil {
		t.net.SetLossScale(t.scaler.scale)
	}
	if err := t.gradients(b, rows, seed); err != nil {
		return err
	}
	if apply, err := t.gradsUsable(step); err != nil || !apply {
		return err
	}
	return t.net.Step(lr, t.c.Train.Momentum, t.c.Train.WeightDecay)
}

// gradients computes the parameter gradients of the global batch's mean loss: of
// b's rows, and on several ranks summed over them as each layer finishes. A rank
// without rows in a short last batch adds zeros.
func (t *trainer) gradients(b *dataset.Batch, rows int, seed func(int) uint64) error {
	if err := t.net.ZeroGrad(); err != nil {
		return err
	}
	if b.N == 0 {
		return t.red.All()
	}
	t.net.SetShard(b.Offset, float64(b.N)/float64(rows))
	if err := t.net.SetInput(b.X[:b.N*b.C*b.H*b.W], b.N); err != nil {
		return err
	}
	if err := t.net.Forward(true, seed); err != nil {
		return err
	}
	if err := t.net.Loss(b.Labels[:b.N]); err != nil {
		return err
	}
	if t.g.Size == 1 {
		return t.net.Backward()
	}
	if err := t.net.BackwardEach(t.red.Layer); err != nil {
		return err
	}
	return t.red.Wait()
}

// gradsUsable reports whether the step's gradients may be applied. Only fp16's
// can be unusable: where they overflowed, the loss scaler skips the step and
// lowers the scale.
func (t *trainer) gradsUsable(step int64) (bool, error) {
	if t.scaler == nil {
		return true, nil
	}
	finite, err := t.net.GradsFinite()
	if err != nil {
		return false, err
	}
	return t.scaler.update(step, finite), nil
}

// takeScores adds the scores the device summed since the last read to the
// epoch's tally, and sets e.nonFinite, which ends the run, when the loss or a
// weight is no longer finite.
func (t *trainer) takeScores(e *epochRun) error {
	sc, err := t.net.TakeScores()
	if err != nil {
		return err
	}
	if sc, err = t.sumScores(sc); err != nil {
		return err
	}
	l := sc.MeanLoss()
	if math.IsNaN(l) || math.IsInf(l, 0) {
		e.nonFinite = &NonFiniteError{Step: t.st.Step, Loss: l, LR: e.lr, Last: t.lastGood()}
	} else if ok, err := t.net.ParamsFinite(); err != nil {
		return err
	} else if !ok {
		e.nonFinite = &NonFiniteError{Step: t.st.Step, Loss: l, LR: e.lr, Last: t.lastGood(), Weights: true}
	}
	e.tally.AddScores(sc)
	return nil
}

// sumScores adds the ranks' scores (one process: sc as it is). A NaN on any
// rank makes the sum NaN, so every rank stops at the same step.
func (t *trainer) sumScores(sc model.Scores) (model.Scores, error) {
	if t.g.Size == 1 {
		return sc, nil
	}
	v := []float64{float64(sc.Images), sc.LossSum, float64(sc.Top1), float64(sc.Top5)}
	if err := t.g.Sum(v); err != nil {
		return sc, err
	}
	return model.Scores{Images: int(v[0]), LossSum: v[1], Top1: int(v[2]), Top5: int(v[3])}, nil
}

// lastGood is the checkpoint a NonFiniteError points to: last.ckpt once it holds
// weights that were checked, "" before.
func (t *trainer) lastGood() string {
	if t.haveLast {
		return t.res.LastPath
	}
	return ""
}

// logStep writes the metrics line of the steps since the last one.
func (t *trainer) logStep(e *epochRun) error {
	now := time.Now()
	w, secs := e.tally.minus(e.logged), now.Sub(e.loggedAt).Seconds()
	if err := t.record(metrics.Record{Kind: metrics.KindStep, Epoch: e.epoch + 1, Step: t.st.Step, LR: e.lr,
		Loss: w.Loss(), Top1: w.Top1Acc(), Top5: w.Top5Acc(),
		ImagesPerSec: float64(w.Images) / math.Max(secs, 1e-9), Seconds: secs, DataWait: math.NaN()}); err != nil {
		return err
	}
	e.logged, e.loggedAt = e.tally, now
	return nil
}

// record writes rec to metrics.jsonl and flushes it, so that a tail -f or a plot
// sees it now.
func (t *trainer) record(rec metrics.Record) error {
	if t.log == nil { // a rank other than 0
		return nil
	}
	if err := t.log.Write(rec); err != nil {
		return err
	}
	return t.log.Flush()
}

// interrupt ends a cancelled run: last.ckpt records the batches done of the
// epoch, for a resume to start at the next.
func (t *trainer) interrupt(done int) error {
	if err := t.save(t.res.LastPath, done); err != nil {
		return fmt.Errorf("interrupted, and the checkpoint failed: %w", err)
	}
	t.res.Epochs, t.res.Steps, t.res.Interrupted = t.st.Epoch, t.st.Step, true
	return ErrInterrupted
}

// validate evaluates the epoch's network on the validation split.
func (t *trainer) validate(ctx context.Context, e *epochRun) (Tally, error) {
	val, err := Evaluate(t.loaderCtx(ctx), t.net, t.valL)
	if err == nil && t.g.Size > 1 {
		v := []float64{float64(val.Images), val.LossSum, float64(val.Top1), float64(val.Top5), float64(val.Skipped)}
		err = t.g.Sum(v)
		val = Tally{Images: int(v[0]), LossSum: v[1], Top1: int(v[2]), Top5: int(v[3]), Skipped: int(v[4])}
	}
	if err != nil && ctx.Err() != nil {
		// Interrupted in validation: the epoch's steps are done. last.ckpt says so
		// (all its batches done), and a resume runs the validation.
		return val, t.interrupt(e.done)
	}
	if err != nil {
		return val, fmt.Errorf("validation after epoch %d: %w", e.epoch+1, err)
	}
	return val, nil
}

// observe closes the epoch in the run's state: the schedule sees the validation
// accuracy (a plateau schedule acts on it), and reports whether it is the best yet.
func (t *trainer) observe(e *epochRun, val Tally) (improved bool) {
	t.st.Epoch = e.epoch + 1
	t.st.LR = e.lr
	t.sched.Observe(val.Top1Acc())
	improved = val.Top1Acc() > t.st.Best || t.st.BestEpoch == 0
	if improved {
		t.st.Best, t.st.BestEpoch = val.Top1Acc(), t.st.Epoch
	}
	return improved
}

// checkpoint saves the finished epoch as last.ckpt, and as best.ckpt too when it
// improved.
func (t *trainer) checkpoint(improved bool) error {
	if err := t.save(t.res.LastPath, 0); err != nil {
		return err
	}
	t.haveLast = true
	if improved {
		return t.save(t.res.BestPath, 0)
	}
	return nil
}

// save writes a checkpoint of the run as it stands, batchesDone into the current
// epoch (0: at an epoch's end).
func (t *trainer) save(path string, batchesDone int) error {
	if !t.writes() {
		return nil
	}
	ws, err := t.net.Weights()
	if err != nil {
		return err
	}
	mom, err := t.net.Momentum()
	if err != nil {
		return err
	}
	s := t.st
	if s.Schedule, err = t.sched.State(); err != nil {
		return err
	}
	s.Extra = map[string]string{}
	if batchesDone > 0 {
		s.Extra[batchesDoneKey] = strconv.Itoa(batchesDone)
	}
	if t.scaler != nil {
		t.scaler.save(s.Extra)
	}
	if t.g.Size > 1 {
		s.Extra[ranksKey] = strconv.Itoa(t.g.Size)
	}
	if len(s.Extra) == 0 {
		s.Extra = nil
	}
	return checkpoint.Save(path, &checkpoint.Checkpoint{Weights: ws, Momentum: mom, State: s})
}

// report tells how the epoch went: its metrics record, the curves, and the
// epoch line.
func (t *trainer) report(e *epochRun, val Tally) error {
	ips := float64(e.tally.Images) / math.Max(e.trainSecs, 1e-9)
	trainLoss, trainTop1, trainTop5 := e.tally.Loss(), e.tally.Top1Acc(), e.tally.Top5Acc()
	if e.tally.Images == 0 {
		// Resumed after the epoch's last step (interrupted in validation): no
		// training numbers this time, written as null rather than as zeros.
		trainLoss, trainTop1, trainTop5, ips = math.NaN(), math.NaN(), math.NaN(), math.NaN()
	}
	skipped := len(e.stats.Skipped) + val.Skipped
	if err := t.record(metrics.Record{Kind: metrics.KindEpoch, Epoch: t.st.Epoch, Step: t.st.Step, LR: e.lr,
		Loss: trainLoss, Top1: trainTop1, Top5: trainTop5, HasVal: true,
		ValLoss: val.Loss(), ValTop1: val.Top1Acc(), ValTop5: val.Top5Acc(),
		ImagesPerSec: ips, Seconds: time.Since(e.start).Seconds(), DataWait: e.stats.Wait.Seconds(),
		Skipped: skipped}); err != nil {
		return err
	}
	if !t.writes() {
		return nil
	}
	if recs, _, err := metrics.ReadFile(filepath.Join(t.o.OutDir, "metrics.jsonl")); err == nil {
		if err := plot.WriteFile(filepath.Join(t.o.OutDir, "curves.png"), recs, plot.Options{}); err != nil {
			fmt.Fprintf(t.o.Log, "warning: plot: %v\n", err)
		}
	}
	skippedNote := ""
	if skipped > 0 {
		skippedNote = fmt.Sprintf("  (%d unreadable images skipped)", skipped)
	}
	wait := e.stats.Wait.Seconds()
	fmt.Fprintf(t.o.Log, "epoch %d/%d  loss %.4f  top1 %.2f%%  val loss %.4f  top1 %.2f%%  top5 %.2f%%  lr %.3g  %.0f img/s  %s%s%s\n",
		t.st.Epoch, t.c.Train.Epochs, trainLoss, 100*trainTop1, val.Loss(), 100*val.Top1Acc(), 100*val.Top5Acc(),
		e.lr, ips, time.Since(e.start).Round(time.Second), skippedNote, waitNote(wait, e.trainSecs, t.c, !t.waitHinted))
	t.waitHinted = t.waitHinted || wait >= loaderBoundShare*e.trainSecs
	return nil
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
