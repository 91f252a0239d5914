package dataset

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// A pack is a data set stored already resized, in one file read through a
// memory map. It is what the paper trained from (every image rescaled once to
// 256x256, "down-sampled to a fixed resolution") and what Caffe's
// convert_imageset builds. Records are raw 8-bit HWC pixels (the loader then
// only crops, flips and normalises: no decoding, no resizing, which are most
// of an ImageNet loader's CPU time) or JPEGs of the resized images (about a
// tenth of the size, so ImageNet fits a page cache; decoding a 256-pixel JPEG
// is a third of the work of an original's decode and resize, and lossy).
//
// Layout (little-endian):
//
//	header  "ALEXPACK", version u32, reserved u32
//	records each image's bytes, back to back
//	index   count x {offset u64, bytes u32, width u32, height u32, label i32, crc32c u32}
//	names   (count+1) x u32 offsets into the bytes that follow, then the bytes
//	meta    JSON (PackInfo)
//	footer  index offset, names offset, meta offset, meta length (u64 each),
//	        crc32c of index+names+meta (u32), reserved u32, "ALEXPEND"
//
// Every record has its own checksum, checked at each load; the index, names
// and description share one, checked at open (a flipped label would otherwise
// train silently on the wrong class).
//
// The file is mapped, not read: replace a pack by renaming a new one over it
// (as Pack does; the old file lives on while mapped), never rewrite it in
// place while a run reads it. A page that cannot be read (a truncated file, a
// disk error) becomes an error from Load naming the record.
//
// A record of width and height 0 is an image that failed to load when the
// pack was made; its reason is in the meta. Keeping it keeps the indices of
// the source, so the Loader's shuffled order, and so every batch, is the same
// as from the source itself.
const (
	packMagic    = "ALEXPACK"
	packEndMagic = "ALEXPEND"
	packVersion  = 1
	packHeader   = 16
	packFooter   = 48
	packEntry    = 28
)

// Pack record encodings.
const (
	PackRaw  = "raw"
	PackJPEG = "jpeg"
	// DefaultPackQuality is FFCV's default for its JPEG records: 25 KB per
	// image at shorter side 256 in BenchmarkLoaderPacked.
	DefaultPackQuality = 90
)

// maxPackSide is the largest width or height a record holds.
const maxPackSide = 1 << 20

// MaxPackSize is the largest shorter side Pack resizes to.
const MaxPackSize = 8192

// PackExt is the extension of a split's file: <root>/<split>.pack.
const PackExt = ".pack"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type packRecord struct {
	off   uint64
	size  uint32 // bytes
	w, h  uint32
	label int32
	crc   uint32
}

// PackInfo describes a pack; it is stored in the file as JSON.
type PackInfo struct {
	Version  int            `json:"version"`
	Count    int            `json:"count"`
	Channels int            `json:"channels"`
	Classes  []string       `json:"classes"`
	Size     int            `json:"size,omitempty"` // shorter side the images were resized to; 0: as in the source
	Square   bool           `json:"square,omitempty"`
	Encoding string         `json:"encoding"`          // PackRaw or PackJPEG
	Quality  int            `json:"quality,omitempty"` // JPEG quality
	Source   string         `json:"source,omitempty"`
	Created  string         `json:"created,omitempty"`
	Failed   map[int]string `json:"failed,omitempty"` // index -> why it did not load
}

// Packed is a pack opened for reading; it is a Source.
type Packed struct {
	path    string
	data    []byte // the whole file, mapped read-only
	recs    []packRecord
	names   []byte // (count+1) u32 offsets, then the names' bytes
	nameOff int    // where the bytes begin within names
	info    PackInfo
}

// PackPath is the file of a split under root.
func PackPath(root, split string) string { return filepath.Join(root, split+PackExt) }

// OpenPacked maps a pack and checks its structure: a truncated or foreign
// file is refused here, a damaged record when it is loaded (checksum).
func OpenPacked(path string) (*Packed, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("pack %s does not exist (%w); make it with `alexnet pack`", path, err)
		}
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file; a pack is a file made by `alexnet pack`", path)
	}
	size := st.Size()
	if size < packHeader+packFooter {
		return nil, fmt.Errorf("%s: %d bytes is too short for a pack (truncated?); make it again with `alexnet pack`", path, size)
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("%s: %d bytes do not fit in memory addresses", path, size)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("%s: map: %w", path, err)
	}
	p := &Packed{path: path, data: data}
	if err := p.parse(); err != nil {
		p.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

func (p *Packed) parse() error {
	d := p.data
	size := uint64(len(d))
	if string(d[:8]) != packMagic {
		return errors.New("not a pack file (no ALEXPACK header)")
	}
	if v := binary.LittleEndian.Uint32(d[8:]); v != packVersion {
		return fmt.Errorf("pack version %d, this alexnet reads version %d; make it again with this alexnet's `alexnet pack`", v, packVersion)
	}
	ft := d[size-packFooter:]
	if string(ft[40:48]) != packEndMagic {
		return errors.New("no end marker: the file is truncated (an interrupted copy?); make it again with `alexnet pack`")
	}
	indexOff := binary.LittleEndian.Uint64(ft[0:])
	namesOff := binary.LittleEndian.Uint64(ft[8:])
	metaOff := binary.LittleEndian.Uint64(ft[16:])
	metaLen := binary.LittleEndian.Uint64(ft[24:])
	// Each bound on its own, never a sum that could wrap.
	end := size - packFooter
	if indexOff < packHeader || indexOff > end || namesOff < indexOff || namesOff > end ||
		metaOff < namesOff || metaOff > end || metaLen != end-metaOff || (namesOff-indexOff)%packEntry != 0 {
		return errors.New("damaged footer (section offsets out of order); make it again with `alexnet pack`")
	}
	if crc32.Checksum(d[indexOff:end], castagnoli) != binary.LittleEndian.Uint32(ft[32:]) {
		return errors.New("damaged index (checksum mismatch); make it again with `alexnet pack`")
	}
	if err := json.Unmarshal(d[metaOff:metaOff+metaLen], &p.info); err != nil {
		return fmt.Errorf("damaged description: %v", err)
	}
	n := int((namesOff - indexOff) / packEntry)
	info := &p.info
	switch {
	case info.Count != n:
		return fmt.Errorf("damaged: the description says %d images, the index holds %d", info.Count, n)
	case info.Channels != 1 && info.Channels != 3:
		return fmt.Errorf("damaged: %d channels", info.Channels)
	case len(info.Classes) == 0:
		return errors.New("damaged: no class names")
	case info.Encoding != PackRaw && info.Encoding != PackJPEG:
		return fmt.Errorf("unknown record encoding %q (this alexnet reads raw and jpeg)", info.Encoding)
	}
	p.recs = make([]packRecord, n)
	for i := range p.recs {
		e := d[indexOff+uint64(i)*packEntry:]
		r := packRecord{off: binary.LittleEndian.Uint64(e), size: binary.LittleEndian.Uint32(e[8:]),
			w: binary.LittleEndian.Uint32(e[12:]), h: binary.LittleEndian.Uint32(e[16:]),
			label: int32(binary.LittleEndian.Uint32(e[20:])), crc: binary.LittleEndian.Uint32(e[24:])}
		if r.w == 0 && r.h == 0 {
			if _, ok := info.Failed[i]; !ok {
				return fmt.Errorf("damaged: image %d is empty and not listed as failed", i)
			}
		} else {
			// Widths and heights are checked before multiplying, so the size cannot wrap.
			if r.w > maxPackSide || r.h > maxPackSide {
				return fmt.Errorf("damaged: image %d claims %dx%d pixels", i, r.w, r.h)
			}
			if r.w == 0 || r.h == 0 || (info.Encoding == PackRaw && uint64(r.size) != uint64(r.w)*uint64(r.h)*uint64(info.Channels)) {
				return fmt.Errorf("damaged: image %d has %d bytes for %dx%d pixels", i, r.size, r.w, r.h)
			}
			if r.off < packHeader || r.off > indexOff || uint64(r.size) > indexOff-r.off {
				return fmt.Errorf("damaged: image %d lies outside the records", i)
			}
			if r.label < 0 || int(r.label) >= len(info.Classes) {
				return fmt.Errorf("damaged: image %d has label %d of %d classes", i, r.label, len(info.Classes))
			}
		}
		p.recs[i] = r
	}
	p.names = d[namesOff:metaOff]
	p.nameOff = 4 * (n + 1)
	if len(p.names) < p.nameOff {
		return errors.New("damaged name table")
	}
	blob := uint32(len(p.names) - p.nameOff)
	prev := uint32(0)
	for i := 0; i <= n; i++ {
		o := binary.LittleEndian.Uint32(p.names[4*i:])
		if o < prev || o > blob {
			return errors.New("damaged name table")
		}
		prev = o
	}
	return nil
}

// Close unmaps the file. Images that Load returned become invalid.
func (p *Packed) Close() error {
	if p.data == nil {
		return nil
	}
	err := syscall.Munmap(p.data)
	p.data, p.recs = nil, nil
	return err
}

func (p *Packed) Len() int          { return len(p.recs) }
func (p *Packed) Classes() []string { return p.info.Classes }
func (p *Packed) Channels() int     { return p.info.Channels }
func (p *Packed) Info() PackInfo    { return p.info }
func (p *Packed) Path() string      { return p.path }
func (p *Packed) origName(i int) string {
	a := binary.LittleEndian.Uint32(p.names[4*i:])
	b := binary.LittleEndian.Uint32(p.names[4*i+4:])
	return string(p.names[p.nameOff+int(a) : p.nameOff+int(b)])
}

// Name is the pack and record, and the image the record was made from.
func (p *Packed) Name(i int) (name string) {
	short := fmt.Sprintf("%s[%d]", p.path, i)
	if i < 0 || i >= len(p.recs) {
		return short
	}
	// The names are read from the map: a fault (see Load) leaves the short name.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			name = short
		}
	}()
	if o := p.origName(i); o != "" {
		return fmt.Sprintf("%s (%s)", short, o)
	}
	return short
}

// Load returns image i; a raw record without copying (its pixels alias the
// mapped file), a JPEG one decoded. The checksum is verified on every load
// (about 20 us for a 256x341 image) so a damaged disk block gives a named
// error, not a silently bad sample.
func (p *Packed) Load(i int) (m Image, label int32, err error) {
	// A mapped page that cannot be read faults; this goroutine turns the fault
	// into a panic for the time of the call, and the panic into an error.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			// Not p.Name: the names may lie past the same fault.
			m, label, err = Image{}, 0, fmt.Errorf("%s[%d]: the pack cannot be read here (%v): was it truncated or changed while in use? make it again with `alexnet pack`", p.path, i, r)
		}
	}()
	if i < 0 || i >= len(p.recs) {
		return Image{}, 0, fmt.Errorf("pack %s: index %d out of range [0,%d)", p.path, i, len(p.recs))
	}
	r := p.recs[i]
	if r.w == 0 && r.h == 0 {
		return Image{}, 0, fmt.Errorf("%s: did not load when packed: %s", p.Name(i), p.info.Failed[i])
	}
	end := r.off + uint64(r.size)
	data := p.data[r.off:end:end]
	if crc32.Checksum(data, castagnoli) != r.crc {
		return Image{}, 0, fmt.Errorf("%s: damaged record (checksum mismatch); make the pack again with `alexnet pack`", p.Name(i))
	}
	if p.info.Encoding == PackRaw {
		return Image{W: int(r.w), H: int(r.h), C: p.info.Channels, Pix: data}, r.label, nil
	}
	m, err = Decode(data)
	if err == nil {
		m, err = ToChannels(m, p.info.Channels)
	}
	if err == nil && (m.W != int(r.w) || m.H != int(r.h)) {
		err = fmt.Errorf("decodes to %dx%d, the index says %dx%d", m.W, m.H, r.w, r.h)
	}
	if err != nil {
		return Image{}, 0, fmt.Errorf("%s: %w", p.Name(i), err)
	}
	return m, r.label, nil
}

// PackWriter writes a pack to a temporary file beside its destination and
// renames it into place on Commit, so an interrupted pack leaves nothing
// half-written under the final name.
type PackWriter struct {
	path, tmp string
	f         *os.File
	w         *bufio.Writer
	channels  int
	encoding  string
	quality   int
	tail      uint32 // checksum of index, names and description
	off       uint64
	recs      []packRecord
	nameOffs  []uint32
	names     []byte
	failed    map[int]string
}

// CreatePack starts a pack of channels-channel images at path, whose records
// are encoded as encoding (PackRaw, PackJPEG at quality; 0 means
// DefaultPackQuality).
func CreatePack(path string, channels int, encoding string, quality int) (*PackWriter, error) {
	if channels != 1 && channels != 3 {
		return nil, fmt.Errorf("pack: %d channels (want 1 or 3)", channels)
	}
	if encoding != PackRaw && encoding != PackJPEG {
		return nil, fmt.Errorf("pack: encoding %q (want raw or jpeg)", encoding)
	}
	if quality == 0 {
		quality = DefaultPackQuality
	}
	if quality < 1 || quality > 100 {
		return nil, fmt.Errorf("pack: JPEG quality %d (want 1 to 100)", quality)
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	w := &PackWriter{path: path, tmp: f.Name(), f: f, w: bufio.NewWriterSize(f, 1<<20), channels: channels,
		encoding: encoding, quality: quality, off: packHeader, nameOffs: []uint32{0}, failed: map[int]string{}}
	var hdr [packHeader]byte
	copy(hdr[:], packMagic)
	binary.LittleEndian.PutUint32(hdr[8:], packVersion)
	if _, err := w.w.Write(hdr[:]); err != nil {
		w.Abort()
		return nil, fmt.Errorf("pack %s: %w", path, err)
	}
	return w, nil
}

func (w *PackWriter) addName(name string) error {
	w.names = append(w.names, name...)
	if len(w.names) > math.MaxUint32 {
		return errors.New("pack: the image names exceed 4 GiB")
	}
	w.nameOffs = append(w.nameOffs, uint32(len(w.names)))
	return nil
}

// Encode turns m into a record's bytes, as the pack's encoding says; it is
// safe to call concurrently, so that encoding can run in parallel while
// AddEncoded writes in order.
func (w *PackWriter) Encode(m Image) ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	if m.C != w.channels {
		return nil, fmt.Errorf("%d channels, the pack has %d", m.C, w.channels)
	}
	if w.encoding == PackRaw {
		return m.Pix, nil
	}
	return encodeJPEG(m, w.quality)
}

// AddEncoded appends a record Encode made from a w x h image.
func (w *PackWriter) AddEncoded(data []byte, width, height int, label int32, name string) error {
	if width <= 0 || height <= 0 || width > maxPackSide || height > maxPackSide || int64(len(data)) > math.MaxUint32 {
		return fmt.Errorf("pack: %s is %dx%d in %d bytes, more than a record holds", name, width, height, len(data))
	}
	if _, err := w.w.Write(data); err != nil {
		return fmt.Errorf("pack %s: %w", w.path, err)
	}
	w.recs = append(w.recs, packRecord{off: w.off, size: uint32(len(data)), w: uint32(width), h: uint32(height),
		label: label, crc: crc32.Checksum(data, castagnoli)})
	w.off += uint64(len(data))
	return w.addName(name)
}

// AddFailed records that image name did not load, keeping its place.
func (w *PackWriter) AddFailed(name string, why error) error {
	w.failed[len(w.recs)] = why.Error()
	w.recs = append(w.recs, packRecord{})
	return w.addName(name)
}

// Commit writes the index, names and description, syncs the file and
// renames it into place. info's Count, Channels, Failed and Version are
// filled in here.
func (w *PackWriter) Commit(info PackInfo) error {
	defer w.Abort()
	info.Version, info.Count, info.Channels, info.Failed, info.Encoding = packVersion, len(w.recs), w.channels, w.failed, w.encoding
	if w.encoding == PackJPEG {
		info.Quality = w.quality
	} else {
		info.Quality = 0
	}
	if len(info.Classes) == 0 {
		return errors.New("pack: no class names")
	}
	meta, err := json.Marshal(info)
	if err != nil {
		return err
	}
	indexOff := w.off
	// The index, names and description go through a checksum on their way out.
	crc := crc32.New(castagnoli)
	out := io.MultiWriter(w.w, crc)
	buf := make([]byte, packEntry)
	for _, r := range w.recs {
		binary.LittleEndian.PutUint64(buf, r.off)
		binary.LittleEndian.PutUint32(buf[8:], r.size)
		binary.LittleEndian.PutUint32(buf[12:], r.w)
		binary.LittleEndian.PutUint32(buf[16:], r.h)
		binary.LittleEndian.PutUint32(buf[20:], uint32(r.label))
		binary.LittleEndian.PutUint32(buf[24:], r.crc)
		out.Write(buf)
	}
	namesOff := indexOff + uint64(len(w.recs))*packEntry
	for _, o := range w.nameOffs {
		out.Write(binary.LittleEndian.AppendUint32(nil, o))
	}
	out.Write(w.names)
	metaOff := namesOff + 4*uint64(len(w.nameOffs)) + uint64(len(w.names))
	out.Write(meta)
	w.tail = crc.Sum32()
	var ft [packFooter]byte
	binary.LittleEndian.PutUint64(ft[0:], indexOff)
	binary.LittleEndian.PutUint64(ft[8:], namesOff)
	binary.LittleEndian.PutUint64(ft[16:], metaOff)
	binary.LittleEndian.PutUint64(ft[24:], uint64(len(meta)))
	binary.LittleEndian.PutUint32(ft[32:], w.tail)
	copy(ft[40:], packEndMagic)
	// bufio keeps the first error and returns it from every later call.
	if _, err := w.w.Write(ft[:]); err != nil {
		return fmt.Errorf("pack %s: %w", w.path, err)
	}
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("pack %s: %w", w.path, err)
	}
	// CreateTemp makes the file private; a pack is data like any other.
	if err := w.f.Chmod(0o644); err != nil {
		return fmt.Errorf("pack %s: %w", w.path, err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("pack %s: %w", w.path, err)
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("pack %s: %w", w.path, err)
	}
	w.f = nil
	if err := os.Rename(w.tmp, w.path); err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	w.tmp = ""
	if dir, err := os.Open(filepath.Dir(w.path)); err == nil {
		dir.Sync() // the rename itself survives a crash
		dir.Close()
	}
	return nil
}

// Abort drops an uncommitted pack (its temporary file). After Commit it does nothing.
func (w *PackWriter) Abort() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	if w.tmp != "" {
		os.Remove(w.tmp)
		w.tmp = ""
	}
}

// PackOptions says how Pack stores a source.
type PackOptions struct {
	Size   int  // resize the shorter side to Size (torchvision's Resize); 0 keeps the sizes
	Square bool // then keep the central Size x Size square, as the paper and Caffe did
	// Encoding of the records: PackRaw (default) or PackJPEG at Quality
	// (0: DefaultPackQuality).
	Encoding string
	Quality  int
	Workers  int  // decoding goroutines; 0 means GOMAXPROCS
	Strict   bool // stop at an image that fails to load instead of recording it as failed
	// Progress, if set, is called after each block of images is written, with
	// the count done, from the writing goroutine (not after a write error).
	Progress func(done int)
	Info     PackInfo // Source and Created are kept; the rest is filled in
}

// PackStats sums up a Pack.
type PackStats struct {
	Images  int    // stored
	Skipped []Skip // failed to load, kept as failed records
	Bytes   int64  // size of the pack file
	Elapsed time.Duration
}

type packItem struct {
	data  []byte // the record
	w, h  int
	label int32
	err   error
}

// Pack reads every image of src in order, resizes it as opt says and writes
// the pack to path. Decoding runs on opt.Workers goroutines in blocks while
// the previous block is written.
func Pack(ctx context.Context, src Source, path string, opt PackOptions) (PackStats, error) {
	start := time.Now()
	var st PackStats
	if opt.Size < 0 || opt.Size > MaxPackSize || (opt.Square && opt.Size == 0) {
		return st, fmt.Errorf("pack: size %d (want 0 to %d; a square needs a positive size)", opt.Size, MaxPackSize)
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	n := src.Len()
	if n == 0 {
		return st, errors.New("pack: the data set is empty")
	}
	enc := opt.Encoding
	if enc == "" {
		enc = PackRaw
	}
	w, err := CreatePack(path, src.Channels(), enc, opt.Quality)
	if err != nil {
		return st, err
	}
	defer w.Abort()
	// Names are stored relative to the source folder, when they are in it.
	prefix := ""
	if opt.Info.Source != "" {
		prefix = filepath.Clean(opt.Info.Source) + string(filepath.Separator)
	}
	name := func(i int) string { return strings.TrimPrefix(src.Name(i), prefix) }
	block := max(64, 8*workers)
	// Up to three blocks in memory: one being decoded, one waiting in the
	// channel, one being written.
	blocks := make(chan []packItem, 1)
	// A write error (a full disk) stops the decoding too, not only the writing.
	outer := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var werr error
	var wg sync.WaitGroup
	done := 0
	wg.Go(func() {
		// It drains the channel even after an error, so the sender never blocks.
		for items := range blocks {
			for _, it := range items {
				i := done
				done++
				if werr != nil {
					continue
				}
				if it.err != nil {
					st.Skipped = append(st.Skipped, Skip{Index: i, Name: src.Name(i), Err: it.err})
					werr = w.AddFailed(name(i), it.err)
					continue
				}
				st.Images++
				werr = w.AddEncoded(it.data, it.w, it.h, it.label, name(i))
			}
			if werr != nil {
				cancel()
			} else if opt.Progress != nil {
				opt.Progress(done)
			}
		}
	})
	for b0 := 0; b0 < n && ctx.Err() == nil; b0 += block {
		items := make([]packItem, min(block, n-b0))
		var next atomic.Int64
		// Strict: the first failure in index order, whatever the scheduling.
		var failed atomic.Int64
		failed.Store(math.MaxInt64)
		var dg sync.WaitGroup
		for range min(workers, len(items)) {
			dg.Go(func() {
				for {
					k := int(next.Add(1) - 1)
					if k >= len(items) || ctx.Err() != nil || int64(k) > failed.Load() {
						return
					}
					items[k] = packOne(src, b0+k, opt, w)
					if items[k].err != nil && opt.Strict {
						for f := failed.Load(); int64(k) < f && !failed.CompareAndSwap(f, int64(k)); f = failed.Load() {
						}
					}
				}
			})
		}
		dg.Wait()
		if ctx.Err() != nil {
			break
		}
		if k := failed.Load(); k != math.MaxInt64 {
			close(blocks)
			wg.Wait()
			return st, fmt.Errorf("%s: %w", src.Name(b0+int(k)), items[k].err)
		}
		blocks <- items
	}
	close(blocks)
	wg.Wait()
	if werr != nil {
		return st, werr
	}
	if err := outer.Err(); err != nil {
		return st, err
	}
	if st.Images == 0 {
		return st, fmt.Errorf("pack: none of the %d images loaded (first: %v)", n, st.Skipped[0].Err)
	}
	info := opt.Info
	info.Classes, info.Size, info.Square = src.Classes(), opt.Size, opt.Square
	if err := w.Commit(info); err != nil {
		return st, err
	}
	if fi, err := os.Stat(path); err == nil {
		st.Bytes = fi.Size()
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

// packOne loads image i and resizes it. The writer keeps the result until
// its block is written; sources' images stay valid that long (they are
// fresh, or alias memory the source never changes).
func packOne(src Source, i int, opt PackOptions, w *PackWriter) packItem {
	m, label, err := src.Load(i)
	if err != nil {
		return packItem{err: err}
	}
	if opt.Size > 0 {
		w, h := ResizedSize(m.W, m.H, opt.Size)
		// A strip of an image (100000x1) passes the decoder's pixel limit but
		// would resize to gigabytes: it becomes a failed record instead.
		if int64(w)*int64(h) > MaxPixels {
			return packItem{err: fmt.Errorf("%dx%d resized to a %d shorter side is %dx%d, over %d pixels", m.W, m.H, opt.Size, w, h, MaxPixels)}
		}
		if m, err = Resize(m, w, h); err != nil {
			return packItem{err: err}
		}
		if opt.Square {
			m = cropImage(m, centerOffset(m.W, opt.Size), centerOffset(m.H, opt.Size), opt.Size, opt.Size)
		}
	}
	if m.W > maxPackSide || m.H > maxPackSide {
		return packItem{err: fmt.Errorf("%dx%d: a pack holds images up to %d pixels a side", m.W, m.H, maxPackSide)}
	}
	data, err := w.Encode(m)
	if err != nil {
		return packItem{err: err}
	}
	return packItem{data: data, w: m.W, h: m.H, label: label}
}

// cropImage copies the w x h window at (x0, y0), which must lie inside m.
func cropImage(m Image, x0, y0, w, h int) Image {
	if x0 == 0 && y0 == 0 && w == m.W && h == m.H {
		return m
	}
	out := Image{W: w, H: h, C: m.C, Pix: make([]uint8, w*h*m.C)}
	for y := 0; y < h; y++ {
		copy(out.Pix[y*w*m.C:(y+1)*w*m.C], m.Pix[((y0+y)*m.W+x0)*m.C:])
	}
	return out
}

// encodeJPEG encodes m with Go's encoder (baseline, 4:2:0 chroma for RGB).
func encodeJPEG(m Image, quality int) ([]byte, error) {
	var img image.Image
	r := image.Rect(0, 0, m.W, m.H)
	if m.C == 1 {
		img = &image.Gray{Pix: m.Pix, Stride: m.W, Rect: r}
	} else {
		rgba := image.NewRGBA(r)
		for i, j := 0, 0; i < len(m.Pix); i, j = i+3, j+4 {
			rgba.Pix[j], rgba.Pix[j+1], rgba.Pix[j+2], rgba.Pix[j+3] = m.Pix[i], m.Pix[i+1], m.Pix[i+2], 255
		}
		img = rgba
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
