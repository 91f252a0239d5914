package cudnn

import (
	"errors"
	"fmt"
	"unsafe"

	"alexnet/csrc"
	"alexnet/internal/backend"
)

// xentThreads is XENT_THREADS of softmax.cu, the threads of a block of both kernels.
const xentThreads = 256

// Softmax cross-entropy (PyTorch's F.cross_entropy) by two NVRTC kernels:
// softmax_xent, one block per row,
//
//	logits [N, C]   labels [N] in 0..C-1   dlogits [N, C]
//	losses[n] = logsumexp(logits[n,:]) - logits[n, labels[n]]
//	higher[n] = #classes scoring strictly higher than labels[n]
//	dlogits[n,c] = (softmax(logits[n,:])[c] - [c == labels[n]]) / N
//
// then xent_sums, one block, adding the rows' loss, top-1 and top-5 hits to the
// caller's sums in a fixed order. Nothing is read back: the labels go up from
// page-locked memory on the compute stream, so a training step never waits for the
// GPU (the train loop downloads the sums every few steps).
func (b *Backend) SoftmaxCrossEntropy(logits backend.Buffer, labels []int32, n, c int, dlogits, sums backend.Buffer) error {
	const op = "softmax cross-entropy"
	if n <= 0 || c <= 0 {
		return fmt.Errorf("cuda %s: sizes must be positive (got n=%d, c=%d)", op, n, c)
	}
	if int64(n)*int64(c) > maxElems {
		return fmt.Errorf("cuda %s: %d x %d logits are too many", op, n, c)
	}
	if len(labels) != n {
		return fmt.Errorf("cuda %s: %d labels for %d rows", op, len(labels), n)
	}
	for i, l := range labels {
		if l < 0 || int(l) >= c {
			return fmt.Errorf("cuda %s: label %d of row %d is outside 0..%d", op, l, i, c-1)
		}
	}
	a := b.args(op)
	lp := a.atLeast(logits, n*c, "logits")
	var dp csrc.DevPtr
	if dlogits != nil {
		dp = a.atLeast(dlogits, n*c, "dlogits")
	}
	sp := a.get(sums, 3, "sums")
	if a.err != nil {
		return a.err
	}
	done, err := b.enter(op)
	if err != nil {
		return err
	}
	defer done()
	x := &b.xent
	if err := x.grow(b, n); err != nil {
		return wrapOp(op, err)
	}
	if err := x.uploadLabels(b, labels); err != nil {
		return wrapOp(op, err)
	}
	wantGrad := int32(0)
	if dlogits != nil {
		wantGrad = 1
	}
	if err := b.launch("softmax_xent", n, 1, xentThreads, lp, x.labels, dp, x.losses, x.higher, int32(n), int32(c), wantGrad); err != nil {
		return wrapOp(op, err)
	}
	return wrapOp(op, b.launch("xent_sums", 1, 1, xentThreads, x.losses, x.higher, int32(n), sp))
}

// labelSlots is the ring of page-locked label buffers: a slot is rewritten only
// after the copy that read it last has run, which with four slots has long
// happened unless the host is four steps ahead of the GPU.
const labelSlots = 4

// xentScratch is the loss kernels' device memory and the page-locked labels.
type xentScratch struct {
	cap                    int         // rows the device buffers hold
	labels, losses, higher csrc.DevPtr // int32, float64, int32 [cap]
	slots                  [labelSlots]labelSlot
	next                   int
	// pinnedOff is why labels go up synchronously (page-locked memory or an event
	// could not be had); nil while the asynchronous path is on.
	pinnedOff error
}

type labelSlot struct {
	host   unsafe.Pointer // page-locked int32 [cap]
	cap    int
	copied csrc.Event // recorded after the copy that read host
}

// grow makes the device buffers hold n rows.
func (x *xentScratch) grow(b *Backend, n int) error {
	if n <= x.cap {
		return nil
	}
	if errs := x.free(b); len(errs) > 0 {
		return errors.Join(errs...)
	}
	// All three or none: free counts x.cap rows of each, so a partial allocation
	// left behind would be freed uncounted (and Memory would drift).
	sizes := [3]int64{4, 8, 4} // bytes per row: labels, losses, higher
	var ptrs [3]csrc.DevPtr
	for i, size := range sizes {
		p, err := b.malloc(size * int64(n))
		if err != nil {
			for j := range i {
				b.mfree(ptrs[j], sizes[j]*int64(n))
			}
			return err
		}
		ptrs[i] = p
	}
	x.labels, x.losses, x.higher, x.cap = ptrs[0], ptrs[1], ptrs[2], n
	return nil
}

// uploadLabels queues the copy of labels into x.labels on the compute stream.
func (x *xentScratch) uploadLabels(b *Backend, labels []int32) error {
	bytes := 4 * int64(len(labels))
	if x.pinnedOff == nil {
		s := &x.slots[x.next]
		err := s.ready(len(labels))
		if err == nil {
			copy(unsafe.Slice((*int32)(s.host), len(labels)), labels)
			if err := csrc.CudaMemcpyHtoDAsync(x.labels, s.host, bytes, b.stream); err != nil {
				return err
			}
			// The slot is the next one's to reuse only once its event marks the copy.
			if err := csrc.CudaEventRecord(s.copied, b.stream); err != nil {
				return err
			}
			x.next = (x.next + 1) % labelSlots
			return nil
		}
		if !errors.Is(err, errAllocFailed) {
			return err
		}
		x.pinnedOff = err
	}
	return csrc.CudaMemcpyHtoDSync(x.labels, unsafe.Pointer(&labels[0]), bytes, b.stream)
}

// ready waits until the slot's last copy has run and makes it hold n labels.
func (s *labelSlot) ready(n int) error {
	if s.copied == nil {
		e, err := csrc.CudaEventCreateDisableTiming()
		if err != nil {
			return fmt.Errorf("%w: %v", errAllocFailed, err)
		}
		s.copied = e
	} else if err := csrc.CudaEventSynchronize(s.copied); err != nil {
		return err
	}
	if n <= s.cap {
		return nil
	}
	if s.host != nil {
		if err := csrc.CudaFreeHost(s.host); err != nil {
			return err
		}
		s.host, s.cap = nil, 0
	}
	p, err := csrc.CudaMallocHost(4 * int64(n))
	if err != nil {
		return fmt.Errorf("%w: %v", errAllocFailed, err)
	}
	s.host, s.cap = p, n
	return nil
}

// free releases the device buffers (not the page-locked slots).
func (x *xentScratch) free(b *Backend) []error {
	var errs []error
	for _, p := range []struct {
		p     *csrc.DevPtr
		bytes int64
	}{{&x.labels, 4}, {&x.losses, 8}, {&x.higher, 4}} {
		if err := b.mfree(*p.p, p.bytes*int64(x.cap)); err != nil {
			errs = append(errs, err)
		}
		*p.p = 0
	}
	x.cap = 0
	return errs
}

// release frees everything, at Close (after the stream has drained).
func (x *xentScratch) release(b *Backend) []error {
	errs := x.free(b)
	for i := range x.slots {
		s := &x.slots[i]
		if s.host != nil {
			if err := csrc.CudaFreeHost(s.host); err != nil {
				errs = append(errs, err)
			}
		}
		if s.copied != nil {
			if err := csrc.CudaEventDestroy(s.copied); err != nil {
				errs = append(errs, err)
			}
		}
		*s = labelSlot{}
	}
	return errs
}
