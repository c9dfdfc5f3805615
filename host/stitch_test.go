package host

import (
	"math/rand"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/sdk/abi"
)

// stitcher is a Go test policy: expandable segments with 2 MiB pages and
// release answers from a table by phase (attempts past the table: nothing).
type stitcher struct {
	NoHooks
	phase0 int64   // answer of phase 0
	phase1 []int64 // answers of phase 1 by attempt
	keep   bool    // config key 5
	minor  int     // ABI minor declared
	armed  *bool   // when set and false: release nothing (setting up)
}

func (p stitcher) Implements(h abi.Hook) bool {
	return h == abi.HookSegmentMode || h == abi.HookRelease
}
func (p stitcher) SegmentMode(int32, int32) (int64, error) { return 2 * MiB, nil }
func (p stitcher) Release(phase int32, _ int64, _, _, attempt int32) (int64, error) {
	if p.armed != nil && !*p.armed {
		return abi.ActNothing, nil
	}
	if phase == abi.PhaseBeforeGrow {
		return p.phase0, nil
	}
	if int(attempt) < len(p.phase1) {
		return p.phase1[attempt], nil
	}
	return abi.ActNothing, nil
}
func (p stitcher) StitchKeep() bool { return p.keep }
func (p stitcher) ABIMinor() int    { return p.minor }

// plainDevice hides the sim's Stitcher: a device that cannot stitch.
type plainDevice struct{ cudadriver.Device }

// holes: three 4 MiB blocks fill a 12 MiB expandable segment, the outer
// two are freed: 8 MiB free, in two 4 MiB holes around a live block.
const holes = "a 0 4MiB; a 1 4MiB; a 2 4MiB; f 0; f 2"

func TestStitch(t *testing.T) {
	stitch, relStitched := int64(abi.ActStitch), int64(abi.ActReleaseStitched)
	grow := int64(abi.StitchGrow<<abi.ActionBits | abi.ActStitch)
	tests := []struct {
		name    string
		pol     stitcher
		capMiB  int64  // device capacity; 0: 12 MiB, the holes' segment fills it
		plain   bool   // a device without Stitcher
		steps   string // after holes
		err     string // substring of the error of the last step
		want    Stats  // the fields compared: see below
		stitchd bool   // id 3 lives in a stitched range
	}{
		{name: "phase 0 stitch on a miss", pol: stitcher{phase0: stitch, minor: 5}, steps: "a 3 6MiB",
			want: Stats{Stitches: 1, Stitched: 6 * MiB, PeakStitched: 6 * MiB, Reserved: 12 * MiB, Allocated: 10 * MiB}, stitchd: true},
		{name: "phase 1 stitch after growth failed", pol: stitcher{phase1: []int64{stitch}, minor: 5}, steps: "a 3 6MiB",
			want: Stats{Stitches: 1, Stitched: 6 * MiB, PeakStitched: 6 * MiB, Reserved: 12 * MiB, Allocated: 10 * MiB}, stitchd: true},
		{name: "not enough pages: growth, then OOM", pol: stitcher{phase0: stitch, phase1: []int64{stitch}, minor: 5}, steps: "a 3 10MiB",
			want: Stats{FailedStitches: 2, OOMs: 1, Reserved: 12 * MiB, Allocated: 4 * MiB}},
		{name: "keep 0: torn down at its free", pol: stitcher{phase0: stitch, minor: 5}, steps: "a 3 6MiB; f 3",
			want: Stats{Stitches: 1, StitchTeardowns: 1, PeakStitched: 6 * MiB, Reserved: 12 * MiB, Allocated: 4 * MiB}},
		{name: "keep 1: cached and reused by best fit", pol: stitcher{phase0: stitch, keep: true, minor: 5}, steps: "a 3 6MiB; f 3; a 4 5MiB",
			want: Stats{Stitches: 1, Stitched: 6 * MiB, PeakStitched: 6 * MiB, Reserved: 12 * MiB, Allocated: 10 * MiB}},
		{name: "release stitched, then search again", pol: stitcher{phase0: stitch, phase1: []int64{relStitched}, keep: true, minor: 5},
			steps: "a 3 6MiB; f 3; f 1; a 4 12MiB",
			want:  Stats{Stitches: 1, StitchTeardowns: 1, FailedStitches: 1, PeakStitched: 6 * MiB, Reserved: 12 * MiB, Allocated: 12 * MiB}},
		{name: "empty_cache tears down first", pol: stitcher{phase0: stitch, keep: true, minor: 5}, steps: "a 3 6MiB; f 3; e",
			want: Stats{Stitches: 1, StitchTeardowns: 1, PeakStitched: 6 * MiB, Reserved: 4 * MiB, Allocated: 4 * MiB}},
		{name: "release cached tears down first", pol: stitcher{phase0: stitch, phase1: []int64{abi.ActReleaseCached}, keep: true, minor: 5},
			steps: "a 3 6MiB; f 3; a 4 14MiB",
			want:  Stats{Stitches: 1, StitchTeardowns: 1, FailedStitches: 1, OOMs: 1, PeakStitched: 6 * MiB, Reserved: 4 * MiB, Allocated: 4 * MiB}},
		{name: "a 1.4 policy answering 4", pol: stitcher{phase0: stitch, minor: 4}, steps: "a 3 6MiB",
			err: "event 0: policy_release(phase=0, rounded=6291456, pool=1, stream=0, attempt=0) answered 4: unknown release action (the low 4 bits must be 0..3; stitch (4) and release stitched (5) need ABI 1.5)"},
		{name: "a 1.4 policy answering 5", pol: stitcher{phase0: relStitched, minor: 4}, steps: "a 3 6MiB", err: "answered 5: unknown release action"},
		{name: "grow then stitch: 8 MiB free pages + 2 MiB new", pol: stitcher{phase0: grow, minor: 5}, capMiB: 16, steps: "a 3 10MiB",
			want: Stats{Stitches: 1, Stitched: 10 * MiB, PeakStitched: 10 * MiB, Reserved: 14 * MiB, Allocated: 14 * MiB}, stitchd: true},
		{name: "grow then stitch, no room: nothing mapped, OOM", pol: stitcher{phase0: grow, phase1: []int64{grow}, minor: 5}, steps: "a 3 10MiB",
			want: Stats{FailedStitches: 2, OOMs: 1, Reserved: 12 * MiB, Allocated: 4 * MiB}},
		{name: "plain stitch fails; contiguous growth needs 6 MiB past the 4 MiB room: OOM", pol: stitcher{phase0: stitch, minor: 5}, capMiB: 16,
			steps: "a 3 10MiB", want: Stats{FailedStitches: 1, OOMs: 1, Reserved: 12 * MiB, Allocated: 4 * MiB}},
		{name: "stitch with argument 2", pol: stitcher{phase0: 2<<4 | stitch, minor: 5}, steps: "a 3 6MiB",
			err: "action stitch (4) takes argument 0 (free pages only) or 1 (grow for the rest)"},
		{name: "release stitched with an argument", pol: stitcher{phase0: 1<<4 | relStitched, minor: 5}, steps: "a 3 6MiB",
			err: "action release stitched (5) takes no argument"},
		{name: "device without Stitcher", pol: stitcher{phase0: stitch, phase1: []int64{stitch}, minor: 5}, plain: true, steps: "a 3 6MiB",
			want: Stats{FailedStitches: 2, OOMs: 1, Reserved: 12 * MiB, Allocated: 4 * MiB}},
		{name: "private pool: the default pool's holes are not its", pol: stitcher{phase0: stitch, minor: 5}, steps: "a 3 6MiB 0 7",
			want: Stats{FailedStitches: 1, OOMs: 1, Reserved: 12 * MiB, Allocated: 4 * MiB}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			capacity := int64(12 * MiB)
			if tc.capMiB > 0 {
				capacity = tc.capMiB * MiB
			}
			var dev cudadriver.Device = cudadriver.NewSim(cudadriver.SimOptions{Capacity: capacity})
			if tc.plain {
				dev = plainDevice{dev}
			}
			var ops []DriverOp
			armed := false
			tc.pol.armed = &armed
			a := New(dev, tc.pol, Options{OnDriverOp: func(op DriverOp) { ops = append(ops, op) }})
			script(t, a, holes)
			armed = true
			err := runScript(t, a, tc.steps)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := a.Stats()
			got := Stats{Stitches: s.Stitches, StitchTeardowns: s.StitchTeardowns, FailedStitches: s.FailedStitches, Stitched: s.Stitched,
				PeakStitched: s.PeakStitched, OOMs: s.OOMs, Reserved: s.Reserved, Allocated: s.Allocated}
			if got != tc.want {
				t.Errorf("stats\n got %+v\nwant %+v", got, tc.want)
			}
			if b, ok := a.Live(3); ok != tc.stitchd && tc.stitchd || ok && b.Segment().Stitched != tc.stitchd {
				t.Errorf("id 3 live %v, in a stitched range %v; want %v", ok, ok && b.Segment().Stitched, tc.stitchd)
			}
			var maps, unmaps int
			for _, op := range ops {
				switch op.Action {
				case ActionStitchMap:
					maps++
					var n int64
					for _, sp := range op.Sources {
						n += sp.Size
					}
					if n != op.Size || len(op.Sources) == 0 {
						t.Errorf("stitch_map of %d bytes names sources of %d: %+v", op.Size, n, op.Sources)
					}
				case ActionStitchUnmap:
					unmaps++
				}
			}
			if int64(maps) != s.Stitches || int64(unmaps) != s.StitchTeardowns {
				t.Errorf("driver log: %d stitch_map, %d stitch_unmap", maps, unmaps)
			}
			if sim, ok := dev.(*cudadriver.Sim); ok {
				if c := sim.Counters(); c.AliasMaps != s.Stitches || c.AliasUnmaps != s.StitchTeardowns {
					t.Errorf("device: %d alias maps, %d unmaps", c.AliasMaps, c.AliasUnmaps)
				}
				if sim.Used() != s.Reserved {
					t.Errorf("device holds %d bytes, reserved %d (stitched bytes counted twice?)", sim.Used(), s.Reserved)
				}
			}
		})
	}
}

// TestStitchSources: the stitch takes the largest holes first, whole
// granules only, and the request rounded up to the granularity; the stitched
// block is offered to policy_pick_block with FlagStitched.
func TestStitchSources(t *testing.T) {
	armed := false
	a := New(cudadriver.NewSim(cudadriver.SimOptions{Capacity: 16 * MiB}), stitcher{phase0: abi.ActStitch, keep: true, minor: 5, armed: &armed}, Options{})
	// Holes of 3 MiB at 2 MiB (one whole granule, 2..4 MiB) and of 6 MiB at 8 MiB.
	script(t, a, "a 0 2MiB; a 1 3MiB; a 2 3MiB; a 3 6MiB; a 4 2MiB; f 1; f 3")
	armed = true
	script(t, a, "a 5 7MiB")
	b, _ := a.Live(5)
	ss := b.Segment()
	if !ss.Stitched || b.Size != 8*MiB || len(ss.Sources()) != 2 {
		t.Fatalf("block %+v in %+v", b, ss)
	}
	if s := ss.Sources(); s[0].Addr-a.exp[1][0].Addr != 8*MiB || s[0].Size != 6*MiB || s[1].Addr-a.exp[1][0].Addr != 2*MiB || s[1].Size != 2*MiB {
		t.Errorf("sources at %#x (%d) and %#x (%d)", s[0].Addr, s[0].Size, s[1].Addr, s[1].Size)
	}
	if got := a.Stat(abi.StatStitched, 0); got != 8*MiB {
		t.Errorf("stat 20 = %d", got)
	}
	script(t, a, "f 5")
	if got := a.Stat(abi.StatStitchedFree, 0); got != 8*MiB {
		t.Errorf("stat 21 = %d", got)
	}
	fl := a.lists[1][0]
	if n := a.collect(fl, abi.OrderBestFit, 7*MiB); n != 1 || a.cands[0].Flags != abi.FlagStitched {
		t.Errorf("candidates %d, flags %#x", n, a.cands[0].Flags)
	}
}

// TestCheckCatchesSharedPages: the checker finds two live blocks on the
// same physical page, and a lent block no stitched range names.
func TestCheckCatchesSharedPages(t *testing.T) {
	forge := func(t *testing.T, f func(a *Allocator, src *Block)) error {
		armed := false
		a := New(cudadriver.NewSim(cudadriver.SimOptions{Capacity: 12 * MiB}), stitcher{phase0: abi.ActStitch, minor: 5, armed: &armed}, Options{})
		script(t, a, holes)
		armed = true
		script(t, a, "a 3 6MiB")
		b, _ := a.Live(3)
		f(a, b.Segment().Sources()[0])
		return a.Check()
	}
	err := forge(t, func(a *Allocator, src *Block) {
		src.Lent, src.Allocated, src.ID = false, true, 99 // the lent page handed out again
		a.live.set(99, src)
	})
	if err == nil || !strings.Contains(err.Error(), "share physical memory") {
		t.Errorf("two live blocks on one page: %v", err)
	}
	err = forge(t, func(a *Allocator, src *Block) {
		ss := src.LentTo()
		ss.sources = ss.sources[1:]
	})
	if err == nil || !strings.Contains(err.Error(), "not a source of the stitched range") {
		t.Errorf("a lent block no range names: %v", err)
	}
}

// stitchingRandom is randomPolicy that also stitches and tears down.
type stitchingRandom struct {
	*randomPolicy
	keep bool
}

func (p stitchingRandom) Implements(h abi.Hook) bool {
	return h == abi.HookRelease || h == abi.HookSegmentMode || p.randomPolicy.Implements(h)
}
func (p stitchingRandom) SegmentMode(pool, _ int32) (int64, error) {
	return []int64{2 * MiB, 2 * MiB, 20 * MiB}[pool%3], nil
}
func (p stitchingRandom) Release(phase int32, rounded int64, pool, stream, attempt int32) (int64, error) {
	switch p.r.Intn(4) {
	case 0:
		return abi.ActStitch, nil
	case 1:
		if p.r.Intn(2) == 0 {
			return abi.ActReleaseStitched, nil
		}
	}
	return p.randomPolicy.Release(phase, rounded, pool, stream, attempt)
}
func (p stitchingRandom) StitchKeep() bool { return p.keep }

// TestRandomStitchingKeepsInvariants: random workloads under random
// policies that stitch, keep or tear down, on small devices, with every
// invariant (no two live blocks on the same physical memory included)
// checked after every event, and the canary's view of the device too.
func TestRandomStitchingKeepsInvariants(t *testing.T) {
	seeds, events := 40, 1200
	if testing.Short() {
		seeds, events = 8, 400
	}
	var stitches, teardowns int64
	for seed := int64(0); seed < int64(seeds); seed++ {
		r := rand.New(rand.NewSource(seed))
		capacity := []int64{48 << 20, 96 << 20, 256 << 20}[r.Intn(3)]
		sim := cudadriver.NewSim(cudadriver.SimOptions{Capacity: capacity})
		a := New(sim, stitchingRandom{newRandomPolicy(seed), seed%2 == 0}, Options{})
		can, _ := cudadriver.NewCanary(sim, cudadriver.CanaryOptions{})
		var live []int64
		next := int64(0)
		for i := 0; i < events; i++ {
			a.SetEvent(int64(i))
			var err error
			switch k := r.Intn(12); {
			case k < 6 || len(live) == 0:
				err = a.Alloc(next, 1+r.Int63n(12<<20), int64(r.Intn(2)), 0)
				if b, ok := a.Live(next); ok {
					live = append(live, next)
					if err == nil {
						err = can.Alloc(next, b.Addr, b.Size)
					}
				}
				next++
			case k < 11:
				j := r.Intn(len(live))
				if err = can.Free(live[j]); err == nil {
					err = a.Free(live[j])
				}
				live[j] = live[len(live)-1]
				live = live[:len(live)-1]
			default:
				err = a.EmptyCache()
			}
			if err != nil {
				t.Fatalf("seed %d event %d: %v", seed, i, err)
			}
			if err := a.Check(); err != nil {
				t.Fatalf("seed %d event %d: invariant broken: %v", seed, i, err)
			}
			if sim.Used() != a.Stats().Reserved {
				t.Fatalf("seed %d event %d: device holds %d bytes, reserved %d", seed, i, sim.Used(), a.Stats().Reserved)
			}
		}
		stitches += a.Stats().Stitches
		teardowns += a.Stats().StitchTeardowns
	}
	if stitches == 0 || teardowns == 0 {
		t.Errorf("%d stitches, %d teardowns: the random runs never reached stitching", stitches, teardowns)
	}
	t.Logf("%d stitches, %d teardowns", stitches, teardowns)
}
