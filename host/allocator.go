package host

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host/abi"
)

// DriverOp is one device operation, as written to a driver log.
type DriverOp struct {
	Event  int64  // trace event that caused it; -1 before the first event
	Action string // segment_alloc, segment_free, segment_map, segment_unmap
	Addr   uint64
	Size   int64
	Stream int64 // raw stream value of the workload
	Pool   int32
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
}

// Block actions of a BlockOp.
const (
	ActionAlloc = "alloc"
	ActionFree  = "free"
	ActionOOM   = "oom"
)

// Options configures an Allocator.
type Options struct {
	// OnDriverOp, when set, is called for every device operation, in order.
	OnDriverOp func(DriverOp)
	// OnBlockOp, when set, is called for every allocation, free and OOM.
	OnBlockOp func(BlockOp)
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

	lists   [abi.MaxPools][]*freeIndex // by stream index
	modes   [abi.MaxPools][]int64      // segment mode by stream index; -1 undecided
	exp     [abi.MaxPools][]*Segment   // expandable segment by stream index
	segs    map[uint64]*Segment        // by address
	live    map[int64]*Block           // by allocation id
	failed  map[int64]struct{}         // ids whose allocation failed (OOM)
	streams map[int64]int32            // raw stream value -> index
	svals   []int64                    // index -> raw stream value

	searches [abi.MaxPools]uint64 // block searches per pool (ages for release aged)
	event    int64
	stats    Stats

	cands  []abi.Candidate
	cblks  []*Block
	pivot  Block
	events int64
}

// New returns an Allocator over dev asking pol for decisions.
func New(dev cudadriver.Device, pol Policy, opts Options) *Allocator {
	a := &Allocator{
		dev:     dev,
		pol:     pol,
		gran:    dev.Info().Granularity,
		opts:    opts,
		segs:    map[uint64]*Segment{},
		live:    map[int64]*Block{},
		failed:  map[int64]struct{}{},
		streams: map[int64]int32{},
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
	return a
}

// SetEvent sets the index of the trace event being served; driver
// operations and policy errors name it.
func (a *Allocator) SetEvent(i int64) { a.event = i }

// Stats returns the statistics so far.
func (a *Allocator) Stats() Stats { return a.stats }

// Device returns the allocator's device.
func (a *Allocator) Device() cudadriver.Device { return a.dev }

// Live returns the block of a live allocation.
func (a *Allocator) Live(id int64) (*Block, bool) {
	b, ok := a.live[id]
	return b, ok
}

// StreamIndex maps a raw stream value to its index, numbering streams in
// order of first appearance.
func (a *Allocator) StreamIndex(stream int64) int32 {
	if i, ok := a.streams[stream]; ok {
		return i
	}
	i := int32(len(a.svals))
	a.streams[stream] = i
	a.svals = append(a.svals, stream)
	for p := range a.lists {
		a.lists[p] = append(a.lists[p], newFreeIndex(a.has[abi.HookSearchOrder]))
		a.modes[p] = append(a.modes[p], -1)
		a.exp[p] = append(a.exp[p], nil)
	}
	return i
}

// Alloc serves allocation id of size bytes on a stream. An allocation that
// cannot be served is an OOM: it is counted and the run goes on (nil is
// returned). A non-nil error is a policy or device failure that ends the run.
func (a *Allocator) Alloc(id, size, stream int64, tag int32) error {
	if _, dup := a.live[id]; dup {
		return fmt.Errorf("event %d: alloc of id %d, which is still live", a.event, id)
	}
	if size <= 0 {
		return fmt.Errorf("event %d: alloc of id %d: size %d must be positive", a.event, id, size)
	}
	delete(a.failed, id)
	s := a.StreamIndex(stream)
	rounded, err := a.roundSize(size, s, tag)
	if err != nil {
		return err
	}
	pool, err := a.choosePool(rounded, s, tag)
	if err != nil {
		return err
	}
	a.searches[pool]++
	b, err := a.findBlock(rounded, pool, s, tag)
	if err != nil {
		return err
	}
	if b == nil {
		if b, err = a.grow(rounded, pool, s, tag); err != nil {
			return err
		}
		if b == nil {
			return a.oom(id, rounded, size, pool, s, tag)
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

// oom records a failed allocation.
func (a *Allocator) oom(id, rounded int64, size int64, pool, stream int32, tag int32) error {
	if a.opts.OnBlockOp != nil {
		a.opts.OnBlockOp(BlockOp{Event: a.event, Action: ActionOOM, ID: id, Size: rounded, Requested: size, Stream: a.svals[stream], Pool: pool})
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
	for {
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
		rest := &Block{Addr: b.Addr + uint64(front), Size: b.Size - front, Mapped: true, seg: b.seg, prev: b, next: b.next, freedAt: a.searches[pool]}
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
	b.Allocated = true
	b.ID = id
	b.Requested = size
	b.Tag = tag
	a.live[id] = b
	a.stats.Allocated += b.Size
	a.stats.Active += b.Size
	a.stats.Requested += size
	a.stats.LiveBlocks++
	a.stats.Allocs++
	if a.opts.OnBlockOp != nil {
		a.opts.OnBlockOp(BlockOp{Event: a.event, Action: ActionAlloc, ID: id, Addr: b.Addr, Size: b.Size, Requested: size, Stream: a.svals[stream], Pool: pool})
	}
	return nil
}

// Free frees allocation id. Freeing the id of an allocation that failed
// with OOM is a no-op (the workload never got memory for it).
func (a *Allocator) Free(id int64) error {
	b, ok := a.live[id]
	if !ok {
		if _, f := a.failed[id]; f {
			delete(a.failed, id)
			a.stats.FreesOfFailed++
			return nil
		}
		return fmt.Errorf("event %d: free of id %d, which is not live", a.event, id)
	}
	delete(a.live, id)
	if a.opts.OnBlockOp != nil {
		a.opts.OnBlockOp(BlockOp{Event: a.event, Action: ActionFree, ID: id, Addr: b.Addr, Size: b.Size, Requested: b.Requested, Stream: a.svals[b.seg.Stream], Pool: b.seg.Pool})
	}
	a.stats.Allocated -= b.Size
	a.stats.Active -= b.Size
	a.stats.Requested -= b.Requested
	a.stats.LiveBlocks--
	a.stats.Frees++
	size, tag := b.Size, b.Tag
	b.Allocated, b.Requested, b.ID, b.Tag = false, 0, 0, 0
	seg := b.seg
	if p := b.prev; p != nil && !p.Allocated && p.Mapped {
		ok, err := a.merge(b.Size, p.Size, seg.Pool, abi.SidePrev)
		if err != nil {
			return err
		}
		if ok {
			a.unindex(p)
			a.absorbPrev(b)
		}
	}
	if n := b.next; n != nil && !n.Allocated && n.Mapped {
		ok, err := a.merge(b.Size, n.Size, seg.Pool, abi.SideNext)
		if err != nil {
			return err
		}
		if ok {
			a.unindex(n)
			a.absorbNext(b)
		}
	}
	b.freedAt = a.searches[seg.Pool]
	a.index(b)
	if a.has[abi.HookObserve] {
		return a.observe(abi.ObserveFree, id, size, tag)
	}
	return nil
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

// EmptyCache releases every free cached segment (torch.cuda.empty_cache).
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
	a.lists[b.seg.Pool][b.seg.Stream].insert(b)
	a.stats.PoolFree[b.seg.Pool] += b.Size
}

// unindex takes a block out of its pool's free index.
func (a *Allocator) unindex(b *Block) {
	a.lists[b.seg.Pool][b.seg.Stream].remove(b)
	a.stats.PoolFree[b.seg.Pool] -= b.Size
}

// findBlock returns the free block the policy picks for the request, or nil.
func (a *Allocator) findBlock(rounded int64, pool, stream, tag int32) (*Block, error) {
	fl := a.lists[pool][stream]
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
	a.pivot.Size, a.pivot.Addr = rounded, 0
	var best *Block
	fl.bySize.AscendGreaterOrEqual(&a.pivot, func(b *Block) bool {
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
		if b.seg.Page > 0 {
			c.Flags |= abi.FlagExpandable
		} else if b.prev == nil && b.next == nil {
			c.Flags |= abi.FlagWholeSegment
		}
		n++
		return n < a.window
	}
	switch order {
	case abi.OrderBestFit:
		a.pivot.Size, a.pivot.Addr = rounded, 0
		fl.bySize.AscendGreaterOrEqual(&a.pivot, add)
	case abi.OrderAddress:
		fl.byAddr.Ascend(add)
	case abi.OrderLargest:
		fl.bySize.Descend(add)
	}
	return n
}

// grow gets a block of at least rounded bytes from the device, releasing
// cached memory as the policy says. It returns nil when the device has no
// room: the allocation is an OOM.
func (a *Allocator) grow(rounded int64, pool, stream, tag int32) (*Block, error) {
	act, err := a.release(abi.PhaseBeforeGrow, rounded, pool, stream, 0)
	if err != nil {
		return nil, err
	}
	if act != abi.ActNothing {
		if _, err := a.perform(act, rounded, pool, stream); err != nil {
			return nil, err
		}
	}
	mode, err := a.segmentMode(pool, stream)
	if err != nil {
		return nil, err
	}
	var segSize int64
	if mode == 0 {
		if segSize, err = a.segmentSize(rounded, pool, stream, tag); err != nil {
			return nil, err
		}
	}
	try := func() (*Block, error) {
		if mode == 0 {
			return a.newSegment(segSize, pool, stream)
		}
		return a.expand(rounded, pool, stream, mode)
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
		released, err := a.perform(act, rounded, pool, stream)
		if err != nil {
			return nil, err
		}
		if released > 0 || act&abi.ActionMask == abi.ActReleaseCached {
			b, err = try()
		}
	}
	return b, err
}

// newSegment allocates a classic segment; nil when the device is full.
func (a *Allocator) newSegment(size int64, pool, stream int32) (*Block, error) {
	addr, err := a.dev.Alloc(size)
	if err != nil {
		if errors.Is(err, cudadriver.ErrOutOfMemory) {
			return nil, nil
		}
		return nil, fmt.Errorf("event %d: device alloc of %d bytes: %w", a.event, size, err)
	}
	seg := &Segment{Addr: addr, Size: size, Mapped: size, Pool: pool, Stream: stream, Event: a.event}
	b := &Block{Addr: addr, Size: size, Mapped: true, seg: seg, freedAt: a.searches[pool]}
	seg.head = b
	a.segs[addr] = seg
	a.stats.Segments++
	a.stats.SegmentAllocs++
	a.addReserved(pool, size)
	a.driverOp(ActionSegmentAlloc, addr, size, seg)
	return b, nil
}

// InitialSegment is a segment that exists before the first event, as a
// trace that starts mid-run recorded it: a classic segment, or one mapped
// run of an expandable segment (Expandable). Blocks tile it in address
// order.
type InitialSegment struct {
	Addr       uint64
	Size       int64
	Pool       int32
	Stream     int64 // raw stream value
	Expandable bool
	Blocks     []AdoptedBlock
}

// AdoptedBlock describes one block of an InitialSegment.
type AdoptedBlock struct {
	Size      int64
	ID        int64 // live allocation id, or -1 for a free block
	Requested int64
}

// placer is a device that can be asked to put the next allocation at a
// given address (cudadriver.Sim).
type placer interface{ PlaceNext(addr uint64) }

// Adopt installs the state that exists before the first event. Classic
// segments are allocated on the device (at their recorded addresses when
// the device can place them); the mapped runs of expandable segments are
// grouped per (pool, stream) into one reserved range, asking the policy for
// the segment mode. Every device operation appears in the driver log with
// event -1. Call Adopt before the first event.
func (a *Allocator) Adopt(segs []InitialSegment) error {
	saved := a.event
	a.event = -1
	defer func() { a.event = saved }()
	runs := map[[2]int64][]InitialSegment{}
	var keys [][2]int64
	for _, is := range segs {
		if err := checkInitial(is); err != nil {
			return err
		}
		if is.Expandable {
			k := [2]int64{int64(is.Pool), is.Stream}
			if runs[k] == nil {
				keys = append(keys, k)
			}
			runs[k] = append(runs[k], is)
			continue
		}
		if err := a.adoptClassic(is); err != nil {
			return err
		}
	}
	for _, k := range keys {
		if err := a.adoptExpandable(int32(k[0]), k[1], runs[k]); err != nil {
			return err
		}
	}
	a.notePeaks()
	return nil
}

func checkInitial(is InitialSegment) error {
	var total int64
	for _, b := range is.Blocks {
		if b.Size <= 0 || b.Size%MinBlockSize != 0 {
			return fmt.Errorf("initial segment %#x: a block of %d bytes (blocks are positive multiples of 512)", is.Addr, b.Size)
		}
		total += b.Size
	}
	if total != is.Size || is.Pool < 0 || is.Pool >= abi.MaxPools {
		return fmt.Errorf("initial segment %#x of %d bytes in pool %d: its blocks add up to %d bytes", is.Addr, is.Size, is.Pool, total)
	}
	return nil
}

func (a *Allocator) place(addr uint64) {
	if p, ok := a.dev.(placer); ok {
		p.PlaceNext(addr)
	}
}

func (a *Allocator) adoptClassic(is InitialSegment) error {
	s := a.StreamIndex(is.Stream)
	a.place(is.Addr)
	b, err := a.newSegment(is.Size, is.Pool, s)
	if err != nil {
		return err
	}
	if b == nil {
		return fmt.Errorf("initial segment %#x of %d bytes: the device has no room for it", is.Addr, is.Size)
	}
	b.seg.Event = -1
	a.adoptBlocks(b, is.Blocks)
	return nil
}

// adoptBlocks splits the free block b, which spans exactly the blocks,
// into them and marks the live ones allocated.
func (a *Allocator) adoptBlocks(b *Block, blocks []AdoptedBlock) {
	cur := b
	for i, ab := range blocks {
		if i < len(blocks)-1 {
			rest := &Block{Addr: cur.Addr + uint64(ab.Size), Size: cur.Size - ab.Size, Mapped: true, seg: cur.seg, prev: cur, next: cur.next}
			if cur.next != nil {
				cur.next.prev = rest
			}
			cur.next, cur.Size = rest, ab.Size
		}
		if ab.ID >= 0 {
			cur.Allocated, cur.ID, cur.Requested = true, ab.ID, ab.Requested
			a.live[ab.ID] = cur
			a.stats.Allocated += cur.Size
			a.stats.Active += cur.Size
			a.stats.Requested += ab.Requested
			a.stats.LiveBlocks++
		} else {
			a.index(cur)
		}
		cur = cur.next
	}
}

// adoptExpandable rebuilds one expandable segment from its mapped runs.
func (a *Allocator) adoptExpandable(pool int32, stream int64, runs []InitialSegment) error {
	s := a.StreamIndex(stream)
	page, err := a.segmentMode(pool, s)
	if err != nil {
		return err
	}
	if page == 0 {
		return fmt.Errorf("the trace starts with expandable segments in pool %d, but the policy uses classic segments there (for the pytorch policy: expandable_segments=true)", pool)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].Addr < runs[j].Addr })
	base := runs[0].Addr
	for _, r := range runs {
		if int64(r.Addr-base)%page != 0 || r.Size%page != 0 {
			return fmt.Errorf("expandable run %#x of %d bytes is not whole pages of %d from %#x", r.Addr, r.Size, page, base)
		}
	}
	a.place(base)
	// The first mapping creates the segment at base (placed when possible);
	// later runs are mapped at their offsets from it.
	seg := a.exp[pool][s]
	if seg != nil {
		return fmt.Errorf("initial expandable segment of pool %d, stream %d given twice", pool, stream)
	}
	size := a.reserveSize(page)
	last := runs[len(runs)-1]
	if span := int64(last.Addr-base) + last.Size; span > size {
		size = roundUp(span, page)
	}
	seg, err = a.newExpandable(pool, s, page, size)
	if err != nil {
		return err
	}
	addr := seg.Addr
	for _, r := range runs {
		at := addr + (r.Addr - base)
		var u *Block
		a.pivot.Addr = at
		seg.unmapped.DescendLessOrEqual(&a.pivot, func(b *Block) bool { u = b; return false })
		if u == nil {
			return fmt.Errorf("initial expandable run %#x overlaps another run", r.Addr)
		}
		b, err := a.mapAt(seg, u, at, r.Size)
		if err != nil {
			return err
		}
		if b == nil {
			return fmt.Errorf("initial expandable run %#x of %d bytes: the device has no room for it", r.Addr, r.Size)
		}
		a.unindex(b)
		a.adoptBlocks(b, r.Blocks)
	}
	return nil
}
func (a *Allocator) addReserved(pool int32, n int64) {
	a.stats.Reserved += n
	a.stats.PoolReserved[pool] += n
}

func (a *Allocator) driverOp(action string, addr uint64, size int64, seg *Segment) {
	if a.opts.OnDriverOp != nil {
		a.opts.OnDriverOp(DriverOp{Event: a.event, Action: action, Addr: addr, Size: size, Stream: a.svals[seg.Stream], Pool: seg.Pool})
	}
}

// freeSegment returns a classic segment whose only block is b to the device.
func (a *Allocator) freeSegment(b *Block) error {
	seg := b.seg
	if b.indexed {
		a.unindex(b)
	}
	if err := a.dev.Free(seg.Addr); err != nil {
		return fmt.Errorf("event %d: device free of segment %#x: %w", a.event, seg.Addr, err)
	}
	delete(a.segs, seg.Addr)
	a.stats.Segments--
	a.stats.SegmentFrees++
	a.addReserved(seg.Pool, -seg.Size)
	a.driverOp(ActionSegmentFree, seg.Addr, seg.Size, seg)
	return nil
}

// perform carries out a release action; it returns the bytes released.
func (a *Allocator) perform(act int64, rounded int64, pool, stream int32) (int64, error) {
	arg := act >> abi.ActionBits
	switch act & abi.ActionMask {
	case abi.ActReleaseCached:
		return a.releaseCached()
	case abi.ActReleaseOver:
		return a.releaseOversize(arg, rounded, pool, stream)
	case abi.ActReleaseAged:
		return a.releaseAged(arg)
	}
	return 0, nil
}

// releaseOrder is the order pools are released in: large first, then small.
var releaseOrder = [abi.MaxPools]int32{1, 0, 2, 3, 4, 5, 6, 7}

// releaseCached releases every free block spanning a whole classic segment
// and unmaps every whole free page of expandable segments.
func (a *Allocator) releaseCached() (int64, error) {
	var released int64
	var todo, unmap []*Block
	for _, pool := range releaseOrder {
		for _, fl := range a.lists[pool] {
			fl.bySize.Ascend(func(b *Block) bool {
				if b.seg.Page > 0 {
					unmap = append(unmap, b)
				} else if b.prev == nil && b.next == nil {
					todo = append(todo, b)
				}
				return true
			})
		}
		for _, b := range todo {
			released += b.Size
			if err := a.freeSegment(b); err != nil {
				return released, err
			}
		}
		for _, b := range unmap {
			n, err := a.unmapBlock(b)
			released += n
			if err != nil {
				return released, err
			}
		}
		todo, unmap = todo[:0], unmap[:0]
	}
	return released, nil
}

// releaseOversize frees oversize cached segments of one pool and stream
// (PyTorch's release_available_cached_blocks).
func (a *Allocator) releaseOversize(threshold, rounded int64, pool, stream int32) (int64, error) {
	fl := a.lists[pool][stream]
	key := max(rounded, threshold)
	var pick *Block
	a.pivot.Size, a.pivot.Addr = key, 0
	fl.bySize.AscendGreaterOrEqual(&a.pivot, func(b *Block) bool {
		if b.wholeSegment() {
			pick = b
			return false
		}
		return true
	})
	if pick != nil {
		n := pick.Size
		return n, a.freeSegment(pick)
	}
	var released int64
	var todo []*Block
	fl.bySize.Descend(func(b *Block) bool {
		if b.Size < threshold {
			return false
		}
		if b.wholeSegment() {
			todo = append(todo, b)
			released += b.Size
		}
		return released < key
	})
	for _, b := range todo {
		if err := a.freeSegment(b); err != nil {
			return released, err
		}
	}
	return released, nil
}

// releaseAged frees old cached classic segments of the large pools until
// target bytes are released (PyTorch's garbage collection).
func (a *Allocator) releaseAged(target int64) (int64, error) {
	var cands []*Block
	for _, pool := range releaseOrder {
		if pool == abi.PoolSmall {
			continue
		}
		for _, fl := range a.lists[pool] {
			fl.bySize.Ascend(func(b *Block) bool {
				if b.wholeSegment() {
					cands = append(cands, b)
				}
				return true
			})
		}
	}
	age := func(b *Block) float64 { return float64(a.searches[b.seg.Pool] - b.freedAt) }
	var total float64
	for _, b := range cands {
		total += age(b)
	}
	var released int64
	count := len(cands)
	freed := true
	for released < target && freed && count > 0 {
		threshold := total / float64(count)
		freed = false
		kept := cands[:0]
		for _, b := range cands {
			if age(b) >= threshold {
				freed = true
				released += b.Size
				total -= age(b)
				count--
				if err := a.freeSegment(b); err != nil {
					return released, err
				}
				continue
			}
			kept = append(kept, b)
		}
		cands = kept
	}
	return released, nil
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
	}
	return math.MinInt64
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
