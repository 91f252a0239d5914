package model_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"alexnet/internal/backend"
	"alexnet/internal/model"
	"alexnet/internal/safetensors"
)

// Two shards of a batch (rows 0..2 and 3..4 of 5), each SetShard to its rows,
// give between them what one network gives the whole batch: the logits with
// dropout row for row, and the gradients summed. That is what data parallelism
// all-reduces (internal/dist); here without MPI, on every backend.
func TestShardsSumToTheBatch(t *testing.T) {
	cfg := loadConfig(t, "testdata/mini.yaml")
	for _, name := range []string{"ref", "cpu"} {
		t.Run(name, func(t *testing.T) {
			open := openKind(t, name)
			build := func(batch int) *model.Network {
				b, err := open("")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { b.Close() })
				net, err := model.New(cfg.Model, b, batch)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(net.Close)
				if err := net.Init(3); err != nil {
					t.Fatal(err)
				}
				return net
			}
			const n = 5
			whole := build(n)
			shards := []*model.Network{build(3), build(3)} // the second runs 2 rows, padded
			rows := [][2]int{{0, 3}, {3, 5}}
			rng := rand.New(rand.NewPCG(8, 9))
			per := whole.Info[0].In.PerImage()
			x := make([]float32, n*per)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			labels := make([]int32, n)
			for i := range labels {
				labels[i] = int32(rng.IntN(cfg.Model.Classes))
			}
			seed := func(layer int) uint64 { return backend.DropoutSeed(5, 11, layer) }
			step := func(net *model.Network, x []float32, labels []int32) []float32 {
				t.Helper()
				err := errors.Join(net.SetInput(x, len(labels)), net.Forward(true, seed), net.Loss(labels), net.ZeroGrad(), net.Backward())
				if err != nil {
					t.Fatal(err)
				}
				l, err := net.Logits()
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
			want := step(whole, x, labels)
			c := &checker{t: t, tol: 1e-6}
			var sum []safetensors.Tensor
			for s, net := range shards {
				lo, hi := rows[s][0], rows[s][1]
				net.SetShard(lo, float64(hi-lo)/n)
				got := step(net, x[lo*per:hi*per], labels[lo:hi])
				c.check(fmt.Sprintf("logits rows %d..%d", lo, hi-1), got, want[lo*cfg.Model.Classes:hi*cfg.Model.Classes])
				g, err := net.Gradients()
				if err != nil {
					t.Fatal(err)
				}
				if sum == nil {
					sum = g
					continue
				}
				for i := range g {
					for j, v := range g[i].Data {
						sum[i].Data[j] += v
					}
				}
			}
			wantG, err := whole.Gradients()
			if err != nil {
				t.Fatal(err)
			}
			c.tensors("grad", sum, wantG)
		})
	}
}
