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
