package host

import (
	"math"

	"github.com/fraglab/fraglab/sdk/abi"
)

// Stats are an allocator's counters, kept incrementally.
type Stats struct {
	Reserved  int64 // bytes held from the device (segments and mapped pages)
	Allocated int64 // sizes of allocated blocks (after rounding)
	Requested int64 // bytes the workload asked for, of live allocations
	Active    int64 // bytes of active blocks: allocated, or freed and waiting for other streams
	// Rounded is Requested with each live request rounded up to 512 bytes
	// (MinBlockSize), the least any policy can hold for it: the host
	// refuses roundings and splits off that grid.
	Rounded int64

	PeakReserved, PeakAllocated, PeakRequested int64
	PeakRounded                                int64 // peak of Rounded: a lower bound of any policy's peak reserved

	ExtFragAtPeak     float64 // 1 - largest free / free bytes, when peak reserved was reached
	ExtFragAtFirstOOM float64 // the same at the first OOM

	PoolReserved [abi.MaxPools]int64
	PoolFree     [abi.MaxPools]int64 // bytes in free mapped blocks

	Segments   int64 // classic segments plus expandable segments held now
	LiveBlocks int64

	Allocs, Frees, EmptyCaches int64
	OOMs                       int64
	FirstOOM                   int64 // event index of the first OOM, -1 if none
	FreesOfFailed              int64 // frees of ids whose allocation failed

	SegmentAllocs, SegmentFrees, SegmentMaps, SegmentUnmaps int64

	// Frees that wait for other streams (record_stream): how many and how
	// many bytes wait now, and how many a release's synchronisation
	// completed before the workload's own completion.
	PendingFrees, PendingBytes, SyncedFrees int64
	// Private pools: how many were created, released (release_pool), the
	// bytes they hold now and at most, and how many release-cached
	// answers were not carried out because the request was in a private
	// pool.
	PrivatePools, PoolReleases           int64
	PrivateReserved, PeakPrivateReserved int64
	SkippedReleases                      int64

	// Stitching (ABI 1.5): stitched ranges mapped, torn down, stitches
	// that found too few free pages (or a device that cannot stitch), and
	// the bytes mapped in stitched ranges now and at most. Those bytes are
	// their source segments': they are not in Reserved a second time.
	Stitches, StitchTeardowns, FailedStitches int64
	Stitched, PeakStitched                    int64

	// Offline planning (ABI 1.5, plan.go): allocations handed to
	// policy_plan, allocations placed in the arena, placements that took
	// the normal path because the arena could not be reserved, the
	// arena's bytes (0 until reserved) and its bytes not placed now.
	PlanRecords, Placed, PlaceFallbacks int64
	ArenaBytes, ArenaFree               int64

	HookCalls  [abi.NumHooks]int64 // answers asked of the policy, per hook
	HookDefers [abi.NumHooks]int64 // of which DEFER
}

// notePeaks updates the peak statistics after an event's changes.
func (a *Allocator) notePeaks() {
	s := &a.stats
	if s.Reserved > s.PeakReserved {
		s.PeakReserved = s.Reserved
		s.ExtFragAtPeak = a.extFrag()
	}
	s.PeakAllocated = max(s.PeakAllocated, s.Allocated)
	s.PeakRequested = max(s.PeakRequested, s.Requested)
	s.PeakRounded = max(s.PeakRounded, s.Rounded)
}

// extFrag is 1 - largest free block / free bytes (0 when nothing is free).
func (a *Allocator) extFrag() float64 {
	var total, largest int64
	for p := range a.lists {
		total += a.stats.PoolFree[p]
		for _, fl := range a.lists[p] {
			if b := fl.largest(); b != nil && b.Size > largest {
				largest = b.Size
			}
		}
	}
	if total == 0 {
		return 0
	}
	return 1 - float64(largest)/float64(total)
}

// Stat answers the stat import (sdk/ABI.md §5.3).
func (a *Allocator) Stat(key, arg int32) int64 {
	s := &a.stats
	poolOK := arg >= 0 && arg < abi.MaxPools
	switch key {
	case abi.StatEventIndex:
		return a.event
	case abi.StatReserved:
		return s.Reserved
	case abi.StatAllocated:
		return s.Allocated
	case abi.StatRequested:
		return s.Requested
	case abi.StatActive:
		return s.Active
	case abi.StatCapacity:
		return a.dev.Info().Capacity
	case abi.StatDeviceFree:
		free, _ := a.dev.MemInfo()
		return free
	case abi.StatSegments:
		return s.Segments
	case abi.StatPoolFree:
		if poolOK {
			return s.PoolFree[arg]
		}
	case abi.StatPoolLargest:
		if poolOK {
			var largest int64
			for _, fl := range a.lists[arg] {
				if b := fl.largest(); b != nil && b.Size > largest {
					largest = b.Size
				}
			}
			return largest
		}
	case abi.StatPoolReserved:
		if poolOK {
			return s.PoolReserved[arg]
		}
	case abi.StatOOMs:
		return s.OOMs
	case abi.StatGranularity:
		return a.gran
	case abi.StatPeakReserved:
		return s.PeakReserved
	case abi.StatLiveBlocks:
		return s.LiveBlocks
	case abi.StatMergeBlockOffset:
		return a.mergeOffs[0]
	case abi.StatMergeNeighbourOffset:
		return a.mergeOffs[1]
	case abi.StatRequestPrivatePool:
		return a.reqPool
	case abi.StatPrivateReserved:
		return s.PrivateReserved
	case abi.StatPendingFree:
		return s.PendingBytes
	case abi.StatStitched:
		return s.Stitched
	case abi.StatStitchedFree:
		return a.stitchedFree()
	}
	return math.MinInt64
}
