package dataset

import (
	"math"
	"math/rand/v2"
)

// RNG is the generator behind every random choice in this package. It wraps
// PCG (whose output is fixed by its definition) and derives integers, floats
// and normals itself, so a shuffle or a crop never changes with the Go
// version's choice of algorithms in math/rand/v2's helpers.
type RNG struct {
	pcg rand.PCG
}

// NewRNG returns a generator seeded with two 64-bit words.
func NewRNG(seed1, seed2 uint64) *RNG {
	return &RNG{pcg: *rand.NewPCG(seed1, seed2)}
}

// Seed domains keep the shuffle's stream apart from the samples' streams.
const (
	domainSample  = 0x5a4d_1e00_0000_0001
	domainShuffle = 0x5a4d_1e00_0000_0002
	domainSynth   = 0x5a4d_1e00_0000_0003
)

// SampleRNG is the generator for one sample's augmentation: it depends only on
// (seed, epoch, index), never on which worker runs it or when.
func SampleRNG(seed int64, epoch, index int) *RNG {
	return NewRNG(seedWords(seed, domainSample, int64(epoch), int64(index)))
}

func seedWords(seed int64, domain uint64, a, b int64) (uint64, uint64) {
	s := splitmix64(uint64(seed) ^ domain)
	s = splitmix64(s ^ uint64(a))
	return s, splitmix64(s ^ uint64(b))
}

// splitmix64 is Steele et al.'s finaliser: consecutive inputs give unrelated outputs.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Uint64 returns 64 random bits.
func (r *RNG) Uint64() uint64 { return r.pcg.Uint64() }

// Intn returns a uniform integer in [0, n); n must be > 0.
func (r *RNG) Intn(n int) int {
	if n <= 1 {
		return 0
	}
	// Rejection keeps it exactly uniform: drop the top partial block.
	un := uint64(n)
	limit := math.MaxUint64 - math.MaxUint64%un
	for {
		v := r.pcg.Uint64()
		if v < limit {
			return int(v % un)
		}
	}
}

// Float64 returns a uniform float64 in [0, 1) with 53 random bits.
func (r *RNG) Float64() float64 {
	return float64(r.pcg.Uint64()>>11) * (1.0 / (1 << 53))
}

// Norm returns a standard normal deviate (Box-Muller; one deviate per call,
// so the number of draws per sample is fixed).
func (r *RNG) Norm() float64 {
	u1 := 1 - r.Float64() // (0, 1]: log is finite
	u2 := r.Float64()
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}

// Perm returns a Fisher-Yates permutation of 0..n-1.
func (r *RNG) Perm(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := r.Intn(i + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}
