package jsonx

import (
	"bytes"
	"math"
	"testing"
)

func TestWrite(t *testing.T) {
	var b bytes.Buffer
	v := struct {
		Loss  Number   `json:"loss"`
		Probs []Number `json:"probs"`
	}{Number(math.NaN()), []Number{0.25, Number(math.Inf(-1))}}
	if err := Write(&b, v); err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"loss\": null,\n  \"probs\": [\n    0.25,\n    null\n  ]\n}\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
