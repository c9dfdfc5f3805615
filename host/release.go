package host

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/fraglab/fraglab/sdk/abi"
)

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
	a.segmentGone(seg)
	a.addReserved(seg, -seg.Size)
	a.driverOp(ActionSegmentFree, seg.Addr, seg.Size, seg)
	return nil
}

// perform carries out a release action for a request of context c. It
// reports whether a failed growth should be tried again (ABI §3.3): always
// after release cached (as PyTorch does); after release oversize, when it
// freed all it aimed at (ABI 1.3; before, when it freed anything); after
// release aged, when it freed anything. An allocation to a private pool
// gets no release cached (PyTorch skips that last resort while a capture
// or MemPool context is active: it would synchronise the device). The
// stitching actions (ABI 1.5) may serve the request: a stitch returns the
// new stitched block, a teardown of stitched ranges searches the free
// blocks again and returns the one found (else it asks for a retry when
// it tore anything down: the pages back in their segment may hold the
// request with less to map).
func (a *Allocator) perform(act int64, rounded int64, pool, c, tag int32) (served *Block, retry bool, err error) {
	arg := act >> abi.ActionBits
	switch act & abi.ActionMask {
	case abi.ActReleaseCached:
		if a.ctxs[c].pool != 0 {
			a.stats.SkippedReleases++
			return nil, false, nil
		}
		_, err = a.releaseCached()
		return nil, true, err
	case abi.ActReleaseOver:
		if _, err := a.teardownFree(func(s *Segment) bool { return s.Pool == pool && s.ctx == c }); err != nil {
			return nil, false, err
		}
		released, enough, err := a.releaseOversize(arg, rounded, pool, c)
		if a.newest {
			return nil, enough, err
		}
		return nil, released > 0, err
	case abi.ActReleaseAged:
		if _, err := a.teardownFree(func(s *Segment) bool { return s.Pool != abi.PoolSmall && s.PrivatePool == 0 }); err != nil {
			return nil, false, err
		}
		released, err := a.releaseAged(arg)
		return nil, released > 0, err
	case abi.ActStitch:
		b, err := a.stitch(rounded, pool, c, arg == abi.StitchGrow)
		return b, false, err
	case abi.ActReleaseStitched:
		n, err := a.teardownFree(func(*Segment) bool { return true })
		if err != nil || n == 0 {
			return nil, false, err
		}
		b, err := a.findBlock(rounded, pool, c, tag)
		if b != nil && b.indexed {
			a.unindex(b)
		}
		return b, b == nil, err
	}
	return nil, false, nil
}

// releaseOrder is the order the default memory pool's block pools are
// released in: large first, then small, as release_cached_blocks does.
var releaseOrder = [abi.MaxPools]int32{1, 0, 2, 3, 4, 5, 6, 7}

// privateReleaseOrder is the order a released private pool's block pools
// are released in: small first, then large (release_cached_blocks on each
// freeable graph pool).
var privateReleaseOrder = [abi.MaxPools]int32{0, 1, 2, 3, 4, 5, 6, 7}

// freeList names one free list: a block pool in a free-list context.
type freeList struct{ pool, ctx int32 }

// releaseSequence returns the releasable free lists in the order PyTorch's
// release_cached_blocks visits blocks: the default memory pool first, its
// large then its small blocks, then each released private pool in id order
// (PyTorch keeps them in a hash map; the id order is fraglab's choice), its
// small then its large blocks. Within a block pool the contexts go by raw
// stream value, as PyTorch's free sets order blocks by stream first
// (BlockComparatorSize), then by size and address as each free index does.
// With only a private pool (1 and up), the sequence holds that pool's
// lists alone (release_cached_blocks of that mempool_id), if it was
// released; with only 0, every releasable list.
func (a *Allocator) releaseSequence(only int64) []freeList {
	ctxs := make([]int32, 0, len(a.ctxs))
	for c := range a.ctxs {
		if a.releasable(int32(c)) && (only == 0 || a.ctxs[c].pool == only) {
			ctxs = append(ctxs, int32(c))
		}
	}
	slices.SortFunc(ctxs, func(x, y int32) int {
		if c := cmp.Compare(a.ctxs[x].pool, a.ctxs[y].pool); c != 0 {
			return c
		}
		return cmp.Compare(a.svals[a.ctxs[x].stream], a.svals[a.ctxs[y].stream])
	})
	seq := make([]freeList, 0, len(ctxs)*abi.MaxPools)
	for i := 0; i < len(ctxs); {
		pool := a.ctxs[ctxs[i]].pool
		j := i + 1
		for j < len(ctxs) && a.ctxs[ctxs[j]].pool == pool {
			j++
		}
		order := releaseOrder
		if pool != 0 {
			order = privateReleaseOrder
		}
		for _, p := range order {
			for _, c := range ctxs[i:j] {
				seq = append(seq, freeList{pool: p, ctx: c})
			}
		}
		i = j
	}
	return seq
}

// releaseCached first completes every free waiting for other streams (it
// synchronises the device), then releases every free block spanning a
// whole classic segment and unmaps every whole free page of expandable
// segments, in the default pool and in private pools already released
// (PyTorch's release_cached_blocks). Private pools still in use keep their
// memory; released ones left with no segment are forgotten.
func (a *Allocator) releaseCached() (int64, error) { return a.releasePoolCached(0) }

// releasePoolCached is releaseCached for released private pool id alone
// (release_cached_blocks with its mempool_id), or for everything with id
// 0: it completes the pending frees of the pool's blocks, releases its
// whole free segments and pages, and forgets the pool if it holds no
// segment then.
func (a *Allocator) releasePoolCached(id int64) (int64, error) {
	if err := a.syncPending(id); err != nil {
		return 0, err
	}
	if _, err := a.teardownFree(func(s *Segment) bool {
		return a.releasable(s.ctx) && (id == 0 || s.PrivatePool == id)
	}); err != nil {
		return 0, err
	}
	released, err := a.releaseLists(a.releaseSequence(id))
	if err != nil {
		return released, err
	}
	a.forgetReleasedPools(id)
	return released, nil
}

// releaseLists releases, list by list in the order given, every free block
// spanning a whole classic segment and every whole free page of expandable
// segments, and returns the bytes released.
func (a *Allocator) releaseLists(seq []freeList) (int64, error) {
	var released int64
	var todo, unmap []*Block
	for _, l := range seq {
		a.lists[l.pool][l.ctx].bySize.ascend(func(b *Block) bool {
			if b.seg.Page > 0 {
				unmap = append(unmap, b)
			} else if b.prev == nil && b.next == nil {
				todo = append(todo, b)
			}
			return true
		})
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

// releaseOversize frees oversize cached segments of one pool and context
// (PyTorch's release_available_cached_blocks, which works on the request's
// own block pool, private or not). enough is that function's answer: one
// block of at least the key was freed, or blocks adding up to it.
func (a *Allocator) releaseOversize(threshold, rounded int64, pool, c int32) (released int64, enough bool, err error) {
	fl := a.lists[pool][c]
	key := max(rounded, threshold)
	var pick *Block
	fl.bySize.ascendFrom(blockKey{key, 0}, func(b *Block) bool {
		if b.wholeSegment() {
			pick = b
			return false
		}
		return true
	})
	if pick != nil {
		n := pick.Size
		return n, true, a.freeSegment(pick)
	}
	var todo []*Block
	fl.bySize.descend(func(b *Block) bool {
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
			return released, false, err
		}
	}
	return released, released >= key, nil
}

// releaseAged frees old cached classic segments of the large pools of the
// default pool until target bytes are released (PyTorch's garbage
// collection, which looks at the device's own large blocks only).
func (a *Allocator) releaseAged(target int64) (int64, error) {
	var cands []*Block
	for _, pool := range releaseOrder {
		if pool == abi.PoolSmall {
			continue
		}
		for c, fl := range a.lists[pool] {
			if a.ctxs[c].pool != 0 {
				continue
			}
			fl.bySize.ascend(func(b *Block) bool {
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
