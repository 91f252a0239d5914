// Package safetensors reads and writes the safetensors format (an 8-byte little-endian
// header length, a JSON header, then raw little-endian tensor bytes), which Python's
// safetensors and PyTorch read directly. Only float32 tensors are written; float32,
// float16, bfloat16, int32 and int64 are read (converted to float32).
package safetensors

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
)

// Tensor is a named float32 array with its shape.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// File is the content of a safetensors file.
type File struct {
	Tensors  []Tensor // in file order
	Metadata map[string]string
}

// Get returns the named tensor.
func (f *File) Get(name string) (Tensor, bool) {
	for _, t := range f.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return Tensor{}, false
}

type entry struct {
	DType   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// maxHeader bounds the JSON header so a corrupt length cannot ask for gigabytes.
const maxHeader = 100 << 20

// Encode writes tensors and metadata to w.
func Encode(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	var off int64
	for _, t := range tensors {
		if t.Name == "__metadata__" {
			return errors.New("safetensors: tensor name __metadata__ is reserved")
		}
		if _, dup := header[t.Name]; dup {
			return fmt.Errorf("safetensors: duplicate tensor %q", t.Name)
		}
		if n := numel(t.Shape); n != len(t.Data) {
			return fmt.Errorf("safetensors: tensor %q has shape %v (%d values) but %d values", t.Name, t.Shape, n, len(t.Data))
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		size := int64(4 * len(t.Data))
		header[t.Name] = entry{DType: "F32", Shape: shape, Offsets: [2]int64{off, off + size}}
		off += size
	}
	js, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(js)%8 != 0 { // the format pads the header with spaces to 8 bytes
		js = append(js, ' ')
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if err := binary.Write(bw, binary.LittleEndian, uint64(len(js))); err != nil {
		return err
	}
	if _, err := bw.Write(js); err != nil {
		return err
	}
	buf := make([]byte, 0, 1<<16)
	for _, t := range tensors {
		for i, v := range t.Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) == cap(buf) || i == len(t.Data)-1 {
				if _, err := bw.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
	}
	return bw.Flush()
}

// Decode reads a whole safetensors file from r.
func Decode(r io.Reader) (*File, error) {
	var hlen uint64
	if err := binary.Read(r, binary.LittleEndian, &hlen); err != nil {
		return nil, fmt.Errorf("safetensors: reading header length: %w", truncated(err))
	}
	if hlen == 0 || hlen > maxHeader {
		return nil, fmt.Errorf("safetensors: header length %d is not plausible (corrupt or not a safetensors file)", hlen)
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return nil, fmt.Errorf("safetensors: reading header: %w", truncated(err))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hb, &raw); err != nil {
		return nil, fmt.Errorf("safetensors: header is not JSON: %w", err)
	}
	f := &File{}
	type item struct {
		name string
		e    entry
	}
	var items []item
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &f.Metadata); err != nil {
				return nil, fmt.Errorf("safetensors: metadata: %w", err)
			}
			continue
		}
		var e entry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
		}
		items = append(items, item{name, e})
	}
	// Empty tensors share an offset with their neighbour; the name breaks the tie so the
	// order does not depend on Go's map iteration.
	sort.Slice(items, func(i, j int) bool {
		if items[i].e.Offsets[0] != items[j].e.Offsets[0] {
			return items[i].e.Offsets[0] < items[j].e.Offsets[0]
		}
		return items[i].name < items[j].name
	})
	var pos int64
	for _, it := range items {
		e := it.e
		width, ok := map[string]int64{"F32": 4, "F16": 2, "BF16": 2, "I32": 4, "I64": 8}[e.DType]
		if !ok {
			return nil, fmt.Errorf("safetensors: tensor %q has unsupported dtype %s", it.name, e.DType)
		}
		n := numel(e.Shape)
		if n < 0 || e.Offsets[0] != pos || e.Offsets[1]-e.Offsets[0] != int64(n)*width {
			return nil, fmt.Errorf("safetensors: tensor %q: offsets %v do not match shape %v of %s (corrupt file)", it.name, e.Offsets, e.Shape, e.DType)
		}
		b, err := readN(r, e.Offsets[1]-e.Offsets[0])
		if err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %w", it.name, truncated(err))
		}
		pos = e.Offsets[1]
		data := make([]float32, n)
		for i := range data {
			switch e.DType {
			case "F32":
				data[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			case "F16":
				data[i] = halfToFloat(binary.LittleEndian.Uint16(b[2*i:]))
			case "BF16":
				data[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
			case "I32":
				data[i] = float32(int32(binary.LittleEndian.Uint32(b[4*i:])))
			case "I64":
				data[i] = float32(int64(binary.LittleEndian.Uint64(b[8*i:])))
			}
		}
		f.Tensors = append(f.Tensors, Tensor{Name: it.name, Shape: e.Shape, Data: data})
	}
	// The format indexes every data byte (the reference Rust reader rejects leftovers).
	// Checking matters: a header length that is off by a few bytes can still leave
	// parseable JSON (the padding is spaces) and would shift every value silently.
	var one [1]byte
	if n, _ := io.ReadFull(r, one[:]); n > 0 {
		return nil, errors.New("safetensors: data continues after the last tensor (corrupt file)")
	}
	return f, nil
}

// ReadFile decodes the file at path.
func ReadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	f, err := Decode(bufio.NewReaderSize(fh, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// WriteFile writes atomically: to a temporary file in the same folder, synced, then
// renamed over path, so a crash leaves either the old file or the new one.
func WriteFile(path string, tensors []Tensor, metadata map[string]string) error {
	dir, base := splitPath(path)
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := Encode(tmp, tensors, metadata); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	// CreateTemp makes the file 0600; a checkpoint is as shareable as any file os.Create makes.
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func splitPath(path string) (dir, base string) {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			return path[:i+1], path[i+1:]
		}
	}
	return ".", path
}

// maxElems bounds a tensor's element count so that count*8 bytes cannot overflow int64;
// a corrupt shape such as [2^32, 2^32] would otherwise wrap to 0 and pass the offset check.
const maxElems = math.MaxInt64 / 8

// numel is the element count of shape, or -1 for a negative dimension or an
// implausibly large product.
func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return -1
		}
		if d != 0 && n > maxElems/d {
			return -1
		}
		n *= d
	}
	return n
}

// readChunk is the most readN allocates before the bytes are seen to exist.
const readChunk = 64 << 20

// readN reads exactly n bytes. It grows the buffer as data arrives so that a corrupt
// header claiming terabytes fails with "truncated" instead of exhausting memory.
func readN(r io.Reader, n int64) ([]byte, error) {
	if n <= readChunk {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		return b, err
	}
	b := make([]byte, 0, readChunk)
	for int64(len(b)) < n {
		k := min(n-int64(len(b)), readChunk)
		start := len(b)
		b = append(b, make([]byte, k)...)
		if _, err := io.ReadFull(r, b[start:]); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func truncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("file is truncated")
	}
	return err
}

func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := int32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		f := float32(mant) / 1024 / 16384 // subnormal: mant * 2^-24
		if sign != 0 {
			f = -f
		}
		return f
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | uint32(exp-15+127)<<23 | mant<<13)
}
