package replay

import (
	"bytes"
	"context"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/internal/synth"
	"github.com/fraglab/fraglab/snapshot"
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
		if again[i] != ops[i] {
			t.Fatalf("segment event %d: %+v, want %+v", i, again[i], ops[i])
		}
	}
}
