package host

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/sdk/abi"
)

// planPol is a Go planning policy: it answers policy_plan with arena and
// policy_place from offsets (by allocation id; missing ids DEFER).
type planPol struct {
	NoHooks
	arena   int64
	offsets map[int64]int64
	batches []int // record counts of the policy_plan calls
	planAns func(call int, done bool) int64
}

func (p *planPol) Implements(h abi.Hook) bool { return h == abi.HookPlan || h == abi.HookPlace }

func (p *planPol) Plan(recs []abi.PlanRecord, done bool) (int64, error) {
	p.batches = append(p.batches, len(recs))
	if p.planAns != nil {
		return p.planAns(len(p.batches)-1, done), nil
	}
	if !done {
		return 0, nil
	}
	return p.arena, nil
}

func (p *planPol) Place(id, rounded int64, pool, stream, tag int32) (int64, error) {
	if off, ok := p.offsets[id]; ok {
		return off, nil
	}
	return abi.Defer, nil
}

func recs(n int) []abi.PlanRecord {
	out := make([]abi.PlanRecord, n)
	for i := range out {
		out[i] = abi.PlanRecord{ID: uint64(i + 1), Size: MiB, Alloc: uint64(i), Free: abi.PlanNever}
	}
	return out
}

// TestPlanBatches: the records go in batches of abi.PlanBatch, done on the
// last call, which may hold none.
func TestPlanBatches(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want []int
	}{
		{0, []int{0}},
		{1, []int{1}},
		{abi.PlanBatch, []int{abi.PlanBatch}},
		{abi.PlanBatch + 1, []int{abi.PlanBatch, 1}},
		{2*abi.PlanBatch + 3, []int{abi.PlanBatch, abi.PlanBatch, 3}},
	} {
		p := &planPol{arena: 4 * MiB}
		a := New(cudadriver.NewSim(cudadriver.SimOptions{}), p, Options{})
		if err := a.Plan(recs(tc.n)); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(p.batches, tc.want) {
			t.Errorf("%d records: batches %v, want %v", tc.n, p.batches, tc.want)
		}
		if a.ArenaPlanned() != 4*MiB || a.Stats().PlanRecords != int64(tc.n) {
			t.Errorf("%d records: arena %d, records %d", tc.n, a.ArenaPlanned(), a.Stats().PlanRecords)
		}
	}
}

// TestPlanInvalidAnswers: each invalid policy_plan answer is reported with
// the hook, its arguments and the reason, at event -1.
func TestPlanInvalidAnswers(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		ans  func(call int, done bool) int64
		want string
	}{
		{"non-final non-zero", 300, func(c int, d bool) int64 { return 5 }, "event -1: policy_plan(count=256, done=0) answered 5: before the last batch"},
		{"final NONE", 3, func(c int, d bool) int64 { return abi.None }, "event -1: policy_plan(count=3, done=1) answered -2: the last answer"},
		{"final too big", 0, func(c int, d bool) int64 { return MaxSize + 1 }, "policy_plan(count=0, done=1) answered 281474976710657"},
		{"error", 3, func(c int, d bool) int64 { return abi.Error }, "policy_plan(count=3, done=1) answered ERROR"},
	} {
		p := &planPol{planAns: tc.ans}
		a := New(cudadriver.NewSim(cudadriver.SimOptions{}), p, Options{})
		err := a.Plan(recs(tc.n))
		var pe *PolicyError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want a PolicyError containing %q", tc.name, err, tc.want)
		}
	}
	// DEFER and 0 as the final answer: no arena, placement never asked.
	p := &planPol{planAns: func(int, bool) int64 { return abi.Defer }, offsets: map[int64]int64{1: 0}}
	a := New(cudadriver.NewSim(cudadriver.SimOptions{}), p, Options{})
	if err := a.Plan(recs(1)); err != nil || a.ArenaPlanned() != 0 {
		t.Fatalf("DEFER: %v, arena %d", err, a.ArenaPlanned())
	}
	script(t, a, "a 1 1MiB")
	if s := a.Stats(); s.Placed != 0 || s.ArenaBytes != 0 || s.HookCalls[abi.HookPlace] != 0 {
		t.Errorf("DEFER: placed %d, arena %d, place calls %d", s.Placed, s.ArenaBytes, s.HookCalls[abi.HookPlace])
	}
}

// TestArenaPlacement: placements land at their offsets in one arena,
// reserved at the first one and rounded up to the granularity; freed
// ranges are reusable; deferred allocations take the normal path; invalid
// offsets are reported exactly; a device too small falls back.
func TestArenaPlacement(t *testing.T) {
	for _, tc := range []struct {
		name     string
		arena    int64
		capacity int64
		offsets  map[int64]int64
		steps    string
		err      string // the error of the last step, if any
		placed   int64
		fallback int64
		reserved int64 // after the steps
	}{
		{name: "two apart", arena: 3 * MiB, offsets: map[int64]int64{1: 0, 2: MiB}, steps: "a 1 1MiB; a 2 2MiB",
			placed: 2, reserved: 4 * MiB},
		{name: "reuse after free", arena: MiB, offsets: map[int64]int64{1: 0, 2: 0}, steps: "a 1 1MiB; f 1; a 2 1MiB; f 2",
			placed: 2, reserved: 2 * MiB},
		{name: "defer takes the normal path", arena: MiB, offsets: map[int64]int64{1: 0}, steps: "a 1 1MiB; a 2 1MiB",
			placed: 1, reserved: 4 * MiB},
		{name: "small request rounded", arena: 1024, offsets: map[int64]int64{1: 512}, steps: "a 1 100",
			placed: 1, reserved: 2 * MiB},
		{name: "outside the arena", arena: 2 * MiB, offsets: map[int64]int64{1: MiB + 512}, steps: "a 1 1MiB",
			err: "event 0: policy_place(id=1, rounded=1048576, pool=0, stream=0, tag=0) answered 1049088: the block [offset, offset+rounded) must lie inside the arena [0, 2097152)"},
		{name: "unaligned", arena: 2 * MiB, offsets: map[int64]int64{1: 100}, steps: "a 1 1MiB",
			err: "answered 100: the block [offset, offset+rounded) must lie inside the arena [0, 2097152) at an offset that is a multiple of 512"},
		{name: "overlap", arena: 4 * MiB, offsets: map[int64]int64{1: MiB, 2: 1536 * 1024}, steps: "a 1 1MiB; a 2 1MiB",
			err: "event 1: policy_place(id=2, rounded=1048576, pool=0, stream=0, tag=0) answered 1572864: the block overlaps live placed block id 1 at [1048576, 2097152)"},
		{name: "overlap from below", arena: 4 * MiB, offsets: map[int64]int64{1: MiB, 2: 512 * 1024}, steps: "a 1 1MiB; a 2 1MiB",
			err: "answered 524288: the block overlaps live placed block id 1 at [1048576, 2097152)"},
		{name: "device too small", arena: 64 * MiB, capacity: 32 * MiB, offsets: map[int64]int64{1: 0, 2: MiB}, steps: "a 1 1MiB; a 2 1MiB",
			placed: 0, fallback: 2, reserved: 2 * MiB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &planPol{arena: tc.arena, offsets: tc.offsets}
			a := New(cudadriver.NewSim(cudadriver.SimOptions{Capacity: tc.capacity}), p, Options{})
			if err := a.Plan(recs(2)); err != nil {
				t.Fatal(err)
			}
			err := runScript(t, a, tc.steps)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := a.Stats()
			if s.Placed != tc.placed || s.PlaceFallbacks != tc.fallback || s.Reserved != tc.reserved {
				t.Errorf("placed %d, fallbacks %d, reserved %d; want %d, %d, %d", s.Placed, s.PlaceFallbacks, s.Reserved, tc.placed, tc.fallback, tc.reserved)
			}
			if tc.placed > 0 && s.ArenaBytes != roundUp(tc.arena, 2*MiB) {
				t.Errorf("arena bytes %d, want %d", s.ArenaBytes, roundUp(tc.arena, 2*MiB))
			}
		})
	}
}

// TestArenaOffsets: placed blocks lie at arena + offset, are not among the
// segments, survive empty_cache, and a pending free keeps the range.
func TestArenaOffsets(t *testing.T) {
	p := &planPol{arena: 2 * MiB, offsets: map[int64]int64{1: 0, 2: MiB, 3: MiB}}
	a := New(cudadriver.NewSim(cudadriver.SimOptions{}), p, Options{})
	if err := a.Plan(recs(3)); err != nil {
		t.Fatal(err)
	}
	script(t, a, "a 1 1MiB; a 2 1MiB; e; r 2")
	seg, blocks := a.Arena()
	if seg == nil || len(blocks) != 2 || blocks[0].Addr != seg.Addr || blocks[1].Addr != seg.Addr+MiB {
		t.Fatalf("arena %v, blocks %v", seg, blocks)
	}
	if len(a.Segments()) != 0 || a.Stats().Reserved != 2*MiB {
		t.Errorf("segments %d, reserved %d", len(a.Segments()), a.Stats().Reserved)
	}
	if err := runScript(t, a, "a 3 1MiB"); err == nil || !strings.Contains(err.Error(), "overlaps live placed block id 2") {
		t.Errorf("placing over a pending free: %v", err)
	}
	a.SetEvent(5)
	if err := a.Free(2); err != nil {
		t.Fatal(err)
	}
	script(t, a, "a 3 1MiB; f 1; f 3; e")
	if s := a.Stats(); s.Reserved != 2*MiB || s.ArenaFree != 2*MiB || s.Placed != 3 {
		t.Errorf("reserved %d, arena free %d, placed %d", s.Reserved, s.ArenaFree, s.Placed)
	}
}

// TestPlaceFallbackOption: with Options.Fallback an invalid placement hands
// the run to the host defaults and the allocation is served normally.
func TestPlaceFallbackOption(t *testing.T) {
	p := &planPol{arena: MiB, offsets: map[int64]int64{1: MiB}}
	a := New(cudadriver.NewSim(cudadriver.SimOptions{}), p, Options{Fallback: true})
	if err := a.Plan(recs(1)); err != nil {
		t.Fatal(err)
	}
	script(t, a, "a 1 1MiB; a 2 1MiB")
	if a.PolicyFailure() == nil || a.Stats().Placed != 0 || a.Stats().Allocs != 2 {
		t.Errorf("failure %v, placed %d, allocs %d", a.PolicyFailure(), a.Stats().Placed, a.Stats().Allocs)
	}
}
