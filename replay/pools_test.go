package replay

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/internal/synth"
	"github.com/fraglab/fraglab/trace"
)

// TestGraphPoolsExample replays examples/traces/graph-pools.jsonl (a CUDA
// graph capture into private pool 1 and a free that waits for another
// stream; docs/trace-format.md) and checks the outcome worked out by hand
// from PyTorch's rules. Sizes in MiB; a 16 MiB request gets a 16 MiB
// segment of its own, the 8 MiB one a 20 MiB segment (1-10 MiB requests).
//
//	event                              segments (pool)       reserved
//	 0 alloc 0 8 (weight)              A 20 (default)        20
//	 1 alloc 1 16 s1 pool 1            B 16 (pool 1)         36
//	 2 alloc 2 16 s1 pool 1            C 16 (pool 1)         52
//	 3 free 1                          B cached in pool 1    52
//	 4 alloc 3 16 s1 pool 1            reuses B              52
//	 5 free 3                          B cached in pool 1    52
//	 6 alloc 4 16                      D 16: B is pool 1's   68
//	 7 free_requested 4                D waits for stream 1  68
//	 8 alloc 5 16                      E 16: D is not free   84 (peak)
//	 9 free 4                          D cached              84
//	10 alloc 6 16                      reuses D              84
//	11 free 2                          C cached in pool 1    84
//	12 empty_cache                     pool 1 in use keeps B, C; A, D, E are live   84
//	13 release_pool 1                  B, C releasable       84
//	14 empty_cache                     B, C released, pool 1 forgotten               52
//	15-17 free 6, 5, 0                 D, E, A cached        52
//
// Allocated bytes peak at event 10 (8 + 16 + 16 + 16 = 56); requested bytes
// reach 56 at event 8 already, since the pending block of id 4 still counts
// as requested (and active) until its free completes, but not as allocated.
func TestGraphPoolsExample(t *testing.T) {
	wantReserved := []int64{20, 36, 52, 52, 52, 52, 68, 68, 84, 84, 84, 84, 84, 84, 52, 52, 52, 52}
	type pools struct {
		at    int64
		pools []host.PrivatePool
	}
	wantPools := []pools{
		{2, []host.PrivatePool{{ID: 1, ReleasedAt: -1, Segments: 2, Reserved: 32 * MiB, Peak: 32 * MiB}}},
		{12, []host.PrivatePool{{ID: 1, ReleasedAt: -1, Segments: 2, Reserved: 32 * MiB, Peak: 32 * MiB}}},
		{13, []host.PrivatePool{{ID: 1, Released: true, ReleasedAt: 13, Segments: 2, Reserved: 32 * MiB, Peak: 32 * MiB}}},
		{14, []host.PrivatePool{}},
	}
	for _, policy := range []string{"default", "pytorch"} {
		t.Run(policy, func(t *testing.T) {
			var reserved []int64
			got := map[int64][]host.PrivatePool{}
			var pending []int64
			res, err := Run(context.Background(), open(t, filepath.Join("..", "examples", "traces", "graph-pools.jsonl")),
				builtin(t, policy), cudadriver.NewSim(cudadriver.SimOptions{}), Options{
					CheckInvariants: true,
					AfterEvent: func(n int64, a *host.Allocator) {
						r, _, _ := a.Bytes()
						reserved = append(reserved, r/MiB)
						got[n] = a.PrivatePools()
						pending = append(pending, a.Stats().PendingBytes/MiB)
					},
				})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(reserved, wantReserved) {
				t.Errorf("reserved MiB after each event\n %v\nwant %v", reserved, wantReserved)
			}
			for _, w := range wantPools {
				if !reflect.DeepEqual(got[w.at], w.pools) {
					t.Errorf("private pools after event %d: %+v, want %+v", w.at, got[w.at], w.pools)
				}
			}
			// Only id 4's block waits, from its free_requested (7) to its free (9).
			if want := []int64{0, 0, 0, 0, 0, 0, 0, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0}; !reflect.DeepEqual(pending, want) {
				t.Errorf("pending MiB after each event\n %v\nwant %v", pending, want)
			}
			m, s := res.Metrics, res.Stats
			for _, c := range []struct {
				name      string
				got, want int64
			}{
				{"peak_reserved", m.PeakReserved, 84 * MiB},
				{"peak_allocated", m.PeakAllocated, 56 * MiB},
				{"peak_requested", m.PeakRequested, 56 * MiB},
				{"segment_allocs", m.SegmentAllocs, 5},
				{"segment_frees", m.SegmentFrees, 2},
				{"ooms", m.OOMs, 0},
				{"private pools", s.PrivatePools, 1},
				{"pool releases", s.PoolReleases, 1},
				{"peak private reserved", s.PeakPrivateReserved, 32 * MiB},
				{"private reserved at the end", s.PrivateReserved, 0},
				{"synced frees", s.SyncedFrees, 0},
				{"frees", s.Frees, 7},
				{"live at the end", s.LiveBlocks, 0},
			} {
				if c.got != c.want {
					t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
				}
			}
		})
	}
}

// memPoolEvents: a default-pool segment cached, then a MemPool's deletion:
// release_pool 1 and the empty_cache of pool (1; 0: of the whole cache).
func memPoolEvents(pool int64) []trace.Event {
	return []trace.Event{
		{Op: trace.OpAlloc, ID: 0, Size: 16 * MiB},
		{Op: trace.OpFree, ID: 0},
		{Op: trace.OpAlloc, ID: 1, Size: 12 * MiB, Pool: 1},
		{Op: trace.OpFree, ID: 1},
		{Op: trace.OpReleasePool, Pool: 1},
		{Op: trace.OpEmptyCache, Pool: pool},
		{Op: trace.OpAlloc, ID: 2, Size: 16 * MiB},
	}
}

// TestMemPoolEmptyCache replays a torch.cuda.MemPool's deletion
// (release_pool, then the empty_cache of that pool) while the default pool
// caches a whole free segment: only the pool's segment is released, at the
// empty_cache event, and the default pool's serves the next allocation. A
// whole-cache empty_cache there releases both. The driver log writes the
// release as it writes an empty_cache's.
func TestMemPoolEmptyCache(t *testing.T) {
	events := memPoolEvents
	for _, policy := range []string{"default", "pytorch"} {
		t.Run(policy, func(t *testing.T) {
			res, log := run(t, synth.NewReader(events(1)), policy, 0)
			want := `{"event":0,"action":"segment_alloc","addr":ADDR0,"size":16777216,"stream":0,"pool":"large"}
{"event":2,"action":"segment_alloc","addr":ADDR1,"size":12582912,"stream":0,"pool":"large","private_pool":1}
{"event":5,"action":"segment_free","addr":ADDR1,"size":12582912,"stream":0,"pool":"large","private_pool":1}
`
			lines := strings.Split(log, "\n")
			if len(lines) != 4 {
				t.Fatalf("driver log:\n%s", log)
			}
			addr := func(line string) string {
				_, rest, _ := strings.Cut(line, `"addr":`)
				n, _, _ := strings.Cut(rest, ",")
				return n
			}
			want = strings.NewReplacer("ADDR0", addr(lines[0]), "ADDR1", addr(lines[1])).Replace(want)
			if log != want {
				t.Errorf("driver log\n%s\nwant\n%s", log, want)
			}
			if s := res.Stats; s.SegmentAllocs != 2 || s.SegmentFrees != 1 || s.Reserved != 16*MiB || s.EmptyCaches != 1 {
				t.Errorf("segment allocs %d, frees %d, reserved %d, empty_caches %d; want 2, 1, 16 MiB, 1", s.SegmentAllocs, s.SegmentFrees, s.Reserved, s.EmptyCaches)
			}
			whole, _ := run(t, synth.NewReader(events(0)), policy, 0)
			if s := whole.Stats; s.SegmentAllocs != 3 || s.SegmentFrees != 2 {
				t.Errorf("with a whole-cache empty_cache: segment allocs %d, frees %d; want 3, 2", s.SegmentAllocs, s.SegmentFrees)
			}
		})
	}
}
