package cudadriver

import (
	"fmt"
	"sort"
)

// shadow is the simulated content of device memory as far as canary mode
// writes it: runs of equal 32-bit words, sorted by address, never
// overlapping. Bytes outside every run read as zero.
type shadow struct {
	runs []shadowRun
}

type shadowRun struct {
	start, end uint64 // [start, end)
	v          uint32
}

// first is the index of the first run ending after addr.
func (m *shadow) first(addr uint64) int {
	return sort.Search(len(m.runs), func(i int) bool { return m.runs[i].end > addr })
}

// clear forgets [a, b): freed or unmapped memory has no content.
func (m *shadow) clear(a, b uint64) {
	if len(m.runs) == 0 {
		return
	}
	i := m.first(a)
	j := i
	var keep []shadowRun
	for ; j < len(m.runs) && m.runs[j].start < b; j++ {
		r := m.runs[j]
		if r.start < a {
			keep = append(keep, shadowRun{r.start, a, r.v})
		}
		if r.end > b {
			keep = append(keep, shadowRun{b, r.end, r.v})
		}
	}
	m.runs = append(m.runs[:i], append(keep, m.runs[j:]...)...)
}

// set writes v over [a, b).
func (m *shadow) set(a, b uint64, v uint32) {
	m.clear(a, b)
	i := m.first(a)
	m.runs = append(m.runs, shadowRun{})
	copy(m.runs[i+1:], m.runs[i:])
	m.runs[i] = shadowRun{a, b, v}
}

// mismatch returns the first address in [a, b) whose word is not v.
func (m *shadow) mismatch(a, b uint64, v uint32) (uint64, uint32, bool) {
	at := a
	for i := m.first(a); i < len(m.runs) && m.runs[i].start < b && at < b; i++ {
		r := m.runs[i]
		if r.start > at && v != 0 {
			return at, 0, true // a gap reads as zero
		}
		if r.v != v {
			return max(r.start, at), r.v, true
		}
		at = r.end
	}
	if at < b && v != 0 {
		return at, 0, true
	}
	return 0, 0, false
}

// physPiece is a run of virtual addresses backed by contiguous physical
// bytes: [va, va+n) is [phys, phys+n).
type physPiece struct {
	va, phys uint64
	n        int64
}

// backed checks that [addr, addr+size) lies in one classic segment or in
// mapped pages of one reservation (stitched ones included): memory a
// kernel could write. It returns the physical bytes behind the range,
// piece by piece: a classic segment's bytes are its virtual addresses, a
// page's are its physical page's, shared by every range that maps it.
func (s *Sim) backed(op string, addr uint64, size int64) ([]physPiece, error) {
	if size <= 0 || size%4 != 0 || addr%4 != 0 {
		return nil, fmt.Errorf("sim: %s of %d bytes at %#x: address and size must be positive multiples of 4", op, size, addr)
	}
	end := addr + uint64(size)
	for base, n := range s.segments {
		if addr >= base && end <= base+uint64(n) {
			return []physPiece{{addr, addr, size}}, nil
		}
	}
	g := uint64(s.opts.Granularity)
	for base, r := range s.reserved {
		if addr < base || end > base+uint64(r.size) {
			continue
		}
		var out []physPiece
		for at := addr; at < end; {
			p := (at - base) / g
			ph, ok := r.mapped[int64(p)]
			if !ok {
				return nil, fmt.Errorf("sim: %s of %d bytes at %#x: page %#x is not mapped", op, size, addr, base+p*g)
			}
			next := min(base+(p+1)*g, end)
			off := (at - base) % g
			if k := len(out) - 1; k >= 0 && out[k].phys+uint64(out[k].n) == ph+off {
				out[k].n += int64(next - at)
			} else {
				out = append(out, physPiece{at, ph + off, int64(next - at)})
			}
			at = next
		}
		return out, nil
	}
	return nil, fmt.Errorf("sim: %s of %d bytes at %#x: not inside a segment or a reserved range", op, size, addr)
}

// FillD32 implements PatternMemory on the shadow of the simulated memory,
// kept by physical address: a write through a stitched range is seen
// through every other range mapping the same pages.
func (s *Sim) FillD32(addr uint64, size int64, v uint32) error {
	pieces, err := s.backed("fill", addr, size)
	if err != nil {
		return err
	}
	for _, pc := range pieces {
		s.shadow.set(pc.phys, pc.phys+uint64(pc.n), v)
	}
	return nil
}

// CheckD32 implements PatternMemory on the shadow of the simulated memory.
func (s *Sim) CheckD32(addr uint64, size int64, v uint32) (uint64, uint32, bool, error) {
	pieces, err := s.backed("check", addr, size)
	if err != nil {
		return 0, 0, false, err
	}
	for _, pc := range pieces {
		if bad, got, found := s.shadow.mismatch(pc.phys, pc.phys+uint64(pc.n), v); found {
			return pc.va + (bad - pc.phys), got, true, nil
		}
	}
	return 0, 0, false, nil
}

// CheapCheck reports that checking any range costs no more than a small
// one: canary mode verifies whole blocks on sim, never samples.
func (s *Sim) CheapCheck() bool { return true }
