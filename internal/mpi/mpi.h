/* The few MPI calls data parallelism makes, through Open MPI's library opened at
 * run time (dlopen of libmpi.so.40), so that the binary starts where MPI is not
 * installed. The prototypes are Open MPI's (mpi.h of Open MPI 4 and 5): its
 * handles (MPI_Comm, MPI_Datatype, MPI_Op, ...) are pointers to the library's
 * predefined globals, so a handle is the address dlsym returns for the global. */
#ifndef ALX_MPI_H
#define ALX_MPI_H

#include <stddef.h>

/* alx_mpi_open loads the library and its symbols; 0 on success, else err holds
 * the reason (dlerror's, or the missing symbol). */
int alx_mpi_open(const char *path, char *err, int errlen);

int alx_mpi_init(int *provided);          /* MPI_Init_thread(FUNNELED) */
int alx_mpi_initialized(int *flag);
int alx_mpi_finalize(void);
int alx_mpi_rank(int *rank);              /* in MPI_COMM_WORLD */
int alx_mpi_size(int *size);
int alx_mpi_local(int *rank, int *size);  /* in the node's shared-memory communicator */
int alx_mpi_allreduce_f32(float *buf, long long n);   /* in place, sum */
int alx_mpi_allreduce_f64(double *buf, long long n);  /* in place, sum */
int alx_mpi_bcast(void *buf, long long n, int root);  /* bytes */
int alx_mpi_allgather(const void *send, void *recv, long long n); /* n bytes from each rank */
int alx_mpi_barrier(void);
int alx_mpi_abort(int code);
int alx_mpi_library_version(char *buf, int len);
int alx_mpi_error_string(int code, char *buf, int len);

#endif
