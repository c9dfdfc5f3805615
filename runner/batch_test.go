package runner

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fraglab/fraglab/internal/runrecord"
)

func batchSpecs(n int) []Spec {
	trace, _ := filepath.Abs(filepath.Join("..", "examples", "traces", "devlog-small-then-large.jsonl"))
	var specs []Spec
	for i := range n {
		params := map[string]string{}
		if i%2 == 1 {
			params["expandable_segments"] = "true"
		}
		specs = append(specs, Spec{ID: fmt.Sprintf("b%d", i), Experiment: "batch", Workload: "stl", Trace: trace,
			Policy: "pytorch", Label: fmt.Sprint(i), Params: params, MinCapacity: i == 0})
	}
	return specs
}

// Many runs on two pooled workers: records in spec order, with the numbers
// of `fraglab replay` (256 MiB classic, 140 MiB expandable).
func TestRunSpecs(t *testing.T) {
	var done int
	recs, err := RunSpecs(context.Background(), batchSpecs(9), Options{Parallel: 2, OnDone: func(*runrecord.Record) { done++ }})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 9 || done != 9 {
		t.Fatalf("%d records, %d OnDone calls; want 9", len(recs), done)
	}
	for i, r := range recs {
		want := int64(256 << 20)
		if i%2 == 1 {
			want = 140 << 20
		}
		if r.ID != fmt.Sprintf("b%d", i) || r.Status != runrecord.StatusOK || r.Metrics.PeakReserved != want {
			t.Errorf("record %d: %s %s %q peak %v, want b%d ok %d", i, r.ID, r.Status, r.Error, r.Metrics, i, want)
		}
	}
	if recs[0].MinCapacity == nil || *recs[0].MinCapacity != 128<<20 {
		t.Errorf("min_capacity %v, want 128 MiB", recs[0].MinCapacity)
	}
}

// A worker that dies fails its run only; a fresh worker takes the next.
func TestRunSpecsWorkerDies(t *testing.T) {
	t.Setenv(envExit, "b1")
	recs, err := RunSpecs(context.Background(), batchSpecs(4), Options{Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if i == 1 {
			if r.Status != runrecord.StatusFailed || !strings.Contains(r.Error, "test hook: exiting") {
				t.Errorf("victim: %s %q", r.Status, r.Error)
			}
		} else if r.Status != runrecord.StatusOK {
			t.Errorf("%s: %s %q", r.ID, r.Status, r.Error)
		}
	}
}

func TestRunSpecsTimeout(t *testing.T) {
	t.Setenv(envSleep, "b0")
	recs, err := RunSpecs(context.Background(), batchSpecs(2), Options{Parallel: 1, RunTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if recs[0].Status != runrecord.StatusFailed || !strings.Contains(recs[0].Error, "timed out") || recs[1].Status != runrecord.StatusOK {
		t.Errorf("records: %s %q; %s %q", recs[0].Status, recs[0].Error, recs[1].Status, recs[1].Error)
	}
}
