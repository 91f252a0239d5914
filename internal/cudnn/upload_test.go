package cudnn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"alexnet/internal/backend"
)

// bitsDiff compares two float32 slices bit for bit: the number of differing values,
// the first one, and the largest absolute difference.
func bitsDiff(got, want []float32) (n, first int, maxDiff float64) {
	first = -1
	if len(got) != len(want) {
		return max(len(got), len(want)), 0, math.Inf(1)
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			if n == 0 {
				first = i
			}
			n++
			d := math.Abs(float64(got[i]) - float64(want[i]))
			if math.IsNaN(d) {
				d = math.Inf(1)
			}
			maxDiff = math.Max(maxDiff, d)
		}
	}
	return n, first, maxDiff
}

func randVec(rng *rand.Rand, n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = (rng.Float32()*2 - 1) * scale
	}
	return v
}

// spoil overwrites a slice the caller has handed to Upload: Upload must have copied
// it before returning, so this must not show on the device.
func spoil(v []float32) {
	for i := range v {
		v[i] = float32(math.NaN())
	}
}

// uploadHazards is one run of the interleaving TestUploadOrdering checks, on b with
// whatever upload path b is set to. It returns every buffer's contents, downloaded.
//
//	upload x0 into x            (the caller spoils its slice at once)
//	y = conv(x), k times        queued, still running while...
//	upload x1 into x            (into the buffer the queued convolutions read; y holds
//	                             the last of them, the one most exposed to a bad order)
//	z = conv(x)                 (must see x1)
//	upload e_j into buffer j    (more uploads than slots, all in flight behind the
//	                             queued convolutions: staging and page-locked reuse)
//	download e_j, y, z, x
func uploadHazards(t *testing.T, b *Backend, op backend.Conv, p backend.ConvParams, x0, x1 []float32, es [][]float32, k int) map[string][]float32 {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	alloc := func(n int) backend.Buffer {
		t.Helper()
		buf, err := b.Alloc(n)
		must(err)
		t.Cleanup(func() { b.Free(buf) })
		return buf
	}
	rng := rand.New(rand.NewPCG(7, 7))
	w, bias := alloc(p.WeightLen()), alloc(p.OutC)
	must(b.Upload(w, randVec(rng, p.WeightLen(), 0.05)))
	must(b.Upload(bias, randVec(rng, p.OutC, 0.1)))
	out := op.OutShape().Len()
	x := alloc(p.In.Len())
	y, z := alloc(out), alloc(out)
	ebufs := make([]backend.Buffer, len(es))
	for j := range es {
		ebufs[j] = alloc(len(es[j]))
	}
	must(b.Sync())

	src := append([]float32(nil), x0...)
	must(b.Upload(x, src))
	spoil(src)
	for range k {
		must(op.Forward(x, w, bias, y))
	}
	src = append([]float32(nil), x1...)
	must(b.Upload(x, src))
	spoil(src)
	must(op.Forward(x, w, bias, z))
	for j, e := range es {
		src := append([]float32(nil), e...)
		must(b.Upload(ebufs[j], src))
		spoil(src)
	}

	got := map[string][]float32{}
	get := func(name string, buf backend.Buffer) {
		t.Helper()
		v := make([]float32, buf.Len())
		must(b.Download(v, buf))
		got[name] = v
	}
	for j := range ebufs {
		get(fmt.Sprintf("e%d", j), ebufs[j])
	}
	get("y", y)
	get("z", z)
	get("x", x)
	must(b.Sync())
	return got
}

// Large uploads go through page-locked memory on a copy stream and return without
// waiting for the queued compute. This checks the ordering hazards of that path,
// against the synchronous path on the same backend and the same convolution (same
// algorithm, so the results must agree bit for bit):
//   - an upload into a buffer that queued kernels still read must not change what
//     they read (the device copy into dst is on the compute stream, in order);
//   - a kernel queued after an upload reads the new data (the compute stream waits
//     for the transfer);
//   - the caller's slice is free when Upload returns (it is spoiled right after);
//   - more uploads in flight than staging slots must not overwrite staging memory
//     a queued device copy has not read yet (e1 reuses the slot of x1, whose device
//     copy waits behind the convolutions), nor page-locked memory a transfer has not
//     read yet (e3 reuses e1's, whose transfer waits for that device copy); the last
//     two are larger, so slots are reallocated with work queued too;
//   - a download right after an upload sees the upload.
func TestUploadOrdering(t *testing.T) {
	b := openOrSkip(t, Config{Heuristic: true})
	// AlexNet's conv1 at batch 32: a 19 MiB input, and k convolutions (several
	// milliseconds, longer than the host copy and the transfer of the next upload) for
	// the transfers to race with.
	p := backend.ConvParams{In: backend.Shape{N: 32, C: 3, H: 227, W: 227}, OutC: 96, KH: 11, KW: 11, StrideH: 4, StrideW: 4, Groups: 1}
	op, err := b.NewConv(p)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x0, x1 := randVec(rng, p.In.Len(), 1), randVec(rng, p.In.Len(), 1)
	// Six uploads after the two of x: the same size as x (no reallocation before the
	// reuse hazards), then larger, so slots grow.
	L := p.In.Len()
	var es [][]float32
	for j, n := range []int{L, L, L, L / 2, L + 1<<20, L + 3<<20} {
		es = append(es, randVec(rng, n, float32(j+1)))
	}
	const k = 48

	b.up.min = math.MaxInt64 // the synchronous path, for reference
	want := uploadHazards(t, b, op, p, x0, x1, es, k)
	if b.stagingBytes() != 0 || b.pinnedBytes() != 0 {
		t.Fatalf("the synchronous path staged %d device and %d page-locked bytes", b.stagingBytes(), b.pinnedBytes())
	}
	b.up.min = uploadAsyncMin
	got := uploadHazards(t, b, op, p, x0, x1, es, k)
	if b.up.off != nil {
		t.Fatalf("the asynchronous upload path turned itself off, so it was not tested: %v", b.up.off)
	}
	t.Logf("staging: %d MiB on the device, %d MiB page-locked", b.stagingBytes()>>20, b.pinnedBytes()>>20)

	// The reference itself must be what the interleaving means.
	if n, i, d := bitsDiff(want["x"], x1); n != 0 {
		t.Fatalf("synchronous path: x differs from x1 in %d values (first %d, max diff %g)", n, i, d)
	}
	for j, e := range es {
		if n, i, d := bitsDiff(want[fmt.Sprintf("e%d", j)], e); n != 0 {
			t.Fatalf("synchronous path: e%d differs in %d values (first %d, max diff %g)", j, n, i, d)
		}
	}
	if n, _, d := bitsDiff(want["y"], want["z"]); n == 0 {
		t.Fatalf("conv(x0) equals conv(x1) (max diff %g): the test cannot tell them apart", d)
	}
	for name, w := range want {
		n, i, d := bitsDiff(got[name], w)
		if n != 0 {
			t.Errorf("%s: %d of %d values differ from the synchronous path (first at %d: %g, want %g; max diff %g)",
				name, n, len(w), i, got[name][i], w[i], d)
		} else {
			t.Logf("%s: %d values, equal bit for bit (max diff 0)", name, len(w))
		}
	}
}

// The device staging counts in Memory while the backend lives and is freed at Close,
// with uploads still in flight; Close reports no error.
func TestUploadMemoryAndClose(t *testing.T) {
	b, err := Open(backend.Options{}, Config{})
	if err != nil {
		if IsUnavailable(err) {
			t.Skipf("cuda backend not available here: %v", err)
		}
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			b.Close()
		}
	}()
	const n = 3 << 20 // 12 MiB
	x, err := b.Alloc(n)
	if err != nil {
		t.Fatal(err)
	}
	before := b.Memory()
	rng := rand.New(rand.NewPCG(3, 3))
	v := randVec(rng, n, 1)
	for i := 0; i < 2*uploadSlots+1; i++ {
		if err := b.Upload(x, v); err != nil {
			t.Fatal(err)
		}
	}
	if b.up.off != nil {
		t.Fatalf("the asynchronous upload path is off: %v", b.up.off)
	}
	after := b.Memory()
	if want := int64(uploadSlots) * 4 * n; b.stagingBytes() != want || after.InUse-before.InUse != want {
		t.Errorf("staging %d bytes, Memory grew by %d; want %d for %d slots of %d floats",
			b.stagingBytes(), after.InUse-before.InUse, want, uploadSlots, n)
	}
	if after.Peak < after.InUse {
		t.Errorf("peak %d < in use %d", after.Peak, after.InUse)
	}
	if err := b.Upload(x, v); err != nil { // in flight at Close
		t.Fatal(err)
	}
	closed = true
	if err := b.Close(); err != nil {
		t.Fatalf("close with an upload in flight: %v", err)
	}
	if m := b.Memory(); m.InUse != 0 {
		t.Errorf("after close %d bytes are still counted in use", m.InUse)
	}
}
