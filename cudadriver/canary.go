package cudadriver

import (
	"fmt"
	"sort"
)

// PatternMemory is device memory that can be filled with a 32-bit pattern
// and checked for it: what canary mode needs. The cuda backend writes with
// cuMemsetD32 and reads back with cuMemcpyDtoH; Sim keeps a shadow of the
// patterns written.
type PatternMemory interface {
	// FillD32 writes v to every 32-bit word of [addr, addr+size); addr and
	// size are multiples of 4 and the range is backed memory.
	FillD32(addr uint64, size int64, v uint32) error
	// CheckD32 finds a word of [addr, addr+size) that is not v: its
	// address and value, with found false when every word is v.
	CheckD32(addr uint64, size int64, v uint32) (bad uint64, got uint32, found bool, err error)
}

// CanaryOptions tune how much of each block canary mode reads back.
type CanaryOptions struct {
	// FullBelow: blocks up to this many bytes are checked whole; larger
	// ones are sampled (head, tail and Windows windows spread between).
	// 0 means 1 MiB. Memory whose checks are cheap (Sim) is always checked
	// whole.
	FullBelow int64
	// Window is the bytes of one sampled window (0: 4 KiB).
	Window int64
	// Windows is the number of windows between head and tail (0: 16).
	Windows int
}

// Canary proves that the blocks an allocator hands out never overlap on
// the device's memory: each allocation is filled with its own pattern, and
// on free the pattern is read back. A block placed over another live one
// overwrites part of its pattern, and the older block's check fails.
// Canary is device-agnostic: it works on any PatternMemory.
type Canary struct {
	mem   PatternMemory
	cheap bool
	opts  CanaryOptions
	live  map[int64]canaryBlock
	seq   uint64
	stats CanaryStats
}

type canaryBlock struct {
	addr    uint64
	size    int64
	pattern uint32
}

// CanaryStats count canary work.
type CanaryStats struct {
	Fills         int64 `json:"fills"`          // blocks written
	Checks        int64 `json:"checks"`         // blocks checked
	FilledBytes   int64 `json:"filled_bytes"`   // bytes written
	ReadBytes     int64 `json:"read_bytes"`     // bytes read back
	SampledChecks int64 `json:"sampled_checks"` // checks that read only windows of a large block
}

// CanaryError reports a block whose pattern was damaged while it was live.
type CanaryError struct {
	ID        int64  // the damaged block's allocation id
	Addr      uint64 // its address
	Size      int64  // its size
	Bad       uint64 // the first damaged word found
	Want, Got uint32 // its pattern and what the word holds
	// Over is the id of a live block covering Bad (the likely culprit), or
	// -1 when none does.
	Over int64
}

func (e *CanaryError) Error() string {
	by := "no live block has that address: the bytes were written through another address (aliased memory) or by something outside the allocator"
	if e.Over >= 0 {
		by = fmt.Sprintf("live block id %d covers it: two live blocks share those bytes", e.Over)
	}
	return fmt.Sprintf("canary: block id %d (%d bytes at %#x) was overwritten while live: word at %#x (offset %d) holds %#08x, expected %#08x; %s",
		e.ID, e.Size, e.Addr, e.Bad, e.Bad-e.Addr, e.Got, e.Want, by)
}

// NewCanary returns a canary over dev's memory, or an error when the
// backend cannot write and read its memory.
func NewCanary(dev Device, opts CanaryOptions) (*Canary, error) {
	mem, ok := dev.(PatternMemory)
	if !ok {
		return nil, fmt.Errorf("canary mode: the %s device cannot write and read back its memory", dev.Info().Backend)
	}
	if opts.FullBelow <= 0 {
		opts.FullBelow = 1 << 20
	}
	if opts.Window <= 0 {
		opts.Window = 4 << 10
	}
	if opts.Windows <= 0 {
		opts.Windows = 16
	}
	c, _ := dev.(interface{ CheapCheck() bool })
	return &Canary{mem: mem, cheap: c != nil && c.CheapCheck(), opts: opts, live: map[int64]canaryBlock{}}, nil
}

// pattern is a nonzero word, different for each allocation (splitmix64).
func (c *Canary) pattern() uint32 {
	c.seq++
	z := c.seq * 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	v := uint32(z ^ (z >> 31))
	if v == 0 {
		v = 0xa5a5a5a5
	}
	return v
}

// Alloc fills a newly allocated block with its pattern.
func (c *Canary) Alloc(id int64, addr uint64, size int64) error {
	if _, dup := c.live[id]; dup {
		return fmt.Errorf("canary: allocation id %d is already live", id)
	}
	b := canaryBlock{addr: addr, size: size, pattern: c.pattern()}
	if err := c.mem.FillD32(addr, size, b.pattern); err != nil {
		return fmt.Errorf("canary: filling block id %d (%d bytes at %#x): %w", id, size, addr, err)
	}
	c.live[id] = b
	c.stats.Fills++
	c.stats.FilledBytes += size
	return nil
}

// Free checks a block's pattern before it is freed; a *CanaryError when it
// was damaged.
func (c *Canary) Free(id int64) error {
	b, ok := c.live[id]
	if !ok {
		return fmt.Errorf("canary: free of id %d, which the canary never saw allocated", id)
	}
	delete(c.live, id)
	c.stats.Checks++
	for _, w := range c.windows(b) {
		bad, got, found, err := c.mem.CheckD32(w[0], int64(w[1]-w[0]), b.pattern)
		if err != nil {
			return fmt.Errorf("canary: checking block id %d (%d bytes at %#x): %w", id, b.size, b.addr, err)
		}
		c.stats.ReadBytes += int64(w[1] - w[0])
		if found {
			return &CanaryError{ID: id, Addr: b.addr, Size: b.size, Bad: bad, Want: b.pattern, Got: got, Over: c.covering(bad)}
		}
	}
	return nil
}

// CheckLive checks every block still live, in id order, and keeps
// watching them: the end of a run, when the blocks the workload never
// freed are checked too.
func (c *Canary) CheckLive() error {
	ids := make([]int64, 0, len(c.live))
	for id := range c.live {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		b := c.live[id]
		if err := c.Free(id); err != nil {
			return err
		}
		c.live[id] = b
	}
	return nil
}

// windows are the [start, end) ranges of b to read back: all of it, or
// for a large block on a device whose reads cost, head, tail and evenly
// spaced windows, 4-byte aligned.
func (c *Canary) windows(b canaryBlock) [][2]uint64 {
	end := b.addr + uint64(b.size)
	if c.cheap || b.size <= c.opts.FullBelow || b.size <= 2*c.opts.Window {
		return [][2]uint64{{b.addr, end}}
	}
	c.stats.SampledChecks++
	w := uint64(c.opts.Window) &^ 3
	out := [][2]uint64{{b.addr, b.addr + w}}
	stride := (uint64(b.size) - w) / uint64(c.opts.Windows+1)
	for i := 1; i <= c.opts.Windows; i++ {
		s := (b.addr + uint64(i)*stride) &^ 3
		out = append(out, [2]uint64{s, s + w})
	}
	return append(out, [2]uint64{end - w, end})
}

// covering is the id of a live block holding addr, or -1 (smallest id
// first, for a deterministic answer).
func (c *Canary) covering(addr uint64) int64 {
	var ids []int64
	for id, b := range c.live {
		if addr >= b.addr && addr < b.addr+uint64(b.size) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return -1
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids[0]
}

// Stats reports what the canary wrote and read.
func (c *Canary) Stats() CanaryStats { return c.stats }

// Live is the number of blocks the canary watches.
func (c *Canary) Live() int { return len(c.live) }
