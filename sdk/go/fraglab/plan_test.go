//go:build !wasip1

package fraglab

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"github.com/fraglab/fraglab/sdk/abi"
)

// planRecorder records the Plan calls it gets and places allocation id at
// offset id*MiB, deferring odd ids.
type planRecorder struct {
	calls []planCall
	seen  []PlanRecord
	arena int64
	fail  int // the call (1-based) that fails; 0 never
}

type planCall struct {
	n    int
	done bool
}

func (p *planRecorder) Plan(records []PlanRecord, done bool) (int64, error) {
	p.calls = append(p.calls, planCall{len(records), done})
	p.seen = append(p.seen, records...)
	if len(p.calls) == p.fail {
		return 0, errors.New("plan failed")
	}
	return p.arena, nil
}

func (p *planRecorder) Place(id, rounded int64, pool, stream, tag int32) int64 {
	if id%2 == 1 {
		return Defer
	}
	return id * MiB
}

func planRecordsN(n int) []PlanRecord {
	recs := make([]PlanRecord, n)
	for i := range recs {
		recs[i] = PlanRecord{ID: uint64(i), Size: uint64(512 * (i + 1)), Alloc: uint64(2 * i), Free: PlanNever,
			Stream: uint32(i % 3), Tag: uint32(i % 7), Pool: uint32(i % 2)}
		if i%4 != 0 {
			recs[i].Free = uint64(2*i + 1)
		}
	}
	return recs
}

// TestPlanner: the FakeHost hands records to Plan in the host's batches,
// the last answer is the arena, non-final calls answer 0, and an error
// answers Error with its text.
func TestPlanner(t *testing.T) {
	cases := []struct {
		name  string
		n     int
		arena int64
		fail  int
		calls []planCall
		want  int64
	}{
		{"empty workload", 0, 4 * MiB, 0, []planCall{{0, true}}, 4 * MiB},
		{"one batch", 3, 8 * MiB, 0, []planCall{{3, true}}, 8 * MiB},
		{"a full batch", PlanBatch, 0, 0, []planCall{{PlanBatch, true}}, 0},
		{"two batches", PlanBatch + 1, 2 * MiB, 0, []planCall{{PlanBatch, false}, {1, true}}, 2 * MiB},
		{"three batches", 600, 2 * MiB, 0, []planCall{{PlanBatch, false}, {PlanBatch, false}, {88, true}}, 2 * MiB},
		{"first call fails", 600, 2 * MiB, 1, []planCall{{PlanBatch, false}}, Error},
		{"last call fails", 300, 2 * MiB, 2, []planCall{{PlanBatch, false}, {44, true}}, Error},
	}
	for _, c := range cases {
		p := &planRecorder{arena: c.arena, fail: c.fail}
		h := NewFakeHost(p)
		if err := h.Init(); err != nil {
			t.Fatal(err)
		}
		if !h.Implements(HookPlan) || !h.Implements(HookPlace) {
			t.Errorf("%s: mask %#x lacks the planning hooks", c.name, h.Mask)
		}
		recs := planRecordsN(c.n)
		got := h.Plan(recs)
		if got != c.want {
			t.Errorf("%s: Plan answered %d, want %d", c.name, got, c.want)
		}
		if len(p.calls) != len(c.calls) {
			t.Errorf("%s: calls %v, want %v", c.name, p.calls, c.calls)
			continue
		}
		for i := range c.calls {
			if p.calls[i] != c.calls[i] {
				t.Errorf("%s: call %d %v, want %v", c.name, i, p.calls[i], c.calls[i])
			}
		}
		if c.fail == 0 {
			for i := range recs {
				if p.seen[i] != recs[i] {
					t.Errorf("%s: record %d seen %+v, want %+v", c.name, i, p.seen[i], recs[i])
					break
				}
			}
		}
		if c.want == Error && !strings.Contains(h.ErrorText, "plan failed") {
			t.Errorf("%s: error text %q", c.name, h.ErrorText)
		}
	}
}

// TestPlace: Place forwards to the planRecorder; without one it defers.
func TestPlace(t *testing.T) {
	h := NewFakeHost(&planRecorder{})
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ id, want int64 }{{0, 0}, {1, Defer}, {4, 4 * MiB}} {
		if got := h.Place(c.id, 512, PoolLarge, 0, 0); got != c.want {
			t.Errorf("Place(%d) = %d, want %d", c.id, got, c.want)
		}
	}
	h = NewFakeHost(roundOnly{})
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	if h.Implements(HookPlan) || h.Place(0, 512, 0, 0, 0) != Defer || policyPlan(0, 1) != Defer {
		t.Error("a policy without Planner must not plan")
	}
}

// TestPlanRecordView: the records Plan sees are the bytes the host writes
// (abi.PlanRecord.Put) in the scratch buffer, field by field.
func TestPlanRecordView(t *testing.T) {
	r := abi.PlanRecord{ID: 7, Size: 1 << 40, Alloc: 3, Free: abi.PlanNever, Stream: 2, Tag: 17, Pool: 5}
	buf := make([]byte, PlanRecordSize)
	r.Put(buf)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(planRecords)), PlanRecordSize), buf)
	got := planRecords[0]
	want := PlanRecord{ID: 7, Size: 1 << 40, Alloc: 3, Free: PlanNever, Stream: 2, Tag: 17, Pool: 5}
	if got != want || got.Freed() {
		t.Errorf("record %+v, want %+v, never freed", got, want)
	}
	if (&PlanRecord{Free: 9}).Freed() != true {
		t.Error("a record with a free event must report Freed")
	}
}

// stitcher keeps freed stitched blocks when its parameter keep says so.
type stitcher struct{ keep bool }

func (s *stitcher) Init() error {
	s.keep = ParamBool("keep", s.keep)
	return nil
}
func (s *stitcher) StitchKeep() bool { return s.keep }

// TestStitchKeepConfig: the SDK declares config key 5 from StitchKeeper,
// and a host that refuses it fails Init naming the ABI.
func TestStitchKeepConfig(t *testing.T) {
	for _, c := range []struct {
		name  string
		p     Policy
		param string
		want  bool
	}{
		{"keep", &stitcher{}, "true", true},
		{"do not keep", &stitcher{}, "false", false},
		{"no StitchKeeper", roundOnly{}, "", false},
	} {
		h := NewFakeHost(c.p)
		if c.param != "" {
			h.Params["keep"] = c.param
		}
		if err := h.Init(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if h.StitchKeep != c.want {
			t.Errorf("%s: stitch keep %v, want %v", c.name, h.StitchKeep, c.want)
		}
	}
	// A host that refuses the key fails policy_init naming the ABI (the
	// fake answers ERROR outside h.Init).
	h := NewFakeHost(&stitcher{keep: true})
	want := fmt.Sprintf("config(%d, 1) answered %d: the host does not keep stitched blocks (ABI 1.5 needed)", ConfigStitchKeep, Error)
	if got := policyInit(); got != Error || !strings.Contains(h.ErrorText, want) {
		t.Errorf("policy_init on a refusing host answered %d, error text %q", got, h.ErrorText)
	}
}

// TestABI15Constants: the SDK's ABI 1.5 names have the host's values.
func TestABI15Constants(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"FlagStitched", FlagStitched, 1 << 2},
		{"ActStitch", ActStitch, 4},
		{"ActReleaseStitched", ActReleaseStitched, 5},
		{"StatStitched", StatStitched, 20},
		{"StatStitchedFree", StatStitchedFree, 21},
		{"ConfigStitchKeep", ConfigStitchKeep, 5},
		{"PlanRecordSize", PlanRecordSize, 48},
		{"PlanBatch", PlanBatch, 256},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if PlanNever != ^uint64(0) {
		t.Errorf("PlanNever = %#x, want all ones", PlanNever)
	}
	h := NewFakeHost(nil)
	if Stat(StatStitched, 0) != 0 || Stat(StatStitchedFree, 0) != 0 {
		t.Error("an empty allocator's stitched stats must answer 0")
	}
	h.SetStat(StatStitched, 0, 4*MiB)
	if Stat(StatStitched, 0) != 4*MiB {
		t.Error("SetStat(StatStitched) not answered")
	}
}
