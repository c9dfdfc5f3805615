package runner

import (
	"slices"
	"testing"

	"github.com/fraglab/fraglab/internal/runrecord"
	"github.com/fraglab/fraglab/replay"
)

// TestRecordsSegmentMaps: a run with an OOM records its segments at its
// first OOM; the runs of other policies record theirs after the event of
// the baseline's (pytorch's) first OOM at the same capacity, though they
// come first in the matrix.
func TestRecordsSegmentMaps(t *testing.T) {
	e := load(t, "oommaps.yaml")
	s := sweep(t, e, Options{Out: t.TempDir(), Parallel: 2})
	if s.Ran != 6 || s.Failed != 0 {
		t.Fatalf("ran %d failed %d", s.Ran, s.Failed)
	}
	var base *runrecord.Record
	for _, r := range s.Records {
		if r.Policy == runrecord.Baseline && r.Capacity > 0 {
			base = r
		}
	}
	if base == nil || base.SegmentMap == nil || base.SegmentMap.Event != base.Metrics.FirstOOM || base.SegmentMap.Request == nil {
		t.Fatalf("pytorch at 100 MiB: no segment map at its first OOM: %+v", base)
	}
	if base.BaselineMap != nil {
		t.Error("the baseline's record has a baseline map")
	}
	for _, r := range s.Records {
		switch {
		case r.Capacity == 0 && (r.SegmentMap != nil || r.BaselineMap != nil):
			t.Errorf("%s unlimited: segment maps without an OOM", r.Policy)
		case r.Capacity == 0 || r.Policy == runrecord.Baseline:
		case r.BaselineMap == nil || r.BaselineMap.Event != base.Metrics.FirstOOM:
			t.Errorf("%s at 100 MiB: baseline map %+v, want one after event %d", r.Policy, r.BaselineMap, base.Metrics.FirstOOM)
		case (r.Metrics.OOMs > 0) != (r.SegmentMap != nil):
			t.Errorf("%s at 100 MiB: %d OOMs, segment map %v", r.Policy, r.Metrics.OOMs, r.SegmentMap != nil)
		}
	}
}

func TestBaselinesOrder(t *testing.T) {
	specs := []Spec{
		{ID: "a", Workload: "w", Label: "default"},
		{ID: "b", Workload: "w", Label: "pytorch"},
		{ID: "c", Workload: "w", Label: "buddy", Capacity: 1},
		{ID: "d", Workload: "w", Label: "pytorch", Capacity: 1},
	}
	recs := make([]*runrecord.Record, len(specs))
	todo := []int{0, 1, 2, 3}
	b := newBaselines(t.TempDir(), specs, specs, recs, todo)
	got := b.order(specs, todo)
	if want := []int{1, 3, 0, 2}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v (baselines first, else matrix order)", got, want)
	}
	// A run whose baseline ended with an OOM gets its event.
	b.done(&specs[3], &runrecord.Record{Status: runrecord.StatusOK, Metrics: metricsWithOOM(42)})
	s := specs[2]
	if !b.wait(t.Context(), &s) || s.MapEvent == nil || *s.MapEvent != 42 {
		t.Errorf("MapEvent %v, want 42", s.MapEvent)
	}
	// One whose baseline was interrupted gets none, and does not wait.
	b.done(&specs[1], nil)
	s = specs[0]
	if !b.wait(t.Context(), &s) || s.MapEvent != nil {
		t.Errorf("MapEvent %v, want none", s.MapEvent)
	}
}

func metricsWithOOM(event int64) *replay.Metrics {
	return &replay.Metrics{OOMs: 1, FirstOOM: event}
}
