package tune

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/runner"
	"github.com/fraglab/fraglab/snapshot"
	"github.com/fraglab/fraglab/trace"
)

// TestMain makes the test binary the runner's worker when re-executed.
func TestMain(m *testing.M) {
	if runner.IsWorker() {
		runner.Serve(runner.WorkerOptions{})
		return
	}
	os.Exit(m.Run())
}

// snapshotInput opens a snapshot fixture as the CLI does.
func snapshotInput(t testing.TB, path string, capacity int64) Input {
	t.Helper()
	abs, _ := filepath.Abs(path)
	s, err := snapshot.ReadFile(abs)
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Workload(-1)
	if err != nil {
		t.Fatal(err)
	}
	return Input{Trace: abs, Device: -1, Capacity: capacity, Recorded: w.Settings.Params(),
		Open: func() (trace.Reader, []host.InitialSegment, error) {
			r, initial := replay.SnapshotInput(w)
			return r, initial, nil
		}}
}

// The fixtures are built so that one knob clearly wins (testdata/README.md).
func TestPicksTheKnobThatWins(t *testing.T) {
	for _, tc := range []struct {
		file, knob string
	}{
		{"expandable-wins.pickle", "expandable_segments"},
		{"max-split-wins.pickle", "max_split_size_mb"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			rep, err := Run(context.Background(), snapshotInput(t, filepath.Join("testdata", tc.file), 0), Options{NoPolicies: true})
			if err != nil {
				t.Fatal(err)
			}
			r := rep.Recommendation
			if r.IsBaseline {
				t.Fatalf("kept the baseline: %v", r.Reasons)
			}
			if _, ok := r.Changes[tc.knob]; !ok {
				t.Errorf("recommendation %v lacks %s", r.Changes, tc.knob)
			}
			if !strings.Contains(r.Reasons[0], "mattered most: "+tc.knob) {
				t.Errorf("first reason %q, want %s named as the knob that mattered", r.Reasons[0], tc.knob)
			}
			if !strings.Contains(r.Conf, strings.TrimSuffix(tc.knob, "_mb")) {
				t.Errorf("conf %q lacks %s", r.Conf, tc.knob)
			}
			if r.PeakReserved >= rep.Baseline.PeakReserved {
				t.Errorf("peak reserved %d, baseline %d: the fixture is built for a clear win", r.PeakReserved, rep.Baseline.PeakReserved)
			}
		})
	}
}

// With a capacity below the recorded settings' needs, OOMs rank first, and
// garbage collection is among the knobs tried.
func TestCapacityRanksOOMsFirst(t *testing.T) {
	rep, err := Run(context.Background(), snapshotInput(t, filepath.Join("testdata", "expandable-wins.pickle"), 150<<20), Options{NoPolicies: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Baseline.MinCapacity == nil {
		t.Fatal("baseline without min_capacity")
	}
	gc := false
	for i, s := range rep.Settings {
		if i > 0 && s.Metrics != nil && rep.Settings[i-1].Metrics != nil && s.OOMs < rep.Settings[i-1].OOMs {
			t.Errorf("%s (%d OOMs) ranked after %s (%d OOMs)", s.Name, s.OOMs, rep.Settings[i-1].Name, rep.Settings[i-1].OOMs)
		}
		if _, ok := s.Changes["garbage_collection_threshold"]; ok {
			gc = true
		}
	}
	if !gc {
		t.Error("no garbage_collection_threshold setting tried with a capacity")
	}
}

func TestExplainsTheFirstOOMs(t *testing.T) {
	// At 120 MiB the recorded settings OOM (they need 128 MiB).
	rep, err := Run(context.Background(), snapshotInput(t, filepath.Join("testdata", "expandable-wins.pickle"), 120<<20), Options{NoPolicies: true})
	if err != nil {
		t.Fatal(err)
	}
	// Every setting that OOMs at the capacity explains its first OOM, and
	// the reasons say why the recorded settings OOM.
	for _, s := range rep.Settings {
		if s.Metrics != nil && (s.OOMs > 0) != (s.FirstOOMReport != nil) {
			t.Errorf("%s: %d OOMs, first OOM report %+v", s.Name, s.OOMs, s.FirstOOMReport)
		}
		if o := s.FirstOOMReport; o != nil && o.Event != s.FirstOOM {
			t.Errorf("%s: first OOM at event %d, its report at %d", s.Name, s.FirstOOM, o.Event)
		}
	}
	if rep.Baseline.OOMs == 0 {
		t.Fatal("the baseline has no OOM at 120 MiB: the fixture no longer tests the OOM reason")
	}
	want := fmt.Sprintf("the recorded settings OOM %d times at 120.0 MiB; the first at event %d,", rep.Baseline.OOMs, rep.Baseline.FirstOOM)
	if len(rep.Recommendation.Reasons) == 0 || !strings.HasPrefix(rep.Recommendation.Reasons[0], want) {
		t.Errorf("reasons %q; want the first to start %q", rep.Recommendation.Reasons, want)
	}
}

func TestConf(t *testing.T) {
	for _, tc := range []struct {
		params map[string]string
		want   string
	}{
		{nil, ""},
		{map[string]string{"expandable_segments": "true", "max_split_size_mb": "128"}, "expandable_segments:True,max_split_size_mb:128"},
		{map[string]string{"expandable_segments": "false", "max_split_size_mb": "unlimited", "roundup_power2_divisions": "0"}, ""},
		{map[string]string{"roundup_power2_divisions": "[1:1,2:2,4:4,>:8]", "garbage_collection_threshold": "0.7"}, "garbage_collection_threshold:0.7,roundup_power2_divisions:[1:1,2:2,4:4,>:8]"},
	} {
		if got := Conf(tc.params); got != tc.want {
			t.Errorf("Conf(%v) = %q, want %q", tc.params, got, tc.want)
		}
	}
}

func TestKnobs(t *testing.T) {
	const M = mib
	sizes := []int64{512, 4 * M, 30 * M, 100 * M, 100 * M, 100 * M}
	names := func(ks []Knob) string {
		var out []string
		for _, k := range ks {
			out = append(out, k.Name)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		name     string
		base     map[string]string
		capacity int64
		knobs    string
		check    func(t *testing.T, ks []Knob)
	}{
		{"defaults, no capacity", map[string]string{}, 0, "expandable_segments max_split_size_mb roundup_power2_divisions large_segment_size_mb",
			func(t *testing.T, ks []Knob) {
				if v := ks[0].Variants[0]["expandable_segments"]; v != "true" {
					t.Errorf("expandable variant %q, want true", v)
				}
				var splits []string
				for _, v := range ks[1].Variants {
					splits = append(splits, v["max_split_size_mb"])
				}
				// 25th percentile of the large requests is 30 MiB, the rest 100 MiB.
				if got := strings.Join(splits, ","); got != "31,101" {
					t.Errorf("max_split_size_mb values %s, want 31,101", got)
				}
			}},
		{"capacity adds garbage collection", map[string]string{}, 1 << 30,
			"expandable_segments max_split_size_mb roundup_power2_divisions garbage_collection_threshold large_segment_size_mb", nil},
		{"recorded values are not tried again", map[string]string{"expandable_segments": "True", "max_split_size_mb": "31"}, 0,
			"expandable_segments max_split_size_mb roundup_power2_divisions large_segment_size_mb",
			func(t *testing.T, ks []Knob) {
				if v := ks[0].Variants[0]["expandable_segments"]; v != "false" {
					t.Errorf("expandable variant %q, want false", v)
				}
				for _, v := range ks[1].Variants {
					if v["max_split_size_mb"] == "31" {
						t.Error("max_split_size_mb=31 tried again")
					}
				}
				if ks[1].Variants[0]["max_split_size_mb"] != "unlimited" {
					t.Errorf("first max_split variant %v, want unlimited (undo the recorded value)", ks[1].Variants[0])
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks := Knobs(Profile{Sizes: sizes}, tc.base, tc.capacity)
			if got := names(ks); got != tc.knobs {
				t.Errorf("knobs %q, want %q", got, tc.knobs)
			}
			if tc.check != nil {
				tc.check(t, ks)
			}
		})
	}
}

// A failed open, a malformed line and a workload without allocs are errors
// naming the file once.
func TestNothingToTune(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func() (trace.Reader, []host.InitialSegment, error)
		want string
	}{
		{"no allocs", func() (trace.Reader, []host.InitialSegment, error) {
			return emptyReader{}, nil, nil
		}, "x.jsonl: the workload has no allocations"},
		{"open fails", func() (trace.Reader, []host.InitialSegment, error) {
			return nil, nil, errors.New("x.jsonl: boom")
		}, "x.jsonl: boom"},
		{"malformed line", func() (trace.Reader, []host.InitialSegment, error) {
			return trace.NewJSONLReader(strings.NewReader("{\"bad\n"), "x.jsonl"), nil, nil
		}, "x.jsonl:1: malformed JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Trace: "x.jsonl", Device: -1, Open: tc.open}
			_, err := Run(context.Background(), in, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if n := strings.Count(err.Error(), "x.jsonl"); n != 1 {
				t.Errorf("error %q names the file %d times, want once", err, n)
			}
		})
	}
}

type emptyReader struct{}

func (emptyReader) Next() (trace.Event, error) { return trace.Event{}, io.EOF }
func (emptyReader) Tags() *trace.Tags          { return trace.NewTags() }
