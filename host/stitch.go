package host

import (
	"fmt"
	"slices"

	"github.com/fraglab/fraglab/cudadriver"
)

// This file is GMLake-style stitching (Guo et al., ASPLOS '24; ABI 1.5,
// docs/stitching.md): a request no free block holds is served by mapping
// the whole free granules of the context's expandable segment, wherever
// they lie, back to back into a new virtual range. The granules are lent:
// their blocks stay in their segment, neither allocatable nor mergeable,
// until the stitched range is torn down.

// StitchKeeper is implemented by a Policy that can ask (ABI 1.5, config
// key 5) that a freed stitched block stay mapped and cached for reuse;
// without it a stitched range is torn down when its block is freed. The
// allocator reads it once, in New, and only from a policy that may stitch.
type StitchKeeper interface {
	StitchKeep() bool
}

// DriverOp actions of stitching: a stitched range mapped over lent pages
// (Sources names them) and torn down.
const (
	ActionStitchMap   = "stitch_map"
	ActionStitchUnmap = "stitch_unmap"
)

// lend is one source of a stitch: n bytes at addr inside free block b.
type lend struct {
	b    *Block
	addr uint64
	n    int64
}

// stitch serves a request of rounded bytes in pool and context c with a new
// stitched range: the whole granules of the free blocks of the context's
// expandable segment, largest block first, until the request rounded up to
// the granularity is covered. With grow, when the free granules fall short,
// new pages for the rest are mapped into the segment first and lent too
// (GMLake's S4). It returns the range's block (not in the free index), or
// nil, with nothing mapped, when the free granules (and, with grow, the
// device's room) do not add up to the request or the device cannot stitch.
func (a *Allocator) stitch(rounded int64, pool, c int32, grow bool) (*Block, error) {
	st, ok := a.dev.(cudadriver.Stitcher)
	seg := a.exp[pool][c]
	if !ok || seg == nil {
		a.stats.FailedStitches++
		return nil, nil
	}
	g := a.gran
	need := roundUp(rounded, g)
	var lends []lend
	var have int64
	a.lists[pool][c].bySize.descend(func(b *Block) bool {
		if b.seg != seg {
			return true
		}
		first := uint64(roundUp(int64(b.Addr), g))
		last := b.end() / uint64(g) * uint64(g)
		if last > first {
			n := min(int64(last-first), need-have)
			lends = append(lends, lend{b, first, n})
			have += n
		}
		return have < need
	})
	if have < need && grow {
		nb, err := a.growForStitch(seg, need-have)
		if err != nil {
			return nil, err
		}
		if nb != nil {
			lends = append(lends, lend{nb, nb.Addr, need - have})
			have = need
		}
	}
	if have < need {
		a.stats.FailedStitches++
		return nil, nil
	}
	spans := make([]cudadriver.Span, len(lends))
	for i, l := range lends {
		spans[i] = cudadriver.Span{Addr: l.addr, Size: l.n}
	}
	addr, err := a.dev.Reserve(need)
	if err != nil {
		return nil, fmt.Errorf("event %d: reserving %d bytes for a stitched range: %w", a.event, need, err)
	}
	if err := st.MapAlias(addr, spans); err != nil {
		a.dev.Release(addr)
		return nil, fmt.Errorf("event %d: stitching %d bytes at %#x: %w", a.event, need, addr, err)
	}
	ss := &Segment{Addr: addr, Size: need, Mapped: need, Pool: pool, Stream: seg.Stream, PrivatePool: seg.PrivatePool,
		Event: a.event, Stitched: true, ctx: c}
	for _, l := range lends {
		lb := a.carve(l.b, l.addr, l.n)
		lb.Lent, lb.lentTo = true, ss
		ss.sources = append(ss.sources, lb)
	}
	b := &Block{Addr: addr, Size: need, Mapped: true, seg: ss, freedAt: a.searches[pool]}
	ss.head = b
	a.segs[addr] = ss
	a.stitches[addr] = ss
	a.stats.Stitches++
	a.stats.Stitched += need
	a.stats.PeakStitched = max(a.stats.PeakStitched, a.stats.Stitched)
	a.stitchOp(ActionStitchMap, ss)
	return b, nil
}

// growForStitch maps n bytes (whole pages) at the lowest unmapped range of
// seg that holds them and returns the new free block, or nil when the
// device has no room or the segment no unmapped range that large.
func (a *Allocator) growForStitch(seg *Segment, n int64) (*Block, error) {
	m := roundUp(n, seg.Page)
	u := seg.unmapped.lowest(m, func(b *Block) bool { return b.Size >= m })
	if u == nil {
		return nil, nil
	}
	return a.mapAt(seg, u, u.Addr, m)
}

// carve cuts [at, at+n) out of free block b (which must hold it) as a block
// of its own, out of the free index; the pieces left below and above stay
// free blocks in the index.
func (a *Allocator) carve(b *Block, at uint64, n int64) *Block {
	a.unindex(b)
	if before := int64(at - b.Addr); before > 0 {
		pb := &Block{Addr: b.Addr, Size: before, Mapped: true, seg: b.seg, prev: b.prev, next: b, freedAt: b.freedAt}
		if b.prev != nil {
			b.prev.next = pb
		} else {
			b.seg.head = pb
		}
		b.prev = pb
		b.Addr, b.Size = at, b.Size-before
		a.index(pb)
	}
	if after := b.Size - n; after > 0 {
		nb := &Block{Addr: at + uint64(n), Size: after, Mapped: true, seg: b.seg, prev: b, next: b.next, freedAt: b.freedAt}
		if b.next != nil {
			b.next.prev = nb
		}
		b.next = nb
		b.Size = n
		a.index(nb)
	}
	return b
}

// unstitch tears down stitched range ss, whose block is free: the device
// unmaps it, and the lent blocks return to their segment as free blocks,
// merged with the free blocks next to them (as new pages join them, with
// no policy_merge asked).
func (a *Allocator) unstitch(ss *Segment) error {
	b := ss.head
	if b.indexed {
		a.unindex(b)
	}
	st, ok := a.dev.(cudadriver.Stitcher)
	if !ok {
		return fmt.Errorf("event %d: tearing down the stitched range at %#x: the device cannot stitch", a.event, ss.Addr)
	}
	if err := st.UnmapAlias(ss.Addr); err != nil {
		return fmt.Errorf("event %d: tearing down the stitched range at %#x: %w", a.event, ss.Addr, err)
	}
	a.stitchOp(ActionStitchUnmap, ss)
	for _, lb := range ss.sources {
		lb.Lent, lb.lentTo = false, nil
		lb.freedAt = a.searches[lb.seg.Pool]
		if p := lb.prev; p != nil && p.isFree() {
			a.unindex(p)
			a.absorbPrev(lb)
		}
		if n := lb.next; n != nil && n.isFree() {
			a.unindex(n)
			a.absorbNext(lb)
		}
		a.index(lb)
	}
	delete(a.segs, ss.Addr)
	delete(a.stitches, ss.Addr)
	a.stats.StitchTeardowns++
	a.stats.Stitched -= ss.Size
	return nil
}

// teardownFree tears down, in address order, every stitched range whose
// block is free and that in accepts, and returns how many.
func (a *Allocator) teardownFree(in func(*Segment) bool) (int, error) {
	if len(a.stitches) == 0 {
		return 0, nil
	}
	var todo []*Segment
	for _, ss := range a.stitches {
		if !ss.head.Allocated && in(ss) {
			todo = append(todo, ss)
		}
	}
	slices.SortFunc(todo, func(x, y *Segment) int {
		if x.Addr < y.Addr {
			return -1
		}
		return 1
	})
	for i, ss := range todo {
		if err := a.unstitch(ss); err != nil {
			return i, err
		}
	}
	return len(todo), nil
}

// stitchedFree is the bytes in free stitched blocks.
func (a *Allocator) stitchedFree() int64 {
	var n int64
	for _, ss := range a.stitches {
		if !ss.head.Allocated {
			n += ss.Size
		}
	}
	return n
}

// stitchOp reports a stitch or teardown to OnDriverOp, naming the sources.
func (a *Allocator) stitchOp(action string, ss *Segment) {
	if a.opts.OnDriverOp == nil {
		return
	}
	src := make([]cudadriver.Span, len(ss.sources))
	for i, lb := range ss.sources {
		src[i] = cudadriver.Span{Addr: lb.Addr, Size: lb.Size}
	}
	a.opts.OnDriverOp(DriverOp{Event: a.event, Action: action, Addr: ss.Addr, Size: ss.Size, Stream: a.svals[ss.Stream], Pool: ss.Pool,
		PrivatePool: ss.PrivatePool, Sources: src})
}
