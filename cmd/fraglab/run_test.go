package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/internal/dirlock"
	"github.com/fraglab/fraglab/internal/runrecord"
	"github.com/fraglab/fraglab/runner"
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

// One writer per results directory: run, merge and report into a
// directory another fraglab holds are refused, naming the holder; a shard
// is not (it writes only its own records); the lock goes with the run.
func TestRunRefusesALockedDirectory(t *testing.T) {
	out := t.TempDir()
	held, err := dirlock.Acquire(out, "fraglab run other.yaml --out "+out)
	if err != nil {
		t.Fatal(err)
	}
	// A shard is not refused: it writes only its own records.
	if stdout, err := fraglab(t, "run", tinyExperiment, "--out", out, "--shard", "0/2"); err != nil {
		t.Fatalf("a shard was refused: %v\n%s", err, stdout)
	}
	before := recordIDs(t, out)
	want := "is in use by another fraglab: pid " + strconv.Itoa(os.Getpid())
	for _, args := range [][]string{
		{"run", tinyExperiment, "--out", out},
		{"run", tinyExperiment, "--out", out, "--resume-missing"},
		{"merge", out},
		{"report", out},
	} {
		_, err := fraglab(t, args...)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `running "fraglab run other.yaml --out `+out+`"`) {
			t.Errorf("%v: %v, want a refusal naming the holder", args, err)
		}
	}
	if got := recordIDs(t, out); !slices.Equal(got, before) {
		t.Errorf("refused commands wrote records: %v, before %v", got, before)
	}
	if _, err := os.Stat(filepath.Join(out, "results.json")); !os.IsNotExist(err) {
		t.Errorf("a refused command wrote the reports (%v)", err)
	}
	held.Release()
	if stdout, err := fraglab(t, "run", tinyExperiment, "--out", out); err != nil {
		t.Fatalf("after the release: %v\n%s", err, stdout)
	}
	if _, err := os.Stat(filepath.Join(out, dirlock.FileName)); !os.IsNotExist(err) {
		t.Errorf("the run left its lock: %v", err)
	}
}

// --retry-failed re-runs the failed runs only, not the ones with no record.
func TestRunRetryFailed(t *testing.T) {
	out := t.TempDir()
	t.Setenv(envRunExit, "lts/pytorch")
	if _, err := fraglab(t, "run", tinyExperiment, "--out", out, "--only", "lts/"); err == nil {
		t.Fatal("the failing run succeeded")
	}
	t.Setenv(envRunExit, "")
	stdout, err := fraglab(t, "run", tinyExperiment, "--out", out, "--retry-failed")
	if err != nil || !strings.Contains(stdout, "2 runs: 1 ran, 1 skipped (already ok), 0 failed") {
		t.Fatalf("--retry-failed: %v\n%s", err, stdout)
	}
	if ids := recordIDs(t, out); len(ids) != 2 {
		t.Errorf("records after --retry-failed: %v, want the 2 of lts only", ids)
	}
}
