package snapshot

import (
	"fmt"
	"math"
	"sort"

	"github.com/fraglab/fraglab/host"
)

// seg is a segment (or an expandable mapped run) of the simulated device.
type seg struct {
	addr       uint64
	size       int64
	pool       int32
	stream     int64
	private    int64 // private pool number (Workload.PoolIDs); 0: the default pool
	expandable bool
	blocks     []blk // address order, tiling the segment; nil while only runs are tracked

	// While rewinding: the segment's pool id as recorded, and whether a
	// record gave it (final segments always do; a segment_free entry only
	// in newer PyTorch, which writes pool_id).
	pid      [2]uint64
	pidKnown bool
}

// end is the address just past the segment; it wraps to 0 for a segment
// that ends at 2**64 exactly, so comparisons use last.
func (s *seg) end() uint64 { return s.addr + uint64(s.size) }

// last is the segment's last byte (size > 0).
func (s *seg) last() uint64 { return s.addr + uint64(s.size) - 1 }

// adjacent reports whether b starts right after a ends.
func adjacent(a, b *seg) bool { return a.last() != math.MaxUint64 && a.last()+1 == b.addr }

// blk is a block of a simulated segment.
type blk struct {
	addr    uint64
	size    int64
	id      int64 // -1: free
	req     int64 // requested bytes while live
	pending bool  // live, but its free was requested and waits for other streams
}

func (b blk) end() uint64           { return b.addr + uint64(b.size) }
func (b blk) last() uint64          { return b.addr + uint64(b.size) - 1 }
func (b blk) live() bool            { return b.id >= 0 }
func freeBlk(a uint64, n int64) blk { return blk{addr: a, size: n, id: -1} }

// state is a device's segments in address order. Used with blocks by Verify
// and by the workload's own consistency checks, and without blocks (runs
// only) to rewind a trace.
type state struct {
	segs    []*seg
	rule    splitRule
	div     *[Intervals]int64
	byID    map[int64]uint64   // live id → block address (block mode)
	pending []int64            // ids whose free waits, in request order (block mode)
	synced  map[int64]struct{} // ids a synchronisation completed before their free_completed (block mode)
	track   bool               // block mode: segments carry blocks
}

// find returns the index of the segment holding addr, or -1.
func (st *state) find(addr uint64) int {
	i := sort.Search(len(st.segs), func(i int) bool { return st.segs[i].last() >= addr })
	if i < len(st.segs) && st.segs[i].addr <= addr {
		return i
	}
	return -1
}

// insertAt is the index where a segment at addr goes.
func (st *state) insertAt(addr uint64) int {
	return sort.Search(len(st.segs), func(i int) bool { return st.segs[i].addr >= addr })
}

func (st *state) overlaps(addr uint64, size int64) *seg {
	last := addr + uint64(size) - 1
	i := sort.Search(len(st.segs), func(i int) bool { return st.segs[i].last() >= addr })
	if i < len(st.segs) && st.segs[i].addr <= last {
		return st.segs[i]
	}
	return nil
}

// add inserts a whole new segment holding one free block. A segment may
// end at 2**64 exactly (address + size == 2**64), not beyond.
func (st *state) add(s *seg) error {
	if s.size <= 0 || s.last() < s.addr {
		return fmt.Errorf("segment at %#x has size %d", s.addr, s.size)
	}
	if o := st.overlaps(s.addr, s.size); o != nil {
		return fmt.Errorf("new segment [%#x, %#x) overlaps segment [%#x, %#x)", s.addr, s.end(), o.addr, o.end())
	}
	if st.track && s.blocks == nil {
		s.blocks = []blk{freeBlk(s.addr, s.size)}
	}
	i := st.insertAt(s.addr)
	st.segs = append(st.segs, nil)
	copy(st.segs[i+1:], st.segs[i:])
	st.segs[i] = s
	return nil
}

// remove deletes the segment that starts at addr and has size bytes; in
// block mode it must be one free block (only unsplit free segments are
// released).
func (st *state) remove(addr uint64, size int64) (*seg, error) {
	i := st.find(addr)
	if i < 0 || st.segs[i].addr != addr {
		return nil, fmt.Errorf("no segment starts at %#x", addr)
	}
	s := st.segs[i]
	if s.size != size {
		return nil, fmt.Errorf("segment at %#x has %d bytes, not %d", addr, s.size, size)
	}
	if st.track && (len(s.blocks) != 1 || s.blocks[0].live()) {
		return nil, fmt.Errorf("segment at %#x is not entirely free (%d blocks, first %s)", addr, len(s.blocks), s.blocks[0].describe())
	}
	st.segs = append(st.segs[:i], st.segs[i+1:]...)
	return s, nil
}

func (b blk) describe() string {
	if b.live() {
		return fmt.Sprintf("%d B live at %#x", b.size, b.addr)
	}
	return fmt.Sprintf("%d B free at %#x", b.size, b.addr)
}

// mapRange adds [addr, addr+size) as mapped free memory of an expandable
// segment, joining the runs that end at addr or start at addr+size (same
// pool, stream and private pool); the new free block merges with free
// blocks at the joins. pid is the range's recorded pool id while rewinding.
func (st *state) mapRange(addr uint64, size int64, pool int32, stream, private int64, pid [2]uint64, pidKnown bool) error {
	if size <= 0 || addr+uint64(size)-1 < addr {
		return fmt.Errorf("cannot map %d bytes at %#x", size, addr)
	}
	n := &seg{addr: addr, size: size, pool: pool, stream: stream, private: private, expandable: true, pid: pid, pidKnown: pidKnown}
	if err := st.add(n); err != nil {
		return err
	}
	i := st.insertAt(addr)
	if i+1 < len(st.segs) {
		st.join(i)
	}
	if i > 0 {
		st.join(i - 1)
	}
	return nil
}

// join merges segment i+1 into segment i when they are adjacent expandable
// runs of one pool, stream and private pool.
func (st *state) join(i int) {
	a, b := st.segs[i], st.segs[i+1]
	if !a.expandable || !b.expandable || !adjacent(a, b) || a.pool != b.pool || a.stream != b.stream || a.private != b.private || a.pid != b.pid {
		return
	}
	a.pidKnown = a.pidKnown || b.pidKnown
	a.size += b.size
	if st.track {
		a.blocks = append(a.blocks, b.blocks...)
		a.mergeAround(len(a.blocks) - len(b.blocks))
	}
	st.segs = append(st.segs[:i+1], st.segs[i+2:]...)
}

// unmapRange removes [addr, addr+size) from the run that holds it, splitting
// the run; in block mode the range must lie inside one free block.
func (st *state) unmapRange(addr uint64, size int64) error {
	if size <= 0 || addr+uint64(size)-1 < addr {
		return fmt.Errorf("cannot unmap %d bytes at %#x", size, addr)
	}
	i := st.find(addr)
	end := addr + uint64(size)
	last := end - 1
	if i < 0 || st.segs[i].last() < last || !st.segs[i].expandable {
		return fmt.Errorf("[%#x, %#x) is not inside one mapped expandable run", addr, end)
	}
	s := st.segs[i]
	var lo, hi []blk
	if st.track {
		k := s.blockAt(addr)
		if k < 0 || s.blocks[k].live() || s.blocks[k].last() < last {
			return fmt.Errorf("[%#x, %#x) is not inside one free block", addr, end)
		}
		b := s.blocks[k]
		lo = append([]blk(nil), s.blocks[:k]...)
		if b.addr < addr {
			lo = append(lo, freeBlk(b.addr, int64(addr-b.addr)))
		}
		if b.last() > last {
			hi = append(hi, freeBlk(end, int64(b.last()-last)))
		}
		hi = append(hi, s.blocks[k+1:]...)
	}
	var repl []*seg
	if addr > s.addr {
		repl = append(repl, &seg{addr: s.addr, size: int64(addr - s.addr), pool: s.pool, stream: s.stream, private: s.private, expandable: true, blocks: lo, pid: s.pid, pidKnown: s.pidKnown})
	}
	if last < s.last() {
		repl = append(repl, &seg{addr: end, size: int64(s.last() - last), pool: s.pool, stream: s.stream, private: s.private, expandable: true, blocks: hi, pid: s.pid, pidKnown: s.pidKnown})
	}
	st.segs = append(st.segs[:i], append(repl, st.segs[i+1:]...)...)
	return nil
}

// blockAt returns the index of the block holding addr, or -1.
func (s *seg) blockAt(addr uint64) int {
	k := sort.Search(len(s.blocks), func(k int) bool { return s.blocks[k].last() >= addr })
	if k < len(s.blocks) && s.blocks[k].addr <= addr {
		return k
	}
	return -1
}

// mergeAround merges block k with free neighbours if it is free.
func (s *seg) mergeAround(k int) {
	if k < 0 || k >= len(s.blocks) || s.blocks[k].live() {
		return
	}
	if k+1 < len(s.blocks) && !s.blocks[k+1].live() {
		s.blocks[k].size += s.blocks[k+1].size
		s.blocks = append(s.blocks[:k+1], s.blocks[k+2:]...)
	}
	if k > 0 && !s.blocks[k-1].live() {
		s.blocks[k-1].size += s.blocks[k].size
		s.blocks = append(s.blocks[:k], s.blocks[k+1:]...)
	}
}

// alloc serves a recorded allocation of req bytes at addr from private
// pool private (0: the default pool): the free block that starts there must
// be large enough and in the request's pool; it is split by PyTorch's
// should_split rule.
func (st *state) alloc(addr uint64, req int64, id, private int64) error {
	rounded := roundSize(req, st.div)
	i := st.find(addr)
	if i < 0 {
		return fmt.Errorf("no segment holds %#x", addr)
	}
	s := st.segs[i]
	if p := host.DefaultPool(rounded); p != s.pool {
		return fmt.Errorf("a %s-pool request (%d B, rounded %d) landed in a %s-pool segment at %#x", poolName(p), req, rounded, poolName(s.pool), s.addr)
	}
	if private != s.private {
		return fmt.Errorf("a request to %s landed in a segment of %s at %#x", privateName(private), privateName(s.private), s.addr)
	}
	k := s.blockAt(addr)
	b := s.blocks[k]
	if b.addr != addr || b.live() {
		return fmt.Errorf("%#x is not the start of a free block (it lies in %s)", addr, b.describe())
	}
	if b.size < rounded {
		return fmt.Errorf("the free block at %#x has %d B, less than the rounded request %d", addr, b.size, rounded)
	}
	if st.rule.split(b.size, rounded, s.pool, s.expandable) {
		rest := freeBlk(addr+uint64(rounded), b.size-rounded)
		s.blocks = append(s.blocks, blk{})
		copy(s.blocks[k+2:], s.blocks[k+1:])
		s.blocks[k+1] = rest
		b.size = rounded
	}
	b.id, b.req = id, req
	s.blocks[k] = b
	st.byID[id] = addr
	return nil
}

// freeRequested marks the live block of id as freed but waiting for other
// streams: it stays occupied (not reusable, no merging) until free or sync.
func (st *state) freeRequested(id int64) error {
	addr, ok := st.byID[id]
	if !ok {
		return fmt.Errorf("allocation %d is not live", id)
	}
	s := st.segs[st.find(addr)]
	k := s.blockAt(addr)
	if s.blocks[k].pending {
		return fmt.Errorf("the free of allocation %d was already requested", id)
	}
	s.blocks[k].pending = true
	st.pending = append(st.pending, id)
	return nil
}

// free returns the live block of id to its segment, merging free
// neighbours. The free of an id that a synchronisation completed already
// is a no-op.
func (st *state) free(id int64) (uint64, error) {
	addr, ok := st.byID[id]
	if !ok {
		if _, s := st.synced[id]; s {
			delete(st.synced, id)
			return 0, nil
		}
		return 0, fmt.Errorf("allocation %d is not live", id)
	}
	delete(st.byID, id)
	s := st.segs[st.find(addr)]
	k := s.blockAt(addr)
	s.blocks[k].id, s.blocks[k].req, s.blocks[k].pending = -1, 0, false
	s.mergeAround(k)
	return addr, nil
}

// sync completes every free still waiting for other streams, in request
// order (PyTorch's synchronize_and_free_events before a release).
func (st *state) sync() {
	for _, id := range st.pending {
		addr, ok := st.byID[id]
		if !ok {
			continue
		}
		s := st.segs[st.find(addr)]
		if b := s.blocks[s.blockAt(addr)]; !b.pending {
			continue
		}
		_, _ = st.free(id)
		if st.synced == nil {
			st.synced = map[int64]struct{}{}
		}
		st.synced[id] = struct{}{}
	}
	st.pending = st.pending[:0]
}

// reserved is the total size of all segments.
func (st *state) reserved() int64 {
	var n int64
	for _, s := range st.segs {
		n += s.size
	}
	return n
}

// expandableNeighbour is the expandable run that an expandable range
// [addr, addr+size) being mapped joins: the run right after it, else the
// run right before it; nil when none.
func (st *state) expandableNeighbour(addr uint64, size int64) *seg {
	r := &seg{addr: addr, size: size}
	i := st.insertAt(addr)
	if i < len(st.segs) && st.segs[i].expandable && adjacent(r, st.segs[i]) {
		return st.segs[i]
	}
	if i > 0 && st.segs[i-1].expandable && adjacent(st.segs[i-1], r) {
		return st.segs[i-1]
	}
	return nil
}

// expandablePool is the pool of an expandable range [addr, addr+size) that
// is being mapped: that of the run it joins, else the one its size implies
// (inferPool: large-pool pages are 20 MiB).
func (st *state) expandablePool(addr uint64, size int64) int32 {
	if n := st.expandableNeighbour(addr, size); n != nil {
		return n.pool
	}
	return inferPool(size, true)
}

// expandablePrivate is the private pool number of the run such a range
// joins; 0 when none.
func (st *state) expandablePrivate(addr uint64, size int64) int64 {
	if n := st.expandableNeighbour(addr, size); n != nil {
		return n.private
	}
	return 0
}

// privateName names a private pool number for messages.
func privateName(p int64) string {
	if p == 0 {
		return "the default pool"
	}
	return fmt.Sprintf("private pool %d", p)
}
