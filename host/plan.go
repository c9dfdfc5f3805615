package host

import (
	"errors"
	"fmt"

	"github.com/google/btree"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/sdk/abi"
)

// This file holds offline planning (ABI 1.5, sdk/ABI.md §3.8): before the
// first event the policy sees every allocation of the workload
// (policy_plan) and answers the size of an arena; at each allocation it
// may place the block at an offset in that arena (policy_place). The arena
// is one device allocation, reserved at the first placement and never
// released; its blocks are never candidates, never split nor merged, and
// freeing one frees its range.

// Planner is implemented by a Policy that plans offline. The host calls
// them only when Implements reports HookPlan and HookPlace.
type Planner interface {
	// Plan hands over len(recs) <= abi.PlanBatch records; done is true on
	// the last call. It returns policy_plan's raw answer.
	Plan(recs []abi.PlanRecord, done bool) (int64, error)
	// Place returns policy_place's raw answer.
	Place(id, rounded int64, pool, stream, tag int32) (int64, error)
}

// arena is the planned arena and its live placed blocks.
type arena struct {
	planned int64                   // bytes the plan asked for; 0: no arena
	seg     *Segment                // nil until the first placement reserves it
	placed  *btree.BTreeG[*Block]   // live placed blocks by address
	info    map[int64]placementInfo // by allocation id
}

// placementInfo is what a placed block's segment cannot say: the
// allocation's stream and block pool.
type placementInfo struct{ stream, pool int32 }

// holds reports whether b is a placed block.
func (r *arena) holds(b *Block) bool { return r.seg != nil && b.seg == r.seg }

// Plan hands the workload's allocations, in event order, to a policy that
// implements policy_plan, in batches of at most abi.PlanBatch records, and
// keeps the arena size of its last answer. It does nothing for other
// policies. An invalid answer is a *PolicyError at event -1 (with
// Options.Fallback, the run goes on with the host defaults and no arena).
func (a *Allocator) Plan(recs []abi.PlanRecord) error {
	if !a.has[abi.HookPlan] || !a.has[abi.HookPlace] {
		return nil
	}
	p, ok := a.pol.(Planner)
	if !ok {
		return fmt.Errorf("the policy reports policy_plan but does not implement host.Planner")
	}
	a.stats.PlanRecords = int64(len(recs))
	for i := 0; ; i += abi.PlanBatch {
		end := min(i+abi.PlanBatch, len(recs))
		done := end == len(recs)
		d := int64(0)
		if done {
			d = 1
		}
		ans, err := p.Plan(recs[i:end], done)
		x := args{v: [6]int64{int64(end - i), d}, n: 2}
		a.stats.HookCalls[abi.HookPlan]++
		fail := func(ans int64, reason string) error {
			return a.policyFailed(&PolicyError{Event: -1, Hook: abi.HookPlan, Args: x.list(), Answer: ans, Trap: err, Reason: reason})
		}
		switch {
		case err != nil:
			return fail(0, a.pol.ErrorText())
		case ans == abi.Error:
			return fail(ans, a.pol.ErrorText())
		case !done && ans != 0:
			return fail(ans, "before the last batch (done=0) the answer must be 0 or ERROR (-3)")
		case !done:
			continue
		case ans == abi.Defer:
			a.stats.HookDefers[abi.HookPlan]++
			ans = 0
		case ans < 0 || ans > MaxSize:
			return fail(ans, "the last answer (done=1) must be the arena's size in bytes (0..2^48; 0 or DEFER: no arena) or ERROR (-3)")
		}
		a.arena.planned = ans
		return nil
	}
}

// ArenaPlanned is the arena size the plan asked for; 0 when none.
func (a *Allocator) ArenaPlanned() int64 { return a.arena.planned }

// placeInArena asks policy_place about an allocation of the default pool and,
// when the policy gives a valid offset in the arena, serves it there. It
// reports whether it did; when not, the caller takes the normal path.
func (a *Allocator) placeInArena(id, size, rounded int64, pool, stream int32, tag int32) (bool, error) {
	r := &a.arena
	ans, err := a.pol.(Planner).Place(id, rounded, pool, stream, tag)
	x := args{v: [6]int64{id, rounded, int64(pool), int64(stream), int64(tag)}, n: 5}
	if done, err := a.status(abi.HookPlace, ans, err, x, true); done || ans == abi.None {
		return false, err
	}
	if ans%MinBlockSize != 0 || ans > r.planned || rounded > r.planned-ans {
		return false, a.invalid(abi.HookPlace, ans, x, fmt.Sprintf("the block [offset, offset+rounded) must lie inside the arena [0, %d) at an offset that is a multiple of 512", r.planned))
	}
	if r.seg != nil {
		if o := r.overlap(r.seg.Addr+uint64(ans), rounded); o != nil {
			off := int64(o.Addr - r.seg.Addr)
			return false, a.invalid(abi.HookPlace, ans, x, fmt.Sprintf("the block overlaps live placed block id %d at [%d, %d)", o.ID, off, off+o.Size))
		}
	} else {
		ok, err := a.reserveArena()
		if err != nil {
			return false, err
		}
		if !ok {
			a.stats.PlaceFallbacks++
			return false, nil
		}
	}
	b := &Block{Addr: r.seg.Addr + uint64(ans), Size: rounded, Mapped: true, Tag: tag, seg: r.seg}
	r.placed.ReplaceOrInsert(b)
	r.info[id] = placementInfo{stream: stream, pool: pool}
	a.stats.ArenaFree -= rounded
	a.setLive(b, id, size)
	a.stats.Allocs++
	a.stats.Placed++
	if a.opts.OnBlockOp != nil {
		a.opts.OnBlockOp(BlockOp{Event: a.event, Action: ActionAlloc, ID: id, Addr: b.Addr, Size: b.Size, Requested: size, Stream: a.svals[stream], Pool: pool})
	}
	a.notePeaks()
	if a.has[abi.HookObserve] {
		return true, a.observe(abi.ObserveAlloc, id, rounded, tag)
	}
	return true, nil
}

// reserveArena allocates the arena, rounded up to the device granularity;
// false when the device (or the reserve limit) has no room for it.
func (a *Allocator) reserveArena() (bool, error) {
	r := &a.arena
	size := roundUp(r.planned, a.gran)
	if a.reserveLimit > 0 && a.stats.Reserved+size > a.reserveLimit {
		return false, nil
	}
	addr, err := a.dev.Alloc(size)
	if err != nil {
		if errors.Is(err, cudadriver.ErrOutOfMemory) {
			return false, nil
		}
		return false, fmt.Errorf("event %d: device alloc of the %d-byte arena: %w", a.event, size, err)
	}
	r.seg = &Segment{Addr: addr, Size: size, Mapped: size, Pool: abi.PoolLarge, Event: a.event, ctx: -1}
	r.placed = btree.NewG(btreeDegree, addrLess)
	r.info = map[int64]placementInfo{}
	a.stats.Reserved += size
	a.stats.ArenaBytes = size
	a.stats.ArenaFree = size
	a.stats.SegmentAllocs++
	a.driverOp(ActionSegmentAlloc, addr, size, r.seg)
	return true, nil
}

// overlap returns a live placed block that shares bytes with [addr,
// addr+size), or nil.
func (r *arena) overlap(addr uint64, size int64) *Block {
	var hit *Block
	pivot := &Block{Addr: addr}
	r.placed.DescendLessOrEqual(pivot, func(b *Block) bool {
		if b.end() > addr {
			hit = b
		}
		return false
	})
	if hit != nil {
		return hit
	}
	r.placed.AscendGreaterOrEqual(pivot, func(b *Block) bool {
		if b.Addr < addr+uint64(size) {
			hit = b
		}
		return false
	})
	return hit
}

// freePlaced completes the free of placed block b (completeFree's path for
// the arena): its range becomes free, with nothing merged or cached.
func (a *Allocator) freePlaced(b *Block) error {
	r := &a.arena
	id := b.ID
	pi := r.info[id]
	delete(r.info, id)
	r.placed.Delete(b)
	if a.opts.OnBlockOp != nil {
		a.opts.OnBlockOp(BlockOp{Event: a.event, Action: ActionFree, ID: id, Addr: b.Addr, Size: b.Size, Requested: b.Requested, Stream: a.svals[pi.stream], Pool: pi.pool})
	}
	a.stats.Active -= b.Size
	a.stats.Requested -= b.Requested
	a.stats.Rounded -= roundUp(b.Requested, MinBlockSize)
	a.stats.ArenaFree += b.Size
	size, tag := b.Size, b.Tag
	b.Allocated, b.Requested, b.ID, b.Tag = false, 0, 0, 0
	if a.has[abi.HookObserve] {
		return a.observe(abi.ObserveFree, id, size, tag)
	}
	return nil
}

// checkArena verifies the placed blocks (Check's part for the arena): in
// the arena, apart, live under their ids; it adds their bytes to want.
func (a *Allocator) checkArena(want *Stats) error {
	r := &a.arena
	if r.seg == nil {
		if a.stats.ArenaBytes != 0 || a.stats.ArenaFree != 0 {
			return fmt.Errorf("arena: not reserved, but counts %d bytes, %d free", a.stats.ArenaBytes, a.stats.ArenaFree)
		}
		return nil
	}
	if _, ok := a.segs[r.seg.Addr]; ok {
		return fmt.Errorf("arena %#x: listed among the segments", r.seg.Addr)
	}
	for _, s := range a.segs {
		if s.Addr < r.seg.Addr+uint64(r.seg.Size) && r.seg.Addr < s.Addr+uint64(s.Size) {
			return fmt.Errorf("arena %#x: overlaps segment %#x", r.seg.Addr, s.Addr)
		}
	}
	end := r.seg.Addr
	var used int64
	var err error
	r.placed.Ascend(func(b *Block) bool {
		switch {
		case b.Addr < end:
			err = fmt.Errorf("arena: placed block %#x overlaps the block below it (which ends at %#x)", b.Addr, end)
		case b.end() > r.seg.Addr+uint64(r.seg.Size):
			err = fmt.Errorf("arena: placed block %#x ends past the arena", b.Addr)
		case !b.Allocated || b.seg != r.seg:
			err = fmt.Errorf("arena: placed block %#x is not an allocated block of the arena", b.Addr)
		}
		if lb, ok := a.live.get(b.ID); err == nil && (!ok || lb != b) {
			err = fmt.Errorf("arena: placed block %#x: allocated as id %d, but that id maps elsewhere", b.Addr, b.ID)
		}
		if err != nil {
			return false
		}
		end = b.end()
		used += b.Size
		want.countLive(b)
		return true
	})
	if err != nil {
		return err
	}
	if len(r.info) != r.placed.Len() {
		return fmt.Errorf("arena: %d placed blocks, %d placement records", r.placed.Len(), len(r.info))
	}
	if a.stats.ArenaBytes != r.seg.Size || a.stats.ArenaFree != r.seg.Size-used {
		return fmt.Errorf("arena: counts %d bytes, %d free; a recount gives %d and %d", a.stats.ArenaBytes, a.stats.ArenaFree, r.seg.Size, r.seg.Size-used)
	}
	want.Reserved += r.seg.Size
	return nil
}

// Arena returns the arena segment (not among Segments) and its live placed
// blocks in address order; nil when no arena was reserved.
func (a *Allocator) Arena() (*Segment, []*Block) {
	r := &a.arena
	if r.seg == nil {
		return nil, nil
	}
	out := make([]*Block, 0, r.placed.Len())
	r.placed.Ascend(func(b *Block) bool { out = append(out, b); return true })
	return r.seg, out
}
