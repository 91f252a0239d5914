#include "mpi.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/* Open MPI's types, as opaque pointers: only their addresses cross this file. */
typedef void *MPI_Comm;
typedef void *MPI_Datatype;
typedef void *MPI_Op;
typedef void *MPI_Info;
typedef void *MPI_Errhandler;

enum { MPI_THREAD_FUNNELED = 1, MPI_COMM_TYPE_SHARED = 0, MPI_MAX_ERROR = 256 };
#define MPI_IN_PLACE ((void *)1)

static int (*p_init_thread)(int *, char ***, int, int *);
static int (*p_initialized)(int *);
static int (*p_finalize)(void);
static int (*p_comm_rank)(MPI_Comm, int *);
static int (*p_comm_size)(MPI_Comm, int *);
static int (*p_comm_split_type)(MPI_Comm, int, int, MPI_Info, MPI_Comm *);
static int (*p_comm_set_errhandler)(MPI_Comm, MPI_Errhandler);
static int (*p_allreduce)(const void *, void *, int, MPI_Datatype, MPI_Op, MPI_Comm);
static int (*p_bcast)(void *, int, MPI_Datatype, int, MPI_Comm);
static int (*p_allgather)(const void *, int, MPI_Datatype, void *, int, MPI_Datatype, MPI_Comm);
static int (*p_barrier)(MPI_Comm);
static int (*p_abort)(MPI_Comm, int);
static int (*p_get_library_version)(char *, int *);
static int (*p_error_string)(int, char *, int *);

static MPI_Comm world, local;
static MPI_Datatype t_float, t_double, t_byte;
static MPI_Op op_sum;
static MPI_Info info_null;
static MPI_Errhandler errors_return;

/* MPI counts are int: longer buffers go in chunks of this many elements. */
#define CHUNK (1LL << 30)

int alx_mpi_open(const char *path, char *err, int errlen) {
	/* RTLD_GLOBAL: Open MPI's own plugins, which it opens later, resolve
	 * libmpi's symbols through the global scope. */
	void *h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
	if (!h) {
		snprintf(err, errlen, "%s", dlerror());
		return -1;
	}
#define SYM(var, name)                                                  \
	do {                                                                \
		*(void **)(&var) = dlsym(h, name);                              \
		if (!var) {                                                     \
			snprintf(err, errlen, "%s has no symbol %s (not Open MPI?)", path, name); \
			return -1;                                                  \
		}                                                               \
	} while (0)
	SYM(p_init_thread, "MPI_Init_thread");
	SYM(p_initialized, "MPI_Initialized");
	SYM(p_finalize, "MPI_Finalize");
	SYM(p_comm_rank, "MPI_Comm_rank");
	SYM(p_comm_size, "MPI_Comm_size");
	SYM(p_comm_split_type, "MPI_Comm_split_type");
	SYM(p_comm_set_errhandler, "MPI_Comm_set_errhandler");
	SYM(p_allreduce, "MPI_Allreduce");
	SYM(p_bcast, "MPI_Bcast");
	SYM(p_allgather, "MPI_Allgather");
	SYM(p_barrier, "MPI_Barrier");
	SYM(p_abort, "MPI_Abort");
	SYM(p_get_library_version, "MPI_Get_library_version");
	SYM(p_error_string, "MPI_Error_string");
	SYM(world, "ompi_mpi_comm_world");
	SYM(t_float, "ompi_mpi_float");
	SYM(t_double, "ompi_mpi_double");
	SYM(t_byte, "ompi_mpi_byte");
	SYM(op_sum, "ompi_mpi_op_sum");
	SYM(info_null, "ompi_mpi_info_null");
	SYM(errors_return, "ompi_mpi_errors_return");
#undef SYM
	return 0;
}

int alx_mpi_init(int *provided) {
	int rc = p_init_thread(NULL, NULL, MPI_THREAD_FUNNELED, provided);
	if (rc != 0) return rc;
	/* Errors come back as codes, to become Go errors, instead of aborting the job
	 * inside the library with its own message. */
	return p_comm_set_errhandler(world, errors_return);
}

int alx_mpi_initialized(int *flag) { return p_initialized(flag); }
int alx_mpi_finalize(void) { return p_finalize(); }
int alx_mpi_rank(int *rank) { return p_comm_rank(world, rank); }
int alx_mpi_size(int *size) { return p_comm_size(world, size); }

int alx_mpi_local(int *rank, int *size) {
	if (!local) {
		int rc = p_comm_split_type(world, MPI_COMM_TYPE_SHARED, 0, info_null, &local);
		if (rc != 0) return rc;
	}
	int rc = p_comm_rank(local, rank);
	if (rc != 0) return rc;
	return p_comm_size(local, size);
}

int alx_mpi_allreduce_f32(float *buf, long long n) {
	for (long long off = 0; off < n; off += CHUNK) {
		long long c = n - off < CHUNK ? n - off : CHUNK;
		int rc = p_allreduce(MPI_IN_PLACE, buf + off, (int)c, t_float, op_sum, world);
		if (rc != 0) return rc;
	}
	return 0;
}

int alx_mpi_allreduce_f64(double *buf, long long n) {
	for (long long off = 0; off < n; off += CHUNK) {
		long long c = n - off < CHUNK ? n - off : CHUNK;
		int rc = p_allreduce(MPI_IN_PLACE, buf + off, (int)c, t_double, op_sum, world);
		if (rc != 0) return rc;
	}
	return 0;
}

int alx_mpi_bcast(void *buf, long long n, int root) {
	for (long long off = 0; off < n; off += CHUNK) {
		long long c = n - off < CHUNK ? n - off : CHUNK;
		int rc = p_bcast((char *)buf + off, (int)c, t_byte, root, world);
		if (rc != 0) return rc;
	}
	return 0;
}

int alx_mpi_allgather(const void *send, void *recv, long long n) {
	return p_allgather(send, (int)n, t_byte, recv, (int)n, t_byte, world);
}

int alx_mpi_barrier(void) { return p_barrier(world); }
int alx_mpi_abort(int code) { return p_abort(world, code); }

int alx_mpi_library_version(char *buf, int len) {
	char v[8192]; /* MPI_MAX_LIBRARY_VERSION_STRING is 256 in Open MPI 4, larger elsewhere */
	int n = 0;
	int rc = p_get_library_version(v, &n);
	if (rc != 0) return rc;
	snprintf(buf, len, "%.*s", n, v);
	return 0;
}

int alx_mpi_error_string(int code, char *buf, int len) {
	char s[MPI_MAX_ERROR];
	int n = 0;
	if (p_error_string(code, s, &n) != 0) return -1;
	snprintf(buf, len, "%.*s", n, s);
	return 0;
}
