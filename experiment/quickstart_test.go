package experiment

import (
	"path/filepath"
	"testing"
)

// TestQuickstartParses: the README's experiment is valid and expands to
// 4 workloads × 5 policy variants × 2 capacities.
func TestQuickstartParses(t *testing.T) {
	e, err := Load(filepath.Join("..", "experiments", "quickstart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(e.Runs()); n != 40 {
		t.Errorf("%d runs, want 40", n)
	}
}
