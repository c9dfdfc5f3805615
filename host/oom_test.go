package host

import (
	"reflect"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/sdk/abi"
)

// pickNothing refuses every candidate block, so a request that a cached
// block could hold still grows (or fails).
type pickNothing struct{ NoHooks }

func (pickNothing) Implements(h abi.Hook) bool { return h == abi.HookPickBlock }
func (pickNothing) PickBlock([]abi.Candidate, int64, int32, int32, int32) (int64, error) {
	return abi.None, nil
}

// keepCache never releases cached memory.
type keepCache struct{ NoHooks }

func (keepCache) Implements(h abi.Hook) bool { return h == abi.HookRelease }
func (keepCache) Release(int32, int64, int32, int32, int32) (int64, error) {
	return abi.ActNothing, nil
}

// keepCacheExpandable is keepCache with expandable segments.
type keepCacheExpandable struct{ keepCache }

func (keepCacheExpandable) Implements(h abi.Hook) bool {
	return h == abi.HookRelease || h == abi.HookSegmentMode
}
func (keepCacheExpandable) SegmentMode(pool, _ int32) (int64, error) { return DefaultPage(pool), nil }

// limited sets a reserve limit (ABI 1.3) and is otherwise the defaults.
type limited struct {
	NoHooks
	limit int64
}

func (p limited) ReserveLimit() int64 { return p.limit }

// limitedExpandable is limited with expandable segments.
type limitedExpandable struct{ limited }

func (limitedExpandable) Implements(h abi.Hook) bool { return h == abi.HookSegmentMode }
func (limitedExpandable) SegmentMode(pool, _ int32) (int64, error) {
	return DefaultPage(pool), nil
}

func TestReserveLimit(t *testing.T) {
	// 50 MiB allowed of 100: a third 20 MiB segment fails without a device
	// call; then, with the first segment free, 30 MiB fails the limit (70 >
	// 50), the release path returns the free segment and the retry fits
	// (50).
	dev := cudadriver.NewSim(cudadriver.SimOptions{Capacity: 100 * MiB})
	a := New(dev, limited{limit: 50 * MiB}, Options{})
	script(t, a, "a 1 20MiB; a 2 20MiB; a 3 20MiB; f 1; a 4 30MiB")
	s := a.Stats()
	if s.OOMs != 1 || s.FirstOOM != 2 || s.PeakReserved != 50*MiB || s.SegmentAllocs != 3 || s.SegmentFrees != 1 {
		t.Errorf("OOMs %d (first at %d), peak reserved %d MiB, segment allocs %d, frees %d; want 1 (2), 50, 3, 1",
			s.OOMs, s.FirstOOM, s.PeakReserved/MiB, s.SegmentAllocs, s.SegmentFrees)
	}
	if c := dev.Counters(); c.Allocs != 3 || c.FailedAllocs != 0 {
		t.Errorf("%d device allocs, %d failed; want 3 and 0: the refused growth must not reach the device", c.Allocs, c.FailedAllocs)
	}
}

func TestOOMReport(t *testing.T) {
	tests := []struct {
		name     string
		policy   Policy
		capacity int64
		steps    string // the last step is the allocation that fails
		want     OOMReport
		segments int // segments listed (holding cached bytes)
	}{
		{"holes too small, stranded between live blocks", NoHooks{}, 40 * MiB,
			// A: [8 free][8 live][4 free], B: [8 live][12 free]; 14 MiB fits nowhere.
			"a 1 8MiB; a 2 8MiB; a 3 8MiB; f 1; a 4 14MiB",
			OOMReport{ID: 4, Requested: 14 * MiB, Rounded: 14 * MiB, Pool: abi.PoolLarge, Capacity: 40 * MiB,
				Reserved: 40 * MiB, Allocated: 16 * MiB, Grow: 14 * MiB, Cached: 24 * MiB, FreeBlocks: 3, LargestFree: 12 * MiB,
				CachedTooSmall: 24 * MiB, Stranded: 24 * MiB}, 2},
		{"cached on another stream", NoHooks{}, 20 * MiB,
			"a 1 8MiB; a 2 8MiB; f 1; a 3 8MiB 7",
			OOMReport{ID: 3, Requested: 8 * MiB, Rounded: 8 * MiB, Pool: abi.PoolLarge, Stream: 7, Capacity: 20 * MiB,
				Reserved: 20 * MiB, Allocated: 8 * MiB, Grow: 20 * MiB, Cached: 12 * MiB, FreeBlocks: 2, LargestFree: 8 * MiB,
				CachedOtherStream: 12 * MiB, Stranded: 12 * MiB}, 1},
		{"cached in the small pool", NoHooks{}, 2 * MiB,
			"a 1 512KiB; a 2 2MiB",
			OOMReport{ID: 2, Requested: 2 * MiB, Rounded: 2 * MiB, Pool: abi.PoolLarge, Capacity: 2 * MiB,
				Reserved: 2 * MiB, Allocated: MiB / 2, Grow: 20 * MiB, Cached: 3 * MiB / 2, FreeBlocks: 1, LargestFree: 3 * MiB / 2,
				CachedOtherPool: 3 * MiB / 2, Stranded: 3 * MiB / 2}, 1},
		{"large enough but not picked", pickNothing{}, 40 * MiB,
			// Each 8 MiB request refuses the 12 MiB left in the segment
			// before and grows; the third finds the device full.
			"a 1 8MiB; a 2 8MiB; a 3 8MiB",
			OOMReport{ID: 3, Requested: 8 * MiB, Rounded: 8 * MiB, Pool: abi.PoolLarge, Capacity: 40 * MiB,
				Reserved: 40 * MiB, Allocated: 16 * MiB, Grow: 20 * MiB, Cached: 24 * MiB, FreeBlocks: 2, LargestFree: 12 * MiB,
				CachedNotPicked: 24 * MiB, Stranded: 24 * MiB}, 2},
		{"a whole free segment the policy never releases", keepCache{}, 40 * MiB,
			"a 1 20MiB; a 2 20MiB; f 1; a 3 30MiB",
			OOMReport{ID: 3, Requested: 30 * MiB, Rounded: 30 * MiB, Pool: abi.PoolLarge, Capacity: 40 * MiB,
				Reserved: 40 * MiB, Allocated: 20 * MiB, Grow: 30 * MiB, Cached: 20 * MiB, FreeBlocks: 1, LargestFree: 20 * MiB,
				CachedTooSmall: 20 * MiB, Releasable: 20 * MiB}, 1},
		{"expandable: the free tail of a live page is stranded", expandable{}, 40 * MiB,
			// 30 MiB maps two 20 MiB pages; the 10 MiB left share the
			// second page with the live block.
			"a 1 30MiB; a 2 12MiB",
			OOMReport{ID: 2, Requested: 12 * MiB, Rounded: 12 * MiB, Pool: abi.PoolLarge, Capacity: 40 * MiB,
				Reserved: 40 * MiB, Allocated: 30 * MiB, Grow: 20 * MiB, Cached: 10 * MiB, FreeBlocks: 1, LargestFree: 10 * MiB,
				CachedTooSmall: 10 * MiB, Stranded: 10 * MiB}, 1},
		{"expandable, never released: whole free pages are releasable", keepCacheExpandable{}, 80 * MiB,
			// Pages [0,20) [20,40) [40,60) mapped; freeing [0,30) leaves
			// page 0 whole and 10 MiB sharing page 1 with the live block.
			// The reserved range (1⅛ × 80 MiB, in pages: 100 MiB) has 40
			// MiB unmapped, too little for 50: nothing is asked (Grow 0).
			"a 1 30MiB; a 2 30MiB; f 1; a 3 50MiB",
			OOMReport{ID: 3, Requested: 50 * MiB, Rounded: 50 * MiB, Pool: abi.PoolLarge, Capacity: 80 * MiB,
				Reserved: 60 * MiB, Allocated: 30 * MiB, Grow: 0, Cached: 30 * MiB, FreeBlocks: 1, LargestFree: 30 * MiB,
				CachedTooSmall: 30 * MiB, Releasable: 20 * MiB, Stranded: 10 * MiB}, 1},
		{"the reserve limit refuses a growth the device has room for", limited{limit: 40 * MiB}, 100 * MiB,
			"a 1 20MiB; a 2 20MiB; a 3 20MiB",
			OOMReport{ID: 3, Requested: 20 * MiB, Rounded: 20 * MiB, Pool: abi.PoolLarge, Capacity: 100 * MiB,
				Reserved: 40 * MiB, Allocated: 40 * MiB, Grow: 20 * MiB, ReserveLimit: 40 * MiB, LimitRefused: true}, 0},
		{"expandable: the limit counts the segment size, not the pages", limitedExpandable{limited{limit: 40 * MiB}}, 100 * MiB,
			// 30 MiB maps two pages (40 MiB); 12 MiB does not fit the 10 MiB
			// tail, and 40 + 12 > 40 although one more page would be mapped.
			"a 1 30MiB; a 2 12MiB",
			OOMReport{ID: 2, Requested: 12 * MiB, Rounded: 12 * MiB, Pool: abi.PoolLarge, Capacity: 100 * MiB,
				Reserved: 40 * MiB, Allocated: 30 * MiB, Grow: 12 * MiB, ReserveLimit: 40 * MiB, LimitRefused: true,
				Cached: 10 * MiB, FreeBlocks: 1, LargestFree: 10 * MiB, CachedTooSmall: 10 * MiB, Stranded: 10 * MiB}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := New(cudadriver.NewSim(cudadriver.SimOptions{Capacity: tc.capacity}), tc.policy, Options{ExplainOOMs: 1})
			script(t, a, tc.steps)
			rs := a.OOMReports()
			if len(rs) != 1 {
				t.Fatalf("%d OOM reports, want 1 (OOMs: %d)", len(rs), a.Stats().OOMs)
			}
			got := rs[0]
			if len(got.Segments) != tc.segments {
				t.Errorf("%d segments listed, want %d: %+v", len(got.Segments), tc.segments, got.Segments)
			}
			checkOOMSums(t, got)
			tc.want.Event = got.Event
			tc.want.DeviceFree = got.DeviceFree
			tc.want.Segments, tc.want.TotalSegments = got.Segments, got.TotalSegments
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("report\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// checkOOMSums checks that both splits of the cached bytes add up, and that
// the device's free bytes and the reserved ones fit in its capacity.
func checkOOMSums(t *testing.T, r OOMReport) {
	t.Helper()
	if r.Cached != r.Reserved-r.Allocated {
		t.Errorf("cached %d != reserved %d - allocated %d", r.Cached, r.Reserved, r.Allocated)
	}
	if s := r.CachedOtherPool + r.CachedOtherStream + r.CachedTooSmall + r.CachedNotPicked; s != r.Cached {
		t.Errorf("cached by reason adds up to %d, want %d", s, r.Cached)
	}
	if r.Releasable+r.Stranded != r.Cached {
		t.Errorf("releasable %d + stranded %d != cached %d", r.Releasable, r.Stranded, r.Cached)
	}
	if r.Capacity > 0 && r.DeviceFree > r.Capacity-r.Reserved {
		t.Errorf("device free %d > capacity %d - reserved %d", r.DeviceFree, r.Capacity, r.Reserved)
	}
}

// oversizeThenCached releases as PyTorch's malloc does with
// max_split_size_mb=20: oversize segments first, then every cached one. It
// declares ABI minor v.
type oversizeThenCached struct {
	NoHooks
	minor int
}

func (oversizeThenCached) Implements(h abi.Hook) bool { return h == abi.HookRelease }
func (oversizeThenCached) Release(phase int32, _ int64, _, _, attempt int32) (int64, error) {
	switch {
	case phase != abi.PhaseGrowFailed:
		return abi.ActNothing, nil
	case attempt == 0:
		return 20*MiB<<abi.ActionBits | abi.ActReleaseOver, nil
	case attempt == 1:
		return abi.ActReleaseCached, nil
	}
	return abi.ActNothing, nil
}
func (p oversizeThenCached) ABIMinor() int { return p.minor }

func TestPartialOversizeRelease(t *testing.T) {
	// 100 MiB: segments of 30 (oversize), 30, 20 and 10 MiB; the first and
	// the last are freed. 40 MiB finds no block and 10 MiB free on the
	// device; release oversize frees the 30 MiB segment, less than the 40
	// it aimed at. Since ABI 1.3 (PyTorch's release_available_cached_blocks
	// answers false) that is no reason to retry: release cached frees the
	// 10 MiB segment too, then the retry fits. A 1.2 module retries at once
	// and keeps the 10 MiB segment.
	const steps = "a 1 30MiB; a 2 30MiB; a 3 20MiB; a 4 10MiB; f 1; f 4; a 5 40MiB"
	for _, tc := range []struct {
		minor            int
		segmentFrees     int64
		reservedAtTheEnd int64
	}{
		{3, 2, 90 * MiB},
		{2, 1, 100 * MiB},
	} {
		a := New(cudadriver.NewSim(cudadriver.SimOptions{Capacity: 100 * MiB}), oversizeThenCached{minor: tc.minor}, Options{})
		script(t, a, steps)
		s := a.Stats()
		if s.OOMs != 0 || s.SegmentFrees != tc.segmentFrees || s.Reserved != tc.reservedAtTheEnd {
			t.Errorf("ABI 1.%d: %d OOMs, %d segment frees, %d MiB reserved; want 0, %d, %d MiB",
				tc.minor, s.OOMs, s.SegmentFrees, s.Reserved/MiB, tc.segmentFrees, tc.reservedAtTheEnd/MiB)
		}
	}
}

// declineExpandable declines every cached block in expandable segments and
// declares ABI minor v.
type declineExpandable struct {
	NoHooks
	minor int
}

func (declineExpandable) Implements(h abi.Hook) bool {
	return h == abi.HookPickBlock || h == abi.HookSegmentMode
}
func (declineExpandable) PickBlock([]abi.Candidate, int64, int32, int32, int32) (int64, error) {
	return abi.None, nil
}
func (declineExpandable) SegmentMode(pool, _ int32) (int64, error) { return DefaultPage(pool), nil }
func (p declineExpandable) ABIMinor() int                          { return p.minor }

func TestDeclinedFreeTail(t *testing.T) {
	// 30 MiB maps two 20 MiB pages; the policy declines the 10 MiB left
	// for an 8 MiB request. Since ABI 1.3 the free tail serves it with
	// nothing mapped (PyTorch's try_allocate_expandable_block); a 1.2
	// module maps one more page.
	for _, tc := range []struct {
		minor    int
		maps     int64
		reserved int64
	}{
		{3, 1, 40 * MiB},
		{2, 2, 60 * MiB},
	} {
		a := New(cudadriver.NewSim(cudadriver.SimOptions{}), declineExpandable{minor: tc.minor}, Options{})
		script(t, a, "a 1 30MiB; a 2 8MiB")
		s := a.Stats()
		b, _ := a.Live(2)
		if s.SegmentMaps != tc.maps || s.Reserved != tc.reserved || b == nil || b.Addr != a.Segments()[0].Addr+30*MiB {
			t.Errorf("ABI 1.%d: %d maps, %d MiB reserved, block %+v; want %d, %d MiB, at offset 30 MiB",
				tc.minor, s.SegmentMaps, s.Reserved/MiB, b, tc.maps, tc.reserved/MiB)
		}
	}
}
