package host

import (
	"strings"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
)

func TestAdopt(t *testing.T) {
	var ops []DriverOp
	a := New(cudadriver.NewSim(cudadriver.SimOptions{}), expandable{}, Options{OnDriverOp: func(op DriverOp) { ops = append(ops, op) }})
	const base = 0x7f10_0000_0000
	err := a.Adopt([]InitialSegment{
		{Addr: base, Size: 20 * MiB, Pool: 1, Blocks: []AdoptedBlock{{Size: 4 * MiB, ID: 7, Requested: 4*MiB - 100}, {Size: 16 * MiB, ID: -1}}},
		{Addr: base + 100*MiB, Size: 40 * MiB, Pool: 1, Expandable: true, Blocks: []AdoptedBlock{{Size: 40 * MiB, ID: 8, Requested: 40 * MiB}}},
		{Addr: base + 180*MiB, Size: 20 * MiB, Pool: 1, Expandable: true, Blocks: []AdoptedBlock{{Size: 10 * MiB, ID: -1}, {Size: 10 * MiB, ID: 9, Requested: 10 * MiB}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
	s := a.Stats()
	if s.Reserved != 80*MiB || s.Allocated != 54*MiB || s.LiveBlocks != 3 {
		t.Errorf("reserved %d MiB allocated %d MiB live %d", s.Reserved/MiB, s.Allocated/MiB, s.LiveBlocks)
	}
	for _, op := range ops {
		if op.Event != -1 {
			t.Errorf("adopted state logged at event %d, want -1: %+v", op.Event, op)
		}
	}
	if b, _ := a.Live(7); b.Addr != base {
		t.Errorf("classic segment placed at %#x, want the recorded %#x", b.Addr, uint64(base))
	}
	if b, _ := a.Live(9); b.Addr != base+190*MiB {
		t.Errorf("expandable block at %#x, want %#x", b.Addr, uint64(base+190*MiB))
	}
	script(t, a, "f 7; f 8; f 9; a 1 60MiB; e")
	// Freeing 8 and 9 leaves [100, 140) and [180, 200) free with an unmapped
	// hole between: a 60 MiB request maps pages at the end of the lower
	// run's hole only if it fits there (80 MiB hole: it does).
	if s := a.Stats(); s.Allocated != 60*MiB {
		t.Errorf("allocated %d MiB after the 60 MiB request", s.Allocated/MiB)
	}
}

func TestAdoptErrors(t *testing.T) {
	cases := []struct {
		seg  InitialSegment
		want string
	}{
		{InitialSegment{Addr: 1 << 40, Size: 20 * MiB, Pool: 1, Blocks: []AdoptedBlock{{Size: 10 * MiB, ID: -1}}}, "add up to"},
		{InitialSegment{Addr: 1 << 40, Size: 2 * MiB, Pool: 0, Blocks: []AdoptedBlock{{Size: 2*MiB - 100, ID: -1}, {Size: 100, ID: 1}}}, "multiples of 512"},
		{InitialSegment{Addr: 1 << 40, Size: 20 * MiB, Pool: 1, Expandable: true, Blocks: []AdoptedBlock{{Size: 20 * MiB, ID: -1}}}, "expandable_segments=true"},
	}
	for _, c := range cases {
		a := newDefault(0)
		if err := a.Adopt([]InitialSegment{c.seg}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Adopt(%+v) = %v, want an error containing %q", c.seg, err, c.want)
		}
	}
}
