/*
 * axcuda.c: the dlopen loader for the functions declared in axcuda.h.
 *
 * internal/cudnn finds the library files and, through this package's Go functions
 * (csrc.go), calls ax_dlopen on each and ax_resolve to fill the function pointers;
 * the thin call wrappers live in axwrap.h. cgo compiles this file as part of the Go
 * package of this folder, whose build hashes it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "axcuda.h"

#define AX_DEFINE_PTR(ret, name, params) ret(*ax_##name) params = NULL;
AX_CUDART_FUNCS(AX_DEFINE_PTR)
AX_CUDA_FUNCS(AX_DEFINE_PTR)
AX_CUBLAS_FUNCS(AX_DEFINE_PTR)
AX_NVRTC_FUNCS(AX_DEFINE_PTR)
AX_CUDNN_FUNCS(AX_DEFINE_PTR)
AX_CUDNN_OPTIONAL_FUNCS(AX_DEFINE_PTR)

/* One table per library: the names and where each pointer goes. POSIX guarantees a
 * function pointer and a void * share a representation, which dlsym relies on too. */
typedef struct {
	const char *name;
	void **slot;
} ax_sym;

#define AX_SYM_ENTRY(ret, name, params) {#name, (void **)&ax_##name},
static const ax_sym cudart_syms[] = {AX_CUDART_FUNCS(AX_SYM_ENTRY)};
static const ax_sym cuda_syms[] = {AX_CUDA_FUNCS(AX_SYM_ENTRY)};
static const ax_sym cublas_syms[] = {AX_CUBLAS_FUNCS(AX_SYM_ENTRY)};
static const ax_sym nvrtc_syms[] = {AX_NVRTC_FUNCS(AX_SYM_ENTRY)};
static const ax_sym cudnn_syms[] = {AX_CUDNN_FUNCS(AX_SYM_ENTRY)};
static const ax_sym cudnn_optional_syms[] = {AX_CUDNN_OPTIONAL_FUNCS(AX_SYM_ENTRY)};

static int loaded[AX_LIB_COUNT];

void *ax_dlopen(const char *path, char *err, size_t errlen) {
	void *h;
	dlerror();
	h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
	if (h == NULL && err != NULL && errlen > 0) {
		const char *e = dlerror();
		snprintf(err, errlen, "%s", e != NULL ? e : "dlopen failed");
	}
	return h;
}

void ax_dlclose(void *handle) {
	if (handle != NULL) {
		dlclose(handle);
	}
}

int ax_dlpath(void *handle, const char *symbol, char *out, size_t outlen) {
	Dl_info info;
	void *p = dlsym(handle, symbol);
	if (p == NULL || dladdr(p, &info) == 0 || info.dli_fname == NULL) {
		return -1;
	}
	snprintf(out, outlen, "%s", info.dli_fname);
	return 0;
}

static void *lookup(void **handles, int nhandles, const char *name) {
	int i;
	for (i = 0; i < nhandles; i++) {
		void *p;
		if (handles[i] == NULL) {
			continue;
		}
		p = dlsym(handles[i], name);
		if (p != NULL) {
			return p;
		}
	}
	return NULL;
}

static int resolve_table(const ax_sym *syms, size_t n, void **handles, int nhandles, const char **missing) {
	void *found[128];
	size_t i;
	if (n > sizeof found / sizeof found[0]) {
		*missing = "(table too large)";
		return -1;
	}
	for (i = 0; i < n; i++) {
		found[i] = lookup(handles, nhandles, syms[i].name);
		if (found[i] == NULL) {
			*missing = syms[i].name;
			return -1;
		}
	}
	/* All present: only now install, so a failed load leaves no half-filled table. */
	for (i = 0; i < n; i++) {
		*syms[i].slot = found[i];
	}
	return 0;
}

#define AX_COUNT(a) (sizeof(a) / sizeof((a)[0]))

int ax_resolve(int lib, void **handles, int nhandles, const char **missing) {
	int rc;
	size_t i;
	*missing = NULL;
	switch (lib) {
	case AX_LIB_CUDART:
		rc = resolve_table(cudart_syms, AX_COUNT(cudart_syms), handles, nhandles, missing);
		break;
	case AX_LIB_CUDA:
		rc = resolve_table(cuda_syms, AX_COUNT(cuda_syms), handles, nhandles, missing);
		break;
	case AX_LIB_CUBLAS:
		rc = resolve_table(cublas_syms, AX_COUNT(cublas_syms), handles, nhandles, missing);
		break;
	case AX_LIB_NVRTC:
		rc = resolve_table(nvrtc_syms, AX_COUNT(nvrtc_syms), handles, nhandles, missing);
		break;
	case AX_LIB_CUDNN:
		rc = resolve_table(cudnn_syms, AX_COUNT(cudnn_syms), handles, nhandles, missing);
		if (rc == 0) {
			for (i = 0; i < AX_COUNT(cudnn_optional_syms); i++) {
				*cudnn_optional_syms[i].slot = lookup(handles, nhandles, cudnn_optional_syms[i].name);
			}
		}
		break;
	default:
		*missing = "(unknown library)";
		return -1;
	}
	if (rc == 0) {
		loaded[lib] = 1;
	}
	return rc;
}

int ax_loaded(int lib) { return lib >= 0 && lib < AX_LIB_COUNT && loaded[lib]; }

/*
 * Which device and context the calling OS thread was last bound to. CUDA keeps the
 * current device and context per thread, while Go moves goroutines between threads,
 * so the backend binds every thread it lands on (once, thanks to this cache).
 */
static __thread CUcontext bound_ctx;
static __thread int bound_dev = -1;
static __thread unsigned long long bound_gen;

/* gen is a number unique to each open backend: a context destroyed and recreated at
 * the same address by a later backend must not look bound. */
int ax_is_bound(int dev, CUcontext ctx, unsigned long long gen) {
	return bound_dev == dev && bound_ctx == ctx && bound_gen == gen;
}

void ax_mark_bound(int dev, CUcontext ctx, unsigned long long gen) {
	bound_dev = dev;
	bound_ctx = ctx;
	bound_gen = gen;
}
