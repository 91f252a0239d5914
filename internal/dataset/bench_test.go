package dataset

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
)

// benchLoader runs whole passes of l (or b.N batches, if fewer) and reports
// images/s and images/s per core. Run with -benchtime=Nx to bound the work.
func benchLoader(b *testing.B, l *Loader) {
	b.ReportAllocs()
	b.ResetTimer()
	images := 0
	var waited float64
	for done := 0; done < b.N; {
		want := min(b.N-done, l.NumBatches())
		_, st, err := Throughput(context.Background(), l, want)
		if err != nil {
			b.Fatal(err)
		}
		images += st.Images
		done += st.Batches
		waited += st.Wait.Seconds()
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(images)/sec, "images/s")
	b.ReportMetric(float64(images)/sec/float64(runtime.GOMAXPROCS(0)), "images/s/core")
	b.ReportMetric(0, "ns/op") // per batch is not a useful unit here
}

// Fashion-MNIST batches of 128 with padding-2 random crops and flips: the
// installed data set if present, else the same shape made up.
func BenchmarkLoaderFashionMNIST(b *testing.B) {
	var src Source
	if s, err := OpenIDX("/usr/share/datasets/fashion-mnist", "train", nil); err == nil {
		src = s
	} else {
		dir := b.TempDir()
		n := 10000
		writeIDX(b, filepath.Join(dir, "train-images-idx3-ubyte"), []int{n, 28, 28}, make([]uint8, n*784), false)
		writeIDX(b, filepath.Join(dir, "train-labels-idx1-ubyte"), []int{n}, make([]uint8, n), false)
		if src, err = OpenIDX(dir, "train", nil); err != nil {
			b.Fatal(err)
		}
	}
	tf := Transform{Crop: 28, RandomCrop: true, Pad: 2, Flip: true, Mean: []float32{0.2860}, Std: []float32{0.3530}}
	l, err := NewLoader(src, tf, LoaderConfig{BatchSize: 128, Shuffle: true, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	benchLoader(b, l)
}

// ImageNet-style: JPEGs (quality 90), shorter side to 256, random 227 crops,
// flips and lighting, batches of 32. 256x256 files need no resize; 500x375
// is a typical ImageNet photo, resized to 341x256 first.
func BenchmarkLoaderFolderJPEG(b *testing.B) {
	for _, size := range [][2]int{{256, 256}, {500, 375}} {
		b.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(b *testing.B) {
			root := b.TempDir()
			const classes, per = 4, 16
			for c := 0; c < classes; c++ {
				dir := mkdir(b, root, "train", fmt.Sprintf("n%08d", c))
				for i := 0; i < per; i++ {
					writeFile(b, filepath.Join(dir, fmt.Sprintf("%d.JPEG", i)), jpegBytes(b, rgbPattern(size[0], size[1], c*per+i), 90))
				}
			}
			src, err := OpenFolder(root, "train", FolderOptions{})
			if err != nil {
				b.Fatal(err)
			}
			tf := Transform{Resize: 256, Crop: 227, RandomCrop: true, Flip: true, Lighting: 0.1, Mean: ImageNetMean, Std: ImageNetStd}
			l, err := NewLoader(src, tf, LoaderConfig{BatchSize: 32, Shuffle: true, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			benchLoader(b, l)
		})
	}
}

// Resizing a typical ImageNet photo (500x375 RGB) to a 256 shorter side.
func BenchmarkResize500x375To256(b *testing.B) {
	m := patternImage(500, 375, 3)
	sc := &scratch{}
	w, h := ResizedSize(500, 375, 256)
	b.SetBytes(int64(len(m.Pix)))
	for b.Loop() {
		if _, _, _, err := resizeWindow(m, w, h, 0, 0, w, h, sc); err != nil {
			b.Fatal(err)
		}
	}
}

// Decoding a 500x375 JPEG to RGB bytes.
func BenchmarkDecodeJPEG500x375(b *testing.B) {
	data := jpegBytes(b, rgbPattern(500, 375, 1), 90)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}
