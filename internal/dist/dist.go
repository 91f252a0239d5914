// Package dist is data parallelism beside the executor: a process per rank
// (mpirun -np N alexnet train ...), each rank one model.Network on its share of
// every global batch, the parameter gradients summed over the ranks before the
// SGD step, so every rank takes the same step and keeps the same weights.
//
// The sum starts layer by layer as the backward pass finishes each layer's
// gradients (model.Network.BackwardEach), from the classifier down, on MPI's own
// thread while the layers below compute, as PyTorch DDP's buckets and Caffe's
// NCCL multi-GPU do; fc8, fc7 and fc6, 95% of AlexNet's bytes, finish first.
// Buffers in host memory (cpu, ref: backend.HostMemory) are reduced in place;
// others are staged through host memory (Download, reduce, Upload).
//
// Without a launcher there is one rank and no MPI: Join returns a Group of
// size 1 whose calls do nothing, and training is what it always was.
package dist

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"

	"alexnet/internal/backend"
	"alexnet/internal/model"
	"alexnet/internal/mpi"
)

// Group is this process's place among the ranks.
type Group struct {
	Rank, Size int
	// LocalRank is the rank within the node: the GPU a rank takes by default.
	LocalRank int
	w         *mpi.World
}

// Join joins the job mpirun or srun started, or makes a group of one.
func Join() (*Group, error) {
	if !mpi.Launched() {
		return &Group{Size: 1}, nil
	}
	w, err := mpi.Init()
	if err != nil {
		return nil, err
	}
	return &Group{Rank: w.Rank, Size: w.Size, LocalRank: w.LocalRank, w: w}, nil
}

// Close ends MPI on this rank.
func (g *Group) Close() {
	if g.w != nil {
		g.w.Finalize()
		g.w = nil
	}
}

// Abort ends every rank of the job with code (a failed rank must not leave the
// others waiting in a reduction).
func (g *Group) Abort(code int) {
	if g.w != nil {
		g.w.Abort(code)
	}
}

// Sum adds v over the ranks, in float64 so counts and sums come out exact.
func (g *Group) Sum(v []float64) error {
	if g.w == nil {
		return nil
	}
	return g.w.AllReduce64(v)
}

// Agree refuses ranks that differ in what they were given: each rank hashes the
// binary it runs and its resolved config, and every rank compares every hash
// with rank 0's, naming the first that differs.
func (g *Group) Agree(config []byte) error {
	if g.w == nil {
		return nil
	}
	bin, err := binaryHash()
	if err != nil {
		return err
	}
	cfg := sha256.Sum256(config)
	mine := append(bin[:], cfg[:]...)
	all, err := g.w.AllGather(mine)
	if err != nil {
		return err
	}
	for r, h := range all {
		switch {
		case string(h[:32]) != string(all[0][:32]):
			return fmt.Errorf("rank %d runs another alexnet binary than rank 0: give every rank the same build", r)
		case string(h[32:]) != string(all[0][32:]):
			return fmt.Errorf("rank %d has another config than rank 0 (a different file, --set or ALEXNET_* variable): give every rank the same", r)
		}
	}
	return nil
}

func binaryHash() ([32]byte, error) {
	var sum [32]byte
	path, err := os.Executable()
	if err != nil {
		return sum, fmt.Errorf("find this binary to compare it between ranks: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return sum, fmt.Errorf("read this binary to compare it between ranks: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, fmt.Errorf("read this binary to compare it between ranks: %w", err)
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// Reducer sums a network's parameter gradients over the ranks, layer by layer.
type Reducer struct {
	g       *Group
	net     *model.Network
	pending []*mpi.Request
	staged  []staged
	// hosts are the staging copies, one per gradient buffer, kept across steps:
	// AlexNet's are 244 MB.
	hosts map[backend.Buffer][]float32
}

// staged is a gradient reduced through a host copy, uploaded after the sum.
type staged struct {
	pb   model.PartBuffer
	host []float32
}

// Reducer returns a reducer for net (one per network; reused every step).
func (g *Group) Reducer(net *model.Network) *Reducer {
	return &Reducer{g: g, net: net, hosts: map[backend.Buffer][]float32{}}
}

// Layer starts summing layer i's gradients: call it when they are final (as
// BackwardEach's callback), and Wait before reading them.
func (r *Reducer) Layer(i int) error {
	if r.g.w == nil {
		return nil
	}
	for _, pb := range r.net.LayerGrads(i) {
		var buf []float32
		if h, ok := pb.B.(backend.HostMemory); ok {
			v, err := h.Host(pb.Buf)
			if err != nil {
				return fmt.Errorf("all-reduce %s: %w", r.net.Plan[i].Name, err)
			}
			buf = v
		} else {
			if buf = r.hosts[pb.Buf]; buf == nil {
				buf = make([]float32, pb.Buf.Len())
				r.hosts[pb.Buf] = buf
			}
			if err := pb.B.Download(buf, pb.Buf); err != nil {
				return fmt.Errorf("all-reduce %s: %w", r.net.Plan[i].Name, err)
			}
			r.staged = append(r.staged, staged{pb, buf})
		}
		r.pending = append(r.pending, r.g.w.StartAllReduce(buf))
	}
	return nil
}

// Wait waits for every reduction started, and uploads the staged sums.
func (r *Reducer) Wait() error {
	var errs []error
	for _, p := range r.pending {
		errs = append(errs, p.Wait())
	}
	r.pending = r.pending[:0]
	for _, s := range r.staged {
		errs = append(errs, s.pb.B.Upload(s.pb.Buf, s.host))
	}
	r.staged = r.staged[:0]
	return errors.Join(errs...)
}

// All starts and waits for every layer's reduction: a rank with no rows in a
// batch still adds its zero gradients, so that the ranks meet.
func (r *Reducer) All() error {
	for i, l := range r.net.Plan {
		if l.WeightShape != nil {
			if err := r.Layer(i); err != nil {
				return err
			}
		}
	}
	return r.Wait()
}

// BytesPerStep is the bytes of gradients each rank sends into the sum per step:
// every parameter once, as float32.
func BytesPerStep(net *model.Network) int64 {
	var n int64
	for _, p := range net.Params {
		n += 4 * int64(p.Len)
	}
	return n
}
