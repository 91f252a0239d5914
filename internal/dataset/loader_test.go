package dataset

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

type epochData struct {
	x       []float32
	labels  []int32
	indices []int
	sizes   []int
	skipped []string
}

func collect(t *testing.T, l *Loader, epoch int) (epochData, Stats, error) {
	t.Helper()
	var d epochData
	next := 0
	st, err := l.Run(context.Background(), epoch, func(b *Batch) error {
		if b.Index < next {
			return fmt.Errorf("batch %d after %d", b.Index, next)
		}
		next = b.Index + 1
		c, h, w := l.Shape()
		if len(b.X) != b.N*c*h*w || len(b.Labels) != b.N || len(b.Indices) != b.N {
			return fmt.Errorf("batch %d: N %d but %d values, %d labels, %d indices", b.Index, b.N, len(b.X), len(b.Labels), len(b.Indices))
		}
		d.x = append(d.x, b.X...)
		d.labels = append(d.labels, b.Labels...)
		d.indices = append(d.indices, b.Indices...)
		d.sizes = append(d.sizes, b.N)
		for _, s := range b.Skipped {
			d.skipped = append(d.skipped, s.Name)
		}
		return nil
	})
	return d, st, err
}

func augmenting() Transform {
	return Transform{Crop: 24, RandomCrop: true, Pad: 1, Flip: true, Lighting: 0.1, Mean: ImageNetMean, Std: ImageNetStd}
}

// The same epoch with 1 worker and with 4 gives the same batches, bit for
// bit, and each sample equals the transform applied on its own.
func TestLoaderDeterministic(t *testing.T) {
	src, _ := NewSynthetic(103, 3, 30, 28, 7, 11)
	cfg := LoaderConfig{BatchSize: 16, Shuffle: true, Seed: 42, Workers: 1, Prefetch: 1}
	l1, err := NewLoader(src, augmenting(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Workers, cfg.Prefetch = 4, 3
	l4, _ := NewLoader(src, augmenting(), cfg)
	a, st, err := collect(t, l1, 3)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := collect(t, l4, 3)
	if err != nil {
		t.Fatal(err)
	}
	if d, at := maxAbsDiff(a.x, b.x); len(a.x) != len(b.x) || d != 0 {
		t.Fatalf("1 vs 4 workers: %d vs %d values, largest difference %g at %d", len(a.x), len(b.x), d, at)
	}
	if fmt.Sprint(a.indices) != fmt.Sprint(b.indices) || fmt.Sprint(a.labels) != fmt.Sprint(b.labels) {
		t.Fatal("1 vs 4 workers: different order or labels")
	}
	if want := []int{16, 16, 16, 16, 16, 16, 7}; fmt.Sprint(a.sizes) != fmt.Sprint(want) {
		t.Errorf("batch sizes %v, want %v", a.sizes, want)
	}
	if st.Batches != 7 || st.Images != 103 || len(st.Skipped) != 0 || l1.NumBatches() != 7 {
		t.Errorf("stats %+v, NumBatches %d", st, l1.NumBatches())
	}
	// Every index once; sample k is transform(source[k]) with its own RNG.
	seen := map[int]bool{}
	per := 3 * 24 * 24
	for k, i := range a.indices {
		seen[i] = true
		m, label, _ := src.Load(i)
		want, _ := augmenting().Apply(m, SampleRNG(42, 3, i))
		if d, _ := maxAbsDiff(a.x[k*per:(k+1)*per], want.Data); d != 0 || a.labels[k] != label {
			t.Fatalf("sample %d (index %d): largest difference %g, label %d want %d", k, i, d, a.labels[k], label)
		}
	}
	if len(seen) != 103 {
		t.Errorf("%d distinct indices", len(seen))
	}
	// Another epoch, another order; the same epoch again (a resumed run), the same.
	c, _, _ := collect(t, l1, 4)
	if fmt.Sprint(c.indices) == fmt.Sprint(a.indices) {
		t.Error("epochs 3 and 4 have the same order")
	}
	l1b, _ := NewLoader(src, augmenting(), LoaderConfig{BatchSize: 16, Shuffle: true, Seed: 42})
	if fmt.Sprint(l1b.Order(3)) != fmt.Sprint(a.indices) {
		t.Error("a new loader with the same seed orders epoch 3 differently")
	}
	// Without shuffling: 0..n-1; DropLast drops the short batch.
	l, _ := NewLoader(src, Transform{Crop: 24}, LoaderConfig{BatchSize: 16, DropLast: true, Workers: 3})
	d, _, err := collect(t, l, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.indices) != 96 || d.indices[0] != 0 || d.indices[95] != 95 || l.NumBatches() != 6 {
		t.Errorf("unshuffled, drop last: %d images, first %d last %d", len(d.indices), d.indices[0], d.indices[len(d.indices)-1])
	}
}

// failing fails on chosen indices.
type failing struct {
	Source
	bad map[int]bool
}

func (f failing) Load(i int) (Image, int32, error) {
	if f.bad[i] {
		return Image{}, 0, fmt.Errorf("%s: broken on purpose", f.Name(i))
	}
	return f.Source.Load(i)
}

func TestLoaderSkipAndStrict(t *testing.T) {
	syn, _ := NewSynthetic(40, 3, 24, 24, 3, 1)
	bad := map[int]bool{3: true, 17: true, 8: true, 9: true, 10: true, 11: true} // batch 2 (8..11) fails whole
	src := failing{syn, bad}
	cfg := LoaderConfig{BatchSize: 4, Seed: 5, Workers: 3}
	l, _ := NewLoader(src, augmenting(), cfg)
	full, _ := NewLoader(syn, augmenting(), cfg)
	got, st, err := collect(t, l, 0)
	if err != nil {
		t.Fatal(err)
	}
	all, _, _ := collect(t, full, 0)
	if len(st.Skipped) != 6 || len(got.skipped) != 6 || st.Images != 34 {
		t.Fatalf("skipped %d (%v), images %d; want 6 and 34", len(st.Skipped), got.skipped, st.Images)
	}
	if !strings.Contains(st.Skipped[0].Name, "synthetic[3]") || !strings.Contains(st.Skipped[0].Err.Error(), "on purpose") {
		t.Errorf("first skip %v", st.Skipped[0])
	}
	// Batch 2 had nothing left and is not delivered; batch 0 and 4 have 3 images.
	if want := []int{3, 4, 4, 3, 4, 4, 4, 4, 4}; fmt.Sprint(got.sizes) != fmt.Sprint(want) {
		t.Errorf("batch sizes %v, want %v", got.sizes, want)
	}
	// The survivors equal the same samples loaded without failures.
	per := 3 * 24 * 24
	k := 0
	for j, i := range all.indices {
		if bad[i] {
			continue
		}
		if got.indices[k] != i {
			t.Fatalf("survivor %d is index %d, want %d", k, got.indices[k], i)
		}
		if d, _ := maxAbsDiff(got.x[k*per:(k+1)*per], all.x[j*per:(j+1)*per]); d != 0 || got.labels[k] != all.labels[j] {
			t.Fatalf("survivor %d (index %d): largest difference %g", k, i, d)
		}
		k++
	}

	cfg.Strict = true
	l, _ = NewLoader(src, augmenting(), cfg)
	calls := 0
	_, err = l.Run(context.Background(), 0, func(*Batch) error { calls++; return nil })
	if err == nil || !strings.Contains(err.Error(), "synthetic[3]") {
		t.Errorf("strict: %v, want the error of synthetic[3]", err)
	}
	if calls != 0 {
		t.Errorf("strict: %d batches delivered before the failing batch 0", calls)
	}
}

// Real files: the corrupt, truncated and huge images of the fixture are
// skipped and named, or stop a strict run.
func TestLoaderFolderBadFiles(t *testing.T) {
	src, err := OpenFolder(folderFixture(t), "train", FolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tf := Transform{Resize: 8, Crop: 6, RandomCrop: true, Flip: true, Lighting: 0.1}
	l, _ := NewLoader(src, tf, LoaderConfig{BatchSize: 3, Workers: 2})
	_, st, err := collect(t, l, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range st.Skipped {
		names = append(names, filepath.Base(s.Name))
		if !strings.Contains(s.Err.Error(), s.Name) {
			t.Errorf("error %q does not name %s", s.Err, s.Name)
		}
	}
	if fmt.Sprint(names) != "[b_corrupt.jpg c_truncated.jpg d_huge.png]" || st.Images != 5 {
		t.Errorf("skipped %v, %d images", names, st.Images)
	}
	l, _ = NewLoader(src, tf, LoaderConfig{BatchSize: 3, Workers: 2, Strict: true})
	n := 0
	_, err = l.Run(context.Background(), 0, func(*Batch) error { n++; return nil })
	if err == nil || !strings.Contains(err.Error(), "b_corrupt.jpg") || n != 1 {
		t.Errorf("strict: %v after %d batches, want b_corrupt.jpg after 1", err, n)
	}
}

func TestLoaderStops(t *testing.T) {
	src, _ := NewSynthetic(500, 3, 32, 32, 10, 1)
	l, _ := NewLoader(src, augmenting(), LoaderConfig{BatchSize: 8, Workers: 4, Prefetch: 4})
	before := runtime.NumGoroutine()

	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := l.Run(ctx, 0, func(*Batch) error {
		n++
		if n == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n != 3 {
		t.Errorf("cancelled: %v after %d batches", err, n)
	}
	boom := errors.New("boom")
	_, err = l.Run(context.Background(), 0, func(b *Batch) error { return boom })
	if !errors.Is(err, boom) {
		t.Errorf("fn error: %v", err)
	}
	// Run waits for its goroutines; give the runtime a moment to reap them.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Errorf("%d goroutines after Run, %d before", g, before)
	}
	rate, st, err := Throughput(context.Background(), l, 10)
	if err != nil || rate <= 0 || st.Batches != 10 || st.Images != 80 {
		t.Errorf("Throughput: %.0f images/s, %+v, %v", rate, st, err)
	}
}

func TestNewLoaderErrors(t *testing.T) {
	src, _ := NewSynthetic(10, 1, 8, 8, 2, 1)
	for name, c := range map[string]struct {
		tf  Transform
		cfg LoaderConfig
	}{
		"no crop":        {Transform{}, LoaderConfig{BatchSize: 2}},
		"batch 0":        {Transform{Crop: 8}, LoaderConfig{}},
		"gray lighting":  {Transform{Crop: 8, Lighting: 0.1}, LoaderConfig{BatchSize: 2}},
		"bad transform":  {Transform{Crop: -1}, LoaderConfig{BatchSize: 2}},
		"negative works": {Transform{Crop: 8}, LoaderConfig{BatchSize: 2, Workers: -1}},
	} {
		if _, err := NewLoader(src, c.tf, c.cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Non-strict mode does not hide settings that fail every sample.
func TestLoaderAllFailing(t *testing.T) {
	src, _ := NewSynthetic(150, 1, 8, 8, 2, 1)
	l, err := NewLoader(src, Transform{Crop: 10, RandomCrop: true}, LoaderConfig{BatchSize: 16, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	st, err := l.Run(context.Background(), 0, func(*Batch) error { n++; return nil })
	if err == nil || !strings.Contains(err.Error(), "smaller than crop") || !strings.Contains(err.Error(), "first 112 samples") {
		t.Errorf("got %v", err)
	}
	if n != 0 || len(st.Skipped) != 112 {
		t.Errorf("%d batches delivered, %d skipped", n, len(st.Skipped))
	}
}

// RunFrom(k) delivers exactly Run's batches k.. and loads nothing before them.
func TestLoaderRunFrom(t *testing.T) {
	src, _ := NewSynthetic(103, 3, 30, 28, 7, 11)
	l, err := NewLoader(src, augmenting(), LoaderConfig{BatchSize: 16, Shuffle: true, Seed: 42, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	type batch struct {
		x       []float32
		indices []int
	}
	run := func(first int) ([]batch, Stats) {
		var out []batch
		st, err := l.RunFrom(context.Background(), 2, first, func(b *Batch) error {
			out = append(out, batch{append([]float32(nil), b.X...), append([]int(nil), b.Indices...)})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out, st
	}
	all, _ := run(0)
	for _, first := range []int{1, 4, 6, 7} {
		tail, st := run(first)
		if len(tail) != len(all)-first || st.Batches != len(all)-first {
			t.Fatalf("from %d: %d batches, want %d", first, len(tail), len(all)-first)
		}
		for i, b := range tail {
			want := all[first+i]
			if fmt.Sprint(b.indices) != fmt.Sprint(want.indices) {
				t.Fatalf("from %d, batch %d: samples %v, want %v", first, i, b.indices, want.indices)
			}
			if d, at := maxAbsDiff(b.x, want.x); d != 0 {
				t.Fatalf("from %d, batch %d: largest difference %g at %d", first, i, d, at)
			}
		}
	}
	if _, err := l.RunFrom(context.Background(), 0, 8, func(*Batch) error { return nil }); err == nil {
		t.Error("RunFrom past the last batch: no error")
	}
}

// Sharded loaders, side by side, deliver the unsharded loader's batches cut in
// rank order: every image once per epoch, augmented as one process augments it,
// and every rank gets every batch, an empty share of the short last one included.
func TestLoaderShards(t *testing.T) {
	src, _ := NewSynthetic(37, 3, 30, 28, 7, 11)
	cfg := LoaderConfig{BatchSize: 8, Shuffle: true, Seed: 5, Workers: 2}
	whole, err := NewLoader(src, augmenting(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := collect(t, whole, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, ranks := range []int{2, 3, 8} { // 37 = 4*8 + 5: with 8 ranks three get no row of the last batch
		var got epochData
		perRank := make([][]*Batch, ranks)
		for r := range ranks {
			c := cfg
			c.Rank, c.Ranks = r, ranks
			l, err := NewLoader(src, augmenting(), c)
			if err != nil {
				t.Fatal(err)
			}
			st, err := l.Run(context.Background(), 3, func(b *Batch) error {
				cp := *b
				cp.X, cp.Labels, cp.Indices = append([]float32(nil), b.X...), append([]int32(nil), b.Labels...), append([]int(nil), b.Indices...)
				perRank[r] = append(perRank[r], &cp)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if st.Batches != whole.NumBatches() {
				t.Fatalf("%d ranks: rank %d got %d batches, want %d", ranks, r, st.Batches, whole.NumBatches())
			}
		}
		seen := map[int]int{}
		for bi := range whole.NumBatches() {
			rows := 0
			for r := range ranks {
				b := perRank[r][bi]
				if b.Index != bi || b.Offset != rows {
					t.Fatalf("%d ranks, batch %d, rank %d: index %d, offset %d, want %d", ranks, bi, r, b.Index, b.Offset, rows)
				}
				rows += b.N
				got.x = append(got.x, b.X...)
				got.labels = append(got.labels, b.Labels...)
				got.indices = append(got.indices, b.Indices...)
				for _, i := range b.Indices {
					seen[i]++
				}
			}
			if g := perRank[0][bi].Global; rows != g {
				t.Fatalf("%d ranks, batch %d: %d rows in all, the batch has %d", ranks, bi, rows, g)
			}
		}
		for i := range src.Len() {
			if seen[i] != 1 {
				t.Fatalf("%d ranks: image %d seen %d times in the epoch", ranks, i, seen[i])
			}
		}
		if fmt.Sprint(got.indices) != fmt.Sprint(want.indices) || fmt.Sprint(got.labels) != fmt.Sprint(want.labels) {
			t.Fatalf("%d ranks: the shards do not make up the batches", ranks)
		}
		if d, at := maxAbsDiff(got.x, want.x); d != 0 {
			t.Fatalf("%d ranks: pixels differ from one process's by %g at %d", ranks, d, at)
		}
	}
}
