package torchload

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
)

// storageRef is a persistent id as torch.save writes it:
//
//	zip:    ('storage', torch.FloatStorage, key, location, numel)
//	legacy: ('storage', torch.FloatStorage, key, location, numel, view_metadata)
//
// where view_metadata, from PyTorch before 0.4, is None or (view_key, offset, size)
// and makes this a window of another storage.
type storageRef struct {
	typ      string // "FloatStorage", ...
	key      string
	location string // "cpu", "cuda:0": irrelevant, the bytes are the same
	numel    int64
	view     *storageRef // the root storage when this is a legacy view
	offset   int64       // of this view in view's elements
	data     []float32   // the storage's values, filled in after the pickle is read
	users    int         // tensors of the state_dict that read this root storage
}

// dtypes maps torch's storage class names to element sizes and decoders.
var dtypes = map[string]struct {
	size   int
	decode func(b []byte) float32
}{
	"FloatStorage":    {4, func(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }},
	"HalfStorage":     {2, func(b []byte) float32 { return halfToFloat(binary.LittleEndian.Uint16(b)) }},
	"BFloat16Storage": {2, func(b []byte) float32 { return math.Float32frombits(uint32(binary.LittleEndian.Uint16(b)) << 16) }},
	"DoubleStorage":   {8, func(b []byte) float32 { return float32(math.Float64frombits(binary.LittleEndian.Uint64(b))) }},
	// Integer tensors turn up in state_dicts as counters (BatchNorm's
	// num_batches_tracked); converting them keeps such files readable.
	"LongStorage":  {8, func(b []byte) float32 { return float32(int64(binary.LittleEndian.Uint64(b))) }},
	"IntStorage":   {4, func(b []byte) float32 { return float32(int32(binary.LittleEndian.Uint32(b))) }},
	"ShortStorage": {2, func(b []byte) float32 { return float32(int16(binary.LittleEndian.Uint16(b))) }},
	"CharStorage":  {1, func(b []byte) float32 { return float32(int8(b[0])) }},
	"ByteStorage":  {1, func(b []byte) float32 { return float32(b[0]) }},
	"BoolStorage": {1, func(b []byte) float32 {
		if b[0] != 0 {
			return 1
		}
		return 0
	}},
}

// maxNumel bounds element counts so that products and byte sizes cannot overflow.
const maxNumel = math.MaxInt64 / 16

// newStorageRef checks a persistent id. known holds the storages seen so far by
// key: tensors sharing a storage name the same key and get the same *storageRef.
func newStorageRef(pid any, legacy bool, known map[string]*storageRef) (*storageRef, error) {
	t, ok := pid.(pyTuple)
	if !ok || len(t) < 5 {
		return nil, fmt.Errorf("persistent id %s is not a storage tuple", typeName(pid))
	}
	if tag, _ := t[0].(string); tag != "storage" {
		return nil, fmt.Errorf("persistent id of kind %v, want 'storage'", t[0])
	}
	var typ string
	switch c := t[1].(type) {
	case pyGlobal:
		if c.module != "torch" {
			return nil, fmt.Errorf("storage type %s is not a torch storage", c)
		}
		typ = c.name
	case string: // some writers store the name rather than the class
		typ = c
	default:
		return nil, fmt.Errorf("storage type is %s", typeName(t[1]))
	}
	if typ == "UntypedStorage" {
		typ = "ByteStorage" // an untyped storage's elements are bytes
	}
	if _, ok := dtypes[typ]; !ok {
		return nil, fmt.Errorf("tensor type torch.%s is not supported (want float32, float16, bfloat16, float64 or integers)", typ)
	}
	key, ok := t[2].(string)
	if !ok {
		return nil, fmt.Errorf("storage key is %s, not a string", typeName(t[2]))
	}
	loc, _ := t[3].(string)
	numel, ok := t[4].(int64)
	if !ok || numel < 0 || numel > maxNumel {
		return nil, fmt.Errorf("storage %s: element count %v is not plausible", key, t[4])
	}
	root := &storageRef{typ: typ, key: key, location: loc, numel: numel}
	if old, ok := known[key]; ok {
		if old.typ != typ || old.numel != numel {
			return nil, fmt.Errorf("storage %s is %s of %d elements and also %s of %d", key, old.typ, old.numel, typ, numel)
		}
		root = old
	} else {
		known[key] = root
	}
	if legacy && len(t) >= 6 && t[5] != nil {
		vm, ok := t[5].(pyTuple)
		if !ok || len(vm) != 3 {
			return nil, fmt.Errorf("storage %s: view metadata %s is not (key, offset, size)", key, typeName(t[5]))
		}
		vkey, ok1 := vm[0].(string)
		off, ok2 := vm[1].(int64)
		size, ok3 := vm[2].(int64)
		if !ok1 || !ok2 || !ok3 || off < 0 || size < 0 || off > numel || size > numel-off {
			return nil, fmt.Errorf("storage %s: view metadata %v out of range", key, vm)
		}
		_ = vkey // the view's own key only names it in the pickle's memo
		return &storageRef{typ: typ, key: key, location: loc, numel: size, view: root, offset: off}, nil
	}
	return root, nil
}

// tensorRef is a tensor as _rebuild_tensor_v2 describes it: a window of a
// storage with an offset and strides (in elements).
type tensorRef struct {
	storage *storageRef
	offset  int64
	size    []int64
	stride  []int64
}

// rebuildTensor reads _rebuild_tensor_v2(storage, storage_offset, size, stride,
// requires_grad, backward_hooks[, metadata]) or _rebuild_tensor(storage,
// storage_offset, size, stride).
func rebuildTensor(args []any) (*tensorRef, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("%d arguments, want at least 4", len(args))
	}
	st, ok := args[0].(*storageRef)
	if !ok {
		return nil, fmt.Errorf("storage argument is %s", typeName(args[0]))
	}
	off, ok := args[1].(int64)
	if !ok || off < 0 {
		return nil, fmt.Errorf("storage offset %v", args[1])
	}
	size, err := intTuple(args[2])
	if err != nil {
		return nil, fmt.Errorf("size: %w", err)
	}
	stride, err := intTuple(args[3])
	if err != nil {
		return nil, fmt.Errorf("stride: %w", err)
	}
	if len(size) != len(stride) {
		return nil, fmt.Errorf("size %v and stride %v differ in length", size, stride)
	}
	return &tensorRef{storage: st, offset: off, size: size, stride: stride}, nil
}

func intTuple(v any) ([]int64, error) {
	t, ok := v.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("%s, not a tuple", typeName(v))
	}
	if len(t) > 64 {
		return nil, fmt.Errorf("%d dimensions", len(t))
	}
	out := make([]int64, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok {
			if _, big := x.(*big.Int); big {
				return nil, errors.New("integer out of range")
			}
			return nil, fmt.Errorf("element %d is %s", i, typeName(x))
		}
		if n < 0 || n > maxNumel {
			return nil, fmt.Errorf("element %d = %d out of range", i, n)
		}
		out[i] = n
	}
	return out, nil
}

// decodeStorage converts a storage's raw little-endian bytes to float32.
func decodeStorage(s *storageRef, raw []byte) error {
	dt := dtypes[s.typ]
	if int64(len(raw)) < s.numel*int64(dt.size) {
		return fmt.Errorf("storage %s holds %d bytes, %d %s elements need %d: %w",
			s.key, len(raw), s.numel, s.typ, s.numel*int64(dt.size), errTruncated)
	}
	s.data = make([]float32, s.numel)
	for i := range s.data {
		s.data[i] = dt.decode(raw[i*dt.size:])
	}
	return nil
}

// materialize gathers t's elements, row-major, from its (decoded) storage,
// refusing to allocate more than budget elements.
func (t *tensorRef) materialize(budget int64) ([]int, []float32, error) {
	st, base := t.storage, t.offset
	if st.view != nil {
		st, base = st.view, base+t.storage.offset
	}
	if st.data == nil && st.numel > 0 {
		return nil, nil, fmt.Errorf("storage %s was never read", st.key)
	}
	limit := t.storage.numel // a view may not reach past its own window
	if t.storage.view != nil {
		limit += t.storage.offset
	} else {
		limit = st.numel
	}
	shape := make([]int, len(t.size))
	numel := int64(1)
	last := base // the largest index touched
	for i, n := range t.size {
		shape[i] = int(n)
		if n != 0 && numel > maxNumel/n {
			return nil, nil, fmt.Errorf("shape %v is too large", t.size)
		}
		numel *= n
	}
	if numel == 0 {
		return shape, []float32{}, nil
	}
	for i, n := range t.size {
		if t.stride[i] != 0 && n-1 > (maxNumel-last)/t.stride[i] {
			return nil, nil, fmt.Errorf("shape %v with strides %v overflows", t.size, t.stride)
		}
		last += (n - 1) * t.stride[i]
	}
	if last >= limit {
		return nil, nil, fmt.Errorf("shape %v, strides %v at offset %d reach element %d of a %d-element storage",
			t.size, t.stride, t.offset, last, t.storage.numel)
	}
	if numel > budget {
		return nil, nil, fmt.Errorf("shape %v: %d elements is more than the file can hold (corrupt file)", t.size, numel)
	}
	if t.storage.view == nil && t.offset == 0 && numel == st.numel && t.contiguous() && st.users == 1 {
		// The common case (a weight that owns its storage): hand over the decoded
		// storage instead of copying it, which halves peak memory for large files.
		return shape, st.data, nil
	}
	out := make([]float32, numel)
	src := st.data
	nd := len(t.size)
	if nd == 0 {
		out[0] = src[base]
		return shape, out, nil
	}
	// Walk the index like an odometer; the last dimension is the inner loop.
	idx := make([]int64, nd)
	inner, innerStride := t.size[nd-1], t.stride[nd-1]
	o := 0
	pos := base
	for {
		p := pos
		for j := int64(0); j < inner; j++ {
			out[o] = src[p]
			o++
			p += innerStride
		}
		d := nd - 2
		for ; d >= 0; d-- {
			idx[d]++
			pos += t.stride[d]
			if idx[d] < t.size[d] {
				break
			}
			pos -= idx[d] * t.stride[d]
			idx[d] = 0
		}
		if d < 0 {
			return shape, out, nil
		}
	}
}

// contiguous reports whether t's strides are row-major for its size (dimensions
// of size 1 may have any stride, as in PyTorch).
func (t *tensorRef) contiguous() bool {
	expect := int64(1)
	for i := len(t.size) - 1; i >= 0; i-- {
		if t.size[i] != 1 && t.stride[i] != expect {
			return false
		}
		expect *= t.size[i]
	}
	return true
}

func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		f := float32(mant) / (1 << 24) // subnormal: mant * 2^-24, exact in float32
		if sign != 0 {
			f = -f
		}
		return f
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}
