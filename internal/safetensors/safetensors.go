// Package safetensors reads and writes the safetensors format (an 8-byte little-endian
// header length, a JSON header, then raw little-endian tensor bytes), which Python's
// safetensors and PyTorch read directly. Only float32 tensors are written; float32,
// float16, bfloat16, int32 and int64 are read (converted to float32).
package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"unsafe"

	"alexnet/internal/atomicfile"
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

// Decode reads a whole safetensors file from r. It reads r to the end first, so that
// no tensor is allocated at a size the header claims before the bytes are seen to
// exist; ReadFile and a file's own size avoid that copy.
func Decode(r io.Reader) (*File, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return decodeAll(bytes.NewReader(raw), int64(len(raw)))
}

// decodeAll decodes size bytes from r into new tensors.
func decodeAll(r io.Reader, size int64) (*File, error) {
	f := &File{}
	var err error
	f.Metadata, err = DecodeFunc(r, size, nil, func(name string, shape []int) (Dest, error) {
		data := make([]float32, numel(shape))
		return Dest{Data: data, Done: func() error {
			f.Tensors = append(f.Tensors, Tensor{Name: name, Shape: shape, Data: data})
			return nil
		}}, nil
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// ErrStop, returned by DecodeFunc's header function, stops after the header.
var ErrStop = errors.New("safetensors: stop after the header")

// Dest is where DecodeFunc puts one tensor: Data, of exactly the tensor's element
// count (nil: skip the tensor), then Done, if set, once Data holds the values.
type Dest struct {
	Data []float32
	Done func() error
}

// DecodeFunc reads a safetensors file of size bytes from r, asking place where each
// tensor goes, in file order, and returns the metadata. Reading into the caller's
// memory (a backend's buffer) keeps a checkpoint from being held twice; skipped
// tensors (momentum, for inference) cost no memory. The header must account for
// exactly size bytes, checked before place is first called, so a corrupt header
// cannot make anyone allocate what the file does not hold.
//
// header, if set, sees the metadata first, once the header is checked; returning
// ErrStop from it ends the decoding there, successfully, having read only the header.
func DecodeFunc(r io.Reader, size int64, header func(meta map[string]string) error, place func(name string, shape []int) (Dest, error)) (map[string]string, error) {
	var hlen uint64
	if err := binary.Read(r, binary.LittleEndian, &hlen); err != nil {
		return nil, fmt.Errorf("safetensors: reading header length: %w", truncated(err))
	}
	if hlen == 0 || hlen > maxHeader {
		return nil, fmt.Errorf("safetensors: header length %d is not plausible (corrupt or not a safetensors file)", hlen)
	}
	if int64(hlen) > size-8 { // before allocating it: the file must hold the header
		return nil, fmt.Errorf("safetensors: the header claims %d bytes, the file holds %d: %w", hlen, size-8, errors.New("file is truncated"))
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return nil, fmt.Errorf("safetensors: reading header: %w", truncated(err))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hb, &raw); err != nil {
		return nil, fmt.Errorf("safetensors: header is not JSON: %w", err)
	}
	var metadata map[string]string
	type item struct {
		name string
		e    entry
	}
	var items []item
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &metadata); err != nil {
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
	// Every entry is checked, and the data's end against the file's, before any
	// tensor is placed.
	widths := make([]int64, len(items))
	var pos int64
	for i, it := range items {
		e := it.e
		width, ok := map[string]int64{"F32": 4, "F16": 2, "BF16": 2, "I32": 4, "I64": 8}[e.DType]
		if !ok {
			return nil, fmt.Errorf("safetensors: tensor %q has unsupported dtype %s", it.name, e.DType)
		}
		n := numel(e.Shape)
		if n < 0 || e.Offsets[0] != pos || e.Offsets[1]-e.Offsets[0] != int64(n)*width {
			return nil, fmt.Errorf("safetensors: tensor %q: offsets %v do not match shape %v of %s (corrupt file)", it.name, e.Offsets, e.Shape, e.DType)
		}
		widths[i], pos = width, e.Offsets[1]
	}
	if want := 8 + int64(hlen) + pos; want != size {
		if want > size {
			return nil, fmt.Errorf("safetensors: the header indexes %d bytes of data, the file holds %d: %w", pos, size-8-int64(hlen), errors.New("file is truncated"))
		}
		return nil, errors.New("safetensors: data continues after the last tensor (corrupt file)")
	}
	if header != nil {
		if err := header(metadata); err != nil {
			if errors.Is(err, ErrStop) {
				return metadata, nil
			}
			return nil, err
		}
	}
	for i, it := range items {
		e, width, n := it.e, widths[i], numel(it.e.Shape)
		dst, err := place(it.name, e.Shape)
		if err != nil {
			return nil, err
		}
		if dst.Data == nil {
			if _, err := io.CopyN(io.Discard, r, int64(n)*width); err != nil {
				return nil, fmt.Errorf("safetensors: tensor %q: %w", it.name, truncated(err))
			}
			continue
		}
		if len(dst.Data) != n {
			return nil, fmt.Errorf("safetensors: tensor %q: %d values, given room for %d", it.name, n, len(dst.Data))
		}
		if err := readValues(r, e.DType, dst.Data); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %w", it.name, truncated(err))
		}
		if dst.Done != nil {
			if err := dst.Done(); err != nil {
				return nil, err
			}
		}
	}
	// The format indexes every data byte (the reference Rust reader rejects leftovers).
	// Checking matters: a header length that is off by a few bytes can still leave
	// parseable JSON (the padding is spaces) and would shift every value silently.
	var one [1]byte
	if n, _ := io.ReadFull(r, one[:]); n > 0 {
		return nil, errors.New("safetensors: data continues after the last tensor (corrupt file)")
	}
	return metadata, nil
}

// readValues reads len(data) values of dtype into data. Float32 goes straight into
// data's memory where the machine is little-endian (every platform Go and oneDNN
// share), without a byte buffer; the rest is converted a chunk at a time.
func readValues(r io.Reader, dtype string, data []float32) error {
	if dtype == "F32" && littleEndian && len(data) > 0 {
		_, err := io.ReadFull(r, unsafe.Slice((*byte)(unsafe.Pointer(&data[0])), 4*len(data)))
		return err
	}
	width := map[string]int{"F32": 4, "F16": 2, "BF16": 2, "I32": 4, "I64": 8}[dtype]
	chunk := make([]byte, min(len(data)*width, readChunk))
	for done := 0; done < len(data); {
		k := min(len(data)-done, len(chunk)/width)
		b := chunk[:k*width]
		if _, err := io.ReadFull(r, b); err != nil {
			return err
		}
		for i := range k {
			var v float32
			switch dtype {
			case "F32":
				v = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			case "F16":
				v = halfToFloat(binary.LittleEndian.Uint16(b[2*i:]))
			case "BF16":
				v = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
			case "I32":
				v = float32(int32(binary.LittleEndian.Uint32(b[4*i:])))
			case "I64":
				v = float32(int64(binary.LittleEndian.Uint64(b[8*i:])))
			}
			data[done+i] = v
		}
		done += k
	}
	return nil
}

// littleEndian is whether float32s in memory are laid out as the file stores them.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// ReadFile decodes the file at path.
func ReadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	f, err := decodeAll(bufio.NewReaderSize(fh, 1<<20), fi.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// WriteFile writes atomically (internal/atomicfile): to a temporary file in the same
// folder, synced, renamed over path, and the folder synced, so a crash leaves either
// the old file or the new one.
func WriteFile(path string, tensors []Tensor, metadata map[string]string) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error { return Encode(w, tensors, metadata) })
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

// readChunk is the largest buffer readValues converts through.
const readChunk = 64 << 20

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
