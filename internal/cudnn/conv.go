package cudnn

/*
#include "axwrap.h"
*/
import "C"

import (
	"fmt"

	"alexnet/internal/backend"
)

// Convolution with groups and bias, by cuDNN's legacy convolution API.
//
//	forward:         y  = conv(x, w) + b     x [N, C, H, W]   w [OutC, C/G, KH, KW]   b [OutC]
//	                                         y [N, OutC, OH, OW]
//	backward data:   dx = conv^T(dy, w)      (overwritten: beta = 0)
//	backward filter: dw += corr(x, dy)       db += sum_{n,h,w} dy   (accumulated: beta = 1)
//
// Groups go to cuDNN (cudnnSetConvolutionGroupCount), which runs them in one call.
// Each direction has its own convolution descriptor because each may pick an
// algorithm of a different math type, which the descriptor must then carry. The
// algorithms are chosen once, here, within Config.WorkspaceLimit: timed by
// cudnnFind*AlgorithmEx on scratch tensors of the op's shapes, or by cuDNN's
// heuristics (Config.Heuristic, or when timing fails).
type conv struct {
	b        *Backend
	p        backend.ConvParams
	out      backend.Shape
	xD, yD   C.cudnnTensorDescriptor_t
	biasD    C.cudnnTensorDescriptor_t // [1, OutC, 1, 1]
	wD       C.cudnnFilterDescriptor_t
	fwdD     C.cudnnConvolutionDescriptor_t
	dataD    C.cudnnConvolutionDescriptor_t
	filterD  C.cudnnConvolutionDescriptor_t
	fwd      algoChoice
	bwdData  algoChoice
	bwdFiltr algoChoice
}

// algoChoice is the algorithm of one direction and the workspace it needs.
type algoChoice struct {
	algo     int
	ws       int64
	mathType int
	how      string // "find" or "heuristic", for error messages
}

func (b *Backend) NewConv(p backend.ConvParams) (backend.Conv, error) {
	out, err := p.Out()
	if err != nil {
		return nil, err
	}
	for _, s := range []backend.Shape{p.In, out, {N: p.OutC, C: p.In.C / p.Groups, H: p.KH, W: p.KW}} {
		if err := checkTensor("conv", s); err != nil {
			return nil, err
		}
	}
	done, err := b.enter("new conv")
	if err != nil {
		return nil, err
	}
	defer done()
	c := &conv{b: b, p: p, out: out}
	if err := c.describe(); err != nil {
		return nil, fmt.Errorf("cuda new conv %+v: %w", p, err)
	}
	if err := c.chooseAlgorithms(); err != nil {
		return nil, fmt.Errorf("cuda new conv %+v: %w", p, err)
	}
	return c, nil
}

// describe creates the descriptors (destroyed at Close) and checks that cuDNN's
// output shape is ours.
func (c *conv) describe() error {
	b, p, out := c.b, c.p, c.out
	var err error
	if c.xD, err = b.tensorDesc(p.In.N, p.In.C, p.In.H, p.In.W); err != nil {
		return err
	}
	if c.yD, err = b.tensorDesc(out.N, out.C, out.H, out.W); err != nil {
		return err
	}
	if c.biasD, err = b.tensorDesc(1, p.OutC, 1, 1); err != nil {
		return err
	}
	if c.wD, err = cudnnCreateFilterDescriptor(); err != nil {
		return err
	}
	wD := c.wD
	b.onClose(func() error { return cudnnDestroyFilterDescriptor(wD) })
	if err = cudnnSetFilter4dDescriptor(c.wD, p.OutC, p.In.C/p.Groups, p.KH, p.KW); err != nil {
		return err
	}
	// Without TF32, FMA math keeps cuDNN off tensor cores (its default math lets
	// Ampere and newer use TF32 for fp32 data).
	math := C.AX_CUDNN_FMA_MATH
	if b.cfg.TF32 {
		math = C.AX_CUDNN_DEFAULT_MATH
	}
	for _, d := range []*C.cudnnConvolutionDescriptor_t{&c.fwdD, &c.dataD, &c.filterD} {
		if *d, err = cudnnCreateConvolutionDescriptor(); err != nil {
			return err
		}
		cd := *d
		b.onClose(func() error { return cudnnDestroyConvolutionDescriptor(cd) })
		if err = cudnnSetConvolution2dDescriptor(cd, p.PadH, p.PadW, p.StrideH, p.StrideW); err != nil {
			return err
		}
		if err = cudnnSetConvolutionGroupCount(cd, p.Groups); err != nil {
			return err
		}
		if err = cudnnSetConvolutionMathType(cd, int(math)); err != nil {
			return err
		}
	}
	n, ch, h, w, err := cudnnGetConvolution2dForwardOutputDim(c.fwdD, c.xD, c.wD)
	if err != nil {
		return err
	}
	if got := (backend.Shape{N: n, C: ch, H: h, W: w}); got != out {
		return fmt.Errorf("cuDNN computes output %v, the interface %v", got, out)
	}
	return nil
}

// usable reports whether an algorithm of math type m may run: never the one that
// converts fp32 data to fp16, and tensor-core (TF32) math only when allowed.
func (c *conv) usable(r algoPerf) bool {
	if r.Status != 0 || r.Memory > c.b.cfg.workspaceLimit() {
		return false
	}
	switch r.MathType {
	case C.AX_CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION:
		return false
	case C.AX_CUDNN_TENSOR_OP_MATH, C.AX_CUDNN_DEFAULT_MATH:
		return c.b.cfg.TF32 || r.MathType == C.AX_CUDNN_DEFAULT_MATH
	}
	return true
}

// pick takes the first usable row (cuDNN sorts them fastest first), sets its math
// type on the descriptor when TF32 is allowed (without it the descriptor stays on FMA
// math, which is what the rows were found under), and asks for its workspace size.
func (c *conv) pick(rows []algoPerf, how string, d C.cudnnConvolutionDescriptor_t, wsSize func(algo int) (int64, error)) (algoChoice, bool, error) {
	for _, r := range rows {
		if !c.usable(r) {
			continue
		}
		if c.b.cfg.TF32 {
			if err := cudnnSetConvolutionMathType(d, r.MathType); err != nil {
				return algoChoice{}, false, err
			}
		}
		ws, err := wsSize(r.Algo)
		if err != nil {
			continue // this algorithm under this math type is refused: try the next
		}
		return algoChoice{algo: r.Algo, ws: max(ws, r.Memory), mathType: r.MathType, how: how}, true, nil
	}
	return algoChoice{}, false, nil
}

// chooseAlgorithms picks the three algorithms. Timing needs real tensors: scratch
// ones of the op's shapes, zeroed (garbage could hold NaNs that slow some kernels),
// freed at the end; a workspace of the limit (or less, if memory is short) too.
func (c *conv) chooseAlgorithms() error {
	b := c.b
	h := b.dnn
	type direction struct {
		name   string
		d      C.cudnnConvolutionDescriptor_t
		dst    *algoChoice
		find   func(x, w, y, ws devPtr, wsBytes int64) ([]algoPerf, error)
		heur   func() ([]algoPerf, error)
		wsSize func(algo int) (int64, error)
	}
	dirs := []direction{
		{"forward", c.fwdD, &c.fwd,
			func(x, w, y, ws devPtr, n int64) ([]algoPerf, error) {
				return cudnnFindConvolutionForwardAlgorithmEx(h, c.xD, x, c.wD, w, c.fwdD, c.yD, y, ws, n)
			},
			func() ([]algoPerf, error) { return cudnnGetConvolutionForwardAlgorithm_v7(h, c.xD, c.wD, c.fwdD, c.yD) },
			func(algo int) (int64, error) {
				return cudnnGetConvolutionForwardWorkspaceSize(h, c.xD, c.wD, c.fwdD, c.yD, algo)
			}},
		{"backward data", c.dataD, &c.bwdData,
			func(x, w, y, ws devPtr, n int64) ([]algoPerf, error) {
				return cudnnFindConvolutionBackwardDataAlgorithmEx(h, c.wD, w, c.yD, y, c.dataD, c.xD, x, ws, n)
			},
			func() ([]algoPerf, error) {
				return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, c.wD, c.yD, c.dataD, c.xD)
			},
			func(algo int) (int64, error) {
				return cudnnGetConvolutionBackwardDataWorkspaceSize(h, c.wD, c.yD, c.dataD, c.xD, algo)
			}},
		{"backward filter", c.filterD, &c.bwdFiltr,
			func(x, w, y, ws devPtr, n int64) ([]algoPerf, error) {
				return cudnnFindConvolutionBackwardFilterAlgorithmEx(h, c.xD, x, c.yD, y, c.filterD, c.wD, w, ws, n)
			},
			func() ([]algoPerf, error) {
				return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, c.xD, c.yD, c.filterD, c.wD)
			},
			func(algo int) (int64, error) {
				return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, c.xD, c.yD, c.filterD, c.wD, algo)
			}},
	}

	var findErr error
	if !b.cfg.Heuristic {
		findErr = c.withScratch(func(x, w, y, ws devPtr, wsBytes int64) error {
			for _, d := range dirs {
				rows, err := d.find(x, w, y, ws, wsBytes)
				if err != nil {
					return fmt.Errorf("%s: %w", d.name, err)
				}
				got, ok, err := c.pick(rows, "find", d.d, d.wsSize)
				if err != nil {
					return fmt.Errorf("%s: %w", d.name, err)
				}
				if ok {
					*d.dst = got
				}
			}
			return nil
		})
	}
	for _, d := range dirs {
		if d.dst.how != "" {
			continue
		}
		rows, err := d.heur()
		if err != nil {
			return fmt.Errorf("%s algorithm: %w", d.name, err)
		}
		got, ok, err := c.pick(rows, "heuristic", d.d, d.wsSize)
		if err != nil {
			return fmt.Errorf("%s algorithm: %w", d.name, err)
		}
		if !ok {
			if findErr != nil {
				return fmt.Errorf("no usable %s algorithm within a %d MiB workspace (timing failed: %v)", d.name, b.cfg.workspaceLimit()>>20, findErr)
			}
			return fmt.Errorf("no usable %s algorithm within a %d MiB workspace", d.name, b.cfg.workspaceLimit()>>20)
		}
		*d.dst = got
	}
	return nil
}

// withScratch runs f with zeroed scratch x, w, y tensors and the largest workspace
// up to the limit that can be allocated, then frees them all.
func (c *conv) withScratch(f func(x, w, y, ws devPtr, wsBytes int64) error) error {
	b, p := c.b, c.p
	sizes := []int64{4 * int64(p.In.Len()), 4 * int64(p.WeightLen()), 4 * int64(c.out.Len())}
	ptrs := make([]devPtr, len(sizes))
	defer func() {
		for i, ptr := range ptrs {
			b.mfree(ptr, sizes[i])
		}
	}()
	for i, n := range sizes {
		var err error
		if ptrs[i], err = b.malloc(n); err != nil {
			return err
		}
		if err := cudaMemsetAsync(ptrs[i], 0, n, b.stream); err != nil {
			return err
		}
	}
	wsBytes := b.cfg.workspaceLimit()
	if free, _, err := cudaMemGetInfo(); err == nil {
		wsBytes = min(wsBytes, free/2)
	}
	var ws devPtr
	for ; wsBytes >= 1<<20; wsBytes /= 2 {
		var err error
		if ws, err = b.malloc(wsBytes); err == nil {
			break
		}
	}
	if ws == 0 {
		wsBytes = 0
	}
	defer b.mfree(ws, wsBytes)
	return f(ptrs[0], ptrs[1], ptrs[2], ws, wsBytes)
}

func (c *conv) OutShape() backend.Shape { return c.out }

func (c *conv) Forward(x, w, bias, y backend.Buffer) error {
	p := c.p
	a := c.b.args("conv forward")
	xp := a.get(x, p.In.Len(), "x")
	wp := a.get(w, p.WeightLen(), "w")
	bp := a.get(bias, p.OutC, "b")
	yp := a.get(y, c.out.Len(), "y")
	if a.err != nil {
		return a.err
	}
	done, err := c.b.enter(a.op)
	if err != nil {
		return err
	}
	defer done()
	ws, err := c.b.workspace(c.fwd.ws)
	if err != nil {
		return wrapOp(a.op, err)
	}
	h := c.b.dnn
	if err := cudnnConvolutionForward(h, 1, c.xD, xp, c.wD, wp, c.fwdD, c.fwd.algo, ws, c.fwd.ws, 0, c.yD, yp); err != nil {
		return wrapOp(a.op, fmt.Errorf("algorithm %d (%s): %w", c.fwd.algo, c.fwd.how, err))
	}
	// y [N, OutC, OH, OW] += b [1, OutC, 1, 1], broadcast
	return wrapOp(a.op, cudnnAddTensor(h, 1, c.biasD, bp, 1, c.yD, yp))
}

func (c *conv) BackwardData(w, dy, dx backend.Buffer) error {
	p := c.p
	a := c.b.args("conv backward data")
	wp := a.get(w, p.WeightLen(), "w")
	dyp := a.get(dy, c.out.Len(), "dy")
	dxp := a.get(dx, p.In.Len(), "dx")
	if a.err != nil {
		return a.err
	}
	done, err := c.b.enter(a.op)
	if err != nil {
		return err
	}
	defer done()
	ws, err := c.b.workspace(c.bwdData.ws)
	if err != nil {
		return wrapOp(a.op, err)
	}
	if err := cudnnConvolutionBackwardData(c.b.dnn, 1, c.wD, wp, c.yD, dyp, c.dataD, c.bwdData.algo, ws, c.bwdData.ws, 0, c.xD, dxp); err != nil {
		return wrapOp(a.op, fmt.Errorf("algorithm %d (%s): %w", c.bwdData.algo, c.bwdData.how, err))
	}
	return nil
}

func (c *conv) BackwardFilter(x, dy, dw, db backend.Buffer) error {
	p := c.p
	a := c.b.args("conv backward filter")
	xp := a.get(x, p.In.Len(), "x")
	dyp := a.get(dy, c.out.Len(), "dy")
	dwp := a.get(dw, p.WeightLen(), "dw")
	dbp := a.get(db, p.OutC, "db")
	if a.err != nil {
		return a.err
	}
	done, err := c.b.enter(a.op)
	if err != nil {
		return err
	}
	defer done()
	ws, err := c.b.workspace(c.bwdFiltr.ws)
	if err != nil {
		return wrapOp(a.op, err)
	}
	h := c.b.dnn
	if err := cudnnConvolutionBackwardFilter(h, 1, c.xD, xp, c.yD, dyp, c.filterD, c.bwdFiltr.algo, ws, c.bwdFiltr.ws, 1, c.wD, dwp); err != nil {
		return wrapOp(a.op, fmt.Errorf("algorithm %d (%s): %w", c.bwdFiltr.algo, c.bwdFiltr.how, err))
	}
	return wrapOp(a.op, cudnnConvolutionBackwardBias(h, 1, c.yD, dyp, 1, c.biasD, dbp))
}
