package cudnn

import (
	"fmt"

	"alexnet/csrc"
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
//
// Under bf16 and fp16 precision (precision.go) xD, yD and wD describe 16-bit tensors,
// the ones cuDNN reads and writes (casts of the float32 buffers, in Backend.s16),
// and the algorithms are chosen for them.
type conv struct {
	b        *Backend
	p        backend.ConvParams
	out      backend.Shape
	xD, yD   csrc.TensorDesc
	y32D     csrc.TensorDesc // float32 [N, OutC, OH, OW], for the bias gradient (yD under fp32)
	biasD    csrc.TensorDesc // [1, OutC, 1, 1]
	wD       csrc.FilterDesc
	fwdD     csrc.ConvDesc
	dataD    csrc.ConvDesc
	filterD  csrc.ConvDesc
	fwd      algoChoice
	bwdData  algoChoice
	bwdFiltr algoChoice
	math     int // the descriptors' math type before an algorithm sets its own
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
	dtype := int(csrc.CudnnDataFloat)
	if b.f16 != 0 {
		dtype = cudnnType(b.f16)
	}
	if c.xD, err = b.tensorDescType(dtype, p.In.N, p.In.C, p.In.H, p.In.W); err != nil {
		return err
	}
	if c.yD, err = b.tensorDescType(dtype, out.N, out.C, out.H, out.W); err != nil {
		return err
	}
	c.y32D = c.yD
	if b.f16 != 0 {
		if c.y32D, err = b.tensorDesc(out.N, out.C, out.H, out.W); err != nil {
			return err
		}
	}
	if c.biasD, err = b.tensorDesc(1, p.OutC, 1, 1); err != nil {
		return err
	}
	if c.wD, err = csrc.CudnnCreateFilterDescriptor(); err != nil {
		return err
	}
	wD := c.wD
	b.onClose(func() error { return csrc.CudnnDestroyFilterDescriptor(wD) })
	if err = csrc.CudnnSetFilter4dDescriptorType(c.wD, dtype, p.OutC, p.In.C/p.Groups, p.KH, p.KW); err != nil {
		return err
	}
	// Without TF32, FMA math keeps cuDNN off tensor cores (its default math lets
	// Ampere and newer use TF32 for fp32 data). 16-bit data is what tensor cores are
	// for; the compute type stays float32 (cudnnSetConvolution2dDescriptor).
	math := csrc.CudnnFMAMath
	switch {
	case b.f16 != 0:
		math = csrc.CudnnTensorOpMath
	case b.cfg.TF32:
		math = csrc.CudnnDefaultMath
	}
	for _, d := range []*csrc.ConvDesc{&c.fwdD, &c.dataD, &c.filterD} {
		if *d, err = csrc.CudnnCreateConvolutionDescriptor(); err != nil {
			return err
		}
		cd := *d
		b.onClose(func() error { return csrc.CudnnDestroyConvolutionDescriptor(cd) })
		if err = csrc.CudnnSetConvolution2dDescriptor(cd, p.PadH, p.PadW, p.StrideH, p.StrideW); err != nil {
			return err
		}
		if err = csrc.CudnnSetConvolutionGroupCount(cd, p.Groups); err != nil {
			return err
		}
		c.math = int(math)
		if err = csrc.CudnnSetConvolutionMathType(cd, int(math)); err != nil {
			return err
		}
	}
	n, ch, h, w, err := csrc.CudnnGetConvolution2dForwardOutputDim(c.fwdD, c.xD, c.wD)
	if err != nil {
		return err
	}
	if got := (backend.Shape{N: n, C: ch, H: h, W: w}); got != out {
		return fmt.Errorf("cuDNN computes output %v, the interface %v", got, out)
	}
	return nil
}

// usable reports whether an algorithm of math type m may run: never the one that
// converts data to fp16, and tensor-core (TF32) math only when allowed; under bf16
// and fp16 any other math type.
func (c *conv) usable(r csrc.AlgoPerf) bool {
	if r.Status != 0 || r.Memory > c.b.cfg.workspaceLimit() {
		return false
	}
	if c.b.f16 != 0 {
		return r.MathType != csrc.CudnnTensorOpMathAllowConversion
	}
	switch r.MathType {
	case csrc.CudnnTensorOpMathAllowConversion:
		return false
	case csrc.CudnnTensorOpMath, csrc.CudnnDefaultMath:
		return c.b.cfg.TF32 || r.MathType == csrc.CudnnDefaultMath
	}
	return true
}

// pick takes the first usable row (cuDNN sorts them fastest first), sets its math
// type on the descriptor when TF32 is allowed or the data is 16-bit (otherwise the
// descriptor stays on FMA math, which is what the rows were found under), and asks
// for its workspace size.
func (c *conv) pick(rows []csrc.AlgoPerf, how string, d csrc.ConvDesc, wsSize func(algo int) (int64, error)) (algoChoice, bool, error) {
	for _, r := range rows {
		if !c.usable(r) {
			continue
		}
		if c.b.cfg.TF32 || c.b.f16 != 0 {
			if err := csrc.CudnnSetConvolutionMathType(d, r.MathType); err != nil {
				return algoChoice{}, false, err
			}
		}
		ws, err := wsSize(r.Algo)
		if err != nil {
			continue // this algorithm under this math type is refused: try the next
		}
		return algoChoice{algo: r.Algo, ws: max(ws, r.Memory), mathType: r.MathType, how: how}, true, nil
	}
	// None fitted: the descriptor goes back to its own math type, so that the
	// heuristic query that follows is not made under the last row's (FMA math
	// would hide the tensor-core algorithms of 16-bit data).
	if c.b.cfg.TF32 || c.b.f16 != 0 {
		if err := csrc.CudnnSetConvolutionMathType(d, c.math); err != nil {
			return algoChoice{}, false, err
		}
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
		d      csrc.ConvDesc
		dst    *algoChoice
		find   func(x, w, y, ws csrc.DevPtr, wsBytes int64) ([]csrc.AlgoPerf, error)
		heur   func() ([]csrc.AlgoPerf, error)
		wsSize func(algo int) (int64, error)
	}
	dirs := []direction{
		{"forward", c.fwdD, &c.fwd,
			func(x, w, y, ws csrc.DevPtr, n int64) ([]csrc.AlgoPerf, error) {
				return csrc.CudnnFindConvolutionForwardAlgorithmEx(h, c.xD, x, c.wD, w, c.fwdD, c.yD, y, ws, n)
			},
			func() ([]csrc.AlgoPerf, error) {
				return csrc.CudnnGetConvolutionForwardAlgorithm_v7(h, c.xD, c.wD, c.fwdD, c.yD)
			},
			func(algo int) (int64, error) {
				return csrc.CudnnGetConvolutionForwardWorkspaceSize(h, c.xD, c.wD, c.fwdD, c.yD, algo)
			}},
		{"backward data", c.dataD, &c.bwdData,
			func(x, w, y, ws csrc.DevPtr, n int64) ([]csrc.AlgoPerf, error) {
				return csrc.CudnnFindConvolutionBackwardDataAlgorithmEx(h, c.wD, w, c.yD, y, c.dataD, c.xD, x, ws, n)
			},
			func() ([]csrc.AlgoPerf, error) {
				return csrc.CudnnGetConvolutionBackwardDataAlgorithm_v7(h, c.wD, c.yD, c.dataD, c.xD)
			},
			func(algo int) (int64, error) {
				return csrc.CudnnGetConvolutionBackwardDataWorkspaceSize(h, c.wD, c.yD, c.dataD, c.xD, algo)
			}},
		{"backward filter", c.filterD, &c.bwdFiltr,
			func(x, w, y, ws csrc.DevPtr, n int64) ([]csrc.AlgoPerf, error) {
				return csrc.CudnnFindConvolutionBackwardFilterAlgorithmEx(h, c.xD, x, c.yD, y, c.filterD, c.wD, w, ws, n)
			},
			func() ([]csrc.AlgoPerf, error) {
				return csrc.CudnnGetConvolutionBackwardFilterAlgorithm_v7(h, c.xD, c.yD, c.filterD, c.wD)
			},
			func(algo int) (int64, error) {
				return csrc.CudnnGetConvolutionBackwardFilterWorkspaceSize(h, c.xD, c.yD, c.filterD, c.wD, algo)
			}},
	}

	var findErr error
	if !b.cfg.Heuristic {
		findErr = c.withScratch(func(x, w, y, ws csrc.DevPtr, wsBytes int64) error {
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
func (c *conv) withScratch(f func(x, w, y, ws csrc.DevPtr, wsBytes int64) error) error {
	b, p := c.b, c.p
	elem := int64(4) // bytes per element of the descriptors' type
	if b.f16 != 0 {
		elem = 2
	}
	sizes := []int64{elem * int64(p.In.Len()), elem * int64(p.WeightLen()), elem * int64(c.out.Len())}
	ptrs := make([]csrc.DevPtr, len(sizes))
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
		if err := csrc.CudaMemsetAsync(ptrs[i], 0, n, b.stream); err != nil {
			return err
		}
	}
	wsBytes := b.cfg.workspaceLimit()
	if free, _, err := csrc.CudaMemGetInfo(); err == nil {
		wsBytes = min(wsBytes, free/2)
	}
	var ws csrc.DevPtr
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
	if c.b.f16 != 0 {
		return wrapOp(a.op, c.forward16(xp, wp, bp, yp, ws))
	}
	if err := csrc.CudnnConvolutionForward(h, 1, c.xD, xp, c.wD, wp, c.fwdD, c.fwd.algo, ws, c.fwd.ws, 0, c.yD, yp); err != nil {
		return wrapOp(a.op, fmt.Errorf("algorithm %d (%s): %w", c.fwd.algo, c.fwd.how, err))
	}
	// y [N, OutC, OH, OW] += b [1, OutC, 1, 1], broadcast
	return wrapOp(a.op, csrc.CudnnAddTensor(h, 1, c.biasD, bp, 1, c.yD, yp))
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
	if c.b.f16 != 0 {
		return wrapOp(a.op, c.backwardData16(wp, dyp, dxp, ws))
	}
	if err := csrc.CudnnConvolutionBackwardData(c.b.dnn, 1, c.wD, wp, c.yD, dyp, c.dataD, c.bwdData.algo, ws, c.bwdData.ws, 0, c.xD, dxp); err != nil {
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
	if c.b.f16 != 0 {
		if err := c.backwardFilter16(xp, dyp, dwp, ws); err != nil {
			return wrapOp(a.op, err)
		}
	} else if err := csrc.CudnnConvolutionBackwardFilter(h, 1, c.xD, xp, c.yD, dyp, c.filterD, c.bwdFiltr.algo, ws, c.bwdFiltr.ws, 1, c.wD, dwp); err != nil {
		return wrapOp(a.op, fmt.Errorf("algorithm %d (%s): %w", c.bwdFiltr.algo, c.bwdFiltr.how, err))
	}
	// db [1, OutC, 1, 1] += sum over n, h, w of the float32 dy
	return wrapOp(a.op, csrc.CudnnConvolutionBackwardBias(h, 1, c.y32D, dyp, 1, c.biasD, dbp))
}

// forward16 is Forward under bf16/fp16: x and w cast to 16 bits, y16 = conv, then
// y = round16(float(y16) + b) (precision.go). ws is the workspace, already sized.
func (c *conv) forward16(xp, wp, bp, yp, ws csrc.DevPtr) error {
	b, p := c.b, c.p
	x16, w16, y16, err := b.scratch3(p.In.Len(), p.WeightLen(), c.out.Len())
	if err != nil {
		return err
	}
	if err := b.to16Pair(xp, x16, p.In.Len(), wp, w16, p.WeightLen()); err != nil {
		return err
	}
	if err := csrc.CudnnConvolutionForward(b.dnn, 1, c.xD, x16, c.wD, w16, c.fwdD, c.fwd.algo, ws, c.fwd.ws, 0, c.yD, y16); err != nil {
		return fmt.Errorf("algorithm %d (%s, %v): %w", c.fwd.algo, c.fwd.how, b.f16, err)
	}
	n := c.out.Len()
	return b.elementwise("from16_bias", n, y16, bp, yp, fmtCode(b.f16), int64(n), int64(c.out.H*c.out.W), int32(c.out.C))
}

// backwardData16: w and dy cast to 16 bits, dx16 = conv^T, dx = float(dx16).
func (c *conv) backwardData16(wp, dyp, dxp, ws csrc.DevPtr) error {
	b, p := c.b, c.p
	dx16, w16, dy16, err := b.scratch3(p.In.Len(), p.WeightLen(), c.out.Len())
	if err != nil {
		return err
	}
	if err := b.to16Pair(wp, w16, p.WeightLen(), dyp, dy16, c.out.Len()); err != nil {
		return err
	}
	if err := csrc.CudnnConvolutionBackwardData(b.dnn, 1, c.wD, w16, c.yD, dy16, c.dataD, c.bwdData.algo, ws, c.bwdData.ws, 0, c.xD, dx16); err != nil {
		return fmt.Errorf("algorithm %d (%s, %v): %w", c.bwdData.algo, c.bwdData.how, b.f16, err)
	}
	return b.cast("from16", dx16, dxp, p.In.Len())
}

// backwardFilter16: x and dy cast to 16 bits, dw16 = corr (overwritten, beta 0), then
// dw += float(dw16): the 16-bit rounding applies to this call's contribution only.
func (c *conv) backwardFilter16(xp, dyp, dwp, ws csrc.DevPtr) error {
	b, p := c.b, c.p
	x16, dw16, dy16, err := b.scratch3(p.In.Len(), p.WeightLen(), c.out.Len())
	if err != nil {
		return err
	}
	if err := b.to16Pair(xp, x16, p.In.Len(), dyp, dy16, c.out.Len()); err != nil {
		return err
	}
	if err := csrc.CudnnConvolutionBackwardFilter(b.dnn, 1, c.xD, x16, c.yD, dy16, c.filterD, c.bwdFiltr.algo, ws, c.bwdFiltr.ws, 0, c.wD, dw16); err != nil {
		return fmt.Errorf("algorithm %d (%s, %v): %w", c.bwdFiltr.algo, c.bwdFiltr.how, b.f16, err)
	}
	return b.cast("add16", dw16, dwp, p.WeightLen())
}
