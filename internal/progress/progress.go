// Package progress reports the progress of a long loop (an epoch, an evaluation pass).
// On a terminal it draws a progress bar whose description carries the loss, accuracy,
// throughput and ETA; otherwise (a log file, CI, nohup) it writes a plain line now and
// then, such as
//
//	epoch 3/10  step 1200/1875  loss 0.4123  top1 85.2%  1234 img/s  eta 1m20s
//
// and stays quiet between them, so a log of a long run remains readable.
package progress

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Absent marks a Stats field that has nothing to show (a bench run has no loss).
// Losses, accuracies and rates are never negative, so -1 cannot be mistaken for data.
const Absent = -1

// Stats is what the description shows. A NaN loss is shown as "nan": a diverging run
// should be visible at once.
type Stats struct {
	Loss         float64 // running mean loss
	Top1         float64 // running top-1 accuracy, a fraction in [0, 1]
	ImagesPerSec float64
}

// Mode chooses how progress is shown.
type Mode int

const (
	Auto  Mode = iota // a bar on a terminal, plain lines otherwise
	Bar               // always a bar
	Lines             // always plain lines
	Off               // nothing
)

// Options tunes the reporter; the zero value is the usual choice.
type Options struct {
	Mode     Mode
	Unit     string        // what is counted (default "step")
	Interval time.Duration // plain lines: at most one per Interval (default 30s)
	Every    float64       // plain lines: also one each time this fraction of total is passed (0: off)
}

// Reporter shows the progress of one loop. It is safe for concurrent use.
type Reporter struct {
	mu    sync.Mutex
	w     io.Writer
	total int
	label string
	opt   Options
	bar   *progressbar.ProgressBar
	now   func() time.Time

	start     time.Time // time of the first Update, and its count: the ETA ignores warm-up before it
	startDone int
	started   bool
	lastLine  time.Time
	lastMark  int // plain lines: index of the last Every fraction reported
	lastDesc  time.Time
	finished  bool
}

// New starts a reporter for a loop of total units (0 when unknown) writing to w.
// label leads each line, for example "epoch 3/10".
func New(w io.Writer, total int, label string, opt Options) *Reporter {
	if opt.Unit == "" {
		opt.Unit = "step"
	}
	if opt.Interval <= 0 {
		opt.Interval = 30 * time.Second
	}
	if opt.Mode == Auto {
		opt.Mode = Lines
		if isTerminal(w) {
			opt.Mode = Bar
		}
	}
	r := &Reporter{w: w, total: total, label: label, opt: opt, now: time.Now}
	if opt.Mode == Bar {
		max := int64(total)
		if total <= 0 {
			max = -1 // a spinner
		}
		r.bar = progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(label),
			progressbar.OptionSetWidth(25),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(false), // our ETA is in the description
			progressbar.OptionSetElapsedTime(false),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		)
	}
	return r
}

// isTerminal reports whether w is a terminal (a TTY, not a file or pipe). TERM=dumb
// (Emacs shells, some CI) cannot redraw a line, so it gets plain lines.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}

// Update reports that done units are complete.
func (r *Reporter) Update(done int, s Stats) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished || r.opt.Mode == Off {
		return
	}
	now := r.now()
	if !r.started {
		r.start, r.startDone, r.lastLine, r.started = now, done, now, true
	}
	switch r.opt.Mode {
	case Bar:
		// The description is rebuilt a few times a second at most: the bar itself
		// throttles drawing, but formatting on every step of a fast loop is waste.
		if now.Sub(r.lastDesc) >= 250*time.Millisecond || (r.total > 0 && done >= r.total) {
			r.bar.Describe(r.describe(done, s, now, false))
			r.lastDesc = now
		}
		if r.total > 0 {
			r.bar.Set(min(done, r.total))
		} else {
			r.bar.Set(done)
		}
	case Lines:
		due := now.Sub(r.lastLine) >= r.opt.Interval
		if r.opt.Every > 0 && r.total > 0 {
			mark := int(float64(done) / (r.opt.Every * float64(r.total)))
			if mark > r.lastMark {
				due = true
				r.lastMark = mark
			}
		}
		// The last unit is not announced: the caller's end-of-loop summary follows.
		if due && (r.total <= 0 || done < r.total) {
			fmt.Fprintln(r.w, r.describe(done, s, now, true))
			r.lastLine = now
		}
	}
}

// Finish ends the bar (leaving it on screen, with a newline). Plain mode writes
// nothing: the caller prints its own summary. Calling it again does nothing.
func (r *Reporter) Finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return
	}
	r.finished = true
	if r.bar != nil && !r.bar.IsFinished() {
		r.bar.Finish()
	}
}

// describe formats label, count, stats and ETA. The count is only in plain lines; the
// bar shows its own.
func (r *Reporter) describe(done int, s Stats, now time.Time, withCount bool) string {
	var b strings.Builder
	b.WriteString(r.label)
	if withCount {
		if b.Len() > 0 {
			b.WriteString("  ")
		}
		if r.total > 0 {
			fmt.Fprintf(&b, "%s %d/%d", r.opt.Unit, done, r.total)
		} else {
			fmt.Fprintf(&b, "%s %d", r.opt.Unit, done)
		}
	}
	add := func(format string, args ...any) {
		if b.Len() > 0 {
			b.WriteString("  ")
		}
		fmt.Fprintf(&b, format, args...)
	}
	if s.Loss != Absent {
		if math.IsNaN(s.Loss) || math.IsInf(s.Loss, 0) {
			add("loss %v", s.Loss)
		} else {
			add("loss %.4f", s.Loss)
		}
	}
	if s.Top1 != Absent {
		add("top1 %.1f%%", 100*s.Top1)
	}
	if s.ImagesPerSec != Absent {
		add("%.0f img/s", s.ImagesPerSec)
	}
	if eta, ok := r.eta(done, now); ok {
		add("eta %s", formatDuration(eta))
	}
	return b.String()
}

// eta extrapolates the rate since the first Update (which excludes start-up costs such
// as cuDNN's algorithm search) to the units left.
func (r *Reporter) eta(done int, now time.Time) (time.Duration, bool) {
	elapsed := now.Sub(r.start)
	did := done - r.startDone
	if r.total <= 0 || did <= 0 || elapsed <= 0 || done >= r.total {
		return 0, false
	}
	left := float64(r.total-done) * float64(elapsed) / float64(did)
	return time.Duration(left), true
}

// formatDuration is compact and stable in width: 45s, 1m20s, 2h03m.
func formatDuration(d time.Duration) string {
	s := int64(math.Round(d.Seconds()))
	switch {
	case s >= 3600:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	case s >= 60:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%ds", s)
}
