package mpi_test

import (
	"strings"
	"testing"

	. "alexnet/internal/mpi"
	"alexnet/internal/mpi/mpitest"
)

func TestWorldTwoRanks(t *testing.T) {
	if !mpitest.Ranks(t, 2) {
		return
	}
	w, err := Init()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Finalize()
	if w.Size != 2 || w.Rank < 0 || w.Rank > 1 || w.LocalSize != 2 || w.LocalRank != w.Rank {
		t.Fatalf("world %+v", w)
	}
	// float32 sums: rank r holds r+1 and i*(r+1); 1e6 values cross the int count
	// of no chunk but are more than one message.
	const n = 1_000_003
	buf := make([]float32, n)
	for i := range buf {
		buf[i] = float32(i%1000) * float32(w.Rank+1)
	}
	req := w.StartAllReduce(buf)
	if err := req.Wait(); err != nil {
		t.Fatal(err)
	}
	for i, v := range buf {
		if want := float32(i%1000) * 3; v != want {
			t.Fatalf("sum[%d] = %g, want %g", i, v, want)
		}
	}
	d := []float64{float64(w.Rank), 1e16 + float64(w.Rank)}
	if err := w.AllReduce64(d); err != nil {
		t.Fatal(err)
	}
	if d[0] != 1 || d[1] != 2e16+1 {
		t.Fatalf("float64 sums %v", d)
	}
	b := []byte("xxxx")
	if w.Rank == 0 {
		b = []byte("root")
	}
	if err := w.Broadcast(b, 0); err != nil || string(b) != "root" {
		t.Fatalf("broadcast: %q, %v", b, err)
	}
	all, err := w.AllGather([]byte{byte('a' + w.Rank)})
	if err != nil || len(all) != 2 || string(all[0]) != "a" || string(all[1]) != "b" {
		t.Fatalf("allgather: %q, %v", all, err)
	}
	if err := w.Barrier(); err != nil {
		t.Fatal(err)
	}
	v, err := Version()
	if err != nil || !strings.Contains(v, "Open MPI") {
		t.Errorf("version %q, %v", v, err)
	}
	t.Logf("rank %d of %d: %s", w.Rank, w.Size, v)
}

func TestNotLaunched(t *testing.T) {
	if Launched() {
		t.Skip("inside an MPI job")
	}
	if _, err := Init(); err != ErrNotLaunched {
		t.Fatalf("Init outside a job: %v", err)
	}
}
