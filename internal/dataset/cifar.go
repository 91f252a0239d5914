package dataset

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// CIFAR-10's binary version: records of 1 label byte and 3072 pixel bytes
// (1024 red, 1024 green, 1024 blue, each 32x32 row-major).
const (
	cifarSide   = 32
	cifarRecord = 1 + 3*cifarSide*cifarSide
)

// CIFAR10 is the CIFAR-10 binary data set held in memory.
type CIFAR10 struct {
	records []uint8 // n * cifarRecord, as in the files
	files   []string
	perFile []int // records in each file, for Name
	classes []string
}

// OpenCIFAR10 reads data_batch_1.bin..data_batch_5.bin (train) or
// test_batch.bin (test) from root or root/cifar-10-batches-bin. Class names
// come from classes, else batches.meta.txt, else the built-in list.
func OpenCIFAR10(root, split string, classes []string) (*CIFAR10, error) {
	test, err := testSplit(split)
	if err != nil {
		return nil, fmt.Errorf("cifar10 %s: %w", root, err)
	}
	names := []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}
	if test {
		names = []string{"test_batch.bin"}
	}
	dir := root
	if _, err := os.Stat(filepath.Join(root, names[0])); errors.Is(err, fs.ErrNotExist) {
		if _, err2 := os.Stat(filepath.Join(root, "cifar-10-batches-bin", names[0])); err2 == nil {
			dir = filepath.Join(root, "cifar-10-batches-bin")
		}
	}
	d := &CIFAR10{}
	for _, n := range names {
		p := filepath.Join(dir, n)
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("cifar10: %w", err)
		}
		if len(b) == 0 || len(b)%cifarRecord != 0 {
			return nil, fmt.Errorf("cifar10: %s has %d bytes, not a whole number of %d-byte records", p, len(b), cifarRecord)
		}
		d.records = append(d.records, b...)
		d.files = append(d.files, p)
		d.perFile = append(d.perFile, len(b)/cifarRecord)
	}
	if len(classes) == 0 {
		classes, err = readMetaNames(filepath.Join(dir, "batches.meta.txt"))
		if err != nil {
			return nil, err
		}
	}
	d.classes = classes
	for i := 0; i < d.Len(); i++ {
		if l := d.records[i*cifarRecord]; int(l) >= len(classes) {
			return nil, fmt.Errorf("cifar10: %s has label %d but there are %d classes", d.Name(i), l, len(classes))
		}
	}
	return d, nil
}

// readMetaNames reads one class name per line, ignoring blank lines; a
// missing file gives CIFAR10Classes.
func readMetaNames(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return CIFAR10Classes, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cifar10: %w", err)
	}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			names = append(names, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cifar10: %s: %w", path, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("cifar10: %s has no class names", path)
	}
	return names, nil
}

func (d *CIFAR10) Len() int          { return len(d.records) / cifarRecord }
func (d *CIFAR10) Classes() []string { return d.classes }
func (d *CIFAR10) Channels() int     { return 3 }

// Name is "file[record]".
func (d *CIFAR10) Name(i int) string {
	for f, n := range d.perFile {
		if i < n {
			return fmt.Sprintf("%s[%d]", d.files[f], i)
		}
		i -= n
	}
	return fmt.Sprintf("cifar10[%d]", i)
}

// Load returns record i converted from the file's planar layout to RGB pixels.
func (d *CIFAR10) Load(i int) (Image, int32, error) {
	if i < 0 || i >= d.Len() {
		return Image{}, 0, fmt.Errorf("cifar10: index %d out of range [0,%d)", i, d.Len())
	}
	rec := d.records[i*cifarRecord : (i+1)*cifarRecord]
	const plane = cifarSide * cifarSide
	pix := make([]uint8, 3*plane)
	r, g, b := rec[1:1+plane], rec[1+plane:1+2*plane], rec[1+2*plane:]
	for p := 0; p < plane; p++ {
		pix[3*p], pix[3*p+1], pix[3*p+2] = r[p], g[p], b[p]
	}
	return Image{W: cifarSide, H: cifarSide, C: 3, Pix: pix}, int32(rec[0]), nil
}
