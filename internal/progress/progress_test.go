package progress

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLine(t *testing.T) {
	for _, c := range []struct {
		note        string
		done, total int64
		estimated   bool
		elapsed     time.Duration
		want        string
	}{
		{"", 1_250_000, 4_000_000, false, 2500 * time.Millisecond, "replay: 1.25M/4.00M events, 500.0k events/s, ETA 5.5s"},
		{"", 1_250_000, 4_000_000, true, 2500 * time.Millisecond, "replay: 1.25M/~4.00M events, 500.0k events/s, ETA ~5.5s"},
		{"", 1_250_000, 0, false, 2500 * time.Millisecond, "replay: 1.25M events, 500.0k events/s"},
		{"", 0, 4_000_000, false, 0, "replay: 0/4.00M events"},
		{"3/40 replays", 3_000_000, 40_000_000, false, 3 * time.Second, "replay: 3/40 replays, 3.00M/40.00M events, 1.00M events/s, ETA 37s"},
		{"", 1_000_000, 250_000_000, false, 4 * time.Second, "replay: 1.00M/250.00M events, 250.0k events/s, ETA 16m36s"},
		{"", 65536, 5_000_000_000, false, time.Second, "replay: 65.5k/5.00G events, 65.5k events/s, ETA 21h12m"},
	} {
		got := Line("replay", c.note, c.done, c.total, c.estimated, c.elapsed)
		if got != c.want {
			t.Errorf("Line(%q, %d, %d, %v, %v) = %q, want %q", c.note, c.done, c.total, c.estimated, c.elapsed, got, c.want)
		}
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1.0k", 65536: "65.5k", 999_949: "999.9k", 999_950: "1.00M",
		1_048_576: "1.05M", 999_994_999: "999.99M", 999_995_000: "1.00G", 12_345_678_901: "12.35G"} {
		if got := Count(n); got != want {
			t.Errorf("Count(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0.0s", 5500 * time.Millisecond: "5.5s", 42 * time.Second: "42s",
		187 * time.Second: "3m07s", 3900 * time.Second: "1h05m", 59*time.Minute + 59*time.Second + 700*time.Millisecond: "1h00m"} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}

// fakeClock is a clock a test moves.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// A meter drawn with a fake clock: the line it writes has the events, the
// rate and the ETA of that clock; redraws wait 100ms; Done clears the line.
func TestMeterWithFakeClock(t *testing.T) {
	var out bytes.Buffer
	clock := &fakeClock{t: time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)}
	m := newMeter(&out, "replay", 4_000_000, nil, clock.now)
	clock.advance(2 * time.Second)
	m.Update(1_000_000)
	if !strings.Contains(out.String(), "replay: 1.00M/4.00M events, 500.0k events/s, ETA 6.0s") || !strings.Contains(out.String(), "25%") {
		t.Fatalf("first draw %q", out.String())
	}
	out.Reset()
	clock.advance(50 * time.Millisecond)
	m.Update(1_100_000)
	if out.Len() != 0 {
		t.Errorf("redrew after 50ms: %q", out.String())
	}
	clock.advance(1950 * time.Millisecond)
	m.Update(3_000_000)
	if !strings.Contains(out.String(), "replay: 3.00M/4.00M events, 750.0k events/s, ETA 1.3s") || !strings.Contains(out.String(), "75%") {
		t.Errorf("second draw %q", out.String())
	}
	out.Reset()
	m.Done()
	if s := out.String(); !strings.Contains(s, "\r") || strings.Contains(s, "events") {
		t.Errorf("Done wrote %q, want the line cleared", s)
	}
}

// The total estimated from the part of the input read.
func TestMeterEstimates(t *testing.T) {
	var out bytes.Buffer
	clock := &fakeClock{t: time.Unix(0, 0)}
	read := 0.25
	m := newMeter(&out, "replay", 0, func() float64 { return read }, clock.now)
	clock.advance(time.Second)
	m.Update(500_000)
	if !strings.Contains(out.String(), "replay: 500.0k/~2.00M events, 500.0k events/s, ETA ~3.0s") {
		t.Errorf("draw %q", out.String())
	}
}

// Work known or estimated to stay under Threshold events draws nothing;
// work of unknown size draws once it passes it.
func TestMeterThreshold(t *testing.T) {
	var out bytes.Buffer
	clock := &fakeClock{t: time.Unix(0, 0)}
	m := newMeter(&out, "replay", Threshold-1, nil, clock.now)
	for n := int64(0); n < Threshold; n += 1 << 16 {
		clock.advance(time.Second)
		m.Update(n)
	}
	m.Done()
	if out.Len() != 0 {
		t.Errorf("a run under the threshold wrote %q", out.String())
	}
	m = newMeter(&out, "replay", 0, nil, clock.now)
	clock.advance(time.Second)
	m.Update(Threshold - 1)
	if out.Len() != 0 {
		t.Errorf("unknown size, under the threshold, wrote %q", out.String())
	}
	clock.advance(time.Second)
	m.Update(Threshold)
	if !strings.Contains(out.String(), "replay: 1.00M events, ") {
		t.Errorf("unknown size, at the threshold, wrote %q", out.String())
	}
}

// Not a terminal: no meter, and a nil meter does nothing.
func TestSilentOnNonTerminal(t *testing.T) {
	var buf bytes.Buffer
	if m := New(&buf, "replay", 10*Threshold, nil); m != nil {
		t.Fatal("New on a bytes.Buffer made a meter")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := New(f, "replay", 10*Threshold, nil)
	if m != nil {
		t.Fatal("New on a regular file made a meter")
	}
	m.SetNote("x")
	m.SetTotal(1)
	m.Update(5 * Threshold)
	m.Done()
	if st, _ := f.Stat(); st.Size() != 0 || buf.Len() != 0 {
		t.Errorf("wrote %d bytes", st.Size())
	}
}
