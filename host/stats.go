package host

import "github.com/fraglab/fraglab/host/abi"

// Stats are an allocator's counters, kept incrementally.
type Stats struct {
	Reserved  int64 // bytes held from the device (segments and mapped pages)
	Allocated int64 // sizes of allocated blocks (after rounding)
	Requested int64 // bytes the workload asked for, of live allocations
	Active    int64 // bytes of active blocks (allocated; no pending frees on sim)

	PeakReserved, PeakAllocated, PeakRequested int64

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

	HookCalls  [abi.NumHooks]int64 // answers asked of the policy, per hook
	HookDefers [abi.NumHooks]int64 // of which DEFER
}
