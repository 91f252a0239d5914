package csrc

import (
	"math"
	"testing"
	"unsafe"
)

// packArgs is the part of a kernel launch that runs without a GPU: each entry of
// the pointer array must point at its value, aligned, with the value's bytes.
func TestPackArgs(t *testing.T) {
	type pair struct {
		A uint64
		B float32
	}
	st := pair{A: 0x0102030405060708, B: 2.5}
	stBytes := unsafe.Slice((*byte)(unsafe.Pointer(&st)), unsafe.Sizeof(st))
	args := []any{DevPtr(0xdead_beef_f00d), int32(-7), int64(-1 << 40), uint64(math.MaxUint64 - 1), float32(1.5), stBytes, float32(-0.25)}
	argv, err := packArgs(args)
	if err != nil {
		t.Fatal(err)
	}
	defer freeArgs(argv)
	ptrs := unsafe.Slice(argv, len(args))
	for i, p := range ptrs {
		if uintptr(p)%argAlign != 0 {
			t.Errorf("argument %d at %p: not %d-byte aligned", i, p, argAlign)
		}
		if i > 0 && uintptr(p) <= uintptr(ptrs[i-1]) {
			t.Errorf("argument %d at %p overlaps argument %d at %p", i, p, i-1, ptrs[i-1])
		}
	}
	if got := *(*uintptr)(ptrs[0]); got != 0xdead_beef_f00d {
		t.Errorf("DevPtr: %#x", got)
	}
	if got := *(*int32)(ptrs[1]); got != -7 {
		t.Errorf("int32: %d", got)
	}
	if got := *(*int64)(ptrs[2]); got != -1<<40 {
		t.Errorf("int64: %d", got)
	}
	if got := *(*uint64)(ptrs[3]); got != math.MaxUint64-1 {
		t.Errorf("uint64: %d", got)
	}
	if got := *(*float32)(ptrs[4]); got != 1.5 {
		t.Errorf("float32: %g", got)
	}
	if got := *(*pair)(ptrs[5]); got != st {
		t.Errorf("struct: %+v, want %+v", got, st)
	}
	if got := *(*float32)(ptrs[6]); got != -0.25 {
		t.Errorf("float32 after the struct: %g", got)
	}
	if _, err := packArgs([]any{DevPtr(1), 3}); err == nil {
		t.Error("an int (not int32 or int64) was packed; its size is not a C parameter's")
	}
	if argv, err := packArgs(nil); err != nil {
		t.Errorf("no arguments: %v", err)
	} else {
		freeArgs(argv)
	}
}
