package tune

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/internal/oomreport"
	"github.com/fraglab/fraglab/internal/units"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/replay/setup"
)

// PeakWaste is where the free (cached, unallocated) bytes sat when a run's
// reserved bytes first reached their peak.
type PeakWaste struct {
	Event     int64        // the event after which reserved first reached its peak
	Reserved  int64        // bytes reserved then
	Allocated int64        // bytes in allocated blocks then
	Free      int64        // bytes in free mapped blocks then
	Groups    []WasteGroup // free bytes by block size class and segment kind, most first
}

// WasteGroup is the free bytes of one (block size class, segment kind).
type WasteGroup struct {
	Blocks   string // e.g. "1–10 MiB"
	Segments string // e.g. "20 MiB segments", "expandable segments"
	Bytes    int64
	Count    int // free blocks
}

var blockClasses = []struct {
	upTo  int64 // exclusive
	label string
}{{host.SmallSize, "< 1 MiB"}, {host.MinLargeAlloc, "1–10 MiB"}, {100 * mib, "10–100 MiB"}, {1 << 30, "100 MiB–1 GiB"}, {1 << 62, "≥ 1 GiB"}}

var segmentClasses = []struct {
	upTo  int64 // inclusive
	label string
}{{host.SmallBuffer, "segments of at most 2 MiB"}, {host.LargeBuffer, "segments of 2–20 MiB"}, {100 * mib, "segments of 20–100 MiB"},
	{1 << 30, "segments of 100 MiB–1 GiB"}, {1 << 62, "segments over 1 GiB"}}

// AnalyzePeak replays the workload under the pytorch policy with params
// in this process, twice: once to find the event of peak reserved, once
// to look at the allocator's free blocks after it.
func AnalyzePeak(ctx context.Context, in Input, params map[string]string) (*PeakWaste, error) {
	mod, err := setup.LoadPolicy(ctx, "pytorch", "")
	if err != nil {
		return nil, err
	}
	run := func(opts replay.Options) (*replay.Result, error) {
		r, initial, err := in.Open()
		if err != nil {
			return nil, err
		}
		opts.Params, opts.Initial = params, initial
		return replay.Run(ctx, r, mod, cudadriver.NewSim(cudadriver.SimOptions{Capacity: in.Capacity}), opts)
	}
	first, err := run(replay.Options{Timeline: 1})
	if err != nil {
		return nil, err
	}
	tl := first.Timeline
	peak := int64(-1)
	var top int64 = -1
	for i, e := range tl.Event {
		if tl.Reserved[i] > top {
			top, peak = tl.Reserved[i], e
		}
	}
	var w *PeakWaste
	_, err = run(replay.Options{AfterEvent: func(n int64, a *host.Allocator) {
		if n == peak {
			w = wasteOf(a, n)
		}
	}})
	if err != nil {
		return nil, err
	}
	if w == nil {
		return nil, fmt.Errorf("peak analysis: event %d not replayed", peak)
	}
	return w, nil
}

// wasteOf classifies a's free mapped blocks.
func wasteOf(a *host.Allocator, event int64) *PeakWaste {
	reserved, allocated, _ := a.Bytes()
	w := &PeakWaste{Event: event, Reserved: reserved, Allocated: allocated}
	type key struct{ b, s int }
	groups := map[key]*WasteGroup{}
	sizes := map[key]map[int64]bool{} // classic segment sizes per group
	for _, seg := range a.Segments() {
		sc := -1 // expandable
		if !seg.Expandable() {
			sc = 0
			for seg.Size > segmentClasses[sc].upTo {
				sc++
			}
		}
		for _, b := range seg.Blocks() {
			if !b.Mapped || b.Allocated || b.Lent {
				continue
			}
			bc := 0
			for b.Size >= blockClasses[bc].upTo {
				bc++
			}
			k := key{bc, sc}
			g := groups[k]
			if g == nil {
				g = &WasteGroup{Blocks: blockClasses[bc].label, Segments: "expandable segments"}
				if sc >= 0 {
					g.Segments = segmentClasses[sc].label
				}
				groups[k], sizes[k] = g, map[int64]bool{}
			}
			g.Bytes += b.Size
			g.Count++
			w.Free += b.Size
			sizes[k][seg.Size] = true
		}
	}
	for k, g := range groups {
		if len(sizes[k]) == 1 && k.s >= 0 {
			for sz := range sizes[k] {
				g.Segments = units.Format(sz) + " segments"
			}
		}
		w.Groups = append(w.Groups, *g)
	}
	sort.Slice(w.Groups, func(i, j int) bool {
		if w.Groups[i].Bytes != w.Groups[j].Bytes {
			return w.Groups[i].Bytes > w.Groups[j].Bytes
		}
		return w.Groups[i].Blocks+w.Groups[i].Segments < w.Groups[j].Blocks+w.Groups[j].Segments
	})
	return w
}

// Describe says where the free bytes were, in one sentence.
func (w *PeakWaste) Describe(who string) string {
	s := fmt.Sprintf("at the peak of the %s (after event %d: %s reserved, %s allocated), %s sat free in cached blocks",
		who, w.Event, units.Format(w.Reserved), units.Format(w.Allocated), units.Format(w.Free))
	if len(w.Groups) == 0 || w.Free == 0 {
		return s
	}
	g := w.Groups[0]
	return s + fmt.Sprintf("; most of it, %d%% (%s in %d blocks), in %s free blocks of %s",
		g.Bytes*100/w.Free, units.Format(g.Bytes), g.Count, g.Blocks, g.Segments)
}

// reasons explains the recommendation: which knob mattered (its effect
// alone, from the one-knob sweep), how it acts, and where the free bytes
// sat at the baseline's peak and at the recommendation's.
func (s *search) reasons(ctx context.Context, baseline *Setting, rec *Recommendation) ([]string, error) {
	bw, err := AnalyzePeak(ctx, s.in, baseline.Params)
	if err != nil {
		return nil, fmt.Errorf("analysing the baseline's peak: %w", err)
	}
	var out []string
	if o := baseline.FirstOOMReport; o != nil {
		out = append(out, fmt.Sprintf("the recorded settings OOM %d times at %s; the first at %s",
			baseline.OOMs, units.Format(s.in.Capacity), oomreport.Summary(*o)))
	}
	if rec.IsBaseline {
		return append(out, "no setting tried beats the recorded settings on this trace ("+objective(s.in.Capacity)+")",
			bw.Describe("recorded settings")), nil
	}
	type effect struct {
		st   *Setting
		knob string
	}
	var effects []effect
	for _, st := range s.all {
		if st.Stage != StageSweep || st.Metrics == nil {
			continue
		}
		if k := st.groups[0]; subset(st.Changes, rec.Changes) {
			effects = append(effects, effect{st, k})
		}
	}
	sort.SliceStable(effects, func(i, j int) bool { return s.less(effects[i].st, effects[j].st, false) })
	for i, e := range effects {
		lead := "also changed"
		if i == 0 {
			lead = "the knob that mattered most"
		}
		alone := change("peak reserved", baseline.PeakReserved, e.st.PeakReserved)
		if e.st.MinCapacity != nil && baseline.MinCapacity != nil {
			alone += ", " + change("min capacity", *baseline.MinCapacity, *e.st.MinCapacity)
		}
		if s.in.Capacity > 0 {
			alone += fmt.Sprintf(", OOMs %d → %d", baseline.OOMs, e.st.OOMs)
		}
		out = append(out, fmt.Sprintf("%s: %s; alone: %s; %s", lead, e.st.Name, alone, mechanism[e.knob]))
	}
	if len(effects) == 0 {
		out = append(out, "no single knob of it beats the recorded settings alone: only the combination "+rec.Name+" does")
	}
	out = append(out, bw.Describe("recorded settings"))
	rw, err := AnalyzePeak(ctx, s.in, rec.Params)
	if err != nil {
		return nil, fmt.Errorf("analysing the recommendation's peak: %w", err)
	}
	out = append(out, rw.Describe("recommendation"))
	if o := rec.FirstOOMReport; o != nil {
		out = append(out, fmt.Sprintf("the recommendation still OOMs %d times; the first at %s", rec.OOMs, oomreport.Summary(*o)))
	}
	for _, f := range rec.Flags {
		out = append(out, "warning: "+f)
	}
	return out, nil
}

// subset reports whether every key=value of a is in b.
func subset(a, b map[string]string) bool {
	for k, v := range a {
		if bv, ok := b[k]; !ok || !strings.EqualFold(bv, v) {
			return false
		}
	}
	return true
}
