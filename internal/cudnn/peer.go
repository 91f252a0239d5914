package cudnn

import (
	"fmt"

	"alexnet/csrc"
	"alexnet/internal/backend"
)

// CopyPeer moves rows runs of width floats from src (a buffer of from, another cuda
// backend or this one) into dst, run r from src[srcOff+r*srcStride:] to
// dst[dstOff+r*dstStride:], with one cudaMemcpy2DAsync on this backend's stream. It
// is what the two-tower model parallelism joins the towers with (backend.PeerCopier):
// cudaMemcpyDefault under unified addressing takes the peer-to-peer path between two
// GPUs once peer access is enabled, and is a device copy when both towers share one.
// The caller orders it: from is synchronised before, this backend after.
func (b *Backend) CopyPeer(dst backend.Buffer, dstOff, dstStride int, src backend.Buffer, srcOff, srcStride, width, rows int, from backend.Backend) error {
	const op = "copy peer"
	fb, ok := from.(*Backend)
	if !ok {
		return fmt.Errorf("cuda %s: the source backend is a %T, not cuda", op, from)
	}
	a, fa := b.args(op), fb.args(op)
	d, dn := a.any(dst, "dst")
	s, sn := fa.any(src, "src")
	if a.err != nil {
		return a.err
	}
	if fa.err != nil {
		return fa.err
	}
	if rows == 0 || width == 0 {
		return nil
	}
	if width < 0 || rows < 0 || dstOff < 0 || srcOff < 0 || (rows > 1 && (dstStride < width || srcStride < width)) ||
		dstOff+(rows-1)*dstStride+width > dn || srcOff+(rows-1)*srcStride+width > sn {
		return fmt.Errorf("cuda %s: %d runs of %d floats (strides %d, %d; offsets %d, %d) do not fit buffers of %d and %d",
			op, rows, width, dstStride, srcStride, dstOff, srcOff, dn, sn)
	}
	done, err := b.enter(op)
	if err != nil {
		return err
	}
	defer done()
	if fb.dev != b.dev {
		b.enablePeer(fb.dev)
	}
	if err := csrc.CudaMemcpy2DDefault(d+csrc.DevPtr(4*dstOff), 4*int64(dstStride), s+csrc.DevPtr(4*srcOff), 4*int64(srcStride),
		4*int64(width), int64(rows), b.stream); err != nil {
		return fmt.Errorf("cuda %s: %w", op, err)
	}
	return nil
}

// enablePeer lets this backend's device read the peer's memory directly, once; where
// the hardware cannot, cudaMemcpyDefault still works through the host.
func (b *Backend) enablePeer(peer int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.peers == nil {
		b.peers = map[int]bool{}
	}
	if _, tried := b.peers[peer]; tried {
		return
	}
	can, err := csrc.CudaDeviceCanAccessPeer(b.dev, peer)
	b.peers[peer] = err == nil && can && csrc.CudaDeviceEnablePeerAccess(peer) == nil
}
