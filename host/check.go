package host

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/sdk/abi"
)

// Check verifies the allocator's invariants and returns the first one
// broken: blocks tile their segment in address order with consistent links,
// segments do not overlap, every free mapped block is in its pool's free
// indexes exactly once and nothing else is, live allocations map to their
// blocks, and every byte total kept incrementally equals a recount. With
// stitching (ABI 1.5) it also proves that no two live blocks share
// physical memory (checkPhysical) and that every lent block belongs to
// exactly one stitched range, whose pages are its sources' on the device.
// It costs O(blocks log blocks); tests run it after every event.
func (a *Allocator) Check() error {
	if err := a.checkPhysical(); err != nil {
		return err
	}
	var want Stats
	var lent int
	var freeBlocks int
	privSegs, privBytes := map[int64]int{}, map[int64]int64{}
	var prevEnd uint64
	for i, seg := range a.Segments() {
		if i > 0 && seg.Addr < prevEnd {
			return fmt.Errorf("segment %#x overlaps the segment below it (which ends at %#x)", seg.Addr, prevEnd)
		}
		prevEnd = seg.Addr + uint64(seg.Size)
		if seg.head == nil || seg.head.prev != nil {
			return fmt.Errorf("segment %#x: bad head block", seg.Addr)
		}
		if seg.Stitched {
			if err := a.checkStitched(seg); err != nil {
				return err
			}
			want.Stitched += seg.Size
		} else if a.stitches[seg.Addr] != nil {
			return fmt.Errorf("segment %#x: listed as a stitched range but is not one", seg.Addr)
		}
		addr := seg.Addr
		var mapped int64
		var unmapped int
		for b := seg.head; b != nil; b = b.next {
			switch {
			case b.seg != seg:
				return fmt.Errorf("block %#x: belongs to segment %#x but is linked in %#x", b.Addr, b.seg.Addr, seg.Addr)
			case b.Addr != addr:
				return fmt.Errorf("segment %#x: block at %#x, expected the next block at %#x (gap or overlap)", seg.Addr, b.Addr, addr)
			case b.Size <= 0 || b.Size%MinBlockSize != 0:
				return fmt.Errorf("block %#x: size %d is not a positive multiple of 512", b.Addr, b.Size)
			case b.next != nil && b.next.prev != b:
				return fmt.Errorf("block %#x: next block's prev link is broken", b.Addr)
			case !b.Mapped && seg.Page == 0:
				return fmt.Errorf("block %#x: unmapped block in a classic segment", b.Addr)
			case !b.Mapped && b.Allocated:
				return fmt.Errorf("block %#x: allocated but unmapped", b.Addr)
			case b.indexed != b.isFree():
				return fmt.Errorf("block %#x: in free index = %v, but allocated = %v, mapped = %v, lent = %v", b.Addr, b.indexed, b.Allocated, b.Mapped, b.Lent)
			case b.Lent && (b.Allocated || !b.Mapped || seg.Page == 0 || seg.Stitched):
				return fmt.Errorf("block %#x: lent to a stitched range but allocated = %v, mapped = %v, in an expandable segment = %v", b.Addr, b.Allocated, b.Mapped, seg.Page > 0 && !seg.Stitched)
			case b.Lent && !slices.Contains(b.lentTo.Sources(), b):
				return fmt.Errorf("block %#x: lent, but not a source of the stitched range it names", b.Addr)
			case !b.Lent && b.lentTo != nil:
				return fmt.Errorf("block %#x: not lent but names a stitched range", b.Addr)
			}
			addr = b.end()
			if !b.Mapped {
				unmapped++
				if _, ok := seg.unmapped.Get(b); !ok {
					return fmt.Errorf("block %#x: unmapped but not in its segment's unmapped set", b.Addr)
				}
				if int64(b.Addr-seg.Addr)%seg.Page != 0 || b.Size%seg.Page != 0 {
					return fmt.Errorf("block %#x: unmapped range is not whole pages of %d", b.Addr, seg.Page)
				}
				continue
			}
			mapped += b.Size
			if b.Lent {
				lent++
				continue
			}
			if b.Allocated {
				if lb, ok := a.live.get(b.ID); !ok || lb != b {
					return fmt.Errorf("block %#x: allocated as id %d, but that id maps elsewhere", b.Addr, b.ID)
				}
				want.countLive(b)
				continue
			}
			if b.Pending {
				return fmt.Errorf("block %#x: pending free but not allocated", b.Addr)
			}
			freeBlocks++
			want.PoolFree[seg.Pool] += b.Size
			if seg.ctx < 0 || int(seg.ctx) >= len(a.ctxs) || a.ctxs[seg.ctx] != (context{stream: seg.Stream, pool: seg.PrivatePool}) {
				return fmt.Errorf("segment %#x: free-list context %d does not match its stream %d and private pool %d", seg.Addr, seg.ctx, seg.Stream, seg.PrivatePool)
			}
			fl := a.lists[seg.Pool][seg.ctx]
			if fl.bySize.get(sizeKey(b)) != b {
				return fmt.Errorf("block %#x: free but missing from the size index of pool %d", b.Addr, seg.Pool)
			}
			if fl.byAddr != nil {
				if fl.byAddr.get(addrKey(b)) != b {
					return fmt.Errorf("block %#x: free but missing from the address index of pool %d", b.Addr, seg.Pool)
				}
			}
		}
		if addr != seg.Addr+uint64(seg.Size) {
			return fmt.Errorf("segment %#x: blocks end at %#x, the segment at %#x", seg.Addr, addr, seg.Addr+uint64(seg.Size))
		}
		if seg.Page > 0 && seg.unmapped.Len() != unmapped {
			return fmt.Errorf("segment %#x: %d unmapped blocks, unmapped set holds %d", seg.Addr, unmapped, seg.unmapped.Len())
		}
		if mapped != seg.Mapped {
			return fmt.Errorf("segment %#x: mapped bytes %d, blocks add up to %d", seg.Addr, seg.Mapped, mapped)
		}
		if seg.Stitched {
			continue // its bytes are its sources'
		}
		want.Reserved += mapped
		want.PoolReserved[seg.Pool] += mapped
		want.Segments++
		if seg.PrivatePool != 0 {
			p := a.private[seg.PrivatePool]
			if p == nil {
				return fmt.Errorf("segment %#x: belongs to private pool %d, which does not exist", seg.Addr, seg.PrivatePool)
			}
			want.PrivateReserved += mapped
			privSegs[seg.PrivatePool]++
			privBytes[seg.PrivatePool] += mapped
		}
	}
	var sources int
	for addr, ss := range a.stitches {
		if a.segs[addr] != ss {
			return fmt.Errorf("stitched range %#x: not among the segments", addr)
		}
		sources += len(ss.sources)
	}
	if sources != lent {
		return fmt.Errorf("%d lent blocks in segments, stitched ranges name %d sources", lent, sources)
	}
	if a.stats.Stitched != want.Stitched {
		return fmt.Errorf("stitched: counter says %d bytes, a recount gives %d", a.stats.Stitched, want.Stitched)
	}
	if err := a.checkArena(&want); err != nil {
		return err
	}
	for id, p := range a.private {
		if p.Segments != privSegs[id] || p.Reserved != privBytes[id] {
			return fmt.Errorf("private pool %d: counts %d segments and %d bytes, a recount gives %d and %d", id, p.Segments, p.Reserved, privSegs[id], privBytes[id])
		}
	}
	var indexed int
	for p := range a.lists {
		for _, fl := range a.lists[p] {
			if fl.byAddr != nil && fl.bySize.Len() != fl.byAddr.Len() {
				return fmt.Errorf("pool %d: size index holds %d blocks, address index %d", p, fl.bySize.Len(), fl.byAddr.Len())
			}
			indexed += fl.bySize.Len()
		}
	}
	if indexed != freeBlocks {
		return fmt.Errorf("free indexes hold %d blocks, segments have %d free blocks", indexed, freeBlocks)
	}
	if int64(a.live.Len()) != want.LiveBlocks+want.PendingFrees {
		return fmt.Errorf("%d live ids, %d allocated blocks and %d pending frees", a.live.Len(), want.LiveBlocks, want.PendingFrees)
	}
	s := &a.stats
	type total struct {
		name      string
		got, want int64
	}
	totals := []total{
		{"reserved", s.Reserved, want.Reserved},
		{"allocated", s.Allocated, want.Allocated},
		{"active", s.Active, want.Active},
		{"pending free", s.PendingBytes, want.PendingBytes},
		{"pending frees", s.PendingFrees, want.PendingFrees},
		{"private pools reserved", s.PrivateReserved, want.PrivateReserved},
		{"requested", s.Requested, want.Requested},
		{"rounded requested", s.Rounded, want.Rounded},
		{"segments", s.Segments, want.Segments},
		{"live blocks", s.LiveBlocks, want.LiveBlocks},
	}
	for p := 0; p < abi.MaxPools; p++ {
		totals = append(totals,
			total{fmt.Sprintf("pool %d reserved", p), s.PoolReserved[p], want.PoolReserved[p]},
			total{fmt.Sprintf("pool %d free", p), s.PoolFree[p], want.PoolFree[p]})
	}
	for _, t := range totals {
		if t.got != t.want {
			return fmt.Errorf("%s: counter says %d bytes, a recount gives %d", t.name, t.got, t.want)
		}
	}
	if s.Reserved != s.Active+sum(s.PoolFree[:])+s.ArenaFree {
		return fmt.Errorf("reserved %d != active %d + free %d + arena free %d", s.Reserved, s.Active, sum(s.PoolFree[:]), s.ArenaFree)
	}
	return nil
}

// checkStitched checks stitched range ss: one block over the whole range,
// sources that are lent to it, whole granules of the expandable segment of
// its pool and context adding up to it, and, on a device that names
// physical pages, each of its granules backed by its source's page.
func (a *Allocator) checkStitched(ss *Segment) error {
	b := ss.head
	switch {
	case a.stitches[ss.Addr] != ss:
		return fmt.Errorf("stitched range %#x: not in the list of stitched ranges", ss.Addr)
	case b.next != nil || b.Size != ss.Size || ss.Mapped != ss.Size || ss.Page != 0:
		return fmt.Errorf("stitched range %#x: must be one mapped block over the whole range", ss.Addr)
	case b.Lent || (b.Pending && !b.Allocated):
		return fmt.Errorf("stitched range %#x: its block is lent or pending", ss.Addr)
	}
	st, _ := a.dev.(cudadriver.Stitcher)
	var total int64
	at := ss.Addr
	for _, lb := range ss.sources {
		switch {
		case !lb.Lent || lb.lentTo != ss:
			return fmt.Errorf("stitched range %#x: source block %#x is not lent to it", ss.Addr, lb.Addr)
		case lb.seg.Stitched || lb.seg.Page == 0 || lb.seg.Pool != ss.Pool || lb.seg.ctx != ss.ctx || a.segs[lb.seg.Addr] != lb.seg:
			return fmt.Errorf("stitched range %#x: source block %#x is not in a live expandable segment of its pool and context", ss.Addr, lb.Addr)
		case int64(lb.Addr)%a.gran != 0 || lb.Size%a.gran != 0:
			return fmt.Errorf("stitched range %#x: source block %#x (%d bytes) is not whole granules", ss.Addr, lb.Addr, lb.Size)
		}
		if st != nil {
			for off := int64(0); off < lb.Size; off += a.gran {
				p1, ok1 := st.PhysicalPage(lb.Addr + uint64(off))
				p2, ok2 := st.PhysicalPage(at + uint64(off))
				if !ok1 || !ok2 || p1 != p2 {
					return fmt.Errorf("stitched range %#x: granule %#x is backed by physical page %#x, its source %#x by %#x", ss.Addr, at+uint64(off), p2, lb.Addr+uint64(off), p1)
				}
			}
		}
		total += lb.Size
		at += uint64(lb.Size)
	}
	if total != ss.Size {
		return fmt.Errorf("stitched range %#x: %d bytes, its sources add up to %d", ss.Addr, ss.Size, total)
	}
	return nil
}

// physRange is a range of physical memory held by a live block.
type physRange struct {
	start, end uint64
	id         int64
}

// physical appends the physical ranges behind [addr, addr+size) of segment
// seg: its own addresses, or a stitched range's sources'. The host's map
// (the stitched ranges' sources) names the memory; checkStitched proves the
// device agrees.
func (a *Allocator) physical(out []physRange, seg *Segment, addr uint64, size int64, id int64) []physRange {
	if !seg.Stitched {
		return append(out, physRange{addr, addr + uint64(size), id})
	}
	at, end := addr, addr+uint64(size)
	base := seg.Addr
	for _, lb := range seg.sources {
		lo, hi := base, base+uint64(lb.Size)
		if s, e := max(at, lo), min(end, hi); s < e {
			out = append(out, physRange{lb.Addr + (s - lo), lb.Addr + (e - lo), id})
		}
		base = hi
	}
	return out
}

// checkPhysical proves that no two live blocks (pending frees included)
// share physical memory, whether they lie in segments or in stitched
// ranges mapped over other blocks' pages.
func (a *Allocator) checkPhysical() error {
	if len(a.stitches) == 0 {
		return nil // blocks tile disjoint segments: the walk of Check proves it
	}
	var rs []physRange
	a.live.each(func(id int64, b *Block) {
		rs = a.physical(rs, b.seg, b.Addr, b.Size, id)
	})
	slices.SortFunc(rs, func(x, y physRange) int {
		if c := cmp.Compare(x.start, y.start); c != 0 {
			return c
		}
		return cmp.Compare(x.id, y.id)
	})
	for i := 1; i < len(rs); i++ {
		if rs[i].start < rs[i-1].end {
			return fmt.Errorf("live blocks id %d and id %d share physical memory at %#x (page %#x)", rs[i-1].id, rs[i].id, rs[i].start, rs[i].start/uint64(a.gran)*uint64(a.gran))
		}
	}
	return nil
}

func sum(v []int64) int64 {
	var t int64
	for _, x := range v {
		t += x
	}
	return t
}

// countLive adds allocated block b to a recount of the live-block
// counters: active, requested and rounded bytes, and pending frees or
// allocated blocks.
func (want *Stats) countLive(b *Block) {
	want.Active += b.Size
	want.Requested += b.Requested
	want.Rounded += roundUp(b.Requested, MinBlockSize)
	if b.Pending {
		want.PendingFrees++
		want.PendingBytes += b.Size
	} else {
		want.Allocated += b.Size
		want.LiveBlocks++
	}
}
