// Package metrics writes the training log as JSON lines (one object per event, the
// format jq, pandas.read_json(lines=True) and the plot command read) and parses it back.
//
// A line looks like
//
//	{"kind":"epoch","time":"2024-05-01T12:00:00Z","epoch":3,"step":1200,"lr":0.01,"loss":2.31,
//	 "top1":0.512,"top5":0.771,"val_loss":2.05,"val_top1":0.55,"val_top5":0.8,
//	 "images_per_sec":1234.5,"seconds":97.2,"data_wait":1.3,"skipped":0}
//
// Accuracies are fractions in [0, 1]. Epochs count from 1 (the epoch a step line belongs
// to, or the epoch an epoch line closes); Step is the number of optimizer steps done.
// A diverged run's NaN or Inf loss is written as null and read back as NaN: the line
// stays valid JSON, and the event is not lost.
package metrics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"sync"
	"time"

	"alexnet/internal/atomicfile"
)

// Kind tells step lines (progress inside an epoch) from epoch lines (an epoch's
// averages plus validation).
type Kind string

const (
	KindStep  Kind = "step"
	KindEpoch Kind = "epoch"
)

// Record is one line of the log.
type Record struct {
	Kind  Kind
	Time  time.Time // zero: the writer fills in the current time
	Epoch int
	Step  int64
	LR    float64
	Loss  float64 // training loss: the running mean since the last line (step) or over the epoch (epoch)
	Top1  float64 // training accuracy, same window as Loss
	Top5  float64

	HasVal                    bool // the val_ fields are present (epoch lines that ran validation)
	ValLoss, ValTop1, ValTop5 float64

	ImagesPerSec float64
	Seconds      float64 // wall time of the window (step) or of the epoch including validation (epoch)
	// DataWait is how long training waited for the loader in the window, in
	// seconds (epoch lines; a large share of the training time, which is Seconds
	// less the validation, means a loader-bound run).
	// NaN when not measured: older logs, step lines.
	DataWait float64
	Skipped  int // batches skipped (undecodable images, non-finite loss) in the window
}

// Writer appends records to a log. It is safe for concurrent use.
type Writer struct {
	mu  sync.Mutex
	f   *os.File // nil when writing to a caller's io.Writer
	bw  *bufio.Writer
	now func() time.Time
	buf []byte
}

// Create opens the log at path. With resume the file is appended to (created if
// missing); otherwise it is truncated. A resumed log whose last line was cut off by a
// crash gets a newline first, so the torn line stays on its own and the reader skips it.
func Create(path string, resume bool) (*Writer, error) {
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if resume {
		flags = os.O_RDWR | os.O_CREATE | os.O_APPEND
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return nil, fmt.Errorf("metrics log: %w", err)
	}
	w := NewWriter(f)
	w.f = f
	if resume {
		if torn, err := endsTorn(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("metrics log %s: %w", path, err)
		} else if torn {
			w.bw.WriteByte('\n')
		}
	}
	return w, nil
}

// endsTorn reports whether a non-empty file's last byte is not a newline.
func endsTorn(f *os.File) (bool, error) {
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return false, err
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], fi.Size()-1); err != nil {
		return false, err
	}
	return last[0] != '\n', nil
}

// NewWriter writes records to w (which Close does not close).
func NewWriter(w io.Writer) *Writer {
	return &Writer{bw: bufio.NewWriterSize(w, 64<<10), now: time.Now}
}

// Write appends one record. Step lines are buffered; an epoch line flushes, so after
// each epoch the log on disk is complete up to that epoch.
func (w *Writer) Write(r Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if r.Time.IsZero() {
		r.Time = w.now()
	}
	w.buf = appendRecord(w.buf[:0], &r)
	if _, err := w.bw.Write(w.buf); err != nil {
		return fmt.Errorf("metrics log: %w", err)
	}
	if r.Kind == KindEpoch {
		return w.flushLocked()
	}
	return nil
}

// Flush writes buffered lines out.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *Writer) flushLocked() error {
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("metrics log: %w", err)
	}
	return nil
}

// Close flushes and closes the file opened by Create.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.flushLocked()
	if w.f != nil {
		if cerr := w.f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("metrics log: %w", cerr)
		}
		w.f = nil
	}
	return err
}

// appendRecord formats by hand, not with encoding/json: json refuses NaN, and a fixed
// field order makes the log easy to read with eyes and grep.
func appendRecord(b []byte, r *Record) []byte {
	kind := r.Kind
	if kind == "" {
		kind = KindStep
	}
	b = append(b, `{"kind":`...)
	b = strconv.AppendQuote(b, string(kind))
	b = append(b, `,"time":"`...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","epoch":`...)
	b = strconv.AppendInt(b, int64(r.Epoch), 10)
	b = append(b, `,"step":`...)
	b = strconv.AppendInt(b, r.Step, 10)
	num := func(name string, v float64) {
		b = append(b, ',', '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b = append(b, "null"...)
		} else {
			b = strconv.AppendFloat(b, v, 'g', -1, 64)
		}
	}
	num("lr", r.LR)
	num("loss", r.Loss)
	num("top1", r.Top1)
	num("top5", r.Top5)
	if r.HasVal {
		num("val_loss", r.ValLoss)
		num("val_top1", r.ValTop1)
		num("val_top5", r.ValTop5)
	}
	num("images_per_sec", r.ImagesPerSec)
	num("seconds", r.Seconds)
	if r.Kind == KindEpoch {
		num("data_wait", r.DataWait)
	}
	b = append(b, `,"skipped":`...)
	b = strconv.AppendInt(b, int64(r.Skipped), 10)
	return append(b, '}', '\n')
}

// line is the parsing form. Numbers stay raw so that a missing field (not measured),
// null (written for NaN/Inf) and a value can be told apart.
type line struct {
	Kind         Kind            `json:"kind"`
	Time         time.Time       `json:"time"`
	Epoch        *int            `json:"epoch"`
	Step         *int64          `json:"step"`
	LR           json.RawMessage `json:"lr"`
	Loss         json.RawMessage `json:"loss"`
	Top1         json.RawMessage `json:"top1"`
	Top5         json.RawMessage `json:"top5"`
	ValLoss      json.RawMessage `json:"val_loss"`
	ValTop1      json.RawMessage `json:"val_top1"`
	ValTop5      json.RawMessage `json:"val_top5"`
	ImagesPerSec json.RawMessage `json:"images_per_sec"`
	Seconds      json.RawMessage `json:"seconds"`
	DataWait     json.RawMessage `json:"data_wait"`
	Skipped      int             `json:"skipped"`
}

// number parses a raw field: missing or null is NaN (a gap in a plot).
func number(raw json.RawMessage, ok *bool) float64 {
	if len(raw) == 0 || string(raw) == "null" {
		return math.NaN()
	}
	v, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		*ok = false
	}
	return v
}

// Read parses a log. Lines that are not records (a line torn by a crash, stray text)
// are skipped and counted in bad; err is only for I/O errors. When a resumed run
// repeats steps that were logged after its checkpoint, the later lines replace the
// earlier ones, so the records come out in step order without duplicates.
func Read(r io.Reader) (recs []Record, bad int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var l line
		if json.Unmarshal(text, &l) != nil || (l.Kind != KindStep && l.Kind != KindEpoch) || l.Epoch == nil || l.Step == nil {
			bad++
			continue
		}
		ok := true
		rec := Record{
			Kind: l.Kind, Time: l.Time, Epoch: *l.Epoch, Step: *l.Step,
			LR: number(l.LR, &ok), Loss: number(l.Loss, &ok), Top1: number(l.Top1, &ok), Top5: number(l.Top5, &ok),
			ImagesPerSec: number(l.ImagesPerSec, &ok), Seconds: number(l.Seconds, &ok), DataWait: number(l.DataWait, &ok),
			Skipped: l.Skipped,
		}
		if len(l.ValLoss) > 0 || len(l.ValTop1) > 0 || len(l.ValTop5) > 0 {
			rec.HasVal = true
			rec.ValLoss, rec.ValTop1, rec.ValTop5 = number(l.ValLoss, &ok), number(l.ValTop1, &ok), number(l.ValTop5, &ok)
		}
		if !ok {
			bad++
			continue
		}
		// Drop what this line supersedes: anything logged later in the old run's timeline.
		for len(recs) > 0 {
			last := recs[len(recs)-1]
			if last.Step > rec.Step || (last.Step == rec.Step && last.Kind == rec.Kind) ||
				(last.Kind == KindEpoch && rec.Kind == KindEpoch && last.Epoch >= rec.Epoch) {
				recs = recs[:len(recs)-1]
				continue
			}
			break
		}
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		return recs, bad, fmt.Errorf("metrics log: %w", err)
	}
	return recs, bad, nil
}

// ReadFile parses the log at path.
func ReadFile(path string) ([]Record, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("metrics log: %w", err)
	}
	defer f.Close()
	recs, bad, err := Read(f)
	if err != nil {
		return recs, bad, fmt.Errorf("%s: %w", path, err)
	}
	return recs, bad, nil
}

// TruncateAfter drops the lines of the log at path whose step is past step, and
// torn lines: what a run killed after its last checkpoint wrote and its resume will
// write again. Without it, the resumed run's lines would follow the dead run's with
// the same steps, and the curves would double back. A missing log is no error.
func TruncateAfter(path string, step int64) (dropped int, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("metrics log: %w", err)
	}
	var kept bytes.Buffer
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		text := bytes.TrimSpace(line)
		if len(text) == 0 {
			continue
		}
		var l struct {
			Step *int64 `json:"step"`
		}
		if json.Unmarshal(text, &l) != nil || l.Step == nil || *l.Step > step {
			dropped++
			continue
		}
		kept.Write(text)
		kept.WriteByte('\n')
	}
	if dropped == 0 {
		return 0, nil
	}
	return dropped, atomicfile.WriteFile(path, kept.Bytes(), 0o644)
}
