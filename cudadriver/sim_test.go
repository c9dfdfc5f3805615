package cudadriver

import (
	"errors"
	"testing"
)

const MiB = 1 << 20

func TestSimClassicSegments(t *testing.T) {
	s := NewSim(SimOptions{Capacity: 10 * MiB})
	a, err := s.Alloc(3 * MiB) // footprint 4 MiB
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Alloc(4 * MiB)
	if err != nil {
		t.Fatal(err)
	}
	if a != DefaultSimBase || b != DefaultSimBase+4*MiB {
		t.Errorf("addresses %#x %#x, want %#x and %#x (granularity-aligned, in order)", a, b, uint64(DefaultSimBase), uint64(DefaultSimBase+4*MiB))
	}
	if _, err := s.Alloc(4 * MiB); !errors.Is(err, ErrOutOfMemory) {
		t.Errorf("alloc past capacity: %v, want ErrOutOfMemory", err)
	}
	var oom *OOMError
	if _, err := s.Alloc(3 * MiB); !errors.As(err, &oom) || oom.Free != 2*MiB || oom.Capacity != 10*MiB {
		t.Errorf("OOM error %v, want free 2 MiB of 10 MiB", err)
	}
	if free, total := s.MemInfo(); free != 2*MiB || total != 10*MiB {
		t.Errorf("MemInfo = %d, %d", free, total)
	}
	if err := s.Free(a); err != nil {
		t.Fatal(err)
	}
	if err := s.Free(a); err == nil {
		t.Error("double free accepted")
	}
	// The freed range is reused first (first fit in address order).
	c, err := s.Alloc(2 * MiB)
	if err != nil || c != a {
		t.Errorf("alloc after free = %#x, %v; want the freed address %#x", c, err, a)
	}
	got := s.Counters()
	want := Counters{Allocs: 3, Frees: 1, FailedAllocs: 2, AllocBytes: 9 * MiB, FreeBytes: 3 * MiB}
	if got != want {
		t.Errorf("counters %+v, want %+v", got, want)
	}
}

func TestSimDeterministic(t *testing.T) {
	run := func() []uint64 {
		s := NewSim(SimOptions{})
		var out []uint64
		var live []uint64
		for i := int64(1); i < 200; i++ {
			a, err := s.Alloc(i * 700 * 1024)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, a)
			live = append(live, a)
			if i%3 == 0 {
				s.Free(live[i%int64(len(live))])
				live = append(live[:i%int64(len(live))], live[i%int64(len(live))+1:]...)
			}
		}
		return out
	}
	a, b := run(), run()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("allocation %d: %#x then %#x", i, a[i], b[i])
		}
	}
}

func TestSimMapping(t *testing.T) {
	s := NewSim(SimOptions{Capacity: 8 * MiB})
	base, err := s.Reserve(64 * MiB)
	if err != nil {
		t.Fatal(err)
	}
	if free, _ := s.MemInfo(); free != 8*MiB {
		t.Errorf("a reservation used memory: %d free", free)
	}
	steps := []struct {
		name string
		err  error
		ok   bool
	}{
		{"map 4 MiB", s.Map(base, 4*MiB), true},
		{"map overlapping", s.Map(base+2*MiB, 2*MiB), false},
		{"map unaligned", s.Map(base+MiB, 2*MiB), false},
		{"map outside", s.Map(base+64*MiB, 2*MiB), false},
		{"map past capacity", s.Map(base+4*MiB, 6*MiB), false},
		{"release while mapped", s.Release(base), false},
		{"unmap unmapped", s.Unmap(base+4*MiB, 2*MiB), false},
		{"unmap half", s.Unmap(base+2*MiB, 2*MiB), true},
		{"map again", s.Map(base+2*MiB, 6*MiB), true},
		{"unmap all", s.Unmap(base, 8*MiB), true},
		{"release", s.Release(base), true},
	}
	for _, st := range steps {
		if (st.err == nil) != st.ok {
			t.Errorf("%s: err = %v, want ok=%v", st.name, st.err, st.ok)
		}
	}
	c := s.Counters()
	if c.Maps != 2 || c.Unmaps != 2 || c.FailedMaps != 1 || c.MapBytes != 10*MiB || c.Reserves != 1 || c.Releases != 1 {
		t.Errorf("counters %+v", c)
	}
	if s.Used() != 0 {
		t.Errorf("used %d after everything was unmapped", s.Used())
	}
}

func TestSimUnlimited(t *testing.T) {
	s := NewSim(SimOptions{})
	if s.Info().Capacity != -1 || s.Info().Granularity != DefaultGranularity {
		t.Errorf("info %+v", s.Info())
	}
	if _, err := s.Alloc(1 << 40); err != nil {
		t.Errorf("1 TiB on an unlimited device: %v", err)
	}
	if _, err := s.Alloc(0); err == nil {
		t.Error("zero-byte alloc accepted")
	}
}

func TestSimPlaceNext(t *testing.T) {
	s := NewSim(SimOptions{})
	want := uint64(0x7f12_3456_0000)
	s.PlaceNext(want)
	a, err := s.Alloc(20 * MiB)
	if err != nil || a != want {
		t.Fatalf("placed alloc at %#x, %v; want %#x", a, err, want)
	}
	// A placement over a live range falls back to first fit.
	s.PlaceNext(want + MiB)
	b, err := s.Alloc(2 * MiB)
	if err != nil || b != DefaultSimBase {
		t.Errorf("conflicting placement gave %#x, %v; want the first free address %#x", b, err, uint64(DefaultSimBase))
	}
	// Addresses below the base can be placed too, and freed back.
	s.PlaceNext(0x5000_0000_0000)
	c, err := s.Reserve(40 * MiB)
	if err != nil || c != 0x5000_0000_0000 {
		t.Errorf("placed reserve at %#x, %v", c, err)
	}
	for _, f := range []func() error{func() error { return s.Free(a) }, func() error { return s.Free(b) }, func() error { return s.Release(c) }} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	if d, _ := s.Alloc(2 * MiB); d != DefaultSimBase {
		t.Errorf("after freeing everything the first alloc is at %#x, want %#x", d, uint64(DefaultSimBase))
	}
}
