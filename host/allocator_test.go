package host

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/sdk/abi"
)

const MiB = 1 << 20

// script runs a tiny workload language against an allocator, checking the
// invariants after every step: "a ID SIZE [STREAM [POOL]]" allocates (from
// private pool POOL when given and not 0), "f ID" frees, "r ID" requests a
// free that waits for other streams (free_requested), "rp POOL" releases a
// private pool, "e" empties the cache. Sizes take a MiB/KiB suffix.
func script(t *testing.T, a *Allocator, steps string) {
	t.Helper()
	if err := runScript(t, a, steps); err != nil {
		t.Fatal(err)
	}
}

// runScript is script returning the first step's error instead of failing.
func runScript(t *testing.T, a *Allocator, steps string) error {
	t.Helper()
	for i, line := range strings.Split(strings.TrimSpace(steps), ";") {
		f := strings.Fields(line)
		a.SetEvent(int64(i))
		var err error
		switch f[0] {
		case "a":
			var stream, pool int64
			if len(f) > 3 {
				stream = atoi(t, f[3])
			}
			if len(f) > 4 {
				pool = atoi(t, f[4])
			}
			err = a.AllocIn(atoi(t, f[1]), parseSize(t, f[2]), stream, pool, 0)
		case "f":
			err = a.Free(atoi(t, f[1]))
		case "r":
			err = a.FreeRequested(atoi(t, f[1]))
		case "rp":
			err = a.ReleasePool(atoi(t, f[1]))
		case "e":
			err = a.EmptyCache()
		case "ep":
			err = a.EmptyCachePool(atoi(t, f[1]))
		default:
			t.Fatalf("bad step %q", line)
		}
		if err != nil {
			return fmt.Errorf("step %d %q: %w", i, line, err)
		}
		if err := a.Check(); err != nil {
			t.Fatalf("after step %d %q: invariant broken: %v", i, line, err)
		}
	}
	return nil
}

func atoi(t *testing.T, s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func parseSize(t *testing.T, s string) int64 {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "MiB"):
		mult, s = MiB, strings.TrimSuffix(s, "MiB")
	case strings.HasSuffix(s, "KiB"):
		mult, s = 1024, strings.TrimSuffix(s, "KiB")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return int64(f * float64(mult))
}

// repeat expands "a %d 16MiB" for ids from..to-1.
func repeat(format string, from, to int) string {
	var parts []string
	for i := from; i < to; i++ {
		parts = append(parts, fmt.Sprintf(format, i))
	}
	return strings.Join(parts, ";")
}

func newDefault(capacity int64) *Allocator {
	return New(cudadriver.NewSim(cudadriver.SimOptions{Capacity: capacity}), NoHooks{}, Options{})
}

// expandable is a policy that puts every pool in an expandable segment with
// PyTorch's page sizes.
type expandable struct{ NoHooks }

func (expandable) Implements(h abi.Hook) bool { return h == abi.HookSegmentMode }
func (expandable) SegmentMode(pool, _ int32) (int64, error) {
	return DefaultPage(pool), nil
}

func TestDevlogExamples(t *testing.T) {
	tests := []struct {
		name         string
		policy       Policy
		steps        string
		peakReserved int64
		reservedEnd  int64
	}{
		{"small then large", NoHooks{},
			repeat("a %d 16MiB", 0, 8) + ";" + repeat("f %d", 0, 8) + ";" + repeat("a %d 32MiB", 8, 12),
			256 * MiB, 256 * MiB},
		{"large then small", NoHooks{},
			repeat("a %d 32MiB", 0, 4) + ";" + repeat("f %d", 0, 4) + ";" + repeat("a %d 16MiB", 4, 12),
			128 * MiB, 128 * MiB},
		{"split and merge back", NoHooks{},
			"a 0 32MiB; f 0; a 1 16MiB; a 2 16MiB; f 1; f 2; a 3 32MiB",
			32 * MiB, 32 * MiB},
		{"expandable: 8x16 MiB maps 7 pages", expandable{},
			repeat("a %d 16MiB", 0, 8), 140 * MiB, 140 * MiB},
		{"expandable: then 4x32 MiB needs no page", expandable{},
			repeat("a %d 16MiB", 0, 8) + ";" + repeat("f %d", 0, 8) + ";" + repeat("a %d 32MiB", 8, 12),
			140 * MiB, 140 * MiB},
		{"expandable: 2 MiB, free, 0.5 MiB", expandable{}, "a 0 2MiB; f 0; a 1 0.5MiB", 22 * MiB, 22 * MiB},
		{"expandable: 2 MiB, free, 2 MiB", expandable{}, "a 0 2MiB; f 0; a 1 2MiB", 20 * MiB, 20 * MiB},
		{"expandable: pinned splits grow the segment", expandable{},
			"a 0 16MiB; a 1 16MiB; a 2 16MiB; a 3 16MiB; f 0; f 2; a 4 32MiB", 100 * MiB, 100 * MiB},
		{"empty cache releases free segments", NoHooks{},
			"a 0 16MiB; a 1 16MiB; f 0; e", 32 * MiB, 16 * MiB},
		{"expandable: empty cache unmaps whole free pages", expandable{},
			"a 0 30MiB; a 1 4MiB; f 0; e", 40 * MiB, 20 * MiB},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := New(cudadriver.NewSim(cudadriver.SimOptions{}), tc.policy, Options{})
			script(t, a, tc.steps)
			s := a.Stats()
			if s.PeakReserved != tc.peakReserved || s.Reserved != tc.reservedEnd {
				t.Errorf("peak reserved %d MiB, reserved at end %d MiB; want %d and %d",
					s.PeakReserved/MiB, s.Reserved/MiB, tc.peakReserved/MiB, tc.reservedEnd/MiB)
			}
		})
	}
}

func TestDefaultRules(t *testing.T) {
	round := []struct{ in, want int64 }{
		{1, 512}, {511, 512}, {512, 512}, {513, 1024}, {MiB, MiB}, {MiB + 1, MiB + 512},
	}
	for _, c := range round {
		if got := DefaultRoundSize(c.in); got != c.want {
			t.Errorf("DefaultRoundSize(%d) = %d, want %d", c.in, got, c.want)
		}
	}
	pools := []struct {
		in   int64
		want int32
	}{{512, 0}, {MiB, 0}, {MiB + 512, 1}}
	for _, c := range pools {
		if got := DefaultPool(c.in); got != c.want {
			t.Errorf("DefaultPool(%d) = %d, want %d", c.in, got, c.want)
		}
	}
	segs := []struct{ in, want int64 }{
		{512, 2 * MiB}, {MiB, 2 * MiB}, {MiB + 512, 20 * MiB}, {10*MiB - 512, 20 * MiB},
		{10 * MiB, 10 * MiB}, {10*MiB + 512, 12 * MiB}, {11 * MiB, 12 * MiB}, {12 * MiB, 12 * MiB},
	}
	for _, c := range segs {
		if got := DefaultSegmentSize(c.in); got != c.want {
			t.Errorf("DefaultSegmentSize(%d) = %d, want %d", c.in, got, c.want)
		}
	}
	splits := []struct {
		block, req int64
		pool       int32
		flags      int32
		want       int64
	}{
		{2 * MiB, 2*MiB - 512, 0, 0, 2*MiB - 512},                     // small: remainder 512 splits
		{1024, 1024, 0, 0, 1024},                                      // small: remainder 0 does not
		{20 * MiB, 19 * MiB, 1, 0, 20 * MiB},                          // large: remainder exactly 1 MiB does not
		{20 * MiB, 19*MiB - 512, 1, 0, 19*MiB - 512},                  // large: remainder 1 MiB + 512 splits
		{20 * MiB, 19.5 * MiB, 1, 0, 20 * MiB},                        // the devlog's 19.5 MiB keeps all 20
		{12 * MiB, 10.5 * MiB, 1, 0, 10.5 * MiB},                      // 10.5 MiB in 12 MiB: 1.5 MiB remainder splits
		{20 * MiB, 20*MiB - 512, 1, abi.FlagExpandable, 20*MiB - 512}, // expandable: remainder 512 splits
	}
	for _, c := range splits {
		if got := DefaultSplit(c.block, c.req, c.pool, c.flags); got != c.want {
			t.Errorf("DefaultSplit(%d, %d, pool %d, flags %d) = %d, want %d", c.block, c.req, c.pool, c.flags, got, c.want)
		}
	}
}

func TestMergeOnlyInsideSegment(t *testing.T) {
	a := newDefault(0)
	// Two 12 MiB segments; their free blocks never merge across segments.
	script(t, a, "a 0 12MiB; a 1 12MiB; f 0; f 1; a 2 24MiB")
	if s := a.Stats(); s.Reserved != 48*MiB || s.SegmentAllocs != 3 {
		t.Errorf("reserved %d MiB in %d segment allocs, want 48 MiB in 3", s.Reserved/MiB, s.SegmentAllocs)
	}
	// Inside a segment the freed halves merge back.
	b := newDefault(0)
	script(t, b, "a 0 32MiB; f 0; a 1 16MiB; a 2 16MiB; f 1; f 2")
	segs := b.Segments()
	if len(segs) != 1 || len(segs[0].Blocks()) != 1 {
		t.Errorf("after freeing both halves: %d segments, want 1 segment of one block", len(segs))
	}
}

func TestOOMAndRelease(t *testing.T) {
	a := newDefault(64 * MiB)
	// 3x20 MiB fills 60 MiB; a fourth fails; freeing one and asking 40 MiB
	// releases the cached segment and retries.
	script(t, a, "a 0 20MiB; a 1 20MiB; a 2 20MiB; a 3 20MiB; f 0; f 1; a 4 40MiB; f 3")
	s := a.Stats()
	if s.OOMs != 1 || s.FirstOOM != 3 || s.FreesOfFailed != 1 {
		t.Errorf("OOMs %d first %d frees of failed %d, want 1, 3, 1", s.OOMs, s.FirstOOM, s.FreesOfFailed)
	}
	if s.SegmentFrees != 2 || s.Reserved != 60*MiB {
		t.Errorf("segment frees %d, reserved %d MiB; want 2 and 60 MiB", s.SegmentFrees, s.Reserved/MiB)
	}
}

func TestStreamsDoNotShareBlocks(t *testing.T) {
	a := newDefault(0)
	script(t, a, "a 0 16MiB 7; f 0; a 1 16MiB 9")
	if s := a.Stats(); s.SegmentAllocs != 2 {
		t.Errorf("segment allocs %d, want 2 (a block freed on stream 7 must not serve stream 9)", s.SegmentAllocs)
	}
}

// equalMerge merges only equal-size neighbours, and asks for repeated
// merges (ABI 1.2, config key 3) when repeat is set.
type equalMerge struct {
	NoHooks
	repeat bool
}

func (equalMerge) Implements(h abi.Hook) bool { return h == abi.HookMerge }

func (equalMerge) Merge(block, neighbour int64, _, _ int32) (int64, error) {
	if block == neighbour {
		return 1, nil
	}
	return 0, nil
}

func (p equalMerge) MergeRepeat() bool { return p.repeat }

// TestMergeRepeat: freeing id 2 merges it with the 512 bytes below, then
// with the 1 KiB above; the 2 KiB result has a free 2 KiB neighbour below
// it. Without repeated merges the two stay apart and 4 KiB comes from the
// segment's rest; with them the third merge is asked and 4 KiB lands at
// the base.
func TestMergeRepeat(t *testing.T) {
	for _, c := range []struct {
		repeat bool
		offset uint64 // of the 4 KiB allocation
	}{
		{false, 4096},
		{true, 0},
	} {
		a := New(cudadriver.NewSim(cudadriver.SimOptions{}), equalMerge{repeat: c.repeat}, Options{})
		script(t, a, "a 0 2KiB; a 1 512; a 2 512; a 3 1KiB; f 0; f 3; f 1; f 2; a 4 4KiB")
		segs := a.Segments()
		if len(segs) != 1 {
			t.Fatalf("repeat %v: %d segments, want 1", c.repeat, len(segs))
		}
		b4, _ := a.Live(4)
		if got := b4.Addr - segs[0].Addr; got != c.offset {
			t.Errorf("repeat %v: 4 KiB at offset %d, want %d", c.repeat, got, c.offset)
		}
	}
}
