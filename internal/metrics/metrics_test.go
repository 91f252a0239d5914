package metrics

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func records() []Record {
	return []Record{
		{Kind: KindStep, Time: t0, Epoch: 1, Step: 50, LR: 0.01, Loss: 6.9, Top1: 0.001, Top5: 0.005, ImagesPerSec: 1234.5, Seconds: 5.2, DataWait: math.NaN()},
		{Kind: KindStep, Time: t0.Add(time.Second), Epoch: 1, Step: 100, LR: 0.01, Loss: 6.5, Top1: 0.01, Top5: 0.04, ImagesPerSec: 1300, Seconds: 4.9, DataWait: math.NaN(), Skipped: 2},
		{Kind: KindEpoch, Time: t0.Add(2 * time.Second), Epoch: 1, Step: 100, LR: 0.01, Loss: 6.7, Top1: 0.005, Top5: 0.02,
			HasVal: true, ValLoss: 6.4, ValTop1: 0.02, ValTop5: 0.07, ImagesPerSec: 1250, Seconds: 11.3, DataWait: 1.5, Skipped: 2},
		{Kind: KindStep, Time: t0.Add(3 * time.Second), Epoch: 2, Step: 150, LR: 0.01, Loss: math.NaN(), Top1: 0, Top5: 0, ImagesPerSec: 1200, Seconds: 5, DataWait: math.NaN()},
		{Kind: KindEpoch, Time: t0.Add(4 * time.Second), Epoch: 2, Step: 200, LR: 0.001, Loss: math.Inf(1), Top1: 0.2, Top5: 0.4, ImagesPerSec: 1250, Seconds: 10, DataWait: 0},
	}
}

// Non-finite values come back as NaN (written as null), so compare with NaN == NaN.
var opts = cmp.Options{cmpopts.EquateNaNs(), cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })}

func want() []Record {
	w := records()
	w[4].Loss = math.NaN() // +Inf is written as null
	return w
}

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, r := range records() {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5:\n%s", len(lines), buf.String())
	}
	// Every line is standard JSON (no NaN literal) with the documented field names.
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i+1, err, l)
		}
		for _, k := range []string{"kind", "time", "epoch", "step", "lr", "loss", "top1", "top5", "images_per_sec", "seconds", "skipped"} {
			if _, ok := m[k]; !ok {
				t.Errorf("line %d has no %q: %s", i+1, k, l)
			}
		}
		if _, ok := m["val_top1"]; ok != (i == 2) {
			t.Errorf("line %d: val_top1 present %v", i+1, ok)
		}
	}
	if !strings.Contains(lines[3], `"loss":null`) {
		t.Errorf("NaN loss not written as null: %s", lines[3])
	}
	got, bad, err := Read(&buf)
	if err != nil || bad != 0 {
		t.Fatalf("Read: %d bad lines, %v", bad, err)
	}
	if diff := cmp.Diff(want(), got, opts); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestTimeFilledIn(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.now = func() time.Time { return t0 }
	w.Write(Record{Kind: KindEpoch, Epoch: 1, Step: 1})
	got, _, _ := Read(&buf)
	if len(got) != 1 || !got[0].Time.Equal(t0) {
		t.Errorf("got %+v, want time %v", got, t0)
	}
}

// Step lines stay in the buffer; an epoch line reaches the file at once.
func TestEpochLineFlushes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	w, err := Create(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rs := records()
	w.Write(rs[0])
	if b, _ := os.ReadFile(path); len(b) != 0 {
		t.Errorf("a step line was written through: %q", b)
	}
	w.Write(rs[1])
	w.Write(rs[2])
	got, _, err := ReadFile(path)
	if err != nil || len(got) != 3 {
		t.Fatalf("after an epoch line the file holds %d records (%v), want 3", len(got), err)
	}
}

func TestResumeAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	rs := records()
	w, _ := Create(path, false)
	for _, r := range rs[:3] {
		w.Write(r)
	}
	// The old run got further than its checkpoint (epoch 1) before crashing: a step line
	// of epoch 2, then a line torn mid-write.
	w.Write(Record{Kind: KindStep, Time: t0, Epoch: 2, Step: 180, LR: 0.01, Loss: 9})
	w.Close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"kind":"step","time":"2024-05-01T12:00:0`)
	f.Close()

	// The resumed run appends epoch 2 again, from step 100.
	w, err := Create(path, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs[3:] {
		w.Write(r)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, bad, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bad != 1 {
		t.Errorf("%d bad lines, want 1 (the torn one)", bad)
	}
	if diff := cmp.Diff(want(), got, opts); diff != "" {
		t.Errorf("after resume (-want +got):\n%s", diff)
	}

	// A fresh (non-resume) Create starts over.
	w, _ = Create(path, false)
	w.Write(rs[0])
	w.Close()
	if got, _, _ := ReadFile(path); len(got) != 1 {
		t.Errorf("truncating Create left %d records", len(got))
	}
}

func TestReadSkipsJunk(t *testing.T) {
	in := strings.Join([]string{
		`{"kind":"step","epoch":1,"step":1,"loss":2}`,
		`not json`,
		`{"kind":"other","epoch":1,"step":2}`,
		`{"kind":"step","step":3}`,
		`{"kind":"step","epoch":1,"step":4,"loss":"high"}`,
		``,
		`{"kind":"epoch","epoch":1,"step":5,"val_top1":null}`,
	}, "\n")
	got, bad, err := Read(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if bad != 4 || len(got) != 2 {
		t.Fatalf("%d records, %d bad; want 2 and 4", len(got), bad)
	}
	if got[0].Loss != 2 || !math.IsNaN(got[0].Top1) {
		t.Errorf("first record %+v: want loss 2, missing top1 as NaN", got[0])
	}
	if !got[1].HasVal || !math.IsNaN(got[1].ValTop1) {
		t.Errorf("val_top1 null: %+v", got[1])
	}
}

func TestCreateError(t *testing.T) {
	_, err := Create(filepath.Join(t.TempDir(), "no", "such", "dir", "m.jsonl"), true)
	if err == nil || !strings.Contains(err.Error(), "metrics log") {
		t.Errorf("error %v", err)
	}
	if _, _, err := ReadFile(filepath.Join(t.TempDir(), "missing.jsonl")); err == nil {
		t.Error("ReadFile of a missing file succeeded")
	}
}

// Lines past a checkpoint's step, and torn ones, are dropped; the rest stay as
// they were.
func TestTruncateAfter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	os.WriteFile(path, []byte(`{"kind":"step","epoch":1,"step":100,"loss":2}
{"kind":"epoch","epoch":1,"step":150,"loss":1.9}
{"kind":"step","epoch":2,"step":200,"loss":1.5}
{"kind":"step","epoch":2,"step":25`), 0o644)
	n, err := TruncateAfter(path, 150)
	got, _ := os.ReadFile(path)
	want := `{"kind":"step","epoch":1,"step":100,"loss":2}
{"kind":"epoch","epoch":1,"step":150,"loss":1.9}
`
	if err != nil || n != 2 || string(got) != want {
		t.Errorf("dropped %d (%v):\n%s", n, err, got)
	}
	if n, err := TruncateAfter(filepath.Join(t.TempDir(), "none.jsonl"), 1); n != 0 || err != nil {
		t.Errorf("missing log: %d, %v", n, err)
	}
}
