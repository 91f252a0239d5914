package progress

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// clock is a fake time source the tests advance by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func lines(b *bytes.Buffer) []string {
	s := strings.TrimSpace(b.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func newTest(total int, label string, opt Options) (*Reporter, *bytes.Buffer, *clock) {
	var buf bytes.Buffer
	r := New(&buf, total, label, opt)
	c := &clock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	r.now = c.now
	return r, &buf, c
}

func TestPlainLineFormat(t *testing.T) {
	r, buf, c := newTest(1875, "epoch 3/10", Options{})
	if r.opt.Mode != Lines {
		t.Fatalf("a bytes.Buffer got mode %v, want Lines", r.opt.Mode)
	}
	r.Update(0, Stats{Loss: 6.9, Top1: 0, ImagesPerSec: 0})
	for i := 1; i <= 1200; i++ {
		c.advance(25 * time.Millisecond) // 1200 steps in 30 s
		r.Update(i, Stats{Loss: 0.41234, Top1: 0.8523, ImagesPerSec: 1234.4})
	}
	got := lines(buf)
	// 675 steps left at 40 steps/s = 16.875 s.
	want := []string{"epoch 3/10  step 1200/1875  loss 0.4123  top1 85.2%  1234 img/s  eta 17s"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%q\nwant\n%q", got, want)
	}
}

// Quiet: at most one line per Interval, however many updates.
func TestInterval(t *testing.T) {
	r, buf, c := newTest(100000, "train", Options{Interval: 10 * time.Second})
	for i := 0; i < 6000; i++ {
		r.Update(i, Stats{Loss: 1, Top1: 0.5, ImagesPerSec: 100})
		c.advance(10 * time.Millisecond)
	}
	// The first Update starts the clock; the last comes 59.99 s later: lines at 10..50 s.
	if n := len(lines(buf)); n != 5 {
		t.Errorf("%d lines in 60 s at a 10 s interval, want 5:\n%s", n, buf)
	}
	r.Finish()
	if n := len(lines(buf)); n != 5 {
		t.Errorf("Finish wrote in plain mode: %d lines", n)
	}
	c.advance(time.Minute)
	r.Update(99999, Stats{})
	if n := len(lines(buf)); n != 5 {
		t.Error("Update after Finish wrote")
	}
}

func TestEvery(t *testing.T) {
	r, buf, _ := newTest(100, "eval", Options{Every: 0.25, Unit: "batch"})
	for i := 0; i <= 100; i++ {
		r.Update(i, Stats{Loss: Absent, Top1: 0.5, ImagesPerSec: Absent})
	}
	got := lines(buf)
	// 25%, 50%, 75%; the last batch is left to the caller's summary. No time passes, so
	// there is no ETA.
	want := []string{
		"eval  batch 25/100  top1 50.0%",
		"eval  batch 50/100  top1 50.0%",
		"eval  batch 75/100  top1 50.0%",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%q\nwant\n%q", got, want)
	}
}

func TestNaNAndUnknownTotal(t *testing.T) {
	r, buf, c := newTest(0, "", Options{Interval: time.Second})
	r.Update(1, Stats{Loss: math.NaN(), Top1: Absent, ImagesPerSec: 50})
	c.advance(2 * time.Second)
	r.Update(7, Stats{Loss: math.NaN(), Top1: Absent, ImagesPerSec: 50})
	got := lines(buf)
	if len(got) != 1 || got[0] != "step 7  loss NaN  50 img/s" {
		t.Errorf("lines %q", got)
	}
}

func TestOff(t *testing.T) {
	r, buf, c := newTest(10, "x", Options{Mode: Off, Interval: time.Nanosecond})
	for i := 0; i < 10; i++ {
		c.advance(time.Second)
		r.Update(i, Stats{})
	}
	r.Finish()
	if buf.Len() != 0 {
		t.Errorf("mode Off wrote %q", buf)
	}
}

// A regular file is not a terminal: Auto picks plain lines.
func TestFileIsNotTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if r := New(f, 10, "x", Options{}); r.opt.Mode != Lines || r.bar != nil {
		t.Errorf("a file got mode %v", r.opt.Mode)
	}
}

// The bar path, forced onto a buffer: it must draw the label and stats and end with a
// newline on Finish (the bar itself is the library's; this checks our wiring).
func TestBarWiring(t *testing.T) {
	r, buf, c := newTest(10, "epoch 1/2", Options{Mode: Bar})
	for i := 1; i <= 10; i++ {
		c.advance(time.Second)
		r.Update(i, Stats{Loss: 0.5, Top1: 0.25, ImagesPerSec: 99})
	}
	r.Finish()
	r.Finish()
	out := buf.String()
	for _, part := range []string{"epoch 1/2", "loss 0.5000", "top1 25.0%", "99 img/s", "10/10"} {
		if !strings.Contains(out, part) {
			t.Errorf("bar output lacks %q: %q", part, out)
		}
	}
	if !strings.HasSuffix(out, "\n") {
		t.Errorf("bar output does not end with a newline: %q", out)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 44600 * time.Millisecond: "45s", 80 * time.Second: "1m20s",
		2*time.Hour + 3*time.Minute + 59*time.Second: "2h03m", 100 * time.Hour: "100h00m",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
