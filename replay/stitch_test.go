package replay

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/internal/synth"
	"github.com/fraglab/fraglab/sdk/abi"
	"github.com/fraglab/fraglab/snapshot"
	"github.com/fraglab/fraglab/trace"
)

// keepStitching: expandable segments, a stitch before every growth, freed
// stitched blocks kept.
type keepStitching struct{ host.NoHooks }

func (keepStitching) Implements(h abi.Hook) bool {
	return h == abi.HookSegmentMode || h == abi.HookRelease
}
func (keepStitching) SegmentMode(int32, int32) (int64, error) { return 2 << 20, nil }
func (keepStitching) Release(phase int32, _ int64, _, _, _ int32) (int64, error) {
	if phase == abi.PhaseBeforeGrow {
		return abi.ActStitch, nil
	}
	return abi.ActNothing, nil
}
func (keepStitching) StitchKeep() bool { return true }

// TestStitchedRun: a run that stitches reports its metrics, names the
// sources in the driver log, passes canary mode and the invariant checker
// (writes through the stitched range land on its sources' pages, no live
// block shares them) and exports the stitched range as a segment marked
// stitched, which is not replayed back.
func TestStitchedRun(t *testing.T) {
	const mib = 1 << 20
	ev := []trace.Event{
		{Op: trace.OpAlloc, ID: 0, Size: 4 * mib}, {Op: trace.OpAlloc, ID: 1, Size: 4 * mib}, {Op: trace.OpAlloc, ID: 2, Size: 4 * mib},
		{Op: trace.OpFree, ID: 0}, {Op: trace.OpFree, ID: 2}, {Op: trace.OpAlloc, ID: 3, Size: 6 * mib},
	}
	var dl, pickle bytes.Buffer
	res, err := RunPolicy(context.Background(), synth.NewReader(ev), keepStitching{},
		cudadriver.NewSim(cudadriver.SimOptions{Capacity: 12 * mib}),
		Options{DriverLog: &dl, SnapshotOut: &pickle, CheckInvariants: true, Canary: true})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Metrics
	if m.Stitches != 1 || m.PeakStitched != 6*mib || m.PeakReserved != 12*mib || m.OOMs != 0 || res.Counters.AliasMaps != 1 {
		t.Errorf("metrics %+v, counters %+v", m, res.Counters)
	}
	if !strings.Contains(dl.String(), `"action":"stitch_map"`) || !strings.Contains(dl.String(), `"sources":[{"addr":`) {
		t.Errorf("driver log:\n%s", dl.String())
	}
	snap, err := snapshot.Read(bytes.NewReader(pickle.Bytes()), "export.pickle")
	if err != nil {
		t.Fatal(err)
	}
	var stitched int
	for _, sg := range snap.Segments {
		if sg.Stitched {
			stitched++
			if sg.TotalSize != 6*mib || len(sg.Blocks) != 1 || sg.Blocks[0].State != snapshot.StateAllocated {
				t.Errorf("stitched segment %+v", sg)
			}
		}
	}
	if stitched != 1 {
		t.Errorf("%d stitched segments exported, want 1", stitched)
	}
	if _, err := snap.Workload(0); err == nil || !strings.Contains(err.Error(), "stitched range") {
		t.Errorf("replaying an export with a stitched range: %v", err)
	}
}
