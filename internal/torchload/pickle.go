package torchload

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// A small unpickler: enough of Python's pickle virtual machine (protocols 0 to 5)
// to rebuild what torch.save writes. It never runs code. Globals are recorded by
// name; the few callables a state_dict needs (OrderedDict, _rebuild_tensor_v2,
// _rebuild_parameter, ...) are interpreted, anything else becomes an opaque
// *pyObject that is an error only if a tensor was expected where it sits (a
// checkpoint's argparse.Namespace can ride along without harm).

// Python values as the unpickler builds them:
//
//	None -> nil, bool, int -> int64 (or *big.Int when it does not fit),
//	float -> float64, str -> string, bytes -> []byte, tuple -> pyTuple,
//	list -> *pyList, dict -> *pyDict, a global -> pyGlobal,
//	an instance of anything else -> *pyObject,
//	torch storages and tensors -> *storageRef, *tensorRef.
type (
	pyTuple  []any
	pyList   struct{ items []any }
	pyGlobal struct{ module, name string }
	pyObject struct {
		class pyGlobal
		args  []any
		state any
		items *pyDict // __setitem__ calls on it, kept for completeness
		list  *pyList // append calls on it
	}
)

func (g pyGlobal) String() string { return g.module + "." + g.name }

// pyDict keeps insertion order, which for a state_dict is the file's (and the
// model's) parameter order.
type pyDict struct {
	keys, vals []any
	index      map[any]int // hashable scalar keys only; others are appended
}

func newDict() *pyDict { return &pyDict{index: map[any]int{}} }

func (d *pyDict) set(k, v any) {
	switch k.(type) {
	case string, int64, bool, float64, nil:
		if i, ok := d.index[k]; ok {
			d.vals[i] = v
			return
		}
		d.index[k] = len(d.keys)
	}
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
}

func (d *pyDict) get(k string) (any, bool) {
	i, ok := d.index[k]
	if !ok {
		return nil, false
	}
	return d.vals[i], true
}

// Pickle opcodes (Lib/pickletools.py).
const (
	opMark           = '('
	opStop           = '.'
	opPop            = '0'
	opPopMark        = '1'
	opDup            = '2'
	opFloat          = 'F'
	opInt            = 'I'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opLong           = 'L'
	opBinInt2        = 'M'
	opNone           = 'N'
	opPersID         = 'P'
	opBinPersID      = 'Q'
	opReduce         = 'R'
	opString         = 'S'
	opBinString      = 'T'
	opShortBinString = 'U'
	opUnicode        = 'V'
	opBinUnicode     = 'X'
	opAppend         = 'a'
	opBuild          = 'b'
	opGlobal         = 'c'
	opDict           = 'd'
	opEmptyDict      = '}'
	opAppends        = 'e'
	opGet            = 'g'
	opBinGet         = 'h'
	opInst           = 'i'
	opLongBinGet     = 'j'
	opList           = 'l'
	opEmptyList      = ']'
	opObj            = 'o'
	opPut            = 'p'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opSetItem        = 's'
	opTuple          = 't'
	opEmptyTuple     = ')'
	opSetItems       = 'u'
	opBinFloat       = 'G'
	// protocol 2
	opProto    = 0x80
	opNewObj   = 0x81
	opExt1     = 0x82
	opExt2     = 0x83
	opExt4     = 0x84
	opTuple1   = 0x85
	opTuple2   = 0x86
	opTuple3   = 0x87
	opNewTrue  = 0x88
	opNewFalse = 0x89
	opLong1    = 0x8a
	opLong4    = 0x8b
	// protocol 3
	opBinBytes      = 'B'
	opShortBinBytes = 'C'
	// protocol 4
	opShortBinUnicode = 0x8c
	opBinUnicode8     = 0x8d
	opBinBytes8       = 0x8e
	opEmptySet        = 0x8f
	opAddItems        = 0x90
	opFrozenSet       = 0x91
	opNewObjEx        = 0x92
	opStackGlobal     = 0x93
	opMemoize         = 0x94
	opFrame           = 0x95
	// protocol 5
	opByteArray8     = 0x96
	opNextBuffer     = 0x97
	opReadOnlyBuffer = 0x98
)

// opNames names the opcodes this reader does not implement, for the error message.
var opNames = map[byte]string{
	opExt1: "EXT1", opExt2: "EXT2", opExt4: "EXT4",
	opNextBuffer: "NEXT_BUFFER", opReadOnlyBuffer: "READONLY_BUFFER",
}

// maxLongBytes bounds LONG/LONG4 byte counts: torch never pickles integers wider
// than its 80-bit magic number, and a corrupt count must not allocate gigabytes.
const maxLongBytes = 1 << 16

type unpickler struct {
	r      *bufio.Reader
	pos    int64 // bytes consumed, for error messages
	limit  int64 // bytes left in the source (for the zip's data.pkl); <0: unknown
	stack  []any
	marks  []int
	memo   map[uint64]any
	persID func(pid any) (any, error)
}

// errTruncated is wrapped by every "ran out of bytes" error.
var errTruncated = errors.New("file is truncated")

func (u *unpickler) errf(format string, args ...any) error {
	return fmt.Errorf("pickle byte %d: "+format, append([]any{u.pos}, args...)...)
}

func (u *unpickler) readByte() (byte, error) {
	b, err := u.r.ReadByte()
	if err != nil {
		return 0, u.eof(err)
	}
	u.pos++
	return b, nil
}

func (u *unpickler) eof(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("pickle byte %d: %w", u.pos, errTruncated)
	}
	return err
}

// read returns the next n bytes. Memory grows with the bytes actually present,
// so a corrupt length claiming gigabytes fails as truncated, not out of memory.
func (u *unpickler) read(n uint64) ([]byte, error) {
	if u.limit >= 0 && n > uint64(u.limit)-uint64(u.pos) {
		return nil, u.eof(io.ErrUnexpectedEOF)
	}
	b, err := readChunked(u.r, n)
	if err != nil {
		return nil, u.eof(err)
	}
	u.pos += int64(n)
	return b, nil
}

// readLine reads up to and excluding '\n' (protocol 0 arguments).
func (u *unpickler) readLine() (string, error) {
	var sb strings.Builder
	for {
		b, err := u.readByte()
		if err != nil {
			return "", err
		}
		if b == '\n' {
			return sb.String(), nil
		}
		if sb.Len() > 1<<20 {
			return "", u.errf("text argument longer than 1 MiB (corrupt pickle)")
		}
		sb.WriteByte(b)
	}
}

const readChunk = 64 << 20

func readChunked(r io.Reader, n uint64) ([]byte, error) {
	if n <= readChunk {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		return b, err
	}
	b := make([]byte, 0, readChunk)
	for uint64(len(b)) < n {
		k := min(n-uint64(len(b)), readChunk)
		start := len(b)
		b = append(b, make([]byte, k)...)
		if _, err := io.ReadFull(r, b[start:]); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

func (u *unpickler) pop() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) == u.marks[len(u.marks)-1]) {
		return nil, u.errf("stack underflow (corrupt pickle)")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) == u.marks[len(u.marks)-1]) {
		return nil, u.errf("stack underflow (corrupt pickle)")
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark returns the items pushed since the last MARK and removes them and the mark.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, u.errf("no MARK on the stack (corrupt pickle)")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) memoGet(i uint64) error {
	v, ok := u.memo[i]
	if !ok {
		return u.errf("memo entry %d read before it was written (corrupt pickle)", i)
	}
	u.push(v)
	return nil
}

func (u *unpickler) memoPut(i uint64) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	u.memo[i] = v
	return nil
}

// load runs the pickle machine to its STOP opcode and returns the result.
func (u *unpickler) load() (any, error) {
	if u.memo == nil {
		u.memo = map[uint64]any{}
	}
	for {
		op, err := u.readByte()
		if err != nil {
			return nil, err
		}
		if op == opStop {
			// Like CPython: the result is the top of the stack, whatever lies below.
			v, err := u.top()
			if err != nil {
				return nil, u.errf("STOP with nothing to return (corrupt pickle)")
			}
			return v, nil
		}
		if err := u.step(op); err != nil {
			return nil, err
		}
		// Each opcode is at least a byte, so these grow with the pickle's size; the
		// bounds keep a crafted pickle's cost far under the network's weights
		// (a state_dict's pickle holds a few hundred items: AlexNet's, 16 tensors).
		if len(u.stack) > maxPickleItems || len(u.memo) > maxPickleItems || len(u.marks) > maxPickleDepth {
			return nil, u.errf("more than %d items or %d nested marks: not a state_dict (corrupt or crafted pickle)", maxPickleItems, maxPickleDepth)
		}
	}
}

// Bounds of a pickle this reader accepts.
const (
	maxPickleItems = 1 << 20 // stack entries, memo entries
	maxPickleDepth = 1 << 12 // nested MARKs (lists, tuples, dicts being built)
	maxPickleBytes = 64 << 20
)

func (u *unpickler) step(op byte) error {
	switch op {
	case opProto:
		p, err := u.readByte()
		if err != nil {
			return err
		}
		if p > 5 {
			return u.errf("pickle protocol %d is newer than 5", p)
		}
	case opFrame:
		// A framing hint (protocol 4): the frame's length; the opcodes follow as usual.
		if _, err := u.read(8); err != nil {
			return err
		}
	case opMark:
		u.marks = append(u.marks, len(u.stack))
	case opPop:
		if len(u.stack) > 0 && (len(u.marks) == 0 || len(u.stack) > u.marks[len(u.marks)-1]) {
			u.stack = u.stack[:len(u.stack)-1]
		} else if _, err := u.popMark(); err != nil { // POP at a mark pops the mark
			return err
		}
	case opPopMark:
		if _, err := u.popMark(); err != nil {
			return err
		}
	case opDup:
		v, err := u.top()
		if err != nil {
			return err
		}
		u.push(v)

	// --- memo ---
	case opPut:
		line, err := u.readLine()
		if err != nil {
			return err
		}
		i, err := strconv.ParseUint(line, 10, 64)
		if err != nil {
			return u.errf("PUT index %q: %v", line, err)
		}
		return u.memoPut(i)
	case opBinPut:
		b, err := u.readByte()
		if err != nil {
			return err
		}
		return u.memoPut(uint64(b))
	case opLongBinPut:
		b, err := u.read(4)
		if err != nil {
			return err
		}
		return u.memoPut(uint64(binary.LittleEndian.Uint32(b)))
	case opMemoize:
		return u.memoPut(uint64(len(u.memo)))
	case opGet:
		line, err := u.readLine()
		if err != nil {
			return err
		}
		i, err := strconv.ParseUint(line, 10, 64)
		if err != nil {
			return u.errf("GET index %q: %v", line, err)
		}
		return u.memoGet(i)
	case opBinGet:
		b, err := u.readByte()
		if err != nil {
			return err
		}
		return u.memoGet(uint64(b))
	case opLongBinGet:
		b, err := u.read(4)
		if err != nil {
			return err
		}
		return u.memoGet(uint64(binary.LittleEndian.Uint32(b)))

	// --- scalars ---
	case opNone:
		u.push(nil)
	case opNewTrue:
		u.push(true)
	case opNewFalse:
		u.push(false)
	case opBinInt:
		b, err := u.read(4)
		if err != nil {
			return err
		}
		u.push(int64(int32(binary.LittleEndian.Uint32(b))))
	case opBinInt1:
		b, err := u.readByte()
		if err != nil {
			return err
		}
		u.push(int64(b))
	case opBinInt2:
		b, err := u.read(2)
		if err != nil {
			return err
		}
		u.push(int64(binary.LittleEndian.Uint16(b)))
	case opLong1, opLong4:
		var n uint64
		if op == opLong1 {
			b, err := u.readByte()
			if err != nil {
				return err
			}
			n = uint64(b)
		} else {
			b, err := u.read(4)
			if err != nil {
				return err
			}
			n = uint64(int64(int32(binary.LittleEndian.Uint32(b))))
			if n > maxLongBytes {
				return u.errf("LONG4 of %d bytes (corrupt pickle)", n)
			}
		}
		b, err := u.read(n)
		if err != nil {
			return err
		}
		u.push(decodeLong(b))
	case opInt, opLong:
		line, err := u.readLine()
		if err != nil {
			return err
		}
		v, err := parseTextInt(strings.TrimSuffix(line, "L"))
		if err != nil {
			return u.errf("integer %q: %v", line, err)
		}
		u.push(v)
	case opBinFloat:
		b, err := u.read(8)
		if err != nil {
			return err
		}
		u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case opFloat:
		line, err := u.readLine()
		if err != nil {
			return err
		}
		f, err := strconv.ParseFloat(line, 64)
		if err != nil {
			return u.errf("float %q: %v", line, err)
		}
		u.push(f)

	// --- strings and bytes ---
	case opBinUnicode, opBinString, opBinBytes:
		b, err := u.read(4)
		if err != nil {
			return err
		}
		n := uint64(binary.LittleEndian.Uint32(b))
		if op == opBinString {
			n = uint64(int64(int32(n))) // signed in the format; negative is corrupt
		}
		return u.pushBytes(op, n)
	case opShortBinUnicode, opShortBinString, opShortBinBytes:
		b, err := u.readByte()
		if err != nil {
			return err
		}
		return u.pushBytes(op, uint64(b))
	case opBinUnicode8, opBinBytes8, opByteArray8:
		b, err := u.read(8)
		if err != nil {
			return err
		}
		return u.pushBytes(op, binary.LittleEndian.Uint64(b))
	case opUnicode:
		line, err := u.readLine()
		if err != nil {
			return err
		}
		u.push(line) // raw-unicode-escape; torch's keys are ASCII
	case opString:
		line, err := u.readLine()
		if err != nil {
			return err
		}
		s, err := strconv.Unquote(line)
		if err != nil {
			if len(line) >= 2 && line[0] == '\'' && line[len(line)-1] == '\'' {
				s, err = line[1:len(line)-1], nil
			} else {
				return u.errf("STRING %q: %v", line, err)
			}
		}
		u.push(s)

	// --- containers ---
	case opEmptyTuple:
		u.push(pyTuple{})
	case opTuple:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		u.push(pyTuple(items))
	case opTuple1, opTuple2, opTuple3:
		n := int(op-opTuple1) + 1
		t := make(pyTuple, n)
		for i := n - 1; i >= 0; i-- {
			v, err := u.pop()
			if err != nil {
				return err
			}
			t[i] = v
		}
		u.push(t)
	case opEmptyList:
		u.push(&pyList{})
	case opList:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		u.push(&pyList{items: items})
	case opAppend:
		v, err := u.pop()
		if err != nil {
			return err
		}
		return u.appendTo([]any{v})
	case opAppends:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.appendTo(items)
	case opEmptyDict:
		u.push(newDict())
	case opDict:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		if len(items)%2 != 0 {
			return u.errf("DICT with an odd number of items (corrupt pickle)")
		}
		d := newDict()
		for i := 0; i < len(items); i += 2 {
			d.set(items[i], items[i+1])
		}
		u.push(d)
	case opSetItem:
		v, err := u.pop()
		if err != nil {
			return err
		}
		k, err := u.pop()
		if err != nil {
			return err
		}
		return u.setItems([]any{k, v})
	case opSetItems:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		if len(items)%2 != 0 {
			return u.errf("SETITEMS with an odd number of items (corrupt pickle)")
		}
		return u.setItems(items)
	case opEmptySet:
		u.push(&pyList{}) // a set's members are never needed; a list holds them
	case opAddItems:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.appendTo(items)
	case opFrozenSet:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		u.push(&pyList{items: items})

	// --- objects ---
	case opGlobal:
		mod, err := u.readLine()
		if err != nil {
			return err
		}
		name, err := u.readLine()
		if err != nil {
			return err
		}
		if err := allowedGlobal(mod, name); err != nil {
			return u.errf("%w", err)
		}
		u.push(pyGlobal{mod, name})
	case opStackGlobal:
		nv, err := u.pop()
		if err != nil {
			return err
		}
		mv, err := u.pop()
		if err != nil {
			return err
		}
		mod, ok1 := mv.(string)
		name, ok2 := nv.(string)
		if !ok1 || !ok2 {
			return u.errf("STACK_GLOBAL needs two strings, got %s and %s (corrupt pickle)", typeName(mv), typeName(nv))
		}
		if err := allowedGlobal(mod, name); err != nil {
			return u.errf("%w", err)
		}
		u.push(pyGlobal{mod, name})
	case opReduce:
		args, err := u.pop()
		if err != nil {
			return err
		}
		fn, err := u.pop()
		if err != nil {
			return err
		}
		t, ok := args.(pyTuple)
		if !ok {
			return u.errf("REDUCE arguments are %s, not a tuple (corrupt pickle)", typeName(args))
		}
		v, err := u.call(fn, t)
		if err != nil {
			return err
		}
		u.push(v)
	case opNewObj:
		args, err := u.pop()
		if err != nil {
			return err
		}
		cls, err := u.pop()
		if err != nil {
			return err
		}
		t, ok := args.(pyTuple)
		if !ok {
			return u.errf("NEWOBJ arguments are %s, not a tuple (corrupt pickle)", typeName(args))
		}
		v, err := u.call(cls, t)
		if err != nil {
			return err
		}
		u.push(v)
	case opNewObjEx:
		if _, err := u.pop(); err != nil { // kwargs
			return err
		}
		args, err := u.pop()
		if err != nil {
			return err
		}
		cls, err := u.pop()
		if err != nil {
			return err
		}
		t, ok := args.(pyTuple)
		if !ok {
			return u.errf("NEWOBJ_EX arguments are %s, not a tuple (corrupt pickle)", typeName(args))
		}
		v, err := u.call(cls, t)
		if err != nil {
			return err
		}
		u.push(v)
	case opInst:
		mod, err := u.readLine()
		if err != nil {
			return err
		}
		name, err := u.readLine()
		if err != nil {
			return err
		}
		items, err := u.popMark()
		if err != nil {
			return err
		}
		v, err := u.call(pyGlobal{mod, name}, items)
		if err != nil {
			return err
		}
		u.push(v)
	case opObj:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return u.errf("OBJ without a class (corrupt pickle)")
		}
		v, err := u.call(items[0], items[1:])
		if err != nil {
			return err
		}
		u.push(v)
	case opBuild:
		state, err := u.pop()
		if err != nil {
			return err
		}
		obj, err := u.top()
		if err != nil {
			return err
		}
		// A state_dict's OrderedDict gets its _metadata attribute here, a Parameter
		// its hooks; only opaque objects keep their state (it is never needed).
		if o, ok := obj.(*pyObject); ok {
			o.state = state
		}
	case opPersID:
		line, err := u.readLine()
		if err != nil {
			return err
		}
		return u.persistent(line)
	case opBinPersID:
		pid, err := u.pop()
		if err != nil {
			return err
		}
		return u.persistent(pid)
	default:
		if name, ok := opNames[op]; ok {
			return u.errf("unsupported pickle opcode %s (0x%02x)", name, op)
		}
		return u.errf("unknown pickle opcode 0x%02x (corrupt or not a pickle)", op)
	}
	return nil
}

func (u *unpickler) pushBytes(op byte, n uint64) error {
	b, err := u.read(n)
	if err != nil {
		return err
	}
	switch op {
	case opBinUnicode, opShortBinUnicode, opBinUnicode8, opBinString, opShortBinString:
		u.push(string(b))
	default:
		u.push(b)
	}
	return nil
}

func (u *unpickler) persistent(pid any) error {
	if u.persID == nil {
		return u.errf("persistent id in a pickle that should have none")
	}
	v, err := u.persID(pid)
	if err != nil {
		return u.errf("%w", err)
	}
	u.push(v)
	return nil
}

func (u *unpickler) appendTo(items []any) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	switch l := v.(type) {
	case *pyList:
		l.items = append(l.items, items...)
	case *pyObject:
		if l.list == nil {
			l.list = &pyList{}
		}
		l.list.items = append(l.list.items, items...)
	default:
		return u.errf("APPEND to %s (corrupt pickle)", typeName(v))
	}
	return nil
}

func (u *unpickler) setItems(kv []any) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	var d *pyDict
	switch t := v.(type) {
	case *pyDict:
		d = t
	case *pyObject:
		if t.items == nil {
			t.items = newDict()
		}
		d = t.items
	default:
		return u.errf("SETITEM on %s (corrupt pickle)", typeName(v))
	}
	for i := 0; i < len(kv); i += 2 {
		d.set(kv[i], kv[i+1])
	}
	return nil
}

// call interprets fn(*args) for the callables a state_dict uses.
func (u *unpickler) call(fn any, args []any) (any, error) {
	g, ok := fn.(pyGlobal)
	if !ok {
		return nil, u.errf("call of %s, not a class or function (corrupt pickle)", typeName(fn))
	}
	switch g.String() {
	case "collections.OrderedDict", "builtins.dict", "__builtin__.dict", "collections.defaultdict":
		d := newDict()
		// dict(iterable_of_pairs): protocol 0/1 pickles of OrderedDict use it.
		if len(args) == 1 && g.name != "defaultdict" {
			if l, ok := args[0].(*pyList); ok {
				for _, it := range l.items {
					if p, ok := it.(pyTuple); ok && len(p) == 2 {
						d.set(p[0], p[1])
					}
				}
			}
		}
		return d, nil
	case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
		t, err := rebuildTensor(args)
		if err != nil {
			return nil, u.errf("%s: %w", g, err)
		}
		return t, nil
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		// Parameter(data, requires_grad, hooks[, state]): the tensor is what we need.
		if len(args) < 1 {
			return nil, u.errf("%s without arguments (corrupt pickle)", g)
		}
		return args[0], nil
	case "torch.Size", "builtins.tuple", "__builtin__.tuple":
		if len(args) == 1 {
			switch a := args[0].(type) {
			case pyTuple:
				return a, nil
			case *pyList:
				return pyTuple(a.items), nil
			}
		}
	case "_codecs.encode":
		// Protocol 2 pickles bytes as _codecs.encode(str, "latin1").
		if len(args) == 2 {
			if s, ok := args[0].(string); ok {
				out := make([]byte, 0, len(s))
				for _, r := range s {
					out = append(out, byte(r))
				}
				return out, nil
			}
		}
	}
	return &pyObject{class: g, args: args}, nil
}

func decodeLong(b []byte) any {
	if len(b) == 0 {
		return int64(0)
	}
	if len(b) <= 8 {
		var v uint64
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		shift := 64 - 8*uint(len(b))
		return int64(v<<shift) >> shift // sign-extend
	}
	// Two's complement, little-endian.
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	v := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return v
}

func parseTextInt(s string) (any, error) {
	switch s {
	case "00":
		return false, nil // protocol 0 booleans
	case "01":
		return true, nil
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, nil
	}
	v, ok := new(big.Int).SetString(s, 10)
	if !ok || len(s) > maxLongBytes {
		return nil, errors.New("not an integer")
	}
	return v, nil
}

// typeName is the Python-ish name of a value, for error messages.
func typeName(v any) string {
	switch t := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	case *pyDict:
		return "dict"
	case pyGlobal:
		return "global " + t.String()
	case *pyObject:
		return t.class.String()
	case *storageRef:
		return "torch." + t.typ
	case *tensorRef:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}

// allowedGlobals are the classes and functions a pickle may name: those
// torch.load(weights_only=True) allows that a state_dict or a training checkpoint's
// dict of plain values uses, and argparse.Namespace, which training scripts save
// their arguments in (kept inert here: nothing a pickle names is ever run by this
// reader, which only interprets the names below). Anything else is refused by name,
// as PyTorch refuses it.
var allowedGlobals = map[string]bool{
	"collections.OrderedDict": true, "builtins.dict": true, "__builtin__.dict": true, "collections.defaultdict": true,
	"builtins.list": true, "builtins.set": true, "builtins.frozenset": true, "builtins.tuple": true, "__builtin__.tuple": true,
	"builtins.int": true, "builtins.float": true, "builtins.bool": true, "builtins.str": true, "builtins.bytearray": true,
	"builtins.slice": true, "builtins.complex": true, "__builtin__.set": true, "__builtin__.frozenset": true,
	"torch._utils._rebuild_tensor": true, "torch._utils._rebuild_tensor_v2": true, "torch._utils._rebuild_tensor_v3": true,
	"torch._utils._rebuild_parameter": true, "torch._utils._rebuild_parameter_with_state": true,
	"torch.Size": true, "torch.device": true, "torch.storage.UntypedStorage": true, "torch.serialization._get_layout": true,
	"_codecs.encode": true, "argparse.Namespace": true,
}

// allowedGlobal says why a global is refused, naming it.
func allowedGlobal(mod, name string) error {
	g := mod + "." + name
	switch {
	case allowedGlobals[g]:
		return nil
	case mod == "torch" && (strings.HasSuffix(name, "Storage") || dtypeNames[name]):
		// Storage classes (torch.FloatStorage, ...) and dtypes name a storage's element type.
		return nil
	case strings.HasPrefix(g, "torch._utils._rebuild_") || strings.HasPrefix(mod, "torch.nn") || strings.HasPrefix(mod, "torchvision."):
		// Quantized or sparse tensors, whole modules: refused later with what to do.
		return nil
	}
	return fmt.Errorf("the pickle names the global %s, which is not in the allow-list of plain state_dicts (torch.load with weights_only=True refuses it too); save the weights alone: torch.save(model.state_dict(), path)", g)
}

var dtypeNames = map[string]bool{"float32": true, "float": true, "float16": true, "half": true, "bfloat16": true,
	"float64": true, "double": true, "int64": true, "long": true, "int32": true, "int": true, "int16": true,
	"int8": true, "uint8": true, "bool": true, "strided": true}
