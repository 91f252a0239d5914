// C side of the thin cgo layer: the few helpers that save Go a round trip per call.
#ifndef ALEXNET_ONEDNN_HELPERS_H
#define ALEXNET_ONEDNN_HELPERS_H

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

// alx_execute points each of the primitive's memory objects at its buffer (a NULL
// pointer leaves the object as it is), then runs the primitive. With nthreads > 0 it
// first sets OpenMP's thread count: that setting belongs to the calling OS thread,
// and a goroutine may run on any, so it is set on every call, not once.
dnnl_status_t alx_execute(const_dnnl_primitive_t prim, dnnl_stream_t stream,
        int nthreads, int nargs, const int *kinds, const dnnl_memory_t *mems,
        void *const *ptrs);

// alx_set_threads sets OpenMP's thread count for the calling OS thread. oneDNN reads
// it when it creates a primitive (and bakes the work split into it) as well as when it
// runs one, so both happen under the backend's own count.
void alx_set_threads(int nthreads);
int alx_num_procs(void);

// alx_alloc returns zeroed memory aligned for any SIMD load, or NULL.
void *alx_alloc(size_t bytes);
void alx_free(void *p, size_t bytes); // bytes: as given to alx_alloc

// alx_impl names the implementation oneDNN picked for a primitive descriptor.
const char *alx_impl(const_dnnl_primitive_desc_t pd);

// alx_channel_block is the product of md's inner blocks over dimension 1 (channels
// of an activation): 8 for nChw8c, 16 for nChw16c, 1 for plain layouts, 0 when md is
// not a blocked layout at all (format any, or no memory).
int alx_channel_block(const dnnl_memory_desc_t *md);

#endif
