// Package mpi is the message passing of data-parallel training: Open MPI's
// library, opened at run time like the CUDA libraries, so the one binary runs
// where MPI is not installed and joins a job where mpirun started it.
//
// Only the calls data parallelism needs are bound: init, rank and size (and the
// node-local rank, which picks a GPU), in-place sum all-reduce of float32 and
// float64, broadcast and all-gather of bytes, barrier and abort. All run on one
// goroutine locked to the OS thread that initialised MPI (MPI_THREAD_FUNNELED):
// Go moves goroutines between threads, MPI does not let calls follow them. That
// goroutine also lets a reduction run while the caller computes (Start).
//
// The handles bound are Open MPI's (its predefined globals), so the library must
// be Open MPI's libmpi.so.40 (Open MPI 3 to 5; Debian's openmpi-bin): MPICH's
// libmpi.so.12 encodes handles as integers and is refused by name.
package mpi

/*
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "mpi.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// ErrNotLaunched is returned by Init outside a job started by mpirun or srun.
var ErrNotLaunched = errors.New("not launched by mpirun or srun")

// Launched reports whether this process was started as a rank of an MPI job: the
// launchers set these (Open MPI's mpirun; PMIx and PMI as under Slurm's srun).
func Launched() bool {
	for _, v := range []string{"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"} {
		if os.Getenv(v) != "" {
			return true
		}
	}
	return false
}

// Library is the shared object opened: ALEXNET_MPI_LIB names another.
func Library() string {
	if p := os.Getenv("ALEXNET_MPI_LIB"); p != "" {
		return p
	}
	return "libmpi.so.40"
}

var (
	openOnce sync.Once
	openErr  error
)

// open loads the library once.
func open() error {
	openOnce.Do(func() {
		path := Library()
		cpath := C.CString(path)
		defer C.free(unsafe.Pointer(cpath))
		var buf [512]C.char
		if C.alx_mpi_open(cpath, &buf[0], C.int(len(buf))) != 0 {
			openErr = fmt.Errorf("open MPI library %s: %s; install Open MPI (Debian: apt-get install openmpi-bin) or set ALEXNET_MPI_LIB",
				path, C.GoString(&buf[0]))
		}
	})
	return openErr
}

// Version is the MPI library's name and version ("Open MPI v4.1.4"), opening the
// library without initialising MPI: for `alexnet devices`.
func Version() (string, error) {
	if err := open(); err != nil {
		return "", err
	}
	var buf [1024]C.char
	if rc := C.alx_mpi_library_version(&buf[0], C.int(len(buf))); rc != 0 {
		return "", fmt.Errorf("MPI_Get_library_version: error %d", int(rc))
	}
	// "Open MPI v4.1.4, package: Debian OpenMPI, ident: ...": the name and version.
	v := strings.TrimSpace(C.GoString(&buf[0]))
	if i := strings.IndexAny(v, ",\n"); i >= 0 {
		v = v[:i]
	}
	return v, nil
}

// World is this process's place in the job.
type World struct {
	Rank, Size           int
	LocalRank, LocalSize int // within the node: which GPU is this rank's

	calls     chan func()
	done      chan struct{} // closed by Finalize
	finalized chan struct{} // closed once MPI_Finalize returned
	once      sync.Once
}

// Init initialises MPI in a job started by a launcher (ErrNotLaunched otherwise).
func Init() (*World, error) {
	if !Launched() {
		return nil, ErrNotLaunched
	}
	if err := open(); err != nil {
		return nil, err
	}
	// The queue holds a step's reductions (one per parameter tensor) without
	// blocking the caller; more waits for room, in order.
	w := &World{calls: make(chan func(), 256), done: make(chan struct{}), finalized: make(chan struct{})}
	ready := make(chan error)
	go w.serve(ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return w, nil
}

// serve runs every MPI call of the process on one locked thread, the one that
// initialised MPI, until Finalize.
func (w *World) serve(ready chan<- error) {
	runtime.LockOSThread()
	var provided C.int
	if rc := C.alx_mpi_init(&provided); rc != 0 {
		ready <- fmt.Errorf("MPI_Init_thread: %s", errorString(rc))
		return
	}
	var r, s, lr, ls C.int
	err := errors.Join(check("MPI_Comm_rank", C.alx_mpi_rank(&r)), check("MPI_Comm_size", C.alx_mpi_size(&s)),
		check("MPI_Comm_split_type", C.alx_mpi_local(&lr, &ls)))
	if err == nil && provided < 1 {
		err = fmt.Errorf("MPI_Init_thread: the library gives thread level %d, not MPI_THREAD_FUNNELED", int(provided))
	}
	w.Rank, w.Size, w.LocalRank, w.LocalSize = int(r), int(s), int(lr), int(ls)
	ready <- err
	if err != nil {
		return
	}
	for {
		select {
		case f := <-w.calls:
			f()
		case <-w.done:
			C.alx_mpi_finalize()
			close(w.finalized)
			return
		}
	}
}

// do runs f on the MPI thread and waits for it.
func (w *World) do(f func() C.int, what string) error {
	return w.Start(f, what).Wait()
}

// Request is a call running on the MPI thread.
type Request struct {
	done chan struct{}
	err  error
}

// Wait blocks until the call has finished and returns its error.
func (r *Request) Wait() error {
	<-r.done
	return r.err
}

// Start queues f on the MPI thread and returns at once: the caller computes while
// the reduction runs. Calls run one at a time in the order started, which must be
// the same on every rank (collectives match by order): start them from one
// goroutine.
func (w *World) Start(f func() C.int, what string) *Request {
	r := &Request{done: make(chan struct{})}
	w.calls <- func() {
		r.err = check(what, f())
		close(r.done)
	}
	return r
}

func check(what string, rc C.int) error {
	if rc == 0 {
		return nil
	}
	return fmt.Errorf("%s: %s", what, errorString(rc))
}

func errorString(rc C.int) string {
	var buf [512]C.char
	if C.alx_mpi_error_string(rc, &buf[0], C.int(len(buf))) != 0 {
		return fmt.Sprintf("MPI error %d", int(rc))
	}
	return C.GoString(&buf[0])
}

// AllReduce sums buf over the ranks, in place: every rank ends with the sum.
func (w *World) AllReduce(buf []float32) error {
	return w.StartAllReduce(buf).Wait()
}

// StartAllReduce is AllReduce queued on the MPI thread (see Start). buf must not
// be touched until Wait returns.
func (w *World) StartAllReduce(buf []float32) *Request {
	return w.Start(func() C.int {
		if len(buf) == 0 {
			return 0
		}
		return C.alx_mpi_allreduce_f32((*C.float)(unsafe.Pointer(&buf[0])), C.longlong(len(buf)))
	}, "MPI_Allreduce")
}

// AllReduce64 sums buf over the ranks in float64, in place: counts and sums that
// must come out exact.
func (w *World) AllReduce64(buf []float64) error {
	return w.do(func() C.int {
		if len(buf) == 0 {
			return 0
		}
		return C.alx_mpi_allreduce_f64((*C.double)(unsafe.Pointer(&buf[0])), C.longlong(len(buf)))
	}, "MPI_Allreduce")
}

// Broadcast sends root's buf to every rank's buf (of the same length).
func (w *World) Broadcast(buf []byte, root int) error {
	return w.do(func() C.int {
		if len(buf) == 0 {
			return 0
		}
		return C.alx_mpi_bcast(unsafe.Pointer(&buf[0]), C.longlong(len(buf)), C.int(root))
	}, "MPI_Bcast")
}

// AllGather collects every rank's buf (all of one length) in rank order.
func (w *World) AllGather(buf []byte) ([][]byte, error) {
	n := len(buf)
	if n == 0 {
		return make([][]byte, w.Size), nil
	}
	all := make([]byte, n*w.Size)
	err := w.do(func() C.int {
		return C.alx_mpi_allgather(unsafe.Pointer(&buf[0]), unsafe.Pointer(&all[0]), C.longlong(n))
	}, "MPI_Allgather")
	out := make([][]byte, w.Size)
	for r := range out {
		out[r] = all[r*n : (r+1)*n]
	}
	return out, err
}

// Barrier waits for every rank.
func (w *World) Barrier() error {
	return w.do(func() C.int { return C.alx_mpi_barrier() }, "MPI_Barrier")
}

// Abort ends every rank of the job with code (mpirun exits with it). It does not
// go through the MPI thread, which may be the one stuck.
func (w *World) Abort(code int) {
	C.alx_mpi_abort(C.int(code))
}

// Finalize ends MPI on this rank (wait for every request first); the World is
// unusable after it. A rank that exits without it is an abnormal end to mpirun.
func (w *World) Finalize() {
	w.once.Do(func() { close(w.done) })
	<-w.finalized
}
