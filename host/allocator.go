package host

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/sdk/abi"
)

// DriverOp is one device operation, as written to a driver log.
type DriverOp struct {
	Event  int64  // trace event that caused it; -1 before the first event
	Action string // segment_alloc, segment_free, segment_map, segment_unmap, stitch_map, stitch_unmap
	Addr   uint64
	Size   int64
	Stream int64 // raw stream value of the workload
	Pool   int32
	// PrivatePool is the private pool holding the segment; 0: the default pool
	PrivatePool int64
	// Sources are the lent pages of a stitch_map or stitch_unmap, in
	// mapping order; nil for the other actions.
	Sources []cudadriver.Span
}

// Device actions of a DriverOp.
const (
	ActionSegmentAlloc = "segment_alloc"
	ActionSegmentFree  = "segment_free"
	ActionSegmentMap   = "segment_map"
	ActionSegmentUnmap = "segment_unmap"
)

// BlockOp is one allocation, free or failed allocation as the workload saw
// it, for logs and snapshot export.
type BlockOp struct {
	Event     int64
	Action    string // alloc, free or oom
	ID        int64
	Addr      uint64 // block address (0 for oom)
	Size      int64  // block size (oom: the rounded request)
	Requested int64  // bytes the workload asked for
	Stream    int64  // raw stream value
	Pool      int32
	// PrivatePool is the private pool of the allocation; 0: the default pool
	PrivatePool int64
}

// Block actions of a BlockOp. A free is the block's return to its pool
// (PyTorch's free_completed); a free_requested, the workload's free of a
// block that waits for other streams.
const (
	ActionAlloc         = "alloc"
	ActionFree          = "free"
	ActionFreeRequested = "free_requested"
	ActionOOM           = "oom"
)

// Options configures an Allocator.
type Options struct {
	// OnDriverOp, when set, is called for every device operation, in order.
	OnDriverOp func(DriverOp)
	// OnBlockOp, when set, is called for every allocation, free and OOM.
	OnBlockOp func(BlockOp)
	// Fallback keeps a run going when the policy fails (traps, answers
	// ERROR or out of range): the failure is recorded (PolicyFailure) and
	// every later decision is the host default.
	Fallback bool
	// ExplainOOMs is how many OOMs, the first ones, get an OOMReport
	// (OOMReports); 0: none.
	ExplainOOMs int
}

// Allocator is the mechanism of a caching allocator over one Device: it
// keeps segments, blocks and free indexes, carries out splits, merges,
// growth and releases, and tracks statistics. Every decision is asked of a
// Policy and validated. An Allocator is not safe for concurrent use.
type Allocator struct {
	dev    cudadriver.Device
	pol    Policy
	has    [abi.NumHooks]bool
	gran   int64
	window int
	opts   Options

	lists   [abi.MaxPools][]*freeIndex // by context
	modes   [abi.MaxPools][]int64      // segment mode by stream index; -1 undecided
	exp     [abi.MaxPools][]*Segment   // expandable segment by context
	segs    map[uint64]*Segment        // by address
	live    idMap                      // blocks by allocation id (pending frees included)
	failed  map[int64]struct{}         // ids whose allocation failed (OOM)
	streams map[int64]int32            // raw stream value -> index
	svals   []int64                    // index -> raw stream value
	ctxOf   map[context]int32          // (stream, private pool) -> context
	lastCtx struct {                   // the last answer of ctxOf, for runs of one context
		k  context
		c  int32
		ok bool
	}
	lastStream lastStream             // the last answer of streams
	ctxs       []context              // context -> (stream, private pool)
	private    map[int64]*PrivatePool // private pools that exist, by id
	pending    []int64                // ids whose free waits for other streams, in request order (may hold completed ones)
	synced     map[int64]struct{}     // pending ids completed by a release's synchronisation; their free is a no-op
	reqPool    int64                  // private pool of the allocation being served; -1 outside Alloc

	searches     [abi.MaxPools]uint64 // block searches per pool (ages for release aged)
	oomReports   []OOMReport          // the first Options.ExplainOOMs OOMs
	lastGrow     int64                // bytes the current allocation last asked of the device
	limitRefused bool                 // the reserve limit refused that growth
	policyErr    *PolicyError         // the policy's first failure, with Options.Fallback
	event        int64
	stats        Stats

	cands []abi.Candidate
	cblks []*Block
	// spareBlocks are blocks merged away, for reuse by splits
	spareBlocks []*Block
	pivot       Block
	events      int64

	mergeRepeat  bool  // ask merges again after a merge (MergeRepeater)
	reserveLimit int64 // most bytes reserved (ReserveLimiter); 0 none
	// newest: the policy declares ABI 1.3 or does not say (Versioned):
	// after a release oversize, retry only when it freed all it aimed at;
	// a free tail that holds the request serves it with nothing mapped
	newest    bool
	mergeOffs [2]int64 // during policy_merge: block and neighbour offsets in their segment; else -1

	// Stitching (ABI 1.5): whether the policy may answer the stitching
	// actions (it declares 1.5 or does not say), whether freed stitched
	// blocks stay mapped (StitchKeeper), and the stitched ranges by address.
	stitchOK   bool
	stitchKeep bool
	stitches   map[uint64]*Segment

	arena arena // the planned arena (ABI 1.5, plan.go)
}

// lastStream caches the last stream index looked up: traces mostly run on
// one stream for long stretches.
type lastStream struct {
	val int64
	idx int32
	ok  bool
}

// New returns an Allocator over dev asking pol for decisions.
func New(dev cudadriver.Device, pol Policy, opts Options) *Allocator {
	a := &Allocator{
		dev:     dev,
		pol:     pol,
		gran:    dev.Info().Granularity,
		opts:    opts,
		segs:    map[uint64]*Segment{},
		failed:  map[int64]struct{}{},
		streams: map[int64]int32{},
		ctxOf:   map[context]int32{},
		private: map[int64]*PrivatePool{},
		synced:  map[int64]struct{}{},
		reqPool: -1,
	}
	for h := abi.Hook(0); h < abi.NumHooks; h++ {
		a.has[h] = pol.Implements(h)
	}
	a.window = pol.CandidateWindow()
	if a.window < 1 || a.window > abi.MaxCandidates {
		a.window = abi.DefaultCandidateWindow
	}
	a.cands = make([]abi.Candidate, a.window)
	a.cblks = make([]*Block, a.window)
	a.stats.FirstOOM = -1
	if mr, ok := pol.(MergeRepeater); ok {
		a.mergeRepeat = mr.MergeRepeat()
	}
	if rl, ok := pol.(ReserveLimiter); ok {
		a.reserveLimit = rl.ReserveLimit()
	}
	a.newest = true
	if v, ok := pol.(Versioned); ok {
		a.newest = v.ABIMinor() >= 3
	}
	a.mergeOffs = [2]int64{-1, -1}
	a.stitchOK = true
	if v, ok := pol.(Versioned); ok {
		a.stitchOK = v.ABIMinor() >= 5
	}
	if sk, ok := pol.(StitchKeeper); ok && a.stitchOK {
		a.stitchKeep = sk.StitchKeep()
	}
	a.stitches = map[uint64]*Segment{}
	return a
}

// SetEvent sets the index of the trace event being served; driver
// operations and policy errors name it.
func (a *Allocator) SetEvent(i int64) { a.event = i }

// Bytes returns the reserved, allocated and requested bytes now, without
// copying all the statistics.
func (a *Allocator) Bytes() (reserved, allocated, requested int64) {
	return a.stats.Reserved, a.stats.Allocated, a.stats.Requested
}

// Stats returns the statistics so far.
func (a *Allocator) Stats() Stats { return a.stats }

// Device returns the allocator's device.
func (a *Allocator) Device() cudadriver.Device { return a.dev }

// Live returns the block of a live allocation.
func (a *Allocator) Live(id int64) (*Block, bool) {
	return a.live.get(id)
}

// StreamIndex maps a raw stream value to its index, numbering streams in
// order of first appearance.
func (a *Allocator) StreamIndex(stream int64) int32 {
	if a.lastStream.ok && a.lastStream.val == stream {
		return a.lastStream.idx
	}
	if i, ok := a.streams[stream]; ok {
		a.lastStream = lastStream{stream, i, true}
		return i
	}
	i := int32(len(a.svals))
	a.lastStream = lastStream{stream, i, true}
	a.streams[stream] = i
	a.svals = append(a.svals, stream)
	for p := range a.modes {
		a.modes[p] = append(a.modes[p], -1)
	}
	return i
}

// hasAddrOrder reports whether free indexes keep the address order.
func (a *Allocator) hasAddrOrder() bool { return a.has[abi.HookSearchOrder] }

// OOMReports explains the first Options.ExplainOOMs OOMs, in order.
func (a *Allocator) OOMReports() []OOMReport { return a.oomReports }

// PolicyFailure is the policy's first failure when Options.Fallback kept
// the run going; nil if the policy never failed.
func (a *Allocator) PolicyFailure() *PolicyError { return a.policyErr }

// StreamValue returns the raw stream value of a stream index.
func (a *Allocator) StreamValue(i int32) int64 { return a.svals[i] }

// Alloc serves allocation id of size bytes on a stream from the default
// pool. An allocation that cannot be served is an OOM: it is counted and
// the run goes on (nil is returned). A non-nil error is a policy or device
// failure that ends the run.
func (a *Allocator) Alloc(id, size, stream int64, tag int32) error {
	return a.AllocIn(id, size, stream, 0, tag)
}

// AllocIn is Alloc from private pool private (0: the default pool): the
// allocation is served only by the pool's segments on its stream, and a
// failed growth is not followed by a release of every cached segment
// (PyTorch skips that last resort while allocating to a private pool).
func (a *Allocator) AllocIn(id, size, stream, private int64, tag int32) error {
	if b, dup := a.live.get(id); dup {
		if b.Pending {
			return fmt.Errorf("event %d: alloc of id %d, whose free was requested but has not completed", a.event, id)
		}
		return fmt.Errorf("event %d: alloc of id %d, which is still live", a.event, id)
	}
	if size <= 0 {
		return fmt.Errorf("event %d: alloc of id %d: size %d must be positive", a.event, id, size)
	}
	delete(a.failed, id)
	delete(a.synced, id)
	a.lastGrow, a.limitRefused = 0, false
	s := a.StreamIndex(stream)
	c, err := a.contextOf(s, private)
	if err != nil {
		return err
	}
	a.reqPool = private
	defer func() { a.reqPool = -1 }()
	rounded, err := a.roundSize(size, s, tag)
	if err != nil {
		return err
	}
	pool, err := a.choosePool(rounded, s, tag)
	if err != nil {
		return err
	}
	if a.has[abi.HookPlace] && private == 0 && a.arena.planned > 0 {
		if placed, err := a.placeInArena(id, size, rounded, pool, s, tag); placed || err != nil {
			return err
		}
	}
	a.searches[pool]++
	b, err := a.findBlock(rounded, pool, c, tag)
	if err != nil {
		return err
	}
	if b == nil {
		if b, err = a.grow(rounded, pool, c, tag); err != nil {
			return err
		}
		if b == nil {
			return a.oom(id, rounded, size, pool, c, tag)
		}
	}
	if err := a.take(b, id, size, rounded, pool, s, tag); err != nil {
		return err
	}
	a.notePeaks()
	if a.has[abi.HookObserve] {
		return a.observe(abi.ObserveAlloc, id, rounded, tag)
	}
	return nil
}

// oom records a failed allocation in context c.
func (a *Allocator) oom(id, rounded int64, size int64, pool, c int32, tag int32) error {
	if a.opts.OnBlockOp != nil {
		a.opts.OnBlockOp(BlockOp{Event: a.event, Action: ActionOOM, ID: id, Size: rounded, Requested: size, Stream: a.svals[a.ctxs[c].stream], Pool: pool, PrivatePool: a.ctxs[c].pool})
	}
	if len(a.oomReports) < a.opts.ExplainOOMs {
		a.oomReports = append(a.oomReports, a.explainOOM(id, size, rounded, pool, c))
	}
	a.stats.OOMs++
	if a.stats.FirstOOM < 0 {
		a.stats.FirstOOM = a.event
		a.stats.ExtFragAtFirstOOM = a.extFrag()
	}
	a.failed[id] = struct{}{}
	a.notePeaks()
	if a.has[abi.HookObserve] {
		return a.observe(abi.ObserveOOM, id, rounded, tag)
	}
	return nil
}

// take allocates the front of free block b for the request, splitting as
// the policy says.
func (a *Allocator) take(b *Block, id, size, rounded int64, pool, stream int32, tag int32) error {
	if b.indexed {
		a.unindex(b)
	}
	for !b.seg.Stitched { // a stitched range is one block, never split
		flags := int32(0)
		if b.seg.Page > 0 {
			flags |= abi.FlagExpandable
		} else if b.prev == nil && b.next == nil {
			flags |= abi.FlagWholeSegment
		}
		front, err := a.split(b.Size, rounded, pool, stream, flags, tag)
		if err != nil {
			return err
		}
		if front == b.Size {
			break
		}
		rest := a.newBlock()
		*rest = Block{Addr: b.Addr + uint64(front), Size: b.Size - front, Mapped: true, seg: b.seg, prev: b, next: b.next, freedAt: a.searches[pool]}
		if b.next != nil {
			b.next.prev = rest
		}
		b.next = rest
		b.Size = front
		a.index(rest)
		if front == rounded {
			break
		}
	}
	b.Tag = tag
	a.setLive(b, id, size)
	a.stats.Allocs++
	if a.opts.OnBlockOp != nil {
		a.opts.OnBlockOp(BlockOp{Event: a.event, Action: ActionAlloc, ID: id, Addr: b.Addr, Size: b.Size, Requested: size, Stream: a.svals[stream], Pool: pool, PrivatePool: b.seg.PrivatePool})
	}
	return nil
}

// setLive marks b allocated to id for requested bytes and counts it.
func (a *Allocator) setLive(b *Block, id, requested int64) {
	b.Allocated, b.ID, b.Requested = true, id, requested
	a.live.set(id, b)
	a.stats.Allocated += b.Size
	a.stats.Active += b.Size
	a.stats.Requested += requested
	a.stats.Rounded += roundUp(requested, MinBlockSize)
	a.stats.LiveBlocks++
}

// Free frees allocation id: its block returns to its pool, merging with
// free neighbours. For an id whose free was requested (FreeRequested) it
// completes that free (PyTorch's free_completed); for one a release's
// synchronisation completed already, and for the id of an allocation that
// failed with OOM (the workload never got memory for it), it is a no-op.
func (a *Allocator) Free(id int64) error {
	b, ok := a.live.get(id)
	if !ok {
		if _, s := a.synced[id]; s {
			delete(a.synced, id)
			return nil
		}
		if _, f := a.failed[id]; f {
			delete(a.failed, id)
			a.stats.FreesOfFailed++
			return nil
		}
		return fmt.Errorf("event %d: free of id %d, which is not live", a.event, id)
	}
	if !b.Pending {
		a.requestFree(b)
	}
	if err := a.completeFree(b); err != nil {
		return err
	}
	if n := len(a.pending); n > 64 && n > 2*int(a.stats.PendingFrees) {
		a.pending = slices.DeleteFunc(a.pending, func(id int64) bool { b, ok := a.live.get(id); return !ok || !b.Pending })
	}
	return nil
}

// requestFree is the workload's free of live block b: its bytes stop
// counting as allocated (PyTorch's allocated_bytes drop at free()).
func (a *Allocator) requestFree(b *Block) {
	a.stats.Allocated -= b.Size
	a.stats.LiveBlocks--
	a.stats.Frees++
}

// completeFree returns block b, freed by the workload, to its pool:
// PyTorch's free_block.
func (a *Allocator) completeFree(b *Block) error {
	id := b.ID
	a.live.del(id)
	if b.Pending {
		b.Pending = false
		a.stats.PendingFrees--
		a.stats.PendingBytes -= b.Size
	}
	if a.arena.holds(b) {
		return a.freePlaced(b)
	}
	if a.opts.OnBlockOp != nil {
		a.opts.OnBlockOp(BlockOp{Event: a.event, Action: ActionFree, ID: id, Addr: b.Addr, Size: b.Size, Requested: b.Requested, Stream: a.svals[b.seg.Stream], Pool: b.seg.Pool, PrivatePool: b.seg.PrivatePool})
	}
	a.stats.Active -= b.Size
	a.stats.Requested -= b.Requested
	a.stats.Rounded -= roundUp(b.Requested, MinBlockSize)
	size, tag := b.Size, b.Tag
	b.Allocated, b.Requested, b.ID, b.Tag = false, 0, 0, 0
	seg := b.seg
	for {
		below, err := a.tryMerge(b, abi.SidePrev)
		if err != nil {
			return err
		}
		above, err := a.tryMerge(b, abi.SideNext)
		if err != nil {
			return err
		}
		// ABI 1.2 (config key 3): merged blocks have new neighbours; ask
		// about them until a round merges nothing.
		if !(below || above) || !a.mergeRepeat || !a.has[abi.HookMerge] {
			break
		}
	}
	b.freedAt = a.searches[seg.Pool]
	if seg.Stitched && !a.stitchKeep {
		if err := a.unstitch(seg); err != nil {
			return err
		}
	} else {
		a.index(b)
	}
	if a.has[abi.HookObserve] {
		return a.observe(abi.ObserveFree, id, size, tag)
	}
	return nil
}

// tryMerge merges b with its free neighbour on one side when the policy
// agrees, and reports whether it did.
func (a *Allocator) tryMerge(b *Block, side int32) (bool, error) {
	n := b.prev
	if side == abi.SideNext {
		n = b.next
	}
	if n == nil || !n.isFree() {
		return false, nil
	}
	a.mergeOffs = [2]int64{int64(b.Addr - b.seg.Addr), int64(n.Addr - b.seg.Addr)}
	ok, err := a.merge(b.Size, n.Size, b.seg.Pool, side)
	a.mergeOffs = [2]int64{-1, -1}
	if err != nil || !ok {
		return false, err
	}
	a.unindex(n)
	if side == abi.SidePrev {
		a.absorbPrev(b)
	} else {
		a.absorbNext(b)
	}
	a.recycle(n)
	return true, nil
}

// maxSpareBlocks bounds the blocks kept for reuse.
const maxSpareBlocks = 4096

// newBlock returns a Block for take's split: one merged away by tryMerge
// when there is one (a replay splits and merges about once per event, and
// reuse spares the garbage collector), else a new one. The caller sets
// every field.
func (a *Allocator) newBlock() *Block {
	if n := len(a.spareBlocks); n > 0 {
		b := a.spareBlocks[n-1]
		a.spareBlocks = a.spareBlocks[:n-1]
		return b
	}
	return new(Block)
}

// recycle keeps b, a free block just merged into its neighbour and
// referenced by nothing now, for newBlock.
func (a *Allocator) recycle(b *Block) {
	if len(a.spareBlocks) < maxSpareBlocks {
		*b = Block{}
		a.spareBlocks = append(a.spareBlocks, b)
	}
}

// absorbPrev merges b's lower neighbour into b.
func (a *Allocator) absorbPrev(b *Block) {
	p := b.prev
	b.Addr = p.Addr
	b.Size += p.Size
	b.prev = p.prev
	if p.prev != nil {
		p.prev.next = b
	} else {
		b.seg.head = b
	}
}

// absorbNext merges b's upper neighbour into b.
func (a *Allocator) absorbNext(b *Block) {
	n := b.next
	b.Size += n.Size
	b.next = n.next
	if n.next != nil {
		n.next.prev = b
	}
}

// EmptyCache releases every free cached segment (torch.cuda.empty_cache):
// those of the default pool and of released private pools, after
// completing every pending free. EmptyCachePool releases one private
// pool's.
func (a *Allocator) EmptyCache() error {
	released, err := a.releaseCached()
	if err != nil {
		return err
	}
	a.stats.EmptyCaches++
	if a.has[abi.HookObserve] {
		return a.observe(abi.ObserveEmptyCache, 0, released, 0)
	}
	return nil
}

// index puts a free mapped block into its pool's free index.
func (a *Allocator) index(b *Block) {
	a.lists[b.seg.Pool][b.seg.ctx].insert(b)
	a.stats.PoolFree[b.seg.Pool] += b.Size
}

// unindex takes a block out of its pool's free index.
func (a *Allocator) unindex(b *Block) {
	a.lists[b.seg.Pool][b.seg.ctx].remove(b)
	a.stats.PoolFree[b.seg.Pool] -= b.Size
}

// findBlock returns the free block of context c the policy picks for the
// request, or nil.
func (a *Allocator) findBlock(rounded int64, pool, c, tag int32) (*Block, error) {
	fl := a.lists[pool][c]
	stream := a.ctxs[c].stream
	if fl.bySize.Len() == 0 {
		return nil, nil
	}
	order, err := a.searchOrder(rounded, pool, stream, tag)
	if err != nil {
		return nil, err
	}
	if !a.has[abi.HookPickBlock] && order == abi.OrderBestFit {
		return a.bestFit(fl, rounded), nil
	}
	n := a.collect(fl, order, rounded)
	if n == 0 {
		return nil, nil
	}
	if !a.has[abi.HookPickBlock] {
		return a.cblks[0], nil
	}
	i, err := a.pick(n, rounded, pool, stream, tag)
	if err != nil || i < 0 {
		if err == nil && i == pickDefer {
			if order == abi.OrderBestFit {
				return a.bestFit(fl, rounded), nil
			}
			return a.cblks[0], nil
		}
		return nil, err
	}
	return a.cblks[i], nil
}

// bestFit is the default pick: the smallest block that fits, lowest address
// first; from an expandable block, move on while the next block (in size
// order) could grow less far (PyTorch prefers blocks that cannot grow).
func (a *Allocator) bestFit(fl *freeIndex, rounded int64) *Block {
	var best *Block
	fl.bySize.ascendFrom(blockKey{rounded, 0}, func(b *Block) bool {
		if best == nil {
			best = b
			return best.seg.Page > 0
		}
		if b.expandableSize() < best.expandableSize() {
			best = b
			return best.seg.Page > 0
		}
		return false
	})
	return best
}

// collect writes up to the candidate window of free blocks of size >=
// rounded, in the given order, into a.cands and a.cblks.
func (a *Allocator) collect(fl *freeIndex, order int64, rounded int64) int {
	n := 0
	add := func(b *Block) bool {
		if b.Size < rounded {
			return order == abi.OrderAddress // address order skips small blocks
		}
		a.cblks[n] = b
		c := &a.cands[n]
		c.Size, c.Addr, c.SegmentAddr, c.SegmentSize = b.Size, b.Addr, b.seg.Addr, b.seg.Mapped
		c.ExpandableSize, c.Stream, c.Flags = b.expandableSize(), uint32(b.seg.Stream), 0
		if b.seg.Stitched {
			c.Flags |= abi.FlagStitched
		} else if b.seg.Page > 0 {
			c.Flags |= abi.FlagExpandable
		} else if b.prev == nil && b.next == nil {
			c.Flags |= abi.FlagWholeSegment
		}
		n++
		return n < a.window
	}
	switch order {
	case abi.OrderBestFit:
		fl.bySize.ascendFrom(blockKey{rounded, 0}, add)
	case abi.OrderAddress:
		fl.byAddr.ascend(add)
	case abi.OrderLargest:
		fl.bySize.descend(add)
	}
	return n
}

// grow gets a block of at least rounded bytes from the device for context
// c, releasing cached memory as the policy says. It returns nil when the
// device has no room: the allocation is an OOM. A stitch (ABI 1.5), or a
// teardown of stitched ranges followed by a new search, may serve the
// request without growing.
func (a *Allocator) grow(rounded int64, pool, c, tag int32) (*Block, error) {
	stream := a.ctxs[c].stream
	act, err := a.release(abi.PhaseBeforeGrow, rounded, pool, stream, 0)
	if err != nil {
		return nil, err
	}
	if act != abi.ActNothing {
		b, _, err := a.perform(act, rounded, pool, c, tag)
		if b != nil || err != nil {
			return b, err
		}
	}
	mode, err := a.segmentMode(pool, stream)
	if err != nil {
		return nil, err
	}
	var segSize int64
	if mode == 0 || a.reserveLimit > 0 { // the limit counts the segment size in expandable mode too
		if segSize, err = a.segmentSize(rounded, pool, stream, tag); err != nil {
			return nil, err
		}
	}
	try := func() (*Block, error) {
		if a.reserveLimit > 0 && a.stats.Reserved+segSize > a.reserveLimit {
			a.lastGrow, a.limitRefused = segSize, true
			return nil, nil // as a full device, without asking it
		}
		a.limitRefused = false
		if mode == 0 {
			return a.newSegment(segSize, pool, c)
		}
		return a.expand(rounded, pool, c, mode)
	}
	b, err := try()
	for attempt := int32(0); b == nil && err == nil; attempt++ {
		act, err := a.release(abi.PhaseGrowFailed, rounded, pool, stream, attempt)
		if err != nil {
			return nil, err
		}
		if act == abi.ActNothing {
			return nil, nil
		}
		served, retry, err := a.perform(act, rounded, pool, c, tag)
		if served != nil || err != nil {
			return served, err
		}
		if retry {
			b, err = try()
		}
	}
	return b, err
}

// newSegment allocates a classic segment for context c; nil when the
// device is full.
func (a *Allocator) newSegment(size int64, pool, c int32) (*Block, error) {
	a.lastGrow = size
	addr, err := a.dev.Alloc(size)
	if err != nil {
		if errors.Is(err, cudadriver.ErrOutOfMemory) {
			return nil, nil
		}
		return nil, fmt.Errorf("event %d: device alloc of %d bytes: %w", a.event, size, err)
	}
	seg := &Segment{Addr: addr, Size: size, Mapped: size, Pool: pool, Stream: a.ctxs[c].stream, PrivatePool: a.ctxs[c].pool, Event: a.event, ctx: c}
	b := &Block{Addr: addr, Size: size, Mapped: true, seg: seg, freedAt: a.searches[pool]}
	seg.head = b
	a.segs[addr] = seg
	a.stats.Segments++
	a.stats.SegmentAllocs++
	a.segmentAdded(seg)
	a.addReserved(seg, size)
	a.driverOp(ActionSegmentAlloc, addr, size, seg)
	return b, nil
}

// addReserved counts n bytes more (or less) held from the device for seg.
func (a *Allocator) addReserved(seg *Segment, n int64) {
	a.stats.Reserved += n
	a.stats.PoolReserved[seg.Pool] += n
	a.addPrivateReserved(seg, n)
}

func (a *Allocator) driverOp(action string, addr uint64, size int64, seg *Segment) {
	if a.opts.OnDriverOp != nil {
		a.opts.OnDriverOp(DriverOp{Event: a.event, Action: action, Addr: addr, Size: size, Stream: a.svals[seg.Stream], Pool: seg.Pool, PrivatePool: seg.PrivatePool})
	}
}

// Segments returns every segment in address order.
func (a *Allocator) Segments() []*Segment {
	out := make([]*Segment, 0, len(a.segs))
	for _, s := range a.segs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out
}
