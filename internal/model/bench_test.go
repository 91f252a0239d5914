package model_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"alexnet/internal/backend"
	"alexnet/internal/config"
	"alexnet/internal/model"
)

// midConfig is testdata/mini.yaml widened four times (conv1 64 maps ... fc 128)
// on 64x64 images, with the paper's LRN size 5 (oneDNN's JIT LRN takes no other;
// size 3 would time its reference kernel): big enough that the towers' work, not
// their synchronisation, dominates a step.
func midConfig(b *testing.B) *config.Config {
	c := loadConfig(b, "testdata/mini.yaml")
	c.Name = "mini-x4"
	c.Model.Input.Height, c.Model.Input.Width = 64, 64
	for i, l := range c.Model.Layers {
		if (l.Type == config.Conv || l.Type == config.Linear) && i != len(c.Model.Layers)-1 {
			c.Model.Layers[i].Out *= 4
		}
		if l.Type == config.LRN {
			c.Model.Layers[i].Size = 5
		}
	}
	return c
}

// BenchmarkTrainStep compares a training step (forward with dropout, loss,
// backward, SGD) on one oneDNN backend with both cores against the two towers on
// two oneDNN backends with one core each.
func BenchmarkTrainStep(b *testing.B) {
	for _, cfg := range []*config.Config{loadConfig(b, "testdata/mini.yaml"), midConfig(b)} {
		const batch = 32
		x := make([]float32, batch*cfg.Model.Input.Channels*cfg.Model.Input.Height*cfg.Model.Input.Width)
		rng := rand.New(rand.NewPCG(3, 4))
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		labels := make([]int32, batch)
		for i := range labels {
			labels[i] = int32(rng.IntN(cfg.Model.Classes))
		}
		run := func(b *testing.B, m *model.Network) {
			if err := m.SetInput(x, batch); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				seed := func(layer int) uint64 { return backend.DropoutSeed(1, int64(i), layer) }
				if err := m.Forward(true, seed); err != nil {
					b.Fatal(err)
				}
				if err := m.Loss(labels); err != nil {
					b.Fatal(err)
				}
				if err := errors.Join(m.ZeroGrad(), m.Backward(), m.Step(0.01, 0.9, 0.0005)); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.Run(fmt.Sprintf("%s/batch%d/single-cpu-2threads", cfg.Name, batch), func(b *testing.B) {
			be, err := backend.Open("cpu", backend.Options{Threads: 2})
			if errors.Is(err, backend.ErrUnavailable) {
				b.Skip(err)
			}
			if err != nil {
				b.Fatal(err)
			}
			defer be.Close()
			net, err := model.New(cfg.Model, be, batch)
			if err != nil {
				b.Fatal(err)
			}
			defer net.Close()
			if err := net.Init(1); err != nil {
				b.Fatal(err)
			}
			run(b, net)
		})
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/batch%d/towers-cpu,cpu-%dthread", cfg.Name, batch, threads), func(b *testing.B) {
				open := func(string) (backend.Backend, error) {
					return backend.Open("cpu", backend.Options{Threads: threads})
				}
				tw, err := model.NewOn(cfg.Model, cpuPair.Devices, open, batch, false)
				if errors.Is(err, backend.ErrUnavailable) {
					b.Skip(err)
				}
				if err != nil {
					b.Fatal(err)
				}
				defer tw.Close()
				if err := tw.Init(1); err != nil {
					b.Fatal(err)
				}
				run(b, tw)
				b.ReportMetric(float64(tw.CrossBytesPerStep())/(1<<20), "MiB-crossing/op")
			})
		}
	}
}
