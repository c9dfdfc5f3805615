package host

import (
	"errors"
	"fmt"

	"github.com/fraglab/fraglab/cudadriver"
)

// defaultReserve is the reserved range of an expandable segment when the
// device capacity is unlimited.
const defaultReserve = 1 << 40

// reserveSize is the virtual range reserved for an expandable segment:
// 1⅛ of the device capacity, in whole pages (PyTorch reserves 1⅛ of the
// card's memory).
func (a *Allocator) reserveSize(page int64) int64 {
	c := a.dev.Info().Capacity
	if c <= 0 {
		return roundUp(defaultReserve, page)
	}
	return roundUp(c+c/8, page)
}

// newExpandable reserves an expandable segment for pool and context c
// (stream and private pool): one unmapped block spanning the reserved range.
func (a *Allocator) newExpandable(pool, c int32, page, size int64) (*Segment, error) {
	addr, err := a.dev.Reserve(size)
	if err != nil {
		return nil, fmt.Errorf("event %d: reserving %d bytes for an expandable segment: %w", a.event, size, err)
	}
	seg := &Segment{Addr: addr, Size: size, Pool: pool, Stream: a.ctxs[c].stream, PrivatePool: a.ctxs[c].pool, Page: page, Event: a.event,
		ctx: c, unmapped: newUnmappedSet()}
	u := &Block{Addr: addr, Size: size, seg: seg}
	seg.head = u
	seg.unmapped.ReplaceOrInsert(u)
	a.segs[addr] = seg
	a.exp[pool][c] = seg
	a.stats.Segments++
	a.segmentAdded(seg)
	return seg, nil
}

// expand maps pages into the expandable segment of pool and context c
// until a free block of at least rounded bytes exists, and returns that
// block (not in the free index). It returns nil when the device has no room.
func (a *Allocator) expand(rounded int64, pool, c int32, page int64) (*Block, error) {
	stream := a.ctxs[c].stream
	seg := a.exp[pool][c]
	if seg == nil {
		var err error
		if seg, err = a.newExpandable(pool, c, page, a.reserveSize(page)); err != nil {
			return nil, err
		}
	}
	// The lowest unmapped range that, with the free block just below it,
	// can hold the request.
	below := func(b *Block) int64 {
		if p := b.prev; p != nil && p.isFree() {
			return p.Size
		}
		return 0
	}
	// A free block below a hole is in the free index: none is larger
	// than the largest there, which bounds how small a hole can serve.
	var bound int64 = 1
	if l := a.lists[pool][c].largest(); l == nil {
		bound = rounded
	} else if l.Size < rounded {
		bound = rounded - l.Size
	}
	u := seg.unmapped.lowest(bound, func(b *Block) bool { return below(b)+b.Size >= rounded })
	if u == nil {
		return nil, nil
	}
	tail := below(u)
	// The free block below could hold the request alone (the policy
	// declined it with NONE): since ABI 1.3 it serves the request with
	// nothing mapped, as PyTorch's try_allocate_expandable_block does;
	// before, growth mapped at least one page.
	if tail >= rounded && a.newest {
		a.unindex(u.prev)
		return u.prev, nil
	}
	m, err := a.expandSize(max(rounded-tail, 1), rounded, pool, stream, page, u.Size)
	if err != nil {
		return nil, err
	}
	nb, err := a.mapAt(seg, u, u.Addr, m)
	if nb == nil || err != nil {
		return nil, err
	}
	a.unindex(nb)
	// New pages join the free blocks around them.
	if p := nb.prev; p != nil && p.isFree() {
		a.unindex(p)
		a.absorbPrev(nb)
	}
	if n := nb.next; n != nil && n.isFree() {
		a.unindex(n)
		a.absorbNext(nb)
	}
	return nb, nil
}

// mapAt maps [at, at+size) of seg, which lies inside the unmapped block u,
// and returns the new mapped block, free and in the free index. It returns
// nil when the device has no room.
func (a *Allocator) mapAt(seg *Segment, u *Block, at uint64, size int64) (*Block, error) {
	if at < u.Addr || at+uint64(size) > u.end() || u.Mapped {
		return nil, fmt.Errorf("mapping %d bytes at %#x: not inside an unmapped range of segment %#x", size, at, seg.Addr)
	}
	a.lastGrow = size
	if err := a.dev.Map(at, size); err != nil {
		if errors.Is(err, cudadriver.ErrOutOfMemory) {
			return nil, nil
		}
		return nil, fmt.Errorf("event %d: mapping %d bytes at %#x: %w", a.event, size, at, err)
	}
	seg.unmapped.Delete(u)
	// Carve [u.Addr, at) off as an unmapped block of its own.
	if at > u.Addr {
		lo := &Block{Addr: u.Addr, Size: int64(at - u.Addr), seg: seg, prev: u.prev, next: u}
		if u.prev != nil {
			u.prev.next = lo
		} else {
			seg.head = lo
		}
		u.prev = lo
		u.Addr, u.Size = at, u.Size-lo.Size
		seg.unmapped.ReplaceOrInsert(lo)
	}
	nb := &Block{Addr: at, Size: size, Mapped: true, seg: seg, prev: u.prev, next: u, freedAt: a.searches[seg.Pool]}
	if u.prev != nil {
		u.prev.next = nb
	} else {
		seg.head = nb
	}
	u.prev = nb
	u.Addr += uint64(size)
	u.Size -= size
	if u.Size == 0 {
		nb.next = u.next
		if u.next != nil {
			u.next.prev = nb
		}
	} else {
		seg.unmapped.ReplaceOrInsert(u)
	}
	seg.Mapped += size
	a.addReserved(seg, size)
	a.stats.SegmentMaps++
	a.driverOp(ActionSegmentMap, at, size, seg)
	a.index(nb)
	return nb, nil
}

// unmapBlock unmaps the whole pages inside free block b of an expandable
// segment; partial pages at its edges stay mapped as free blocks. A segment
// left with no mapped page is released. It returns the bytes unmapped.
func (a *Allocator) unmapBlock(b *Block) (int64, error) {
	seg := b.seg
	first, last := b.wholePages()
	if last <= first {
		return 0, nil
	}
	ua, us := seg.Addr+uint64(first), last-first
	if err := a.dev.Unmap(ua, us); err != nil {
		return 0, fmt.Errorf("event %d: unmapping %d bytes at %#x: %w", a.event, us, ua, err)
	}
	a.unindex(b)
	// Carve the mapped edges off b; b becomes the unmapped middle.
	if before := int64(ua - b.Addr); before > 0 {
		pb := &Block{Addr: b.Addr, Size: before, Mapped: true, seg: seg, prev: b.prev, next: b, freedAt: b.freedAt}
		if b.prev != nil {
			b.prev.next = pb
		} else {
			seg.head = pb
		}
		b.prev = pb
		a.index(pb)
	}
	if after := int64(b.end() - (ua + uint64(us))); after > 0 {
		nb := &Block{Addr: ua + uint64(us), Size: after, Mapped: true, seg: seg, prev: b, next: b.next, freedAt: b.freedAt}
		if b.next != nil {
			b.next.prev = nb
		}
		b.next = nb
		a.index(nb)
	}
	b.Addr, b.Size, b.Mapped = ua, us, false
	if p := b.prev; p != nil && !p.Mapped {
		seg.unmapped.Delete(p)
		a.absorbPrev(b)
	}
	if n := b.next; n != nil && !n.Mapped {
		seg.unmapped.Delete(n)
		a.absorbNext(b)
	}
	seg.unmapped.ReplaceOrInsert(b)
	seg.Mapped -= us
	a.addReserved(seg, -us)
	a.stats.SegmentUnmaps++
	a.driverOp(ActionSegmentUnmap, ua, us, seg)
	if seg.Mapped == 0 {
		if err := a.dev.Release(seg.Addr); err != nil {
			return us, fmt.Errorf("event %d: releasing the expandable segment at %#x: %w", a.event, seg.Addr, err)
		}
		delete(a.segs, seg.Addr)
		a.exp[seg.Pool][seg.ctx] = nil
		a.stats.Segments--
		a.segmentGone(seg)
	}
	return us, nil
}
