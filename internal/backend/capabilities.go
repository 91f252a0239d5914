package backend

import "alexnet/internal/lowp"

// Optional capabilities. Backend is what every layer needs; a backend may also
// offer the interfaces below, and the code that can use one asks with a type
// assertion and has a path without it. They are declared here, beside Backend,
// so that no backend imports the packages that use it.

// NativePrecision is a backend that may implement a precision itself: Open wraps a
// backend in Emulate when BF16 or FP16 is asked for and the backend does not report
// it native. The answer may depend on the machine (the cpu backend computes bf16
// natively only where the CPU has bf16 instructions).
type NativePrecision interface {
	NativePrecision(p Precision) bool
}

// HostMemory is a backend whose buffers are host memory (cpu, ref). Host returns a
// buffer's values in plain order for the caller to read and write while no op
// of the backend uses that buffer, and counts the buffer as written: a checkpoint is read
// from the file straight into the buffer (model.WeightLoader), and data
// parallelism all-reduces a gradient in place, instead of through copies.
type HostMemory interface {
	Host(b Buffer) ([]float32, error)
}

// IsNative reports whether b computes p itself.
func IsNative(b Backend, p Precision) bool {
	n, ok := b.(NativePrecision)
	return ok && n.NativePrecision(p)
}

// Rounder is what Emulate needs of a backend: dst = f.Round(src) elementwise, the
// same length; dst may be src, and takes src's layout.
type Rounder interface {
	Round(dst, src Buffer, f lowp.Format) error
}

// PeerCopier is what a backend may implement to move data between its buffers and
// another backend's (or its own) without staging through host memory: on GPUs,
// cudaMemcpy2DAsync with cudaMemcpyDefault under unified addressing, which takes
// the peer-to-peer path when peer access is enabled.
//
// The copy is strided because the towers exchange parts of NCHW tensors: tower k's
// channels of each image are one run of floats, and the runs of consecutive images
// are a whole image apart. So CopyPeer copies rows runs of width floats, run r from
// src[srcOff + r*srcStride:] to dst[dstOff + r*dstStride:]. dst belongs to the
// receiver; src belongs to from, which may be the receiver itself. (A whole-buffer
// copy, CopyPeer(dst, src, from), cannot build the concatenation of two towers'
// channels that a layer reading both towers needs, and the backend interface has no
// offsets; hence the strides.)
//
// Ordering: the towers call the source backend's Sync before the copy is issued and
// the receiver's Sync after it, before either buffer is written again; the copy may
// be asynchronous on the receiver's queue in between.
type PeerCopier interface {
	CopyPeer(dst Buffer, dstOff, dstStride int, src Buffer, srcOff, srcStride, width, rows int, from Backend) error
}

// ChannelAligner is a backend whose channel-wise ops run fastest on whole blocks
// of channels: ChannelBlock is that block (oneDNN's 8 floats on AVX2, 16 on
// AVX-512). The executor rounds the channels of the LRN halos it builds up to it
// with zero channels (see model.Split); without it, halos keep their exact width.
type ChannelAligner interface {
	ChannelBlock() int
}
