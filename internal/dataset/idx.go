package dataset

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// IDX is an MNIST-format data set (MNIST, Fashion-MNIST) held in memory.
type IDX struct {
	images  []uint8 // n*h*w*c
	labels  []uint8
	h, w, c int
	classes []string
	path    string
}

// OpenIDX reads root/{train,t10k}-images-idx3-ubyte and the matching labels
// file, gzipped or not (the ".gz" suffix and the "images.idx3-ubyte" spelling
// are both accepted). Without classes, names are Fashion-MNIST's when root's
// path mentions "fashion", else the digits "0".."9".
func OpenIDX(root, split string, classes []string) (*IDX, error) {
	test, err := testSplit(split)
	if err != nil {
		return nil, fmt.Errorf("idx %s: %w", root, err)
	}
	prefix := "train"
	if test {
		prefix = "t10k"
	}
	imgPath, err := findIDX(root, prefix, "images", "idx3")
	if err != nil {
		return nil, err
	}
	lblPath, err := findIDX(root, prefix, "labels", "idx1")
	if err != nil {
		return nil, err
	}
	imgDims, images, err := readIDX(imgPath)
	if err != nil {
		return nil, err
	}
	lblDims, labels, err := readIDX(lblPath)
	if err != nil {
		return nil, err
	}
	d := &IDX{images: images, labels: labels, c: 1, path: imgPath}
	switch len(imgDims) {
	case 3:
		d.h, d.w = imgDims[1], imgDims[2]
	case 4:
		d.h, d.w, d.c = imgDims[1], imgDims[2], imgDims[3]
	default:
		return nil, fmt.Errorf("%s: images have %d dimensions, want 3 (N,H,W) or 4 (N,H,W,C)", imgPath, len(imgDims))
	}
	if d.h == 0 || d.w == 0 || (d.c != 1 && d.c != 3) {
		return nil, fmt.Errorf("%s: bad image shape %v", imgPath, imgDims)
	}
	if len(lblDims) != 1 || lblDims[0] != imgDims[0] {
		return nil, fmt.Errorf("%s: labels shape %v does not match %d images in %s", lblPath, lblDims, imgDims[0], imgPath)
	}
	if len(classes) == 0 {
		if strings.Contains(strings.ToLower(root), "fashion") {
			classes = FashionMNISTClasses
		} else {
			classes = digitNames(10)
		}
	}
	d.classes = classes
	if err := checkClasses(labels, classes, lblPath); err != nil {
		return nil, err
	}
	return d, nil
}

func findIDX(root, prefix, kind, idxType string) (string, error) {
	var tried []string
	for _, base := range []string{prefix + "-" + kind + "-" + idxType + "-ubyte", prefix + "-" + kind + "." + idxType + "-ubyte"} {
		for _, name := range []string{base + ".gz", base} {
			p := filepath.Join(root, name)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			} else if !errors.Is(err, fs.ErrNotExist) {
				return "", err
			}
			tried = append(tried, name)
		}
	}
	return "", fmt.Errorf("idx: none of %s in %s", strings.Join(tried, ", "), root)
}

// readIDX reads a whole IDX file of unsigned bytes, gunzipping when the file
// starts with gzip's magic (names are not trusted: browsers often unpack .gz).
func readIDX(path string) ([]int, []uint8, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	if len(raw) >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		raw, err = io.ReadAll(zr)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: gunzip: %w", path, err)
		}
	}
	if len(raw) < 4 || raw[0] != 0 || raw[1] != 0 {
		return nil, nil, fmt.Errorf("%s: not an IDX file (bad magic)", path)
	}
	if raw[2] != 0x08 {
		return nil, nil, fmt.Errorf("%s: IDX element type 0x%02x, only unsigned bytes (0x08) are supported", path, raw[2])
	}
	nd := int(raw[3])
	if nd == 0 || len(raw) < 4+4*nd {
		return nil, nil, fmt.Errorf("%s: truncated IDX header", path)
	}
	dims := make([]int, nd)
	total := int64(1)
	for i := range dims {
		dims[i] = int(binary.BigEndian.Uint32(raw[4+4*i:]))
		total *= int64(dims[i])
		if total > int64(len(raw)) {
			break // certainly too short; reported below
		}
	}
	data := raw[4+4*nd:]
	if total != int64(len(data)) {
		return nil, nil, fmt.Errorf("%s: header %v needs %d bytes of data, file has %d", path, dims, total, len(data))
	}
	return dims, data, nil
}

func (d *IDX) Len() int          { return len(d.labels) }
func (d *IDX) Classes() []string { return d.classes }
func (d *IDX) Channels() int     { return d.c }
func (d *IDX) Name(i int) string { return fmt.Sprintf("%s[%d]", d.path, i) }

// Load returns image i, aliasing the data set's memory.
func (d *IDX) Load(i int) (Image, int32, error) {
	if i < 0 || i >= len(d.labels) {
		return Image{}, 0, fmt.Errorf("%s: index out of range [0,%d)", d.Name(i), len(d.labels))
	}
	n := d.h * d.w * d.c
	return Image{W: d.w, H: d.h, C: d.c, Pix: d.images[i*n : (i+1)*n : (i+1)*n]}, int32(d.labels[i]), nil
}
