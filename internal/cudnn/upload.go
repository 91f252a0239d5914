package cudnn

import (
	"errors"
	"fmt"
	"unsafe"

	"alexnet/csrc"
)

// Uploads of batches through page-locked memory on a copy stream of their own, so
// the host copy and the transfer of the next batch overlap the compute still queued
// (the previous step's backward pass and SGD) instead of waiting for it.
//
// An upload of src into dst, on slot s of a small ring:
//
//	host:          wait s.copied          (the slot's previous transfer has read s.pinned)
//	               src -> s.pinned        (memcpy; src is the caller's again on return)
//	copy stream:   wait s.drained         (the slot's previous device copy has read s.staging)
//	               s.pinned -> s.staging  (DMA, overlaps compute)
//	               record s.copied
//	compute stream: wait s.copied
//	               s.staging -> dst       (device copy, in order with every other op)
//	               record s.drained
//
// dst is only written on the compute stream, in program order: kernels queued before
// the upload read the old contents, kernels queued after read the new, as with the
// synchronous copy. Download and Sync wait for the compute stream, which waited for
// the transfer, so the host never sees stale data.
//
// Two slots let two large uploads be in flight behind queued compute (a batch and a
// dropout mask, say); a third waits, on the GPU, for the first one's device copy, and
// the fifth waits on the host. Each slot grows to the largest upload it carried: for
// AlexNet, about the size of one input batch plus the largest weight matrix loaded.
//
// Small uploads (under uploadAsyncMin) keep the synchronous path, whose cost is
// latency, not bandwidth; uploads over uploadAsyncMax too, so that a one-off huge
// upload does not pin that much memory for the backend's life.
//
// Accounting: the device staging buffers are device memory like the rest and count in
// Memory (InUse, Peak). The page-locked buffers are host memory and do not; pinnedBytes
// reports them.
//
// If page-locked or staging memory cannot be had (or the stream and events cannot be
// created), uploads fall back to the synchronous path for the rest of the backend's
// life, silently: it is an optimisation, and the synchronous path is correct. The
// reason is kept in uploader.off (tests log it).
const (
	uploadAsyncMin = 1 << 20
	uploadAsyncMax = 256 << 20
	uploadSlots    = 2
)

type uploadSlot struct {
	pinned     unsafe.Pointer // page-locked host memory (C's, not Go's)
	pinnedCap  int64          // bytes
	staging    csrc.DevPtr
	stagingCap int64      // bytes
	copied     csrc.Event // recorded on the copy stream after pinned -> staging
	drained    csrc.Event // recorded on the compute stream after staging -> dst
}

type uploader struct {
	min, max int64       // upload sizes in bytes that take the asynchronous path
	copy     csrc.Stream // nil until the first asynchronous upload
	slots    [uploadSlots]uploadSlot
	next     int   // the slot the next upload uses
	ready    bool  // the stream and the events exist
	off      error // why the asynchronous path is off; nil while it is on
}

// errAllocFailed marks allocation failures, after which uploads fall back to the
// synchronous path; other errors (a fault of earlier work, usually) are returned.
var errAllocFailed = errors.New("allocation failed")

// uploadAsync queues the upload of src into dst as described above. It reports
// whether it took the upload; when it did not (the path is off), the caller copies
// synchronously.
func (b *Backend) uploadAsync(dst csrc.DevPtr, src []float32) (bool, error) {
	u := &b.up
	bytes := 4 * int64(len(src))
	if u.off != nil || bytes < u.min || bytes > u.max {
		return false, nil
	}
	if !u.ready {
		if err := b.uploadInit(); err != nil {
			u.off = fmt.Errorf("copy stream and events: %w", err)
			return false, nil
		}
	}
	s := &u.slots[u.next]
	// Before the host writes s.pinned: the slot's previous transfer has read it.
	// (An event never recorded counts as complete.)
	if err := csrc.CudaEventSynchronize(s.copied); err != nil {
		return true, err
	}
	if err := b.growSlot(s, bytes); err != nil {
		if errors.Is(err, errAllocFailed) {
			u.off = err
			return false, nil
		}
		return true, err
	}
	copy(unsafe.Slice((*float32)(s.pinned), len(src)), src)
	// Before the transfer overwrites s.staging: the device copy that the slot's previous
	// upload queued on the compute stream, maybe behind a whole step, has read it.
	if err := csrc.CudaStreamWaitEvent(u.copy, s.drained); err != nil {
		return true, err
	}
	if err := csrc.CudaMemcpyHtoDAsync(s.staging, s.pinned, bytes, u.copy); err != nil {
		return true, err
	}
	if err := csrc.CudaEventRecord(s.copied, u.copy); err != nil {
		return true, err
	}
	if err := csrc.CudaStreamWaitEvent(b.stream, s.copied); err != nil {
		return true, err
	}
	if err := csrc.CudaMemcpyDtoD(dst, s.staging, bytes, b.stream); err != nil {
		return true, err
	}
	if err := csrc.CudaEventRecord(s.drained, b.stream); err != nil {
		return true, err
	}
	u.next = (u.next + 1) % uploadSlots
	return true, nil
}

// uploadInit creates the copy stream and the slots' events. What it created before
// failing is released by releaseUploads.
func (b *Backend) uploadInit() error {
	u := &b.up
	var err error
	// Non-blocking: no implicit ordering with the legacy default stream, which this
	// backend never uses; the events do all the ordering.
	if u.copy, err = csrc.CudaStreamCreateNonBlocking(); err != nil {
		return err
	}
	for i := range u.slots {
		s := &u.slots[i]
		if s.copied, err = csrc.CudaEventCreateDisableTiming(); err != nil {
			return err
		}
		if s.drained, err = csrc.CudaEventCreateDisableTiming(); err != nil {
			return err
		}
	}
	u.ready = true
	return nil
}

// growSlot makes s hold at least bytes, page-locked and on the device. The caller has
// waited for s.copied, so the old page-locked memory is free; the old staging memory
// may still be read by a queued device copy, which is waited for here (rarely: only
// when a larger upload than ever comes through this slot).
func (b *Backend) growSlot(s *uploadSlot, bytes int64) error {
	if bytes > s.pinnedCap {
		if s.pinned != nil {
			if err := csrc.CudaFreeHost(s.pinned); err != nil {
				return err
			}
			s.pinned, s.pinnedCap = nil, 0
		}
		p, err := csrc.CudaMallocHost(bytes)
		if err != nil {
			return fmt.Errorf("%w: %d MiB of page-locked host memory: %w", errAllocFailed, bytes>>20, err)
		}
		s.pinned, s.pinnedCap = p, bytes
	}
	if bytes > s.stagingCap {
		if s.staging != 0 {
			if err := csrc.CudaEventSynchronize(s.drained); err != nil {
				return err
			}
			if err := b.mfree(s.staging, s.stagingCap); err != nil {
				return err
			}
			s.staging, s.stagingCap = 0, 0
		}
		p, err := b.malloc(bytes)
		if err != nil {
			return fmt.Errorf("%w: %d MiB of device staging memory: %w", errAllocFailed, bytes>>20, err)
		}
		s.staging, s.stagingCap = p, bytes
	}
	return nil
}

// releaseUploads waits for the uploads in flight and frees what uploadAsync made,
// tolerating a half-initialised uploader. Called by teardown, before the compute
// stream is destroyed.
func (b *Backend) releaseUploads() []error {
	u := &b.up
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	for i := range u.slots {
		s := &u.slots[i]
		// drained comes after copied on the GPU; both are waited for in case one of
		// them was never recorded.
		if s.drained != nil {
			keep(csrc.CudaEventSynchronize(s.drained))
		}
		if s.copied != nil {
			keep(csrc.CudaEventSynchronize(s.copied))
		}
		keep(b.mfree(s.staging, s.stagingCap))
		if s.pinned != nil {
			keep(csrc.CudaFreeHost(s.pinned))
		}
		if s.drained != nil {
			keep(csrc.CudaEventDestroy(s.drained))
		}
		if s.copied != nil {
			keep(csrc.CudaEventDestroy(s.copied))
		}
		*s = uploadSlot{}
	}
	if u.copy != nil {
		keep(csrc.CudaStreamSynchronize(u.copy))
		keep(csrc.CudaStreamDestroy(u.copy))
		u.copy = nil
	}
	u.ready = false
	return errs
}

// pinnedBytes is the page-locked host memory the uploads hold (not in Memory).
func (b *Backend) pinnedBytes() int64 {
	var n int64
	for i := range b.up.slots {
		n += b.up.slots[i].pinnedCap
	}
	return n
}

// stagingBytes is the device staging memory the uploads hold (in Memory).
func (b *Backend) stagingBytes() int64 {
	var n int64
	for i := range b.up.slots {
		n += b.up.slots[i].stagingCap
	}
	return n
}
