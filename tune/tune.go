// Package tune searches the pytorch policy's PYTORCH_CUDA_ALLOC_CONF knobs
// for the setting that serves one workload (a user's own PyTorch snapshot)
// best, against the settings recorded in it: one-knob sweeps from the
// recorded settings, combinations of the knobs that helped, one more sweep
// from the best so far, then min_capacity for the best few. Every replay
// runs in the experiments runner's worker processes (runner.RunSpecs).
// docs/tune.md describes the search and the ranking.
package tune

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/internal/kv"
	"github.com/fraglab/fraglab/internal/runrecord"
	"github.com/fraglab/fraglab/policies"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/runner"
	"github.com/fraglab/fraglab/trace"
)

// Stages of the search, as Setting.Stage names them.
const (
	StageBaseline    = "baseline"    // the recorded settings
	StageSweep       = "sweep"       // one knob changed from the baseline
	StageCombination = "combination" // the knobs that helped alone, together
	StageRefine      = "refine"      // one knob changed from the best so far
	StagePolicy      = "policy"      // another built-in policy (a custom allocator)
)

// DefaultTop is how many settings besides the baseline get min_capacity.
const DefaultTop = 4

// Input is the workload to tune.
type Input struct {
	Trace    string            // a PyTorch snapshot (.pickle) or a trace (.jsonl)
	Device   int               // the snapshot's device; -1: the first with events
	Capacity int64             // device capacity; 0 unknown (unlimited)
	Recorded map[string]string // the recorded allocator settings as pytorch params (snapshot.Settings.Params)
	// Open gives a fresh reader over the workload and its initial state,
	// for the analyses that run in this process. Its errors, and those of
	// the reader, name the trace (as trace.Open's do).
	Open func() (trace.Reader, []host.InitialSegment, error)
}

// Options configure Run.
type Options struct {
	Parallel   int      // worker processes (default: the CPUs)
	Executable string   // worker binary (default: this one)
	Args       []string // its arguments
	Top        int      // settings besides the baseline that get min_capacity (default DefaultTop)
	NoPolicies bool     // skip the other built-in policies
	// OnProgress is called as runs end: done of total known so far (the
	// total grows as the search decides its next stage).
	OnProgress func(done, total int)
}

// Setting is one configuration tried (or one other policy) and what its
// replays gave.
type Setting struct {
	Name    string            `json:"name"`              // "baseline", the changes as key=value, or the policy
	Stage   string            `json:"stage"`             // Stage*
	Policy  string            `json:"policy"`            // pytorch, or another built-in
	Changes map[string]string `json:"changes,omitempty"` // parameters changed from the baseline
	Params  map[string]string `json:"params,omitempty"`  // every parameter, as --param takes them
	Conf    string            `json:"conf"`              // PYTORCH_CUDA_ALLOC_CONF for Params ("" for other policies)
	*replay.Metrics
	MinCapacity *int64   `json:"min_capacity,omitempty"` // when measured: smallest capacity (2 MiB steps) with no OOM
	DriverCalls *int64   `json:"driver_calls,omitempty"` // segment allocs + frees + maps + unmaps
	Error       string   `json:"error,omitempty"`        // why the setting failed to replay
	Flags       []string `json:"flags,omitempty"`        // problems seen in its replay
	// FirstOOMReport explains its first OOM at the capacity (docs/oom.md).
	FirstOOMReport *host.OOMReport `json:"first_oom_report,omitempty"`

	timeline *replay.Timeline
	groups   []string // the knobs (Knob.Name) it changes
}

// Bound is a workload's physical limit: its peak requested bytes, the
// same with each request rounded up to 512 bytes (the grid every policy's
// blocks lie on), and the least capacity any policy can run in.
type Bound struct {
	PeakRequested int64 `json:"peak_requested"`
	PeakRounded   int64 `json:"peak_rounded"`
	LeastCapacity int64 `json:"least_capacity"`
}

// Utilization is peak requested / min capacity of s, 0 without a min capacity.
func (b Bound) Utilization(s *Setting) float64 {
	if s.MinCapacity == nil || *s.MinCapacity <= 0 {
		return 0
	}
	return float64(b.PeakRequested) / float64(*s.MinCapacity)
}

// boundOf returns the bound from the replays of settings (the largest
// peaks: a replay cut short by OOMs saw less of the workload).
func boundOf(settings ...[]*Setting) Bound {
	var b Bound
	for _, ss := range settings {
		for _, s := range ss {
			if s != nil && s.Metrics != nil {
				b.PeakRequested = max(b.PeakRequested, s.PeakRequested)
				b.PeakRounded = max(b.PeakRounded, s.PeakRounded)
			}
		}
	}
	b.LeastCapacity = replay.LeastCapacity(b.PeakRequested, b.PeakRounded)
	return b
}

// Recommendation is the best setting, with what it saves and why.
type Recommendation struct {
	*Setting
	IsBaseline bool     `json:"is_baseline"` // nothing beat the recorded settings
	Summary    string   `json:"summary"`     // "peak reserved 44.1 GiB → 31.7 GiB, …"
	Reasons    []string `json:"reasons"`     // which knob mattered and why, from the replays
}

// Report is the outcome of Run.
type Report struct {
	Trace          string          `json:"trace"`
	Capacity       int64           `json:"capacity"`  // bytes; 0 unknown (runs unlimited)
	Objective      string          `json:"objective"` // the ranking, in words
	Baseline       *Setting        `json:"baseline"`
	Recommendation *Recommendation `json:"recommendation"`
	Settings       []*Setting      `json:"settings"` // every setting tried, best first
	Policies       []*Setting      `json:"policies"` // the other built-in policies, best first
	Flags          []string        `json:"flags"`    // every setting's flags, "name: flag"
	// Bound is the workload's physical limit, the same for every setting
	// and policy (docs/metrics.md "The bound").
	Bound Bound `json:"bound"`
	Runs  int   `json:"runs"` // worker runs made
}

// Run tunes in's workload. A setting that fails to replay is kept with its
// error and ranked last; Run fails only when the baseline itself does not
// replay, or the workers cannot run.
func Run(ctx context.Context, in Input, o Options) (*Report, error) {
	if o.Top <= 0 {
		o.Top = DefaultTop
	}
	sizes, err := requestSizes(in)
	if err != nil {
		return nil, err
	}
	base := maps.Clone(in.Recorded)
	if base == nil {
		base = map[string]string{}
	}
	s := &search{in: in, o: o, seen: map[string]*Setting{}}
	baseline := &Setting{Name: StageBaseline, Stage: StageBaseline, Policy: "pytorch", Params: base, Conf: Conf(base)}
	s.seen[baseline.Conf] = baseline
	knobs := Knobs(Profile{Sizes: sizes}, base, in.Capacity)

	// Stage 1: one knob at a time from the baseline.
	batch := []*Setting{baseline}
	for _, k := range knobs {
		for _, v := range k.Variants {
			batch = s.add(batch, StageSweep, v, []string{k.Name})
		}
	}
	if err := s.eval(ctx, batch, false); err != nil {
		return nil, err
	}
	if baseline.Error != "" {
		return nil, fmt.Errorf("%s: the recorded settings do not replay: %s", in.Trace, baseline.Error)
	}

	// Stage 2: the best value of each knob that beat the baseline alone,
	// in every combination of two or more.
	type help struct {
		knob string
		best *Setting
	}
	var helped []help
	for _, k := range knobs {
		var best *Setting
		for _, st := range s.all {
			if st.Stage == StageSweep && st.groups[0] == k.Name && (best == nil || s.less(st, best, false)) {
				best = st
			}
		}
		if best != nil && s.less(best, baseline, false) {
			helped = append(helped, help{k.Name, best})
		}
	}
	sort.SliceStable(helped, func(i, j int) bool { return s.less(helped[i].best, helped[j].best, false) })
	helped = helped[:min(len(helped), 4)]
	batch = nil
	for mask := 1; mask < 1<<len(helped); mask++ {
		if mask&(mask-1) == 0 {
			continue // one knob: already swept
		}
		var parts []map[string]string
		var groups []string
		for i, h := range helped {
			if mask&(1<<i) != 0 {
				parts = append(parts, h.best.Changes)
				groups = append(groups, h.knob)
			}
		}
		batch = s.add(batch, StageCombination, merge(nil, parts...), groups)
	}
	if err := s.eval(ctx, batch, false); err != nil {
		return nil, err
	}

	// Stage 3: one more knob at a time, from the best so far.
	if best := s.best(false); best != baseline {
		batch = nil
		for _, k := range knobs {
			for _, v := range k.Variants {
				groups := append(slices.DeleteFunc(slices.Clone(best.groups), func(g string) bool { return g == k.Name }), k.Name)
				batch = s.add(batch, StageRefine, merge(best.Changes, v), groups)
			}
		}
		if err := s.eval(ctx, batch, false); err != nil {
			return nil, err
		}
	}

	// Stage 4: min_capacity for the baseline and the best few, and the
	// other built-in policies.
	ranked := s.ranked(false)
	final := []*Setting{baseline}
	for _, st := range ranked {
		if len(final) > o.Top {
			break
		}
		if st != baseline && st.Error == "" {
			final = append(final, st)
		}
	}
	var others []*Setting
	if !o.NoPolicies {
		for _, name := range OtherPolicies() {
			others = append(others, &Setting{Name: name, Stage: StagePolicy, Policy: name})
		}
	}
	if err := s.eval(ctx, append(slices.Clone(final), others...), true); err != nil {
		return nil, err
	}
	if baseline.Error != "" {
		return nil, fmt.Errorf("%s: the recorded settings do not replay: %s", in.Trace, baseline.Error)
	}

	rep := &Report{Trace: in.Trace, Capacity: in.Capacity, Objective: objective(in.Capacity), Baseline: baseline,
		Settings: s.ranked(true), Policies: []*Setting{}, Flags: []string{}, Runs: s.runs}
	sortSettings(others, func(a, b *Setting) bool { return s.less(a, b, true) })
	rep.Policies = append(rep.Policies, others...)
	rep.Bound = boundOf([]*Setting{baseline}, rep.Settings, rep.Policies)
	s.flag(baseline)
	for _, st := range rep.Settings {
		for _, f := range st.Flags {
			rep.Flags = append(rep.Flags, st.Name+": "+f)
		}
	}
	rec := &Recommendation{Setting: rep.Settings[0], IsBaseline: rep.Settings[0] == baseline}
	rec.Summary = summary(baseline, rec.Setting, in.Capacity)
	if rec.Reasons, err = s.reasons(ctx, baseline, rec); err != nil {
		return nil, err
	}
	rep.Recommendation = rec
	return rep, nil
}

// OtherPolicies are the built-in policies a custom allocator could use:
// all but default (no hooks) and the pytorch policy and its variants.
func OtherPolicies() []string {
	var out []string
	for _, n := range policies.Names() {
		if n != "default" && n != "pytorch" && !strings.HasPrefix(n, "pytorch-") {
			out = append(out, n)
		}
	}
	return out
}

// requestSizes reads the workload once for its alloc sizes.
func requestSizes(in Input) ([]int64, error) {
	r, _, err := in.Open()
	if err != nil {
		return nil, err
	}
	var sizes []int64
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err // the trace readers name the file and the line
		}
		if e.Op == trace.OpAlloc {
			sizes = append(sizes, e.Size)
		}
	}
	if len(sizes) == 0 {
		return nil, fmt.Errorf("%s: the workload has no allocations to tune for", in.Trace)
	}
	return sizes, nil
}

// search holds every setting tried.
type search struct {
	in   Input
	o    Options
	all  []*Setting          // pytorch settings, in the order tried
	seen map[string]*Setting // by Conf: a setting is tried once
	runs int
	done int
	want int
}

// add appends the setting with changes (from the baseline) to batch
// unless an equal one was tried.
func (s *search) add(batch []*Setting, stage string, changes map[string]string, groups []string) []*Setting {
	params := merge(s.in.Recorded, changes)
	conf := Conf(params)
	if _, dup := s.seen[conf]; dup {
		return batch
	}
	st := &Setting{Name: kv.Format(changes, " "), Stage: stage, Policy: "pytorch", Changes: changes,
		Params: params, Conf: conf, groups: groups}
	s.seen[conf] = st
	return append(batch, st)
}

// eval replays every setting of batch in the workers (with min_capacity
// when minCap) and fills in its results.
func (s *search) eval(ctx context.Context, batch []*Setting, minCap bool) error {
	if len(batch) == 0 {
		return nil
	}
	specs := make([]runner.Spec, len(batch))
	for i, st := range batch {
		specs[i] = runner.Spec{ID: fmt.Sprintf("tune-%d", s.runs+i), Experiment: "tune", Workload: filepath.Base(s.in.Trace),
			Trace: s.in.Trace, Policy: st.Policy, Label: st.Name, Params: st.Params, Capacity: s.in.Capacity, MinCapacity: minCap}
		if s.in.Device >= 0 {
			d := s.in.Device
			specs[i].Device = &d
		}
	}
	s.runs += len(batch)
	s.want += len(batch)
	recs, err := runner.RunSpecs(ctx, specs, runner.Options{Parallel: s.o.Parallel, Executable: s.o.Executable, Args: s.o.Args,
		OnDone: func(*runrecord.Record) {
			s.done++
			if s.o.OnProgress != nil {
				s.o.OnProgress(s.done, s.want)
			}
		}})
	if err != nil {
		return err
	}
	for i, st := range batch {
		st.fill(recs[i])
		if st.Stage != StagePolicy && !slices.Contains(s.all, st) {
			s.all = append(s.all, st)
		}
	}
	return nil
}

// fill takes a run's record.
func (st *Setting) fill(rec *runrecord.Record) {
	if rec.Status != runrecord.StatusOK || rec.Metrics == nil {
		st.Error = rec.Error
		st.Metrics = nil
		return
	}
	m := *rec.Metrics
	st.Metrics = &m
	calls := m.SegmentAllocs + m.SegmentFrees + m.SegmentMaps + m.SegmentUnmaps
	st.DriverCalls = &calls
	st.MinCapacity = rec.MinCapacity
	st.timeline = rec.Timeline
	st.FirstOOMReport = rec.FirstOOMReport
}

// objective says how settings are ranked.
func objective(capacity int64) string {
	if capacity > 0 {
		return "fewest OOMs at the capacity, then smallest min_capacity, then smallest peak_reserved, then fewest driver calls, then fewest changed knobs"
	}
	return "smallest min_capacity, then smallest peak_reserved, then fewest driver calls, then fewest changed knobs"
}

// less ranks settings: replayed before failed; fewer OOMs at the capacity;
// with minCap, measured min_capacity before unmeasured and smaller first;
// smaller peak_reserved; fewer driver calls; fewer changes; then by name.
func (s *search) less(a, b *Setting, minCap bool) bool {
	if (a.Metrics == nil) != (b.Metrics == nil) {
		return a.Metrics != nil
	}
	if a.Metrics != nil {
		if a.OOMs != b.OOMs {
			return a.OOMs < b.OOMs
		}
		if minCap {
			if (a.MinCapacity == nil) != (b.MinCapacity == nil) {
				return a.MinCapacity != nil
			}
			if a.MinCapacity != nil && *a.MinCapacity != *b.MinCapacity {
				return *a.MinCapacity < *b.MinCapacity
			}
		}
		if a.PeakReserved != b.PeakReserved {
			return a.PeakReserved < b.PeakReserved
		}
		if *a.DriverCalls != *b.DriverCalls {
			return *a.DriverCalls < *b.DriverCalls
		}
	}
	if len(a.Changes) != len(b.Changes) {
		return len(a.Changes) < len(b.Changes)
	}
	return a.Name < b.Name
}

// ranked returns every pytorch setting, best first.
func (s *search) ranked(minCap bool) []*Setting {
	out := slices.Clone(s.all)
	sortSettings(out, func(a, b *Setting) bool { return s.less(a, b, minCap) })
	return out
}

// best is the first of ranked.
func (s *search) best(minCap bool) *Setting { return s.ranked(minCap)[0] }

func sortSettings(v []*Setting, less func(a, b *Setting) bool) {
	sort.SliceStable(v, func(i, j int) bool { return less(v[i], v[j]) })
}
