package cudadriver

import "fmt"

// vmRange is a range of virtual addresses reserved by a backend (Sim or
// CUDA), cut in units of the granularity (pages, granules), each mapped or
// not.
type vmRange interface {
	rangeSize() int64
	unitMapped(unit int64) bool
}

func (r *reservation) rangeSize() int64            { return r.size }
func (r *reservation) unitMapped(unit int64) bool  { _, ok := r.mapped[unit]; return ok }
func (r *cudaReservation) rangeSize() int64        { return r.size }
func (r *cudaReservation) unitMapped(p int64) bool { _, ok := r.handles[p]; return ok }

// findRange returns the reservation of reserved (base address -> range)
// for which holds is true, and its base. *hint, the base a lookup found
// last, is tried first: consecutive lookups mostly land in the same
// reservation (a segment's pages, a stitch's sources), and the others are
// walked only on a miss. findRange sets *hint to the base it finds.
func findRange[R vmRange](reserved map[uint64]R, hint *uint64, holds func(base uint64, r R) bool) (r R, base uint64, ok bool) {
	if rr, found := reserved[*hint]; found && holds(*hint, rr) {
		return rr, *hint, true
	}
	for b, rr := range reserved {
		if holds(b, rr) {
			*hint = b
			return rr, b, true
		}
	}
	return r, 0, false
}

// checkMapRange checks a map (mapped false) or unmap (mapped true) of
// [addr, addr+size) against the ranges reserved (base address -> range):
// addr and size must be multiples of g, the span must lie in one range, and
// each of its units must be mapped as given. It returns that range, the
// index of the first unit and the number of units. backend ("sim", "cuda")
// and unit ("page", "granule") word the errors; hint is findRange's.
func checkMapRange[R vmRange](backend, unit string, reserved map[uint64]R, hint *uint64, g int64, addr uint64, size int64, mapped bool) (r R, first, n int64, err error) {
	op := "map"
	if mapped {
		op = "unmap"
	}
	if size <= 0 || size%g != 0 || addr%uint64(g) != 0 {
		return r, 0, 0, fmt.Errorf("%s: %s of %d bytes at %#x: address and size must be multiples of %d", backend, op, size, addr, g)
	}
	r, base, found := findRange(reserved, hint, func(base uint64, rr R) bool {
		return addr >= base && addr+uint64(size) <= base+uint64(rr.rangeSize())
	})
	if !found {
		return r, 0, 0, fmt.Errorf("%s: %s of %d bytes at %#x: not inside a reserved range", backend, op, size, addr)
	}
	first, n = int64(addr-base)/g, size/g
	for p := first; p < first+n; p++ {
		if r.unitMapped(p) != mapped {
			state := "already mapped"
			if mapped {
				state = "not mapped"
			}
			return r, 0, 0, fmt.Errorf("%s: %s at %#x: %s %#x is %s", backend, op, addr, unit, addr+uint64((p-first)*g), state)
		}
	}
	return r, first, n, nil
}
