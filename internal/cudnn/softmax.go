package cudnn

import (
	"fmt"
	"unsafe"

	"alexnet/internal/backend"
)

// Softmax cross-entropy, averaged over the batch (PyTorch's F.cross_entropy), by an
// NVRTC kernel with one block per row:
//
//	logits [N, C]   labels [N] in 0..C-1   dlogits [N, C]
//	loss = 1/N * sum_n ( logsumexp(logits[n,:]) - logits[n, labels[n]] )
//	dlogits[n,c] = (softmax(logits[n,:])[c] - [c == labels[n]]) / N
//
// The labels go up and the N row losses come down each call (a few hundred bytes,
// and the download waits for the stream: the loss is a host value). dlogits may be
// nil when only the loss is wanted.

func (b *Backend) SoftmaxCrossEntropy(logits backend.Buffer, labels []int32, n, c int, dlogits backend.Buffer) (float64, error) {
	const op = "softmax cross-entropy"
	if n <= 0 || c <= 0 {
		return 0, fmt.Errorf("cuda %s: sizes must be positive (got n=%d, c=%d)", op, n, c)
	}
	if int64(n)*int64(c) > maxElems {
		return 0, fmt.Errorf("cuda %s: %d x %d logits are too many", op, n, c)
	}
	if len(labels) != n {
		return 0, fmt.Errorf("cuda %s: %d labels for %d rows", op, len(labels), n)
	}
	for i, l := range labels {
		if l < 0 || int(l) >= c {
			return 0, fmt.Errorf("cuda %s: label %d of row %d is outside 0..%d", op, l, i, c-1)
		}
	}
	a := b.args(op)
	lp := a.atLeast(logits, n*c, "logits")
	var dp devPtr
	if dlogits != nil {
		dp = a.atLeast(dlogits, n*c, "dlogits")
	}
	if a.err != nil {
		return 0, a.err
	}
	done, err := b.enter(op)
	if err != nil {
		return 0, err
	}
	defer done()
	if err := b.softmaxScratch(n); err != nil {
		return 0, wrapOp(op, err)
	}
	if err := cudaMemcpyHtoDSync(b.labels, unsafe.Pointer(&labels[0]), 4*int64(n), b.stream); err != nil {
		return 0, wrapOp(op, err)
	}
	if err := launchSoftmaxXent(b.kern.fn["softmax_xent"], b.stream, n, xentThreads, lp, b.labels, dp, b.losses, n, c, dlogits != nil); err != nil {
		return 0, wrapOp(op, err)
	}
	losses := make([]float64, n)
	if err := cudaMemcpyDtoHSync(unsafe.Pointer(&losses[0]), b.losses, 8*int64(n), b.stream); err != nil {
		return 0, wrapOp(op, err)
	}
	var total float64
	for _, l := range losses {
		total += l
	}
	return total / float64(n), nil
}

// softmaxScratch grows the device buffers for n labels and n row losses.
func (b *Backend) softmaxScratch(n int) error {
	if n > b.labelsCap {
		if err := b.mfree(b.labels, 4*int64(b.labelsCap)); err != nil {
			return err
		}
		b.labels, b.labelsCap = 0, 0
		p, err := b.malloc(4 * int64(n))
		if err != nil {
			return err
		}
		b.labels, b.labelsCap = p, n
	}
	if n > b.lossesCap {
		if err := b.mfree(b.losses, 8*int64(b.lossesCap)); err != nil {
			return err
		}
		b.losses, b.lossesCap = 0, 0
		p, err := b.malloc(8 * int64(n))
		if err != nil {
			return err
		}
		b.losses, b.lossesCap = p, n
	}
	return nil
}
