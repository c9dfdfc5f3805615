package host

import (
	"fmt"
	"slices"

	"github.com/fraglab/fraglab/sdk/abi"
)

// This file holds what PyTorch keeps per CUDA stream and per private pool:
// the free-list contexts (one per stream and private pool), the private
// pools' lifetimes (CUDACachingAllocator's PrivatePool, beginAllocateToPool,
// releasePool) and frees that wait for other streams (record_stream).

// context is one free-list context: the blocks of one stream in one memory
// pool (the default pool or a private one). Blocks are served only within
// their context, as PyTorch serves them only within their pool and stream.
type context struct {
	stream int32 // stream index
	pool   int64 // private pool id as the workload names it; 0: default
}

// PrivatePool is a private memory pool (a CUDA graph's or a
// torch.cuda.MemPool's): its segments serve only allocations made to it,
// and they are released only after the pool is (use count 0).
type PrivatePool struct {
	ID         int64 // as the workload names it (>= 1)
	Released   bool  // its last user let go (release_pool)
	ReleasedAt int64 // event of the release; -1 while in use
	Segments   int   // segments (classic and expandable) it holds now
	Reserved   int64 // bytes it holds from the device now
	Peak       int64 // most bytes it held at once
}

// contextOf returns the free-list context of (stream index, pool), creating
// the pool (in use) on its first allocation. An allocation to a pool that
// was released but still holds segments is an error: PyTorch refuses to
// capture into a pool whose use count reached 0 before its memory is
// gone; once its segments are released, the id names a new pool.
func (a *Allocator) contextOf(s int32, pool int64) (int32, error) {
	if pool < 0 {
		return 0, fmt.Errorf("event %d: private pool %d: pool ids are 0 (the default pool) or positive", a.event, pool)
	}
	if pool != 0 {
		p := a.private[pool]
		switch {
		case p == nil:
			p = &PrivatePool{ID: pool, ReleasedAt: -1}
			a.private[pool] = p
			a.stats.PrivatePools++
		case p.Released:
			return 0, fmt.Errorf("event %d: allocation to private pool %d, which was released at event %d and still holds %d segments (%d bytes): a pool takes no allocation after its release until its memory is freed",
				a.event, pool, p.ReleasedAt, p.Segments, p.Reserved)
		}
	}
	k := context{stream: s, pool: pool}
	if a.lastCtx.ok && a.lastCtx.k == k {
		return a.lastCtx.c, nil
	}
	if c, ok := a.ctxOf[k]; ok {
		a.lastCtx.k, a.lastCtx.c, a.lastCtx.ok = k, c, true
		return c, nil
	}
	c := int32(len(a.ctxs))
	a.ctxOf[k] = c
	a.lastCtx.k, a.lastCtx.c, a.lastCtx.ok = k, c, true
	a.ctxs = append(a.ctxs, k)
	for p := range a.lists {
		a.lists[p] = append(a.lists[p], newFreeIndex(a.hasAddrOrder()))
		a.exp[p] = append(a.exp[p], nil)
	}
	return c, nil
}

// releasable reports whether a release may return the cached blocks of
// context c to the device: those of the default pool always, those of a
// private pool only after the pool was released.
func (a *Allocator) releasable(c int32) bool {
	pool := a.ctxs[c].pool
	return pool == 0 || a.private[pool] == nil || a.private[pool].Released
}

// ReleasePool lets go of private pool id (PyTorch's releasePool bringing
// the use count to 0): its cached segments become releasable by
// empty_cache and the OOM path, and the pool is forgotten once it holds no
// segment. Live blocks in it stay live; frees return them to it.
func (a *Allocator) ReleasePool(id int64) error {
	p := a.private[id]
	switch {
	case id <= 0:
		return fmt.Errorf("event %d: release_pool of pool %d: only private pools (1 and up) can be released", a.event, id)
	case p == nil:
		return fmt.Errorf("event %d: release_pool of private pool %d, which no allocation used", a.event, id)
	case p.Released:
		return fmt.Errorf("event %d: release_pool of private pool %d, already released at event %d", a.event, id, p.ReleasedAt)
	}
	p.Released, p.ReleasedAt = true, a.event
	a.stats.PoolReleases++
	return nil
}

// EmptyCachePool releases the cached memory of private pool id only
// (PyTorch's emptyCache(mempool_id), which torch.cuda.MemPool's destructor
// calls right after releasePool). Once the pool was released (ReleasePool)
// it completes the frees of the pool's blocks still waiting for other
// streams, then releases every free block spanning a whole classic segment
// of the pool and unmaps every whole free page of its expandable segments,
// small blocks first, then large ones, each by raw stream value (the order
// EmptyCache gives a released pool); the pool is forgotten if it holds no
// segment then. The default pool, other private pools and other pending
// frees are left alone. A pool still in use keeps everything, its pending
// frees too: release_cached_blocks looks only at pools whose use count is
// 0. It counts as an empty_cache (Stats.EmptyCaches) and is observed as
// one (abi.ObserveEmptyCache, id 0, the bytes released).
func (a *Allocator) EmptyCachePool(id int64) error {
	p := a.private[id]
	switch {
	case id <= 0:
		return fmt.Errorf("event %d: empty_cache of pool %d: only a private pool (1 and up) can be emptied on its own; an empty_cache of the whole cache names no pool", a.event, id)
	case p == nil:
		return fmt.Errorf("event %d: empty_cache of private pool %d, which no allocation used", a.event, id)
	}
	var released int64
	if p.Released {
		var err error
		if released, err = a.releasePoolCached(id); err != nil {
			return err
		}
	}
	a.stats.EmptyCaches++
	if a.has[abi.HookObserve] {
		return a.observe(abi.ObserveEmptyCache, 0, released, 0)
	}
	return nil
}

// PrivatePools returns the private pools that exist now, by id.
func (a *Allocator) PrivatePools() []PrivatePool {
	out := make([]PrivatePool, 0, len(a.private))
	for _, p := range a.private {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(x, y PrivatePool) int { return int(x.ID - y.ID) })
	return out
}

// forgetReleasedPools drops released private pools that hold no segment
// any more (PyTorch deletes them in release_cached_blocks): only pool
// only when it is 1 and up, every pool with 0.
func (a *Allocator) forgetReleasedPools(only int64) {
	for id, p := range a.private {
		if (only == 0 || id == only) && p.Released && p.Segments == 0 {
			delete(a.private, id)
		}
	}
}

// segmentAdded and segmentGone count a segment of a private pool.
func (a *Allocator) segmentAdded(seg *Segment) {
	if seg.PrivatePool != 0 {
		a.private[seg.PrivatePool].Segments++
	}
}

func (a *Allocator) segmentGone(seg *Segment) {
	if seg.PrivatePool != 0 {
		a.private[seg.PrivatePool].Segments--
	}
}

// addPrivateReserved counts n bytes more (or less) held by seg's private pool.
func (a *Allocator) addPrivateReserved(seg *Segment, n int64) {
	if seg.PrivatePool == 0 {
		return
	}
	p := a.private[seg.PrivatePool]
	p.Reserved += n
	p.Peak = max(p.Peak, p.Reserved)
	a.stats.PrivateReserved += n
	a.stats.PeakPrivateReserved = max(a.stats.PeakPrivateReserved, a.stats.PrivateReserved)
}

// FreeRequested frees allocation id whose block waits for work queued on
// other streams (PyTorch's free with record_stream): its bytes stop
// counting as allocated, but the block is not reusable, and does not merge,
// until Free(id) completes it or a release synchronises the device.
func (a *Allocator) FreeRequested(id int64) error {
	b, ok := a.live.get(id)
	if !ok {
		if _, f := a.failed[id]; f {
			return nil // the workload never got memory for it; its free ends it
		}
		return fmt.Errorf("event %d: free_requested of id %d, which is not live", a.event, id)
	}
	if b.Pending {
		return fmt.Errorf("event %d: free_requested of id %d, whose free was already requested", a.event, id)
	}
	a.requestFree(b)
	b.Pending = true
	a.stats.PendingFrees++
	a.stats.PendingBytes += b.Size
	a.pending = append(a.pending, id)
	if a.opts.OnBlockOp != nil {
		a.opts.OnBlockOp(BlockOp{Event: a.event, Action: ActionFreeRequested, ID: id, Addr: b.Addr, Size: b.Size, Requested: b.Requested,
			Stream: a.svals[b.seg.Stream], Pool: b.seg.Pool, PrivatePool: b.seg.PrivatePool})
	}
	return nil
}

// syncPending completes every free still waiting for other streams, in the
// order they were requested (PyTorch's synchronize_and_free_events, which
// release_cached_blocks runs first), or, when only is a private pool (1 and
// up), only those of blocks of that pool (synchronize_and_free_events with
// a pool, which emptyCache(mempool_id) runs): the others keep waiting. The
// workload's later free of such an id is then a no-op.
func (a *Allocator) syncPending(only int64) error {
	kept := a.pending[:0]
	for k, id := range a.pending {
		b, ok := a.live.get(id)
		if !ok || !b.Pending {
			continue // completed by its own free already
		}
		if only != 0 && b.seg.PrivatePool != only {
			kept = append(kept, id)
			continue
		}
		if err := a.completeFree(b); err != nil {
			a.pending = append(kept, a.pending[k+1:]...)
			return err
		}
		a.synced[id] = struct{}{}
		a.stats.SyncedFrees++
	}
	a.pending = kept
	return nil
}
