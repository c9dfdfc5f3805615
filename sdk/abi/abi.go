// Package abi holds the constants of fraglab's policy ABI v1: hook names and
// signatures, statuses, actions, stat keys, the candidate record layout and
// the well-known tags. sdk/ABI.md is the normative text; this package is its
// machine-readable twin, shared by the host and by the Go SDK.
package abi

import "encoding/binary"

// Version of the ABI this host implements. A module declares the version it
// was built for by exporting an empty function named MarkerPrefix+"<major>_<minor>".
const (
	Major        = 1
	Minor        = 5
	MarkerPrefix = "fraglab_abi_v"
)

// ImportModule is the module name of every host import.
const ImportModule = "fraglab"

// Statuses: negative answers of a hook. Any other negative answer is invalid.
const (
	Defer = -1 // use the host default for this one decision
	None  = -2 // no acceptable answer (policy_pick_block: take no cached block)
	Error = -3 // the policy failed; the text given to error_set explains why
)

// Pools. Pool ids are 0..MaxPools-1. The host defaults treat PoolSmall as
// PyTorch's small pool and every other pool like the large pool.
const (
	PoolSmall = 0
	PoolLarge = 1
	MaxPools  = 8
)

// Search orders, answers of policy_search_order.
const (
	OrderBestFit = 0 // size ascending, then address: smallest block that fits first
	OrderAddress = 1 // address ascending: lowest-addressed block that fits first
	OrderLargest = 2 // size descending, then address: largest block first
)

// Block flags, passed to policy_split and in candidate records.
const (
	FlagExpandable   = 1 << 0 // the block lies in an expandable segment
	FlagWholeSegment = 1 << 1 // the block spans its whole segment (classic segments only)
	FlagStitched     = 1 << 2 // ABI 1.5: the block lies in a stitched range (free pages of other segments mapped together)
)

// Merge sides, passed to policy_merge.
const (
	SidePrev = 0 // the free neighbour lies below the freed block
	SideNext = 1 // the free neighbour lies above the freed block
)

// Release phases, passed to policy_release.
const (
	PhaseBeforeGrow = 0 // no cached block fits; the host is about to grow
	PhaseGrowFailed = 1 // growing failed (the device is out of memory)
)

// Release actions: the low 4 bits of a policy_release answer; the bits above
// carry the action's argument (answer = arg<<4 | action).
const (
	ActNothing       = 0 // release nothing (phase 1: the allocation fails with OOM)
	ActReleaseCached = 1 // release every free cached segment of every pool (empty_cache)
	ActReleaseOver   = 2 // arg = threshold: release oversize free segments of this pool and stream
	ActReleaseAged   = 3 // arg = target bytes: release old free segments of this pool
	// ABI 1.5 (sdk/ABI.md §3.7): stitching. ActStitch maps free 2 MiB pages
	// of the request's pool's expandable segments into one new virtual range
	// that holds the request; ActReleaseStitched tears down every free
	// stitched range, giving its pages back to their segments.
	ActStitch          = 4
	ActReleaseStitched = 5
	ActionBits         = 4
	// StitchGrow is the argument of ActStitch (answer StitchGrow<<4 |
	// ActStitch) that maps new pages into the expandable segment for the
	// part the free pages lack, then stitches (GMLake's state S4); with
	// argument 0 a stitch uses free pages only.
	StitchGrow = 1
	ActionMask = 1<<ActionBits - 1
)

// MaxReleaseAttempts bounds the release-and-retry loop of one allocation.
const MaxReleaseAttempts = 16

// Observe kinds, passed to policy_observe.
const (
	ObserveAlloc      = 0 // an allocation succeeded: id, rounded size
	ObserveFree       = 1 // a block was freed: id, block size
	ObserveOOM        = 2 // an allocation failed: id, rounded size
	ObserveEmptyCache = 3 // the workload called empty_cache: id 0, bytes released
)

// Stat keys of the stat(key, arg) import. Unknown keys answer StatUnknown.
const (
	StatEventIndex   = 0  // index of the trace event being served
	StatReserved     = 1  // bytes held from the device
	StatAllocated    = 2  // bytes in allocated blocks (rounded sizes)
	StatRequested    = 3  // bytes requested by live allocations
	StatActive       = 4  // bytes in active blocks
	StatCapacity     = 5  // device capacity in bytes, or -1 when unlimited
	StatDeviceFree   = 6  // device bytes still free
	StatSegments     = 7  // segments held now: classic plus expandable
	StatPoolFree     = 8  // arg = pool: bytes in free blocks of that pool
	StatPoolLargest  = 9  // arg = pool: size of the largest free block of that pool
	StatPoolReserved = 10 // arg = pool: bytes reserved by that pool
	StatOOMs         = 11 // allocations failed so far
	StatGranularity  = 12 // device allocation granularity in bytes
	StatPeakReserved = 13 // peak of StatReserved so far
	StatLiveBlocks   = 14 // number of allocated blocks
	// ABI 1.2: during policy_merge, the offsets in their segment of the
	// freed block (as merged so far) and of the neighbour; -1 outside
	// policy_merge.
	StatMergeBlockOffset     = 15
	StatMergeNeighbourOffset = 16
	// ABI 1.4: the private memory pool of the allocation being served (a
	// CUDA graph's or a torch.cuda.MemPool's id, as the workload names it;
	// 0: the default pool; -1 outside an allocation); bytes held by
	// private pools; bytes freed by the workload that wait for other
	// streams (record_stream) and are not reusable yet.
	StatRequestPrivatePool = 17
	StatPrivateReserved    = 18
	StatPendingFree        = 19
	// ABI 1.5: bytes mapped in stitched ranges, and of those the bytes in
	// free stitched blocks.
	StatStitched     = 20
	StatStitchedFree = 21
	StatUnknown      = -1 << 63
)

// Config keys of the config(key, value) import (callable from policy_init only).
const (
	ConfigCandidateWindow = 1 // most candidates written for policy_pick_block (1..MaxCandidates, default 8)
	ConfigHooks           = 2 // ABI 1.1: bit h set = hook h is really implemented; exported hooks not in the mask are never called
	ConfigMergeRepeat     = 3 // ABI 1.2: 1 = after a free merged, ask again about the new neighbours until none merges (default 0)
	ConfigReserveLimit    = 4 // ABI 1.3: the most bytes the allocator may hold from the device; a growth past it fails without a device call (0: no limit, the default)
	ConfigStitchKeep      = 5 // ABI 1.5: 1 = a stitched block freed stays mapped and cached for reuse; 0 (default) = its range is torn down when freed
)

// Candidate window bounds.
const (
	DefaultCandidateWindow = 8
	MaxCandidates          = 256
)

// Candidate record layout: little-endian, RecordSize bytes each, written
// back to back at the scratch address before policy_pick_block.
const (
	RecordSize        = 48
	RecSize           = 0  // u64 block size
	RecAddr           = 8  // u64 block address
	RecSegmentAddr    = 16 // u64 base address of the block's segment
	RecSegmentSize    = 24 // u64 size of the segment (expandable: mapped size)
	RecExpandableSize = 32 // u64 block size plus the unmapped range right after it
	RecFlags          = 40 // u32 Flag* bits
	RecStream         = 44 // u32 stream index
)

// Log levels of the log import.
const (
	LogDebug = 0
	LogInfo  = 1
	LogWarn  = 2
	LogError = 3
)

// Well-known tag ids. Other tag names get ids from FirstCustomTag on, in
// order of first appearance in the workload; tag_name gives their text.
const (
	TagUnknown     = 0
	TagWeight      = 1
	TagActivation  = 2
	TagGradient    = 3
	TagOptimizer   = 4
	TagKVCache     = 5
	TagWorkspace   = 6
	FirstCustomTag = 16
)

// WellKnownTags maps the well-known tag names to their ids.
var WellKnownTags = map[string]int32{
	"unknown":    TagUnknown,
	"weight":     TagWeight,
	"activation": TagActivation,
	"gradient":   TagGradient,
	"optimizer":  TagOptimizer,
	"kv_cache":   TagKVCache,
	"workspace":  TagWorkspace,
}

// Value types of hook signatures.
type ValType byte

// Wasm value types used by the ABI.
const (
	I32 ValType = 0x7f
	I64 ValType = 0x7e
	F64 ValType = 0x7c
)

// Hook identifies one optional policy export.
type Hook int

// The hooks, in the order the host asks them while serving an allocation.
const (
	HookInit Hook = iota
	HookScratch
	HookRoundSize
	HookChoosePool
	HookSearchOrder
	HookPickBlock
	HookSplit
	HookMerge
	HookSegmentMode
	HookSegmentSize
	HookExpandSize
	HookRelease
	HookObserve
	// ABI 1.5 (sdk/ABI.md §3.8): offline planning. Before the replay the
	// host hands the whole workload's allocations to policy_plan in
	// batches of PlanRecords; at each allocation policy_place may answer an
	// offset in the planned arena.
	HookPlan
	HookPlace
	NumHooks
)

// HookSince is the ABI minor version that introduced a hook; a module that
// declares an older version and exports it is refused.
func HookSince(h Hook) int {
	switch h {
	case HookPlan, HookPlace:
		return 5
	}
	return 0
}

// HookSpec is the export name, parameter names and signature of a hook.
type HookSpec struct {
	Name    string
	Params  []string
	Types   []ValType
	Results []ValType
}

// Hooks lists every hook's export name and signature, indexed by Hook.
var Hooks = [NumHooks]HookSpec{
	HookInit:        {"policy_init", nil, nil, []ValType{I64}},
	HookScratch:     {"policy_scratch", []string{"min_bytes"}, []ValType{I32}, []ValType{I32}},
	HookRoundSize:   {"policy_round_size", []string{"size", "stream", "tag"}, []ValType{I64, I32, I32}, []ValType{I64}},
	HookChoosePool:  {"policy_choose_pool", []string{"rounded", "stream", "tag"}, []ValType{I64, I32, I32}, []ValType{I64}},
	HookSearchOrder: {"policy_search_order", []string{"rounded", "pool", "stream", "tag"}, []ValType{I64, I32, I32, I32}, []ValType{I64}},
	HookPickBlock:   {"policy_pick_block", []string{"n", "rounded", "pool", "stream", "tag"}, []ValType{I32, I64, I32, I32, I32}, []ValType{I64}},
	HookSplit:       {"policy_split", []string{"block_size", "rounded", "pool", "stream", "flags", "tag"}, []ValType{I64, I64, I32, I32, I32, I32}, []ValType{I64}},
	HookMerge:       {"policy_merge", []string{"block_size", "neighbour_size", "pool", "side"}, []ValType{I64, I64, I32, I32}, []ValType{I64}},
	HookSegmentMode: {"policy_segment_mode", []string{"pool", "stream"}, []ValType{I32, I32}, []ValType{I64}},
	HookSegmentSize: {"policy_segment_size", []string{"rounded", "pool", "stream", "tag"}, []ValType{I64, I32, I32, I32}, []ValType{I64}},
	HookExpandSize:  {"policy_expand_size", []string{"missing", "rounded", "pool", "stream", "page"}, []ValType{I64, I64, I32, I32, I64}, []ValType{I64}},
	HookRelease:     {"policy_release", []string{"phase", "rounded", "pool", "stream", "attempt"}, []ValType{I32, I64, I32, I32, I32}, []ValType{I64}},
	HookObserve:     {"policy_observe", []string{"kind", "id", "size", "tag"}, []ValType{I32, I64, I64, I32}, []ValType{I64}},
	HookPlan:        {"policy_plan", []string{"count", "done"}, []ValType{I32, I32}, []ValType{I64}},
	HookPlace:       {"policy_place", []string{"id", "rounded", "pool", "stream", "tag"}, []ValType{I64, I64, I32, I32, I32}, []ValType{I64}},
}

// String returns the hook's export name.
func (h Hook) String() string {
	if h < 0 || h >= NumHooks {
		return "hook?"
	}
	return Hooks[h].Name
}

// ImportSpec is the name and signature of a host import.
type ImportSpec struct {
	Name    string
	Params  []ValType
	Results []ValType
}

// Imports lists every host import of module ImportModule.
var Imports = []ImportSpec{
	{"log", []ValType{I32, I32, I32}, nil},
	{"error_set", []ValType{I32, I32}, nil},
	{"param_i64", []ValType{I32, I32, I64}, []ValType{I64}},
	{"param_f64", []ValType{I32, I32, F64}, []ValType{F64}},
	{"param_str", []ValType{I32, I32, I32, I32}, []ValType{I32}},
	{"stat", []ValType{I32, I32}, []ValType{I64}},
	{"tag_name", []ValType{I32, I32, I32}, []ValType{I32}},
	{"config", []ValType{I32, I64}, []ValType{I64}},
}

// Candidate is one free block offered to policy_pick_block.
type Candidate struct {
	Size           int64  // block size
	Addr           uint64 // block address
	SegmentAddr    uint64 // base of the block's segment
	SegmentSize    int64  // segment size (expandable: mapped bytes)
	ExpandableSize int64  // block size plus the unmapped range right after it
	Flags          uint32 // Flag* bits
	Stream         uint32 // stream index
}

// Put writes c as one record into b, which must hold RecordSize bytes.
func (c *Candidate) Put(b []byte) {
	_ = b[RecordSize-1]
	binary.LittleEndian.PutUint64(b[RecSize:], uint64(c.Size))
	binary.LittleEndian.PutUint64(b[RecAddr:], c.Addr)
	binary.LittleEndian.PutUint64(b[RecSegmentAddr:], c.SegmentAddr)
	binary.LittleEndian.PutUint64(b[RecSegmentSize:], uint64(c.SegmentSize))
	binary.LittleEndian.PutUint64(b[RecExpandableSize:], uint64(c.ExpandableSize))
	binary.LittleEndian.PutUint32(b[RecFlags:], c.Flags)
	binary.LittleEndian.PutUint32(b[RecStream:], c.Stream)
}

// ReadCandidate decodes one record from b.
func ReadCandidate(b []byte) Candidate {
	_ = b[RecordSize-1]
	return Candidate{
		Size:           int64(binary.LittleEndian.Uint64(b[RecSize:])),
		Addr:           binary.LittleEndian.Uint64(b[RecAddr:]),
		SegmentAddr:    binary.LittleEndian.Uint64(b[RecSegmentAddr:]),
		SegmentSize:    int64(binary.LittleEndian.Uint64(b[RecSegmentSize:])),
		ExpandableSize: int64(binary.LittleEndian.Uint64(b[RecExpandableSize:])),
		Flags:          binary.LittleEndian.Uint32(b[RecFlags:]),
		Stream:         binary.LittleEndian.Uint32(b[RecStream:]),
	}
}

// Plan record layout (ABI 1.5, sdk/ABI.md §3.8): little-endian, PlanRecordSize
// bytes each, written back to back at the scratch address before policy_plan.
// One record per allocation of the workload, in order of allocation.
const (
	PlanRecordSize = 48
	PlanID         = 0  // u64 allocation id (policy_place's id)
	PlanSize       = 8  // u64 requested bytes
	PlanAlloc      = 16 // u64 index of the allocation's event
	PlanFree       = 24 // u64 index of its free event; PlanNever when never freed
	PlanStream     = 32 // u32 stream index
	PlanTag        = 36 // u32 tag id
	PlanPool       = 40 // u32 private memory pool (0: the default pool)
	PlanFlags      = 44 // u32 reserved, 0
	PlanNever      = 1<<64 - 1
	PlanBatch      = 256 // most records in one policy_plan call
)

// PlanRecord is one allocation handed to policy_plan.
type PlanRecord struct {
	ID     uint64
	Size   uint64
	Alloc  uint64
	Free   uint64 // PlanNever when the workload never frees it
	Stream uint32
	Tag    uint32
	Pool   uint32
}

// Put writes r as one record into b, which must hold PlanRecordSize bytes.
func (r *PlanRecord) Put(b []byte) {
	_ = b[PlanRecordSize-1]
	binary.LittleEndian.PutUint64(b[PlanID:], r.ID)
	binary.LittleEndian.PutUint64(b[PlanSize:], r.Size)
	binary.LittleEndian.PutUint64(b[PlanAlloc:], r.Alloc)
	binary.LittleEndian.PutUint64(b[PlanFree:], r.Free)
	binary.LittleEndian.PutUint32(b[PlanStream:], r.Stream)
	binary.LittleEndian.PutUint32(b[PlanTag:], r.Tag)
	binary.LittleEndian.PutUint32(b[PlanPool:], r.Pool)
	binary.LittleEndian.PutUint32(b[PlanFlags:], 0)
}

// ReadPlanRecord decodes one plan record from b.
func ReadPlanRecord(b []byte) PlanRecord {
	_ = b[PlanRecordSize-1]
	return PlanRecord{
		ID:     binary.LittleEndian.Uint64(b[PlanID:]),
		Size:   binary.LittleEndian.Uint64(b[PlanSize:]),
		Alloc:  binary.LittleEndian.Uint64(b[PlanAlloc:]),
		Free:   binary.LittleEndian.Uint64(b[PlanFree:]),
		Stream: binary.LittleEndian.Uint32(b[PlanStream:]),
		Tag:    binary.LittleEndian.Uint32(b[PlanTag:]),
		Pool:   binary.LittleEndian.Uint32(b[PlanPool:]),
	}
}
