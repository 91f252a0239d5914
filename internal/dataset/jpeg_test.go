package dataset

import (
	"bytes"
	"fmt"
	"image"
	"path/filepath"
	"testing"

	turbojpeg "alexnet/internal/jpeg"
)

// decoders runs f once per JPEG decoder this machine has: image/jpeg always,
// libjpeg-turbo when libturbojpeg.so.0 loads.
func decoders(t *testing.T, f func(t *testing.T)) {
	saved := useTurbo
	defer func() { useTurbo = saved }()
	useTurbo = false
	t.Run("image-jpeg", f)
	if !turbojpeg.Available() {
		t.Log("libturbojpeg.so.0 not available (apt-get install libturbojpeg0): only image/jpeg tested")
		return
	}
	useTurbo = true
	t.Run("libjpeg-turbo", f)
}

// The decoding tests pass with either decoder.
func TestDecodeBothDecoders(t *testing.T) {
	decoders(t, TestDecodeFiles)
	decoders(t, TestDecodeBadFiles)
	decoders(t, TestLoaderFolderBadFiles)
}

// libjpeg-turbo and image/jpeg give the same sizes and channels and nearly
// the same pixels (their IDCTs round differently and image/jpeg replicates
// chroma where libjpeg interpolates it); each alone is deterministic.
func TestJPEGDecodersAgree(t *testing.T) {
	if !turbojpeg.Available() {
		t.Skip("libturbojpeg.so.0 not available")
	}
	saved := useTurbo
	defer func() { useTurbo = saved }()
	gray := image.NewGray(image.Rect(0, 0, 45, 31))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i * 7)
	}
	// The bound is on the mean difference. rgbPattern's colours jump every
	// few dozen pixels, where interpolated and replicated chroma part most.
	cases := []struct {
		name  string
		data  []byte
		bound float64
	}{
		{"photo 500x375", jpegBytes(t, photoLike(500, 375, 1), 90), 1.5},
		{"photo 97x61", jpegBytes(t, photoLike(97, 61, 2), 75), 3},
		{"pattern 64x48", jpegBytes(t, rgbPattern(64, 48, 1), 95), 8},
		{"gray 45x31", jpegBytes(t, gray, 90), 0.5},
	}
	for _, c := range cases {
		name, data := c.name, c.data
		var got [2]Image
		for i, turbo := range []bool{false, true} {
			useTurbo = turbo
			m, err := Decode(data)
			if err != nil {
				t.Fatalf("%s, turbo %v: %v", name, turbo, err)
			}
			again, _ := Decode(data)
			if !bytes.Equal(m.Pix, again.Pix) {
				t.Fatalf("%s, turbo %v: two decodes differ", name, turbo)
			}
			got[i] = m
		}
		g, tb := got[0], got[1]
		if g.W != tb.W || g.H != tb.H || g.C != tb.C {
			t.Fatalf("%s: image/jpeg %dx%dx%d, libjpeg-turbo %dx%dx%d", name, g.W, g.H, g.C, tb.W, tb.H, tb.C)
		}
		sum := 0
		for i := range g.Pix {
			d := int(g.Pix[i]) - int(tb.Pix[i])
			sum += max(d, -d)
		}
		mean := float64(sum) / float64(len(g.Pix))
		t.Logf("%s: mean |image/jpeg - libjpeg-turbo| = %.3f levels", name, mean)
		if mean > c.bound {
			t.Errorf("%s: decoders differ by %.3f levels on average", name, mean)
		}
	}
}

// Whichever decoder runs, an ImageFolder of JPEGs gives the same batches
// for any number of workers, and a decoder's batches do not depend on
// anything but the seed.
func TestLoaderJPEGDeterministic(t *testing.T) {
	root := t.TempDir()
	for i := 0; i < 24; i++ {
		dir := mkdir(t, root, "train", fmt.Sprintf("c%d", i%3))
		writeFile(t, filepath.Join(dir, fmt.Sprintf("%02d.jpg", i)), jpegBytes(t, photoLike(90+i, 70+i%5, uint64(i)), 90))
	}
	src, err := OpenFolder(root, "train", FolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tf := Transform{Resize: 64, Crop: 56, RandomCrop: true, Flip: true, Lighting: 0.1, Mean: ImageNetMean, Std: ImageNetStd}
	decoders(t, func(t *testing.T) {
		var first epochData
		for k, workers := range []int{1, 2, 5} {
			l, err := NewLoader(src, tf, LoaderConfig{BatchSize: 7, Shuffle: true, Seed: 3, Workers: workers, Prefetch: 1 + k})
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := collect(t, l, 1)
			if err != nil {
				t.Fatal(err)
			}
			if k == 0 {
				first = got
				continue
			}
			if fmt.Sprint(got.labels) != fmt.Sprint(first.labels) || len(got.x) != len(first.x) {
				t.Fatalf("%d workers: labels or sizes differ from 1 worker", workers)
			}
			if d, at := maxAbsDiff(got.x, first.x); d != 0 {
				t.Fatalf("%d workers: largest difference from 1 worker %g at %d", workers, d, at)
			}
		}
	})
}
