// Package setup is the one way to set up a run: `fraglab replay`,
// fidelity, tune, the runner's workers and trace convert open their
// workload, policy and device here, so that an input feature (tag rules,
// recorded settings, private pools) is written once. It sits beside
// package replay, not in it, because it names the built-in policies and
// the generators, whose tests replay their workloads.
package setup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/generate"
	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/internal/kv"
	"github.com/fraglab/fraglab/internal/synth"
	"github.com/fraglab/fraglab/internal/units"
	"github.com/fraglab/fraglab/policies"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/snapshot"
	"github.com/fraglab/fraglab/trace"
)

// IsSnapshot reports whether path names a PyTorch memory snapshot (.pickle
// or .pkl, in any case).
func IsSnapshot(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	return ext == ".pickle" || ext == ".pkl"
}

// FromTrace is the capacity that takes a snapshot's recorded capacity.
const FromTrace = "from-trace"

// Capacity is a device capacity as asked: Bytes (0: unlimited), or the
// capacity a snapshot records (FromTrace).
type Capacity struct {
	Bytes     int64
	FromTrace bool
}

// ParseCapacity parses a --capacity value: a positive SIZE, unlimited (or
// empty: unlimited), or from-trace for a PyTorch snapshot. The grammar is
// units.ParseCapacity's, an experiment's device.capacity's, plus
// from-trace.
func ParseCapacity(s string) (Capacity, error) {
	switch strings.TrimSpace(s) {
	case "":
		return Capacity{}, nil
	case FromTrace:
		return Capacity{FromTrace: true}, nil
	}
	n, err := units.ParseCapacity(s)
	if err != nil {
		if errors.Is(err, units.ErrZeroCapacity) {
			return Capacity{}, fmt.Errorf("--capacity %s: %w", s, err)
		}
		return Capacity{}, fmt.Errorf("--capacity: %w (or unlimited, or from-trace for a PyTorch snapshot)", err)
	}
	return Capacity{Bytes: n}, nil
}

// WorkloadSpec says which workload to open: a trace file or a PyTorch
// snapshot (Trace), or a generator (Generator, GeneratorParams, Seed).
type WorkloadSpec struct {
	Trace string
	// SnapshotDevice is a snapshot's device; nil: the first with events.
	// It is an error for anything but a snapshot.
	SnapshotDevice *int
	// TagRules map a snapshot's stack frames to tags; nil:
	// snapshot.DefaultTagRules.
	TagRules []snapshot.TagRule
	// Snapshot opens Trace as a PyTorch snapshot whatever its extension
	// (trace convert --from pickle); else IsSnapshot decides.
	Snapshot bool
	// ReadSnapshot reads a snapshot file; nil: snapshot.ReadFile (a pooled
	// worker passes its cache).
	ReadSnapshot func(path string) (*snapshot.Snapshot, error)

	Generator       string
	GeneratorParams map[string]string
	Seed            int64

	// Capacity is the device capacity asked for.
	Capacity Capacity
}

// Workload is an open workload, ready to replay.
type Workload struct {
	Reader  trace.Reader
	Initial []host.InitialSegment // the state to adopt before the first event (snapshots)
	// Snapshot is the snapshot's workload; nil for traces and generators.
	Snapshot *snapshot.Workload
	// Capacity is the device capacity in bytes; 0 unlimited.
	Capacity int64
	// Notes are what the reader should know: the capacity's evidence, the
	// recorded settings used.
	Notes []string
	// Events is the number of events, when known (snapshots, generators);
	// 0 otherwise.
	Events int64
	// Read is the part of a trace file read so far; nil for the others.
	Read func() float64

	spec    WorkloadSpec
	reopen  func() (trace.Reader, []host.InitialSegment, io.Closer, error)
	closers []io.Closer
}

// OpenWorkload opens the workload s names.
func OpenWorkload(s WorkloadSpec) (*Workload, error) {
	w := &Workload{spec: s}
	switch {
	case s.Generator != "":
		if s.SnapshotDevice != nil {
			return nil, fmt.Errorf("a snapshot device applies to PyTorch snapshots (.pickle), not generator %s", s.Generator)
		}
		if s.Capacity.FromTrace {
			return nil, fmt.Errorf("--capacity from-trace needs a PyTorch snapshot (.pickle): generator %s records no device capacity", s.Generator)
		}
		events, tags, err := generate.Generate(s.Generator, s.GeneratorParams, s.Seed)
		if err != nil {
			return nil, err
		}
		w.reopen = func() (trace.Reader, []host.InitialSegment, io.Closer, error) {
			return synth.NewReaderTags(events, tags), nil, nil, nil
		}
		w.Events = int64(len(events))
	case s.Snapshot || IsSnapshot(s.Trace):
		if err := w.openSnapshot(); err != nil {
			return nil, err
		}
	default:
		if s.SnapshotDevice != nil {
			return nil, fmt.Errorf("a snapshot device applies to PyTorch snapshots (.pickle), not %s", s.Trace)
		}
		if s.Capacity.FromTrace {
			return nil, fmt.Errorf("--capacity from-trace needs a PyTorch snapshot (.pickle): %s records no device capacity", s.Trace)
		}
		r, c, read, err := trace.OpenTracked(s.Trace)
		if errors.Is(err, trace.ErrUnsupportedFormat) {
			return nil, fmt.Errorf("%s: %w, or a PyTorch snapshot .pickle or .pkl", s.Trace, err)
		}
		if err != nil {
			return nil, err
		}
		w.Reader, w.Read, w.closers = r, read, []io.Closer{c}
		w.reopen = func() (trace.Reader, []host.InitialSegment, io.Closer, error) {
			r, c, err := trace.Open(s.Trace)
			return r, nil, c, err
		}
		w.Capacity = s.Capacity.Bytes
		return w, nil
	}
	if w.Reader == nil {
		w.Reader, w.Initial, _, _ = w.reopen()
	}
	if !s.Capacity.FromTrace {
		w.Capacity = s.Capacity.Bytes
	}
	return w, nil
}

func (w *Workload) openSnapshot() error {
	s := w.spec
	read := s.ReadSnapshot
	if read == nil {
		read = snapshot.ReadFile
	}
	snap, err := read(s.Trace)
	if err != nil {
		return err
	}
	rules := s.TagRules
	if rules == nil {
		rules = snapshot.DefaultTagRules()
	}
	device := -1
	if s.SnapshotDevice != nil {
		device = *s.SnapshotDevice
	}
	sw, err := snap.WorkloadWithRules(device, rules)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Trace, err)
	}
	w.Snapshot, w.Events = sw, int64(len(sw.Events))
	w.reopen = func() (trace.Reader, []host.InitialSegment, io.Closer, error) {
		r, initial := replay.SnapshotInput(sw)
		return r, initial, nil, nil
	}
	if !s.Capacity.FromTrace {
		return nil
	}
	c := sw.Capacity
	w.Capacity = c.Low
	rng := units.Format(c.Low) + " or more"
	if c.High >= 0 {
		rng = fmt.Sprintf("%s .. %s", units.Format(c.Low), units.Format(c.High))
	}
	w.Notes = append(w.Notes, fmt.Sprintf("capacity from the trace: %s; using %s (%d bytes)", rng, units.Format(c.Low), c.Low))
	for _, e := range c.Evidence {
		w.Notes = append(w.Notes, "  "+e)
	}
	return nil
}

// OpenReader returns a fresh reader over the same workload, with its
// initial state and what closes its file (nil when there is none): the
// caller closes it, at any time, Close or not.
func (w *Workload) OpenReader() (trace.Reader, []host.InitialSegment, io.Closer, error) {
	return w.reopen()
}

// Reopen returns a fresh reader over the same workload, with its initial
// state. A file it opens is closed by Close.
func (w *Workload) Reopen() (trace.Reader, []host.InitialSegment, error) {
	r, initial, c, err := w.reopen()
	if err != nil {
		return nil, nil, err
	}
	if c != nil {
		w.closers = append(w.closers, c)
	}
	return r, initial, nil
}

// Params merges a snapshot's recorded allocator settings (for the pytorch
// policy only: other policies have no such knobs) under user's params, and
// notes the settings used. It returns user for the others.
func (w *Workload) Params(policy string, user map[string]string) map[string]string {
	if w.Snapshot == nil || w.Snapshot.Settings == nil || policy != "pytorch" {
		return user
	}
	out := w.Snapshot.Settings.Params()
	if len(out) > 0 {
		w.Notes = append(w.Notes, "recorded allocator settings: "+kv.Format(out, " "))
	}
	maps.Copy(out, user)
	return out
}

// Close closes the files the workload opened.
func (w *Workload) Close() error {
	var errs []error
	for _, c := range w.closers {
		errs = append(errs, c.Close())
	}
	w.closers = nil
	return errors.Join(errs...)
}

// LoadPolicy compiles a policy: the module at path when path is set (name
// names it), else name is a built-in policy or the path of a .wasm module.
func LoadPolicy(ctx context.Context, name, path string) (*wasm.Module, error) {
	if path == "" {
		if bin, ok := policies.Builtin(name); ok {
			return wasm.Compile(ctx, name, bin)
		}
		if !strings.HasSuffix(name, ".wasm") && !strings.ContainsRune(name, os.PathSeparator) {
			return nil, fmt.Errorf("unknown policy %q: built-ins are %s; or give the path of a .wasm module", name, strings.Join(policies.Names(), ", "))
		}
		path = name
	}
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return wasm.Compile(ctx, name, bin)
}

// DeviceSpec says which device to open.
type DeviceSpec struct {
	Selector cudadriver.Selector // zero: sim
	// LatencyProfile is a latency profile file for sim (from fraglab
	// calibrate); "" none.
	LatencyProfile string
}

// Device is an open device with what its report needs.
type Device struct {
	cudadriver.Device
	Selector cudadriver.Selector
	Profile  *cudadriver.LatencyProfile
	Note     string // what opening it said (cuda: the capacity used); "" none
}

// OpenDevice opens the device of a run: capacity in bytes (0: sim
// unlimited, cuda the free memory).
func OpenDevice(s DeviceSpec, capacity int64) (*Device, error) {
	d := &Device{Selector: s.Selector}
	if d.Selector.Kind == "" {
		d.Selector.Kind = "sim"
	}
	if s.LatencyProfile != "" {
		p, err := cudadriver.LoadLatencyProfile(s.LatencyProfile)
		if err != nil {
			return nil, err
		}
		d.Profile = p
	}
	dev, note, err := cudadriver.Open(d.Selector, cudadriver.OpenOptions{Capacity: capacity, Latency: d.Profile})
	if err != nil {
		return nil, err
	}
	d.Device, d.Note = dev, note
	return d, nil
}

// Description describes the device for its report.
func (d *Device) Description() cudadriver.Description {
	return cudadriver.Describe(d.Device, d.Selector, d.Profile, d.Note)
}

// Spec is everything that sets up a run: the workload, the policy with its
// params, the device.
type Spec struct {
	Workload WorkloadSpec
	// Policy is a built-in name or a .wasm path; PolicyPath, when set, is
	// the module's file and Policy its name.
	Policy     string
	PolicyPath string
	// Module, when set, is the policy compiled already (LoadPolicy):
	// New uses it instead of compiling Policy.
	Module *wasm.Module
	// Params are the user's policy params; a snapshot's recorded settings
	// go under them (Workload.Params).
	Params map[string]string
	Device DeviceSpec
}

// Run is a run set up, ready to replay: Replay it, then Close it.
type Run struct {
	Workload *Workload
	Module   *wasm.Module
	Device   *Device
	// Params are the params the policy gets: the user's over the recorded
	// settings.
	Params map[string]string

	spec Spec
}

// New compiles the policy, opens the workload and opens the device of s,
// in this order: the first error is the one returned.
func New(ctx context.Context, s Spec) (*Run, error) {
	mod := s.Module
	if mod == nil {
		var err error
		if mod, err = LoadPolicy(ctx, s.Policy, s.PolicyPath); err != nil {
			return nil, err
		}
	}
	w, err := OpenWorkload(s.Workload)
	if err != nil {
		return nil, err
	}
	dev, err := OpenDevice(s.Device, w.Capacity)
	if err != nil {
		w.Close()
		return nil, err
	}
	return &Run{Workload: w, Module: mod, Device: dev, Params: w.Params(s.Policy, maps.Clone(s.Params)), spec: s}, nil
}

// Replay runs the workload under the policy on the device, with opts'
// Params and Initial set to the setup's.
func (s *Run) Replay(ctx context.Context, opts replay.Options) (*replay.Result, error) {
	opts.Params, opts.Initial = s.Params, s.Workload.Initial
	return replay.Run(ctx, s.Workload.Reader, s.Module, s.Device.Device, opts)
}

// Again replays the workload once more, from a fresh reader on a fresh
// device of the same capacity (opts' Params and Initial set as Replay's).
func (s *Run) Again(ctx context.Context, opts replay.Options) (*replay.Result, error) {
	r, initial, err := s.Workload.Reopen()
	if err != nil {
		return nil, err
	}
	dev, err := OpenDevice(s.spec.Device, s.Workload.Capacity)
	if err != nil {
		return nil, err
	}
	defer dev.Close()
	opts.Params, opts.Initial = s.Params, initial
	return replay.Run(ctx, r, s.Module, dev.Device, opts)
}

// Reopener is a reopen function for MinCapacity: a fresh reader each call.
func (s *Run) Reopener() func() (trace.Reader, error) {
	return func() (trace.Reader, error) {
		r, _, err := s.Workload.Reopen()
		return r, err
	}
}

// Report is the device report of res.
func (s *Run) Report(res *replay.Result) *replay.DeviceReport {
	return replay.NewDeviceReport(s.Device.Description(), res)
}

// Close closes the device and the workload's files.
func (s *Run) Close() error {
	return errors.Join(s.Device.Close(), s.Workload.Close())
}
