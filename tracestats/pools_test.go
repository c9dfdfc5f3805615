package tracestats

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/internal/synth"
	"github.com/fraglab/fraglab/policies"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/trace"
)

const MiB = 1 << 20

// TestGraphPools checks the numbers of examples/traces/graph-pools.jsonl
// that private pools and pending frees change, worked out by hand (see
// docs/trace-format.md for the trace).
func TestGraphPools(t *testing.T) {
	s := statsOf(t, "../examples/traces/graph-pools.jsonl")
	// Live MiB after each event: id 4 (16 MiB) stays live from its
	// free_requested (event 7) to its free (event 9).
	live := []int64{8, 24, 40, 24, 40, 24, 40, 40, 56, 40, 56, 40, 40, 40, 40, 24, 8, 0}
	var curve []Point
	for i, l := range live {
		curve = append(curve, Point{Event: int64(i), Live: l * MiB})
	}
	// Lifetimes of ids 1-6 (the 16 MiB ones): 3-1, 11-2, 5-4, 9-6 (to the
	// free that completes id 4), 16-8, 15-10.
	large := Lifetime{Freed: 6, Min: 1, P50: 3, P90: 8, P99: 8, Max: 9, Mean: float64(2+9+1+3+8+5) / 6}
	checks := []struct {
		name      string
		got, want any
	}{
		{"events", s.Events, int64(18)},
		{"allocs", s.Allocs, int64(7)},
		{"frees", s.Frees, int64(7)},
		{"empty_cache", s.EmptyCache, int64(2)},
		{"free_requested", s.FreeRequested, int64(1)},
		{"release_pool", s.ReleasePool, int64(1)},
		{"peak", s.PeakLiveBytes, int64(56 * MiB)},
		{"peak event", s.PeakEvent, int64(8)},
		{"peak count", s.PeakLiveCount, int64(4)},
		{"curve", s.Curve, curve},
		{"private pools", s.PrivatePools, int64(1)},
		// Pool 1 holds ids 1 and 2 (events 1, 2), then 2 and 3 (event 4).
		{"peak private", s.PeakPrivateBytes, int64(32 * MiB)},
		{"peak private event", s.PeakPrivateEvent, int64(2)},
		{"pools", s.Pools, []Pool{{Pool: 1, Allocs: 3, Bytes: 48 * MiB, PeakLive: 32 * MiB, Releases: 1}}},
		{"large lifetimes", s.Classes[2].Lifetime, large},
		{"live at end", s.LiveAtEnd, int64(0)},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %+v, want %+v", c.name, c.got, c.want)
		}
	}
	var b bytes.Buffer
	if err := WriteText(&b, s, "graph-pools.jsonl"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"events       18 (alloc 7, free 7, empty_cache 2, free_requested 1, release_pool 1)\n",
		"pools        1 private pools; peak live in them 32.0 MiB (33554432 bytes) at event 2\n",
		"\nprivate pools\n  pool 1                        3 allocs    48.0 MiB  peak live   32.0 MiB  released once\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
	// Without pools or pending frees the text is as it was.
	b.Reset()
	if err := WriteText(&b, statsOf(t, "testdata/small.jsonl"), "small.jsonl"); err != nil {
		t.Fatal(err)
	}
	if txt := b.String(); !strings.Contains(txt, "events       8 (alloc 4, free 3, empty_cache 1)\n") || strings.Contains(txt, "private pool") || strings.Contains(txt, "free_requested") {
		t.Errorf("text of a trace without pools changed:\n%s", txt)
	}
}

// pendingTrace has a free that an empty_cache completes before its own
// free arrives: 16 MiB (id 0) and 4 MiB (id 1) live, id 0's free
// requested (event 2), empty_cache (event 3) synchronises it, an alloc of
// 8 MiB (event 4), then id 0's free (event 5, a no-op by then) and id 1's.
var pendingTrace = []trace.Event{
	{Op: trace.OpAlloc, ID: 0, Size: 16 * MiB, Pool: 2},
	{Op: trace.OpAlloc, ID: 1, Size: 4 * MiB},
	{Op: trace.OpFreeRequested, ID: 0},
	{Op: trace.OpEmptyCache},
	{Op: trace.OpAlloc, ID: 2, Size: 8 * MiB},
	{Op: trace.OpFree, ID: 0},
	{Op: trace.OpFree, ID: 1},
}

// TestPendingSynchronised: an empty_cache ends the pending allocation's
// live bytes and lifetime, as the replay completes its free there.
func TestPendingSynchronised(t *testing.T) {
	s, err := Read(synth.NewReader(pendingTrace))
	if err != nil {
		t.Fatal(err)
	}
	want := []Point{{0, 16 * MiB}, {1, 20 * MiB}, {2, 20 * MiB}, {3, 4 * MiB}, {4, 12 * MiB}, {5, 12 * MiB}, {6, 8 * MiB}}
	if !reflect.DeepEqual(s.Curve, want) {
		t.Errorf("curve %v, want %v", s.Curve, want)
	}
	if l := s.Classes[2].Lifetime; l.Freed != 1 || l.Max != 3 {
		t.Errorf("id 0's lifetime %+v, want 3 events (alloc to the empty_cache)", l)
	}
	if s.LiveAtEnd != 1 || s.LiveBytesAtEnd != 8*MiB || s.PeakPrivateBytes != 16*MiB || s.Pools[0].PeakLive != 16*MiB {
		t.Errorf("live at end %d (%d bytes), peak private %d; want 1 (8 MiB), 16 MiB", s.LiveAtEnd, s.LiveBytesAtEnd, s.PeakPrivateBytes)
	}
	// Synchronised but never freed: its memory is not live at the end.
	s, err = Read(synth.NewReader(pendingTrace[:4]))
	if err != nil {
		t.Fatal(err)
	}
	if s.LiveAtEnd != 1 || s.LiveBytesAtEnd != 4*MiB {
		t.Errorf("live at end %d (%d bytes), want 1 (4 MiB)", s.LiveAtEnd, s.LiveBytesAtEnd)
	}
}

// scopedTrace empties one private pool's cache (a MemPool deleted): the
// empty_cache of pool 1 while the pool is in use completes nothing (event
// 5); after its release_pool it completes the pending free of pool 1's id
// 0 (event 7) but not the default pool's id 1, which only the whole-cache
// empty_cache completes (event 9).
var scopedTrace = []trace.Event{
	{Op: trace.OpAlloc, ID: 0, Size: 16 * MiB, Pool: 1},
	{Op: trace.OpAlloc, ID: 1, Size: 4 * MiB},
	{Op: trace.OpAlloc, ID: 2, Size: 8 * MiB, Pool: 1},
	{Op: trace.OpFreeRequested, ID: 0},
	{Op: trace.OpFreeRequested, ID: 1},
	{Op: trace.OpEmptyCache, Pool: 1},
	{Op: trace.OpReleasePool, Pool: 1},
	{Op: trace.OpEmptyCache, Pool: 1},
	{Op: trace.OpFree, ID: 0},
	{Op: trace.OpEmptyCache},
	{Op: trace.OpFree, ID: 1},
	{Op: trace.OpFree, ID: 2},
}

// TestPoolEmptyCache: the empty_cache of a private pool completes only that
// pool's pending frees, and only once the pool is released; it is counted
// among the empty_cache events, per pool, and in the text.
func TestPoolEmptyCache(t *testing.T) {
	s, err := Read(synth.NewReader(scopedTrace))
	if err != nil {
		t.Fatal(err)
	}
	var want []Point
	for i, l := range []int64{16, 20, 28, 28, 28, 28, 28, 12, 12, 8, 8, 0} {
		want = append(want, Point{Event: int64(i), Live: l * MiB})
	}
	if !reflect.DeepEqual(s.Curve, want) {
		t.Errorf("curve %v, want %v", s.Curve, want)
	}
	if s.EmptyCache != 3 || s.EmptyCachePool != 2 {
		t.Errorf("empty_cache %d, of a pool %d; want 3, 2", s.EmptyCache, s.EmptyCachePool)
	}
	if pl := []Pool{{Pool: 1, Allocs: 2, Bytes: 24 * MiB, PeakLive: 24 * MiB, Releases: 1, Emptied: 2}}; !reflect.DeepEqual(s.Pools, pl) {
		t.Errorf("pools %+v, want %+v", s.Pools, pl)
	}
	// Id 0 ends at event 7 (its pool's empty_cache), id 1 at event 9 (the
	// whole cache's), id 2 at its free (event 11).
	if l := s.Classes[2].Lifetime; l.Freed != 1 || l.Max != 7 {
		t.Errorf("id 0's lifetime %+v, want 7 events (alloc to its pool's empty_cache)", l)
	}
	if l := s.Classes[1].Lifetime; l.Freed != 2 || l.Min != 8 || l.Max != 9 {
		t.Errorf("ids 1 and 2's lifetimes %+v, want 8 and 9 events", l)
	}
	var b bytes.Buffer
	if err := WriteText(&b, s, "scoped"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"events       12 (alloc 3, free 3, empty_cache 3 (2 of a private pool), free_requested 2, release_pool 1)\n",
		"peak live   24.0 MiB  released once, emptied 2 times\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
}

// TestPoolsPeakMatchesReplay: with private pools and pending frees, the
// peak live bytes still equal the replay's peak_requested on an unlimited
// device.
func TestPoolsPeakMatchesReplay(t *testing.T) {
	bin, _ := policies.Builtin("pytorch")
	mod, err := wasm.Compile(context.Background(), "pytorch", bin)
	if err != nil {
		t.Fatal(err)
	}
	graph := readEvents(t, "../examples/traces/graph-pools.jsonl")
	for name, events := range map[string][]trace.Event{"graph-pools": graph, "pending": pendingTrace, "scoped": scopedTrace} {
		s, err := Read(synth.NewReader(events))
		if err != nil {
			t.Fatal(err)
		}
		res, err := replay.Run(context.Background(), synth.NewReader(events), mod, cudadriver.NewSim(cudadriver.SimOptions{}), replay.Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s.PeakLiveBytes != res.Metrics.PeakRequested {
			t.Errorf("%s: stats peak %d, replay peak_requested %d", name, s.PeakLiveBytes, res.Metrics.PeakRequested)
		}
	}
}

func readEvents(t *testing.T, path string) []trace.Event {
	t.Helper()
	r, c, err := trace.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out []trace.Event
	for {
		e, err := r.Next()
		if err != nil {
			return out
		}
		out = append(out, e)
	}
}

func TestPendingErrors(t *testing.T) {
	for _, tc := range []struct {
		events []trace.Event
		want   string
	}{
		{[]trace.Event{{Op: trace.OpFreeRequested, ID: 3}}, "event 0: free_requested of id 3, which is not live"},
		{[]trace.Event{{Op: trace.OpAlloc, ID: 3, Size: 512}, {Op: trace.OpFreeRequested, ID: 3}, {Op: trace.OpFreeRequested, ID: 3}},
			"event 2: free_requested of id 3, whose free was already requested"},
		{[]trace.Event{{Op: trace.OpAlloc, ID: 3, Size: 512}, {Op: trace.OpFreeRequested, ID: 3}, {Op: trace.OpEmptyCache}, {Op: trace.OpFreeRequested, ID: 3}},
			"event 3: free_requested of id 3, whose free was already requested"},
	} {
		c := NewCollector()
		var err error
		for _, e := range tc.events {
			if err = c.Add(e, nil); err != nil {
				break
			}
		}
		if err == nil || err.Error() != tc.want {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}
