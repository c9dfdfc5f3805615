package snapshot

import (
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/trace"
)

// opsOf writes events compactly: "alloc 3 p1", "free 2", "free_requested 0",
// "release_pool 1", "empty_cache", "empty_cache p1" (of pool 1 only).
func opsOf(evs []trace.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		switch e.Op {
		case trace.OpAlloc:
			out[i] = "alloc " + itoa(e.ID) + " p" + itoa(e.Pool)
		case trace.OpFree, trace.OpFreeRequested:
			out[i] = e.Op.String() + " " + itoa(e.ID)
		case trace.OpReleasePool:
			out[i] = "release_pool " + itoa(e.Pool)
		case trace.OpEmptyCache:
			out[i] = "empty_cache"
			if e.Pool != 0 {
				out[i] += " p" + itoa(e.Pool)
			}
		default:
			out[i] = e.Op.String()
		}
	}
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestPoolFixturesImport: what the import makes of the hand-built
// snapshots, and that Verify accepts it.
func TestPoolFixturesImport(t *testing.T) {
	cases := []struct {
		s       *Snapshot
		pools   [][2]uint64
		ops     []string
		streams map[int64]int64 // alloc id → stream
		sync    []int           // Truth entries with Sync
	}{
		{graphPoolSnapshot(), [][2]uint64{{1, 0}}, []string{
			"alloc 0 p0", "alloc 1 p1", "alloc 2 p1", "free 1", "alloc 3 p1", "free 2",
			"alloc 4 p0", "free 4", "free 3", "release_pool 1", "empty_cache",
		}, map[int64]int64{0: 0, 1: captureStream, 3: captureStream, 4: 0}, nil},
		{memPoolSnapshot(), [][2]uint64{{0, 1}}, []string{
			"alloc 0 p1", "alloc 1 p1", "alloc 2 p1", "alloc 3 p0", "free 0", "free 1", "alloc 4 p0",
			"release_pool 1", "empty_cache p1", "free 2", "free 3", "free 4", "empty_cache", "alloc 5 p0",
		}, nil, nil},
		{recordStreamSnapshot(), nil, []string{
			"alloc 0 p0", "alloc 1 p0", "free_requested 0", "alloc 2 p0", "free 0", "alloc 3 p0", "free 1",
			"alloc 4 p0", "free 2", "free 3", "free 4", "empty_cache", "alloc 5 p0", "free_requested 5",
		}, map[int64]int64{0: 0, 1: sideStream, 2: 0}, nil},
		{recordStreamOOMSnapshot(), nil, []string{
			"alloc 0 p0", "free_requested 0", "alloc 1 p0", "alloc 2 p0", "free 0", "free 1",
		}, nil, []int{2}},
		// The MemPool's deletion releases its segment only: the empty_cache
		// of pool 1, after the free its synchronisation completed; k's free
		// (id 2) completes later, by process_events.
		{memPoolScopedSnapshot(), [][2]uint64{{0, 1}}, []string{
			"alloc 0 p1", "alloc 1 p0", "alloc 2 p0", "free_requested 0", "free_requested 2", "free 1",
			"release_pool 1", "free 0", "empty_cache p1", "free 2", "alloc 3 p0",
		}, nil, nil},
	}
	for _, c := range cases {
		w, err := c.s.Workload(-1)
		if err != nil {
			t.Fatal(err)
		}
		if err := Verify(w, c.s); err != nil {
			t.Errorf("%v", err)
		}
		if !reflect.DeepEqual(w.PoolIDs, c.pools) {
			t.Errorf("pool ids %v, want %v", w.PoolIDs, c.pools)
		}
		if got := opsOf(w.Events); !reflect.DeepEqual(got, c.ops) {
			t.Errorf("events\n%q\nwant\n%q", got, c.ops)
		}
		for _, e := range w.Events {
			if want, ok := c.streams[e.ID]; ok && e.Op == trace.OpAlloc && e.Stream != want {
				t.Errorf("alloc %d on stream %#x, want %#x", e.ID, e.Stream, want)
			}
		}
		var sync []int
		for k, tr := range w.Truth {
			if tr.Sync {
				sync = append(sync, k)
			}
		}
		if !reflect.DeepEqual(sync, c.sync) {
			t.Errorf("synchronising releases %v, want %v", sync, c.sync)
		}
	}
}

// A private pool's truth entries and the release_pool before its first
// release: the release_pool owns no entry, the burst's releases belong to
// the empty_cache.
func TestPoolTruthEvents(t *testing.T) {
	w, err := graphPoolSnapshot().Workload(-1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tr := range w.Truth {
		got = append(got, tr.Action+" e"+itoa(tr.Event)+" p"+itoa(tr.PrivatePool))
	}
	want := []string{
		"segment_alloc e0 p0", "segment_alloc e1 p1", "segment_alloc e2 p1", "segment_alloc e6 p0",
		"segment_free e10 p0", "segment_free e10 p1", "segment_free e10 p1",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("truth %q\nwant %q", got, want)
	}
}

// midRunPools: a trace that starts with a private pool's segments in place
// (the final segments name the pool) and ends with the pool released by an
// empty_cache: the initial segments carry the pool.
func TestPoolInitialState(t *testing.T) {
	const p, q = 0x10000000, 0x20000000
	id := [2]uint64{3, 0}
	seg := fseg(p, PoolLarge, false, fb(p, 2*mib, 2*mib, true), fb(p+2*mib, 18*mib, 0, false))
	seg.PoolID = id
	s := &Snapshot{
		Segments: []Segment{seg},
		Traces: [][]TraceEntry{{
			ent(ActAlloc, p+2*mib, 4*mib), // in the pool's segment: pool 1
			ent(ActFreeRequested, p+2*mib, 4*mib),
			ent(ActFreeCompleted, p+2*mib, 4*mib),
			ent(ActFreeRequested, q, 12*mib), // a block of the pool's other segment, live at the start
			ent(ActFreeCompleted, q, 12*mib),
			ent(ActSegmentFree, q, 12*mib),
		}},
	}
	s.Traces[0][3].Stream, s.Traces[0][4].Stream, s.Traces[0][5].Stream = 7, 7, 7
	// The released segment is the pool's (newer PyTorch names it).
	s.Traces[0][5].PoolID, s.Traces[0][5].HasPoolID = id, true
	w := workloadCase(t, s)
	want := []InitialSegment{
		{Address: p, Size: 20 * mib, Pool: poolLarge, PrivatePool: 1, Blocks: []InitialBlock{{2 * mib, 0, 2 * mib}, {18 * mib, -1, 0}}},
		{Address: q, Size: 12 * mib, Pool: poolLarge, Stream: 7, PrivatePool: 1, Blocks: []InitialBlock{{12 * mib, 1, 12 * mib}}},
	}
	if !reflect.DeepEqual(w.Initial, want) {
		t.Errorf("initial %+v\nwant %+v", w.Initial, want)
	}
	if got := opsOf(w.Events); !reflect.DeepEqual(got, []string{"alloc 2 p1", "free 2", "free 1", "release_pool 1", "empty_cache"}) {
		t.Errorf("events %q", got)
	}
}

// On the OOM path of an allocation to a private pool PyTorch may release
// oversize blocks of that very pool (release_available_cached_blocks):
// no release_pool is inferred from those.
func TestNoReleasePoolForOwnPoolOversize(t *testing.T) {
	const p, q = 0x10000000, 0x40000000
	id := [2]uint64{0, 1}
	pe := func(e TraceEntry) TraceEntry { e.PoolID, e.HasPoolID = id, true; return e }
	final := fseg(q, PoolLarge, false, fb(q, 40*mib, 40*mib, true))
	final.PoolID = id
	s := &Snapshot{
		Segments: []Segment{final},
		Traces: [][]TraceEntry{{
			pe(ent(ActSegmentAlloc, p, 30*mib)),
			pe(ent(ActAlloc, p, 30*mib)),
			pe(ent(ActFreeRequested, p, 30*mib)),
			pe(ent(ActFreeCompleted, p, 30*mib)),
			pe(ent(ActSegmentFree, p, 30*mib)), // oversize (≥ 20 MiB max_split_size), the pool's own
			pe(ent(ActSegmentAlloc, q, 40*mib)),
			pe(ent(ActAlloc, q, 40*mib)),
		}},
		Settings: &Settings{MaxSplitSize: 20 * mib},
	}
	w := workloadCase(t, s)
	if got := opsOf(w.Events); !reflect.DeepEqual(got, []string{"alloc 0 p1", "free 0", "alloc 1 p1"}) {
		t.Errorf("events %q", got)
	}
}

// Pool ids that disagree are an error naming both.
func TestPoolIDConflict(t *testing.T) {
	const p = 0x10000000
	final := fseg(p, PoolLarge, false, fb(p, 20*mib, 4*mib, true))
	final.PoolID = [2]uint64{0, 1}
	e := ent(ActSegmentAlloc, p, 20*mib)
	e.PoolID, e.HasPoolID = [2]uint64{0, 2}, true
	s := &Snapshot{Segments: []Segment{final}, Traces: [][]TraceEntry{{e, ent(ActAlloc, p, 4*mib)}}}
	_, err := s.Workload(-1)
	if err == nil || !strings.Contains(err.Error(), "the entry's pool_id is (0, 2), but the segment it makes belongs to pool (0, 1)") {
		t.Errorf("got %v", err)
	}
}

// A segment may end at 2**64 exactly (address + size == 2**64), in a
// trace that allocates it and in one that starts with it.
func TestSegmentEndingAt2to64(t *testing.T) {
	const a = uint64(math.MaxUint64) - 2*mib + 1
	final := []Segment{fseg(a, PoolSmall, false, fb(a, 512, 100, true), fb(a+512, 512, 100, true), fb(a+1024, 2*mib-1024, 0, false))}
	clean := &Snapshot{Segments: final, Traces: [][]TraceEntry{{
		ent(ActSegmentAlloc, a, 2*mib),
		ent(ActAlloc, a, 100),
		ent(ActAlloc, a+512, 100),
	}}}
	workloadCase(t, clean)
	midRun := &Snapshot{Segments: final, Traces: [][]TraceEntry{{ent(ActAlloc, a+512, 100)}}}
	w := workloadCase(t, midRun)
	want := []InitialSegment{{Address: a, Size: 2 * mib, Pool: poolSmall, Blocks: []InitialBlock{{512, 0, 100}, {2*mib - 512, -1, 0}}}}
	if !reflect.DeepEqual(w.Initial, want) {
		t.Errorf("initial %+v\nwant %+v", w.Initial, want)
	}
}

// TestScopedEmptyCacheRule: which release bursts become the empty_cache of
// one private pool (torch.cuda.MemPool's destructor: releasePool, then
// emptyCache(mempool_id)) and which stay a whole-cache empty_cache.
func TestScopedEmptyCacheRule(t *testing.T) {
	const p, q, d uint64 = 0x10000000, 0x12000000, 0x20000000
	mem, graph := [2]uint64{0, 1}, [2]uint64{1, 0}
	cases := []struct {
		name  string
		build func(f *fixtureTrace)
		final []Segment
		ops   []string
	}{
		{"a MemPool's segments alone, at its release: that pool's", func(f *fixtureTrace) {
			f.add(ActSegmentAlloc, p, 20*mib, 0, mem)
			f.add(ActAlloc, p, 8*mib, 0, mem)
			f.free(p, 8*mib, 0, mem)
			f.add(ActSegmentFree, p, 20*mib, 0, mem)
		}, nil, []string{"alloc 0 p1", "free 0", "release_pool 1", "empty_cache p1"}},
		{"a CUDA graph's own pool (n, 0): releasePool alone, so the whole cache", func(f *fixtureTrace) {
			f.add(ActSegmentAlloc, p, 20*mib, 0, graph)
			f.add(ActAlloc, p, 8*mib, 0, graph)
			f.free(p, 8*mib, 0, graph)
			f.add(ActSegmentFree, p, 20*mib, 0, graph)
		}, nil, []string{"alloc 0 p1", "free 0", "release_pool 1", "empty_cache"}},
		{"the default pool's segment released too: the whole cache", func(f *fixtureTrace) {
			f.add(ActSegmentAlloc, p, 20*mib, 0, mem)
			f.add(ActAlloc, p, 8*mib, 0, mem)
			f.add(ActSegmentAlloc, d, 20*mib, 0, defaultPoolID)
			f.add(ActAlloc, d, 8*mib, 0, defaultPoolID)
			f.free(p, 8*mib, 0, mem)
			f.free(d, 8*mib, 0, defaultPoolID)
			f.add(ActSegmentFree, d, 20*mib, 0, defaultPoolID)
			f.add(ActSegmentFree, p, 20*mib, 0, mem)
		}, nil, []string{"alloc 0 p1", "alloc 1 p0", "free 0", "free 1", "release_pool 1", "empty_cache"}},
		{"a default-pool free completed by the burst's synchronisation: the whole cache", func(f *fixtureTrace) {
			f.add(ActSegmentAlloc, p, 20*mib, 0, mem)
			f.add(ActAlloc, p, 8*mib, 0, mem)
			f.add(ActSegmentAlloc, d, 20*mib, 0, defaultPoolID)
			f.add(ActAlloc, d, 8*mib, 0, defaultPoolID)
			f.add(ActAlloc, d+8*mib, 8*mib, 0, defaultPoolID)
			f.add(ActFreeRequested, d+8*mib, 8*mib, 0, defaultPoolID)
			f.free(p, 8*mib, 0, mem)
			f.add(ActFreeCompleted, d+8*mib, 8*mib, 0, defaultPoolID)
			f.add(ActSegmentFree, p, 20*mib, 0, mem)
		}, []Segment{fseg(d, PoolLarge, false, fb(d, 8*mib, 8*mib, true), fb(d+8*mib, 12*mib, 0, false))},
			[]string{"alloc 0 p1", "alloc 1 p0", "alloc 2 p0", "free_requested 2", "free 0", "release_pool 1", "free 2", "empty_cache"}},
		{"two MemPools' segments in one burst: the whole cache", func(f *fixtureTrace) {
			f.add(ActSegmentAlloc, p, 20*mib, 0, mem)
			f.add(ActAlloc, p, 8*mib, 0, mem)
			f.add(ActSegmentAlloc, q, 12*mib, 0, [2]uint64{0, 2})
			f.add(ActAlloc, q, 12*mib, 0, [2]uint64{0, 2})
			f.free(p, 8*mib, 0, mem)
			f.free(q, 12*mib, 0, [2]uint64{0, 2})
			f.add(ActSegmentFree, p, 20*mib, 0, mem)
			f.add(ActSegmentFree, q, 12*mib, 0, [2]uint64{0, 2})
		}, nil, []string{"alloc 0 p1", "alloc 1 p2", "free 0", "free 1", "release_pool 1", "release_pool 2", "empty_cache"}},
		{"a pool released at an earlier burst: the whole cache", func(f *fixtureTrace) {
			f.add(ActSegmentAlloc, p, 20*mib, 0, mem)
			f.add(ActAlloc, p, 8*mib, 0, mem)
			f.add(ActSegmentAlloc, q, 12*mib, 0, mem)
			f.add(ActAlloc, q, 12*mib, 0, mem)
			f.free(p, 8*mib, 0, mem)
			f.add(ActSegmentFree, p, 20*mib, 0, mem)
			f.free(q, 12*mib, 0, mem)
			f.add(ActSegmentFree, q, 12*mib, 0, mem)
		}, nil, []string{"alloc 0 p1", "alloc 1 p1", "free 0", "release_pool 1", "empty_cache p1", "free 1", "empty_cache"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fixtureTrace{pools: true}
			c.build(f)
			w := workloadCase(t, &Snapshot{Segments: c.final, Traces: [][]TraceEntry{f.entries}, Settings: newestSettings()})
			if got := opsOf(w.Events); !reflect.DeepEqual(got, c.ops) {
				t.Errorf("events\n%q\nwant\n%q", got, c.ops)
			}
		})
	}
}
