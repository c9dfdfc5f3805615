package runner

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fraglab/fraglab/experiment"
	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/internal/runrecord"
	"github.com/fraglab/fraglab/internal/units"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/report"
)

// suiteCheckEvery is the stride of the invariant checker in
// TestSuiteInvariants: the checker recounts every block and segment, so
// checking after every event of every pair would take tens of minutes;
// every 97th event (and the last) still crosses every phase of every
// workload, a few hundred checks per run.
const suiteCheckEvery = 97

// TestSuiteInvariants runs every policy × workload pair of
// experiments/suite.yaml in this process with the allocator's invariant
// checker on: once on an unlimited device, and once on a device of 3/4 of
// that run's peak reserved bytes (more for a snapshot whose initial state
// needs it), so the release-and-retry and OOM paths are
// checked too. The shared PyTorch snapshots are part of the suite only
// when ../shared/traces/pytorch is present. The unlimited run's metrics
// must equal the committed results/suite (min_capacity, a bisection, is not
// recomputed here).
func TestSuiteInvariants(t *testing.T) {
	e, err := experiment.Load(filepath.Join("..", "experiments", "suite.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range e.Notes {
		t.Log("note:", n)
	}
	committed := committedMetrics(t, filepath.Join("..", "results", "suite", report.JSONFile))
	specs := Specs(e)
	if len(specs) == 0 {
		t.Fatal("the suite has no runs")
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for i := range specs {
		s := specs[i]
		// No hang watchdog: in fast mode it ends the process, here the
		// test binary, and the checker's time counts as the event's.
		s.MinCapacity, s.CheckEvery, s.HangTimeout = false, suiteCheckEvery, -1
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			rec := Execute(context.Background(), &s)
			if !ok(t, rec, "unlimited") {
				return
			}
			got := *rec.Metrics
			got.NsPerEvent = 0
			if want, found := committed[s.ID]; !found && s.Trace != "" {
				// A snapshot of ../shared that the committed results do not
				// have (the shared folder changed): still checked above and
				// below, but there is nothing to compare with.
				t.Logf("%s/%s: not in the committed results/suite (regenerate them: %s)", s.Workload, s.Label, suiteCommand)
			} else if !found {
				t.Errorf("%s/%s: run %s is not in the committed results/suite; regenerate them: %s", s.Workload, s.Label, s.ID, suiteCommand)
			} else if got != want {
				t.Errorf("%s/%s: metrics differ from the committed results/suite (regenerate them: %s):\n got %+v\nwant %+v", s.Workload, s.Label, suiteCommand, got, want)
			}
			// A snapshot that starts mid-run may hold more than 3/4 of its
			// peak before its first event: move towards the peak until the
			// initial state fits.
			const step = replay.CapacityStep
			peak := (rec.Metrics.PeakReserved + step - 1) / step * step
			for s.Capacity = max(peak*3/4/step*step, step); ; {
				rec = Execute(context.Background(), &s)
				if rec.Status == runrecord.StatusOK || !strings.Contains(rec.Error, host.ErrNoRoomForInitial.Error()) || s.Capacity >= peak {
					break
				}
				if s.Capacity += (peak - s.Capacity) / 2 / step * step; peak-s.Capacity < 4*step {
					s.Capacity = peak
				}
			}
			ok(t, rec, units.Format(s.Capacity))
		}()
	}
	wg.Wait()
}

// suiteCommand regenerates results/suite.
const suiteCommand = "rm -rf results/suite && go run ./cmd/fraglab run experiments/suite.yaml"

// committedMetrics reads the committed results.json: each run's metrics by
// run ID.
func committedMetrics(t *testing.T, path string) map[string]replay.Metrics {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows []report.Result
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := map[string]replay.Metrics{}
	for _, r := range rows {
		if r.Metrics != nil {
			m := *r.Metrics
			m.NsPerEvent = 0 // timing, not a result
			out[r.ID] = m
		}
	}
	return out
}

func ok(t *testing.T, rec *runrecord.Record, device string) bool {
	if rec.Status != runrecord.StatusOK {
		t.Errorf("%s/%s on a device of %s: %s", rec.Workload, rec.Policy, device, rec.Error)
		return false
	}
	return true
}
