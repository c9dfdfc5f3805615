// Package report turns run records (runrecord.Record) into result files:
// results.json, results.csv, results.md and a self-contained report.html
// with inline SVG charts, and compares two result sets.
package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"github.com/fraglab/fraglab/internal/atomicfile"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/fraglab/fraglab/internal/runrecord"
	"github.com/fraglab/fraglab/internal/units"
	"github.com/fraglab/fraglab/replay"
)

// Output file names written by Write.
const (
	JSONFile     = "results.json"
	CSVFile      = "results.csv"
	MarkdownFile = "results.md"
	HTMLFile     = "report.html"
)

// Baseline is the policy label that other policies are compared against.
const Baseline = runrecord.Baseline

// Metric kinds decide formatting and whether lower is better.
type kind int

const (
	kindBytes kind = iota
	kindRatio
	kindCount
	kindIndex
	kindNs
)

// metric is one key of replay.Metrics (docs/metrics.md).
type metric struct {
	Key  string
	Kind kind
	// Best: lower is better and the markdown table bolds the lowest value.
	Best bool
	// InTable: shown as a column of results.md (not timings: they differ
	// between reruns, and committed tables must reproduce).
	InTable bool
	// IfAny: in a table only when one of its runs has a value other than
	// 0 (peak_private_reserved: most workloads use no private pool).
	IfAny bool
	get   func(m *replay.Metrics) float64
	// Higher: higher is better (utilization): the table bolds the highest.
	Higher bool
}

// metrics lists every key of replay.Metrics, in its JSON order.
var metrics = []metric{
	{"peak_reserved", kindBytes, true, true, false, func(m *replay.Metrics) float64 { return float64(m.PeakReserved) }, false},
	{"peak_allocated", kindBytes, true, true, false, func(m *replay.Metrics) float64 { return float64(m.PeakAllocated) }, false},
	{"peak_requested", kindBytes, false, false, false, func(m *replay.Metrics) float64 { return float64(m.PeakRequested) }, false},
	{"peak_rounded", kindBytes, false, false, false, func(m *replay.Metrics) float64 { return float64(m.PeakRounded) }, false},
	{"peak_private_reserved", kindBytes, true, true, true, func(m *replay.Metrics) float64 { return float64(m.PeakPrivateReserved) }, false},
	{"frag_ratio", kindRatio, true, true, false, func(m *replay.Metrics) float64 { return m.FragRatio }, false},
	{"waste", kindBytes, true, true, false, func(m *replay.Metrics) float64 { return float64(m.Waste) }, false},
	{"ext_frag", kindRatio, true, true, false, func(m *replay.Metrics) float64 { return m.ExtFrag }, false},
	{"ooms", kindCount, true, true, false, func(m *replay.Metrics) float64 { return float64(m.OOMs) }, false},
	{"first_oom", kindIndex, false, false, false, func(m *replay.Metrics) float64 { return float64(m.FirstOOM) }, false},
	{"segment_allocs", kindCount, false, true, false, func(m *replay.Metrics) float64 { return float64(m.SegmentAllocs) }, false},
	{"segment_frees", kindCount, false, false, false, func(m *replay.Metrics) float64 { return float64(m.SegmentFrees) }, false},
	{"segment_maps", kindCount, false, true, false, func(m *replay.Metrics) float64 { return float64(m.SegmentMaps) }, false},
	{"segment_unmaps", kindCount, false, false, false, func(m *replay.Metrics) float64 { return float64(m.SegmentUnmaps) }, false},
	{"events", kindCount, false, false, false, func(m *replay.Metrics) float64 { return float64(m.Events) }, false},
	{"ns_per_event", kindNs, true, false, false, func(m *replay.Metrics) float64 { return m.NsPerEvent }, false},
}

// minCapacity is the pseudo-metric of Record.MinCapacity (bytes, lower is better).
var minCapacity = metric{Key: "min_capacity", Kind: kindBytes, Best: true, InTable: true}

// MetricKeys returns every metric column name, in output order
// (the replay.Metrics keys, then min_capacity).
func MetricKeys() []string {
	var out []string
	for _, m := range metrics {
		out = append(out, m.Key)
	}
	return append(out, minCapacity.Key)
}

// value returns metric m of r, false when r has none.
func value(r *runrecord.Record, m metric) (float64, bool) {
	if m.Key == minCapacity.Key {
		if r.MinCapacity == nil {
			return 0, false
		}
		return float64(*r.MinCapacity), true
	}
	if r.Metrics == nil {
		return 0, false
	}
	return m.get(r.Metrics), true
}

// Sorted returns recs ordered by workload, policy, capacity, repeat, then ID.
// recs itself is not modified.
func Sorted(recs []*runrecord.Record) []*runrecord.Record {
	out := append([]*runrecord.Record(nil), recs...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Workload != b.Workload {
			return a.Workload < b.Workload
		}
		if a.Policy != b.Policy {
			return a.Policy < b.Policy
		}
		if a.Capacity != b.Capacity {
			return a.Capacity < b.Capacity
		}
		if a.Repeat != b.Repeat {
			return a.Repeat < b.Repeat
		}
		return a.ID < b.ID
	})
	return out
}

// Result is one flattened row of results.json: the record's identity,
// every metric key as a top-level field (absent for failed runs), and
// min_capacity when present. ElapsedSeconds is a timing field: readers
// comparing result sets must ignore it. Where a run ran (Record.Shard) is
// not a result: a merged sweep's rows equal an unsharded run's.
type Result struct {
	ID           string            `json:"id"`
	Experiment   string            `json:"experiment"`
	Workload     string            `json:"workload"`
	Policy       string            `json:"policy"`
	PolicyModule string            `json:"policy_module"`
	PolicyHash   string            `json:"policy_hash"`
	Params       map[string]string `json:"params"`
	Device       string            `json:"device"`
	Capacity     int64             `json:"capacity"`
	Repeat       int               `json:"repeat"`
	Status       string            `json:"status"`
	Error        string            `json:"error,omitempty"`
	*replay.Metrics
	MinCapacity *int64 `json:"min_capacity,omitempty"`
	// Utilization and OverBound are the distance of min_capacity to the
	// workload's bound (docs/metrics.md "The bound"); with min_capacity only.
	Utilization *float64 `json:"utilization,omitempty"`
	OverBound   *int64   `json:"over_bound,omitempty"`
	// Offline marks a policy that saw the workload ahead (a planner).
	Offline        bool    `json:"offline,omitempty"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
}

// Flatten returns the rows of results.json, sorted as Sorted.
func Flatten(recs []*runrecord.Record) []Result {
	var out []Result
	bs := bounds(recs)
	for _, r := range Sorted(recs) {
		params := r.Params
		if params == nil {
			params = map[string]string{}
		}
		out = append(out, Result{
			ID: r.ID, Experiment: r.Experiment, Workload: r.Workload, Policy: r.Policy,
			PolicyModule: r.PolicyModule, PolicyHash: r.PolicyHash, Params: params,
			Device: r.Device, Capacity: r.Capacity, Repeat: r.Repeat, Status: r.Status,
			Error: r.Error, Metrics: r.Metrics, MinCapacity: r.MinCapacity,
			Offline: r.Offline, ElapsedSeconds: r.ElapsedSeconds,
		})
		if util, over, ok := distance(r, bs[r.Workload]); ok && r.Status == runrecord.StatusOK {
			out[len(out)-1].Utilization, out[len(out)-1].OverBound = &util, &over
		}
	}
	if out == nil {
		out = []Result{}
	}
	return out
}

// Write writes results.json, results.csv, results.md and report.html for
// recs into outDir (created if needed). The same records always give the
// same bytes.
func Write(outDir string, recs []*runrecord.Record) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	files := []struct {
		name string
		gen  func([]*runrecord.Record) ([]byte, error)
	}{
		{JSONFile, JSON},
		{CSVFile, CSV},
		{MarkdownFile, func(r []*runrecord.Record) ([]byte, error) { return []byte(Markdown(r)), nil }},
		{HTMLFile, HTML},
	}
	for _, f := range files {
		b, err := f.gen(recs)
		if err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		if err := atomicfile.Write(filepath.Join(outDir, f.name), b); err != nil {
			return err
		}
	}
	return nil
}

// JSON returns the bytes of results.json.
func JSON(recs []*runrecord.Record) ([]byte, error) {
	b, err := json.MarshalIndent(Flatten(recs), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// CSVHeader is the header row of results.csv: the results.json fields, in
// order; params is "k=v" pairs sorted by key and joined by ";".
func CSVHeader() []string {
	h := []string{"id", "experiment", "workload", "policy", "policy_module", "policy_hash", "params",
		"device", "capacity", "repeat", "status", "error"}
	h = append(h, MetricKeys()...)
	return append(h, "elapsed_seconds")
}

// CSV returns the bytes of results.csv.
func CSV(recs []*runrecord.Record) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write(CSVHeader()); err != nil {
		return nil, err
	}
	for _, r := range Sorted(recs) {
		row := []string{r.ID, r.Experiment, r.Workload, r.Policy, r.PolicyModule, r.PolicyHash,
			joinParams(r.Params), r.Device, strconv.FormatInt(r.Capacity, 10), strconv.Itoa(r.Repeat),
			r.Status, r.Error}
		for _, m := range append(append([]metric(nil), metrics...), minCapacity) {
			v, ok := value(r, m)
			switch {
			case !ok:
				row = append(row, "")
			case m.Kind == kindRatio || m.Kind == kindNs:
				row = append(row, strconv.FormatFloat(v, 'g', -1, 64))
			default:
				row = append(row, strconv.FormatInt(int64(v), 10))
			}
		}
		row = append(row, strconv.FormatFloat(r.ElapsedSeconds, 'g', -1, 64))
		if err := w.Write(row); err != nil {
			return nil, err
		}
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

func joinParams(p map[string]string) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+p[k])
	}
	return strings.Join(parts, ";")
}

// formatValue prints v of metric m for a human.
func formatValue(m metric, v float64) string {
	switch m.Kind {
	case kindBytes:
		return units.Format(int64(math.Round(v)))
	case kindRatio:
		return strconv.FormatFloat(v, 'f', 4, 64)
	case kindNs:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		if v == math.Trunc(v) {
			return strconv.FormatInt(int64(v), 10)
		}
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
}
