package tracestats

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/internal/sharedtraces"
	"github.com/fraglab/fraglab/policies"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/traceconv"
)

// TestSharedSnapshotsPeak: on every real PyTorch snapshot (when the shared
// traces are present) the stats' peak live bytes equal the peak_requested
// of a replay under pytorch on an unlimited device.
func TestSharedSnapshotsPeak(t *testing.T) {
	files := sharedtraces.Files(t)
	bin, _ := policies.Builtin("pytorch")
	mod, err := wasm.Compile(context.Background(), "pytorch", bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		src, err := traceconv.Open(f, traceconv.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s, err := OfSource(src)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		r, initial := replay.SnapshotInput(src.Workload)
		res, err := replay.Run(context.Background(), r, mod, cudadriver.NewSim(cudadriver.SimOptions{}), replay.Options{Initial: initial})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if s.PeakLiveBytes != res.Metrics.PeakRequested {
			t.Errorf("%s: stats peak %d, replay peak_requested %d", filepath.Base(f), s.PeakLiveBytes, res.Metrics.PeakRequested)
		}
		if got := int64(len(src.Workload.OOMs)); s.Failures != got {
			t.Errorf("%s: %d failures, want the %d oom entries", filepath.Base(f), s.Failures, got)
		}
	}
}
