package cudnn

import (
	"fmt"

	"alexnet/csrc"
	"alexnet/internal/backend"
)

// Local response normalisation across channels, by cuDNN:
//
//	y = x / (K + Alpha/Size * sum_{c' in window(c)} x_{c'}^2)^Beta     x, y [N, C, H, W]
//	backward: dx from x, y, dy                                          dy, dx [N, C, H, W]
//
// cuDNN's alpha is the interface's: cudnnSetLRNDescriptor documents that it divides
// lrnAlpha by the window width, as cuda-convnet, Caffe, PyTorch and oneDNN do. Its
// window is [c - floor((Size-1)/2), c + Size - 1 - floor((Size-1)/2)], the
// interface's [c - Size/2, c + (Size-1)/2] for odd sizes only (AlexNet's is 5), so
// even sizes are refused, as are values outside cuDNN's limits (Size 1..16, K >=
// 1e-5, Beta >= 0.01).
type lrn struct {
	b  *Backend
	p  backend.LRNParams
	d  csrc.LRNDesc
	xD csrc.TensorDesc // x, y, dy and dx share the shape
}

func (b *Backend) NewLRN(p backend.LRNParams) (backend.Op, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	switch {
	case p.Size%2 == 0:
		return nil, fmt.Errorf("cuda lrn: size %d is even; cuDNN centres even windows differently from the interface, so only odd sizes are supported", p.Size)
	case p.Size < csrc.CudnnLRNMinN || p.Size > csrc.CudnnLRNMaxN:
		return nil, fmt.Errorf("cuda lrn: size %d is outside cuDNN's %d..%d", p.Size, csrc.CudnnLRNMinN, csrc.CudnnLRNMaxN)
	case float64(p.K) < csrc.CudnnLRNMinK:
		return nil, fmt.Errorf("cuda lrn: k %g is below cuDNN's minimum %g", p.K, csrc.CudnnLRNMinK)
	case float64(p.Beta) < csrc.CudnnLRNMinBeta:
		return nil, fmt.Errorf("cuda lrn: beta %g is below cuDNN's minimum %g", p.Beta, csrc.CudnnLRNMinBeta)
	}
	if err := checkTensor("lrn", p.In); err != nil {
		return nil, err
	}
	done, err := b.enter("new lrn")
	if err != nil {
		return nil, err
	}
	defer done()
	l := &lrn{b: b, p: p}
	if l.d, err = csrc.CudnnCreateLRNDescriptor(); err != nil {
		return nil, wrapOp("new lrn", err)
	}
	d := l.d
	b.onClose(func() error { return csrc.CudnnDestroyLRNDescriptor(d) })
	// The float32 parameters go in as the doubles nearest them, exactly as given.
	if err := csrc.CudnnSetLRNDescriptor(l.d, p.Size, float64(p.Alpha), float64(p.Beta), float64(p.K)); err != nil {
		return nil, wrapOp("new lrn", err)
	}
	if l.xD, err = b.tensorDesc(p.In.N, p.In.C, p.In.H, p.In.W); err != nil {
		return nil, wrapOp("new lrn", err)
	}
	return l, nil
}

func (l *lrn) OutShape() backend.Shape { return l.p.In }

func (l *lrn) Forward(x, y backend.Buffer) error {
	n := l.p.In.Len()
	a := l.b.args("lrn forward")
	xp := a.get(x, n, "x")
	yp := a.get(y, n, "y")
	if a.err != nil {
		return a.err
	}
	done, err := l.b.enter(a.op)
	if err != nil {
		return err
	}
	defer done()
	return wrapOp(a.op, csrc.CudnnLRNCrossChannelForward(l.b.dnn, l.d, 1, l.xD, xp, 0, l.xD, yp))
}

func (l *lrn) Backward(x, y, dy, dx backend.Buffer) error {
	n := l.p.In.Len()
	a := l.b.args("lrn backward")
	xp := a.get(x, n, "x")
	yp := a.get(y, n, "y")
	dyp := a.get(dy, n, "dy")
	dxp := a.get(dx, n, "dx")
	if a.err != nil {
		return a.err
	}
	done, err := l.b.enter(a.op)
	if err != nil {
		return err
	}
	defer done()
	return wrapOp(a.op, csrc.CudnnLRNCrossChannelBackward(l.b.dnn, l.d, 1, l.xD, yp, l.xD, dyp, l.xD, xp, 0, l.xD, dxp))
}
