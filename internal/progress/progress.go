// Package progress shows how far long work has got: one line on a terminal
// (events done, rate, ETA, a bar), redrawn in place and cleared at the end;
// nothing at all when the output is not a terminal, so logs and pipes stay
// clean.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Threshold is the smallest amount of work, in events, that shows
// progress: shorter runs end before a progress line would help.
const Threshold = 1_000_000

// redraw is the least time between two redraws.
const redraw = 100 * time.Millisecond

// barSteps is the resolution of the bar.
const barSteps = 1000

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Meter shows the progress of one piece of work on a terminal. A nil
// *Meter does nothing: New returns nil for anything but a terminal.
type Meter struct {
	w         io.Writer
	label     string
	total     int64          // events expected; 0: unknown
	fraction  func() float64 // the part of the input read (0..1) when total is unknown; may be nil
	threshold int64
	now       func() time.Time
	start     time.Time

	note     string
	bar      *progressbar.ProgressBar
	lastDraw time.Time
}

// New returns a Meter drawing on w when w is a terminal, else nil. total
// is the number of events the work will do (0: unknown); fraction, when
// total is unknown, says how much of the input has been read (a file's
// bytes), from which the total is estimated. Nothing is drawn until the
// work is known or estimated to reach Threshold events.
func New(w io.Writer, label string, total int64, fraction func() float64) *Meter {
	if !IsTerminal(w) {
		return nil
	}
	return newMeter(w, label, total, fraction, time.Now)
}

// NewAny is New on any writer, terminal or not (tests of callers).
func NewAny(w io.Writer, label string, total int64, fraction func() float64) *Meter {
	return newMeter(w, label, total, fraction, time.Now)
}

// newMeter makes a Meter on any writer with a clock (tests).
func newMeter(w io.Writer, label string, total int64, fraction func() float64, now func() time.Time) *Meter {
	return &Meter{w: w, label: label, total: total, fraction: fraction, threshold: Threshold, now: now, start: now()}
}

// SetTotal changes the number of events expected (work that grows).
func (m *Meter) SetTotal(total int64) {
	if m != nil {
		m.total = total
	}
}

// SetThreshold changes the least work, in events, that shows progress
// (default Threshold).
func (m *Meter) SetThreshold(n int64) {
	if m != nil {
		m.threshold = n
	}
}

// Threshold returns the least work, in events, that shows progress.
func (m *Meter) Threshold() int64 {
	if m == nil {
		return Threshold
	}
	return m.threshold
}

// SetNote sets a text shown after the label ("3/40 replays").
func (m *Meter) SetNote(note string) {
	if m != nil {
		m.note = note
	}
}

// Update reports that done events are done. It redraws at most every
// 100ms.
func (m *Meter) Update(done int64) {
	if m == nil {
		return
	}
	now := m.now()
	total, estimated := m.estimate(done)
	if m.bar == nil && max(total, done) < m.threshold {
		return
	}
	if m.bar != nil && now.Sub(m.lastDraw) < redraw {
		return
	}
	m.lastDraw = now
	line := Line(m.label, m.note, done, total, estimated, now.Sub(m.start))
	step := int64(0)
	if total > 0 {
		step = min(barSteps, done*barSteps/total)
	}
	if m.bar == nil {
		m.bar = progressbar.NewOptions64(barSteps, progressbar.OptionSetWriter(m.w), progressbar.OptionSetWidth(20),
			progressbar.OptionSetPredictTime(false), progressbar.OptionSetElapsedTime(false),
			progressbar.OptionSetDescription(line), progressbar.OptionClearOnFinish())
	}
	_ = m.bar.Set64(step) // draws when step changed, with the last line
	m.bar.Describe(line)  // draws the new line, even when step is 0
}

// Done clears the line, if one was drawn.
func (m *Meter) Done() {
	if m != nil && m.bar != nil {
		_ = m.bar.Finish()
		m.bar = nil
	}
}

// estimate returns the total events expected and whether it is an
// estimate (from the part of the input read); 0 when unknown.
func (m *Meter) estimate(done int64) (int64, bool) {
	if m.total > 0 {
		return max(m.total, done), false
	}
	if m.fraction == nil {
		return 0, false
	}
	f := m.fraction()
	if f < 0.001 || done == 0 {
		return 0, false
	}
	return max(int64(float64(done)/min(f, 1)), done), true
}

// Line is the text of a progress line: label, note, events done of total
// (0: unknown; estimated: "~"), the rate and the time left at that rate,
// e.g. "replay: 1.25M/4.00M events, 500k events/s, ETA 5.5s".
func Line(label, note string, done, total int64, estimated bool, elapsed time.Duration) string {
	var b strings.Builder
	b.WriteString(label)
	b.WriteString(": ")
	if note != "" {
		b.WriteString(note)
		b.WriteString(", ")
	}
	approx := ""
	if estimated {
		approx = "~"
	}
	b.WriteString(Count(done))
	if total > 0 {
		b.WriteString("/" + approx + Count(total))
	}
	b.WriteString(" events")
	if elapsed <= 0 || done <= 0 {
		return b.String()
	}
	rate := float64(done) / elapsed.Seconds()
	fmt.Fprintf(&b, ", %s events/s", Count(int64(rate)))
	if total > 0 {
		left := time.Duration(float64(total-done) / rate * float64(time.Second))
		b.WriteString(", ETA " + approx + Duration(left))
	}
	return b.String()
}

// Count writes an event count short: 950, 12.3k, 1.25M, 2.00G.
func Count(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprint(n)
	case n < 999_950: // 999.9k, not 1000.0k
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	case n < 999_995_000:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2fG", float64(n)/1e9)
}

// Duration writes a time left short: 5.5s, 42s, 3m07s, 1h05m.
func Duration(d time.Duration) string {
	if d >= 10*time.Second {
		d = d.Round(time.Second)
	}
	if d >= time.Hour {
		d = d.Round(time.Minute)
	}
	switch {
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	}
	return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
}
