package app

import (
	"encoding/json"
	"math"
)

// Number is a float64 that --json output writes as null when it is NaN or infinite
// (encoding/json refuses both), so that a run whose loss diverged still reports
// instead of failing to print.
type Number float64

func (n Number) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(f)
}
