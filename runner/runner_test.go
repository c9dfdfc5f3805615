package runner

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fraglab/fraglab/experiment"
	"github.com/fraglab/fraglab/internal/runrecord"
)

// Test hooks of the worker (the test binary re-executed as the worker):
// the run whose ID is in envExit exits with status 2 before running; the
// one in envHang prints a hang report and exits with replay.ExitHung, as
// the fast-mode watchdog does; the one in envSleep sleeps (for timeouts).
const (
	envExit  = "FRAGLAB_RUNNER_TEST_EXIT"
	envHang  = "FRAGLAB_RUNNER_TEST_HANG"
	envSleep = "FRAGLAB_RUNNER_TEST_SLEEP"
)

// TestMain is the helper-process pattern: with the magic cookie set, the
// test binary is a worker.
//
// TestSuiteInvariants replays every pair of the suite with the invariant
// checker on (270 runs, the offline planners among them): under the race
// detector on a 2-core machine, beside the other packages' tests, this
// package takes close to go test's default 10 minutes (about 5 alone), so
// the default becomes 30 minutes; a -timeout the caller gives is kept.
func TestMain(m *testing.M) {
	if IsWorker() {
		Serve(WorkerOptions{BeforeRun: testHooks})
		return
	}
	flag.Parse()
	if f := flag.Lookup("test.timeout"); f != nil && f.Value.String() == (10*time.Minute).String() {
		if err := f.Value.Set((30 * time.Minute).String()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	os.Exit(m.Run())
}

func testHooks(s *Spec) {
	switch s.ID {
	case os.Getenv(envExit):
		fmt.Fprintln(os.Stderr, "test hook: exiting")
		os.Exit(2)
	case os.Getenv(envHang):
		os.Stderr.WriteString("fraglab: event 7 (alloc id=3 size=1024 stream=0 tag=0): a policy hook did not return within 1000ms.\n")
		os.Exit(3)
	case os.Getenv(envSleep):
		time.Sleep(time.Minute)
	}
}

func load(t *testing.T, name string) *experiment.Experiment {
	t.Helper()
	e, err := experiment.Load(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func sweep(t *testing.T, e *experiment.Experiment, o Options) *Summary {
	t.Helper()
	if o.Parallel == 0 {
		o.Parallel = 2
	}
	s, err := Run(context.Background(), e, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func byKey(recs []*runrecord.Record) map[string]*runrecord.Record {
	m := map[string]*runrecord.Record{}
	for _, r := range recs {
		m[r.Workload+"/"+r.Policy] = r
	}
	return m
}

func TestMatrixEndToEnd(t *testing.T) {
	e := load(t, "tiny.yaml")
	out := t.TempDir()
	var done []string
	s := sweep(t, e, Options{Out: out, OnDone: func(r *runrecord.Record) { done = append(done, r.ID) }})
	if s.Ran != 4 || s.Failed != 0 || s.Skipped != 0 || len(s.Records) != 4 || len(done) != 4 {
		t.Fatalf("ran %d failed %d skipped %d records %d done %d; want 4 0 0 4 4", s.Ran, s.Failed, s.Skipped, len(s.Records), len(done))
	}
	for i, r := range s.Records {
		if r.Status != runrecord.StatusOK || r.Metrics == nil {
			t.Fatalf("%s: status %s error %q", r.ID, r.Status, r.Error)
		}
		if r.ID != e.Runs()[i].ID {
			t.Errorf("record %d is %s, want matrix order (%s)", i, r.ID, e.Runs()[i].ID)
		}
		if r.PolicyHash == "" || r.Device != "sim" || r.Experiment != "tiny" || r.ElapsedSeconds <= 0 {
			t.Errorf("%s: incomplete record %+v", r.ID, r)
		}
	}
	m := byKey(s.Records)
	// The same numbers as `fraglab replay --trace devlog-small-then-large.jsonl --policy default`.
	if r := m["stl/default"]; r == nil || r.Metrics.PeakReserved != 268435456 || r.Metrics.Events != 24 {
		t.Errorf("stl/default: %+v", r)
	}
	onDisk, err := runrecord.ReadDir(filepath.Join(out, "runs"))
	if err != nil || len(onDisk) != 4 {
		t.Fatalf("runs dir: %d records, %v", len(onDisk), err)
	}
}

func TestResume(t *testing.T) {
	e := load(t, "tiny.yaml")
	out := t.TempDir()
	first := sweep(t, e, Options{Out: out})
	if first.Ran != 4 {
		t.Fatalf("first sweep ran %d", first.Ran)
	}
	second := sweep(t, e, Options{Out: out, OnDone: func(r *runrecord.Record) { t.Errorf("ran %s again", r.ID) }})
	if second.Ran != 0 || second.Skipped != 4 || len(second.Records) != 4 {
		t.Fatalf("second sweep: ran %d skipped %d records %d", second.Ran, second.Skipped, len(second.Records))
	}
	victim := e.Runs()[2].ID
	if err := os.Remove(filepath.Join(out, "runs", runrecord.FileName(victim))); err != nil {
		t.Fatal(err)
	}
	var ran []string
	third := sweep(t, e, Options{Out: out, OnDone: func(r *runrecord.Record) { ran = append(ran, r.ID) }})
	if !slices.Equal(ran, []string{victim}) || third.Skipped != 3 || len(third.Records) != 4 {
		t.Fatalf("third sweep ran %v (skipped %d), want only %s", ran, third.Skipped, victim)
	}
}

func TestWorkerKilledMidRun(t *testing.T) {
	e := load(t, "tiny.yaml")
	out := t.TempDir()
	victim := e.Runs()[1].ID
	t.Setenv(envExit, victim)
	s := sweep(t, e, Options{Out: out})
	if s.Ran != 4 || s.Failed != 1 {
		t.Fatalf("ran %d failed %d, want 4 1", s.Ran, s.Failed)
	}
	for _, r := range s.Records {
		if r.ID == victim {
			if r.Status != runrecord.StatusFailed || !strings.Contains(r.Error, "worker exited with status 2") ||
				!strings.Contains(r.Error, "test hook: exiting") || r.Metrics != nil {
				t.Errorf("victim: status %s error %q", r.Status, r.Error)
			}
		} else if r.Status != runrecord.StatusOK {
			t.Errorf("%s: %s %q", r.ID, r.Status, r.Error)
		}
	}
	// The failed run is retried by the next sweep (and now succeeds).
	t.Setenv(envExit, "")
	again := sweep(t, e, Options{Out: out})
	if again.Ran != 1 || again.Failed != 0 || again.Skipped != 3 {
		t.Fatalf("retry sweep: ran %d failed %d skipped %d", again.Ran, again.Failed, again.Skipped)
	}
}

func TestPolicyHangExitStatus(t *testing.T) {
	e := load(t, "tiny.yaml")
	victim := e.Runs()[0].ID
	t.Setenv(envHang, victim)
	s := sweep(t, e, Options{Out: t.TempDir()})
	if s.Failed != 1 {
		t.Fatalf("failed %d, want 1", s.Failed)
	}
	r := s.Records[0]
	if !strings.HasPrefix(r.Error, "policy hung: ") || !strings.Contains(r.Error, "did not return within 1000ms") {
		t.Errorf("error %q", r.Error)
	}
}

func TestRunTimeout(t *testing.T) {
	e := load(t, "tiny.yaml")
	victim := e.Runs()[3].ID
	t.Setenv(envSleep, victim)
	s := sweep(t, e, Options{Out: t.TempDir(), Only: "lts/default", RunTimeout: 2 * time.Second})
	if len(s.Records) != 1 || s.Failed != 1 || !strings.Contains(s.Records[0].Error, "run timed out after 2s") {
		t.Fatalf("records %d failed %d: %+v", len(s.Records), s.Failed, s.Records)
	}
}

func TestOnly(t *testing.T) {
	e := load(t, "tiny.yaml")
	for _, c := range []struct {
		only string
		want []string
	}{
		{"", []string{"stl/pytorch", "stl/default", "lts/pytorch", "lts/default"}},
		{"stl/", []string{"stl/pytorch", "stl/default"}},
		{"/default", []string{"stl/default", "lts/default"}},
		{"lts/pytorch", []string{"lts/pytorch"}},
		{"nothing", nil},
	} {
		var got []string
		for _, s := range Filter(Specs(e), c.only) {
			got = append(got, s.Key())
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("--only %q: %v, want %v", c.only, got, c.want)
		}
	}
	s := sweep(t, e, Options{Out: t.TempDir(), Only: "/pytorch"})
	if s.Ran != 2 || len(s.Records) != 2 {
		t.Fatalf("ran %d", s.Ran)
	}
}

// An --only that matches no run of the matrix is an error that names the
// filter and shows a run key, and nothing is written.
func TestOnlyMatchingNothing(t *testing.T) {
	e := load(t, "tiny.yaml")
	out := filepath.Join(t.TempDir(), "out")
	_, err := Run(context.Background(), e, Options{Out: out, Only: "stl/pytroch"})
	want := `--only "stl/pytroch" matches none of the 4 runs of experiment tiny: expected part of a run's WORKLOAD/POLICY-LABEL, e.g. "stl/pytorch"`
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %s", err, want)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s was created (%v)", out, err)
	}
}

func TestGeneratorWorkload(t *testing.T) {
	e := load(t, "generator.yaml")
	s := sweep(t, e, Options{Out: t.TempDir()})
	if s.Ran != 2 || s.Failed != 0 {
		t.Fatalf("ran %d failed %d", s.Ran, s.Failed)
	}
	r := byKey(s.Records)["random#1/pytorch"]
	if r == nil || r.Error != "" || r.Metrics == nil || r.Metrics.PeakRequested <= 0 {
		t.Fatalf("generator row: %+v", r)
	}
}

func TestSpecIsJSON(t *testing.T) {
	e := load(t, "tiny.yaml")
	sp := Specs(e)[0]
	b, err := json.Marshal(sp)
	if err != nil {
		t.Fatal(err)
	}
	var back Spec
	if err := json.Unmarshal(b, &back); err != nil || back.ID != sp.ID || back.Trace != sp.Trace || back.Label != sp.Label {
		t.Fatalf("round trip: %v %+v", err, back)
	}
}

func TestRecordsExplainTheFirstOOM(t *testing.T) {
	s := sweep(t, load(t, "oom.yaml"), Options{Out: t.TempDir()})
	if s.Ran != 2 || s.Failed != 0 {
		t.Fatalf("ran %d failed %d", s.Ran, s.Failed)
	}
	for _, r := range s.Records {
		o := r.FirstOOMReport
		switch {
		case r.Capacity == 0 && o != nil:
			t.Errorf("unlimited: an OOM report without OOMs: %+v", o)
		case r.Capacity == 0:
		case o == nil:
			t.Errorf("100 MiB: %d OOMs but no report", r.Metrics.OOMs)
		// 6 of 8 16 MiB blocks fit in 100 MiB; the 7th fails with nothing cached.
		case o.Event != r.Metrics.FirstOOM || o.Event != 6 || o.Rounded != 16<<20 || o.Cached != 0 || o.Capacity != 100<<20:
			t.Errorf("100 MiB: first OOM at event %d, report %+v", r.Metrics.FirstOOM, o)
		}
	}
}
