package report

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"text/tabwriter"

	"github.com/fraglab/fraglab/internal/runrecord"
)

// Pair is one run matched across two result sets.
type Pair struct {
	A, B    *runrecord.Record
	ByIdent bool // matched by workload+policy+capacity+repeat, not by ID
}

// Match pairs the runs of a and b: first by ID, then the rest by workload,
// policy, capacity and repeat (when that identity is unique on both sides).
// It returns the pairs in Sorted order of their A run, and the runs found
// only in a and only in b.
func Match(a, b []*runrecord.Record) (pairs []Pair, onlyA, onlyB []*runrecord.Record) {
	byID := map[string]*runrecord.Record{}
	for _, r := range b {
		byID[r.ID] = r
	}
	usedB := map[*runrecord.Record]bool{}
	var restA []*runrecord.Record
	for _, r := range Sorted(a) {
		if m, ok := byID[r.ID]; ok && !usedB[m] {
			pairs = append(pairs, Pair{A: r, B: m})
			usedB[m] = true
		} else {
			restA = append(restA, r)
		}
	}
	ident := func(r *runrecord.Record) string {
		return fmt.Sprintf("%s\x00%s\x00%d\x00%d", r.Workload, r.Policy, r.Capacity, r.Repeat)
	}
	countA := map[string]int{}
	for _, r := range restA {
		countA[ident(r)]++
	}
	restB := map[string][]*runrecord.Record{}
	for _, r := range Sorted(b) {
		if !usedB[r] {
			restB[ident(r)] = append(restB[ident(r)], r)
		}
	}
	for _, r := range restA {
		k := ident(r)
		if countA[k] == 1 && len(restB[k]) == 1 {
			pairs = append(pairs, Pair{A: r, B: restB[k][0], ByIdent: true})
			usedB[restB[k][0]] = true
		} else {
			onlyA = append(onlyA, r)
		}
	}
	for _, r := range Sorted(b) {
		if !usedB[r] {
			onlyB = append(onlyB, r)
		}
	}
	order := map[*runrecord.Record]int{}
	for i, r := range Sorted(a) {
		order[r] = i
	}
	sort.SliceStable(pairs, func(i, j int) bool { return order[pairs[i].A] < order[pairs[j].A] })
	return pairs, onlyA, onlyB
}

func runName(r *runrecord.Record) string {
	return fmt.Sprintf("%s / %s / capacity %s / repeat %d", r.Workload, r.Policy, capText(r.Capacity), r.Repeat)
}

// Compare writes, for every run matched between a (before) and b (after),
// each metric's values and its absolute and relative change, then the runs
// present in only one set. ns_per_event is a timing metric and is expected
// to vary; elapsed_seconds is not compared.
func Compare(w io.Writer, a, b []*runrecord.Record) error {
	pairs, onlyA, onlyB := Match(a, b)
	fmt.Fprintf(w, "%d matched runs, %d only in A, %d only in B\n", len(pairs), len(onlyA), len(onlyB))
	all := append(append([]metric(nil), metrics...), minCapacity)
	for _, p := range pairs {
		fmt.Fprintf(w, "\n%s\n", runName(p.A))
		if p.A.ID == p.B.ID {
			fmt.Fprintf(w, "  id %s\n", p.A.ID)
		} else {
			fmt.Fprintf(w, "  id %s -> %s (matched by workload, policy, capacity, repeat)\n", p.A.ID, p.B.ID)
		}
		if p.A.Status != p.B.Status {
			fmt.Fprintf(w, "  status %s -> %s\n", p.A.Status, p.B.Status)
		}
		for _, x := range []struct {
			side string
			r    *runrecord.Record
		}{{"A", p.A}, {"B", p.B}} {
			if x.r.Status != runrecord.StatusOK {
				fmt.Fprintf(w, "  %s failed: %s\n", x.side, oneLine(x.r.Error))
			}
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "  metric\tA\tB\tchange\trelative\t\n")
		rows := 0
		for _, m := range all {
			va, oka := value(p.A, m)
			vb, okb := value(p.B, m)
			if !oka && !okb {
				continue
			}
			rows++
			sa, sb := "–", "–"
			if oka {
				sa = formatValue(m, va)
			}
			if okb {
				sb = formatValue(m, vb)
			}
			abs, rel := "", ""
			if oka && okb {
				abs = formatDelta(m, vb-va)
				rel = formatRel(va, vb)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t\n", m.Key, sa, sb, abs, rel)
		}
		if rows > 0 {
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}
	for _, x := range []struct {
		name string
		rs   []*runrecord.Record
	}{{"A", onlyA}, {"B", onlyB}} {
		if len(x.rs) == 0 {
			continue
		}
		fmt.Fprintf(w, "\nonly in %s:\n", x.name)
		for _, r := range x.rs {
			fmt.Fprintf(w, "  %s (id %s, %s)\n", runName(r), r.ID, r.Status)
		}
	}
	return nil
}

func formatDelta(m metric, d float64) string {
	if d == 0 {
		return "0"
	}
	s := formatValue(m, d)
	if d > 0 {
		s = "+" + s
	}
	return s
}

func formatRel(a, b float64) string {
	switch {
	case a == b:
		return "0.0%"
	case a == 0:
		return "n/a"
	}
	r := (b - a) / math.Abs(a) * 100
	s := strconv.FormatFloat(r, 'f', 1, 64) + "%"
	if r > 0 {
		s = "+" + s
	}
	return s
}
