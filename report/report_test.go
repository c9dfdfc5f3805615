package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/internal/runrecord"
	"github.com/fraglab/fraglab/replay"
)

const mib = 1 << 20

func i64(v int64) *int64 { return &v }

func tl(n int, res, alloc int64) *runrecord.Timeline {
	t := &runrecord.Timeline{}
	for i := 0; i < n; i++ {
		t.Event = append(t.Event, int64(i*10))
		t.Reserved = append(t.Reserved, res*int64(i+1)/int64(n))
		t.Allocated = append(t.Allocated, alloc*int64(i+1)/int64(n))
		t.Requested = append(t.Requested, alloc*int64(i+1)/int64(n)-1)
	}
	return t
}

func met(res, alloc int64, ooms int64) *replay.Metrics {
	return &replay.Metrics{PeakReserved: res, PeakAllocated: alloc, PeakRequested: alloc - mib,
		FragRatio: 1 - float64(alloc)/float64(res), Waste: res - alloc, ExtFrag: 0.25, OOMs: ooms, FirstOOM: -1,
		SegmentAllocs: 4, SegmentFrees: 1, Events: 1000, NsPerEvent: 120.5}
}

// testRecords: two workloads; pytorch, expandable and bestfit; one failed run.
// Given out of order, so sorting is exercised.
func testRecords() []*runrecord.Record {
	return []*runrecord.Record{
		{ID: "c3", Experiment: "e", Workload: "wl-b", Policy: "bestfit", PolicyModule: "bestfit", Device: "sim",
			Status: runrecord.StatusFailed, Error: "policy trapped:\nunreachable", ElapsedSeconds: 0.1},
		{ID: "a1", Experiment: "e", Workload: "wl-a", Policy: "pytorch", PolicyModule: "pytorch", PolicyHash: "h1",
			Params: map[string]string{"k": "v", "a": "b"}, Device: "sim", Status: runrecord.StatusOK,
			Metrics: met(100*mib, 80*mib, 0), MinCapacity: i64(96 * mib), Timeline: tl(20, 100*mib, 80*mib), ElapsedSeconds: 1.5},
		{ID: "a2", Experiment: "e", Workload: "wl-a", Policy: "expandable", PolicyModule: "expandable", Device: "sim",
			Status: runrecord.StatusOK, Metrics: met(90*mib, 80*mib, 0), MinCapacity: i64(88 * mib),
			Timeline: tl(20, 90*mib, 80*mib), ElapsedSeconds: 2.5},
		{ID: "b1", Experiment: "e", Workload: "wl-b", Policy: "pytorch", PolicyModule: "pytorch", Device: "sim",
			Status: runrecord.StatusOK, Metrics: met(50*mib, 25*mib, 2), Timeline: tl(10, 50*mib, 25*mib),
			FirstOOMReport: &host.OOMReport{Event: 7, Rounded: 20 * mib, Reserved: 48 * mib, Allocated: 30 * mib, Cached: 18 * mib,
				CachedTooSmall: 18 * mib, LargestFree: 6 * mib, DeviceFree: 2 * mib},
			SegmentMap: testMap(7, true)},
		{ID: "b2", Experiment: "e", Workload: "wl-b", Policy: "expandable", PolicyModule: "expandable", Device: "sim",
			Status: runrecord.StatusOK, Metrics: met(60*mib, 25*mib, 1), Timeline: tl(10, 60*mib, 25*mib),
			BaselineMap: testMap(7, false)},
	}
}

func writeTest(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := Write(dir, testRecords()); err != nil {
		t.Fatal(err)
	}
	return dir
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestJSON(t *testing.T) {
	dir := writeTest(t)
	var rows []map[string]any
	if err := json.Unmarshal([]byte(read(t, dir, JSONFile)), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 {
		t.Fatalf("%d rows, want 5", len(rows))
	}
	var order []string
	for _, r := range rows {
		order = append(order, r["id"].(string))
	}
	if got := strings.Join(order, ","); got != "a2,a1,c3,b2,b1" {
		t.Errorf("order %s, want a2,a1,c3,b2,b1 (workload, policy, capacity, repeat)", got)
	}
	ok := rows[1] // wl-a pytorch
	for _, k := range append(MetricKeys(), "workload", "policy", "params", "device", "capacity", "status", "elapsed_seconds") {
		if _, has := ok[k]; !has {
			t.Errorf("ok row has no %q", k)
		}
	}
	if ok["peak_reserved"].(float64) != 100*mib || ok["min_capacity"].(float64) != 96*mib {
		t.Errorf("metrics not flattened: %v", ok)
	}
	if _, has := ok["timeline"]; has {
		t.Error("results.json should not carry timelines")
	}
	failed := rows[2]
	if failed["status"] != "failed" || !strings.Contains(failed["error"].(string), "trapped") {
		t.Errorf("failed row: %v", failed)
	}
	for _, k := range []string{"peak_reserved", "min_capacity", "metrics"} {
		if _, has := failed[k]; has {
			t.Errorf("failed row has %q", k)
		}
	}
}

func TestCSV(t *testing.T) {
	dir := writeTest(t)
	rows, err := csv.NewReader(strings.NewReader(read(t, dir, CSVFile))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 {
		t.Fatalf("%d rows, want header + 5", len(rows))
	}
	h := rows[0]
	col := map[string]int{}
	for i, k := range h {
		col[k] = i
	}
	for _, k := range append(MetricKeys(), "workload", "policy", "params", "status", "error") {
		if _, ok := col[k]; !ok {
			t.Errorf("no column %q", k)
		}
	}
	if r := rows[2]; r[col["id"]] != "a1" || r[col["peak_reserved"]] != "104857600" || r[col["params"]] != "a=b;k=v" ||
		r[col["frag_ratio"]] != "0.19999999999999996" && r[col["frag_ratio"]] != "0.2" {
		t.Errorf("row a1: %v", r)
	}
	if r := rows[3]; r[col["status"]] != "failed" || r[col["peak_reserved"]] != "" || !strings.Contains(r[col["error"]], "unreachable") {
		t.Errorf("failed row: %v", r)
	}
}

func TestMarkdownBoldAndRatio(t *testing.T) {
	md := Markdown(testRecords())
	for _, want := range []string{
		"## wl-a\n",
		"## wl-b\n",
		"| policy | runs | peak_reserved |",
		// expandable reserves less than pytorch on wl-a: bold, 0.90× of pytorch.
		"| expandable | 1 | **90.0 MiB** (0.90×) |",
		"| pytorch | 1 | 100.0 MiB |",
		// On wl-b pytorch is best: bold without a ratio; expandable 1.20×.
		"| pytorch | 1 | **50.0 MiB** |",
		"| expandable | 1 | 60.0 MiB (1.20×) |",
		// min_capacity column only where present; bold lowest.
		"**88.0 MiB** (0.92×) |",
		// ooms: lower is better.
		"| **1** (0.50×) |",
		"Failed runs:",
		"- bestfit (repeat 0, capacity unlimited, id c3): policy trapped: unreachable",
		// the first OOM of the run that had one, under its table
		"First OOM of each run with one",
		"- pytorch (repeat 0): event 7, 20.0 MiB asked: 18.0 MiB cached (largest free block 6.0 MiB), 2.0 MiB free on the device: fragmentation, most of the cached bytes in blocks too small\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q\n%s", want, md)
		}
	}
	// wl-b has no min_capacity.
	wlb := md[strings.Index(md, "## wl-b"):strings.Index(md, "## Distance to the bound")]
	if strings.Contains(wlb, "min_capacity") {
		t.Errorf("wl-b table has a min_capacity column:\n%s", wlb)
	}
	// Ties are all bold (ext_frag is 0.25 everywhere).
	if n := strings.Count(md, "**0.2500**"); n != 4 {
		t.Errorf("%d bold ext_frag ties, want 4\n%s", n, md)
	}
}

// TestMarkdownPrivatePoolColumn: peak_private_reserved is a column only
// of the tables where a run used private pools.
func TestMarkdownPrivatePoolColumn(t *testing.T) {
	pools := met(100*mib, 80*mib, 0)
	pools.PeakPrivateReserved = 6 * mib
	none := met(90*mib, 80*mib, 0) // a policy whose run reserved no pool bytes: 0, not "–"
	recs := []*runrecord.Record{
		{ID: "1", Workload: "graphs", Policy: "pytorch", Status: "ok", Metrics: pools},
		{ID: "2", Workload: "graphs", Policy: "other", Status: "ok", Metrics: none},
		{ID: "3", Workload: "plain", Policy: "pytorch", Status: "ok", Metrics: met(10*mib, 5*mib, 0)},
	}
	md := Markdown(recs)
	graphs, plain := md[strings.Index(md, "## graphs"):strings.Index(md, "## plain")], md[strings.Index(md, "## plain"):]
	for _, want := range []string{
		"| policy | runs | peak_reserved | peak_allocated | peak_private_reserved | frag_ratio |",
		"| other | 1 | **90.0 MiB** (0.90×) | **80.0 MiB** (1.00×) | **0 B** (0.00×) |",
		"| pytorch | 1 | 100.0 MiB | **80.0 MiB** | 6.0 MiB |",
	} {
		if !strings.Contains(graphs, want) {
			t.Errorf("graphs table lacks %q\n%s", want, graphs)
		}
	}
	if strings.Contains(plain, "peak_private_reserved") {
		t.Errorf("a table without private pools has a peak_private_reserved column:\n%s", plain)
	}
	csv, err := CSV(recs)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(csv), ",peak_requested,peak_rounded,peak_private_reserved,frag_ratio,") || !strings.Contains(string(csv), ","+strconv.Itoa(6*mib)+",") {
		t.Errorf("results.csv lacks the peak_private_reserved column or value:\n%s", csv)
	}
}

func TestMarkdownRepeatsAndCapacities(t *testing.T) {
	recs := []*runrecord.Record{
		{ID: "1", Workload: "w", Policy: "p", Capacity: 0, Status: "ok", Metrics: met(10*mib, 5*mib, 0)},
		{ID: "2", Workload: "w", Policy: "p", Capacity: 0, Repeat: 1, Status: "ok", Metrics: met(20*mib, 5*mib, 0)},
		{ID: "3", Workload: "w", Policy: "p", Capacity: 64 * mib, Status: "ok", Metrics: met(30*mib, 5*mib, 0)},
	}
	md := Markdown(recs)
	for _, want := range []string{"## w (capacity unlimited)", "## w (capacity 64.0 MiB)", "| p | 2 | 15.0 MiB |", "| p | 1 | 30.0 MiB |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q\n%s", want, md)
		}
	}
	// A single row is never bold.
	if strings.Contains(md, "**") {
		t.Errorf("single-row tables have bold values:\n%s", md)
	}
}

func TestHTMLSelfContainedWithSeries(t *testing.T) {
	html := read(t, writeTest(t), HTMLFile)
	for _, bad := range []string{"<script", "<link", "src=", "@import", "url(", "http://", "https://"} {
		s := strings.ReplaceAll(html, `xmlns="http://www.w3.org/2000/svg"`, "")
		s = strings.ReplaceAll(s, "url(#", "") // a reference inside the page (the segment maps' hatching)
		if strings.Contains(s, bad) {
			t.Errorf("report.html contains %q: not self-contained", bad)
		}
	}
	// Two workloads × two policies with timelines × reserved and allocated.
	series := regexp.MustCompile(`<path class="series" data-workload="([^"]+)" data-policy="([^"]+)" data-series="(reserved|allocated)" d="M`).FindAllStringSubmatch(html, -1)
	if len(series) != 8 {
		t.Errorf("%d timeline series, want 8", len(series))
	}
	if !strings.Contains(html, `data-workload="wl-a" data-policy="pytorch" data-series="allocated"`) {
		t.Error("no wl-a pytorch allocated series")
	}
	bars := func(metric string) int {
		return len(regexp.MustCompile(`<rect class="bar" [^>]*data-metric="`+metric+`"`).FindAllString(html, -1))
	}
	if n := bars("peak_reserved"); n != 4 {
		t.Errorf("%d peak_reserved bars, want 4", n)
	}
	if n := bars("frag_ratio"); n != 4 {
		t.Errorf("%d frag_ratio bars, want 4", n)
	}
	if n := bars("min_capacity"); n != 2 {
		t.Errorf("%d min_capacity bars, want 2 (wl-a only)", n)
	}
	for _, want := range []string{"<strong>90.0 MiB</strong>", "(0.90×)", "policy trapped: unreachable", `<table class="results">`,
		`<ul class="ooms">`, "pytorch (repeat 0): event 7, 20.0 MiB asked"} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}

func TestDeterministic(t *testing.T) {
	a, b := writeTest(t), t.TempDir()
	recs := testRecords()
	// Reverse the input order: output must not depend on it.
	for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 {
		recs[i], recs[j] = recs[j], recs[i]
	}
	if err := Write(b, recs); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{JSONFile, CSVFile, MarkdownFile, HTMLFile} {
		if read(t, a, f) != read(t, b, f) {
			t.Errorf("%s differs between runs", f)
		}
	}
}

func TestEmpty(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, nil); err != nil {
		t.Fatal(err)
	}
	if got := read(t, dir, JSONFile); got != "[]\n" {
		t.Errorf("results.json of no runs = %q", got)
	}
}

func TestCompare(t *testing.T) {
	a := testRecords()
	b := testRecords()
	// b2 got better; b1 has a new ID (matched by identity); a2 dropped; new run added.
	b[4].Metrics = met(55*mib, 25*mib, 0)
	b[3].ID = "b1-new"
	b = append(b[:2], b[3:]...) // drop a2
	b = append(b, &runrecord.Record{ID: "d1", Workload: "wl-c", Policy: "pytorch", Status: "ok", Metrics: met(mib, mib, 0)})
	var out bytes.Buffer
	if err := Compare(&out, a, b); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"4 matched runs, 1 only in A, 1 only in B",
		"wl-b / expandable / capacity unlimited / repeat 0",
		"id b1 -> b1-new (matched by workload, policy, capacity, repeat)",
		"A failed: policy trapped: unreachable",
		"only in A:\n  wl-a / expandable / capacity unlimited / repeat 0 (id a2, ok)",
		"only in B:\n  wl-c / pytorch / capacity unlimited / repeat 0 (id d1, ok)",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("compare output lacks %q\n%s", want, s)
		}
	}
	// peak_reserved 60 -> 55 MiB: -5 MiB, -8.3%.
	if !regexp.MustCompile(`peak_reserved +60\.0 MiB +55\.0 MiB +-5\.0 MiB +-8\.3%`).MatchString(s) {
		t.Errorf("no peak_reserved change line\n%s", s)
	}
	if !regexp.MustCompile(`ooms +1 +0 +-1 +-100\.0%`).MatchString(s) {
		t.Errorf("no ooms change line\n%s", s)
	}
}

// TestTimelineLegendFits: with many policies (the suite has 11) every
// legend entry stays inside the chart, wrapping into rows, and every
// policy gets its own colour.
func TestTimelineLegendFits(t *testing.T) {
	var recs []*runrecord.Record
	for i := range 11 {
		p := fmt.Sprintf("a-rather-long-policy-name-%02d", i)
		recs = append(recs, &runrecord.Record{ID: p, Workload: "w", Policy: p, Status: runrecord.StatusOK,
			Metrics: met(100*mib, 80*mib, 0), Timeline: tl(10, 100*mib, 80*mib)})
	}
	colors := policyColors(recs)
	svg := timelineChart("w", recs, colors)
	seen := map[string]bool{}
	for _, c := range colors {
		seen[c] = true
	}
	if len(seen) != 11 {
		t.Errorf("%d distinct colours for 11 policies", len(seen))
	}
	height, _ := strconv.ParseFloat(regexp.MustCompile(`height="(\d+)"`).FindStringSubmatch(svg)[1], 64)
	texts := regexp.MustCompile(`<text x="([\d.]+)" y="([\d.]+)" font-size="12" fill="#333">(a-rather[^<]*)</text>`).FindAllStringSubmatch(svg, -1)
	if len(texts) != 11 {
		t.Fatalf("%d legend entries, want 11", len(texts))
	}
	rows := map[string]bool{}
	for _, m := range texts {
		x, _ := strconv.ParseFloat(m[1], 64)
		y, _ := strconv.ParseFloat(m[2], 64)
		if end := x + 7*float64(len(m[3])); end > chartW || y > height {
			t.Errorf("legend entry %s at (%.0f, %.0f) ends at %.0f: outside the %d×%.0f chart", m[3], x, y, end, chartW, height)
		}
		rows[m[2]] = true
	}
	if len(rows) < 2 {
		t.Errorf("legend in %d row(s); 11 long names need several", len(rows))
	}
}
