package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/internal/runrecord"
	"github.com/fraglab/fraglab/replay"
)

func TestReportAndCompareCommands(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	rec := func(id string, reserved int64) *runrecord.Record {
		return &runrecord.Record{ID: id, Experiment: "e", Workload: "w", Policy: "pytorch", Device: "sim",
			Status: runrecord.StatusOK, Metrics: &replay.Metrics{PeakReserved: reserved, PeakAllocated: 1 << 20, FirstOOM: -1}}
	}
	if err := runrecord.Write(filepath.Join(a, "runs"), rec("r1", 4<<20)); err != nil {
		t.Fatal(err)
	}
	if err := runrecord.Write(filepath.Join(b, "runs"), rec("r1", 2<<20)); err != nil {
		t.Fatal(err)
	}
	out, err := fraglab(t, "report", a)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"results.json", "results.csv", "results.md", "report.html"} {
		if _, err := os.Stat(filepath.Join(a, f)); err != nil || !strings.Contains(out, f) {
			t.Errorf("report did not write %s: %v\n%s", f, err, out)
		}
	}
	out, err = fraglab(t, "compare", a, b)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "1 matched runs") || !strings.Contains(out, "-50.0%") {
		t.Errorf("compare output:\n%s", out)
	}
	if _, err := fraglab(t, "report", t.TempDir()); err == nil {
		t.Error("report of an empty directory succeeded")
	}
}
