package cudadriver

import (
	"errors"
	"strings"
	"testing"
)

func TestCanaryOnSim(t *testing.T) {
	type blk struct {
		id   int64
		off  uint64 // from the segment's base
		size int64
	}
	tests := []struct {
		name   string
		blocks []blk  // allocated in order
		free   int64  // the block freed (checked)
		want   string // "" or a substring of the error
	}{
		{"disjoint", []blk{{1, 0, MiB}, {2, MiB, MiB}}, 1, ""},
		{"adjacent ends", []blk{{1, 0, 512}, {2, 512, 512}}, 1, ""},
		{"same bytes", []blk{{1, 0, MiB}, {2, 0, MiB}}, 1, "block id 1 (1048576 bytes at 0x7f0000000000) was overwritten while live: word at 0x7f0000000000 (offset 0)"},
		{"tail overlap", []blk{{1, 0, MiB}, {2, MiB - 512, MiB}}, 1, "offset 1048064"},
		{"inside a large block", []blk{{1, 0, 4 * MiB}, {2, 3 * MiB, 512}}, 1, "live block id 2 covers it: two live blocks share those bytes"},
		{"the newer block is intact", []blk{{1, 0, MiB}, {2, 0, MiB}}, 2, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSim(SimOptions{})
			base, err := s.Alloc(8 * MiB)
			if err != nil {
				t.Fatal(err)
			}
			c, err := NewCanary(s, CanaryOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range tc.blocks {
				if err := c.Alloc(b.id, base+b.off, b.size); err != nil {
					t.Fatal(err)
				}
			}
			err = c.Free(tc.free)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("false alarm: %v", err)
				}
				return
			}
			var ce *CanaryError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a *CanaryError containing %q", err, tc.want)
			}
		})
	}
}

func TestCanaryMemoryMustBeBacked(t *testing.T) {
	s := NewSim(SimOptions{})
	c, _ := NewCanary(s, CanaryOptions{})
	r, _ := s.Reserve(8 * MiB)
	s.Map(r, 2*MiB)
	if err := c.Alloc(1, r, 2*MiB); err != nil {
		t.Fatalf("mapped page: %v", err)
	}
	if err := c.Alloc(2, r+2*MiB-512, 1024); err == nil || !strings.Contains(err.Error(), "is not mapped") {
		t.Errorf("block over an unmapped page: %v", err)
	}
	if err := c.Alloc(3, 0x1000, 512); err == nil || !strings.Contains(err.Error(), "not inside a segment or a reserved range") {
		t.Errorf("block outside the device: %v", err)
	}
	// Unmapping forgets the content: memory mapped again reads zero, so a
	// block whose pages were unmapped under it fails its check.
	s.Unmap(r, 2*MiB)
	s.Map(r, 2*MiB)
	if err := c.Free(1); err == nil || !strings.Contains(err.Error(), "holds 0x00000000") {
		t.Errorf("block whose pages were remapped: %v", err)
	}
	if err := c.Free(1); err == nil || !strings.Contains(err.Error(), "never saw allocated") {
		t.Errorf("double free: %v", err)
	}
}

// fakeMemory records the ranges checked, to test sampling.
type fakeMemory struct {
	Sim
	checked [][2]uint64
}

func (f *fakeMemory) CheckD32(addr uint64, size int64, v uint32) (uint64, uint32, bool, error) {
	f.checked = append(f.checked, [2]uint64{addr, addr + uint64(size)})
	return f.Sim.CheckD32(addr, size, v)
}

func (f *fakeMemory) CheapCheck() bool { return false }

func TestCanarySamplesLargeBlocks(t *testing.T) {
	f := &fakeMemory{Sim: *NewSim(SimOptions{})}
	base, _ := f.Alloc(64 * MiB)
	c, _ := NewCanary(f, CanaryOptions{FullBelow: MiB, Window: 4096, Windows: 4})
	c.Alloc(1, base, MiB)
	c.Alloc(2, base+MiB, 10*MiB)
	if err := c.Free(1); err != nil || len(f.checked) != 1 || f.checked[0] != [2]uint64{base, base + MiB} {
		t.Fatalf("small block: %v, checked %x, want all of it", err, f.checked)
	}
	f.checked = nil
	if err := c.Free(2); err != nil {
		t.Fatal(err)
	}
	b, e := base+MiB, base+11*MiB
	if len(f.checked) != 6 || f.checked[0] != [2]uint64{b, b + 4096} || f.checked[5] != [2]uint64{e - 4096, e} {
		t.Fatalf("large block: checked %x, want head, 4 windows, tail", f.checked)
	}
	st := c.Stats()
	if st.Fills != 2 || st.Checks != 2 || st.SampledChecks != 1 || st.ReadBytes != MiB+6*4096 || st.FilledBytes != 11*MiB {
		t.Errorf("stats %+v", st)
	}
}

func TestCanaryNeedsPatternMemory(t *testing.T) {
	type plain struct{ Device }
	if _, err := NewCanary(plain{NewSim(SimOptions{})}, CanaryOptions{}); err == nil || !strings.Contains(err.Error(), "cannot write and read back") {
		t.Errorf("device without PatternMemory: %v", err)
	}
}

func TestCanaryCheckLive(t *testing.T) {
	s := NewSim(SimOptions{})
	base, _ := s.Alloc(8 * MiB)
	c, _ := NewCanary(s, CanaryOptions{})
	c.Alloc(1, base, MiB)
	c.Alloc(2, base+MiB, MiB)
	if err := c.CheckLive(); err != nil || c.Live() != 2 || c.Stats().Checks != 2 {
		t.Fatalf("clean: %v, %d live, stats %+v", err, c.Live(), c.Stats())
	}
	c.Alloc(3, base+MiB+4096, 512) // inside block 2
	var ce *CanaryError
	if err := c.CheckLive(); !errors.As(err, &ce) || ce.ID != 2 || ce.Over != 3 {
		t.Errorf("overlap among live blocks: %v", err)
	}
}
