package fidelity

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/internal/sharedtraces"
	"github.com/fraglab/fraglab/policies"
	"github.com/fraglab/fraglab/snapshot"
	"github.com/fraglab/fraglab/trace"
)

// The hand-built snapshots of private pools and cross-stream frees
// (snapshot/poolfixtures_test.go writes them).
var poolFixtures = []string{
	"pytorch-graph-pool.pickle",
	"pytorch-mempool.pickle",
	"pytorch-record-stream.pickle",
	"pytorch-record-stream-oom.pickle",
	"pytorch-mempool-scoped.pickle",
}

func pytorchPolicy(t testing.TB) *wasm.Module {
	t.Helper()
	bin, ok := policies.Builtin("pytorch")
	if !ok {
		t.Fatal("no built-in pytorch policy")
	}
	m, err := wasm.Compile(context.Background(), "pytorch", bin)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// check runs Check as fraglab fidelity does by default: the capacity from
// the trace, the recorded settings as parameters.
func check(t *testing.T, mod *wasm.Module, w *snapshot.Workload) *Report {
	t.Helper()
	rep, err := Check(context.Background(), w, mod, w.Capacity.Low, w.Settings.Params())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func workloads(t *testing.T, path string) []*snapshot.Workload {
	t.Helper()
	s, err := snapshot.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ws []*snapshot.Workload
	for _, d := range s.Devices() {
		w, err := s.Workload(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := snapshot.Verify(w, s); err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	return ws
}

func report(r *Report) string {
	var b bytes.Buffer
	r.Print(&b, 3)
	return b.String()
}

// TestPoolFixturesExact: the pytorch policy reproduces the segment events,
// peak and alloc addresses of the private-pool and record_stream fixtures.
func TestPoolFixturesExact(t *testing.T) {
	mod := pytorchPolicy(t)
	for _, name := range poolFixtures {
		t.Run(name, func(t *testing.T) {
			for _, w := range workloads(t, filepath.Join("..", "..", "snapshot", "testdata", name)) {
				if r := check(t, mod, w); !r.Exact() {
					t.Errorf("device %d diverges:\n%s", w.Device, report(r))
				}
			}
		})
	}
}

// TestSharedSnapshotsExact: and every real snapshot, on every device with
// events.
func TestSharedSnapshotsExact(t *testing.T) {
	mod := pytorchPolicy(t)
	for _, path := range sharedtraces.Files(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			for _, w := range workloads(t, path) {
				if r := check(t, mod, w); !r.Exact() {
					t.Errorf("device %d diverges:\n%s", w.Device, report(r))
				}
			}
		})
	}
}

// TestImportRulesMatter: the fixtures tell the import's rules apart.
// Without the inferred release_pool the graph's segments are never
// released; with a deferred free made at its free_requested, or completed
// where its free_completed was recorded (before the allocation that ran
// out of memory, whose synchronisation completed it), an allocation takes
// the block PyTorch could not take yet; with the MemPool's deletion
// replayed as release_pool + a whole-cache empty_cache (the rule before
// emptyCache(mempool_id) was modelled), the default pool's cached segment
// and the segment whose free waits are released too, and the next
// allocation needs a new segment.
func TestImportRulesMatter(t *testing.T) {
	mod := pytorchPolicy(t)
	cases := []struct {
		file string
		edit func(w *snapshot.Workload) error
	}{
		{"pytorch-graph-pool.pickle", func(w *snapshot.Workload) error {
			i := slices.IndexFunc(w.Events, func(e trace.Event) bool { return e.Op == trace.OpReleasePool })
			if i < 0 {
				return fmt.Errorf("no release_pool event")
			}
			removeEvent(w, i)
			return nil
		}},
		{"pytorch-record-stream-oom.pickle", func(w *snapshot.Workload) error {
			// free_requested x, alloc w, alloc z, free x → free x, alloc w, alloc z.
			want := []trace.Op{trace.OpAlloc, trace.OpFreeRequested, trace.OpAlloc, trace.OpAlloc, trace.OpFree}
			var got []trace.Op
			for _, e := range w.Events[:5] {
				got = append(got, e.Op)
			}
			if !slices.Equal(got, want) {
				return fmt.Errorf("events %v, want %v", got, want)
			}
			w.Events[1] = w.Events[4]
			removeEvent(w, 4)
			return nil
		}},
		{"pytorch-record-stream-oom.pickle", func(w *snapshot.Workload) error {
			// … alloc z, free x → free x, alloc z: x's free completed
			// where its free_completed was recorded, before z's search.
			if w.Events[3].Op != trace.OpAlloc || w.Events[4].Op != trace.OpFree {
				return fmt.Errorf("events %v", w.Events)
			}
			w.Events[3], w.Events[4] = w.Events[4], w.Events[3]
			w.AllocAddr[3], w.AllocAddr[4] = w.AllocAddr[4], w.AllocAddr[3]
			for k := range w.Truth {
				if w.Truth[k].Event == 3 {
					w.Truth[k].Event = 4
				}
			}
			return nil
		}},
		{"pytorch-mempool-scoped.pickle", func(w *snapshot.Workload) error {
			// release_pool 1, free 0, empty_cache of pool 1 → … empty_cache.
			i := slices.IndexFunc(w.Events, func(e trace.Event) bool { return e.Op == trace.OpEmptyCache })
			if i < 2 || w.Events[i].Pool != 1 || w.Events[i-2].Op != trace.OpReleasePool {
				return fmt.Errorf("no release_pool and empty_cache of pool 1: %v", w.Events)
			}
			w.Events[i].Pool = 0
			return nil
		}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			w := workloads(t, filepath.Join("..", "..", "snapshot", "testdata", c.file))[0]
			if err := c.edit(w); err != nil {
				t.Fatal(err)
			}
			r := check(t, mod, w)
			if r.Exact() {
				t.Errorf("still exact without the rule:\n%s", report(r))
			}
		})
	}
}

// removeEvent deletes event i of w, renumbering what belongs to later events.
func removeEvent(w *snapshot.Workload, i int) {
	w.Events = slices.Delete(w.Events, i, i+1)
	w.AllocAddr = slices.Delete(w.AllocAddr, i, i+1)
	for k := range w.Truth {
		if w.Truth[k].Event > int64(i) {
			w.Truth[k].Event--
		}
	}
	for k := range w.OOMs {
		if w.OOMs[k].Event > int64(i) {
			w.OOMs[k].Event--
		}
	}
}
