package dataset

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// LoaderConfig sets how a Loader batches a Source.
type LoaderConfig struct {
	BatchSize int
	Shuffle   bool  // a new order each epoch, drawn from (Seed, epoch)
	Seed      int64 // shuffling and augmentation
	Workers   int   // goroutines decoding and augmenting; 0 means GOMAXPROCS
	Prefetch  int   // batches prepared ahead of the one being used; 0 means 2
	DropLast  bool  // drop the last, short batch
	Strict    bool  // a sample that fails to load stops the epoch (else it is skipped)
	// KeepGoing tries every sample however many fail (predict: each file is the
	// user's own question); without it a run whose first 100 samples all fail
	// stops, as the settings are then wrong.
	KeepGoing bool
	// Rank of Ranks (data parallelism; 0 and 0 or 1: the whole data): every
	// rank draws the same order and the same global batches, and takes rows
	// [L*Rank/Ranks, L*(Rank+1)/Ranks) of each batch of L. So every image is seen
	// once per epoch, and the ranks together train on the batches one process
	// would. Every batch is delivered, even with no rows, so the ranks step
	// together.
	Rank, Ranks int
}

// Batch is a run of transformed images, NCHW. It is valid until the function
// given to Run returns; its memory is then reused.
type Batch struct {
	Index int // batch number in the epoch (0-based)
	N     int // images in this batch: BatchSize, fewer for the last one or after skips
	// Offset is the row of the global batch this rank's first row is, and Global
	// the rows of the global batch before skips (sharded loaders; else 0 and N).
	Offset, Global int
	C, H, W        int       // image shape
	X              []float32 // N*C*H*W
	Labels         []int32   // N
	Indices        []int     // the N images' indices in the source
	Skipped        []Skip    // samples that failed (non-strict mode) in this batch, or in empty batches just before it
}

// Skip is a sample that failed to load or transform.
type Skip struct {
	Index int
	Name  string
	Err   error
}

func (s Skip) String() string { return fmt.Sprintf("skipped %s: %v", s.Name, s.Err) }

// Stats sums up one Run.
type Stats struct {
	Batches int // batches handed to fn
	Images  int // images in them
	Skipped []Skip
	Elapsed time.Duration // whole run
	// Wait is how long the consumer waited for batches: near zero when the
	// loader keeps ahead of the model, most of Elapsed when it is the bottleneck.
	Wait time.Duration
}

// ImagesPerSec is the rate over the whole run.
func (s Stats) ImagesPerSec() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Images) / s.Elapsed.Seconds()
}

// Loader turns a Source and a Transform into batches, decoding and
// augmenting in worker goroutines. The batches of an epoch, their order and
// their contents depend only on (Seed, epoch), never on the number of workers.
type Loader struct {
	src     Source
	tf      Transform
	cfg     LoaderConfig
	c, h, w int
	running sync.Mutex // one Run at a time: it owns bufs
	bufs    []*Batch
}

// NewLoader checks the settings; the transform must crop (every image in a
// batch has the same size).
func NewLoader(src Source, tf Transform, cfg LoaderConfig) (*Loader, error) {
	if err := tf.Validate(); err != nil {
		return nil, err
	}
	switch {
	case src.Len() == 0:
		return nil, errors.New("loader: the data set is empty")
	case cfg.BatchSize <= 0:
		return nil, fmt.Errorf("loader: batch size %d", cfg.BatchSize)
	case cfg.Workers < 0 || cfg.Prefetch < 0:
		return nil, fmt.Errorf("loader: workers %d, prefetch %d", cfg.Workers, cfg.Prefetch)
	case cfg.Ranks < 0 || cfg.Rank < 0 || (cfg.Rank > 0 && cfg.Rank >= cfg.Ranks):
		return nil, fmt.Errorf("loader: rank %d of %d", cfg.Rank, cfg.Ranks)
	case tf.Crop == 0:
		return nil, errors.New("loader: the transform needs a crop size so every image has the same shape")
	case tf.Lighting > 0 && src.Channels() != 3:
		return nil, fmt.Errorf("loader: PCA lighting needs RGB, the data set has %d channel(s)", src.Channels())
	}
	if cfg.Workers == 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Prefetch == 0 {
		cfg.Prefetch = 2
	}
	return &Loader{src: src, tf: tf, cfg: cfg, c: src.Channels(), h: tf.Crop, w: tf.Crop}, nil
}

// Source is the loader's data set.
func (l *Loader) Source() Source { return l.src }

// Shape is the shape of one image in a batch.
func (l *Loader) Shape() (c, h, w int) { return l.c, l.h, l.w }

// NumBatches is the number of batches per epoch.
func (l *Loader) NumBatches() int {
	n, b := l.src.Len(), l.cfg.BatchSize
	if l.cfg.DropLast {
		return n / b
	}
	return (n + b - 1) / b
}

// Order is the sample order of an epoch: a permutation drawn from
// (Seed, epoch) when shuffling, else 0..Len-1.
func (l *Loader) Order(epoch int) []int {
	if l.cfg.Shuffle {
		return NewRNG(seedWords(l.cfg.Seed, domainShuffle, int64(epoch), 0)).Perm(l.src.Len())
	}
	o := make([]int, l.src.Len())
	for i := range o {
		o[i] = i
	}
	return o
}

// Shard is rank's rows [lo, hi) of a global batch of n, of ranks ranks: as even
// as the rows allow, in rank order.
func Shard(n, rank, ranks int) (lo, hi int) {
	return n * rank / ranks, n * (rank + 1) / ranks
}

// pending is a batch being filled by the workers, slot by slot.
type pending struct {
	b         *Batch
	idx       []int
	labels    []int32
	errs      []error
	remaining atomic.Int32
	done      chan struct{}
}

type job struct {
	p    *pending
	slot int
}

// Run delivers epoch's batches in order to fn, preparing up to Prefetch
// batches ahead. It stops at the first error from fn, at a failing sample
// in strict mode, or when ctx is done; it returns only after its goroutines
// have finished. Samples that fail in non-strict mode are left out of their
// batch (so a batch may hold fewer images; one left empty is not delivered)
// and listed in Batch.Skipped and Stats.Skipped; but when the first 100
// samples (or all, if fewer) fail with none loaded, Run stops with an error.
func (l *Loader) Run(ctx context.Context, epoch int, fn func(*Batch) error) (st Stats, err error) {
	return l.RunFrom(ctx, epoch, 0, fn)
}

// StuckWait is how long a cancelled Run waits for its workers to finish the image
// each is reading before it returns without them.
var StuckWait = 2 * time.Second

// RunFrom is Run starting at batch first of the epoch: the batches before it are
// neither loaded nor delivered. A batch depends only on (Seed, epoch, its index),
// so the batches delivered are exactly Run's from first on: resuming mid-epoch
// costs nothing for the part already trained.
func (l *Loader) RunFrom(ctx context.Context, epoch, first int, fn func(*Batch) error) (st Stats, err error) {
	if first < 0 || first > l.NumBatches() {
		return Stats{}, fmt.Errorf("loader: start at batch %d of %d", first, l.NumBatches())
	}
	if !l.running.TryLock() {
		return Stats{}, errors.New("loader: Run called while another Run is in progress")
	}
	defer l.running.Unlock()
	start := time.Now()
	defer func() { st.Elapsed = time.Since(start) }()
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		if parent.Err() == nil {
			// Run ended by itself (done, fn's error): the workers finish the image
			// each is reading, and the caller may then close the source.
			wg.Wait()
			return
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(StuckWait):
			// A worker is stuck in a read that cancellation cannot reach (a FIFO named
			// like an image, a hung network mount). Leave it: the caller was cancelled
			// and must get control back. Its batch buffers are dropped, so a later run
			// cannot share them with it.
			l.bufs = nil
		}
	}()

	order := l.Order(epoch)
	nb := l.NumBatches()
	bs := l.cfg.BatchSize
	per := l.c * l.h * l.w
	// Prefetch batches wait ready while fn holds one more. The buffers
	// outlive the run (nothing touches them once Run returns): a model's
	// batches are tens of megabytes, not worth reallocating each epoch.
	if l.bufs == nil {
		for range l.cfg.Prefetch + 1 {
			l.bufs = append(l.bufs, &Batch{C: l.c, H: l.h, W: l.w})
		}
	}
	free := make(chan *Batch, len(l.bufs))
	for _, b := range l.bufs {
		free <- b
	}
	ordered := make(chan *pending, l.cfg.Prefetch+1)
	jobs := make(chan job, bs)

	wg.Add(1)
	go func() { // dispatcher: hands out batches in order, as buffers free up
		defer wg.Done()
		defer close(jobs)
		defer close(ordered)
		for bi := first; bi < nb; bi++ {
			var b *Batch
			select {
			case b = <-free:
			case <-ctx.Done():
				return
			}
			idx := order[bi*bs : min((bi+1)*bs, len(order))]
			global, offset := len(idx), 0
			if l.cfg.Ranks > 1 {
				var hi int
				offset, hi = Shard(global, l.cfg.Rank, l.cfg.Ranks)
				idx = idx[offset:hi]
			}
			n := len(idx)
			if cap(b.X) < bs*per {
				b.X, b.Labels, b.Indices = make([]float32, bs*per), make([]int32, bs), make([]int, bs)
			}
			b.Index, b.N, b.Skipped, b.Offset, b.Global = bi, n, nil, offset, global
			b.X, b.Labels, b.Indices = b.X[:n*per], b.Labels[:n], b.Indices[:n]
			p := &pending{b: b, idx: idx, errs: make([]error, n), done: make(chan struct{})}
			p.remaining.Store(int32(n))
			if n == 0 { // a rank's empty share of a short last batch
				close(p.done)
			}
			ordered <- p // never blocks: at most Prefetch+1 batches exist
			for s := range idx {
				select {
				case jobs <- job{p, s}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()

	for range l.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := &scratch{}
			for j := range jobs {
				if ctx.Err() == nil {
					j.p.errs[j.slot] = l.loadInto(j.p, j.slot, epoch, sc)
				}
				if j.p.remaining.Add(-1) == 0 {
					close(j.p.done)
				}
			}
		}()
	}

	seen, failed := 0, 0
	var carry []Skip
	for p := range ordered {
		t := time.Now()
		select {
		case <-p.done:
		case <-ctx.Done():
		}
		st.Wait += time.Since(t)
		// Check even when p is done: select picks at random when both are
		// ready, and after cancellation workers finish batches without
		// filling them.
		if err := ctx.Err(); err != nil {
			return st, err
		}
		b := p.b
		if err := l.compact(p, epoch); err != nil {
			return st, err
		}
		st.Skipped = append(st.Skipped, b.Skipped...)
		// Skipping is for the odd broken file. When every sample fails from
		// the start, the settings are wrong (a crop larger than the images, a
		// folder of unreadable files): say so instead of skipping a whole epoch.
		if st.Images == 0 && b.N == 0 && !l.cfg.KeepGoing {
			failed += len(b.Skipped)
			if limit := min(100, l.src.Len()); failed >= limit {
				return st, fmt.Errorf("epoch %d: the first %d samples all failed to load; the last: %w",
					epoch, failed, b.Skipped[len(b.Skipped)-1].Err)
			}
		}
		seen++
		sharded := l.cfg.Ranks > 1
		if b.N == 0 && !sharded {
			// Nothing to deliver: report its failures with the next batch.
			carry = append(carry, b.Skipped...)
		} else if len(carry) > 0 {
			b.Skipped = append(carry, b.Skipped...)
			carry = nil
		}
		if b.N > 0 || sharded {
			st.Batches++
			st.Images += b.N
			if err := fn(b); err != nil {
				return st, err
			}
		}
		free <- b
	}
	if seen < nb-first { // the dispatcher stops early only when ctx is done
		return st, ctx.Err()
	}
	return st, nil
}

// loadInto loads, checks and transforms one sample into its slot.
func (l *Loader) loadInto(p *pending, slot, epoch int, sc *scratch) error {
	i := p.idx[slot]
	m, label, err := l.src.Load(i)
	if err != nil {
		return err
	}
	if m.C != l.c {
		return fmt.Errorf("%s: %d channel(s), the data set has %d", l.src.Name(i), m.C, l.c)
	}
	per := l.c * l.h * l.w
	var rng *RNG
	if l.tf.Random() {
		rng = SampleRNG(l.cfg.Seed, epoch, i)
	}
	if err := l.tf.applyInto(p.b.X[slot*per:(slot+1)*per], m, rng, sc); err != nil {
		return fmt.Errorf("%s: %w", l.src.Name(i), err)
	}
	p.b.Labels[slot] = label
	return nil
}

// compact closes the gaps failed samples left, keeping the order, or returns
// the first failure in strict mode.
func (l *Loader) compact(p *pending, epoch int) error {
	b := p.b
	per := l.c * l.h * l.w
	k := 0
	for s, err := range p.errs {
		i := p.idx[s]
		if err != nil {
			if l.cfg.Strict {
				return fmt.Errorf("epoch %d, batch %d: %w", epoch, b.Index, err)
			}
			b.Skipped = append(b.Skipped, Skip{Index: i, Name: l.src.Name(i), Err: err})
			continue
		}
		if k != s {
			copy(b.X[k*per:(k+1)*per], b.X[s*per:(s+1)*per])
			b.Labels[k] = b.Labels[s]
		}
		b.Indices[k] = i
		k++
	}
	b.N = k
	b.X, b.Labels, b.Indices = b.X[:k*per], b.Labels[:k], b.Indices[:k]
	return nil
}

// Throughput runs the loader alone over up to batches batches of epoch 0 and
// returns its rate in images per second (for `alexnet bench`).
func Throughput(ctx context.Context, l *Loader, batches int) (float64, Stats, error) {
	stop := errors.New("enough batches")
	n := 0
	st, err := l.Run(ctx, 0, func(*Batch) error {
		n++
		if n >= batches {
			return stop
		}
		return nil
	})
	if err != nil && !errors.Is(err, stop) {
		return 0, st, err
	}
	return st.ImagesPerSec(), st, nil
}
