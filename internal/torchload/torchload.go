// Package torchload reads PyTorch state_dict files (.pth, .pt) without Python:
// both formats torch.save writes, the zip archive of PyTorch 1.6 and later and the
// older "legacy" stream (_use_new_zipfile_serialization=False), through a small
// pickle reader that interprets only what torch.save emits and never runs code.
//
// Tensors come back as float32 safetensors.Tensor values, in the file's order,
// with PyTorch's shapes. float16, bfloat16, float64 and integer tensors are
// converted; views (storage offsets, strides, transposes, storages shared by
// several tensors) are gathered into contiguous row-major arrays.
//
// It also maps torchvision's AlexNet names onto this project's
// (MapTorchvisionAlexNet).
package torchload

import (
	"archive/zip"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"

	"alexnet/internal/safetensors"
)

var (
	// ErrNotPyTorch is wrapped by the error for a file that is neither of
	// torch.save's formats (a safetensors file, a JPEG, a TorchScript archive...).
	ErrNotPyTorch = errors.New("not a PyTorch state_dict file")
	// ErrTruncated is wrapped by errors for files that end too early.
	ErrTruncated = errTruncated
)

// ReadFile reads the state_dict saved in a .pth/.pt file. Every error names the file.
// check is Read's.
func ReadFile(filename string, check ...func(name string, shape []int) error) ([]safetensors.Tensor, error) {
	f, err := os.Open(filename)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a folder, not a .pth file", filename)
	}
	ts, err := Read(f, st.Size(), check...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filename, err)
	}
	return ts, nil
}

// Decode reads a state_dict from the bytes of a .pth/.pt file.
func Decode(data []byte) ([]safetensors.Tensor, error) {
	return Read(bytes.NewReader(data), int64(len(data)))
}

// Read reads a state_dict from r, which holds size bytes.
//
// The state_dict is the saved object itself when it is a dict of tensors, or,
// for a training checkpoint (a dict of other things), its "state_dict",
// "model_state_dict", "model" or "net" entry.
//
// check, if given, sees every tensor's name and shape before any storage is read: a
// caller that knows the shapes it wants (MapTorchvisionAlexNet's) refuses a file
// whose tensor claims 500 M elements at the cost of its pickle, not of 2 GB
// inflated from a deflated member.
func Read(r io.ReaderAt, size int64, check ...func(name string, shape []int) error) ([]safetensors.Tensor, error) {
	var head [4]byte
	n, _ := r.ReadAt(head[:], 0)
	switch {
	case n == 4 && string(head[:]) == "PK\x03\x04":
		return readZip(r, size, check)
	case n >= 1 && head[0] == opProto:
		return readLegacy(r, size, check)
	}
	return nil, fmt.Errorf("%w: it starts with %q, neither a zip archive (PyTorch >= 1.6) nor a pickle (older PyTorch)",
		ErrNotPyTorch, head[:n])
}

// --- the zip format ---
//
//	<name>/data.pkl       the pickled object; tensors refer to storages by key
//	<name>/data/<key>     each storage's raw little-endian bytes
//	<name>/version        the format version
//	<name>/byteorder      "little" or "big" (PyTorch >= 2.1; absent means little)

func readZip(r io.ReaderAt, size int64, check []func(string, []int) error) ([]safetensors.Tensor, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, zip.ErrFormat) {
			return nil, fmt.Errorf("zip archive: %w (%v)", errTruncated, err)
		}
		return nil, fmt.Errorf("zip archive: %w", err)
	}
	files := map[string]*zip.File{}
	prefix := ""
	for _, f := range zr.File {
		files[f.Name] = f
		if strings.HasSuffix(f.Name, "/data.pkl") && strings.Count(f.Name, "/") == 1 {
			prefix = strings.TrimSuffix(f.Name, "data.pkl")
		}
	}
	if prefix == "" {
		return nil, fmt.Errorf("%w: a zip archive without <name>/data.pkl", ErrNotPyTorch)
	}
	if files[prefix+"constants.pkl"] != nil {
		return nil, fmt.Errorf("%w: a TorchScript archive (torch.jit.save); in Python, torch.save(model.state_dict(), path) instead", ErrNotPyTorch)
	}
	if f := files[prefix+"byteorder"]; f != nil {
		b, err := readZipFile(f, int64(min(f.UncompressedSize64, 16)))
		if err != nil {
			return nil, err
		}
		if s := strings.TrimSpace(string(b)); s != "little" {
			return nil, fmt.Errorf("byte order %q is not supported (only little-endian)", s)
		}
	}
	pkl := files[prefix+"data.pkl"]
	if pkl.UncompressedSize64 > maxPickleBytes {
		return nil, fmt.Errorf("data.pkl claims %d bytes (corrupt archive)", pkl.UncompressedSize64)
	}
	raw, err := readZipFile(pkl, int64(pkl.UncompressedSize64))
	if err != nil {
		return nil, err
	}
	known := map[string]*storageRef{}
	u := &unpickler{r: bufio.NewReader(bytes.NewReader(raw)), limit: int64(len(raw))}
	u.persID = func(pid any) (any, error) { return newStorageRef(pid, false, known) }
	obj, err := u.load()
	if err != nil {
		return nil, fmt.Errorf("data.pkl: %w", err)
	}
	names, tensors, err := stateDict(obj)
	if err != nil {
		return nil, err
	}
	if err := checkShapes(names, tensors, check); err != nil {
		return nil, err
	}
	// Read only the storages the state_dict uses (a checkpoint's optimizer
	// state can be as large as the weights). torch.save stores members
	// uncompressed; a deflated archive could inflate a kilobyte of zeros to a
	// megabyte, so what the storages may inflate to is bounded by the file.
	budget := 2*size + extraElems*4
	for _, t := range tensors {
		s := t.storage
		if s.view != nil {
			s = s.view
		}
		if s.data != nil || s.numel == 0 {
			continue
		}
		f := files[prefix+"data/"+s.key]
		if f == nil {
			return nil, fmt.Errorf("storage %s: %sdata/%s is missing from the archive: %w", s.key, prefix, s.key, errTruncated)
		}
		n := s.numel * int64(dtypes[s.typ].size)
		if budget -= n; budget < 0 {
			return nil, fmt.Errorf("storage %s: the storages add up to more than twice the file's %d bytes (a compressed archive, or a corrupt one; torch.save writes them uncompressed)", s.key, size)
		}
		b, err := readZipFile(f, n)
		if err != nil {
			return nil, err
		}
		if err := decodeStorage(s, b); err != nil {
			return nil, err
		}
	}
	return collect(names, tensors, size)
}

// readZipFile reads the first n bytes of an archive member (all of it for a
// storage record). The member's sizes come from its header, which a corrupt
// file can make up, so reading grows with the bytes that really arrive.
func readZipFile(f *zip.File, n int64) ([]byte, error) {
	if uint64(n) > f.UncompressedSize64 {
		return nil, fmt.Errorf("%s holds %d bytes, need %d: %w", f.Name, f.UncompressedSize64, n, errTruncated)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	defer rc.Close()
	b, err := readChunked(rc, uint64(n))
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = errTruncated
		}
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	return b, nil
}

// --- the legacy format ---
//
// Five consecutive pickles and the storages' bytes:
//
//	magic number 0x1950a86a20f9469cfc6c, protocol version 1001,
//	sys_info {protocol_version, little_endian, type_sizes},
//	the object (tensors refer to storages by key),
//	the list of storage keys,
//	then for each key: int64 element count (little-endian) and the raw elements.

var legacyMagic, _ = new(big.Int).SetString("1950a86a20f9469cfc6c", 16)

func readLegacy(r io.ReaderAt, size int64, check []func(string, []int) error) ([]safetensors.Tensor, error) {
	sr := io.NewSectionReader(r, 0, size)
	br := bufio.NewReaderSize(sr, 1<<20)
	u := &unpickler{r: br, limit: size}
	load := func(what string) (any, error) {
		u.stack, u.marks, u.memo = nil, nil, nil // each pickle has its own memo
		v, err := u.load()
		if err != nil {
			return nil, fmt.Errorf("legacy format, %s: %w", what, err)
		}
		return v, nil
	}
	magic, err := load("magic number")
	if err != nil {
		if !errors.Is(err, errTruncated) {
			err = fmt.Errorf("%w: a pickle, but not torch.save's (%v)", ErrNotPyTorch, err)
		}
		return nil, err
	}
	if m, ok := magic.(*big.Int); !ok || m.Cmp(legacyMagic) != 0 {
		return nil, fmt.Errorf("%w: a pickle that does not start with torch.save's magic number (a plain pickle of %s)",
			ErrNotPyTorch, typeName(magic))
	}
	proto, err := load("protocol version")
	if err != nil {
		return nil, err
	}
	if p, _ := proto.(int64); p != 1001 {
		return nil, fmt.Errorf("legacy format: protocol version %v is not supported (want 1001)", proto)
	}
	info, err := load("sys_info")
	if err != nil {
		return nil, err
	}
	if d, ok := info.(*pyDict); ok {
		if le, ok := d.get("little_endian"); ok && le != true {
			return nil, errors.New("legacy format: written on a big-endian machine, not supported")
		}
	}
	known := map[string]*storageRef{}
	u.persID = func(pid any) (any, error) { return newStorageRef(pid, true, known) }
	obj, err := load("object")
	if err != nil {
		return nil, err
	}
	u.persID = nil
	keysV, err := load("storage keys")
	if err != nil {
		return nil, err
	}
	keys, ok := keysV.(*pyList)
	if !ok {
		return nil, fmt.Errorf("legacy format: storage keys are %s, not a list", typeName(keysV))
	}
	names, tensors, err := stateDict(obj)
	if err != nil {
		return nil, err
	}
	if err := checkShapes(names, tensors, check); err != nil {
		return nil, err
	}
	// The storages follow in the keys' order, each as numel then bytes; the
	// bufio reader continues exactly where the last pickle's STOP was.
	var hdr [8]byte
	for _, kv := range keys.items {
		key, ok := kv.(string)
		if !ok {
			return nil, fmt.Errorf("legacy format: storage key is %s", typeName(kv))
		}
		s := known[key]
		if s == nil {
			return nil, fmt.Errorf("legacy format: storage %s is listed but no tensor uses it", key)
		}
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return nil, fmt.Errorf("legacy format: storage %s: %w", key, errTruncated)
		}
		n := int64(leUint64(hdr[:]))
		if n != s.numel {
			return nil, fmt.Errorf("legacy format: storage %s has %d elements, its tensors say %d (corrupt file)", key, n, s.numel)
		}
		b, err := readChunked(br, uint64(n)*uint64(dtypes[s.typ].size))
		if err != nil {
			return nil, fmt.Errorf("legacy format: storage %s: %w", key, errTruncated)
		}
		if err := decodeStorage(s, b); err != nil {
			return nil, err
		}
	}
	return collect(names, tensors, size)
}

func leUint64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// --- from the unpickled object to tensors ---

// checkpointKeys are where training scripts usually keep the model's state_dict.
var checkpointKeys = []string{"state_dict", "model_state_dict", "model", "net"}

// stateDict finds the dict of tensors in the saved object.
func stateDict(obj any) ([]string, []*tensorRef, error) {
	d, ok := obj.(*pyDict)
	if !ok {
		if o, ok := obj.(*pyObject); ok {
			// torch.save(model) pickles the module itself, which needs its Python class.
			return nil, nil, fmt.Errorf("the file holds a whole %s object, not a state_dict: in Python, torch.save(model.state_dict(), path)", o.class)
		}
		return nil, nil, fmt.Errorf("the file holds a %s, not a state_dict (a dict of tensors)", typeName(obj))
	}
	if !hasTensor(d) {
		for _, k := range checkpointKeys {
			if v, ok := d.get(k); ok {
				if sub, ok := v.(*pyDict); ok && hasTensor(sub) {
					d = sub
					break
				}
			}
		}
	}
	if !hasTensor(d) {
		return nil, nil, fmt.Errorf("no tensors in the saved dict (keys: %s)", keyList(d, 8))
	}
	names := make([]string, len(d.keys))
	tensors := make([]*tensorRef, len(d.keys))
	for i, k := range d.keys {
		name, ok := k.(string)
		if !ok {
			return nil, nil, fmt.Errorf("state_dict key %v is %s, not a string", k, typeName(k))
		}
		t, ok := d.vals[i].(*tensorRef)
		if !ok {
			v := d.vals[i]
			if o, ok := v.(*pyObject); ok && strings.HasPrefix(o.class.name, "_rebuild_") {
				return nil, nil, fmt.Errorf("state_dict entry %q: tensor kind %s is not supported (only dense tensors)", name, o.class)
			}
			return nil, nil, fmt.Errorf("state_dict entry %q is %s, not a tensor", name, typeName(v))
		}
		names[i], tensors[i] = name, t
	}
	return names, tensors, nil
}

// hasTensor reports whether d holds tensors, including kinds this package
// cannot read (quantized, sparse...), so that those get their own error.
func hasTensor(d *pyDict) bool {
	for _, v := range d.vals {
		switch t := v.(type) {
		case *tensorRef:
			return true
		case *pyObject:
			if strings.HasPrefix(t.class.module, "torch") && strings.HasPrefix(t.class.name, "_rebuild_") {
				return true
			}
		}
	}
	return false
}

func keyList(d *pyDict, n int) string {
	var parts []string
	for i, k := range d.keys {
		if i == n {
			parts = append(parts, fmt.Sprintf("... %d in all", len(d.keys)))
			break
		}
		parts = append(parts, fmt.Sprintf("%v", k))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// extraElems is how many more elements than the file has bytes collect may
// return: tensors that share a storage, or expand one with stride 0, are
// legitimate but small; a crafted file naming one storage a thousand times
// must not turn kilobytes into gigabytes.
const extraElems = 1 << 26

// collect gathers the tensors of a file of fileSize bytes.
func collect(names []string, tensors []*tensorRef, fileSize int64) ([]safetensors.Tensor, error) {
	out := make([]safetensors.Tensor, len(tensors))
	budget := fileSize + extraElems
	for _, t := range tensors {
		root := t.storage
		if root.view != nil {
			root = root.view
		}
		root.users++
	}
	for i, t := range tensors {
		shape, data, err := t.materialize(budget)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", names[i], err)
		}
		budget -= int64(len(data))
		out[i] = safetensors.Tensor{Name: names[i], Shape: shape, Data: data}
	}
	return out, nil
}

// checkShapes hands each tensor's name and shape to the callers' checks.
func checkShapes(names []string, tensors []*tensorRef, check []func(string, []int) error) error {
	for _, c := range check {
		for i, t := range tensors {
			shape := make([]int, len(t.size))
			for k, d := range t.size {
				shape[k] = int(d)
			}
			if err := c(names[i], shape); err != nil {
				return err
			}
		}
	}
	return nil
}
