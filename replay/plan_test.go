package replay

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/sdk/abi"
	"github.com/fraglab/fraglab/trace"
)

// recordingPlanner keeps the plan records and places every allocation of
// 1 MiB at offset 0 of a 1 MiB arena (the trace below never has two live).
type recordingPlanner struct {
	host.NoHooks
	recs []abi.PlanRecord
}

func (p *recordingPlanner) Implements(h abi.Hook) bool {
	return h == abi.HookPlan || h == abi.HookPlace
}

func (p *recordingPlanner) Plan(recs []abi.PlanRecord, done bool) (int64, error) {
	p.recs = append(p.recs, recs...)
	if done {
		return 1 << 20, nil
	}
	return 0, nil
}

func (p *recordingPlanner) Place(id, rounded int64, pool, stream, tag int32) (int64, error) {
	if rounded == 1<<20 {
		return 0, nil
	}
	return abi.Defer, nil
}

// TestPlanLifetimes: one record per allocation in event order with the
// index of its free (a reused id starts a new record; never freed:
// PlanNever), stream indices as the allocator numbers them; the arena
// serves the 1 MiB allocations, one after the other: peak reserved is the
// 1 MiB arena (rounded up to the 2 MiB granularity) plus the small
// segment of the 4 KiB one.
func TestPlanLifetimes(t *testing.T) {
	src := strings.Join([]string{
		`{"op":"alloc","id":1,"size":1048576,"stream":7}`,
		`{"op":"alloc","id":2,"size":4096,"tag":"weight"}`,
		`{"op":"free","id":1}`,
		`{"op":"alloc","id":1,"size":1048576,"stream":7}`,
		`{"op":"free","id":2}`,
	}, "\n") + "\n"
	p := &recordingPlanner{}
	res, err := RunPolicy(context.Background(), trace.NewJSONLReader(strings.NewReader(src), "t.jsonl"), p,
		cudadriver.NewSim(cudadriver.SimOptions{}), Options{CheckInvariants: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []abi.PlanRecord{
		{ID: 1, Size: 1 << 20, Alloc: 0, Free: 2, Stream: 0},
		{ID: 2, Size: 4096, Alloc: 1, Free: 4, Stream: 1, Tag: uint32(abi.TagWeight)},
		{ID: 1, Size: 1 << 20, Alloc: 3, Free: abi.PlanNever, Stream: 0},
	}
	if !reflect.DeepEqual(p.recs, want) {
		t.Errorf("records\n%+v\nwant\n%+v", p.recs, want)
	}
	if s := res.Stats; s.Placed != 2 || s.ArenaBytes != 2<<20 || s.PeakReserved != 4<<20 || !res.Policy.Offline {
		t.Errorf("placed %d, arena %d, peak reserved %d, offline %v", s.Placed, s.ArenaBytes, s.PeakReserved, res.Policy.Offline)
	}
	if res.Metrics.Placed != 2 || res.Metrics.ArenaBytes != 2<<20 || res.Metrics.Events != 5 {
		t.Errorf("metrics %+v", res.Metrics)
	}
}
