package dataset

import (
	"errors"
	"image"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// idxFixture writes n images of h x w and their labels under dir with the
// given file-name spelling, gzipped or not, and returns them.
func idxFixture(t *testing.T, dir, prefix, spelling string, n, h, w int, gz bool) ([]uint8, []uint8) {
	t.Helper()
	imgs := make([]uint8, n*h*w)
	for i := range imgs {
		imgs[i] = uint8(i*7 + len(prefix))
	}
	labels := make([]uint8, n)
	for i := range labels {
		labels[i] = uint8((i * 3) % 10)
	}
	suffix := ""
	if gz {
		suffix = ".gz"
	}
	writeIDX(t, filepath.Join(dir, prefix+"-images"+spelling+"idx3-ubyte"+suffix), []int{n, h, w}, imgs, gz)
	writeIDX(t, filepath.Join(dir, prefix+"-labels"+spelling+"idx1-ubyte"+suffix), []int{n}, labels, gz)
	return imgs, labels
}

func TestIDX(t *testing.T) {
	root := t.TempDir()
	for _, c := range []struct {
		dir, spelling string
		gz            bool
	}{{"mnist-gz", "-", true}, {"mnist-raw", "-", false}, {"mnist-dot", ".", false}} {
		dir := mkdir(t, root, c.dir)
		for _, split := range []struct{ name, prefix string }{{"train", "train"}, {"test", "t10k"}} {
			n := 5
			if split.name == "test" {
				n = 3
			}
			imgs, labels := idxFixture(t, dir, split.prefix, c.spelling, n, 4, 6, c.gz)
			d, err := OpenIDX(dir, split.name, nil)
			if err != nil {
				t.Fatalf("%s %s: %v", c.dir, split.name, err)
			}
			if d.Len() != n || d.Channels() != 1 {
				t.Fatalf("%s %s: Len %d Channels %d", c.dir, split.name, d.Len(), d.Channels())
			}
			if !reflect.DeepEqual(d.Classes(), digitNames(10)) {
				t.Errorf("%s: classes %v, want digits", c.dir, d.Classes())
			}
			for i := 0; i < n; i++ {
				m, l, err := d.Load(i)
				if err != nil {
					t.Fatal(err)
				}
				if m.W != 6 || m.H != 4 || m.C != 1 || string(m.Pix) != string(imgs[i*24:(i+1)*24]) || l != int32(labels[i]) {
					t.Fatalf("%s %s[%d]: %dx%dx%d label %d, wrong content or label (want %d)", c.dir, split.name, i, m.W, m.H, m.C, l, labels[i])
				}
			}
			if !strings.Contains(d.Name(2), split.prefix+"-images") || !strings.HasSuffix(d.Name(2), "[2]") {
				t.Errorf("Name(2) = %q", d.Name(2))
			}
			if _, _, err := d.Load(n); err == nil {
				t.Error("Load past the end succeeded")
			}
		}
	}

	// Class names: Fashion-MNIST's when the path says so; overridable.
	fdir := mkdir(t, root, "Fashion-MNIST")
	idxFixture(t, fdir, "train", "-", 4, 2, 2, true)
	d, err := OpenIDX(fdir, "train", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Classes()[9] != "Ankle boot" || d.Classes()[0] != "T-shirt/top" {
		t.Errorf("fashion classes %v", d.Classes())
	}
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	if d, err = OpenIDX(fdir, "train", names); err != nil || !reflect.DeepEqual(d.Classes(), names) {
		t.Errorf("override: %v %v", d.Classes(), err)
	}
	if _, err := OpenIDX(fdir, "train", names[:3]); err == nil || !strings.Contains(err.Error(), "label") {
		t.Errorf("labels beyond 3 classes accepted: %v", err)
	}
}

func TestIDXErrors(t *testing.T) {
	root := t.TempDir()
	if _, err := OpenIDX(root, "train", nil); err == nil || !strings.Contains(err.Error(), "train-images-idx3-ubyte.gz") {
		t.Errorf("missing files: %v", err)
	}
	if _, err := OpenIDX(root, "validation-ish", nil); err == nil {
		t.Error("unknown split accepted")
	}
	dir := mkdir(t, root, "count")
	writeIDX(t, filepath.Join(dir, "train-images-idx3-ubyte"), []int{3, 2, 2}, make([]uint8, 12), false)
	writeIDX(t, filepath.Join(dir, "train-labels-idx1-ubyte"), []int{4}, make([]uint8, 4), false)
	if _, err := OpenIDX(dir, "train", nil); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("3 images, 4 labels: %v", err)
	}
	dir = mkdir(t, root, "short")
	writeIDX(t, filepath.Join(dir, "train-images-idx3-ubyte.gz"), []int{3, 2, 2}, make([]uint8, 11), true)
	writeIDX(t, filepath.Join(dir, "train-labels-idx1-ubyte.gz"), []int{3}, make([]uint8, 3), true)
	if _, err := OpenIDX(dir, "train", nil); err == nil || !strings.Contains(err.Error(), "needs 12 bytes") {
		t.Errorf("truncated data: %v", err)
	}
	dir = mkdir(t, root, "magic")
	writeFile(t, filepath.Join(dir, "train-images-idx3-ubyte"), []byte{1, 2, 3, 4, 5})
	writeIDX(t, filepath.Join(dir, "train-labels-idx1-ubyte"), []int{1}, make([]uint8, 1), false)
	if _, err := OpenIDX(dir, "train", nil); err == nil || !strings.Contains(err.Error(), "magic") {
		t.Errorf("bad magic: %v", err)
	}
}

// Debian's dataset-fashion-mnist, when installed: the real files parse and
// are balanced (6000 training and 1000 test images per class).
func TestFashionMNISTInstalled(t *testing.T) {
	const root = "/usr/share/datasets/fashion-mnist"
	if _, err := os.Stat(root); err != nil {
		t.Skipf("%s not installed", root)
	}
	for _, c := range []struct {
		split  string
		n, per int
	}{{"train", 60000, 6000}, {"test", 10000, 1000}} {
		d, err := OpenIDX(root, c.split, nil)
		if err != nil {
			t.Fatal(err)
		}
		if d.Len() != c.n || d.h != 28 || d.w != 28 || d.Channels() != 1 {
			t.Fatalf("%s: %d images of %dx%dx%d", c.split, d.Len(), d.h, d.w, d.Channels())
		}
		if d.Classes()[0] != "T-shirt/top" {
			t.Errorf("classes %v", d.Classes())
		}
		counts := make([]int, 10)
		for _, l := range d.labels {
			counts[l]++
		}
		for k, n := range counts {
			if n != c.per {
				t.Errorf("%s: class %d has %d images, want %d", c.split, k, n, c.per)
			}
		}
	}
}

// cifarRecord makes a record whose pixel (y, x) of channel ch is
// (y*32+x+ch*85+seed) mod 256, stored planar as in the real files.
func cifarRec(label, seed int) []byte {
	rec := make([]byte, cifarRecord)
	rec[0] = byte(label)
	for ch := 0; ch < 3; ch++ {
		for p := 0; p < 1024; p++ {
			rec[1+ch*1024+p] = byte(p + ch*85 + seed)
		}
	}
	return rec
}

func TestCIFAR10(t *testing.T) {
	root := t.TempDir()
	dir := mkdir(t, root, "cifar-10-batches-bin") // the archive's folder; OpenCIFAR10 looks inside
	for f := 1; f <= 5; f++ {
		var b []byte
		for r := 0; r < 2; r++ {
			b = append(b, cifarRec((f*2+r)%10, f*10+r)...)
		}
		writeFile(t, filepath.Join(dir, "data_batch_"+string(rune('0'+f))+".bin"), b)
	}
	writeFile(t, filepath.Join(dir, "test_batch.bin"), append(cifarRec(7, 99), cifarRec(3, 98)...))

	d, err := OpenCIFAR10(root, "train", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 10 || d.Channels() != 3 || !reflect.DeepEqual(d.Classes(), CIFAR10Classes) {
		t.Fatalf("Len %d Channels %d Classes %v", d.Len(), d.Channels(), d.Classes())
	}
	m, l, err := d.Load(5) // data_batch_3.bin, record 1
	if err != nil {
		t.Fatal(err)
	}
	if l != 7 || m.W != 32 || m.H != 32 || m.C != 3 {
		t.Fatalf("Load(5): %dx%dx%d label %d, want label 7", m.W, m.H, m.C, l)
	}
	for _, p := range [][2]int{{0, 0}, {0, 31}, {17, 5}, {31, 31}} {
		y, x := p[0], p[1]
		for ch := 0; ch < 3; ch++ {
			if got, want := m.Pix[(y*32+x)*3+ch], byte(y*32+x+ch*85+31); got != want {
				t.Errorf("pixel (%d,%d) channel %d = %d, want %d", y, x, ch, got, want)
			}
		}
	}
	if n := d.Name(5); !strings.HasSuffix(n, "data_batch_3.bin[1]") {
		t.Errorf("Name(5) = %q", n)
	}

	writeFile(t, filepath.Join(dir, "batches.meta.txt"), []byte("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n"))
	d, err = OpenCIFAR10(dir, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 2 || d.Classes()[9] != "j" || len(d.Classes()) != 10 {
		t.Errorf("test split: Len %d classes %v", d.Len(), d.Classes())
	}
	if _, l, _ := d.Load(0); l != 7 {
		t.Errorf("test label %d, want 7", l)
	}

	writeFile(t, filepath.Join(dir, "test_batch.bin"), make([]byte, cifarRecord+5))
	if _, err := OpenCIFAR10(dir, "test", nil); err == nil || !strings.Contains(err.Error(), "test_batch.bin") {
		t.Errorf("ragged file: %v", err)
	}
}

// folderFixture builds root/train in ImageNet's layout with good images, a
// corrupt, a truncated and a huge-header file, and returns the root.
func folderFixture(t *testing.T) string {
	root := t.TempDir()
	tr := mkdir(t, root, "train")
	// Folder names chosen so sorting matters (n02 before n10; not creation order).
	b := mkdir(t, tr, "n10000000")
	a := mkdir(t, tr, "n02000000")
	mkdir(t, tr, ".ipynb_checkpoints")
	writeFile(t, filepath.Join(tr, ".ipynb_checkpoints", "x.png"), pngBytes(t, rgbPattern(8, 8, 0)))
	writeFile(t, filepath.Join(tr, "stray.jpg"), jpegBytes(t, rgbPattern(8, 8, 0), 90)) // not in a class folder

	writeFile(t, filepath.Join(a, "img2.PNG"), pngBytes(t, rgbPattern(10, 6, 1)))
	writeFile(t, filepath.Join(a, "img1.JPEG"), jpegBytes(t, rgbPattern(12, 9, 2), 90))
	gray := image.NewGray(image.Rect(0, 0, 5, 4))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(12 * i)
	}
	writeFile(t, filepath.Join(a, "gray.png"), pngBytes(t, gray))
	writeFile(t, filepath.Join(a, "notes.txt"), []byte("ignored"))
	sub := mkdir(t, a, "sub")
	writeFile(t, filepath.Join(sub, "deep.jpg"), jpegBytes(t, rgbPattern(7, 7, 3), 90))

	good := jpegBytes(t, rgbPattern(16, 16, 4), 90)
	writeFile(t, filepath.Join(b, "a_good.jpg"), good)
	writeFile(t, filepath.Join(b, "b_corrupt.jpg"), []byte("\xff\xd8\xff garbage garbage"))
	writeFile(t, filepath.Join(b, "c_truncated.jpg"), good[:len(good)/2])
	writeFile(t, filepath.Join(b, "d_huge.png"), hugePNG(20000, 20000))
	return root
}

func TestFolder(t *testing.T) {
	root := folderFixture(t)
	writeFile(t, filepath.Join(root, "LOC_synset_mapping.txt"), []byte("n02000000 goldfish, Carassius auratus\nn10000000 tench, Tinca tinca\nn99 other\n"))
	f, err := OpenFolder(root, "train", FolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []string{
		// torchvision's order: folders sorted by path, then names sorted (bytes: upper case first).
		"n02000000/gray.png", "n02000000/img1.JPEG", "n02000000/img2.PNG", "n02000000/sub/deep.jpg",
		"n10000000/a_good.jpg", "n10000000/b_corrupt.jpg", "n10000000/c_truncated.jpg", "n10000000/d_huge.png",
	}
	var gotFiles []string
	for i := 0; i < f.Len(); i++ {
		rel, _ := filepath.Rel(filepath.Join(root, "train"), f.Name(i))
		gotFiles = append(gotFiles, filepath.ToSlash(rel))
	}
	if !reflect.DeepEqual(gotFiles, wantFiles) {
		t.Fatalf("files\n got %v\nwant %v", gotFiles, wantFiles)
	}
	if want := []string{"goldfish, Carassius auratus", "tench, Tinca tinca"}; !reflect.DeepEqual(f.Classes(), want) {
		t.Errorf("classes %q, want %q", f.Classes(), want)
	}
	if want := []string{"n02000000", "n10000000"}; !reflect.DeepEqual(f.Dirs(), want) {
		t.Errorf("dirs %v", f.Dirs())
	}
	wantLabels := []int32{0, 0, 0, 0, 1}
	for i, wl := range wantLabels {
		m, l, err := f.Load(i)
		if err != nil {
			t.Fatalf("%s: %v", f.Name(i), err)
		}
		if l != wl || m.C != 3 {
			t.Errorf("%s: label %d channels %d, want label %d, 3 channels", f.Name(i), l, m.C, wl)
		}
	}
	// The gray PNG is repeated into RGB.
	m, _, _ := f.Load(0)
	if m.W != 5 || m.H != 4 || m.Pix[3*7] != 12*7 || m.Pix[3*7+1] != 12*7 || m.Pix[3*7+2] != 12*7 {
		t.Errorf("gray.png as RGB: %dx%d pixel 7 = %v", m.W, m.H, m.Pix[21:24])
	}
	for i := 5; i < 8; i++ {
		_, _, err := f.Load(i)
		if err == nil {
			t.Errorf("%s loaded without error", f.Name(i))
			continue
		}
		if !strings.Contains(err.Error(), f.Name(i)) {
			t.Errorf("error %q does not name %s", err, f.Name(i))
		}
		if strings.HasSuffix(f.Name(i), "d_huge.png") && !errors.Is(err, ErrTooLarge) {
			t.Errorf("huge PNG: %v, want ErrTooLarge from the header check", err)
		}
	}

	// One channel: colour converted to luma.
	g, err := OpenFolder(root, "train", FolderOptions{Channels: 1, Classes: []string{"x", "y"}})
	if err != nil {
		t.Fatal(err)
	}
	if m, _, err := g.Load(2); err != nil || m.C != 1 || g.Channels() != 1 || g.Classes()[1] != "y" {
		t.Errorf("gray folder: %v channels %d classes %v", err, m.C, g.Classes())
	}
	if _, err := OpenFolder(root, "train", FolderOptions{Classes: []string{"one"}}); err == nil {
		t.Error("1 class name for 2 folders accepted")
	}
	// A labels file given explicitly wins over the one found in root.
	lf := filepath.Join(t.TempDir(), "words.txt")
	writeFile(t, lf, []byte("n10000000 tench\n"))
	if g, err = OpenFolder(root, "train", FolderOptions{LabelsFile: lf}); err != nil || !reflect.DeepEqual(g.Classes(), []string{"n02000000", "tench"}) {
		t.Errorf("explicit labels file: %v %v", g.Classes(), err)
	}
}

func TestFolderErrors(t *testing.T) {
	root := t.TempDir()
	if _, err := OpenFolder(root, "train", FolderOptions{}); err == nil {
		t.Error("missing split folder accepted")
	}
	mkdir(t, root, "train")
	if _, err := OpenFolder(root, "train", FolderOptions{}); err == nil || !strings.Contains(err.Error(), "no class folders") {
		t.Errorf("no classes: %v", err)
	}
	mkdir(t, root, "train", "empty")
	if _, err := OpenFolder(root, "train", FolderOptions{}); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty class: %v", err)
	}
}

func TestFolderSymlinkedClass(t *testing.T) {
	root := t.TempDir()
	real := mkdir(t, root, "store", "cats")
	writeFile(t, filepath.Join(real, "c.png"), pngBytes(t, rgbPattern(4, 4, 0)))
	mkdir(t, root, "train")
	if err := os.Symlink(real, filepath.Join(root, "train", "cats")); err != nil {
		t.Skip("symlinks unsupported:", err)
	}
	f, err := OpenFolder(root, "train", FolderOptions{})
	if err != nil || f.Len() != 1 {
		t.Fatalf("symlinked class: %v, %d files", err, f.Len())
	}
	if _, _, err := f.Load(0); err != nil {
		t.Error(err)
	}
}

func TestSyntheticAndOpen(t *testing.T) {
	s, err := Open(Config{Kind: "synthetic", Len: 10, Height: 5, Width: 7, NumClasses: 4, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := NewSynthetic(10, 3, 5, 7, 4, 3)
	s3, _ := NewSynthetic(10, 3, 5, 7, 4, 4)
	seen := map[int32]bool{}
	for i := 0; i < 10; i++ {
		a, la, _ := s.Load(i)
		b, lb, _ := s2.Load(i)
		c, _, _ := s3.Load(i)
		if string(a.Pix) != string(b.Pix) || la != lb {
			t.Fatalf("image %d differs between two sources with the same seed", i)
		}
		if string(a.Pix) == string(c.Pix) {
			t.Fatalf("image %d equal under another seed", i)
		}
		if la < 0 || la >= 4 || a.W != 7 || a.H != 5 || a.C != 3 {
			t.Fatalf("image %d: %dx%dx%d label %d", i, a.W, a.H, a.C, la)
		}
		seen[la] = true
	}
	if len(seen) < 2 {
		t.Errorf("labels all equal: %v", seen)
	}
	if _, err := Open(Config{Kind: "tfrecord"}); err == nil {
		t.Error("unknown kind accepted")
	}
	if _, err := NewSynthetic(0, 3, 5, 5, 2, 0); err == nil {
		t.Error("empty synthetic set accepted")
	}
}

// lost+found at the top of a split is no class: refused, not counted.
func TestFolderLostAndFound(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"a", "lost+found"} {
		dir := mkdir(t, root, "train", d)
		writeFile(t, filepath.Join(dir, "x.png"), pngBytes(t, rgbPattern(4, 4, 1)))
	}
	if _, err := OpenFolder(root, "train", FolderOptions{}); err == nil || !strings.Contains(err.Error(), "lost+found, not a class") {
		t.Errorf("a split with lost+found: %v", err)
	}
}
