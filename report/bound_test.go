package report

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/internal/runrecord"
	"github.com/fraglab/fraglab/replay"
)

// boundRecord is an ok run of workload w with the given peaks and min capacity.
func boundRecord(id, w, policy string, requested, rounded, minCap int64, offline bool) *runrecord.Record {
	return &runrecord.Record{ID: id, Workload: w, Policy: policy, Status: runrecord.StatusOK, Offline: offline,
		Metrics:     &replay.Metrics{PeakReserved: minCap, PeakAllocated: rounded, PeakRequested: requested, PeakRounded: rounded, FirstOOM: -1},
		MinCapacity: i64(minCap)}
}

func TestBound(t *testing.T) {
	recs := []*runrecord.Record{
		// w: 9 MiB + 100 B live at peak, 9 MiB + 512 B rounded: the least capacity is 10 MiB.
		boundRecord("1", "w", "pytorch", 9*mib+100, 9*mib+512, 12*mib, false),
		boundRecord("2", "w", "first-fit", 9*mib+100, 9*mib+512, 10*mib, false),
		boundRecord("3", "w", "planner", 9*mib+100, 9*mib+512, 10*mib, true),
		// v: a run cut short by OOMs saw less of the peak; the bound is the largest peak.
		boundRecord("4", "v", "pytorch", 4*mib, 4*mib, 8*mib, false),
		boundRecord("5", "v", "first-fit", 2*mib, 2*mib, 16*mib, false),
	}
	bs := bounds(recs)
	if got, want := bs["w"], (bound{Requested: 9*mib + 100, Rounded: 9*mib + 512, Capacity: 10 * mib}); got != want {
		t.Errorf("bound of w = %+v, want %+v", got, want)
	}
	if got, want := bs["v"], (bound{Requested: 4 * mib, Rounded: 4 * mib, Capacity: 4 * mib}); got != want {
		t.Errorf("bound of v = %+v, want %+v", got, want)
	}

	tests := []struct {
		id       string
		util     float64
		over     int64
		workload string
	}{
		{"1", float64(9*mib+100) / float64(12*mib), 2 * mib, "w"},
		{"2", float64(9*mib+100) / float64(10*mib), 0, "w"},
		{"4", 0.5, 4 * mib, "v"},
		{"5", 0.25, 12 * mib, "v"},
	}
	rows := Flatten(recs)
	byID := map[string]Result{}
	for _, r := range rows {
		byID[r.ID] = r
	}
	for _, tt := range tests {
		r := byID[tt.id]
		if r.Utilization == nil || *r.Utilization != tt.util || r.OverBound == nil || *r.OverBound != tt.over {
			t.Errorf("run %s: utilization %v, over_bound %v; want %v, %d", tt.id, r.Utilization, r.OverBound, tt.util, tt.over)
		}
	}
	if b, _ := json.Marshal(byID["3"]); !strings.Contains(string(b), `"offline":true`) {
		t.Errorf("results.json row of an offline policy lacks offline: %s", b)
	}

	md := Markdown(recs)
	for _, want := range []string{
		"Bound: peak requested 9.0 MiB; rounded peak 9.0 MiB (each live request rounded up to 512 B, as every policy's blocks are); no policy can run in less than 10.0 MiB",
		"| min_capacity | utilization | over_bound |",
		"| planner (*offline*) | 1 |",
		// the summary: online best in bold, the offline policy never bold
		"| workload | peak requested | least capacity | first-fit | planner (*offline*) | pytorch |",
		"| v | 4.0 MiB | 4.0 MiB | 0.250 | – | **0.500** |",
		"| w | 9.0 MiB | 10.0 MiB | **0.900** | 0.900 | 0.750 |",
		"| mean | | | 0.575 | 0.900 | 0.625 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("results.md lacks %q\n%s", want, md)
		}
	}
	html, err := HTML(recs)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`<p class="bound">Bound: peak requested 9.0 MiB;`,
		`<th>planner <em>(offline)</em></th>`,
		`<tr data-workload="w"><td>w</td><td>9.0 MiB</td><td>10.0 MiB</td><td><strong>0.900</strong></td><td>0.900</td><td>0.750</td></tr>`,
	} {
		if !strings.Contains(string(html), want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}

func TestBoundWithoutMinCapacity(t *testing.T) {
	recs := testRecords()
	for _, r := range recs {
		r.MinCapacity = nil
	}
	if s := boundSummary(recs); s != "" {
		t.Errorf("a summary without min capacities:\n%s", s)
	}
}
