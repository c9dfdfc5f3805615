package runner

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/fraglab/fraglab/internal/runrecord"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/replay/setup"
)

// TestExecuteSetsUpAsReplay: a worker sets its run up as `fraglab replay`
// does (setup.New): a snapshot is one whatever the case of its
// extension, and starts the pytorch policy from its recorded settings.
func TestExecuteSetsUpAsReplay(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "snapshot", "testdata", "synthetic.pickle"))
	if err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(t.TempDir(), "Synthetic.PICKLE")
	if err := os.WriteFile(snap, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, policy := range []string{"pytorch"} { // the default policy cannot adopt its expandable segments
		rec := Execute(ctx, &Spec{ID: policy, Trace: snap, Policy: policy, Label: policy, Params: map[string]string{}})
		if rec.Status != runrecord.StatusOK {
			t.Fatalf("%s: run failed: %s", policy, rec.Error)
		}
		s, err := setup.New(ctx, setup.Spec{Workload: setup.WorkloadSpec{Trace: snap}, Policy: policy, Params: map[string]string{}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.Replay(ctx, replay.Options{PolicyLog: io.Discard})
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		got, want := *rec.Metrics, res.Metrics
		got.NsPerEvent, want.NsPerEvent = 0, 0
		if got != want || got.Events == 0 {
			t.Errorf("%s: worker metrics %+v, replay's %+v", policy, got, want)
		}
		if policy == "pytorch" && len(s.Params) == 0 {
			t.Errorf("pytorch: no recorded settings in the params")
		}
	}
}
