package tune

import (
	"fmt"
	"slices"
	"strings"

	"github.com/fraglab/fraglab/internal/units"
	"github.com/fraglab/fraglab/replay"
)

// flag records, on every setting, the problems its replays show, measured
// against the baseline's:
//   - growth: reserved bytes peak clearly higher in the second half of the
//     trace than in the first while the live bytes do not (memory is not
//     reused across the workload's repeated cycles), more than the
//     baseline's own growth;
//   - churn: at least twice the baseline's driver calls (and 50 more);
//   - interaction: a setting of several knobs, each of which beat the
//     baseline alone, that is worse than the best of them alone (more
//     OOMs, or a peak reserved higher by over 1% and 2 MiB).
func (s *search) flag(baseline *Setting) {
	baseGrowth := growth(baseline.timeline)
	singles := map[string]*Setting{} // sweep setting by its changes
	for _, st := range s.all {
		if st.Stage == StageSweep {
			singles[st.Name] = st
		}
	}
	for _, st := range s.all {
		if st.Metrics == nil {
			continue
		}
		if g := growth(st.timeline); g.grows && (st == baseline || g.extra > baseGrowth.extra+replay.CapacityStep) {
			st.Flags = append(st.Flags, fmt.Sprintf("reserved memory grows over the trace: peak %s in its first half, %s in its second, while live bytes peak at %s and %s: freed memory is not reused across repeated cycles",
				units.Format(g.r1), units.Format(g.r2), units.Format(g.q1), units.Format(g.q2)))
		}
		if st != baseline && *st.DriverCalls >= 2**baseline.DriverCalls && *st.DriverCalls >= *baseline.DriverCalls+50 {
			st.Flags = append(st.Flags, fmt.Sprintf("%d driver calls, %.1f× the baseline's %d: segments are freed and allocated again and again (cudaFree/cudaMalloc churn)",
				*st.DriverCalls, float64(*st.DriverCalls)/float64(max(1, *baseline.DriverCalls)), *baseline.DriverCalls))
		}
		if len(st.Changes) < 2 || st.Stage == StageSweep {
			continue
		}
		var parts []*Setting
		for k, v := range st.Changes {
			if one, ok := singles[k+"="+v]; ok && one.Metrics != nil && s.less(one, baseline, false) {
				parts = append(parts, one)
			}
		}
		if len(parts) < 2 {
			continue
		}
		best := parts[0]
		for _, p := range parts[1:] {
			if s.less(p, best, false) {
				best = p
			}
		}
		if st.OOMs > best.OOMs || st.PeakReserved > best.PeakReserved+max(replay.CapacityStep, best.PeakReserved/100) {
			names := make([]string, len(parts))
			for i, p := range parts {
				names[i] = fmt.Sprintf("%s alone %s", p.Name, brief(p))
			}
			slices.Sort(names)
			st.Flags = append(st.Flags, fmt.Sprintf("these knobs interact badly on this trace: together %s, worse than %s (%s)",
				brief(st), best.Name, strings.Join(names, "; ")))
		}
	}
}

// brief is a setting's peak reserved and OOMs in a few words.
func brief(st *Setting) string {
	return fmt.Sprintf("peak reserved %s, %d OOMs", units.Format(st.PeakReserved), st.OOMs)
}

// growthInfo compares the two halves of a run's timeline.
type growthInfo struct {
	r1, r2, q1, q2 int64 // peak reserved and requested bytes in each half
	extra          int64 // r2 - r1
	grows          bool
}

func growth(tl *replay.Timeline) growthInfo {
	var g growthInfo
	if tl == nil || len(tl.Event) < 4 {
		return g
	}
	mid := tl.Event[len(tl.Event)-1] / 2
	for i, e := range tl.Event {
		if e < mid {
			g.r1, g.q1 = max(g.r1, tl.Reserved[i]), max(g.q1, tl.Requested[i])
		} else {
			g.r2, g.q2 = max(g.r2, tl.Reserved[i]), max(g.q2, tl.Requested[i])
		}
	}
	g.extra = g.r2 - g.r1
	g.grows = g.extra > max(replay.CapacityStep, g.r1/20) && g.q2 <= g.q1+g.q1/100
	return g
}

// summary is the predicted saving: "peak reserved A → B, min capacity
// C → D, 0 OOMs at CAP (baseline N)".
func summary(base, rec *Setting, capacity int64) string {
	parts := []string{change("peak reserved", base.PeakReserved, rec.PeakReserved)}
	if base.MinCapacity != nil && rec.MinCapacity != nil {
		parts = append(parts, change("min capacity", *base.MinCapacity, *rec.MinCapacity))
	}
	if capacity > 0 {
		parts = append(parts, fmt.Sprintf("%d OOMs at %s (recorded settings: %d)", rec.OOMs, units.Format(capacity), base.OOMs))
	}
	parts = append(parts, fmt.Sprintf("driver calls %d → %d", *base.DriverCalls, *rec.DriverCalls))
	return strings.Join(parts, ", ")
}

// change is "what A → B (±D)" in bytes.
func change(what string, a, b int64) string {
	sign := ""
	if b >= a {
		sign = "+"
	}
	return fmt.Sprintf("%s %s → %s (%s%s)", what, units.Format(a), units.Format(b), sign, units.Format(b-a))
}

// mechanism says how a knob changes the allocator (PyTorch's rule), to
// go with what the replays measured.
var mechanism = map[string]string{
	"expandable_segments":          "one segment per pool and stream grows page by page, so freed space is one range that any later request can use instead of being stranded in separate fixed-size segments",
	"max_split_size_mb":            "cached blocks at least that large are no longer split for smaller requests, so large free blocks stay whole for the large requests that need them",
	"roundup_power2_divisions":     "requests are rounded up to fewer size classes, so a freed block fits more later requests",
	"garbage_collection_threshold": "cached segments that have not been reused are released before the pool grows past the threshold",
	"large_segment_size_mb":        "it changes the size of the segments that 1–10 MiB requests get",
}
