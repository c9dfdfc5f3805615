package wasm_test

import (
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/sdk/abi"
)

// TestPlanReplay: a planning module gets one record per allocation with
// its size and lifetime, in batches in its scratch buffer (asked for
// PlanBatch records), its placements are carried out in one arena of the
// size it planned, and the run is marked offline.
func TestPlanReplay(t *testing.T) {
	in := instantiate(t, "plan_stack", wasm.Config{})
	if got := global(t, in, "scratch_min"); got != abi.PlanBatch*abi.PlanRecordSize {
		t.Errorf("policy_scratch asked for %d bytes, want %d", got, abi.PlanBatch*abi.PlanRecordSize)
	}
	res, err := replayJSONL(t, "plan_stack", 0,
		`{"op":"alloc","id":1,"size":1048576}`,
		`{"op":"alloc","id":2,"size":1000}`,
		`{"op":"free","id":1}`,
		`{"op":"alloc","id":3,"size":2097152}`,
		`{"op":"free","id":2}`,
		`{"op":"free","id":3}`)
	if err != nil {
		t.Fatal(err)
	}
	s := res.Stats
	// ids 1..3 at offsets 0, 1 MiB and 2 MiB: 1 MiB, 512 B and 2 MiB
	// blocks, all inside the 4 MiB arena.
	if s.PlanRecords != 3 || s.Placed != 3 || s.ArenaBytes != 4*MiB || s.PeakReserved != 4*MiB || s.SegmentAllocs != 1 {
		t.Errorf("records %d, placed %d, arena %d, peak reserved %d, segment allocs %d", s.PlanRecords, s.Placed, s.ArenaBytes, s.PeakReserved, s.SegmentAllocs)
	}
	if !res.Policy.Offline || res.Metrics.Placed != 3 || res.Metrics.ArenaBytes != 4*MiB {
		t.Errorf("offline %v, metrics %+v", res.Policy.Offline, res.Metrics)
	}
}

// TestPlanRecordsInScratch: the records in guest memory are the
// workload's, batched by PlanBatch with done on the last call.
func TestPlanRecordsInScratch(t *testing.T) {
	in := instantiate(t, "plan_stack", wasm.Config{})
	a := host.New(cudadriver.NewSim(cudadriver.SimOptions{}), in, host.Options{})
	n := abi.PlanBatch + 10
	recs := make([]abi.PlanRecord, n)
	for i := range recs {
		recs[i] = abi.PlanRecord{ID: uint64(i + 1), Size: uint64(1000 + i), Alloc: uint64(2 * i), Free: uint64(2*i + 1)}
	}
	if err := a.Plan(recs); err != nil {
		t.Fatal(err)
	}
	if c, r, f, l := global(t, in, "calls"), global(t, in, "records"), global(t, in, "first_size"), global(t, in, "last_free"); c != 2 || r != int64(n) || f != 1000 || l != int64(2*n-1) {
		t.Errorf("calls %d, records %d, first size %d, last free %d", c, r, f, l)
	}
	if a.ArenaPlanned() != 4*MiB {
		t.Errorf("arena %d", a.ArenaPlanned())
	}
}

// TestPlanInvalidPlacement: a placement past the arena is an invalid
// decision reported with the event, the hook and its arguments.
func TestPlanInvalidPlacement(t *testing.T) {
	var lines []string
	for i := 1; i <= 5; i++ {
		lines = append(lines, `{"op":"alloc","id":`+string(rune('0'+i))+`,"size":1048576}`)
	}
	_, err := replayJSONL(t, "plan_stack", 0, lines...)
	want := "event 4: policy_place(id=5, rounded=1048576, pool=0, stream=0, tag=0) answered 4194304: the block [offset, offset+rounded) must lie inside the arena [0, 4194304)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %q", err, want)
	}
}

// TestPlanTimeout: in safe mode a policy_plan that does not return is
// stopped after the plan timeout and reported.
func TestPlanTimeout(t *testing.T) {
	in := instantiate(t, "plan_spin", wasm.Config{Interruptible: true, PlanTimeout: 100 * time.Millisecond})
	a := host.New(cudadriver.NewSim(cudadriver.SimOptions{}), in, host.Options{})
	err := a.Plan(nil)
	if err == nil || !strings.Contains(err.Error(), "policy_plan(count=0, done=1) failed: policy_plan did not return within 100ms and was stopped") {
		t.Errorf("got %v", err)
	}
}

// TestHoldGC: the collector is off from the first hold to the last
// release, and its setting comes back after.
func TestHoldGC(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	gcOff := func() bool { p := debug.SetGCPercent(-1); debug.SetGCPercent(p); return p < 0 }
	r1 := wasm.HoldGC()
	r2 := wasm.HoldGC()
	if !gcOff() {
		t.Fatal("the collector is on during two holds")
	}
	r1()
	if !gcOff() {
		t.Fatal("the collector is on while one hold is left")
	}
	r2()
	if p := debug.SetGCPercent(100); p != 100 {
		t.Fatalf("after the last release the GC percent is %d, want 100", p)
	}
}
