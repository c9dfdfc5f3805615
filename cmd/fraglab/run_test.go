package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/runner"
	"github.com/fraglab/fraglab/runrecord"
)

// The test binary is the run worker too (run.go's init serves when the
// magic cookie is set); this hook, installed before that init runs, makes
// the worker of the run whose workload/policy key is in the environment
// exit with status 2.
const envRunExit = "FRAGLAB_CLI_TEST_EXIT"

var _ = func() bool {
	workerOptions.BeforeRun = func(s *runner.Spec) {
		if k := os.Getenv(envRunExit); k != "" && s.Key() == k {
			os.Exit(2)
		}
	}
	return true
}()

const tinyExperiment = "../../runner/testdata/tiny.yaml"

func TestRunMatrixAndResume(t *testing.T) {
	out := t.TempDir()
	stdout, err := fraglab(t, "run", tinyExperiment, "--out", out, "--parallel", "2")
	if err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	for _, want := range []string{"WORKLOAD", "PEAK_RESERVED", "stl", "lts", "pytorch", "default", "256.0 MiB", "4 runs: 4 ran, 0 skipped"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	for _, f := range []string{"results.json", "results.csv", "results.md", "report.html"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("report: %v", err)
		}
	}
	recs, err := runrecord.ReadDir(filepath.Join(out, "runs"))
	if err != nil || len(recs) != 4 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	stdout, err = fraglab(t, "run", tinyExperiment, "--out", out)
	if err != nil || !strings.Contains(stdout, "4 runs: 0 ran, 4 skipped") {
		t.Fatalf("second run: %v\n%s", err, stdout)
	}
}

func TestRunFailedRunExitStatus(t *testing.T) {
	t.Setenv(envRunExit, "lts/pytorch")
	out := t.TempDir()
	stdout, err := fraglab(t, "run", tinyExperiment, "--out", out, "--only", "lts/")
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("err %v, want exit status 1\n%s", err, stdout)
	}
	if !strings.Contains(stdout, "worker exited with status 2") || !strings.Contains(stdout, "2 runs: 2 ran, 0 skipped (already ok), 1 failed") {
		t.Errorf("summary:\n%s", stdout)
	}
}

func TestRunOnly(t *testing.T) {
	stdout, err := fraglab(t, "run", tinyExperiment, "--out", t.TempDir(), "--only", "/default")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stdout, "pytorch") || !strings.Contains(stdout, "2 runs: 2 ran") {
		t.Errorf("--only /default:\n%s", stdout)
	}
}
