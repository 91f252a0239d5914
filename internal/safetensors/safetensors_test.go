package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// rawFile builds a safetensors byte stream from a literal JSON header and data bytes,
// so tests can state exactly what a foreign writer (Python, PyTorch) would produce.
func rawFile(header string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func sample() []Tensor {
	return []Tensor{
		{Name: "conv1.weight", Shape: []int{2, 1, 2, 3}, Data: []float32{1, -2, 3.5, 0, float32(math.Inf(1)), 1e-30, 7, 8, 9, 10, 11, -0.0}},
		{Name: "conv1.bias", Shape: []int{2}, Data: []float32{0.25, -0.75}},
		{Name: "scalar", Shape: []int{}, Data: []float32{42}},
		{Name: "empty", Shape: []int{0, 5}, Data: []float32{}},
		{Name: "fc.weight", Shape: []int{3, 2}, Data: []float32{1, 2, 3, 4, 5, 6}},
	}
}

func encode(t testing.TB, tensors []Tensor, meta map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Encode(&b, tensors, meta); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return b.Bytes()
}

// maxDiff returns the largest absolute difference between two equal-length slices, so a
// failing comparison says how far off it was.
func maxDiff(a, b []float32) float64 {
	var m float64
	for i := range a {
		if a[i] == b[i] { // also covers matching infinities
			continue
		}
		m = math.Max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}

func TestRoundTrip(t *testing.T) {
	in := sample()
	meta := map[string]string{"format": "pt", "note": "héllo \"quoted\"\n"}
	raw := encode(t, in, meta)
	hlen := binary.LittleEndian.Uint64(raw)
	if hlen%8 != 0 {
		t.Errorf("header length %d is not padded to 8 bytes", hlen)
	}
	f, err := Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if diff := cmp.Diff(meta, f.Metadata); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	// Empty tensors share an offset with a neighbour, so only non-empty order is fixed
	// by the file; compare by name.
	if len(f.Tensors) != len(in) {
		t.Fatalf("got %d tensors, want %d", len(f.Tensors), len(in))
	}
	for _, want := range in {
		got, ok := f.Get(want.Name)
		if !ok {
			t.Errorf("tensor %q missing", want.Name)
			continue
		}
		if !cmp.Equal(got.Shape, want.Shape, cmpopts.EquateEmpty()) {
			t.Errorf("%s: shape %v, want %v", want.Name, got.Shape, want.Shape)
		}
		if len(got.Data) != len(want.Data) {
			t.Errorf("%s: %d values, want %d", want.Name, len(got.Data), len(want.Data))
			continue
		}
		for i := range want.Data {
			if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
				t.Errorf("%s: values differ, largest difference %g (first at %d: %g vs %g)",
					want.Name, maxDiff(got.Data, want.Data), i, got.Data[i], want.Data[i])
				break
			}
		}
	}
	// The scalar must be written with shape [] (not null), which Python reads as a 0-d tensor.
	var header map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+hlen], &header); err != nil {
		t.Fatal(err)
	}
	var e entry
	json.Unmarshal(header["scalar"], &e)
	if e.Shape == nil || len(e.Shape) != 0 {
		t.Errorf("scalar header entry %s, want shape []", header["scalar"])
	}
	// Non-empty tensors come back in file (offset) order.
	var names []string
	for _, tt := range f.Tensors {
		if len(tt.Data) > 0 {
			names = append(names, tt.Name)
		}
	}
	if want := []string{"conv1.weight", "conv1.bias", "scalar", "fc.weight"}; !cmp.Equal(names, want) {
		t.Errorf("order %v, want %v", names, want)
	}
}

func TestNilShapeIsScalar(t *testing.T) {
	f, err := Decode(bytes.NewReader(encode(t, []Tensor{{Name: "s", Data: []float32{3}}}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata != nil {
		t.Errorf("metadata %v, want none", f.Metadata)
	}
	if s, _ := f.Get("s"); len(s.Shape) != 0 || len(s.Data) != 1 || s.Data[0] != 3 {
		t.Errorf("got %+v", s)
	}
}

func TestEncodeErrors(t *testing.T) {
	cases := []struct {
		name    string
		tensors []Tensor
		want    string
	}{
		{"reserved", []Tensor{{Name: "__metadata__", Shape: []int{1}, Data: []float32{1}}}, "reserved"},
		{"duplicate", []Tensor{{Name: "a", Shape: []int{1}, Data: []float32{1}}, {Name: "a", Shape: []int{1}, Data: []float32{1}}}, "duplicate"},
		{"shape", []Tensor{{Name: "a", Shape: []int{2, 2}, Data: []float32{1}}}, "shape"},
		{"negative", []Tensor{{Name: "a", Shape: []int{-1}, Data: []float32{}}}, "shape"},
	}
	for _, c := range cases {
		err := Encode(&bytes.Buffer{}, c.tensors, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// Every proper prefix of a valid file must fail cleanly: a checkpoint cut off by a full
// disk or a killed copy must never load as a smaller, valid-looking one.
func TestTruncatedEveryPrefix(t *testing.T) {
	raw := encode(t, sample(), map[string]string{"k": "v"})
	for n := 0; n < len(raw); n++ {
		f, err := func() (f *File, err error) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("prefix %d/%d: panic %v", n, len(raw), r)
				}
			}()
			return Decode(bytes.NewReader(raw[:n]))
		}()
		if err == nil {
			t.Fatalf("prefix %d/%d decoded without error (%d tensors)", n, len(raw), len(f.Tensors))
		}
		if n > 8+int(binary.LittleEndian.Uint64(raw)) && !strings.Contains(err.Error(), "truncated") {
			t.Errorf("prefix %d: error %q does not say truncated", n, err)
		}
	}
}

func TestCorruptHeaderLength(t *testing.T) {
	raw := encode(t, sample(), nil)
	for _, hlen := range []uint64{0, maxHeader + 1, math.MaxUint64, uint64(len(raw))} {
		bad := append([]byte(nil), raw...)
		binary.LittleEndian.PutUint64(bad, hlen)
		_, err := Decode(bytes.NewReader(bad))
		if err == nil {
			t.Errorf("header length %d: no error", hlen)
		}
	}
	// A header length a little short or long can still cover parseable JSON (the header
	// is padded with spaces), leaving every value shifted: it must fail, not decode.
	pad := []byte(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}    `)
	padded := rawFile(string(pad), []byte{1, 2, 3, 4})
	for _, delta := range []int{-1, -2, +1, +2} {
		bad := append([]byte(nil), padded...)
		binary.LittleEndian.PutUint64(bad, uint64(len(pad)+delta))
		if f, err := Decode(bytes.NewReader(bad)); err == nil {
			t.Errorf("header length off by %d decoded: %+v", delta, f.Tensors)
		}
	}
}

func TestBadHeaders(t *testing.T) {
	four := make([]byte, 16)
	cases := []struct {
		name, header string
		data         []byte
		want         string
	}{
		{"not json", `{"a":`, nil, "not JSON"},
		{"gap", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`, four, "offsets"},
		{"overlap", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, four, "offsets"},
		{"size mismatch", `{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, four, "offsets"},
		{"negative dim", `{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,0]}}`, nil, "offsets"},
		{"overflowing shape", `{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil, "offsets"},
		{"huge tensor", `{"a":{"dtype":"F32","shape":[1000000000000000],"data_offsets":[0,4000000000000000]}}`, four, "truncated"},
		{"trailing bytes", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, four, "after the last tensor"},
		{"past end", `{"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}}`, four, "truncated"},
		{"dtype", `{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, four, "unsupported dtype"},
		{"metadata not strings", `{"__metadata__":{"a":1}}`, nil, "metadata"},
		{"entry not object", `{"a":[1,2]}`, nil, `tensor "a"`},
	}
	for _, c := range cases {
		_, err := Decode(bytes.NewReader(rawFile(c.header, c.data)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// Files written by PyTorch/numpy in other dtypes are converted to float32 on read.
func TestForeignDTypes(t *testing.T) {
	var data []byte
	// F16: 1.0, -2.0, 65504 (max), 2^-24 (smallest subnormal), +Inf, -0
	for _, h := range []uint16{0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x8000} {
		data = binary.LittleEndian.AppendUint16(data, h)
	}
	// BF16: the top half of the float32 bits: 1.0, -3.0, 1e10 truncated
	bf := []float32{1, -3, math.Float32frombits(math.Float32bits(1e10) &^ 0xffff)}
	for _, v := range bf {
		data = binary.LittleEndian.AppendUint16(data, uint16(math.Float32bits(v)>>16))
	}
	// I64: labels, including a negative and 2^40
	for _, v := range []int64{0, 7, -3, 1 << 40} {
		data = binary.LittleEndian.AppendUint64(data, uint64(v))
	}
	// I32
	for _, v := range []int32{-1, 999} {
		data = binary.LittleEndian.AppendUint32(data, uint32(v))
	}
	header := `{"h":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},` +
		`"b":{"dtype":"BF16","shape":[3],"data_offsets":[12,18]},` +
		`"l":{"dtype":"I64","shape":[4],"data_offsets":[18,50]},` +
		`"i":{"dtype":"I32","shape":[2],"data_offsets":[50,58]},` +
		`"__metadata__":{"format":"pt"}}`
	f, err := Decode(bytes.NewReader(rawFile(header, data)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]float32{
		"h": {1, -2, 65504, float32(math.Ldexp(1, -24)), float32(math.Inf(1)), float32(math.Copysign(0, -1))},
		"b": bf,
		"l": {0, 7, -3, 1 << 40},
		"i": {-1, 999},
	}
	for name, w := range want {
		got, ok := f.Get(name)
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if len(got.Data) != len(w) {
			t.Errorf("%s: %d values, want %d", name, len(got.Data), len(w))
			continue
		}
		for i := range w {
			if math.Float32bits(got.Data[i]) != math.Float32bits(w[i]) {
				t.Errorf("%s: got %v, want %v (largest difference %g)", name, got.Data, w, maxDiff(got.Data, w))
				break
			}
		}
	}
	if h, _ := f.Get("h"); !cmp.Equal(h.Shape, []int{2, 3}) {
		t.Errorf("h shape %v", h.Shape)
	}
	// F16 NaN stays NaN.
	nan := rawFile(`{"n":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}`, []byte{0x01, 0x7e})
	if g, err := Decode(bytes.NewReader(nan)); err != nil || !math.IsNaN(float64(g.Tensors[0].Data[0])) {
		t.Errorf("F16 NaN: %v, %v", g, err)
	}
}

func TestEmptyFile(t *testing.T) {
	f, err := Decode(bytes.NewReader(encode(t, nil, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != 0 {
		t.Errorf("got %d tensors", len(f.Tensors))
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	if err := WriteFile(path, sample(), map[string]string{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	if names := listDir(t, dir); !cmp.Equal(names, []string{"model.safetensors"}) {
		t.Errorf("after success the folder holds %v (temporary file left behind?)", names)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v (%v), want -rw-r--r--", fi.Mode(), err)
	}
	before, _ := os.ReadFile(path)

	// An encode error (bad shape) must leave the old file byte for byte, and no temp file.
	bad := []Tensor{{Name: "x", Shape: []int{3}, Data: []float32{1}}}
	if err := WriteFile(path, bad, nil); err == nil {
		t.Fatal("WriteFile with a bad tensor succeeded")
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("a failed WriteFile changed the existing file")
	}
	if names := listDir(t, dir); !cmp.Equal(names, []string{"model.safetensors"}) {
		t.Errorf("after failure the folder holds %v", names)
	}

	// Overwrite with new content, then read it back through ReadFile.
	if err := WriteFile(path, sample()[1:2], nil); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != 1 || f.Tensors[0].Name != "conv1.bias" {
		t.Errorf("overwritten file holds %+v", f.Tensors)
	}

	// A relative path in the working folder .
	t.Chdir(dir)
	if err := WriteFile("rel.safetensors", sample()[:1], nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile("rel.safetensors"); err != nil {
		t.Fatal(err)
	}
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadFile(filepath.Join(dir, "missing"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
	path := filepath.Join(dir, "cut.safetensors")
	raw := encode(t, sample(), nil)
	os.WriteFile(path, raw[:len(raw)-3], 0o644)
	_, err = ReadFile(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated file: %v, want the path and 'truncated'", err)
	}
}

// A header that claims more data than the file holds is refused before any tensor
// is allocated: a 16-byte file claiming 2 GB costs kilobytes, not gigabytes.
func TestHugeClaimRefusedCheaply(t *testing.T) {
	raw := rawFile(`{"w":{"dtype":"F32","shape":[500000000],"data_offsets":[0,2000000000]}}`, make([]byte, 16))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Decode(bytes.NewReader(raw))
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("a 2 GB claim in a %d-byte file: %v, want 'truncated'", len(raw), err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("refusing it allocated %d bytes", grew)
	}
}

// Decoding arbitrary bytes never panics and never allocates more than a small
// multiple of the input: the header is checked against the data before any tensor
// is allocated, and a 16-bit tensor widens to float32 at most twice its bytes.
func FuzzDecode(f *testing.F) {
	f.Add(encode(f, []Tensor{{Name: "w", Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}}}, map[string]string{"k": "v"}))
	f.Add(rawFile(`{"w":{"dtype":"F32","shape":[500000000],"data_offsets":[0,2000000000]}}`, make([]byte, 16)))
	f.Add(rawFile(`{"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Fuzz(func(t *testing.T, b []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		file, err := Decode(bytes.NewReader(b))
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > uint64(16*len(b))+4<<20 {
			t.Fatalf("%d input bytes allocated %d", len(b), grew)
		}
		if err != nil {
			return
		}
		for _, x := range file.Tensors {
			if n := numel(x.Shape); n != len(x.Data) {
				t.Fatalf("%s: shape %v but %d values", x.Name, x.Shape, len(x.Data))
			}
		}
	})
}
