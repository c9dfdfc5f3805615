package host

// Block is a range of a segment: allocated, free (cached) or, in an
// expandable segment, not backed by memory (unmapped). Blocks of a segment
// are linked in address order and tile it without gaps.
type Block struct {
	Addr      uint64
	Size      int64
	Requested int64 // bytes the workload asked for; live blocks only
	ID        int64 // allocation id; live blocks only
	Tag       int32
	Allocated bool
	Mapped    bool // backed by memory; always true in classic segments
	// Pending: the workload freed the block but it waits for work queued
	// on other streams (FreeRequested); still Allocated, not reusable.
	Pending bool
	// Lent: the block's pages are mapped into a stitched range as well
	// (they back a block there): neither allocatable nor mergeable here
	// until the range is torn down. Never Allocated.
	Lent bool

	lentTo     *Segment // the stitched range of a lent block
	seg        *Segment
	prev, next *Block
	freedAt    uint64 // pool search count when the block became free
	indexed    bool   // in its pool's free index
}

// Segment returns the segment holding the block.
func (b *Block) Segment() *Segment { return b.seg }

// Prev returns the block just below, in the same segment, or nil.
func (b *Block) Prev() *Block { return b.prev }

// Next returns the block just above, in the same segment, or nil.
func (b *Block) Next() *Block { return b.next }

// end is the first address past the block.
func (b *Block) end() uint64 { return b.Addr + uint64(b.Size) }

// wholeSegment reports whether a classic block spans its whole segment.
func (b *Block) wholeSegment() bool {
	return b.prev == nil && b.next == nil && b.seg.Page == 0 && !b.seg.Stitched
}

// isFree reports whether b is a free cached block: mapped, not allocated,
// not lent to a stitched range.
func (b *Block) isFree() bool { return b.Mapped && !b.Allocated && !b.Lent }

// LentTo is the stitched range a lent block's pages back, or nil.
func (b *Block) LentTo() *Segment { return b.lentTo }

// wholePages is the range of whole pages inside b, an expandable segment's
// block, as offsets in the segment: [first, last), empty when last <= first.
func (b *Block) wholePages() (first, last int64) {
	off, page := int64(b.Addr-b.seg.Addr), b.seg.Page
	return roundUp(off, page), (off + b.Size) / page * page
}

// expandableSize is the block size plus the unmapped range right after it:
// how far the block could grow (PyTorch's best-fit tie-break).
func (b *Block) expandableSize() int64 {
	if b.next != nil && !b.next.Mapped {
		return b.Size + b.next.Size
	}
	return b.Size
}

// Segment is one region obtained from the device: a classic segment (one
// device allocation) or an expandable segment (a reserved virtual range
// whose pages are mapped on demand).
type Segment struct {
	Addr   uint64
	Size   int64 // classic: allocation size; expandable: reserved bytes
	Mapped int64 // bytes backed by memory (classic: Size)
	Pool   int32
	Stream int32 // stream index
	// PrivatePool is the private pool the segment belongs to (as the
	// workload names it); 0: the default pool.
	PrivatePool int64
	Page        int64 // page size of an expandable segment; 0 for classic
	Event       int64 // trace event that created it (-1: before the first event)
	// Stitched: a stitched range (ABI 1.5), a virtual range mapping pages
	// lent by free blocks of the context's expandable segment; one block,
	// never split. Its bytes are its sources': they count in the reserved
	// bytes of the segment they belong to, not here.
	Stitched bool

	sources  []*Block // stitched range: the lent blocks, in mapping order
	ctx      int32    // free-list context: (stream, private pool)
	head     *Block
	unmapped *unmappedSet // expandable: unmapped blocks by address and size
}

// Sources returns a stitched range's lent blocks, in the order their
// pages are mapped in it.
func (s *Segment) Sources() []*Block { return s.sources }

// Expandable reports whether the segment is an expandable segment.
func (s *Segment) Expandable() bool { return s.Page > 0 }

// Blocks returns the segment's blocks in address order.
func (s *Segment) Blocks() []*Block {
	var out []*Block
	for b := s.head; b != nil; b = b.next {
		out = append(out, b)
	}
	return out
}
