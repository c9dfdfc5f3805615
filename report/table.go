package report

import (
	"fmt"
	"sort"
	"strings"

	"github.com/fraglab/fraglab/internal/oomreport"
	"github.com/fraglab/fraglab/internal/runrecord"
	"github.com/fraglab/fraglab/internal/units"
)

// table is one comparison table: the runs of one workload at one capacity,
// one row per policy (the mean over its ok repeats).
type table struct {
	Workload string
	Capacity int64
	ShowCap  bool // the workload has runs at several capacities
	Columns  []metric
	Rows     []tableRow
	Failed   []*runrecord.Record
	OOMs     []oomLine // ok runs that had an OOM, with its explanation
	Bound    bound     // the workload's physical limit
	// Maps is the segment maps drawn at the baseline's first OOM (HTML
	// only); nil without one.
	Maps *mapPair
}

// oomLine is a run's first OOM, in one line.
type oomLine struct {
	Policy  string
	Repeat  int
	Summary string
}

type tableRow struct {
	Policy  string
	N       int  // ok repeats averaged
	Offline bool // the policy saw the workload ahead (a planner)
	Cells   []cell
}

type cell struct {
	Has   bool
	V     float64
	Best  bool    // the best value of its column (ties all best)
	Ratio float64 // V / baseline's V; 0 when none
}

// Title names the table.
func (t *table) Title() string {
	if t.ShowCap {
		return fmt.Sprintf("%s (capacity %s)", t.Workload, capText(t.Capacity))
	}
	return t.Workload
}

func capText(c int64) string {
	if c == 0 {
		return "unlimited"
	}
	return units.Format(c)
}

// Text is the cell's value, formatted for metric m.
func (c cell) Text(m metric) string {
	if !c.Has {
		return "–"
	}
	return formatValue(m, c.V)
}

// RatioText is "0.93×" or "".
func (c cell) RatioText() string {
	if c.Ratio == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f×", c.Ratio)
}

// tables groups recs into tables, by workload then capacity.
func tables(recs []*runrecord.Record) []*table {
	type key struct {
		w string
		c int64
	}
	groups := map[key][]*runrecord.Record{}
	caps := map[string]map[int64]bool{}
	var keys []key
	for _, r := range Sorted(recs) {
		k := key{r.Workload, r.Capacity}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
		if caps[r.Workload] == nil {
			caps[r.Workload] = map[int64]bool{}
		}
		caps[r.Workload][r.Capacity] = true
	}
	var out []*table
	bs := bounds(recs)
	for _, k := range keys {
		out = append(out, buildTable(k.w, k.c, len(caps[k.w]) > 1, groups[k], bs[k.w]))
	}
	return out
}

// anyNonzero reports whether an ok run of recs has a value of m other than 0.
func anyNonzero(recs []*runrecord.Record, m metric) bool {
	for _, r := range recs {
		if v, ok := value(r, m); ok && r.Status == runrecord.StatusOK && v != 0 {
			return true
		}
	}
	return false
}

func buildTable(workload string, capacity int64, showCap bool, recs []*runrecord.Record, b bound) *table {
	t := &table{Workload: workload, Capacity: capacity, ShowCap: showCap, Bound: b}
	hasMin := false
	for _, r := range recs {
		if r.MinCapacity != nil {
			hasMin = true
		}
	}
	for _, m := range metrics {
		if m.InTable && (!m.IfAny || anyNonzero(recs, m)) {
			t.Columns = append(t.Columns, m)
		}
	}
	if hasMin {
		t.Columns = append(t.Columns, minCapacity)
		if b.Known() {
			t.Columns = append(t.Columns, utilization, overBound)
		}
	}
	byPolicy := map[string][]*runrecord.Record{}
	var policies []string
	for _, r := range recs {
		if r.Status != runrecord.StatusOK {
			t.Failed = append(t.Failed, r)
			continue
		}
		if _, ok := byPolicy[r.Policy]; !ok {
			policies = append(policies, r.Policy)
		}
		byPolicy[r.Policy] = append(byPolicy[r.Policy], r)
		if o := r.FirstOOMReport; o != nil {
			t.OOMs = append(t.OOMs, oomLine{r.Policy, r.Repeat, oomreport.Summary(*o)})
		}
	}
	sort.Strings(policies)
	for _, p := range policies {
		row := tableRow{Policy: p, N: len(byPolicy[p]), Offline: byPolicy[p][0].Offline}
		for _, m := range t.Columns {
			var sum float64
			n := 0
			for _, r := range byPolicy[p] {
				var v float64
				var ok bool
				if m.Key == utilization.Key || m.Key == overBound.Key {
					v, ok = derivedValue(r, m, b)
				} else {
					v, ok = value(r, m)
				}
				if ok {
					sum += v
					n++
				}
			}
			c := cell{}
			if n > 0 {
				c = cell{Has: true, V: sum / float64(n)}
			}
			row.Cells = append(row.Cells, c)
		}
		t.Rows = append(t.Rows, row)
	}
	// Best values (only meaningful with two or more rows) and baseline ratios.
	base := -1
	for i, row := range t.Rows {
		if row.Policy == Baseline {
			base = i
		}
	}
	for j, m := range t.Columns {
		if !m.Best && !m.Higher {
			continue
		}
		if len(t.Rows) > 1 {
			best, found := 0.0, false
			for _, row := range t.Rows {
				if c := row.Cells[j]; c.Has && (!found || (m.Higher && c.V > best) || (!m.Higher && c.V < best)) {
					best, found = c.V, true
				}
			}
			for i := range t.Rows {
				if c := &t.Rows[i].Cells[j]; c.Has && c.V == best {
					c.Best = true
				}
			}
		}
		if m.Higher {
			continue // a ratio of utilizations says nothing the values do not
		}
		if base >= 0 && t.Rows[base].Cells[j].Has && t.Rows[base].Cells[j].V > 0 {
			bv := t.Rows[base].Cells[j].V
			for i := range t.Rows {
				if c := &t.Rows[i].Cells[j]; i != base && c.Has {
					c.Ratio = c.V / bv
					if c.Ratio == 0 {
						c.Ratio = 1e-9 // keep "0.00×" visible for a zero value
					}
				}
			}
		}
	}
	return t
}

// Markdown returns the bytes of results.md: one table per workload (and
// capacity), policies as rows, metrics as columns; the best value of each
// lower-is-better column in bold, each value's ratio to the pytorch row in
// parentheses, and failed runs listed with their error.
func Markdown(recs []*runrecord.Record) string {
	var b strings.Builder
	b.WriteString("# Results\n\n")
	ok, failed := 0, 0
	for _, r := range recs {
		if r.Status == runrecord.StatusOK {
			ok++
		} else {
			failed++
		}
	}
	fmt.Fprintf(&b, "%d runs: %d ok, %d failed. Bold: best value of the column (the lowest; the highest utilization). "+
		"(×): ratio to the `%s` row. Values are means over repeats.\n", len(recs), ok, failed, Baseline)
	for _, t := range tables(recs) {
		fmt.Fprintf(&b, "\n## %s\n\n", mdEscape(t.Title()))
		if t.Bound.Known() {
			b.WriteString(t.Bound.Text() + "\n\n")
		}
		if len(t.Rows) > 0 {
			b.WriteString("| policy | runs |")
			for _, m := range t.Columns {
				fmt.Fprintf(&b, " %s |", m.Key)
			}
			b.WriteString("\n| --- | ---: |")
			for range t.Columns {
				b.WriteString(" ---: |")
			}
			b.WriteString("\n")
			for _, row := range t.Rows {
				name := mdEscape(row.Policy)
				if row.Offline {
					name += " (*offline*)"
				}
				fmt.Fprintf(&b, "| %s | %d |", name, row.N)
				for j, m := range t.Columns {
					c := row.Cells[j]
					s := c.Text(m)
					if c.Best {
						s = "**" + s + "**"
					}
					if r := c.RatioText(); r != "" {
						s += " (" + r + ")"
					}
					fmt.Fprintf(&b, " %s |", s)
				}
				b.WriteString("\n")
			}
		}
		if len(t.OOMs) > 0 {
			b.WriteString("\nFirst OOM of each run with one (where the reserved memory was: `fraglab replay` explains it in full):\n\n")
			for _, o := range t.OOMs {
				fmt.Fprintf(&b, "- %s (repeat %d): %s\n", mdEscape(o.Policy), o.Repeat, mdEscape(o.Summary))
			}
		}
		if len(t.Failed) > 0 {
			b.WriteString("\nFailed runs:\n\n")
			for _, r := range t.Failed {
				fmt.Fprintf(&b, "- %s (repeat %d, capacity %s, id %s): %s\n", mdEscape(r.Policy), r.Repeat,
					capText(r.Capacity), r.ID, mdEscape(oneLine(r.Error)))
			}
		}
	}
	b.WriteString(boundSummary(recs))
	return b.String()
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return "(no error message)"
	}
	return strings.Join(strings.Fields(s), " ")
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "*", `\*`, "_", `\_`).Replace(s)
}
