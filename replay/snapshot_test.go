package replay

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/internal/sharedtraces"
	"github.com/fraglab/fraglab/snapshot"
	"github.com/fraglab/fraglab/trace"
)

// eachSharedWorkload calls f with the workload of every device of every
// real snapshot, named "<file> device <d>"; it skips t when the shared
// traces are absent.
func eachSharedWorkload(t *testing.T, f func(name string, w *snapshot.Workload)) {
	t.Helper()
	for _, path := range sharedtraces.Files(t) {
		s, err := snapshot.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range s.Devices() {
			w, err := s.Workload(d)
			if err != nil {
				t.Fatal(err)
			}
			f(fmt.Sprintf("%s device %d", filepath.Base(path), d), w)
		}
	}
}

// TestPytorchMatchesDefaultOnSnapshots: on every real snapshot (when the
// shared traces are present), the pytorch policy with no parameters makes
// exactly the decisions of the host defaults.
func TestPytorchMatchesDefaultOnSnapshots(t *testing.T) {
	eachSharedWorkload(t, func(name string, w *snapshot.Workload) {
		var logs [2]bytes.Buffer
		var ms [2]Metrics
		for i, policy := range []string{"default", "pytorch"} {
			r, initial := SnapshotInput(w)
			res, err := Run(context.Background(), r, builtin(t, policy), cudadriver.NewSim(cudadriver.SimOptions{}),
				Options{Initial: initial, DriverLog: &logs[i]})
			if err != nil {
				t.Fatalf("%s, %s: %v", name, policy, err)
			}
			res.Metrics.NsPerEvent = 0
			ms[i] = res.Metrics
		}
		if ms[0] != ms[1] || logs[0].String() != logs[1].String() {
			t.Errorf("%s: pytorch and default differ:\n%+v\n%+v", name, ms[0], ms[1])
		}
	})
}

// TestSnapshotInputPools: initial segments keep their stream and private
// pool, and the events their pools and ops (free_requested, release_pool).
func TestSnapshotInputPools(t *testing.T) {
	w := &snapshot.Workload{
		Initial: []snapshot.InitialSegment{{Address: 0x10000000, Size: 20 << 20, Pool: 1, Stream: 7, PrivatePool: 2,
			Blocks: []snapshot.InitialBlock{{Size: 4 << 20, ID: 0, Requested: 4 << 20}, {Size: 16 << 20, ID: -1}}}},
		Events: []trace.Event{
			{Op: trace.OpAlloc, ID: 1, Size: 1 << 20, Stream: 7, Pool: 2},
			{Op: trace.OpFreeRequested, ID: 1},
			{Op: trace.OpFree, ID: 1},
			{Op: trace.OpFree, ID: 0},
			{Op: trace.OpReleasePool, Pool: 2},
			{Op: trace.OpEmptyCache},
		},
		Tags: trace.NewTags(),
	}
	r, initial := SnapshotInput(w)
	if len(initial) != 1 || initial[0].PrivatePool != 2 || initial[0].Stream != 7 || initial[0].Addr != 0x10000000 {
		t.Fatalf("initial %+v", initial)
	}
	res, err := Run(context.Background(), r, builtin(t, "pytorch"), cudadriver.NewSim(cudadriver.SimOptions{}), Options{Initial: initial})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.PoolReleases != 1 || res.Stats.Segments != 0 {
		t.Errorf("pool releases %d, segments left %d: want the released pool's segment gone", res.Stats.PoolReleases, res.Stats.Segments)
	}
}
