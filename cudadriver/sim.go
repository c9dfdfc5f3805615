package cudadriver

import (
	"fmt"
	"sort"
)

// Sim defaults.
const (
	DefaultGranularity = 2 << 20          // 2 MiB, as CUDA's allocation granularity
	DefaultSimBase     = 0x7f00_0000_0000 // first address handed out
	simLow             = 1 << 32          // lowest address the sim holds
	simHigh            = 1 << 48          // the sim holds addresses up to here
)

// SimOptions configures a simulated device.
type SimOptions struct {
	Capacity    int64  // usable bytes; <= 0 means unlimited
	Granularity int64  // 0 means DefaultGranularity
	Base        uint64 // first address; 0 means DefaultSimBase
	// Latency, when set, makes Timings estimate the time each call would
	// take on the GPU the profile was measured on.
	Latency *LatencyProfile
}

// Sim is a deterministic simulated device. Addresses are handed out first
// fit in address order from one virtual address space, aligned to the
// granularity, so the same sequence of calls always yields the same
// addresses. Classic segments occupy their size rounded up to the
// granularity; capacity counts those footprints plus mapped pages.
type Sim struct {
	opts  SimOptions
	place uint64 // address asked for the next Alloc or Reserve; 0: none
	ledger
	free      []span // free virtual ranges, sorted by address, coalesced
	reserved  map[uint64]*reservation
	rangeHint uint64 // base of the reservation a range lookup found last (findRange)
	timings   Timings
	shadow    shadow // canary patterns written with FillD32, by physical address
	// Physical pages of reservations: page address -> mappings (its own
	// Map plus the MapAlias ranges holding it). A page lives while mapped
	// somewhere; its address is never reused.
	phys     map[uint64]int
	nextPhys uint64
}

type span struct {
	addr uint64
	size int64
}

type reservation struct {
	size   int64
	mapped map[int64]uint64 // page index -> physical page address
	alias  bool             // mapped by MapAlias: its pages are other mappings' pages
}

// simPhysBase is the first physical page address of reservations' pages;
// classic segments' bytes are their own virtual addresses (below simHigh).
const simPhysBase = 1 << 52

// NewSim returns a simulated device.
func NewSim(opts SimOptions) *Sim {
	if opts.Granularity <= 0 {
		opts.Granularity = DefaultGranularity
	}
	if opts.Base == 0 {
		opts.Base = DefaultSimBase
	}
	if opts.Capacity <= 0 {
		opts.Capacity = -1
	}
	return &Sim{
		opts:     opts,
		free:     []span{{simLow, int64(opts.Base - simLow)}, {opts.Base, int64(simHigh - opts.Base)}},
		ledger:   newLedger(),
		reserved: map[uint64]*reservation{},
		phys:     map[uint64]int{},
		nextPhys: simPhysBase,
	}
}

// Info implements Device.
func (s *Sim) Info() Info {
	return Info{Name: "sim", Backend: "sim", Capacity: s.opts.Capacity, Granularity: s.opts.Granularity}
}

func (s *Sim) roundUp(n int64) int64 {
	g := s.opts.Granularity
	return (n + g - 1) / g * g
}

// room reports whether n more bytes fit in the capacity.
func (s *Sim) room(n int64) bool {
	return s.opts.Capacity < 0 || s.used+n <= s.opts.Capacity
}

func (s *Sim) oom(n int64) error {
	free, total := s.MemInfo()
	return &OOMError{Size: n, Free: free, Capacity: total}
}

// PlaceNext asks that the next Alloc or Reserve return exactly addr, as a
// recorded trace's driver did. When that range is not free the call falls
// back to the usual placement. Replays use it to reproduce recorded
// addresses.
func (s *Sim) PlaceNext(addr uint64) { s.place = addr }

// takeVA carves size bytes (a granularity multiple) out of the free virtual
// ranges: at the placed address if one was asked and is free, else first
// fit in address order from the base.
func (s *Sim) takeVA(size int64) (uint64, error) {
	if p := s.place; p != 0 {
		s.place = 0
		if addr, ok := s.takeVAAt(p, size); ok {
			return addr, nil
		}
	}
	for _, sp := range s.free {
		start, end := max(sp.addr, s.opts.Base), sp.addr+uint64(sp.size)
		if end > start && int64(end-start) >= size {
			addr, _ := s.takeVAAt(start, size)
			return addr, nil
		}
	}
	return 0, fmt.Errorf("sim: virtual address space exhausted (asked %d bytes)", size)
}

// takeVAAt carves [addr, addr+size) out of the free range holding it.
func (s *Sim) takeVAAt(addr uint64, size int64) (uint64, bool) {
	i := sort.Search(len(s.free), func(i int) bool { return s.free[i].addr > addr }) - 1
	if i < 0 {
		return 0, false
	}
	sp := s.free[i]
	end, spEnd := addr+uint64(size), sp.addr+uint64(sp.size)
	if end > spEnd {
		return 0, false
	}
	var repl []span
	if addr > sp.addr {
		repl = append(repl, span{sp.addr, int64(addr - sp.addr)})
	}
	if end < spEnd {
		repl = append(repl, span{end, int64(spEnd - end)})
	}
	s.free = append(s.free[:i], append(repl, s.free[i+1:]...)...)
	return addr, true
}

// giveVA returns a range to the free list, coalescing with its neighbours.
func (s *Sim) giveVA(addr uint64, size int64) {
	i := sort.Search(len(s.free), func(i int) bool { return s.free[i].addr > addr })
	s.free = append(s.free, span{})
	copy(s.free[i+1:], s.free[i:])
	s.free[i] = span{addr, size}
	if i+1 < len(s.free) && s.free[i].addr+uint64(s.free[i].size) == s.free[i+1].addr {
		s.free[i].size += s.free[i+1].size
		s.free = append(s.free[:i+1], s.free[i+2:]...)
	}
	if i > 0 && s.free[i-1].addr+uint64(s.free[i-1].size) == s.free[i].addr {
		s.free[i-1].size += s.free[i].size
		s.free = append(s.free[:i], s.free[i+1:]...)
	}
}

// Alloc implements Device.
func (s *Sim) Alloc(size int64) (uint64, error) {
	if size <= 0 {
		return 0, fmt.Errorf("sim: alloc of %d bytes: size must be positive", size)
	}
	foot := s.roundUp(size)
	s.timings.Alloc += s.opts.Latency.Estimate(OpAlloc, size)
	if !s.room(foot) {
		s.counters.FailedAllocs++
		return 0, s.oom(size)
	}
	addr, err := s.takeVA(foot)
	if err != nil {
		s.counters.FailedAllocs++
		return 0, err
	}
	s.addSegment(addr, size, foot)
	return addr, nil
}

// Free implements Device.
func (s *Sim) Free(addr uint64) error {
	size, err := s.segmentSize("sim", addr)
	if err != nil {
		return err
	}
	s.timings.Free += s.opts.Latency.Estimate(OpFree, size)
	foot := s.roundUp(size)
	s.dropSegment(addr, size, foot)
	s.shadow.clear(addr, addr+uint64(foot))
	s.giveVA(addr, foot)
	return nil
}

// Reserve implements Device.
func (s *Sim) Reserve(size int64) (uint64, error) {
	if size <= 0 || size%s.opts.Granularity != 0 {
		return 0, fmt.Errorf("sim: reserve of %d bytes: size must be a positive multiple of %d", size, s.opts.Granularity)
	}
	addr, err := s.takeVA(size)
	if err != nil {
		return 0, err
	}
	s.reserved[addr] = &reservation{size: size, mapped: map[int64]uint64{}}
	s.timings.Reserve += s.opts.Latency.Estimate(OpReserve, size)
	s.counters.Reserves++
	return addr, nil
}

// Map implements Device.
func (s *Sim) Map(addr uint64, size int64) error {
	r, first, n, err := checkMapRange("sim", "page", s.reserved, &s.rangeHint, s.opts.Granularity, addr, size, false)
	if err != nil {
		return err
	}
	s.timings.Map += s.opts.Latency.Estimate(OpMap, size)
	if !s.room(size) {
		s.counters.FailedMaps++
		return s.oom(size)
	}
	for p := first; p < first+n; p++ {
		r.mapped[p] = s.nextPhys
		s.phys[s.nextPhys] = 1
		s.nextPhys += uint64(s.opts.Granularity)
	}
	s.addMapped(size)
	return nil
}

// Unmap implements Device.
func (s *Sim) Unmap(addr uint64, size int64) error {
	r, first, n, err := checkMapRange("sim", "page", s.reserved, &s.rangeHint, s.opts.Granularity, addr, size, true)
	if err != nil {
		return err
	}
	if r.alias {
		return fmt.Errorf("sim: unmap of %d bytes at %#x: a stitched range, unmapped whole by UnmapAlias", size, addr)
	}
	for p := first; p < first+n; p++ {
		s.dropPage(r.mapped[p])
		delete(r.mapped, p)
	}
	s.timings.Unmap += s.opts.Latency.Estimate(OpUnmap, size)
	s.countUnmap(size)
	return nil
}

// Release implements Device.
func (s *Sim) Release(addr uint64) error {
	r, ok := s.reserved[addr]
	if !ok {
		return fmt.Errorf("sim: release of %#x: not a reserved range", addr)
	}
	if len(r.mapped) != 0 {
		return fmt.Errorf("sim: release of %#x: %d pages are still mapped", addr, len(r.mapped))
	}
	delete(s.reserved, addr)
	s.timings.Release += s.opts.Latency.Estimate(OpRelease, r.size)
	s.giveVA(addr, r.size)
	s.counters.Releases++
	return nil
}

// MemInfo implements Device.
func (s *Sim) MemInfo() (free, total int64) {
	if s.opts.Capacity < 0 {
		return -1, -1
	}
	return s.opts.Capacity - s.used, s.opts.Capacity
}

// Used reports the bytes the device holds: segment footprints and mapped pages.
func (s *Sim) Used() int64 { return s.used }

// Counters implements Device.
func (s *Sim) Counters() Counters { return s.counters }

// Timings implements Device: estimates from SimOptions.Latency, zero
// without a profile. They depend only on the calls made, so they are
// deterministic.
func (s *Sim) Timings() Timings { return s.timings }

// dropPage ends one mapping of physical page ph; the page is freed (its
// bytes leave the capacity, its content is forgotten) with its last one.
func (s *Sim) dropPage(ph uint64) {
	if s.phys[ph]--; s.phys[ph] > 0 {
		return
	}
	delete(s.phys, ph)
	s.used -= s.opts.Granularity
	s.shadow.clear(ph, ph+uint64(s.opts.Granularity))
}

// Close implements Device: it frees every segment and reservation.
func (s *Sim) Close() error {
	for addr := range s.segments {
		s.Free(addr)
	}
	for addr, r := range s.reserved {
		if r.alias {
			s.UnmapAlias(addr)
		}
	}
	for addr, r := range s.reserved {
		for p := range r.mapped {
			s.Unmap(addr+uint64(p*s.opts.Granularity), s.opts.Granularity)
		}
		s.Release(addr)
	}
	return nil
}

var _ Device = (*Sim)(nil)
