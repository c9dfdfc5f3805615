package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"strings"

	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/internal/kv"
	"github.com/fraglab/fraglab/internal/units"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/snapshot"
	"github.com/fraglab/fraglab/trace"
)

// input is a workload ready to replay, from a trace file or a snapshot.
type input struct {
	reader   trace.Reader
	closer   io.Closer
	initial  []host.InitialSegment
	snap     *snapshot.Workload // nil unless the file is a PyTorch snapshot
	capacity int64              // device capacity to use; 0 unlimited
	notes    []string           // what the reader should know (capacity evidence, settings)
	events   int64              // events of the workload, when known (snapshots); 0 otherwise
	read     func() float64     // the part of a trace file read so far; nil for snapshots
}

func isSnapshot(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	return ext == ".pickle" || ext == ".pkl"
}

// openInput opens a workload. device picks a snapshot's device (-1: the
// first with events); capacity is a SIZE, "from-trace" (snapshots only) or
// empty for unlimited. A snapshot's frames become tags by the default rules.
func openInput(path string, device int, capacity string) (*input, error) {
	return openInputRules(path, device, capacity, nil)
}

// openInputRules is openInput with a snapshot's tag rules (nil: the
// defaults).
func openInputRules(path string, device int, capacity string, rules []snapshot.TagRule) (*input, error) {
	in := &input{}
	if rules == nil {
		rules = snapshot.DefaultTagRules()
	}
	if !isSnapshot(path) {
		if device >= 0 {
			return nil, fmt.Errorf("a snapshot device (--snapshot-device, or --device N) applies to PyTorch snapshots (.pickle), not %s", path)
		}
		if capacity == "from-trace" {
			return nil, fmt.Errorf("--capacity from-trace needs a PyTorch snapshot (.pickle): %s records no device capacity", path)
		}
		r, c, read, err := trace.OpenTracked(path)
		if errors.Is(err, trace.ErrUnsupportedFormat) {
			return nil, fmt.Errorf("%s: %w, or a PyTorch snapshot .pickle or .pkl", path, err)
		}
		if err != nil {
			return nil, err
		}
		in.reader, in.closer, in.read = r, c, read
		return in, in.setCapacity(capacity)
	}
	snap, err := snapshot.ReadFile(path)
	if err != nil {
		return nil, err
	}
	w, err := snap.WorkloadWithRules(device, rules)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	in.snap = w
	in.events = int64(len(w.Events))
	in.reader, in.initial = replay.SnapshotInput(w)
	in.closer = nopCloser{}
	if capacity != "from-trace" {
		return in, in.setCapacity(capacity)
	}
	c := w.Capacity
	in.capacity = c.Low
	rng := units.Format(c.Low) + " or more"
	if c.High >= 0 {
		rng = fmt.Sprintf("%s .. %s", units.Format(c.Low), units.Format(c.High))
	}
	in.notes = append(in.notes, fmt.Sprintf("capacity from the trace: %s; using %s (%d bytes)", rng, units.Format(c.Low), c.Low))
	for _, e := range c.Evidence {
		in.notes = append(in.notes, "  "+e)
	}
	return in, nil
}

func (in *input) setCapacity(s string) error {
	if s == "" {
		return nil
	}
	n, err := units.ParseSize(s)
	if err != nil {
		return fmt.Errorf("--capacity: %w (or from-trace for a PyTorch snapshot)", err)
	}
	if n == 0 {
		// 0 is how the device is told "unlimited": a given 0 must not mean that.
		return fmt.Errorf("--capacity %s: a device of 0 bytes holds nothing: expected a positive size (leave --capacity out for unlimited)", s)
	}
	in.capacity = n
	return nil
}

// params merges a snapshot's recorded allocator settings (for the pytorch
// policy only: other policies have no such knobs) under the user's params.
func (in *input) params(policy string, user map[string]string) map[string]string {
	if in.snap == nil || in.snap.Settings == nil || policy != "pytorch" {
		return user
	}
	out := in.snap.Settings.Params()
	if len(out) > 0 {
		in.notes = append(in.notes, "recorded allocator settings: "+kv.Format(out, " "))
	}
	maps.Copy(out, user)
	return out
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
