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

// backed checks that [addr, addr+size) lies in one classic segment or in
// mapped pages of one reservation: memory a kernel could write.
func (s *Sim) backed(op string, addr uint64, size int64) error {
	if size <= 0 || size%4 != 0 || addr%4 != 0 {
		return fmt.Errorf("sim: %s of %d bytes at %#x: address and size must be positive multiples of 4", op, size, addr)
	}
	end := addr + uint64(size)
	for base, n := range s.segments {
		if addr >= base && end <= base+uint64(n) {
			return nil
		}
	}
	g := uint64(s.opts.Granularity)
	for base, r := range s.reserved {
		if addr < base || end > base+uint64(r.size) {
			continue
		}
		for p := (addr - base) / g; p*g+base < end; p++ {
			if !r.mapped[int64(p)] {
				return fmt.Errorf("sim: %s of %d bytes at %#x: page %#x is not mapped", op, size, addr, base+p*g)
			}
		}
		return nil
	}
	return fmt.Errorf("sim: %s of %d bytes at %#x: not inside a segment or a reserved range", op, size, addr)
}

// FillD32 implements PatternMemory on the shadow of the simulated memory.
func (s *Sim) FillD32(addr uint64, size int64, v uint32) error {
	if err := s.backed("fill", addr, size); err != nil {
		return err
	}
	s.shadow.set(addr, addr+uint64(size), v)
	return nil
}

// CheckD32 implements PatternMemory on the shadow of the simulated memory.
func (s *Sim) CheckD32(addr uint64, size int64, v uint32) (uint64, uint32, bool, error) {
	if err := s.backed("check", addr, size); err != nil {
		return 0, 0, false, err
	}
	bad, got, found := s.shadow.mismatch(addr, addr+uint64(size), v)
	return bad, got, found, nil
}

// CheapCheck reports that checking any range costs no more than a small
// one: canary mode verifies whole blocks on sim, never samples.
func (s *Sim) CheapCheck() bool { return true }
