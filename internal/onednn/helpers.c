#include <stdlib.h>
#include <stdint.h>
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

// Buffers of 4 MiB and more are mapped from the kernel, 2 MiB aligned and marked for
// transparent huge pages. The kernel hands mapped memory out zeroed as it is first
// touched, so nothing is written up front (a memset of AlexNet's 244 MB of weights,
// which a checkpoint overwrites at once, cost a third of predict's time), and this
// machine's THP mode is often "madvise": with 4 KiB pages faulting those weights in
// took ~0.7 s (60,000 faults), with 2 MiB pages 120, and fewer TLB misses in the big
// GEMMs besides. Smaller buffers come zeroed from posix_memalign.
#define ALX_HUGE ((size_t)2 << 20)
#define ALX_MAPPED (2 * ALX_HUGE)

static size_t alx_round(size_t bytes) { return (bytes + ALX_HUGE - 1) & ~(ALX_HUGE - 1); }

void *alx_alloc(size_t bytes) {
    if (bytes >= ALX_MAPPED) {
        size_t size = alx_round(bytes), span = size + ALX_HUGE;
        char *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) return NULL;
        char *p = (char *)(((uintptr_t)m + ALX_HUGE - 1) & ~(uintptr_t)(ALX_HUGE - 1));
        if (p > m) munmap(m, p - m);
        if (m + span > p + size) munmap(p + size, (m + span) - (p + size));
        madvise(p, size, MADV_HUGEPAGE); // advice: failure is harmless
        return p;
    }
    void *p = NULL;
    if (bytes == 0) bytes = 64;
    if (posix_memalign(&p, 64, bytes) != 0) return NULL;
    memset(p, 0, bytes);
    return p;
}

void alx_free(void *p, size_t bytes) {
    if (p == NULL) return;
    if (bytes >= ALX_MAPPED) {
        munmap(p, alx_round(bytes));
        return;
    }
    free(p);
}

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
