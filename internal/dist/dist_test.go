package dist

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"alexnet/internal/backend"
	"alexnet/internal/config"
	"alexnet/internal/dataset"
	"alexnet/internal/model"
	"alexnet/internal/mpi/mpitest"
	"alexnet/internal/safetensors"

	_ "alexnet/internal/onednn"
	_ "alexnet/internal/ref"
)

func loadConfig(t *testing.T, path string) *config.Config {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path, text, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Two ranks, each on its shard of every global batch, their gradients summed by
// MPI layer by layer during the backward pass, train the weights one network
// trains on the whole batches: compared after 4 SGD steps with dropout, the last
// batch short (7 rows of 16: 3 and 4), on the reference and the cpu backend, and
// through host staging.
func TestTwoRanksTrainAsOne(t *testing.T) {
	if !mpitest.Ranks(t, 2) {
		return
	}
	g, err := Join()
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	cfg := loadConfig(t, "../model/testdata/mini.yaml")
	if err := g.Agree([]byte(cfg.Name)); err != nil {
		t.Fatal(err)
	}
	const batch = 16
	sizes := []int{16, 16, 16, 7}
	// "staged": ref behind a wrapper without HostMemory, so the gradients take the
	// path a GPU's do (download, reduce, upload).
	for _, name := range []string{"ref", "cpu", "staged"} {
		open := func() backend.Backend {
			kind := name
			if name == "staged" {
				kind = "ref"
			}
			b, err := backend.Open(kind, backend.Options{Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			if name == "staged" {
				return struct{ backend.Backend }{b}
			}
			return b
		}
		build := func() *model.Network {
			net, err := model.New(cfg.Model, open(), batch)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(net.Close)
			if err := net.Init(1); err != nil {
				t.Fatal(err)
			}
			return net
		}
		one, mine := build(), build() // one: this rank's own run of the whole batches
		red := g.Reducer(mine)
		rng := rand.New(rand.NewPCG(4, 2))
		per := one.Info[0].In.PerImage()
		for step, n := range sizes {
			x := make([]float32, n*per)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			labels := make([]int32, n)
			for i := range labels {
				labels[i] = int32(rng.IntN(cfg.Model.Classes))
			}
			seed := func(layer int) uint64 { return backend.DropoutSeed(9, int64(step), layer) }
			if err := errors.Join(one.SetInput(x, n), one.Forward(true, seed), one.Loss(labels), one.ZeroGrad(),
				one.Backward(), one.Step(0.01, 0.9, 0.0005)); err != nil {
				t.Fatal(err)
			}
			lo, hi := dataset.Shard(n, g.Rank, g.Size)
			mine.SetShard(lo, float64(hi-lo)/float64(n))
			if err := errors.Join(mine.SetInput(x[lo*per:hi*per], hi-lo), mine.Forward(true, seed), mine.Loss(labels[lo:hi]),
				mine.ZeroGrad(), mine.BackwardEach(red.Layer), red.Wait(), mine.Step(0.01, 0.9, 0.0005)); err != nil {
				t.Fatal(err)
			}
		}
		want, err1 := one.Weights()
		got, err2 := mine.Weights()
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		worst := largest(got, want)
		t.Logf("rank %d, %s: weights after %d steps differ from one process's by %.2e at most", g.Rank, name, len(sizes), worst)
		if worst > 1e-6 {
			t.Errorf("%s: weights differ by %.2e", name, worst)
		}
	}
}

// largest is the largest difference between two weight sets, relative to each
// tensor's largest value.
func largest(got, want []safetensors.Tensor) float64 {
	var worst float64
	for i := range want {
		var d, scale float64 = 0, 1e-3
		for j, w := range want[i].Data {
			d = math.Max(d, math.Abs(float64(got[i].Data[j])-float64(w)))
			scale = math.Max(scale, math.Abs(float64(w)))
		}
		worst = math.Max(worst, d/scale)
	}
	return worst
}
