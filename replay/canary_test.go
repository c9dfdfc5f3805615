package replay

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/internal/synth"
	"github.com/fraglab/fraglab/snapshot"
	"github.com/fraglab/fraglab/trace"
)

// TestCanaryCleanRuns: canary mode finds nothing on correct runs (classic
// and expandable segments, releases under a tight capacity) and changes
// no metric.
func TestCanaryCleanRuns(t *testing.T) {
	events := synth.Mixed(7, 3000, 40)
	for _, policy := range []string{"pytorch", "pytorch-expandable", "first-fit"} {
		for _, capacity := range []int64{0, 600 * MiB} {
			var ms [2]Metrics
			for i, canary := range []bool{false, true} {
				res, err := Run(context.Background(), synth.NewReader(events), builtin(t, policy),
					cudadriver.NewSim(cudadriver.SimOptions{Capacity: capacity}), Options{Canary: canary})
				if err != nil {
					t.Fatalf("%s capacity %d canary %v: %v", policy, capacity, canary, err)
				}
				if canary && (res.Canary == nil || res.Canary.Fills == 0 || res.Canary.Checks == 0) {
					t.Errorf("%s: canary stats %+v, want fills and checks", policy, res.Canary)
				}
				res.Metrics.NsPerEvent = 0
				ms[i] = res.Metrics
			}
			if ms[0] != ms[1] {
				t.Errorf("%s capacity %d: canary changed the metrics: %+v vs %+v", policy, capacity, ms[0], ms[1])
			}
		}
	}
}

// aliasingSim is a broken device: its second classic segment gets its own
// virtual address but the same memory as the first (as a driver that mapped
// two ranges onto one set of pages would). The host cannot see it; only
// memory contents can. Canary mode must catch the two live blocks sharing
// bytes.
type aliasingSim struct {
	*cudadriver.Sim
	allocs      int
	first       uint64
	alias, size uint64
}

func (a *aliasingSim) Alloc(size int64) (uint64, error) {
	addr, err := a.Sim.Alloc(size)
	a.allocs++
	switch a.allocs {
	case 1:
		a.first = addr
	case 2:
		a.alias, a.size = addr, uint64(size)
	}
	return addr, err
}

// phys translates an address of the aliased segment onto the first one.
func (a *aliasingSim) phys(addr uint64) uint64 {
	if a.alias != 0 && addr >= a.alias && addr < a.alias+a.size {
		return a.first + (addr - a.alias)
	}
	return addr
}

func (a *aliasingSim) FillD32(addr uint64, size int64, v uint32) error {
	return a.Sim.FillD32(a.phys(addr), size, v)
}

func (a *aliasingSim) CheckD32(addr uint64, size int64, v uint32) (uint64, uint32, bool, error) {
	return a.Sim.CheckD32(a.phys(addr), size, v)
}

func TestCanaryCatchesSharedMemory(t *testing.T) {
	events := []trace.Event{
		{Op: trace.OpAlloc, ID: 1, Size: 30 * MiB},
		{Op: trace.OpAlloc, ID: 2, Size: 30 * MiB}, // a second segment: aliased onto the first
		{Op: trace.OpFree, ID: 1},                  // its check finds block 2's pattern
		{Op: trace.OpFree, ID: 2},
	}
	dev := &aliasingSim{Sim: cudadriver.NewSim(cudadriver.SimOptions{})}
	_, err := Run(context.Background(), synth.NewReader(events), builtin(t, "pytorch"), dev, Options{Canary: true})
	var ce *cudadriver.CanaryError
	if !errors.As(err, &ce) || ce.ID != 1 || !strings.HasPrefix(err.Error(), "event 2: canary: block id 1 ") {
		t.Fatalf("error %v, want event 2's canary failure on block 1", err)
	}
	// Without canary mode nothing notices.
	dev = &aliasingSim{Sim: cudadriver.NewSim(cudadriver.SimOptions{})}
	if _, err := Run(context.Background(), synth.NewReader(events), builtin(t, "pytorch"), dev, Options{CheckInvariants: true}); err != nil {
		t.Fatalf("without canary: %v", err)
	}
}

// TestCanaryOnSnapshots: every real snapshot replays clean in canary mode,
// adopted initial blocks included.
func TestCanaryOnSnapshots(t *testing.T) {
	eachSharedWorkload(t, func(name string, w *snapshot.Workload) {
		r, initial := SnapshotInput(w)
		res, err := Run(context.Background(), r, builtin(t, "pytorch"), cudadriver.NewSim(cudadriver.SimOptions{}),
			Options{Initial: initial, Canary: true, Params: w.Settings.Params()})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.Canary.Checks == 0 {
			t.Errorf("%s: no block checked", name)
		}
	})
}
