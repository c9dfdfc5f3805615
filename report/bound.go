package report

import (
	"fmt"
	"sort"
	"strings"

	"github.com/fraglab/fraglab/internal/runrecord"
	"github.com/fraglab/fraglab/internal/units"
	"github.com/fraglab/fraglab/replay"
)

// bound is the physical limit of one workload, the same for every policy:
// the most bytes it has live (peak requested), the same with each request
// rounded up to the 512-byte grid every policy's blocks lie on (the rounded
// peak: no policy can reserve less at its peak), and the least capacity any
// policy can run in, the rounded peak in min_capacity's steps.
type bound struct {
	Requested, Rounded, Capacity int64
}

// Known reports whether the workload's peak is known (some ok run).
func (b bound) Known() bool { return b.Requested > 0 }

// Text is the bound in words, for the line above a workload's tables.
func (b bound) Text() string {
	if b.Rounded < b.Requested { // records from before peak_rounded
		return fmt.Sprintf("Bound: peak requested %s; no policy can run in less than %s (in %s steps, the resolution of min capacity; the rounded peak was not recorded).",
			units.Format(b.Requested), units.Format(b.Capacity), units.Format(replay.CapacityStep))
	}
	return fmt.Sprintf("Bound: peak requested %s; rounded peak %s (each live request rounded up to 512 B, as every policy's blocks are); "+
		"no policy can run in less than %s (the rounded peak in %s steps, the resolution of min capacity).",
		units.Format(b.Requested), units.Format(b.Rounded), units.Format(b.Capacity), units.Format(replay.CapacityStep))
}

// bounds returns each workload's bound, from the peaks of its ok runs
// (the largest over runs: a run cut short by OOMs saw less of the peak).
func bounds(recs []*runrecord.Record) map[string]bound {
	out := map[string]bound{}
	for _, r := range recs {
		if r.Status != runrecord.StatusOK || r.Metrics == nil {
			continue
		}
		b := out[r.Workload]
		b.Requested = max(b.Requested, r.Metrics.PeakRequested)
		b.Rounded = max(b.Rounded, r.Metrics.PeakRounded)
		b.Capacity = replay.LeastCapacity(b.Requested, b.Rounded)
		out[r.Workload] = b
	}
	return out
}

// The pseudo-metrics of the distance to the bound, shown after
// min_capacity where a run has one.
var (
	// utilization: peak requested / min capacity (higher is better; 1 is
	// the unreachable ideal of no rounding and no fragmentation).
	utilization = metric{Key: "utilization", Kind: kindRatio, Higher: true, InTable: true}
	// over_bound: min capacity - the bound's capacity, the bytes a policy
	// needs beyond the least any policy could.
	overBound = metric{Key: "over_bound", Kind: kindBytes, Best: true, InTable: true}
)

// distance returns the utilization and over_bound of a run with a min
// capacity, against its workload's bound.
func distance(r *runrecord.Record, b bound) (util float64, over int64, ok bool) {
	if r.MinCapacity == nil || *r.MinCapacity <= 0 || !b.Known() {
		return 0, 0, false
	}
	return float64(b.Requested) / float64(*r.MinCapacity), *r.MinCapacity - b.Capacity, true
}

// derivedValue returns utilization or over_bound of r.
func derivedValue(r *runrecord.Record, m metric, b bound) (float64, bool) {
	util, over, ok := distance(r, b)
	if !ok {
		return 0, false
	}
	if m.Key == utilization.Key {
		return util, true
	}
	return float64(over), true
}

// boundTable is the suite-wide view of the distance to the bound: each
// workload's bound and every policy's utilization at min capacity.
type boundTable struct {
	Policies []boundPolicy
	Rows     []boundRow
}

type boundPolicy struct {
	Name    string
	Offline bool    // saw the workload ahead: marked, never ranked with online policies
	Mean    float64 // mean utilization over the workloads it has one for
	HasMean bool
}

type boundRow struct {
	Workload string
	Bound    bound
	Cells    []cell // utilization per policy; Best: the highest of the online policies
}

// boundsTable returns the distance-to-the-bound table, nil when no run has
// a min capacity.
func boundsTable(recs []*runrecord.Record) *boundTable {
	bs := bounds(recs)
	type key struct{ w, p string }
	sum, n := map[key]float64{}, map[key]int{}
	workloads, policies, offline := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, r := range recs {
		if r.Status != runrecord.StatusOK {
			continue
		}
		util, _, ok := distance(r, bs[r.Workload])
		if !ok {
			continue
		}
		k := key{r.Workload, r.Policy}
		sum[k] += util
		n[k]++
		workloads[r.Workload], policies[r.Policy] = true, true
		offline[r.Policy] = offline[r.Policy] || r.Offline
	}
	if len(n) == 0 {
		return nil
	}
	t := &boundTable{}
	for _, p := range sortedKeys(policies) {
		t.Policies = append(t.Policies, boundPolicy{Name: p, Offline: offline[p]})
	}
	counts := make([]int, len(t.Policies))
	for _, w := range sortedKeys(workloads) {
		row := boundRow{Workload: w, Bound: bs[w], Cells: make([]cell, len(t.Policies))}
		best := 0.0
		for i, p := range t.Policies {
			if c := n[key{w, p.Name}]; c > 0 {
				v := sum[key{w, p.Name}] / float64(c)
				row.Cells[i] = cell{Has: true, V: v}
				t.Policies[i].Mean += v
				counts[i]++
				if !p.Offline {
					best = max(best, v)
				}
			}
		}
		for i, p := range t.Policies {
			if c := &row.Cells[i]; c.Has && !p.Offline && c.V == best {
				c.Best = true
			}
		}
		t.Rows = append(t.Rows, row)
	}
	for i := range t.Policies {
		if counts[i] > 0 {
			t.Policies[i].Mean /= float64(counts[i])
			t.Policies[i].HasMean = true
		}
	}
	return t
}

// boundIntro explains the distance-to-the-bound table.
const boundIntro = "Utilization at min capacity: the workload's peak requested bytes / the policy's min capacity " +
	"(1 is the unreachable ideal; the least capacity, the rounded peak in 2 MiB steps, is the least any policy can run in). " +
	"Bold: the best online policy of the row. Policies marked offline see the whole workload before it runs: " +
	"a bound to aim at, not a rival of the online policies."

// boundSummary returns results.md's closing section, or "" without min
// capacities.
func boundSummary(recs []*runrecord.Record) string {
	t := boundsTable(recs)
	if t == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n## Distance to the bound\n\n" + boundIntro + "\n\n")
	b.WriteString("| workload | peak requested | least capacity |")
	for _, p := range t.Policies {
		name := mdEscape(p.Name)
		if p.Offline {
			name += " (*offline*)"
		}
		fmt.Fprintf(&b, " %s |", name)
	}
	b.WriteString("\n| --- | ---: | ---: |" + strings.Repeat(" ---: |", len(t.Policies)) + "\n")
	for _, row := range t.Rows {
		fmt.Fprintf(&b, "| %s | %s | %s |", mdEscape(row.Workload), units.Format(row.Bound.Requested), units.Format(row.Bound.Capacity))
		for _, c := range row.Cells {
			fmt.Fprintf(&b, " %s |", c.utilText(true))
		}
		b.WriteString("\n")
	}
	b.WriteString("| mean | | |")
	for _, p := range t.Policies {
		fmt.Fprintf(&b, " %s |", p.MeanText())
	}
	b.WriteString("\n")
	return b.String()
}

// UtilText is a utilization cell: "0.931", or "–".
func (c cell) UtilText() string { return c.utilText(false) }

// utilText is a utilization cell: "0.931", bold in markdown when best.
func (c cell) utilText(markdown bool) string {
	if !c.Has {
		return "–"
	}
	s := fmt.Sprintf("%.3f", c.V)
	if c.Best && markdown {
		s = "**" + s + "**"
	}
	return s
}

// MeanText is the policy's mean utilization, or "–".
func (p boundPolicy) MeanText() string {
	if !p.HasMean {
		return "–"
	}
	return fmt.Sprintf("%.3f", p.Mean)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
