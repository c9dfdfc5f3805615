package replay

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/internal/sharedtraces"
	"github.com/fraglab/fraglab/snapshot"
)

// TestPytorchMatchesDefaultOnSnapshots: on every real snapshot (when the
// shared traces are present), the pytorch policy with no parameters makes
// exactly the decisions of the host defaults.
func TestPytorchMatchesDefaultOnSnapshots(t *testing.T) {
	files := sharedtraces.Files(t)
	for _, f := range files {
		s, err := snapshot.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range s.Devices() {
			w, err := s.Workload(d)
			if err != nil {
				t.Fatal(err)
			}
			var logs [2]bytes.Buffer
			var ms [2]Metrics
			for i, policy := range []string{"default", "pytorch"} {
				r, initial := SnapshotInput(w)
				res, err := Run(context.Background(), r, builtin(t, policy), cudadriver.NewSim(cudadriver.SimOptions{}),
					Options{Initial: initial, DriverLog: &logs[i]})
				if err != nil {
					t.Fatalf("%s device %d, %s: %v", filepath.Base(f), d, policy, err)
				}
				res.Metrics.NsPerEvent = 0
				ms[i] = res.Metrics
			}
			if ms[0] != ms[1] || logs[0].String() != logs[1].String() {
				t.Errorf("%s device %d: pytorch and default differ:\n%+v\n%+v", filepath.Base(f), d, ms[0], ms[1])
			}
		}
	}
}
