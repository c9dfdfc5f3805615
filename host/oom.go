package host

import (
	"cmp"
	"slices"
)

// OOMReport explains one failed allocation: the request, the device, and
// where the memory that was reserved but not allocated sat, split two ways:
// by why it could not serve the request (the Cached* fields) and by whether
// the policy could have given it back to the device (Releasable, Stranded).
// It is the state after the policy's releases and retries, at the moment
// the allocation was given up.
type OOMReport struct {
	Event     int64 `json:"event"`
	ID        int64 `json:"id"`
	Requested int64 `json:"requested"` // bytes the workload asked for
	Rounded   int64 `json:"rounded"`   // after the policy's rounding
	Pool      int32 `json:"pool"`
	Stream    int64 `json:"stream"` // raw stream value
	// PrivatePool is the private pool the request was made to; 0: the
	// default pool.
	PrivatePool int64 `json:"private_pool,omitempty"`

	Capacity   int64 `json:"capacity"`    // the device's usable bytes (0: unlimited)
	DeviceFree int64 `json:"device_free"` // bytes the device had left
	Reserved   int64 `json:"reserved"`
	Allocated  int64 `json:"allocated"`
	// Grow is what the policy last asked of the device for this request (a
	// segment, or pages to map); 0 when it asked nothing.
	Grow int64 `json:"grow"`
	// ReserveLimit is the policy's limit on reserved bytes (ABI 1.3; 0:
	// none), and LimitRefused whether it, not the device, refused Grow.
	ReserveLimit int64 `json:"reserve_limit"`
	LimitRefused bool  `json:"limit_refused"`

	// Cached is reserved but unallocated: the bytes of free mapped blocks,
	// in FreeBlocks blocks, the largest LargestFree bytes.
	Cached      int64 `json:"cached"`
	FreeBlocks  int64 `json:"free_blocks"`
	LargestFree int64 `json:"largest_free"`
	// Cached bytes by why they could not serve the request: in another
	// memory pool (a private pool the request was not made to, or the
	// default pool for a request to a private pool); in another pool of
	// the policy's (small, large); in the request's pool on another
	// stream; in its pool and stream but in blocks smaller than the
	// rounded request; or in blocks large enough that the policy did not
	// take (PyTorch's max_split_size_mb rule, for one). They add up to
	// Cached.
	CachedOtherPrivatePool int64 `json:"cached_other_private_pool"`
	CachedOtherPool        int64 `json:"cached_other_pool"`
	CachedOtherStream      int64 `json:"cached_other_stream"`
	CachedTooSmall         int64 `json:"cached_too_small"`
	CachedNotPicked        int64 `json:"cached_not_picked"`
	// Cached bytes by what could return them to the device: Releasable are
	// free whole classic segments and whole free pages of expandable ones,
	// which a release would have given back; Stranded share a segment (or a
	// page) with live blocks and come back only when those are freed;
	// HeldByPools lie in private pools still in use, which no release
	// touches. They add up to Cached.
	Releasable  int64 `json:"releasable"`
	Stranded    int64 `json:"stranded"`
	HeldByPools int64 `json:"held_by_pools"`

	// PendingFree are bytes the workload freed that wait for other
	// streams (record_stream): neither allocated nor reusable yet.
	PendingFree int64 `json:"pending_free"`
	// PrivatePools are the private pools that held memory, by id.
	PrivatePools []OOMPrivatePool `json:"private_pools,omitempty"`

	// Segments are the segments holding the most cached bytes, most first
	// (at most MaxOOMSegments); TotalSegments is how many there were.
	Segments      []OOMSegment `json:"segments"`
	TotalSegments int          `json:"total_segments"`
}

// OOMSegment is one segment as an OOMReport sees it.
type OOMSegment struct {
	Addr        uint64 `json:"addr"`
	Mapped      int64  `json:"mapped"` // bytes backed by memory (a classic segment's size)
	Expandable  bool   `json:"expandable"`
	Pool        int32  `json:"pool"`
	Stream      int64  `json:"stream"`
	PrivatePool int64  `json:"private_pool,omitempty"`
	LiveBlocks  int    `json:"live_blocks"`
	Allocated   int64  `json:"allocated"`
	Cached      int64  `json:"cached"`
	LargestFree int64  `json:"largest_free"`
	// Stitched: a stitched range (ABI 1.5), whose bytes are lent by other
	// segments' blocks (Lent: the bytes a segment lends); not counted in
	// the reserved bytes twice.
	Stitched bool  `json:"stitched,omitempty"`
	Lent     int64 `json:"lent,omitempty"`
}

// OOMPrivatePool is one private pool as an OOMReport sees it.
type OOMPrivatePool struct {
	ID       int64 `json:"id"`
	Released bool  `json:"released"` // its users let go: a release may return its cached bytes
	Reserved int64 `json:"reserved"`
	Cached   int64 `json:"cached"` // of which in free blocks
}

// MaxOOMSegments is how many segments an OOMReport lists.
const MaxOOMSegments = 8

// explainOOM builds the report of a failed allocation of rounded bytes in
// pool and context c. It costs O(blocks), once per reported OOM.
func (a *Allocator) explainOOM(id, requested, rounded int64, pool, c int32) OOMReport {
	s, private := a.ctxs[c].stream, a.ctxs[c].pool
	r := OOMReport{Event: a.event, ID: id, Requested: requested, Rounded: rounded, Pool: pool, PrivatePool: private,
		PendingFree: a.stats.PendingBytes, Stream: a.svals[s], Capacity: max(a.dev.Info().Capacity, 0), Reserved: a.stats.Reserved, Allocated: a.stats.Allocated, Grow: a.lastGrow,
		ReserveLimit: a.reserveLimit, LimitRefused: a.limitRefused}
	r.DeviceFree, _ = a.dev.MemInfo()
	segs := a.Segments()
	r.TotalSegments = len(segs)
	pools := map[int64]*OOMPrivatePool{}
	for _, seg := range segs {
		sr := OOMSegment{Addr: seg.Addr, Mapped: seg.Mapped, Expandable: seg.Page > 0, Pool: seg.Pool, Stream: a.svals[seg.Stream], PrivatePool: seg.PrivatePool,
			Stitched: seg.Stitched}
		var pp *OOMPrivatePool
		if seg.PrivatePool != 0 {
			if pp = pools[seg.PrivatePool]; pp == nil {
				pp = &OOMPrivatePool{ID: seg.PrivatePool, Released: a.private[seg.PrivatePool].Released}
				pools[seg.PrivatePool] = pp
			}
			if !seg.Stitched {
				pp.Reserved += seg.Mapped
			}
		}
		held := !a.releasable(seg.ctx)
		for b := seg.head; b != nil; b = b.next {
			switch {
			case !b.Mapped:
				continue
			case b.Lent: // counted in its stitched range
				sr.Lent += b.Size
				continue
			case b.Allocated:
				sr.LiveBlocks++
				sr.Allocated += b.Size
				continue
			}
			sr.Cached += b.Size
			sr.LargestFree = max(sr.LargestFree, b.Size)
			r.FreeBlocks++
			if pp != nil {
				pp.Cached += b.Size
			}
			switch {
			case seg.PrivatePool != private:
				r.CachedOtherPrivatePool += b.Size
			case seg.Pool != pool:
				r.CachedOtherPool += b.Size
			case seg.Stream != s:
				r.CachedOtherStream += b.Size
			case b.Size < rounded:
				r.CachedTooSmall += b.Size
			default:
				r.CachedNotPicked += b.Size
			}
			var whole int64
			if held {
				r.HeldByPools += b.Size
				continue
			}
			if seg.Page > 0 {
				first, last := b.wholePages()
				whole = max(last-first, 0)
			} else if b.wholeSegment() {
				whole = b.Size
			} // a free stitched block: a release tears it down, its pages return to their segment

			r.Releasable += whole
			r.Stranded += b.Size - whole
		}
		r.Cached += sr.Cached
		r.LargestFree = max(r.LargestFree, sr.LargestFree)
		if sr.Cached > 0 {
			r.Segments = append(r.Segments, sr)
		}
	}
	for _, pp := range pools {
		r.PrivatePools = append(r.PrivatePools, *pp)
	}
	slices.SortFunc(r.PrivatePools, func(a, b OOMPrivatePool) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortStableFunc(r.Segments, func(a, b OOMSegment) int { return cmp.Compare(b.Cached, a.Cached) })
	if len(r.Segments) > MaxOOMSegments {
		r.Segments = r.Segments[:MaxOOMSegments]
	}
	return r
}
