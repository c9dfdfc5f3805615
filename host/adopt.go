package host

import (
	"errors"
	"fmt"
	"sort"

	"github.com/fraglab/fraglab/sdk/abi"
)

// ErrNoRoomForInitial is returned (wrapped) when the device cannot hold the
// state a trace starts from: its capacity is below what the trace recorded
// as already reserved.
var ErrNoRoomForInitial = errors.New("the device has no room for it")

// InitialSegment is a segment that exists before the first event, as a
// trace that starts mid-run recorded it: a classic segment, or one mapped
// run of an expandable segment (Expandable). Blocks tile it in address
// order.
type InitialSegment struct {
	Addr   uint64
	Size   int64
	Pool   int32
	Stream int64 // raw stream value
	// PrivatePool is the private pool holding the segment (as the
	// workload names it); 0: the default pool. The pool is in use.
	PrivatePool int64
	Expandable  bool
	Blocks      []AdoptedBlock
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
// grouped per (pool, stream, private pool) into one reserved range, asking the policy for
// the segment mode. Every device operation appears in the driver log with
// event -1. Call Adopt before the first event.
func (a *Allocator) Adopt(segs []InitialSegment) error {
	saved := a.event
	a.event = -1
	defer func() { a.event = saved }()
	runs := map[[3]int64][]InitialSegment{}
	var keys [][3]int64
	for _, is := range segs {
		if err := checkInitial(is); err != nil {
			return err
		}
		if is.Expandable {
			k := [3]int64{int64(is.Pool), is.Stream, is.PrivatePool}
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
		if err := a.adoptExpandable(int32(k[0]), k[1], k[2], runs[k]); err != nil {
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
	c, err := a.contextOf(a.StreamIndex(is.Stream), is.PrivatePool)
	if err != nil {
		return err
	}
	a.place(is.Addr)
	b, err := a.newSegment(is.Size, is.Pool, c)
	if err != nil {
		return err
	}
	if b == nil {
		return fmt.Errorf("initial segment %#x of %d bytes: %w", is.Addr, is.Size, ErrNoRoomForInitial)
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
			a.setLive(cur, ab.ID, ab.Requested)
		} else {
			a.index(cur)
		}
		cur = cur.next
	}
}

// adoptExpandable rebuilds one expandable segment from its mapped runs.
func (a *Allocator) adoptExpandable(pool int32, stream, private int64, runs []InitialSegment) error {
	s := a.StreamIndex(stream)
	c, err := a.contextOf(s, private)
	if err != nil {
		return err
	}
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
	seg := a.exp[pool][c]
	if seg != nil {
		return fmt.Errorf("initial expandable segment of pool %d, stream %d, private pool %d given twice", pool, stream, private)
	}
	size := a.reserveSize(page)
	last := runs[len(runs)-1]
	if span := int64(last.Addr-base) + last.Size; span > size {
		size = roundUp(span, page)
	}
	seg, err = a.newExpandable(pool, c, page, size)
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
			return fmt.Errorf("initial expandable run %#x of %d bytes: %w", r.Addr, r.Size, ErrNoRoomForInitial)
		}
		a.unindex(b)
		a.adoptBlocks(b, r.Blocks)
	}
	return nil
}
