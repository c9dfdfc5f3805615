package cudadriver

import "fmt"

// Span is a range of device virtual addresses.
type Span struct {
	Addr uint64
	Size int64
}

// Stitcher is a Device that can map physical pages already mapped in one
// virtual range into another one as well: GMLake's stitching (Guo et al.,
// ASPLOS '24), on CUDA a cuMemMap of the existing
// cuMemGenericAllocationHandles into a new reserved range. The pages are
// then reachable through both addresses; they are freed when their last
// mapping goes. Sim and CUDA implement it.
type Stitcher interface {
	// MapAlias maps the physical pages behind spans, in order, back to back
	// into [addr, addr+total): addr is the base of a range returned by
	// Reserve, of exactly the spans' total size, with nothing mapped yet.
	// Every span is granularity-aligned and lies in mapped pages of ranges
	// mapped with Map (not of another alias). The capacity is not charged:
	// no memory is created. On failure nothing is mapped.
	MapAlias(addr uint64, spans []Span) error
	// UnmapAlias unmaps every page of the alias range at addr and returns
	// the range (cuMemUnmap + cuMemAddressFree). Pages whose own mapping
	// was unmapped meanwhile are freed now.
	UnmapAlias(addr uint64) error
	// PhysicalPage names the physical page backing the granule holding
	// addr: two addresses get the same answer exactly when the same memory
	// backs them. ok is false for an address no memory backs.
	PhysicalPage(addr uint64) (page uint64, ok bool)
}

// aliasCheck validates a MapAlias of spans at the base of reservation r.
func aliasCheck(backend string, g int64, addr uint64, rsize int64, mappedUnits int, spans []Span) error {
	var total int64
	for _, sp := range spans {
		if sp.Size <= 0 || sp.Size%g != 0 || sp.Addr%uint64(g) != 0 {
			return fmt.Errorf("%s: stitch at %#x: span of %d bytes at %#x: address and size must be multiples of %d", backend, addr, sp.Size, sp.Addr, g)
		}
		total += sp.Size
	}
	if len(spans) == 0 || total != rsize {
		return fmt.Errorf("%s: stitch at %#x: the spans add up to %d bytes, the reserved range holds %d", backend, addr, total, rsize)
	}
	if mappedUnits != 0 {
		return fmt.Errorf("%s: stitch at %#x: the reserved range already has %d mapped pages", backend, addr, mappedUnits)
	}
	return nil
}

// sourcePage finds the reservation (not an alias) holding addr and the
// index of its page there; last is findRange's hint.
func sourcePage[R interface {
	vmRange
	isAlias() bool
}](reserved map[uint64]R, g int64, addr uint64, last *uint64) (r R, base uint64, page int64, ok bool) {
	r, base, found := findRange(reserved, last, func(b uint64, rr R) bool {
		return addr >= b && addr < b+uint64(rr.rangeSize()) && !rr.isAlias()
	})
	if !found {
		return r, 0, 0, false
	}
	page = int64(addr-base) / g
	return r, base, page, r.unitMapped(page)
}

func (r *reservation) isAlias() bool     { return r.alias }
func (r *cudaReservation) isAlias() bool { return r.alias }

// MapAlias implements Stitcher: the alias range's pages take the physical
// pages of the sources, whose mapping counts go up.
func (s *Sim) MapAlias(addr uint64, spans []Span) error {
	r, ok := s.reserved[addr]
	if !ok {
		return fmt.Errorf("sim: stitch at %#x: not the base of a reserved range", addr)
	}
	g := s.opts.Granularity
	if err := aliasCheck("sim", g, addr, r.size, len(r.mapped), spans); err != nil {
		return err
	}
	var pages []uint64
	for _, sp := range spans {
		for at := sp.Addr; at < sp.Addr+uint64(sp.Size); at += uint64(g) {
			src, _, p, ok := sourcePage(s.reserved, g, at, &s.rangeHint)
			if !ok {
				return fmt.Errorf("sim: stitch at %#x: source page %#x is not a mapped page of an expandable range", addr, at)
			}
			pages = append(pages, src.mapped[p])
		}
	}
	for i, ph := range pages {
		r.mapped[int64(i)] = ph
		s.phys[ph]++
	}
	r.alias = true
	s.timings.Map += s.opts.Latency.Estimate(OpMap, r.size)
	s.counters.AliasMaps++
	s.counters.AliasBytes += r.size
	return nil
}

// UnmapAlias implements Stitcher.
func (s *Sim) UnmapAlias(addr uint64) error {
	r, ok := s.reserved[addr]
	if !ok || !r.alias {
		return fmt.Errorf("sim: unstitch of %#x: not a stitched range", addr)
	}
	for p, ph := range r.mapped {
		s.dropPage(ph)
		delete(r.mapped, p)
	}
	s.timings.Unmap += s.opts.Latency.Estimate(OpUnmap, r.size)
	s.counters.AliasUnmaps++
	r.alias = false
	return s.Release(addr)
}

// PhysicalPage implements Stitcher: a classic segment's granule is named
// by its own address, a mapped page by its physical page address.
func (s *Sim) PhysicalPage(addr uint64) (uint64, bool) {
	g := uint64(s.opts.Granularity)
	for base, n := range s.segments {
		if addr >= base && addr < base+uint64(s.roundUp(n)) {
			return addr &^ (g - 1), true
		}
	}
	for base, r := range s.reserved {
		if addr >= base && addr < base+uint64(r.size) {
			ph, ok := r.mapped[int64((addr-base)/g)]
			return ph, ok
		}
	}
	return 0, false
}

var (
	_ Stitcher = (*Sim)(nil)
	_ Stitcher = (*CUDA)(nil)
)
