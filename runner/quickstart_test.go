package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/fraglab/fraglab/experiment"
	"github.com/fraglab/fraglab/report"
)

// timing lists the fields of results.json that measure time, not the
// allocator: they differ between reruns.
var timing = []string{"ns_per_event", "elapsed_seconds"}

// TestQuickstartReproduces: running experiments/quickstart.yaml again
// gives the committed results/quickstart (results.json without its timing
// fields, and results.md byte for byte).
func TestQuickstartReproduces(t *testing.T) {
	e, err := experiment.Load(filepath.Join("..", "experiments", "quickstart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	sum, err := Run(context.Background(), e, Options{Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 0 {
		t.Fatalf("%d runs failed", sum.Failed)
	}
	if err := report.Write(out, sum.Records); err != nil {
		t.Fatal(err)
	}
	committed := filepath.Join("..", "results", "quickstart")
	if got, want := withoutTiming(t, filepath.Join(out, report.JSONFile)), withoutTiming(t, filepath.Join(committed, report.JSONFile)); !bytes.Equal(got, want) {
		t.Errorf("results.json differs from the committed one (timing aside); regenerate with: go run ./cmd/fraglab run experiments/quickstart.yaml")
	}
	got, _ := os.ReadFile(filepath.Join(out, report.MarkdownFile))
	want, _ := os.ReadFile(filepath.Join(committed, report.MarkdownFile))
	if !bytes.Equal(got, want) {
		t.Errorf("results.md differs from the committed one")
	}
}

func withoutTiming(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, r := range rows {
		for _, k := range timing {
			delete(r, k)
		}
	}
	out, _ := json.Marshal(rows)
	return out
}
