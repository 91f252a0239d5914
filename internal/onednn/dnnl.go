package onednn

/*
#cgo CFLAGS: -O2 -fopenmp
#cgo LDFLAGS: -ldnnl -fopenmp
#include "helpers.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// This file is the thin layer over oneDNN's C API: status codes to Go errors, memory
// descriptors, primitive descriptors, and kernels (a primitive with its memory
// objects, created once and executed many times).

type md = C.dnnl_memory_desc_t

// status turns a dnnl_status_t into an error carrying oneDNN's name for it.
func status(what string, st C.dnnl_status_t) error {
	if st == C.dnnl_success {
		return nil
	}
	return fmt.Errorf("%s: oneDNN %s", what, C.GoString(C.dnnl_status2str(st)))
}

// dims packs up to DNNL_MAX_NDIMS sizes into oneDNN's fixed array.
func dims(v ...int) (d C.dnnl_dims_t) {
	for i, x := range v {
		d[i] = C.int64_t(x)
	}
	return d
}

// plainMD describes a dense f32 tensor of the given sizes in the layout tag names.
func plainMD(tag C.dnnl_format_tag_t, sizes ...int) (md, error) {
	return typedMD(C.dnnl_f32, tag, sizes...)
}

// typedMD is plainMD for elements of type dt (f32 or bf16).
func typedMD(dt C.dnnl_data_type_t, tag C.dnnl_format_tag_t, sizes ...int) (md, error) {
	var m md
	d := dims(sizes...)
	err := status(fmt.Sprintf("memory desc %v", sizes),
		C.dnnl_memory_desc_init_by_tag(&m, C.int(len(sizes)), &d[0], dt, tag))
	return m, err
}

// stridedMD describes an f32 tensor with explicit strides (in elements): how a
// row-major [R, C] matrix is seen transposed without moving it.
func stridedMD(sizes, strides []int) (md, error) {
	return stridedTypedMD(C.dnnl_f32, sizes, strides)
}

func stridedTypedMD(dt C.dnnl_data_type_t, sizes, strides []int) (md, error) {
	var m md
	d, s := dims(sizes...), dims(strides...)
	err := status(fmt.Sprintf("memory desc %v strides %v", sizes, strides),
		C.dnnl_memory_desc_init_by_strides(&m, C.int(len(sizes)), &d[0], dt, &s[0]))
	return m, err
}

// asF32 is m with f32 elements in the same places: how a bf16 result is kept in a
// float32 buffer without giving up its blocked layout. (Strides count elements, so
// only the type changes.)
func asF32(m md) md {
	m.data_type = C.dnnl_f32
	return m
}

func mdEqual(a, b *md) bool { return C.dnnl_memory_desc_equal(a, b) != 0 }
func mdBytes(a *md) int64   { return int64(C.dnnl_memory_desc_get_size(a)) }

// queryMD returns one of a primitive descriptor's memory descriptors (zero-sized
// when the primitive has none of that kind, e.g. no workspace).
func queryMD(pd C.const_dnnl_primitive_desc_t, what C.dnnl_query_t) md {
	p := C.dnnl_primitive_desc_query_md(pd, what, 0)
	if p == nil {
		return md{}
	}
	return *p
}

func implName(pd C.const_dnnl_primitive_desc_t) string { return C.GoString(C.alx_impl(pd)) }

// newAttr returns primitive attributes with a user-managed scratchpad, so the
// backend allocates (and counts) every byte oneDNN uses; accumulate adds a sum
// post-op, dst = op(...) + dst, which is how parameter gradients accumulate.
func newAttr(accumulate bool) (C.dnnl_primitive_attr_t, error) {
	var a C.dnnl_primitive_attr_t
	if err := status("primitive attr", C.dnnl_primitive_attr_create(&a)); err != nil {
		return nil, err
	}
	if err := status("scratchpad mode", C.dnnl_primitive_attr_set_scratchpad_mode(a, C.dnnl_scratchpad_mode_user)); err != nil {
		C.dnnl_primitive_attr_destroy(a)
		return nil, err
	}
	if accumulate {
		var po C.dnnl_post_ops_t
		if err := status("post ops", C.dnnl_post_ops_create(&po)); err != nil {
			C.dnnl_primitive_attr_destroy(a)
			return nil, err
		}
		defer C.dnnl_post_ops_destroy(po)
		err := status("sum post op", C.dnnl_post_ops_append_sum(po, 1))
		if err == nil {
			err = status("set post ops", C.dnnl_primitive_attr_set_post_ops(a, po))
		}
		if err != nil {
			C.dnnl_primitive_attr_destroy(a)
			return nil, err
		}
	}
	return a, nil
}

// primDesc creates a primitive descriptor for an op descriptor (a conv, pooling,
// ... desc); hint is the forward descriptor a backward one must match, or nil.
func (b *Backend) primDesc(what string, desc unsafe.Pointer, accumulate bool, hint C.const_dnnl_primitive_desc_t) (C.dnnl_primitive_desc_t, error) {
	attr, err := newAttr(accumulate)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer C.dnnl_primitive_attr_destroy(attr)
	defer b.pinThreads()()
	var pd C.dnnl_primitive_desc_t
	if err := status(what, C.dnnl_primitive_desc_create(&pd, C.const_dnnl_op_desc_t(desc), C.const_dnnl_primitive_attr_t(attr), b.engine, hint)); err != nil {
		return nil, err
	}
	return pd, nil
}

func destroyPD(pd C.dnnl_primitive_desc_t) {
	if pd != nil {
		C.dnnl_primitive_desc_destroy(pd)
	}
}

// arg is one argument of a kernel: its oneDNN role (DNNL_ARG_SRC, ...), its layout,
// and, for memory the kernel owns (workspace, a converted copy), a fixed pointer.
type arg struct {
	kind  C.int
	md    md
	fixed unsafe.Pointer
}

// kernel is a primitive with one memory object per argument, built once per op.
// run points the non-fixed arguments at the caller's buffers, in the order given.
type kernel struct {
	what  string
	impl  string
	prim  C.dnnl_primitive_t
	kinds []C.int
	mems  []C.dnnl_memory_t
	ptrs  []unsafe.Pointer
	free  []int // indices of the non-fixed arguments, in run's order
}

// newKernel builds the primitive of pd and its memory objects, and gives it a
// scratchpad of its own when it asks for one. The backend owns the result and
// destroys it on Close.
func (b *Backend) newKernel(what string, pd C.dnnl_primitive_desc_t, args ...arg) (*kernel, error) {
	k := &kernel{what: what, impl: implName(C.const_dnnl_primitive_desc_t(pd))}
	if sp := queryMD(C.const_dnnl_primitive_desc_t(pd), C.dnnl_query_scratchpad_md); mdBytes(&sp) > 0 {
		p, err := b.allocInternal(mdBytes(&sp))
		if err != nil {
			return nil, fmt.Errorf("%s scratchpad: %w", what, err)
		}
		args = append(args, arg{kind: C.DNNL_ARG_SCRATCHPAD, md: sp, fixed: p})
	}
	unpin := b.pinThreads()
	err := status(what+": create primitive", C.dnnl_primitive_create(&k.prim, C.const_dnnl_primitive_desc_t(pd)))
	unpin()
	if err != nil {
		return nil, err
	}
	b.track(k)
	for i, a := range args {
		var m C.dnnl_memory_t
		if err := status(what+": memory", C.dnnl_memory_create(&m, &a.md, b.engine, a.fixed)); err != nil {
			return nil, err
		}
		k.kinds = append(k.kinds, a.kind)
		k.mems = append(k.mems, m)
		k.ptrs = append(k.ptrs, a.fixed)
		if a.fixed == nil {
			k.free = append(k.free, i)
		}
	}
	return k, nil
}

// run executes the kernel on the given buffers (one per non-fixed argument).
func (k *kernel) run(b *Backend, ptrs ...unsafe.Pointer) error {
	if k.prim == nil {
		return fmt.Errorf("%s: backend is closed", k.what)
	}
	if len(ptrs) != len(k.free) {
		return fmt.Errorf("%s: %d buffers for %d arguments", k.what, len(ptrs), len(k.free))
	}
	for i, p := range ptrs {
		k.ptrs[k.free[i]] = p
	}
	return status(k.what, C.alx_execute(C.const_dnnl_primitive_t(k.prim), b.stream, C.int(b.threads),
		C.int(len(k.kinds)), &k.kinds[0], &k.mems[0], &k.ptrs[0]))
}

func (k *kernel) destroy() {
	for _, m := range k.mems {
		C.dnnl_memory_destroy(m)
	}
	if k.prim != nil {
		C.dnnl_primitive_destroy(k.prim)
	}
	k.mems, k.prim = nil, nil
}

// newReorder builds a kernel converting src's layout into dst's (with accumulate,
// dst += converted src).
func (b *Backend) newReorder(what string, src, dst md, accumulate bool) (*kernel, error) {
	attr, err := newAttr(accumulate)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer C.dnnl_primitive_attr_destroy(attr)
	defer b.pinThreads()()
	var pd C.dnnl_primitive_desc_t
	if err := status(what, C.dnnl_reorder_primitive_desc_create(&pd, &src, b.engine, &dst, b.engine, C.const_dnnl_primitive_attr_t(attr))); err != nil {
		return nil, err
	}
	defer destroyPD(pd)
	return b.newKernel(what, pd, arg{kind: C.DNNL_ARG_FROM, md: src}, arg{kind: C.DNNL_ARG_TO, md: dst})
}

// statusInvalidArguments is a status for tests (cgo is not allowed in _test files).
func statusInvalidArguments() C.dnnl_status_t { return C.dnnl_invalid_arguments }

// pinThreads holds the goroutine on its OS thread and sets OpenMP's thread count
// there to the backend's, until the returned function is called. oneDNN chooses a
// primitive's work split (and so its summation order) from the count in force when
// the primitive is created: without this, a primitive created on an OS thread that
// another backend left at one thread would round differently from the same one
// created elsewhere, and two identical runs in one process would drift apart.
func (b *Backend) pinThreads() func() {
	runtime.LockOSThread()
	C.alx_set_threads(C.int(b.threads))
	return runtime.UnlockOSThread
}
