package tune

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/policies"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/trace"
)

// BenchmarkTune20k tunes a 20,000-event snapshot (examples/traces/
// mixed-20k.jsonl.gz replayed under pytorch and exported) with the full
// search, min_capacity and the other policies, in the runner's workers:
//
//	go test ./tune -run '^$' -bench Tune20k -benchtime 3x
func BenchmarkTune20k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "mixed-20k.pickle")
	r, c, err := trace.Open(filepath.Join("..", "examples", "traces", "mixed-20k.jsonl.gz"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	bin, _ := policies.Builtin("pytorch")
	mod, err := wasm.Compile(context.Background(), "pytorch", bin)
	if err != nil {
		b.Fatal(err)
	}
	res, err := replay.Run(context.Background(), r, mod, cudadriver.NewSim(cudadriver.SimOptions{}), replay.Options{SnapshotOut: f})
	if err != nil {
		b.Fatal(err)
	}
	f.Close()
	in := snapshotInput(b, path, 0)
	b.ResetTimer()
	for b.Loop() {
		rep, err := Run(context.Background(), in, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(rep.Runs), "runs")
	}
	b.ReportMetric(float64(res.Metrics.Events), "events")
}
