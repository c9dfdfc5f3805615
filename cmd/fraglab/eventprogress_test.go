package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	meter "github.com/fraglab/fraglab/internal/progress"
	"github.com/fraglab/fraglab/internal/synth"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/trace"
)

// fraglabStderr runs the CLI in-process with stderr going to stderr.
func fraglabStderr(t *testing.T, stderr io.Writer, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(stderr)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// longTrace writes a JSONL trace of a little more than one progress
// interval of events.
func longTrace(t *testing.T) (string, int) {
	t.Helper()
	events := synth.Mixed(5, replay.ProgressEvery+4000, 200)
	path := filepath.Join(t.TempDir(), "long.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	w := trace.NewJSONLWriter(bw)
	tags := trace.NewTags()
	for _, e := range events {
		if err := w.Write(e, tags); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, len(events)
}

// meterCall is what newMeter was asked for.
type meterCall struct {
	label string
	total int64
	read  bool
}

// drawAlways makes newMeter draw on any writer from the first event, and
// records its calls.
func drawAlways(t *testing.T) *[]meterCall {
	t.Helper()
	var calls []meterCall
	old := newMeter
	newMeter = func(w io.Writer, label string, total int64, read func() float64) *meter.Meter {
		calls = append(calls, meterCall{label, total, read != nil})
		m := meter.NewAny(w, label, total, read)
		m.SetThreshold(0)
		return m
	}
	t.Cleanup(func() { newMeter = old })
	return &calls
}

// stderr not a terminal (a buffer, a file): no progress line, the same
// results.
func TestProgressSilentWhenNotTerminal(t *testing.T) {
	path, _ := longTrace(t)
	var buf bytes.Buffer
	out, err := fraglabStderr(t, &buf, "replay", "--trace", path, "--policy", "pytorch", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Errorf("replay wrote to a non-terminal stderr: %q", buf.String())
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out2, err := fraglabStderr(t, f, "replay", "--trace", path, "--policy", "pytorch", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := f.Stat(); st.Size() != 0 {
		b, _ := os.ReadFile(f.Name())
		t.Errorf("replay wrote to a file stderr: %q", b)
	}
	// The same metrics (ns_per_event, a timing, aside).
	same := func(s string) string { return s[:max(0, strings.Index(s, `"ns_per_event"`))] }
	if !strings.Contains(out, `"events":`) || same(out) == "" || same(out) != same(out2) {
		t.Errorf("outputs %q and %q", out, out2)
	}
}

// On a terminal (here: a writer newMeter is told to draw on), replay shows
// events, the estimated total, rate and ETA, and clears the line; stdout
// gets none of it.
func TestReplayProgressLine(t *testing.T) {
	calls := drawAlways(t)
	path, n := longTrace(t)
	var stderr bytes.Buffer
	out, err := fraglabStderr(t, &stderr, "replay", "--trace", path, "--policy", "pytorch", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if len(*calls) != 1 || (*calls)[0] != (meterCall{"replay", 0, true}) {
		t.Errorf("newMeter calls %+v, want one for replay, total unknown, with the part of the file read", *calls)
	}
	s := stderr.String()
	for _, want := range []string{"replay: 65.5k/~", " events, ", " events/s, ETA ~", "\r"} {
		if !strings.Contains(s, want) {
			t.Errorf("stderr lacks %q: %q", want, s)
		}
	}
	if strings.Contains(out, "events/s") || !strings.Contains(out, `"events":`+strconv.Itoa(n)) {
		t.Errorf("stdout %q", out)
	}
}

// A snapshot's replay and fidelity know their events.
func TestSnapshotProgressTotals(t *testing.T) {
	const snap = "../../tune/testdata/expandable-wins.pickle"
	in, err := openInput(snap, -1, "")
	if err != nil {
		t.Fatal(err)
	}
	events := int64(len(in.Snapshot.Events))
	calls := drawAlways(t)
	if _, err := fraglabStderr(t, io.Discard, "replay", "--trace", snap, "--policy", "pytorch"); err != nil {
		t.Fatal(err)
	}
	fraglabStderr(t, io.Discard, "fidelity", snap) // its verdict does not matter here
	want := []meterCall{{"replay", events, false}, {"fidelity", events, false}}
	if len(*calls) != 2 || (*calls)[0] != want[0] || (*calls)[1] != want[1] {
		t.Errorf("newMeter calls %+v, want %+v", *calls, want)
	}
}

// tune's meter: nil off a terminal and for short traces; else the events
// of one replay, counted from the file.
func TestTuneMeter(t *testing.T) {
	path, n := longTrace(t)
	in, err := openInput(path, -1, "")
	if err != nil {
		t.Fatal(err)
	}
	in.Close()
	if m, _ := tuneMeter(&bytes.Buffer{}, path, in); m != nil {
		t.Error("a meter off a terminal")
	}
	old := newMeter
	newMeter = func(w io.Writer, label string, total int64, read func() float64) *meter.Meter {
		return meter.NewAny(w, label, total, read) // threshold 1M: this trace is shorter
	}
	if m, _ := tuneMeter(&bytes.Buffer{}, path, in); m != nil {
		t.Error("a meter for a short trace")
	}
	newMeter = old
	drawAlways(t)
	var buf bytes.Buffer
	m, perRun := tuneMeter(&buf, path, in)
	if m == nil || perRun != int64(n) {
		t.Fatalf("tuneMeter: %v, %d events per replay, want %d", m, perRun, n)
	}
}

// tune's line on a terminal: replays done of those planned, and their
// events.
func TestTuneProgressLine(t *testing.T) {
	const snap = "../../tune/testdata/expandable-wins.pickle"
	in, err := openInput(snap, -1, "")
	if err != nil {
		t.Fatal(err)
	}
	events := len(in.Snapshot.Events)
	drawAlways(t)
	var stderr bytes.Buffer
	if _, err := fraglabStderr(t, &stderr, "tune", snap, "--no-policies", "--json"); err != nil {
		t.Fatal(err)
	}
	s := stderr.String()
	for _, want := range []string{"tune: 1/", " replays, " + strconv.Itoa(events) + "/", " events/s, ETA "} {
		if !strings.Contains(s, want) {
			t.Errorf("stderr lacks %q: %q", want, s)
		}
	}
}
