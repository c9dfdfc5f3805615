package fraglab

import (
	"unsafe"

	"github.com/fraglab/fraglab/sdk/abi"
)

// ABI version this SDK builds modules for: the module exports the marker
// fraglab_abi_v1_5 (sdk/ABI.md §1), so it runs on hosts that implement 1.5
// or a later 1.x.
const (
	ABIMajor = 1
	ABIMinor = 5
)

// Hook answers (sdk/ABI.md §2): a non-negative answer is the decision, a
// negative one a status.
const (
	Defer = abi.Defer // use the host default for this one decision
	None  = abi.None  // PickBlock only: take no cached block (the host grows)
	Error = abi.Error // the policy failed; the text given to error_set explains why
)

// Sizes (sdk/ABI.md §2): every size a policy answers is a multiple of
// BlockAlign and at most MaxSize.
const (
	BlockAlign = 512
	MaxSize    = int64(1) << 48
	KiB        = int64(1) << 10
	MiB        = int64(1) << 20
	GiB        = int64(1) << 30
)

// Pools (sdk/ABI.md §2): 0 is PyTorch's small pool, 1 its large pool, 2..7
// extra pools; host defaults treat every pool but 0 as large.
const (
	PoolSmall = abi.PoolSmall
	PoolLarge = abi.PoolLarge
	MaxPools  = abi.MaxPools
)

// Search orders: answers of SearchOrder (sdk/ABI.md §3.2 step 3).
const (
	OrderBestFit = abi.OrderBestFit // size ascending, then address
	OrderAddress = abi.OrderAddress // address ascending (first fit)
	OrderLargest = abi.OrderLargest // size descending, then address
)

// Block flags: Split's flags and Candidate.Flags (sdk/ABI.md §3.2, §3.4).
const (
	FlagExpandable   = abi.FlagExpandable   // the block lies in an expandable segment
	FlagWholeSegment = abi.FlagWholeSegment // the block spans its whole classic segment
	FlagStitched     = abi.FlagStitched     // ABI 1.5: the block is a stitched range's (sdk/ABI.md §3.7)
)

// Merge sides: Merge's side (sdk/ABI.md §3.5).
const (
	SidePrev = abi.SidePrev // the free neighbour lies below the freed block
	SideNext = abi.SideNext // the free neighbour lies above the freed block
)

// Release phases: Release's phase (sdk/ABI.md §3.3).
const (
	PhaseBeforeGrow = abi.PhaseBeforeGrow // no cached block fits; the host is about to grow
	PhaseGrowFailed = abi.PhaseGrowFailed // growing failed: the device is full
)

// Release actions (sdk/ABI.md §3.3); build an answer with ReleaseAnswer.
const (
	ActNothing         = abi.ActNothing         // nothing (phase 1: the allocation fails with OOM)
	ActReleaseCached   = abi.ActReleaseCached   // empty_cache; arg 0
	ActReleaseOversize = abi.ActReleaseOver     // arg = threshold T > 0
	ActReleaseAged     = abi.ActReleaseAged     // arg = target bytes B > 0
	ActStitch          = abi.ActStitch          // ABI 1.5: map free pages of the pool into one range for the request; arg 0 or StitchGrow
	StitchGrow         = abi.StitchGrow         // ABI 1.5: argument of ActStitch: map new pages for what the free pages lack (GMLake's S4)
	ActReleaseStitched = abi.ActReleaseStitched // ABI 1.5: tear down every free stitched range; arg 0
	ActionBits         = abi.ActionBits
	ActionMask         = abi.ActionMask
	MaxReleaseAttempts = abi.MaxReleaseAttempts
)

// ReleaseAnswer packs a Release answer: arg<<ActionBits | action.
func ReleaseAnswer(action, arg int64) int64 { return arg<<ActionBits | action }

// Observe kinds: Observe's kind (sdk/ABI.md §3.2 step 7).
const (
	ObserveAlloc      = abi.ObserveAlloc      // allocation served: id, rounded size
	ObserveFree       = abi.ObserveFree       // block freed: id, block size
	ObserveOOM        = abi.ObserveOOM        // allocation failed: id, rounded size
	ObserveEmptyCache = abi.ObserveEmptyCache // empty_cache: id 0, bytes released
)

// Stat keys of Stat (sdk/ABI.md §5.3). Unknown keys answer StatUnknown.
const (
	StatEventIndex   = abi.StatEventIndex   // trace event index being served
	StatReserved     = abi.StatReserved     // bytes held from the device
	StatAllocated    = abi.StatAllocated    // bytes in allocated blocks
	StatRequested    = abi.StatRequested    // bytes requested by live allocations
	StatActive       = abi.StatActive       // active bytes
	StatCapacity     = abi.StatCapacity     // device capacity, -1 when unlimited
	StatDeviceFree   = abi.StatDeviceFree   // device bytes free
	StatSegments     = abi.StatSegments     // classic plus expandable segments
	StatPoolFree     = abi.StatPoolFree     // arg = pool: bytes in free blocks
	StatPoolLargest  = abi.StatPoolLargest  // arg = pool: largest free block
	StatPoolReserved = abi.StatPoolReserved // arg = pool: reserved bytes
	StatOOMs         = abi.StatOOMs         // OOMs so far
	StatGranularity  = abi.StatGranularity  // device granularity in bytes
	StatPeakReserved = abi.StatPeakReserved // peak reserved bytes so far
	StatLiveBlocks   = abi.StatLiveBlocks   // allocated blocks
	StatUnknown      = abi.StatUnknown      // INT64_MIN: the answer for an unknown key

	// ABI 1.2, during Merge (-1 elsewhere): offsets in their segment of
	// the freed block and of the neighbour. MergeOffsets reads both.
	StatMergeBlockOffset     = abi.StatMergeBlockOffset
	StatMergeNeighbourOffset = abi.StatMergeNeighbourOffset

	// ABI 1.4 (sdk/ABI.md §3.6): the private memory pool of the
	// allocation being served (0 the default pool, -1 outside an
	// allocation; RequestPrivatePool reads it), the bytes reserved by
	// private pools, and the bytes in frees that wait for other streams.
	StatRequestPrivatePool = abi.StatRequestPrivatePool
	StatPrivateReserved    = abi.StatPrivateReserved
	StatPendingFree        = abi.StatPendingFree

	// ABI 1.5 (sdk/ABI.md §3.7): bytes mapped in stitched ranges, and of
	// those the bytes in free stitched blocks.
	StatStitched     = abi.StatStitched
	StatStitchedFree = abi.StatStitchedFree
)

// Config keys of Config, callable in Init only (sdk/ABI.md §5.5). The SDK
// sets all five itself: ConfigHooks from the interfaces the policy
// implements, ConfigCandidateWindow from Windowed, ConfigMergeRepeat (ABI
// 1.2) from MergeRepeater, ConfigReserveLimit (ABI 1.3) from
// ReserveLimiter, ConfigStitchKeep (ABI 1.5) from StitchKeeper.
const (
	ConfigCandidateWindow  = abi.ConfigCandidateWindow
	ConfigHooks            = abi.ConfigHooks
	ConfigMergeRepeat      = abi.ConfigMergeRepeat
	ConfigReserveLimit     = abi.ConfigReserveLimit
	ConfigStitchKeep       = abi.ConfigStitchKeep
	DefaultCandidateWindow = abi.DefaultCandidateWindow
	MaxCandidates          = abi.MaxCandidates
)

// Log levels of Log (sdk/ABI.md §5.1).
const (
	LogDebug = abi.LogDebug
	LogInfo  = abi.LogInfo
	LogWarn  = abi.LogWarn
	LogError = abi.LogError
)

// Well-known tags (sdk/ABI.md §6); other names get ids from FirstCustomTag
// on, and TagName gives their text.
const (
	TagUnknown     = abi.TagUnknown
	TagWeight      = abi.TagWeight
	TagActivation  = abi.TagActivation
	TagGradient    = abi.TagGradient
	TagOptimizer   = abi.TagOptimizer
	TagKVCache     = abi.TagKVCache
	TagWorkspace   = abi.TagWorkspace
	FirstCustomTag = abi.FirstCustomTag
)

// Hook numbers a policy_* export; bit h of the hook mask (HookMask) says
// hook h is implemented.
type Hook = abi.Hook

// The hooks, numbered as in sdk/ABI.md §5.5.
const (
	HookInit        = abi.HookInit
	HookScratch     = abi.HookScratch
	HookRoundSize   = abi.HookRoundSize
	HookChoosePool  = abi.HookChoosePool
	HookSearchOrder = abi.HookSearchOrder
	HookPickBlock   = abi.HookPickBlock
	HookSplit       = abi.HookSplit
	HookMerge       = abi.HookMerge
	HookSegmentMode = abi.HookSegmentMode
	HookSegmentSize = abi.HookSegmentSize
	HookExpandSize  = abi.HookExpandSize
	HookRelease     = abi.HookRelease
	HookObserve     = abi.HookObserve
	HookPlan        = abi.HookPlan  // ABI 1.5: Planner.Plan
	HookPlace       = abi.HookPlace // ABI 1.5: Planner.Place
	NumHooks        = abi.NumHooks
)

// Candidate is one free block offered to PickBlock: a candidate record of
// sdk/ABI.md §3.4. Its Go layout is the record's layout (wasm is
// little-endian), so PickBlock receives the records the host wrote as a
// []Candidate over the SDK's scratch buffer, without copying.
type Candidate struct {
	Size           int64  // block size
	Addr           uint64 // block address
	SegmentAddr    uint64 // base address of the block's segment
	SegmentSize    int64  // segment size (expandable: its mapped bytes)
	ExpandableSize int64  // block size plus the unmapped range right after it
	Flags          uint32 // FlagExpandable, FlagWholeSegment, FlagStitched
	Stream         uint32 // stream index
}

// Expandable reports whether the block lies in an expandable segment.
func (c *Candidate) Expandable() bool { return c.Flags&FlagExpandable != 0 }

// WholeSegment reports whether the block spans its whole classic segment.
func (c *Candidate) WholeSegment() bool { return c.Flags&FlagWholeSegment != 0 }

// Stitched reports whether the block is a stitched range's (ABI 1.5).
func (c *Candidate) Stitched() bool { return c.Flags&FlagStitched != 0 }

// Plan records (ABI 1.5, sdk/ABI.md §3.8).
const (
	PlanRecordSize = abi.PlanRecordSize // bytes of one plan record
	PlanBatch      = abi.PlanBatch      // most records of one Plan call
	PlanNever      = uint64(abi.PlanNever)
)

// PlanRecord is one allocation of the workload handed to Planner.Plan: a
// plan record of sdk/ABI.md §3.8. Its Go layout is the record's layout, so
// Plan receives the records the host wrote as a []PlanRecord over the
// SDK's scratch buffer, without copying.
type PlanRecord struct {
	ID     uint64 // allocation id: Place's id
	Size   uint64 // requested bytes
	Alloc  uint64 // index of the allocation's event
	Free   uint64 // index of its free event, PlanNever when never freed
	Stream uint32 // stream index
	Tag    uint32 // tag id
	Pool   uint32 // private memory pool, 0 the default pool
	Flags  uint32 // reserved, 0
}

// Freed reports whether the workload frees the allocation.
func (r *PlanRecord) Freed() bool { return r.Free != PlanNever }

// Compile-time checks that Candidate and PlanRecord map a record exactly.
var (
	_ [abi.RecordSize - unsafe.Sizeof(Candidate{})]struct{}
	_ [unsafe.Sizeof(Candidate{}) - abi.RecordSize]struct{}
	_ [abi.RecExpandableSize - unsafe.Offsetof(Candidate{}.ExpandableSize)]struct{}
	_ [unsafe.Offsetof(Candidate{}.ExpandableSize) - abi.RecExpandableSize]struct{}
	_ [abi.RecFlags - unsafe.Offsetof(Candidate{}.Flags)]struct{}
	_ [unsafe.Offsetof(Candidate{}.Flags) - abi.RecFlags]struct{}
	_ [abi.RecStream - unsafe.Offsetof(Candidate{}.Stream)]struct{}
	_ [unsafe.Offsetof(Candidate{}.Stream) - abi.RecStream]struct{}
	_ [abi.PlanRecordSize - unsafe.Sizeof(PlanRecord{})]struct{}
	_ [unsafe.Sizeof(PlanRecord{}) - abi.PlanRecordSize]struct{}
	_ [abi.PlanFree - unsafe.Offsetof(PlanRecord{}.Free)]struct{}
	_ [unsafe.Offsetof(PlanRecord{}.Free) - abi.PlanFree]struct{}
	_ [abi.PlanStream - unsafe.Offsetof(PlanRecord{}.Stream)]struct{}
	_ [unsafe.Offsetof(PlanRecord{}.Stream) - abi.PlanStream]struct{}
	_ [abi.PlanPool - unsafe.Offsetof(PlanRecord{}.Pool)]struct{}
	_ [unsafe.Offsetof(PlanRecord{}.Pool) - abi.PlanPool]struct{}
	_ [abi.PlanFlags - unsafe.Offsetof(PlanRecord{}.Flags)]struct{}
	_ [unsafe.Offsetof(PlanRecord{}.Flags) - abi.PlanFlags]struct{}
)
