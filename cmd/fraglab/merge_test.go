package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/internal/runrecord"
	"github.com/fraglab/fraglab/report"
	"github.com/fraglab/fraglab/runner"
)

// resultsWithoutTimings reads DIR/results.json with the timing fields zeroed.
func resultsWithoutTimings(t *testing.T, dir string) []report.Result {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, report.JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	var rs []report.Result
	if err := json.Unmarshal(b, &rs); err != nil {
		t.Fatal(err)
	}
	for i := range rs {
		rs[i].ElapsedSeconds = 0
		if rs[i].Metrics != nil {
			rs[i].NsPerEvent = 0
		}
	}
	return rs
}

func recordIDs(t *testing.T, dir string) []string {
	t.Helper()
	recs, err := runrecord.ReadDir(filepath.Join(dir, "runs"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestShardsMergeLikeALocalRun(t *testing.T) {
	sharded, local := t.TempDir(), t.TempDir()
	for _, s := range []string{"0/3", "1/3", "2/3"} {
		stdout, err := fraglab(t, "run", tinyExperiment, "--out", sharded, "--shard", s)
		if err != nil {
			t.Fatalf("shard %s: %v\n%s", s, err, stdout)
		}
		if !strings.Contains(stdout, "shard "+s+" done") {
			t.Errorf("shard %s:\n%s", s, stdout)
		}
		for _, f := range []string{report.JSONFile, report.CSVFile, report.MarkdownFile, report.HTMLFile} {
			if _, err := os.Stat(filepath.Join(sharded, f)); err == nil {
				t.Errorf("shard %s wrote %s: only merge may", s, f)
			}
		}
	}
	stdout, err := fraglab(t, "merge", sharded)
	if err != nil {
		t.Fatalf("merge: %v\n%s", err, stdout)
	}
	for _, want := range []string{"merged 4 run records", "shard 0/3: 2/2 ok, 0 missing, 0 failed", "shard 1/3: 1/1 ok", "shard 2/3: 1/1 ok"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("merge output lacks %q:\n%s", want, stdout)
		}
	}
	if _, err := fraglab(t, "run", tinyExperiment, "--out", local); err != nil {
		t.Fatal(err)
	}
	if a, b := resultsWithoutTimings(t, sharded), resultsWithoutTimings(t, local); len(a) != 4 || !reflect.DeepEqual(a, b) {
		t.Errorf("merged results differ from the local run's:\n%+v\n%+v", a, b)
	}
	for _, f := range []string{report.MarkdownFile, report.HTMLFile} {
		a, _ := os.ReadFile(filepath.Join(sharded, f))
		b, _ := os.ReadFile(filepath.Join(local, f))
		if len(a) == 0 || string(a) != string(b) {
			t.Errorf("%s differs between the merge and the local run", f)
		}
	}
	recs, _ := runrecord.ReadDir(filepath.Join(sharded, "runs"))
	for _, r := range recs {
		if !regexp.MustCompile(`^[0-2]/3$`).MatchString(r.Shard) {
			t.Errorf("record %s: shard %q", r.ID, r.Shard)
		}
	}
}

func TestShardFromJobCompletionIndex(t *testing.T) {
	byIndex, explicit := t.TempDir(), t.TempDir()
	if _, err := fraglab(t, "run", tinyExperiment, "--out", explicit, "--shard", "1/3"); err != nil {
		t.Fatal(err)
	}
	t.Setenv(runner.EnvK8sIndex, "1")
	if _, err := fraglab(t, "run", tinyExperiment, "--out", byIndex, "--shard", "k8s/3"); err != nil {
		t.Fatal(err)
	}
	a, b := recordIDs(t, byIndex), recordIDs(t, explicit)
	if len(a) == 0 || !slices.Equal(a, b) {
		t.Errorf("JOB_COMPLETION_INDEX=1 with k8s/3 ran %v, --shard 1/3 ran %v", a, b)
	}
	ma, _ := os.ReadFile(filepath.Join(byIndex, runner.ShardsDir, "shard-1-of-3.json"))
	mb, _ := os.ReadFile(filepath.Join(explicit, runner.ShardsDir, "shard-1-of-3.json"))
	if len(ma) == 0 || string(ma) != string(mb) {
		t.Errorf("manifests differ:\n%s\n%s", ma, mb)
	}
	t.Setenv(runner.EnvK8sIndex, "3")
	if _, err := fraglab(t, "run", tinyExperiment, "--out", t.TempDir(), "--shard", "k8s/3"); err == nil ||
		!strings.Contains(err.Error(), "shard index 3 is out of range for 3 shards") {
		t.Errorf("index 3 of 3: %v", err)
	}
}

func TestMergeReportsMissingAndFailedThenResume(t *testing.T) {
	out := t.TempDir()
	for _, s := range []string{"0/3", "2/3"} { // shard 1 never runs
		if _, err := fraglab(t, "run", tinyExperiment, "--out", out, "--shard", s); err != nil {
			t.Fatal(err)
		}
	}
	// Without the experiment, merge knows shard 1 only by its absence.
	stdout, err := fraglab(t, "merge", out)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(stdout, "shard 1/3: unknown runs (no manifest") {
		t.Errorf("merge with a shard missing: %v\n%s", err, stdout)
	}
	// With it, the missing runs are named.
	stdout, err = fraglab(t, "merge", "--experiment", tinyExperiment, out)
	if !errors.As(err, &ee) || ee.code != 1 || !regexp.MustCompile(`shard 1/3: 0/1 ok, 1 missing, 0 failed\n  missing [0-9a-f]{16} \w+/\w+`).MatchString(stdout) {
		t.Errorf("merge --experiment with a shard missing: %v\n%s", err, stdout)
	}
	if _, err := fraglab(t, "run", tinyExperiment, "--out", t.TempDir(), "--resume-missing"); err == nil ||
		!strings.Contains(err.Error(), `holds no record of experiment "tiny": nothing to resume`) {
		t.Errorf("--resume-missing on an empty directory: %v", err)
	}

	// A failed run of shard 0 is reported as failed, and re-run by
	// --resume-missing of the whole matrix, with shard 1's missing run.
	recs, _ := runrecord.ReadDir(filepath.Join(out, "runs"))
	failed := recs[0]
	failed.Status, failed.Metrics, failed.Error = runrecord.StatusFailed, nil, "worker killed by signal killed"
	if err := runrecord.Write(filepath.Join(out, "runs"), failed); err != nil {
		t.Fatal(err)
	}
	stdout, err = fraglab(t, "merge", "--experiment", tinyExperiment, out)
	if !errors.As(err, &ee) || !strings.Contains(stdout, "1 failed\n  failed "+failed.ID) {
		t.Errorf("merge with a failed run: %v\n%s", err, stdout)
	}
	stdout, err = fraglab(t, "run", tinyExperiment, "--out", out, "--resume-missing")
	if err != nil || !strings.Contains(stdout, "resuming 2 runs") || !strings.Contains(stdout, "4 runs: 2 ran, 2 skipped") {
		t.Errorf("--resume-missing: %v\n%s", err, stdout)
	}
	if stdout, err = fraglab(t, "merge", out); err != nil {
		t.Errorf("merge after resuming: %v\n%s", err, stdout)
	}
	stdout, err = fraglab(t, "run", tinyExperiment, "--out", out, "--shard", "1/3", "--resume-missing")
	if err != nil || !strings.Contains(stdout, "nothing to resume") {
		t.Errorf("--resume-missing of a complete shard: %v\n%s", err, stdout)
	}
}

func TestMergeSeveralDirectories(t *testing.T) {
	a, b, merged := t.TempDir(), t.TempDir(), t.TempDir()
	if _, err := fraglab(t, "run", tinyExperiment, "--out", a, "--shard", "0/2"); err != nil {
		t.Fatal(err)
	}
	if _, err := fraglab(t, "run", tinyExperiment, "--out", b, "--shard", "1/2"); err != nil {
		t.Fatal(err)
	}
	stdout, err := fraglab(t, "merge", "--out", merged, a, b)
	if err != nil || !strings.Contains(stdout, "merged 4 run records") {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if rs := resultsWithoutTimings(t, merged); len(rs) != 4 {
		t.Errorf("%d results, want 4", len(rs))
	}
	// A record of another sweep in a directory is left out, and said.
	stray := &runrecord.Record{ID: "00000000000000aa", Experiment: "other", Workload: "w", Policy: "p", Status: runrecord.StatusOK}
	if err := runrecord.Write(filepath.Join(b, "runs"), stray); err != nil {
		t.Fatal(err)
	}
	root := newRoot()
	var so, se strings.Builder
	root.SetOut(&so)
	root.SetErr(&se)
	root.SetArgs([]string{"merge", "--out", merged, a, b, a})
	if err := root.Execute(); err != nil {
		t.Fatalf("%v\n%s%s", err, so.String(), se.String())
	}
	for _, want := range []string{"left out of the reports: 1 records of runs outside the sweep: 00000000000000aa",
		"runs were recorded in several directories; each counts once"} {
		if !strings.Contains(se.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, se.String())
		}
	}
	if rs := resultsWithoutTimings(t, merged); len(rs) != 4 {
		t.Errorf("%d results with a stray record, want 4", len(rs))
	}
	if _, err := fraglab(t, "merge", "--shards", "2", a); err == nil || !strings.Contains(err.Error(), "--shards needs --experiment") {
		t.Errorf("--shards alone: %v", err)
	}
}

func TestSlurmAndK8sCommands(t *testing.T) {
	stdout, err := fraglab(t, "slurm", tinyExperiment, "--shards", "2", "--out", "/shared/x", "--fraglab", "/opt/fraglab")
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(tinyExperiment)
	if !strings.Contains(stdout, "exec '/opt/fraglab' run '"+abs+"' --out '/shared/x' --shard slurm/2") {
		t.Errorf("slurm script:\n%s", stdout)
	}
	file := filepath.Join(t.TempDir(), "sweep.yaml")
	if _, err := fraglab(t, "k8s", tinyExperiment, "--shards", "2", "--gpu", "-o", file); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(file)
	for _, want := range []string{"completionMode: Indexed", "nvidia.com/gpu: \"1\"", "- k8s/2", "suspend: true"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("manifest lacks %q:\n%s", want, b)
		}
	}
	if _, err := fraglab(t, "k8s", tinyExperiment, "--shards", "0"); err == nil || !strings.Contains(err.Error(), "--shards must be ≥ 1") {
		t.Errorf("--shards 0: %v", err)
	}
}
