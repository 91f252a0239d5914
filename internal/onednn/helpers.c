#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <omp.h>

#include "helpers.h"

#define ALX_MAX_ARGS 16

dnnl_status_t alx_execute(const_dnnl_primitive_t prim, dnnl_stream_t stream,
        int nthreads, int nargs, const int *kinds, const dnnl_memory_t *mems,
        void *const *ptrs) {
    dnnl_exec_arg_t args[ALX_MAX_ARGS];
    if (nargs > ALX_MAX_ARGS) return dnnl_invalid_arguments;
    if (nthreads > 0) omp_set_num_threads(nthreads);
    for (int i = 0; i < nargs; i++) {
        if (ptrs[i] != NULL) {
            dnnl_status_t st = dnnl_memory_set_data_handle(mems[i], ptrs[i]);
            if (st != dnnl_success) return st;
        }
        args[i].arg = kinds[i];
        args[i].memory = mems[i];
    }
    return dnnl_primitive_execute(prim, stream, nargs, args);
}

void alx_set_threads(int nthreads) {
    if (nthreads > 0) omp_set_num_threads(nthreads);
}

int alx_num_procs(void) { return omp_get_num_procs(); }

// Buffers of 4 MiB and more are aligned to 2 MiB and marked for transparent huge
// pages: the system's THP setting is often "madvise", and with 4 KiB pages faulting
// in AlexNet's 244 MB of weights costs ~0.7 s of a 1 s predict (60,000 faults);
// 2 MiB pages take 120, and fewer TLB misses in the big GEMMs besides.
#define ALX_HUGE (2u << 20)

void *alx_alloc(size_t bytes) {
    void *p = NULL;
    if (bytes == 0) bytes = 64;
    size_t align = bytes >= 2 * ALX_HUGE ? ALX_HUGE : 64;
    if (posix_memalign(&p, align, bytes) != 0) return NULL;
    if (align == ALX_HUGE) madvise(p, bytes & ~(size_t)(ALX_HUGE - 1), MADV_HUGEPAGE);  // advice: failure is harmless
    memset(p, 0, bytes);
    return p;
}

void alx_free(void *p) { free(p); }

const char *alx_impl(const_dnnl_primitive_desc_t pd) {
    const char *s = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s) != dnnl_success || s == NULL)
        return "?";
    return s;
}

int alx_channel_block(const dnnl_memory_desc_t *md) {
    if (md->format_kind != dnnl_blocked) return 0;
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    int blk = 1;
    for (int i = 0; i < b->inner_nblks; i++)
        if (b->inner_idxs[i] == 1) blk *= (int)b->inner_blks[i];
    return blk;
}
