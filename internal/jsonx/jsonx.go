// Package jsonx is the one JSON style of the commands' --json output: one document,
// indented by two spaces, snake_case keys, and numbers that may be NaN or infinite
// (a diverged loss, the probabilities of broken weights) written as null rather than
// failing, as metrics.jsonl does. Streams (metrics.jsonl) are compact, a line each.
package jsonx

import (
	"encoding/json"
	"io"
	"math"
)

// Number is a float64 written as null when it is NaN or infinite (encoding/json
// refuses both).
type Number float64

func (n Number) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(f)
}

// Write writes v as one indented JSON document and a newline.
func Write(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
