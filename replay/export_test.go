package replay

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/internal/synth"
	"github.com/fraglab/fraglab/snapshot"
	"github.com/fraglab/fraglab/trace"
)

// TestSnapshotRoundTrip: a replay exported as a PyTorch snapshot imports
// back as the same workload, with the replay's own segment events as the
// recorded ground truth, and replaying the export reproduces it exactly.
func TestSnapshotRoundTrip(t *testing.T) {
	events := synth.Mixed(5, 3000, 150)
	var pickle bytes.Buffer
	var ops []host.DriverOp
	_, err := Run(context.Background(), synth.NewReader(events), builtin(t, "pytorch"),
		cudadriver.NewSim(cudadriver.SimOptions{}),
		Options{SnapshotOut: &pickle, OnDriverOp: func(op host.DriverOp) { ops = append(ops, op) }})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := snapshot.Read(bytes.NewReader(pickle.Bytes()), "export.pickle")
	if err != nil {
		t.Fatal(err)
	}
	w, err := snap.Workload(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Events) != len(events) {
		t.Fatalf("%d events back, want %d", len(w.Events), len(events))
	}
	for i, e := range events {
		g := w.Events[i]
		if g.Op != e.Op || g.ID != e.ID || g.Size != e.Size || g.Stream != e.Stream {
			t.Fatalf("event %d: got %+v, want %+v", i, g, e)
		}
	}
	if len(w.Truth) != len(ops) {
		t.Fatalf("%d segment events recorded, the replay made %d", len(w.Truth), len(ops))
	}
	for i, op := range ops {
		tr := w.Truth[i]
		if tr.Event != op.Event || tr.Action != op.Action || tr.Addr != op.Addr || tr.Size != op.Size {
			t.Fatalf("segment event %d: recorded %+v, replayed %+v", i, tr, op)
		}
	}
	// Replaying the export with recorded placement gives the same ops again.
	r, initial := SnapshotInput(w)
	var again []host.DriverOp
	if _, err := Run(context.Background(), r, builtin(t, "pytorch"), cudadriver.NewSim(cudadriver.SimOptions{}),
		Options{Initial: initial, Place: RecordedPlacement(w), OnDriverOp: func(op host.DriverOp) { again = append(again, op) }}); err != nil {
		t.Fatal(err)
	}
	if len(again) != len(ops) {
		t.Fatalf("replaying the export made %d segment events, want %d", len(again), len(ops))
	}
	for i := range ops {
		if !reflect.DeepEqual(again[i], ops[i]) {
			t.Fatalf("segment event %d: %+v, want %+v", i, again[i], ops[i])
		}
	}
}

// TestSnapshotRoundTripPools: the export of a run with a private pool and
// a free that waits for another stream (examples/traces/graph-pools.jsonl)
// imports back with the allocations' pools, the free_requested and, where
// the pool's segments are released, an inferred release_pool; the
// empty_cache that released nothing leaves no entry, so it is gone.
// Replaying the import reproduces the run's segment events exactly.
func TestSnapshotRoundTripPools(t *testing.T) {
	r, c, err := trace.Open(filepath.Join("..", "examples", "traces", "graph-pools.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var events []trace.Event
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	var pickle bytes.Buffer
	var ops []host.DriverOp
	if _, err := Run(context.Background(), synth.NewReaderTags(events, r.Tags()), builtin(t, "pytorch"), cudadriver.NewSim(cudadriver.SimOptions{}),
		Options{SnapshotOut: &pickle, OnDriverOp: func(op host.DriverOp) { ops = append(ops, op) }}); err != nil {
		t.Fatal(err)
	}
	snap, err := snapshot.Read(bytes.NewReader(pickle.Bytes()), "export.pickle")
	if err != nil {
		t.Fatal(err)
	}
	w, err := snap.Workload(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := snapshot.Verify(w, snap); err != nil {
		t.Fatal(err)
	}
	var want []trace.Event
	for i, e := range events {
		if e.Op == trace.OpEmptyCache && i+1 < len(events) && events[i+1].Op == trace.OpReleasePool {
			continue // released nothing: not recorded
		}
		e.Tag = 0
		want = append(want, e)
	}
	if len(w.Events) != len(want) {
		t.Fatalf("%d events back, want %d:\n%+v", len(w.Events), len(want), w.Events)
	}
	for i, e := range want {
		g := w.Events[i]
		if g.Op != e.Op || g.ID != e.ID || g.Size != e.Size || g.Stream != e.Stream || g.Pool != e.Pool {
			t.Errorf("event %d: got %+v, want %+v", i, g, e)
		}
	}
	if len(w.PoolIDs) != 1 || w.PoolIDs[0] != [2]uint64{1, 0} {
		t.Errorf("pool ids %v, want [(1, 0)]", w.PoolIDs)
	}
	ri, initial := SnapshotInput(w)
	var again []host.DriverOp
	if _, err := Run(context.Background(), ri, builtin(t, "pytorch"), cudadriver.NewSim(cudadriver.SimOptions{}),
		Options{Initial: initial, Place: RecordedPlacement(w), OnDriverOp: func(op host.DriverOp) { again = append(again, op) }}); err != nil {
		t.Fatal(err)
	}
	if len(again) != len(ops) {
		t.Fatalf("replaying the export made %d segment events, want %d", len(again), len(ops))
	}
	for i := range ops {
		a, o := again[i], ops[i]
		a.Event, o.Event = 0, 0 // one event fewer before the release
		if !reflect.DeepEqual(a, o) {
			t.Errorf("segment event %d: %+v, want %+v", i, again[i], ops[i])
		}
	}
}

// TestSnapshotRoundTripMemPool: the export names a pool whose cache the
// workload emptied on its own as a MemPool, (0, 1), so the import infers
// the same release_pool and empty_cache of that pool, and replaying it
// keeps the default pool's cached segment as the run did.
func TestSnapshotRoundTripMemPool(t *testing.T) {
	events := memPoolEvents(1)
	var pickle bytes.Buffer
	var ops []host.DriverOp
	if _, err := Run(context.Background(), synth.NewReader(events), builtin(t, "pytorch"), cudadriver.NewSim(cudadriver.SimOptions{}),
		Options{SnapshotOut: &pickle, OnDriverOp: func(op host.DriverOp) { ops = append(ops, op) }}); err != nil {
		t.Fatal(err)
	}
	snap, err := snapshot.Read(bytes.NewReader(pickle.Bytes()), "export.pickle")
	if err != nil {
		t.Fatal(err)
	}
	w, err := snap.Workload(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := snapshot.Verify(w, snap); err != nil {
		t.Fatal(err)
	}
	if len(w.PoolIDs) != 1 || w.PoolIDs[0] != [2]uint64{0, 1} {
		t.Errorf("pool ids %v, want [(0, 1)]", w.PoolIDs)
	}
	if len(w.Events) != len(events) {
		t.Fatalf("%d events back, want %d:\n%+v", len(w.Events), len(events), w.Events)
	}
	for i, e := range events {
		if g := w.Events[i]; g.Op != e.Op || g.ID != e.ID || g.Size != e.Size || g.Pool != e.Pool {
			t.Errorf("event %d: got %+v, want %+v", i, g, e)
		}
	}
	ri, initial := SnapshotInput(w)
	var again []host.DriverOp
	if _, err := Run(context.Background(), ri, builtin(t, "pytorch"), cudadriver.NewSim(cudadriver.SimOptions{}),
		Options{Initial: initial, Place: RecordedPlacement(w), OnDriverOp: func(op host.DriverOp) { again = append(again, op) }}); err != nil {
		t.Fatal(err)
	}
	if len(again) != len(ops) {
		t.Fatalf("replaying the export made %d segment events, want %d", len(again), len(ops))
	}
	for i := range ops {
		if !reflect.DeepEqual(again[i], ops[i]) {
			t.Errorf("segment event %d: %+v, want %+v", i, again[i], ops[i])
		}
	}
}
