package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"alexnet/configs"
	"alexnet/internal/checkpoint"
	"alexnet/internal/config"
	"alexnet/internal/dist"
	"alexnet/internal/imagenet"
	"alexnet/internal/mpi"
	"alexnet/internal/progress"
	"alexnet/internal/torchload"
	"alexnet/internal/train"
)

// TrainOptions are the flags of `alexnet train`.
type TrainOptions struct {
	Config  ConfigSource
	OutDir  string
	Resume  string
	Backend string
	Threads int
	Device  int
	// DeviceGiven: --device was set; else a data-parallel rank takes its
	// node-local GPU.
	DeviceGiven bool
	Strict      bool
}

// Train runs a training; it prints progress to errOut and the outcome to out.
// Under mpirun it is one rank of data-parallel training (see trainRanks).
func Train(o TrainOptions, out, errOut io.Writer) error {
	if mpi.Launched() {
		return trainRanks(o, out, errOut)
	}
	return trainOn(o, out, errOut, nil)
}

// trainRanks joins the MPI job and trains as one of its ranks. Rank 0 prints and
// writes as one process would; the others print only warnings and errors,
// prefixed with their rank. A rank that fails alone (an unreadable file, a lost
// GPU) aborts the job, so that the others do not wait for it in a reduction;
// what every rank meets at the same step (a signal, a non-finite loss) ends each
// with its exit code.
func trainRanks(o TrainOptions, out, errOut io.Writer) error {
	g, err := dist.Join()
	if err != nil {
		return unavailable(fmt.Errorf("data parallel: %w", err))
	}
	if g.Rank != 0 {
		out, errOut = io.Discard, &rankLog{w: errOut, rank: g.Rank}
	}
	err = trainOn(o, out, errOut, g)
	var exit *ExitErr
	var nonFinite *train.NonFiniteError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.Code == ExitInterrupted, errors.As(err, &nonFinite):
		if g.Rank != 0 {
			err = &ExitErr{Code: Code(err), Err: err, Quiet: true} // rank 0 says it
		}
	default:
		fmt.Fprintf(errOut, "alexnet: rank %d of %d: %v\n", g.Rank, g.Size, err)
		g.Abort(Code(err))
	}
	g.Close()
	return err
}

// rankLog passes on the warnings of a rank other than 0, prefixed with its rank,
// and drops its progress and epoch lines (rank 0 prints those for all).
type rankLog struct {
	w    io.Writer
	rank int
	line []byte
}

func (l *rankLog) Write(p []byte) (int, error) {
	for _, c := range p {
		if c != '\n' && c != '\r' {
			l.line = append(l.line, c)
			continue
		}
		if strings.HasPrefix(string(l.line), "warning") {
			fmt.Fprintf(l.w, "rank %d: %s\n", l.rank, l.line)
		}
		l.line = l.line[:0]
	}
	return len(p), nil
}

func trainOn(o TrainOptions, out, errOut io.Writer, g *dist.Group) error {
	rank, ranks := 0, 1
	if g != nil {
		rank, ranks = g.Rank, g.Size
	}
	var resume *checkpoint.Checkpoint
	var c *config.Config
	var err error
	if o.Resume != "" {
		if resume, err = loadCheckpoint(o.Resume); err != nil {
			return err
		}
		if c, err = configFor(o.Config, resume); err != nil {
			return err
		}
		saved, err := config.LoadStored("the checkpoint's config", []byte(resume.State.Config))
		if err != nil {
			return usage(fmt.Errorf("--resume %s: %w", o.Resume, err))
		}
		if err := resumable(saved, c); err != nil {
			return usage(fmt.Errorf("--resume %s: %w", o.Resume, err))
		}
		if o.OutDir == "" {
			o.OutDir = filepath.Dir(o.Resume)
		}
	} else if c, _, err = o.Config.Load(); err != nil {
		return err
	}
	switch {
	case rank != 0: // rank 0 alone makes and checks the run folder
	case o.OutDir == "":
		name := c.Name
		if name == "" {
			name = "run"
		}
		if o.OutDir, err = freshRunDir(filepath.Join("runs", name+"-"+time.Now().Format("20060102-150405"))); err != nil {
			return err
		}
	case o.Resume == "" || filepath.Clean(o.OutDir) != filepath.Dir(o.Resume):
		if err := checkFreshOut(o.OutDir, o.Resume); err != nil {
			return err
		}
	}
	batch, device := c.Train.BatchSize, o.Device
	if ranks > 1 {
		if batch < ranks {
			return usage(fmt.Errorf("train.batch_size %d is the global batch, split between the %d ranks: it must be at least %d", batch, ranks, ranks))
		}
		batch = (batch + ranks - 1) / ranks
		if !o.DeviceGiven {
			device = g.LocalRank
		}
	}
	net, err := openNetFor(c, o.Backend, o.Threads, device, batch, false, localRank(g))
	if err != nil {
		return err
	}
	defer net.Close()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	if g != nil {
		// mpirun forwards SIGUSR1 to every rank and keeps waiting for them, where it
		// meets SIGINT by killing them a second later (odls_base_sigkill_timeout).
		signal.Notify(sigs, syscall.SIGUSR1)
	}
	defer signal.Stop(sigs)
	ctx, stop := interruptible(sigs, errOut, os.Exit)
	defer stop()
	opts := train.Options{Config: c, Net: net.Network, Backend: net.Name, OutDir: o.OutDir, Resume: resume,
		Strict: o.Strict, Log: errOut, Group: g}
	if rank != 0 {
		opts.Progress = progress.Off
	}
	res, err := train.Run(ctx, opts)
	var missing *train.MissingDataError
	var nonFinite *train.NonFiniteError
	switch {
	case errors.Is(err, train.ErrInterrupted):
		return &ExitErr{Code: ExitInterrupted, Err: fmt.Errorf("interrupted after %d steps; checkpoint written; resume with: alexnet train --resume %s", res.Steps, res.LastPath)}
	case errors.As(err, &missing):
		return unavailable(err)
	case errors.Is(err, train.ErrBadData):
		return usage(err)
	case errors.As(err, &nonFinite):
		return err
	case err != nil:
		return err
	}
	fmt.Fprintf(out, "done: %d epochs, %d steps in %s; validation top-1 %.2f%% top-5 %.2f%% loss %.4f; best top-1 %.2f%% (epoch %d)\n",
		res.Epochs, res.Steps, time.Duration(res.Seconds*float64(time.Second)).Round(time.Second),
		100*res.Val.Top1Acc(), 100*res.Val.Top5Acc(), res.Val.Loss(), 100*res.Best, res.BestEpoch)
	fmt.Fprintf(out, "checkpoints: %s, %s; log: %s; plot: %s\n", res.BestPath, res.LastPath,
		filepath.Join(o.OutDir, "metrics.jsonl"), filepath.Join(o.OutDir, "curves.png"))
	return nil
}

// interruptible turns the first signal into a cancelled context (training finishes
// its step and writes last.ckpt) and the second into exit(130) at once, for a run
// stuck where cancellation cannot reach (a read that never returns). The checkpoint
// on disk is then the last complete one: checkpoints are written to a temporary
// file and renamed. stop ends the watch.
func interruptible(sigs <-chan os.Signal, errOut io.Writer, exit func(int)) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	quit := make(chan struct{})
	go func() {
		select {
		case <-sigs:
		case <-quit:
			return
		}
		fmt.Fprintln(errOut, "\ninterrupted: finishing the step and writing last.ckpt (interrupt again to stop at once)")
		cancel()
		select {
		case <-sigs:
			fmt.Fprintln(errOut, "interrupted again: stopping at once; the last complete checkpoint is kept")
			exit(ExitInterrupted)
		case <-quit:
		}
	}()
	return ctx, func() { close(quit); cancel() }
}

// resumeFree are the config keys a resume may change: they decide how long and how
// fast the run goes, not which numbers it computes. (train.backend, train.threads
// and parallel change the summation order: the resumed run is then equal within
// the conformance tolerance, not bit for bit.) Any other change would make the
// resumed run a different one: a batch size or max_steps points batches_done at
// other images, a seed or data change other draws, a model change other weights.
var resumeFree = map[string]bool{
	"train.epochs": true, "train.threads": true, "train.backend": true, "train.log_every": true,
	"data.workers": true, "data.prefetch": true, "parallel": true, "name": true,
}

// resumable lists the keys that differ between the checkpoint's config and the
// resumed run's, outside resumeFree, and refuses them by name.
func resumable(saved, now *config.Config) error {
	diffs := config.Diff(saved, now, resumeFree)
	if len(diffs) == 0 {
		return nil
	}
	if len(diffs) > 6 {
		diffs = append(diffs[:6], fmt.Sprintf("and %d more", len(diffs)-6))
	}
	return fmt.Errorf("changes what the checkpoint was trained with, which would break the exact resume: %s; "+
		"start a new run instead (alexnet train --config ...), or change only train.epochs, train.threads, train.backend, "+
		"train.log_every, data.workers, data.prefetch or parallel", strings.Join(diffs, ", "))
}

// runFiles are what a training run leaves in its folder.
var runFiles = []string{"last.ckpt", "best.ckpt", "metrics.jsonl"}

// checkFreshOut refuses an --out folder that holds an earlier run: training into it
// would replace its checkpoints and truncate its log.
func checkFreshOut(dir, resume string) error {
	for _, f := range runFiles {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			hint := fmt.Sprintf("continue it with --resume %s", filepath.Join(dir, "last.ckpt"))
			if resume != "" {
				hint = "resume into the checkpoint's own folder (leave out --out)"
			}
			return usage(fmt.Errorf("--out %s holds an earlier run (%s); %s, or give a fresh folder", dir, f, hint))
		}
	}
	return nil
}

// freshRunDir creates the default run folder, base or base-2, base-3, ... when
// another run took the name (two runs started in the same second).
func freshRunDir(base string) (string, error) {
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		return "", fmt.Errorf("run folder: %w", err)
	}
	for i := 1; i <= 1000; i++ {
		dir := base
		if i > 1 {
			dir = fmt.Sprintf("%s-%d", base, i)
		}
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("run folder: %w", err)
		}
	}
	return "", fmt.Errorf("run folder: %s and 999 numbered ones exist already", base)
}

// loadCheckpoint reads a checkpoint of this program, or a PyTorch state_dict of
// torchvision's AlexNet (.pth/.pt), which it maps onto the built-in alexnet-owt
// config with ImageNet's class names.
func loadCheckpoint(path string) (*checkpoint.Checkpoint, error) {
	ck, err := checkpoint.Load(path)
	if err == nil {
		return ck, nil
	}
	if errors.Is(err, checkpoint.ErrNotExist) {
		return nil, usage(err)
	}
	if ext := filepath.Ext(path); errors.Is(err, checkpoint.ErrNotCheckpoint) || ext == ".pth" || ext == ".pt" {
		if tck, terr := torchvisionCheckpoint(path); terr == nil {
			return tck, nil
		} else if !errors.Is(terr, torchload.ErrNotPyTorch) {
			return nil, usage(terr)
		}
	}
	return nil, usage(err)
}

func torchvisionCheckpoint(path string) (*checkpoint.Checkpoint, error) {
	ts, err := torchload.ReadFile(path, torchload.CheckTorchvisionAlexNet)
	if err != nil {
		return nil, err
	}
	ws, err := torchload.MapTorchvisionAlexNet(ts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	text, err := configs.Get("alexnet-owt")
	if err != nil {
		return nil, err
	}
	return &checkpoint.Checkpoint{Weights: ws, State: checkpoint.State{Config: string(text),
		Classes: append([]string(nil), imagenet.Classes...), Extra: map[string]string{"source": "torchvision " + filepath.Base(path)}}}, nil
}

// loadTrained reads a checkpoint (or torchvision .pth) and the config to run it with.
func loadTrained(src ConfigSource, weights string) (*checkpoint.Checkpoint, *config.Config, error) {
	ck, err := loadCheckpoint(weights)
	if err != nil {
		return nil, nil, err
	}
	c, err := configFor(src, ck)
	if err != nil {
		return nil, nil, err
	}
	return ck, c, nil
}

// configFor is the config a checkpoint was trained with, unless one is given; --set
// overrides apply to either.
func configFor(src ConfigSource, ck *checkpoint.Checkpoint) (*config.Config, error) {
	if src.Path != "" {
		c, _, err := src.Load()
		return c, err
	}
	c, err := config.Load("the checkpoint's config", []byte(ck.State.Config), src.sets())
	if err != nil {
		return nil, usage(err)
	}
	return c, nil
}
