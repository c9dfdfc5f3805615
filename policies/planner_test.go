package policies

import (
	"reflect"
	"sort"
	"testing"

	"github.com/fraglab/fraglab/generate"
	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/internal/synth"
	"github.com/fraglab/fraglab/trace"
)

const MiB = 1 << 20

type plannerWorkload struct {
	name string
	open func() trace.Reader
}

// workloads are small generated workloads of each generator.
func workloads(t *testing.T) []plannerWorkload {
	t.Helper()
	params := map[string]map[string]string{
		"devlog":      nil,
		"random":      {"num_allocations": "400", "max_size": "8MiB"},
		"adversarial": {"min_size": "2MiB", "max_size": "16MiB", "live_bytes": "128MiB"},
		"llm-serving": {"requests": "20"},
		"training":    {"steps": "3"},
	}
	names := make([]string, 0, len(params))
	for n := range params {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []plannerWorkload
	for _, n := range names {
		evs, tags, err := generate.Generate(n, params[n], 1)
		if err != nil {
			t.Fatalf("generate %s: %v", n, err)
		}
		out = append(out, plannerWorkload{n, func() trace.Reader { return synth.NewReaderTags(evs, tags) }})
	}
	return out
}

// plannerTrace: lifetimes 1 [0,2) 8 MiB, 2 [1,5) 4 MiB, 3 [3,6) 8 MiB,
// 4 [4,7) 4 MiB. By size: 1 at 0, 3 at 0 (it does not meet 1), 2 at 8 MiB
// (it meets both), 4 at 12 MiB (it meets 2 and 3): an arena of 16 MiB,
// the peak of live bytes (2, 3 and 4 at event 4). PyTorch's rules need
// one 20 MiB segment (requests below 10 MiB get 20 MiB).
var plannerTrace = []string{
	`{"op":"alloc","id":1,"size":8388608}`,
	`{"op":"alloc","id":2,"size":4194304}`,
	`{"op":"free","id":1}`,
	`{"op":"alloc","id":3,"size":8388608}`,
	`{"op":"alloc","id":4,"size":4194304}`,
	`{"op":"free","id":2}`,
	`{"op":"free","id":3}`,
	`{"op":"free","id":4}`,
}

func TestPlannerArena(t *testing.T) {
	run := replayBuiltin(t, "planner", jsonl(plannerTrace...), nil)
	s := run.res.Stats
	if s.ArenaBytes != 16*MiB || s.PeakReserved != 16*MiB || s.Placed != 4 || s.PlanRecords != 4 || s.SegmentAllocs != 1 {
		t.Fatalf("arena %d, peak reserved %d, placed %d, records %d, segment allocs %d", s.ArenaBytes, s.PeakReserved, s.Placed, s.PlanRecords, s.SegmentAllocs)
	}
	base := run.blocks[1].Addr
	for id, off := range map[int64]uint64{1: 0, 2: 8 * MiB, 3: 0, 4: 12 * MiB} {
		if got := run.blocks[id].Addr - base; got != off {
			t.Errorf("id %d at offset %d, want %d", id, got, off)
		}
	}
	if !run.res.Policy.Offline || run.res.Metrics.Placed != 4 || run.res.Metrics.ArenaBytes != 16*MiB {
		t.Errorf("offline %v, metrics %+v", run.res.Policy.Offline, run.res.Metrics)
	}
	py := replayBuiltin(t, "pytorch", jsonl(plannerTrace...), nil)
	if py.res.Stats.PeakReserved != 20*MiB || py.res.Policy.Offline {
		t.Errorf("pytorch: peak reserved %d, offline %v", py.res.Stats.PeakReserved, py.res.Policy.Offline)
	}
}

// TestPlannerUnplannedIsPyTorch: with nothing planned (max_plan=0) every
// decision is PyTorch's; with a knob that rounds otherwise than 512 B the
// planned sizes do not match and those allocations take PyTorch's path.
func TestPlannerUnplannedIsPyTorch(t *testing.T) {
	for _, w := range workloads(t) {
		params := map[string]string{"max_plan": "0"}
		pl := replayBuiltin(t, "planner", w.open(), params)
		py := replayBuiltin(t, "pytorch", w.open(), nil)
		if pl.res.Stats.Placed != 0 || !reflect.DeepEqual(metricsOnly(pl.res.Metrics), metricsOnly(py.res.Metrics)) {
			t.Errorf("%s: max_plan=0 gives %+v, pytorch %+v", w.name, metricsOnly(pl.res.Metrics), metricsOnly(py.res.Metrics))
		}
		if !reflect.DeepEqual(blockSizes(pl.ops), blockSizes(py.ops)) {
			t.Errorf("%s: max_plan=0: the blocks differ from pytorch's", w.name)
		}
	}
	lines := []string{`{"op":"alloc","id":1,"size":3146240}`, `{"op":"alloc","id":2,"size":4194304}`}
	run := replayBuiltin(t, "planner", jsonl(lines...), map[string]string{"roundup_power2_divisions": "4"})
	if s := run.res.Stats; s.Placed != 1 || run.blocks[1].Size != 3584*1024 || s.ArenaBytes != 8*MiB {
		t.Errorf("divisions 4: placed %d, block 1 of %d bytes, arena %d", s.Placed, run.blocks[1].Size, s.ArenaBytes)
	}
}

func blockSizes(ops []host.BlockOp) []int64 {
	var out []int64
	for _, op := range ops {
		out = append(out, op.Size)
	}
	return out
}

// TestPlannerDeterministic: two runs give the same metrics and blocks.
func TestPlannerDeterministic(t *testing.T) {
	for _, w := range workloads(t) {
		a := replayBuiltin(t, "planner", w.open(), nil)
		b := replayBuiltin(t, "planner", w.open(), nil)
		if !reflect.DeepEqual(metricsOnly(a.res.Metrics), metricsOnly(b.res.Metrics)) || !reflect.DeepEqual(a.ops, b.ops) {
			t.Errorf("%s: two runs differ", w.name)
		}
		if a.res.Stats.PlanRecords == 0 {
			t.Errorf("%s: no plan records", w.name)
		}
	}
}
