package host

import (
	"fmt"

	"github.com/fraglab/fraglab/host/abi"
)

// Check verifies the allocator's invariants and returns the first one
// broken: blocks tile their segment in address order with consistent links,
// segments do not overlap, every free mapped block is in its pool's free
// indexes exactly once and nothing else is, live allocations map to their
// blocks, and every byte total kept incrementally equals a recount. It costs
// O(blocks); tests run it after every event.
func (a *Allocator) Check() error {
	var want Stats
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
			case b.indexed != (b.Mapped && !b.Allocated):
				return fmt.Errorf("block %#x: in free index = %v, but allocated = %v, mapped = %v", b.Addr, b.indexed, b.Allocated, b.Mapped)
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
			if b.Allocated {
				if lb, ok := a.live[b.ID]; !ok || lb != b {
					return fmt.Errorf("block %#x: allocated as id %d, but that id maps elsewhere", b.Addr, b.ID)
				}
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
			if _, ok := fl.bySize.Get(b); !ok {
				return fmt.Errorf("block %#x: free but missing from the size index of pool %d", b.Addr, seg.Pool)
			}
			if fl.byAddr != nil {
				if _, ok := fl.byAddr.Get(b); !ok {
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
	if int64(len(a.live)) != want.LiveBlocks+want.PendingFrees {
		return fmt.Errorf("%d live ids, %d allocated blocks and %d pending frees", len(a.live), want.LiveBlocks, want.PendingFrees)
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

func sum(v []int64) int64 {
	var t int64
	for _, x := range v {
		t += x
	}
	return t
}
