package snapshot

import (
	"reflect"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/trace"
)

// blk builds a final block; live blocks are active_allocated.
func fb(addr uint64, size, req int64, live bool) Block {
	st := StateInactive
	if !live {
		req = 0
	} else {
		st = StateAllocated
	}
	return Block{Address: addr, Size: size, RequestedSize: req, State: st}
}

func fseg(addr uint64, pool string, expandable bool, blocks ...Block) Segment {
	var total int64
	for _, b := range blocks {
		total += b.Size
	}
	return Segment{Address: addr, TotalSize: total, Pool: pool, Expandable: expandable, Blocks: blocks}
}

func ent(action string, addr uint64, size int64) TraceEntry {
	return TraceEntry{Action: action, Addr: addr, Size: size}
}

func alloc(id, size int64) trace.Event { return trace.Event{Op: trace.OpAlloc, ID: id, Size: size} }
func free(id int64) trace.Event        { return trace.Event{Op: trace.OpFree, ID: id} }

var emptyCache = trace.Event{Op: trace.OpEmptyCache}

func workloadCase(t *testing.T, s *Snapshot) *Workload {
	t.Helper()
	w, err := s.Workload(-1)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(w, s); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestWorkloadCleanStart(t *testing.T) {
	const a, sm = 0x10000000, 0x20000000
	s := &Snapshot{
		Segments: []Segment{
			fseg(a, PoolLarge, false, fb(a, 3*mib, 0, false), fb(a+3*mib, 5*mib, 5*mib, true), fb(a+8*mib, 12*mib, 0, false)),
			fseg(sm, PoolSmall, false, fb(sm, 512, 100, true), fb(sm+512, 2*mib-512, 0, false)),
		},
		Traces: [][]TraceEntry{{
			ent(ActSegmentAlloc, a, 20*mib),
			ent(ActAlloc, a, 3*mib),
			ent(ActAlloc, a+3*mib, 5*mib),
			ent(ActSegmentAlloc, sm, 2*mib),
			ent(ActAlloc, sm, 100),
			ent(ActFreeRequested, a, 3*mib),
			ent(ActFreeCompleted, a, 3*mib),
		}},
	}
	w := workloadCase(t, s)
	if len(w.Initial) != 0 {
		t.Errorf("initial %+v, want none", w.Initial)
	}
	wantEv := []trace.Event{alloc(0, 3*mib), alloc(1, 5*mib), alloc(2, 100), free(0)}
	if !reflect.DeepEqual(w.Events, wantEv) {
		t.Errorf("events %+v\nwant %+v", w.Events, wantEv)
	}
	wantTruth := []SegmentEvent{{Event: 0, Action: ActSegmentAlloc, Addr: a, Size: 20 * mib}, {Event: 2, Action: ActSegmentAlloc, Addr: sm, Size: 2 * mib}}
	if !reflect.DeepEqual(w.Truth, wantTruth) {
		t.Errorf("truth %+v\nwant %+v", w.Truth, wantTruth)
	}
	if want := []uint64{a, a + 3*mib, sm, 0}; !reflect.DeepEqual(w.AllocAddr, want) {
		t.Errorf("alloc addresses %#x, want %#x", w.AllocAddr, want)
	}
	if w.Capacity.Low != 22*mib || w.Capacity.High != -1 {
		t.Errorf("capacity %+v", w.Capacity)
	}
}

// midRun: the trace starts after blocks were allocated and a segment was
// cached; it frees a block it never allocated (a large-pool block carrying
// an unsplit 0.5 MiB remainder), releases a cached segment (empty_cache)
// and allocates a new segment.
func midRun() *Snapshot {
	const p, q, r = 0x10000000, 0x20000000, 0x30000000
	const y = p + 4*mib
	const yReq = 15*mib + mib/2
	return &Snapshot{
		Segments: []Segment{
			fseg(p, PoolLarge, false, fb(p, 4*mib, 4*mib, true), fb(y, 8*mib, 8*mib, true), fb(y+8*mib, 8*mib, 0, false)),
			fseg(r, PoolLarge, false, fb(r, 10*mib+mib/2, 10*mib+mib/2, true), fb(r+10*mib+mib/2, mib+mib/2, 0, false)),
		},
		Traces: [][]TraceEntry{{
			ent(ActFreeRequested, y, yReq),
			ent(ActFreeCompleted, y, yReq),
			ent(ActSegmentFree, q, 2*mib),
			ent(ActAlloc, y, 8*mib),
			ent(ActSegmentAlloc, r, 12*mib),
			ent(ActAlloc, r, 10*mib+mib/2),
		}},
	}
}

func TestWorkloadMidRun(t *testing.T) {
	const p, q, r = 0x10000000, 0x20000000, 0x30000000
	s := midRun()
	w := workloadCase(t, s)
	wantInit := []InitialSegment{
		{Address: p, Size: 20 * mib, Pool: 1, Blocks: []InitialBlock{{4 * mib, 0, 4 * mib}, {16 * mib, 1, 15*mib + mib/2}}},
		{Address: q, Size: 2 * mib, Pool: 0, Blocks: []InitialBlock{{2 * mib, -1, 0}}},
	}
	if !reflect.DeepEqual(w.Initial, wantInit) {
		t.Errorf("initial %+v\nwant %+v", w.Initial, wantInit)
	}
	wantEv := []trace.Event{free(1), emptyCache, alloc(2, 8*mib), alloc(3, 10*mib+mib/2)}
	if !reflect.DeepEqual(w.Events, wantEv) {
		t.Errorf("events %+v\nwant %+v", w.Events, wantEv)
	}
	wantTruth := []SegmentEvent{{Event: 1, Action: ActSegmentFree, Addr: q, Size: 2 * mib}, {Event: 3, Action: ActSegmentAlloc, Addr: r, Size: 12 * mib}}
	if !reflect.DeepEqual(w.Truth, wantTruth) {
		t.Errorf("truth %+v\nwant %+v", w.Truth, wantTruth)
	}
	if w.Capacity.Low != 32*mib || w.Capacity.High != -1 {
		t.Errorf("capacity %+v", w.Capacity)
	}
}

func TestVerifyCatchesAWrongStart(t *testing.T) {
	s := midRun()
	w, err := s.Workload(0)
	if err != nil {
		t.Fatal(err)
	}
	// A block live all along, started too small.
	w.Initial[0].Blocks = []InitialBlock{{2 * mib, 0, 2 * mib}, {2 * mib, -1, 0}, {16 * mib, 1, 15*mib + mib/2}}
	err = Verify(w, s)
	if err == nil || !strings.Contains(err.Error(), "verify: event 2 (alloc id 2): 0x10400000 is not the start of a free block") {
		t.Errorf("got %v, want the alloc at 0x10400000 to miss", err)
	}
	w, _ = s.Workload(0)
	w.AllocAddr[2] += 512
	if err := Verify(w, s); err == nil || !strings.Contains(err.Error(), "is not the start of a free block") {
		t.Errorf("got %v, want a misplaced alloc", err)
	}
	w, _ = s.Workload(0)
	w.Truth = w.Truth[:1]
	if err := Verify(w, s); err == nil || !strings.Contains(err.Error(), "no segment holds") {
		t.Errorf("got %v, want a missing segment", err)
	}
}

// oomRetry: a 40 MiB request finds no block; the 20 MiB cached segment is
// released and the retry succeeds; a second 40 MiB request fails.
func oomRetry(withOOM bool) *Snapshot {
	const s1, s2 = 0x10000000, 0x40000000
	t := []TraceEntry{
		ent(ActSegmentAlloc, s1, 20*mib),
		ent(ActAlloc, s1, 2*mib),
		ent(ActFreeCompleted, s1, 2*mib),
		ent(ActSegmentFree, s1, 20*mib),
		ent(ActSegmentAlloc, s2, 40*mib),
		ent(ActAlloc, s2, 40*mib),
	}
	if withOOM {
		t = append(t, TraceEntry{Action: ActOOM, Size: 40 * mib, DeviceFree: mib})
	}
	return &Snapshot{
		Segments: []Segment{fseg(s2, PoolLarge, false, fb(s2, 40*mib, 40*mib, true))},
		Traces:   [][]TraceEntry{t},
	}
}

func TestWorkloadOOMRetryAndCapacity(t *testing.T) {
	w := workloadCase(t, oomRetry(false))
	wantEv := []trace.Event{alloc(0, 2*mib), free(0), alloc(1, 40*mib)}
	if !reflect.DeepEqual(w.Events, wantEv) {
		t.Errorf("events %+v\nwant %+v", w.Events, wantEv)
	}
	if got := []int64{w.Truth[0].Event, w.Truth[1].Event, w.Truth[2].Event}; !reflect.DeepEqual(got, []int64{0, 2, 2}) {
		t.Errorf("truth events %v, want [0 2 2]", got)
	}
	if w.Capacity.Low != 40*mib || w.Capacity.High != 60*mib-1 {
		t.Errorf("capacity %+v, want [40 MiB, 60 MiB)", w.Capacity)
	}

	w = workloadCase(t, oomRetry(true))
	want := []OOMEvent{{Event: 3, Size: 40 * mib, DeviceFree: mib, Reserved: 40 * mib}}
	if !reflect.DeepEqual(w.OOMs, want) {
		t.Errorf("ooms %+v, want %+v", w.OOMs, want)
	}
	if w.Capacity.Low != 41*mib || w.Capacity.High != 41*mib {
		t.Errorf("capacity %+v, want 41 MiB", w.Capacity)
	}
	ev := strings.Join(w.Capacity.Evidence, "\n")
	for _, s := range []string{"OOM retry at entries 3–4", "oom at entry 6", "= 41.00 MiB"} {
		if !strings.Contains(ev, s) {
			t.Errorf("evidence lacks %q:\n%s", s, ev)
		}
	}
}

// An empty_cache right before an allocation that needs a new segment looks
// like an OOM retry, but a released segment could have served the request,
// so the allocator would not have gone down its OOM path.
func TestWorkloadEmptyCacheBeforeGrowth(t *testing.T) {
	const s1, s2 = 0x10000000, 0x40000000
	s := &Snapshot{
		Segments: []Segment{fseg(s2, PoolLarge, false, fb(s2, 20*mib, 20*mib, true))},
		Traces: [][]TraceEntry{{
			ent(ActSegmentAlloc, s1, 20*mib),
			ent(ActAlloc, s1, 20*mib),
			ent(ActFreeCompleted, s1, 20*mib),
			ent(ActSegmentFree, s1, 20*mib),
			ent(ActSegmentAlloc, s2, 20*mib),
			ent(ActAlloc, s2, 20*mib),
		}},
	}
	w := workloadCase(t, s)
	wantEv := []trace.Event{alloc(0, 20*mib), free(0), emptyCache, alloc(1, 20*mib)}
	if !reflect.DeepEqual(w.Events, wantEv) {
		t.Errorf("events %+v\nwant %+v", w.Events, wantEv)
	}
	if w.Truth[1].Event != 2 || w.Truth[2].Event != 3 {
		t.Errorf("truth %+v", w.Truth)
	}
	if w.Capacity.High != -1 {
		t.Errorf("capacity %+v: an empty_cache is no evidence", w.Capacity)
	}
}

func TestWorkloadExpandable(t *testing.T) {
	const e = 0x7f0000000000
	s := &Snapshot{
		Segments: []Segment{fseg(e, PoolLarge, true, fb(e, 1049600, 1049089, true), fb(e+1049600, 20*mib-1049600, 0, false))},
		Traces: [][]TraceEntry{{
			ent(ActSegmentMap, e, 20*mib),
			ent(ActAlloc, e, 3*mib),
			ent(ActSegmentMap, e+20*mib, 20*mib),
			ent(ActAlloc, e+3*mib, 30*mib),
			ent(ActFreeCompleted, e, 3*mib),
			ent(ActFreeCompleted, e+3*mib, 30*mib),
			ent(ActSegmentUnmap, e, 40*mib),
			ent(ActSegmentMap, e, 20*mib),
			ent(ActAlloc, e, 1049089),
		}},
		Settings: &Settings{MaxSplitSize: -1, ExpandableSegments: true},
	}
	w := workloadCase(t, s)
	wantEv := []trace.Event{alloc(0, 3*mib), alloc(1, 30*mib), free(0), free(1), emptyCache, alloc(2, 1049089)}
	if !reflect.DeepEqual(w.Events, wantEv) {
		t.Errorf("events %+v\nwant %+v", w.Events, wantEv)
	}
	var got []int64
	for _, x := range w.Truth {
		got = append(got, x.Event)
	}
	if !reflect.DeepEqual(got, []int64{0, 1, 4, 5}) {
		t.Errorf("truth events %v, want [0 1 4 5]", got)
	}
}

// The trace unmaps the middle of a mapped run: at the start the two runs of
// the snapshot were one, and the free bytes around the unmapped pages one
// free block.
func TestWorkloadExpandableRewind(t *testing.T) {
	const e = 0x7f0000000000
	s := &Snapshot{
		Segments: []Segment{
			fseg(e, PoolLarge, true, fb(e, 4*mib, 4*mib, true), fb(e+4*mib, 16*mib, 0, false)),
			fseg(e+40*mib, PoolLarge, true, fb(e+40*mib, 10*mib, 0, false), fb(e+50*mib, 10*mib, 10*mib, true)),
		},
		Traces:   [][]TraceEntry{{ent(ActSegmentUnmap, e+20*mib, 20*mib)}},
		Settings: &Settings{MaxSplitSize: -1, ExpandableSegments: true},
	}
	w := workloadCase(t, s)
	want := []InitialSegment{{Address: e, Size: 60 * mib, Pool: 1, Expandable: true,
		Blocks: []InitialBlock{{4 * mib, 0, 4 * mib}, {46 * mib, -1, 0}, {10 * mib, 1, 10 * mib}}}}
	if !reflect.DeepEqual(w.Initial, want) {
		t.Errorf("initial %+v\nwant %+v", w.Initial, want)
	}
	if !reflect.DeepEqual(w.Events, []trace.Event{emptyCache}) {
		t.Errorf("events %+v", w.Events)
	}
}

func TestWorkloadDevices(t *testing.T) {
	s := &Snapshot{Traces: [][]TraceEntry{{}, {ent(ActSegmentAlloc, 1<<30, 2*mib), ent(ActAlloc, 1<<30, 8)}, {}}}
	s.Segments = []Segment{{Device: 1, Address: 1 << 30, TotalSize: 2 * mib, Pool: PoolSmall,
		Blocks: []Block{fb(1<<30, 512, 8, true), fb(1<<30+512, 2*mib-512, 0, false)}}}
	w, err := s.Workload(-1)
	if err != nil || w.Device != 1 {
		t.Fatalf("Workload(-1) = device %v, %v; want device 1", w, err)
	}
	if err := Verify(w, s); err != nil {
		t.Error(err)
	}
	for _, d := range []int{0, 2, 7} {
		_, err := s.Workload(d)
		want := "has no trace entries; devices with entries: 1"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Workload(%d): %v, want …%s", d, err, want)
		}
	}
	_, err = (&Snapshot{Traces: [][]TraceEntry{{}}}).Workload(-1)
	if err == nil || !strings.Contains(err.Error(), "no device has trace entries") {
		t.Errorf("state-only snapshot: %v", err)
	}
}

func TestWorkloadInconsistentTrace(t *testing.T) {
	cases := []struct {
		name string
		t    []TraceEntry
		want string
	}{
		{"double free", []TraceEntry{ent(ActSegmentAlloc, 1<<30, 2*mib), ent(ActAlloc, 1<<30, 8), ent(ActFreeCompleted, 1<<30, 8), ent(ActFreeCompleted, 1<<30, 8)},
			"device 0: device_traces[0][3] (free_completed 8 B at 0x40000000): frees an address that is not allocated"},
		{"segment freed twice", []TraceEntry{ent(ActSegmentFree, 1<<30, 2*mib), ent(ActSegmentFree, 1<<30, 2*mib)},
			"device 0: device_traces[0][1] (segment_free 2097152 B at 0x40000000): rewinding from the final segments: new segment [0x40000000, 0x40200000) overlaps segment [0x40000000, 0x40200000)"},
		{"free outside any segment", []TraceEntry{ent(ActFreeCompleted, 1<<31, 8)},
			"device 0: device_traces[0][0] (free_completed 8 B at 0x80000000): frees a block allocated before the trace, but no segment holds 0x80000000 at the first entry"},
	}
	final := []Segment{fseg(1<<30, PoolSmall, false, fb(1<<30, 2*mib, 0, false))}
	for _, c := range cases {
		_, err := (&Snapshot{Segments: final, Traces: [][]TraceEntry{c.t}}).Workload(0)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: got %v\nwant %s", c.name, err, c.want)
		}
	}
}
