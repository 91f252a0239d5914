package dataset

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

func packSource(t *testing.T, src Source, opt PackOptions) (*Packed, PackStats) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "train.pack")
	st, err := Pack(context.Background(), src, path, opt)
	if err != nil {
		t.Fatal(err)
	}
	p, err := OpenPacked(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, st
}

// Images come back as they went in, with labels, classes and names.
func TestPackRoundTrip(t *testing.T) {
	for _, c := range []int{1, 3} {
		src, _ := NewSynthetic(37, c, 9, 13, 5, 3)
		p, st := packSource(t, src, PackOptions{Workers: 3})
		if p.Len() != 37 || p.Channels() != c || !slices.Equal(p.Classes(), src.Classes()) || st.Images != 37 || len(st.Skipped) != 0 {
			t.Fatalf("c=%d: %d images, %d channels, classes %v, stats %+v", c, p.Len(), p.Channels(), p.Classes(), st)
		}
		for i := 0; i < src.Len(); i++ {
			want, wl, _ := src.Load(i)
			got, gl, err := p.Load(i)
			if err != nil || gl != wl || got.W != 13 || got.H != 9 || !bytes.Equal(got.Pix, want.Pix) {
				t.Fatalf("c=%d image %d: %v, label %d want %d, %dx%d", c, i, err, gl, wl, got.W, got.H)
			}
		}
		if n := p.Name(4); n != p.Path()+"[4] (synthetic[4])" {
			t.Errorf("name %q", n)
		}
		if _, _, err := p.Load(37); err == nil {
			t.Error("index out of range loaded")
		}
	}
}

// A pack of a folder at the transform's resize gives the same batches as the
// folder itself, bit for bit, with the same images skipped: the resize is
// the same function, done once, and failed images keep their places.
func TestPackSameBatchesAsFolder(t *testing.T) {
	root := folderFixture(t)
	src, err := OpenFolder(root, "train", FolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tf := Transform{Resize: 8, Crop: 6, RandomCrop: true, Flip: true, Lighting: 0.1, Mean: ImageNetMean, Std: ImageNetStd}
	p, st := packSource(t, src, PackOptions{Size: 8, Workers: 2, Info: PackInfo{Source: filepath.Join(root, "train")}})
	if st.Images != 5 || len(st.Skipped) != 3 {
		t.Fatalf("packed %d, skipped %v", st.Images, st.Skipped)
	}
	if n := p.Name(5); !strings.HasSuffix(n, "[5] (n10000000/b_corrupt.jpg)") {
		t.Errorf("name of a failed image: %q", n)
	}
	if _, _, err := p.Load(5); err == nil || !strings.Contains(err.Error(), "b_corrupt.jpg") {
		t.Errorf("failed image: %v", err)
	}
	for epoch := range 2 {
		cfg := LoaderConfig{BatchSize: 3, Shuffle: true, Seed: 9, Workers: 2}
		lf, _ := NewLoader(src, tf, cfg)
		lp, _ := NewLoader(p, tf, cfg)
		df, sf, err1 := collect(t, lf, epoch)
		dp, sp, err2 := collect(t, lp, epoch)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if d, i := maxAbsDiff(df.x, dp.x); d != 0 || len(df.x) != len(dp.x) || len(df.x) == 0 {
			t.Errorf("epoch %d: batches differ by %g at %d (%d vs %d values)", epoch, d, i, len(df.x), len(dp.x))
		}
		if !slices.Equal(df.labels, dp.labels) || !slices.Equal(df.indices, dp.indices) || !slices.Equal(df.sizes, dp.sizes) {
			t.Errorf("epoch %d: labels %v/%v indices %v/%v", epoch, df.labels, dp.labels, df.indices, dp.indices)
		}
		if len(sf.Skipped) != len(sp.Skipped) {
			t.Errorf("epoch %d: skipped %d vs %d", epoch, len(sf.Skipped), len(sp.Skipped))
		}
	}
	// Strict packing stops at the first image that does not load, and leaves no file.
	path := filepath.Join(t.TempDir(), "strict.pack")
	if _, err := Pack(context.Background(), src, path, PackOptions{Size: 8, Strict: true}); err == nil || !strings.Contains(err.Error(), "b_corrupt.jpg") {
		t.Errorf("strict: %v", err)
	}
	assertNoFiles(t, filepath.Dir(path))
}

// packedBytes packs src (raw) into a new folder and returns the folder, the
// pack's bytes, and a path beside it to write damaged copies to.
func packedBytes(t *testing.T, src Source) (dir string, good []byte, bad string) {
	t.Helper()
	dir = t.TempDir()
	path := filepath.Join(dir, "train.pack")
	if _, err := Pack(context.Background(), src, path, PackOptions{}); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return dir, good, filepath.Join(dir, "bad.pack")
}

func assertNoFiles(t *testing.T, dir string) {
	t.Helper()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind in %s: %v", dir, ents)
	}
}

// --square keeps the central Size x Size of the resized image, as the paper.
func TestPackSquare(t *testing.T) {
	src, _ := NewSynthetic(4, 3, 20, 31, 2, 1)
	p, _ := packSource(t, src, PackOptions{Size: 10, Square: true})
	if info := p.Info(); info.Size != 10 || !info.Square {
		t.Errorf("info %+v", info)
	}
	for i := range 4 {
		m, _, _ := src.Load(i)
		w, h := ResizedSize(m.W, m.H, 10)
		r, _ := Resize(m, w, h)
		want := cropImage(r, centerOffset(w, 10), 0, 10, 10)
		got, _, err := p.Load(i)
		if err != nil || got.W != 10 || got.H != 10 || !bytes.Equal(got.Pix, want.Pix) {
			t.Fatalf("image %d: %v, %dx%d", i, err, got.W, got.H)
		}
	}
	if _, err := Pack(context.Background(), src, filepath.Join(t.TempDir(), "x.pack"), PackOptions{Square: true}); err == nil {
		t.Error("a square without a size was accepted")
	}
}

// A truncated or damaged pack is refused with a message, never a panic, and
// a flipped pixel is caught by the checksum when its image is loaded.
func TestPackDamaged(t *testing.T) {
	src, _ := NewSynthetic(6, 3, 5, 7, 3, 2)
	dir, good, bad := packedBytes(t, src)
	for _, n := range []int{0, 10, packHeader + 5, len(good) / 2, len(good) - packFooter, len(good) - 1} {
		os.WriteFile(bad, good[:n], 0o644)
		if p, err := OpenPacked(bad); err == nil {
			p.Close()
			t.Errorf("truncated to %d bytes: opened", n)
		} else if !strings.Contains(err.Error(), "alexnet pack") {
			t.Errorf("truncated to %d bytes: %v (no advice)", n, err)
		}
	}
	// A pixel of image 2: the others still load.
	b := slices.Clone(good)
	b[packHeader+2*5*7*3+4] ^= 1
	os.WriteFile(bad, b, 0o644)
	p, err := OpenPacked(bad)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		_, _, err := p.Load(i)
		if (err != nil) != (i == 2) || (err != nil && !strings.Contains(err.Error(), "checksum")) {
			t.Errorf("image %d: %v", i, err)
		}
	}
	p.Close()
	// Every single-byte change anywhere gives an error or a load, never a panic.
	for off := range good {
		b := slices.Clone(good)
		b[off] ^= 0xa5
		os.WriteFile(bad, b, 0o644)
		p, err := OpenPacked(bad)
		if err != nil {
			continue
		}
		for i := 0; i < p.Len(); i++ {
			p.Load(i)
			p.Name(i)
		}
		p.Close()
	}
	// A foreign file and a missing one.
	os.WriteFile(bad, bytes.Repeat([]byte("x"), 200), 0o644)
	if _, err := OpenPacked(bad); err == nil || !strings.Contains(err.Error(), "not a pack") {
		t.Errorf("foreign file: %v", err)
	}
	if _, err := OpenPacked(filepath.Join(dir, "val.pack")); err == nil || !strings.Contains(err.Error(), "alexnet pack") {
		t.Errorf("missing: %v", err)
	}
	// Another version.
	b = slices.Clone(good)
	binary.LittleEndian.PutUint32(b[8:], 99)
	os.WriteFile(bad, b, 0o644)
	if _, err := OpenPacked(bad); err == nil || !strings.Contains(err.Error(), "version 99") {
		t.Errorf("version: %v", err)
	}
}

// Cancelling a pack leaves no file, finished or temporary.
func TestPackCancelled(t *testing.T) {
	src, _ := NewSynthetic(5000, 3, 8, 8, 3, 2)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	_, err := Pack(ctx, src, filepath.Join(dir, "train.pack"), PackOptions{Workers: 2, Progress: func(int) {
		if calls++; calls == 2 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v", err)
	}
	assertNoFiles(t, dir)
	small, _ := NewSynthetic(3, 3, 8, 8, 3, 2)
	if _, err := Pack(context.Background(), failing{small, map[int]bool{0: true, 1: true, 2: true}}, filepath.Join(dir, "x.pack"), PackOptions{}); err == nil || !strings.Contains(err.Error(), "none of the") {
		t.Errorf("all failing: %v", err)
	}
	assertNoFiles(t, dir)
}

// Through Open, as a config names it.
func TestOpenPacked(t *testing.T) {
	src, _ := NewSynthetic(3, 1, 4, 4, 2, 2)
	dir := t.TempDir()
	if _, err := Pack(context.Background(), src, PackPath(dir, "val"), PackOptions{}); err != nil {
		t.Fatal(err)
	}
	s, err := Open(Config{Kind: "packed", Root: dir, Split: "val"})
	if err != nil || s.Len() != 3 {
		t.Fatalf("%v", err)
	}
	s.(*Packed).Close()
}

// JPEG records: the pixels of the raw record re-encoded at the pack's quality
// (bit for bit what encoding and decoding them directly gives), a fraction of the
// bytes, the quality in the description; gray stays gray. Runs once per JPEG
// decoder this machine has (decoders).
func TestPackJPEG(t *testing.T) {
	decoders(t, testPackJPEG)
}

// minPSNR is the least peak signal-to-noise ratio, in dB, of a quality-90 JPEG
// record against its raw one on TestPackJPEG's photo-like images, per decoder.
// Measured on 2026-12-02 (Debian 12's libjpeg-turbo 2.1.5, Go 1.26): libjpeg-turbo
// 31.2-34.3 dB, image/jpeg 27.7-32.0 dB over the six images (both deterministic). The two differ in how they upsample chroma, which Go's encoder
// subsamples 2x2: libjpeg-turbo interpolates (as the encoder's averaging assumes),
// image/jpeg repeats each sample, so sharp colour edges cost it 2-3.5 dB. Each bar
// sits 1 dB under its decoder's worst image: a change in the encoder or the
// resizing that costs more than that fails.
var minPSNR = map[string]float64{"libjpeg-turbo": 30.2, "image/jpeg": 26.7}

func testPackJPEG(t *testing.T) {
	root := t.TempDir()
	const n = 6
	for i := range n {
		dir := mkdir(t, root, "train", fmt.Sprintf("c%d", i%2))
		writeFile(t, filepath.Join(dir, fmt.Sprintf("%d.jpg", i)), jpegBytes(t, photoLike(120, 90, uint64(i)), 95))
	}
	src, err := OpenFolder(root, "train", FolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, rs := packSource(t, src, PackOptions{Size: 64})
	jp, js := packSource(t, src, PackOptions{Size: 64, Encoding: PackJPEG})
	if info := jp.Info(); info.Encoding != PackJPEG || info.Quality != DefaultPackQuality || raw.Info().Encoding != PackRaw {
		t.Errorf("descriptions %+v / %+v", info, raw.Info())
	}
	if js.Bytes*3 > rs.Bytes {
		t.Errorf("JPEG pack %d bytes, raw %d: not much smaller", js.Bytes, rs.Bytes)
	}
	bar, ok := minPSNR[JPEGDecoder()]
	if !ok {
		t.Fatalf("no PSNR bar measured for decoder %s", JPEGDecoder())
	}
	worst := math.Inf(1)
	for i := range n {
		a, la, err1 := raw.Load(i)
		b, lb, err2 := jp.Load(i)
		if err1 != nil || err2 != nil || la != lb || a.W != b.W || a.H != b.H || b.C != 3 {
			t.Fatalf("image %d: %v %v, labels %d %d, %dx%d vs %dx%dx%d", i, err1, err2, la, lb, a.W, a.H, b.W, b.H, b.C)
		}
		enc, err := encodeJPEG(a, DefaultPackQuality)
		if err != nil {
			t.Fatal(err)
		}
		if direct, err := Decode(enc); err != nil || !bytes.Equal(direct.Pix, b.Pix) {
			t.Errorf("image %d: the JPEG record decodes unlike the raw record encoded and decoded directly (%v)", i, err)
		}
		// Peak signal-to-noise ratio of the JPEG record against the raw one.
		var se float64
		for k := range a.Pix {
			d := float64(a.Pix[k]) - float64(b.Pix[k])
			se += d * d
		}
		psnr := 10 * math.Log10(255*255/(se/float64(len(a.Pix))))
		worst = min(worst, psnr)
		t.Logf("image %d: PSNR %.1f dB", i, psnr)
		if psnr < bar {
			t.Errorf("image %d: PSNR %.1f dB, under %s's bar of %.1f", i, psnr, JPEGDecoder(), bar)
		}
	}
	t.Logf("%s: worst PSNR %.1f dB (bar %.1f)", JPEGDecoder(), worst, bar)
	gray, _ := NewSynthetic(3, 1, 16, 16, 2, 1)
	g, _ := packSource(t, gray, PackOptions{Encoding: PackJPEG, Quality: 100})
	if m, _, err := g.Load(1); err != nil || m.C != 1 || g.Info().Quality != 100 {
		t.Errorf("gray: %v, %d channels, quality %d", err, m.C, g.Info().Quality)
	}
	if _, err := Pack(context.Background(), gray, filepath.Join(t.TempDir(), "q.pack"), PackOptions{Encoding: PackJPEG, Quality: 101}); err == nil {
		t.Error("quality 101 accepted")
	}
	if _, err := Pack(context.Background(), gray, filepath.Join(t.TempDir(), "q.pack"), PackOptions{Encoding: "png"}); err == nil {
		t.Error("encoding png accepted")
	}
}

// Offsets in a damaged footer that would wrap around when added are refused;
// a changed label in the index is caught by the index checksum; a pack
// truncated while mapped gives errors from Load, not a crash (SIGBUS).
func TestPackDamagedIndexAndTruncatedWhileMapped(t *testing.T) {
	src, _ := NewSynthetic(40, 3, 64, 64, 3, 2)
	_, good, bad := packedBytes(t, src)
	ft := len(good) - packFooter
	b := slices.Clone(good)
	binary.LittleEndian.PutUint64(b[ft+16:], math.MaxUint64-7)               // metaOff
	binary.LittleEndian.PutUint64(b[ft+24:], uint64(len(good)-packFooter+8)) // metaLen: the sum wraps to the real end
	os.WriteFile(bad, b, 0o644)
	if _, err := OpenPacked(bad); err == nil || !strings.Contains(err.Error(), "damaged footer") {
		t.Errorf("wrapping footer: %v", err)
	}
	// Image 3's label (index entry at indexOff + 3*packEntry, label at +20) from 0..2 to another class.
	indexOff := binary.LittleEndian.Uint64(good[ft:])
	b = slices.Clone(good)
	at := indexOff + 3*packEntry + 20
	b[at] = (b[at] + 1) % 3
	os.WriteFile(bad, b, 0o644)
	if _, err := OpenPacked(bad); err == nil || !strings.Contains(err.Error(), "damaged index") {
		t.Errorf("changed label: %v", err)
	}
	// Truncated under a reader: the records past the cut fault when read.
	os.WriteFile(bad, good, 0o644)
	p, err := OpenPacked(bad)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := os.Truncate(bad, 4096); err != nil {
		t.Fatal(err)
	}
	failed := 0
	for i := 0; i < p.Len(); i++ {
		if _, _, err := p.Load(i); err != nil {
			if !strings.Contains(err.Error(), "truncated or changed while in use") {
				t.Fatalf("image %d: %v", i, err)
			}
			failed++
		}
	}
	if failed < p.Len()-1 {
		t.Errorf("%d of %d images failed to load from a pack cut to 4 KB", failed, p.Len())
	}
}

// counting counts loads.
type counting struct {
	Source
	loads *atomic.Int64
}

func (c counting) Load(i int) (Image, int32, error) {
	c.loads.Add(1)
	return c.Source.Load(i)
}

// A write error (here the file-size limit, as a full disk) stops the decoding
// too, soon, and leaves no file. It runs in a child process, whose limit does
// not touch the test binary's other files.
func TestPackWriteErrorStopsEarly(t *testing.T) {
	dir := os.Getenv("ALEXNET_PACK_FSIZE_DIR")
	if dir == "" {
		dir = t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run", "^TestPackWriteErrorStopsEarly$", "-test.v")
		cmd.Env = append(os.Environ(), "ALEXNET_PACK_FSIZE_DIR="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		t.Logf("child:\n%s", out)
		assertNoFiles(t, dir)
		return
	}
	// Go ignores SIGXFSZ, so a write past the limit fails with EFBIG.
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: 1 << 20, Max: 1 << 20}); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	syn, _ := NewSynthetic(20000, 3, 64, 64, 3, 2) // 12 KB each, 240 MB in all
	var loads atomic.Int64
	_, err := Pack(context.Background(), counting{syn, &loads}, filepath.Join(dir, "train.pack"), PackOptions{Workers: 2})
	if err == nil || !strings.Contains(err.Error(), "file too large") {
		t.Fatalf("err %v", err)
	}
	if n := loads.Load(); n > 2000 {
		t.Errorf("%d images loaded after the write failed near image 85", n)
	}
	t.Logf("%v after %d loads", err, loads.Load())
}

// FuzzOpenPacked: any bytes give a pack or an error, and a pack's every image
// loads or errors, never a panic. Seeds: a raw and a JPEG pack.
//
//	go test -run x -fuzz FuzzOpenPacked -fuzztime 60s ./internal/dataset/
func FuzzOpenPacked(f *testing.F) {
	src, _ := NewSynthetic(3, 3, 4, 5, 2, 1)
	for _, enc := range []string{PackRaw, PackJPEG} {
		path := filepath.Join(f.TempDir(), enc+".pack")
		if _, err := Pack(context.Background(), src, path, PackOptions{Encoding: enc}); err != nil {
			f.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		f.Add(b)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "fuzz.pack")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := OpenPacked(path)
		if err != nil {
			return
		}
		defer p.Close()
		for i := -1; i <= p.Len(); i++ {
			p.Load(i)
			p.Name(i)
		}
	})
}
