package model

import "alexnet/internal/safetensors"

// Net is what training and evaluation need of a network, whether it runs on one
// device (Network) or as the paper's two towers (parallel.Towers).
type Net interface {
	SetInput(x []float32, n int) error
	Forward(train bool, seed func(layer int) uint64) error
	Logits() ([]float32, error)
	Loss(labels []int32) error
	TakeScores() (Scores, error)
	ZeroGrad() error
	Backward() error
	Step(lr, momentum, decay float64) error
	SetLossScale(s float64)
	GradsFinite() (bool, error)
	ParamsFinite() (bool, error)
	Init(seed uint64) error
	Weights() ([]safetensors.Tensor, error)
	Momentum() ([]safetensors.Tensor, error)
	LoadWeights([]safetensors.Tensor) error
	LoadMomentum([]safetensors.Tensor) error
	Classes() int
	BatchSize() int
	Close()
}
