package fraglab

// Policy is any value that implements some of the hook interfaces below.
// Every hook is optional: for a hook the policy does not implement the host
// applies its default (sdk/ABI.md §4) without calling the module at all,
// because the SDK declares only the implemented hooks in the hook mask.
//
// A method whose signature differs from its interface's (say RoundSize
// taking an int) implements nothing and is silently ignored; check
// HookMask(p) in a test.
type Policy = any

// Initer is implemented by policies that need setup: Init runs once, in
// policy_init, before any other hook. Read every parameter here (the host
// refuses a run whose parameters the policy never read, and parameters read
// later are refused), allocate what the hooks will need, and return an
// error to refuse the module: its text becomes the error_set text.
type Initer interface {
	Init() error
}

// Windowed is implemented by BlockPickers that want a candidate window
// other than DefaultCandidateWindow: the most candidates the host writes
// for PickBlock, 1..MaxCandidates. It is asked once, after Init.
type Windowed interface {
	CandidateWindow() int32
}

// MergeRepeater is implemented by policies that want merges to cascade
// (ABI 1.2, config key 3, sdk/ABI.md §3.5): when MergeRepeat returns true,
// after a free merged the block with a neighbour the host asks Merge again
// about the merged block's new neighbours, until a round merges nothing,
// so a buddy allocator coalesces up to the largest free buddy. Otherwise
// (and without this interface) Merge is asked once per side. It is asked
// once, after Init, so it may return what a parameter said.
type MergeRepeater interface {
	MergeRepeat() bool
}

// ReserveLimiter is implemented by policies that cap the bytes the
// allocator may hold from the device (ABI 1.3, config key 4, sdk/ABI.md
// §5.5), as PyTorch's per_process_memory_fraction does: a growth that
// would take the reserved bytes past ReserveLimit fails without a device
// call, as on a full device, and the release-and-retry path runs as usual.
// 0 (or a negative value) means no limit: nothing is declared. A limit must
// be at most MaxSize. It is asked once, after Init, so it may return what a
// parameter said.
type ReserveLimiter interface {
	ReserveLimit() int64
}

// StitchKeeper is implemented by policies whose Release answers ActStitch
// and that want a freed stitched block kept mapped and cached for reuse
// (ABI 1.5, config key 5, sdk/ABI.md §3.7) when StitchKeep returns true;
// otherwise (and without this interface) a stitched range is torn down
// when its block is freed. It is asked once, after Init.
type StitchKeeper interface {
	StitchKeep() bool
}

// Planner is implemented by offline policies (ABI 1.5, sdk/ABI.md §3.8),
// which see the whole workload before its first event. Plan is called
// repeatedly before the first event with the next records (at most
// PlanBatch, one per allocation of the workload in event order; a view of
// the SDK's scratch buffer, valid only during the call: copy what you
// keep); done is true on the last call, whose records may be empty. Its
// arena is used only on the last call: the arena's size in bytes (0: no
// arena). A non-nil error fails the run with its text. Place is called
// at each allocation, after RoundSize and ChoosePool: an offset in the
// arena for the block of rounded bytes (inside the arena, overlapping no
// live placed block), or Defer (or None) for the usual path.
type Planner interface {
	Plan(records []PlanRecord, done bool) (arena int64, err error)
	Place(id, rounded int64, pool, stream, tag int32) int64
}

// RoundSizer decides policy_round_size: the block size to allocate for a
// request of size bytes. Valid: a multiple of BlockAlign, ≥ size, ≤ MaxSize.
type RoundSizer interface {
	RoundSize(size int64, stream, tag int32) int64
}

// PoolChooser decides policy_choose_pool: the pool 0..MaxPools-1 that
// serves a request of rounded bytes.
type PoolChooser interface {
	ChoosePool(rounded int64, stream, tag int32) int64
}

// SearchOrderer decides policy_search_order: the order (Order*) in which
// the free blocks of (pool, stream) are offered.
type SearchOrderer interface {
	SearchOrder(rounded int64, pool, stream, tag int32) int64
}

// BlockPicker decides policy_pick_block: an index into cands (1 to the
// candidate window long, in the search order), or None to take no cached
// block. cands is a view of the SDK's scratch buffer, valid only during the
// call: do not keep it.
type BlockPicker interface {
	PickBlock(cands []Candidate, rounded int64, pool, stream, tag int32) int64
}

// Splitter decides policy_split: the size of the front piece of the chosen
// block, rounded (split off the request) .. blockSize (no split), a
// multiple of BlockAlign. flags holds Flag* bits.
type Splitter interface {
	Split(blockSize, rounded int64, pool, stream, flags, tag int32) int64
}

// Merger decides policy_merge: 1 to merge a freed block with its free
// neighbour on side (SidePrev, SideNext), 0 to keep them apart.
type Merger interface {
	Merge(blockSize, neighbourSize int64, pool, side int32) int64
}

// SegmentModer decides policy_segment_mode, once per (pool, stream): 0 for
// classic segments, or the page size of an expandable segment.
type SegmentModer interface {
	SegmentMode(pool, stream int32) int64
}

// SegmentSizer decides policy_segment_size: the size of a new classic
// segment, a multiple of BlockAlign, ≥ rounded.
type SegmentSizer interface {
	SegmentSize(rounded int64, pool, stream, tag int32) int64
}

// ExpandSizer decides policy_expand_size: the bytes to map in an
// expandable segment, a multiple of page, ≥ missing.
type ExpandSizer interface {
	ExpandSize(missing, rounded int64, pool, stream int32, page int64) int64
}

// Releaser decides policy_release: what to release, as
// ReleaseAnswer(Act*, arg).
type Releaser interface {
	Release(phase int32, rounded int64, pool, stream, attempt int32) int64
}

// Observer receives policy_observe events (Observe* kinds) off the
// decision path. Any non-negative answer is fine; Error stops the run.
type Observer interface {
	Observe(kind int32, id, size int64, tag int32) int64
}

// The registered policy, and its hooks resolved once by bind so a hook call
// is one interface call: no type assertion, no allocation.
var (
	registered     Policy
	initer         Initer
	windowed       Windowed
	mergeRepeater  MergeRepeater
	reserveLimiter ReserveLimiter
	stitchKeeper   StitchKeeper
	planner        Planner
	roundSizer     RoundSizer
	poolChooser    PoolChooser
	searchOrderer  SearchOrderer
	blockPicker    BlockPicker
	splitter       Splitter
	merger         Merger
	segmentModer   SegmentModer
	segmentSizer   SegmentSizer
	expandSizer    ExpandSizer
	releaser       Releaser
	observer       Observer
)

// Register makes p the module's policy. Call it exactly once, from an
// init function of package main: the host runs package initialisation
// (_initialize) before policy_init, and main never runs.
//
//	func init() { fraglab.Register(&MyPolicy{}) }
//
// Register panics if p is nil or a policy is already registered.
func Register(p Policy) {
	if p == nil {
		panic("fraglab.Register: nil policy")
	}
	if registered != nil {
		panic("fraglab.Register: a policy is already registered")
	}
	bind(p)
}

// bind resolves p's hooks.
func bind(p Policy) {
	registered = p
	initer, _ = p.(Initer)
	windowed, _ = p.(Windowed)
	mergeRepeater, _ = p.(MergeRepeater)
	reserveLimiter, _ = p.(ReserveLimiter)
	stitchKeeper, _ = p.(StitchKeeper)
	planner, _ = p.(Planner)
	roundSizer, _ = p.(RoundSizer)
	poolChooser, _ = p.(PoolChooser)
	searchOrderer, _ = p.(SearchOrderer)
	blockPicker, _ = p.(BlockPicker)
	splitter, _ = p.(Splitter)
	merger, _ = p.(Merger)
	segmentModer, _ = p.(SegmentModer)
	segmentSizer, _ = p.(SegmentSizer)
	expandSizer, _ = p.(ExpandSizer)
	releaser, _ = p.(Releaser)
	observer, _ = p.(Observer)
}

// HookMask is the hook mask (sdk/ABI.md §5.5, config key 2) the SDK
// declares for p: bit h set for each hook h that p implements. policy_init
// is always set (the SDK implements it), and policy_scratch with
// policy_pick_block or with the planning hooks (Planner: policy_plan and
// policy_place, ABI 1.5).
func HookMask(p Policy) int64 {
	m := int64(1) << HookInit
	set := func(ok bool, h Hook) {
		if ok {
			m |= 1 << h
		}
	}
	_, ok := p.(BlockPicker)
	_, plans := p.(Planner)
	set(ok || plans, HookScratch)
	set(ok, HookPickBlock)
	set(plans, HookPlan)
	set(plans, HookPlace)
	_, ok = p.(RoundSizer)
	set(ok, HookRoundSize)
	_, ok = p.(PoolChooser)
	set(ok, HookChoosePool)
	_, ok = p.(SearchOrderer)
	set(ok, HookSearchOrder)
	_, ok = p.(Splitter)
	set(ok, HookSplit)
	_, ok = p.(Merger)
	set(ok, HookMerge)
	_, ok = p.(SegmentModer)
	set(ok, HookSegmentMode)
	_, ok = p.(SegmentSizer)
	set(ok, HookSegmentSize)
	_, ok = p.(ExpandSizer)
	set(ok, HookExpandSize)
	_, ok = p.(Releaser)
	set(ok, HookRelease)
	_, ok = p.(Observer)
	set(ok, HookObserve)
	return m
}
