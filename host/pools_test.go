package host

import (
	"slices"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/sdk/abi"
)

// TestPrivatePoolsAndStreams checks PyTorch's rules for private pools
// (CUDA graphs, torch.cuda.MemPool) and for streams, one rule a case.
func TestPrivatePoolsAndStreams(t *testing.T) {
	tests := []struct {
		name     string
		policy   Policy
		capacity int64
		steps    string
		// after the steps
		segmentAllocs, segmentFrees, ooms int64
		reserved, privateReserved         int64
	}{
		{name: "a private pool does not reuse the default pool's free block",
			steps:         "a 0 16MiB; f 0; a 1 16MiB 0 1",
			segmentAllocs: 2, reserved: 32 * MiB, privateReserved: 16 * MiB},
		{name: "the default pool does not reuse a private pool's free block",
			steps:         "a 0 16MiB 0 1; f 0; a 1 16MiB",
			segmentAllocs: 2, reserved: 32 * MiB, privateReserved: 16 * MiB},
		{name: "two private pools do not share",
			steps:         "a 0 16MiB 0 1; f 0; a 1 16MiB 0 2",
			segmentAllocs: 2, reserved: 32 * MiB, privateReserved: 32 * MiB},
		{name: "a private pool reuses its own free block",
			steps:         "a 0 16MiB 0 1; f 0; a 1 16MiB 0 1",
			segmentAllocs: 1, reserved: 16 * MiB, privateReserved: 16 * MiB},
		{name: "empty_cache keeps a pool in use",
			steps:         "a 0 16MiB 0 1; a 1 16MiB; f 0; f 1; e",
			segmentAllocs: 2, segmentFrees: 1, reserved: 16 * MiB, privateReserved: 16 * MiB},
		{name: "empty_cache releases a released pool's cached segments",
			steps:         "a 0 16MiB 0 1; f 0; rp 1; e",
			segmentAllocs: 1, segmentFrees: 1},
		{name: "a released pool keeps its live blocks; their free returns them for the next release",
			steps:         "a 0 16MiB 0 1; a 1 16MiB 0 1; f 0; rp 1; e; f 1; e",
			segmentAllocs: 2, segmentFrees: 2},
		{name: "a pool's memory is back once released: the id names a new pool",
			steps:         "a 0 16MiB 0 1; f 0; rp 1; e; a 1 16MiB 0 1",
			segmentAllocs: 2, segmentFrees: 1, reserved: 16 * MiB, privateReserved: 16 * MiB},
		{name: "the OOM path releases the default pool's cached segments for the default pool",
			capacity: 40 * MiB, steps: "a 0 16MiB; a 1 16MiB; f 0; a 2 20MiB",
			segmentAllocs: 3, segmentFrees: 1, reserved: 36 * MiB},
		{name: "the OOM path does not release a pool in use",
			capacity: 40 * MiB, steps: "a 0 16MiB 0 1; a 1 16MiB; f 0; a 2 20MiB",
			segmentAllocs: 2, ooms: 1, reserved: 32 * MiB, privateReserved: 16 * MiB},
		{name: "the OOM path releases a released pool's cached segments",
			capacity: 40 * MiB, steps: "a 0 16MiB 0 1; a 1 16MiB; f 0; rp 1; a 2 20MiB",
			segmentAllocs: 3, segmentFrees: 1, reserved: 36 * MiB},
		{name: "an allocation to a private pool gets no release of every cached segment",
			capacity: 40 * MiB, steps: "a 0 16MiB; a 1 16MiB; f 0; a 2 20MiB 0 1",
			segmentAllocs: 2, ooms: 1, reserved: 32 * MiB},
		{name: "expandable: one segment per private pool",
			policy: expandable{}, steps: "a 0 4MiB; a 1 4MiB 0 1; a 2 4MiB 0 2",
			reserved: 60 * MiB, privateReserved: 40 * MiB},
		{name: "a block waiting for other streams is not reused",
			steps:         "a 0 16MiB; r 0; a 1 16MiB",
			segmentAllocs: 2, reserved: 32 * MiB},
		{name: "after its free completes it is",
			steps:         "a 0 16MiB; r 0; f 0; a 1 16MiB",
			segmentAllocs: 1, reserved: 16 * MiB},
		{name: "a waiting block does not merge with its free neighbour",
			steps:         "a 0 32MiB; f 0; a 1 16MiB; a 2 16MiB; f 2; r 1; a 3 32MiB",
			segmentAllocs: 2, reserved: 64 * MiB},
		{name: "empty_cache synchronises: the waiting block is freed and released",
			steps:         "a 0 16MiB; r 0; e; f 0",
			segmentAllocs: 1, segmentFrees: 1},
		{name: "the OOM path synchronises before releasing",
			capacity: 40 * MiB, steps: "a 0 16MiB; a 1 16MiB; r 0; a 2 20MiB; f 0",
			segmentAllocs: 3, segmentFrees: 1, reserved: 36 * MiB},
		{name: "blocks are cached per stream, also inside a private pool",
			steps:         "a 0 16MiB 7 1; f 0; a 1 16MiB 9 1",
			segmentAllocs: 2, reserved: 32 * MiB, privateReserved: 32 * MiB},
		{name: "the OOM path releases every stream's cached segments",
			capacity: 40 * MiB, steps: "a 0 16MiB 7; a 1 16MiB 9; f 0; a 2 20MiB 9",
			segmentAllocs: 3, segmentFrees: 1, reserved: 36 * MiB},
		// emptyCache(mempool_id): torch.cuda.MemPool's destructor.
		{name: "a pool's empty_cache releases that released pool's cached segments only",
			steps:         "a 0 16MiB; f 0; a 1 16MiB 0 1; f 1; a 2 12MiB 0 2; f 2; rp 1; rp 2; ep 1",
			segmentAllocs: 3, segmentFrees: 1, reserved: 28 * MiB, privateReserved: 12 * MiB},
		{name: "a pool's empty_cache keeps a pool in use",
			steps:         "a 0 16MiB 0 1; f 0; ep 1",
			segmentAllocs: 1, reserved: 16 * MiB, privateReserved: 16 * MiB},
		{name: "a pool's empty_cache keeps the pool's live blocks; their free returns them for the next one",
			steps:         "a 0 16MiB 0 1; a 1 16MiB 0 1; f 0; rp 1; ep 1; f 1; ep 1",
			segmentAllocs: 2, segmentFrees: 2},
		{name: "a pool's empty_cache forgets the pool once empty: the id names a new pool",
			steps:         "a 0 16MiB 0 1; f 0; rp 1; ep 1; a 1 16MiB 0 1",
			segmentAllocs: 2, segmentFrees: 1, reserved: 16 * MiB, privateReserved: 16 * MiB},
		{name: "a pool's empty_cache synchronises that pool's waiting frees, then releases",
			steps:         "a 0 16MiB 0 1; r 0; rp 1; ep 1; f 0",
			segmentAllocs: 1, segmentFrees: 1},
		{name: "a pool's empty_cache leaves other pools' waiting frees waiting",
			steps:         "a 0 16MiB; r 0; a 1 16MiB 0 1; r 1; rp 1; ep 1; a 2 16MiB",
			segmentAllocs: 3, segmentFrees: 1, reserved: 32 * MiB},
		{name: "the waiting frees it left are synchronised by the next whole empty_cache",
			steps:         "a 0 16MiB; r 0; a 1 16MiB 0 1; f 1; rp 1; ep 1; e",
			segmentAllocs: 2, segmentFrees: 2},
		{name: "a pool's empty_cache of a pool in use synchronises nothing",
			steps:         "a 0 16MiB 0 1; r 0; ep 1; a 1 16MiB 0 1",
			segmentAllocs: 2, reserved: 32 * MiB, privateReserved: 32 * MiB},
		{name: "expandable: a pool's empty_cache unmaps that pool's whole free pages only",
			policy: expandable{}, steps: "a 0 4MiB; f 0; a 1 4MiB 0 1; f 1; rp 1; ep 1",
			reserved: 20 * MiB},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pol := tc.policy
			if pol == nil {
				pol = NoHooks{}
			}
			a := New(cudadriver.NewSim(cudadriver.SimOptions{Capacity: tc.capacity}), pol, Options{})
			script(t, a, tc.steps)
			s := a.Stats()
			got := []int64{s.SegmentAllocs, s.SegmentFrees, s.OOMs, s.Reserved, s.PrivateReserved}
			want := []int64{tc.segmentAllocs, tc.segmentFrees, tc.ooms, tc.reserved, tc.privateReserved}
			if _, ok := pol.(expandable); ok {
				got[0], want[0] = 0, 0 // expandable segments map pages instead
			}
			for i, name := range []string{"segment allocs", "segment frees", "OOMs", "reserved", "private reserved"} {
				if got[i] != want[i] {
					t.Errorf("%s: %d, want %d", name, got[i], want[i])
				}
			}
		})
	}
}

func TestPrivatePoolAndStreamErrors(t *testing.T) {
	tests := []struct {
		steps, want string
	}{
		{"rp 1", "release_pool of private pool 1, which no allocation used"},
		{"rp 0", "only private pools (1 and up) can be released"},
		{"a 0 1MiB 0 1; rp 1; rp 1", "already released at event 1"},
		{"a 0 1MiB 0 1; rp 1; a 1 1MiB 0 1", "allocation to private pool 1, which was released at event 1 and still holds 1 segments"},
		{"a 0 1MiB 0 -2", "pool ids are 0 (the default pool) or positive"},
		{"ep 1", "empty_cache of private pool 1, which no allocation used"},
		{"ep 0", "empty_cache of pool 0: only a private pool (1 and up) can be emptied on its own"},
		{"ep -1", "empty_cache of pool -1: only a private pool (1 and up) can be emptied on its own"},
		{"a 0 1MiB 0 1; f 0; rp 1; ep 1; ep 1", "empty_cache of private pool 1, which no allocation used"},
		{"a 0 1MiB; r 0; r 0", "free_requested of id 0, whose free was already requested"},
		{"r 3", "free_requested of id 3, which is not live"},
		{"a 0 1MiB; r 0; a 0 1MiB", "alloc of id 0, whose free was requested but has not completed"},
	}
	for _, tc := range tests {
		t.Run(tc.steps, func(t *testing.T) {
			a := newDefault(0)
			err := runScript(t, a, tc.steps)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestPendingFreeAccounting: a free that waits for other streams stops
// counting as allocated at once, but its bytes stay active and requested
// until it completes, as PyTorch's allocated_bytes and active_bytes do.
func TestPendingFreeAccounting(t *testing.T) {
	a := newDefault(0)
	script(t, a, "a 0 16MiB; a 1 4MiB; r 0")
	s := a.Stats()
	if s.Allocated != 4*MiB || s.Active != 20*MiB || s.Requested != 20*MiB || s.PendingBytes != 16*MiB || s.PendingFrees != 1 {
		t.Errorf("allocated %d active %d requested %d pending %d (%d frees); want 4, 20, 20, 16 MiB (1)",
			s.Allocated/MiB, s.Active/MiB, s.Requested/MiB, s.PendingBytes/MiB, s.PendingFrees)
	}
	script(t, a, "f 0")
	s = a.Stats()
	if s.Allocated != 4*MiB || s.Active != 4*MiB || s.Requested != 4*MiB || s.PendingBytes != 0 || s.Frees != 1 {
		t.Errorf("after the free completes: allocated %d active %d requested %d pending %d, frees %d; want 4, 4, 4, 0 MiB, 1",
			s.Allocated/MiB, s.Active/MiB, s.Requested/MiB, s.PendingBytes/MiB, s.Frees)
	}
	b := newDefault(0)
	script(t, b, "a 0 16MiB; r 0; e")
	if s := b.Stats(); s.SyncedFrees != 1 || s.Reserved != 0 {
		t.Errorf("empty_cache: %d synced frees, reserved %d; want 1 and 0", s.SyncedFrees, s.Reserved)
	}
	if err := runScript(t, b, "f 0; f 0"); err == nil || !strings.Contains(err.Error(), "step 1") {
		t.Errorf("the free after a synchronised completion is a no-op once, then an error; got %v", err)
	}
}

// TestOOMReportPrivatePools: cached bytes of a private pool in use are
// unreachable for a request to the default pool and held, not releasable.
func TestOOMReportPrivatePools(t *testing.T) {
	a := New(cudadriver.NewSim(cudadriver.SimOptions{Capacity: 40 * MiB}), NoHooks{}, Options{ExplainOOMs: 1})
	script(t, a, "a 0 16MiB 0 3; a 1 16MiB; r 1; f 0; a 2 26MiB")
	rs := a.OOMReports()
	if len(rs) != 1 {
		t.Fatalf("%d OOM reports, want 1", len(rs))
	}
	r := rs[0]
	if r.CachedOtherPrivatePool != 16*MiB || r.HeldByPools != 16*MiB || r.Releasable != 0 || r.PendingFree != 0 {
		t.Errorf("other private pool %d, held %d, releasable %d, pending %d; want 16, 16, 0, 0 MiB (the sync freed the pending block and released its segment)",
			r.CachedOtherPrivatePool/MiB, r.HeldByPools/MiB, r.Releasable/MiB, r.PendingFree/MiB)
	}
	if len(r.PrivatePools) != 1 || r.PrivatePools[0].ID != 3 || r.PrivatePools[0].Cached != 16*MiB || r.PrivatePools[0].Released {
		t.Errorf("private pools %+v, want pool 3 in use with 16 MiB cached", r.PrivatePools)
	}
	if r.Cached != r.CachedOtherPrivatePool+r.CachedOtherPool+r.CachedOtherStream+r.CachedTooSmall+r.CachedNotPicked ||
		r.Cached != r.Releasable+r.Stranded+r.HeldByPools {
		t.Errorf("the splits do not add up to cached %d: %+v", r.Cached, r)
	}
}

// freeOrder is a device that records the size of each segment it frees, in
// order.
type freeOrder struct {
	cudadriver.Device
	sizes map[uint64]int64
	freed []int64
}

func (d *freeOrder) Alloc(size int64) (uint64, error) {
	addr, err := d.Device.Alloc(size)
	if err == nil {
		d.sizes[addr] = size
	}
	return addr, err
}

func (d *freeOrder) Free(addr uint64) error {
	d.freed = append(d.freed, d.sizes[addr])
	return d.Device.Free(addr)
}

// TestReleaseOrder checks that a release frees segments in the order of
// PyTorch's release_cached_blocks: the default pool's large blocks, then
// its small ones, each by raw stream value first, then each released
// private pool, small before large.
func TestReleaseOrder(t *testing.T) {
	tests := []struct {
		name  string
		steps string
		want  []int64 // sizes of the freed segments, in MiB
	}{
		{name: "large by stream value, then small",
			steps: "a 0 12MiB 7; a 1 14MiB 3; a 2 1KiB 3; f 0; f 1; f 2; e",
			want:  []int64{14, 12, 2}},
		{name: "a released private pool after the default pool, small before large",
			steps: "a 0 16MiB 0 1; a 1 1KiB 0 1; a 2 12MiB 7; a 3 1KiB; f 0; f 1; f 2; f 3; rp 1; e",
			want:  []int64{12, 2, 2, 16}},
		{name: "private pools in id order",
			steps: "a 0 12MiB 0 2; a 1 14MiB 0 1; f 0; f 1; rp 2; rp 1; e",
			want:  []int64{14, 12}},
		{name: "a pool's empty_cache: that pool only, small before large, by stream value",
			steps: "a 0 16MiB 5 1; a 1 1KiB 5 1; a 2 12MiB 3 1; a 3 14MiB 0 2; a 4 10MiB; a 5 1KiB; f 0; f 1; f 2; f 3; f 4; f 5; rp 1; rp 2; ep 1",
			want:  []int64{2, 12, 16}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev := &freeOrder{Device: cudadriver.NewSim(cudadriver.SimOptions{}), sizes: map[uint64]int64{}}
			script(t, New(dev, NoHooks{}, Options{}), tt.steps)
			var got []int64
			for _, s := range dev.freed {
				got = append(got, s/MiB)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("freed segments of %v MiB, want %v", got, tt.want)
			}
		})
	}
}

// observer records the policy_observe calls.
type observer struct {
	NoHooks
	seen [][3]int64 // kind, id, size
}

func (o *observer) Implements(h abi.Hook) bool { return h == abi.HookObserve }

func (o *observer) Observe(kind int32, id, size int64, _ int32) (int64, error) {
	o.seen = append(o.seen, [3]int64{int64(kind), id, size})
	return 0, nil
}

// TestEmptyCachePoolObserved: a pool's empty_cache is counted and observed
// as an empty_cache, with the bytes it released (none while the pool is in
// use).
func TestEmptyCachePoolObserved(t *testing.T) {
	o := &observer{}
	a := New(cudadriver.NewSim(cudadriver.SimOptions{}), o, Options{})
	script(t, a, "a 0 16MiB; f 0; a 1 12MiB 0 1; f 1; ep 1; rp 1; ep 1; e")
	var empties [][3]int64
	for _, s := range o.seen {
		if s[0] == abi.ObserveEmptyCache {
			empties = append(empties, s)
		}
	}
	want := [][3]int64{{abi.ObserveEmptyCache, 0, 0}, {abi.ObserveEmptyCache, 0, 12 * MiB}, {abi.ObserveEmptyCache, 0, 16 * MiB}}
	if !slices.Equal(empties, want) {
		t.Errorf("observed %v, want %v", empties, want)
	}
	if s := a.Stats(); s.EmptyCaches != 3 || s.SegmentFrees != 2 {
		t.Errorf("%d empty_caches, %d segment frees; want 3, 2", s.EmptyCaches, s.SegmentFrees)
	}
}
