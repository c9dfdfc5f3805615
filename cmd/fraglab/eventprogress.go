package main

import (
	"errors"
	"io"

	meter "github.com/fraglab/fraglab/internal/progress"
	"github.com/fraglab/fraglab/replay/setup"
	"github.com/fraglab/fraglab/trace"
)

// newMeter makes the progress line of replay, tune and fidelity:
// progress.New, which draws on a terminal only (nil elsewhere) and only
// for work of progress.Threshold events or more. Tests replace it.
var newMeter = meter.New

// replayProgress returns what replay.Options.Progress takes for a replay
// of events events (0: unknown; read then estimates them from the part of
// the trace file read), drawing on w, and the function that clears the
// line; the first is nil when nothing is drawn (w is not a terminal).
func replayProgress(w io.Writer, label string, events int64, read func() float64) (func(int64), func()) {
	m := newMeter(w, label, events, read)
	if m == nil {
		return nil, func() {}
	}
	return m.Update, m.Done
}

// tuneMeter returns the progress line of a tune of the workload in (from
// path) and the events of one replay, or nil when stderr is not a
// terminal or a replay is shorter than progress.Threshold events. The
// events of a trace file are counted by reading it once, on a terminal
// only.
func tuneMeter(stderr io.Writer, path string, in *setup.Workload) (*meter.Meter, int64) {
	m := newMeter(stderr, "tune", 0, nil)
	if m == nil {
		return nil, 0
	}
	perRun := in.Events
	if in.Snapshot == nil {
		n, err := countEvents(path)
		if err != nil {
			return nil, 0 // tune itself reports the trace's error
		}
		perRun = n
	}
	if perRun < m.Threshold() {
		return nil, 0
	}
	return m, perRun
}

// countEvents reads the trace file at path to its end.
func countEvents(path string) (int64, error) {
	r, c, err := trace.Open(path)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	var n int64
	for {
		if _, err := r.Next(); errors.Is(err, io.EOF) {
			return n, nil
		} else if err != nil {
			return 0, err
		}
		n++
	}
}
