package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/internal/sharedtraces"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/snapshot"
)

// tuneJSON is the part of `tune --json` the tests read.
type tuneJSON struct {
	Capacity int64 `json:"capacity"`
	Baseline struct {
		Params       map[string]string `json:"params"`
		PeakReserved int64             `json:"peak_reserved"`
		OOMs         int64             `json:"ooms"`
		MinCapacity  *int64            `json:"min_capacity"`
		DriverCalls  int64             `json:"driver_calls"`
	} `json:"baseline"`
	Recommendation struct {
		Params       map[string]string `json:"params"`
		Changes      map[string]string `json:"changes"`
		Conf         string            `json:"conf"`
		PeakReserved int64             `json:"peak_reserved"`
		OOMs         int64             `json:"ooms"`
		MinCapacity  *int64            `json:"min_capacity"`
		DriverCalls  int64             `json:"driver_calls"`
		IsBaseline   bool              `json:"is_baseline"`
		Reasons      []string          `json:"reasons"`
		Summary      string            `json:"summary"`
	} `json:"recommendation"`
	Settings []json.RawMessage `json:"settings"`
	Policies []struct {
		Policy string `json:"policy"`
	} `json:"policies"`
}

// On every real snapshot: a recommendation whose predicted peak reserved a
// plain `fraglab replay` with its params reproduces exactly, never worse
// than the recorded settings by the ranking, and strictly better in
// something unless it is the baseline.
func TestTuneSharedSnapshots(t *testing.T) {
	for _, f := range sharedtraces.Files(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			args := []string{"tune", f, "--json", "--no-policies"}
			capArgs := []string{}
			if strings.Contains(f, "oom") {
				capArgs = []string{"--capacity", "from-trace"}
			}
			out, err := fraglab(t, append(args, capArgs...)...)
			if err != nil {
				t.Fatal(err)
			}
			var rep tuneJSON
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatal(err)
			}
			r, b := rep.Recommendation, rep.Baseline
			if r.MinCapacity == nil || b.MinCapacity == nil {
				t.Fatalf("min_capacity missing: recommendation %v, baseline %v", r.MinCapacity, b.MinCapacity)
			}
			replayArgs := append([]string{"replay", "--trace", f, "--policy", "pytorch", "--json"}, capArgs...)
			for k, v := range r.Params {
				replayArgs = append(replayArgs, "--param", k+"="+v)
			}
			rout, err := fraglab(t, replayArgs...)
			if err != nil {
				t.Fatal(err)
			}
			var m replay.Metrics
			if err := json.Unmarshal([]byte(rout), &m); err != nil {
				t.Fatal(err)
			}
			if m.PeakReserved != r.PeakReserved || m.OOMs != r.OOMs {
				t.Errorf("replay with %v: peak_reserved %d, ooms %d; tune predicted %d, %d", r.Params, m.PeakReserved, m.OOMs, r.PeakReserved, r.OOMs)
			}
			key := func(ooms, minCap, peak, calls int64) []int64 { return []int64{ooms, minCap, peak, calls} }
			rk := key(r.OOMs, *r.MinCapacity, r.PeakReserved, r.DriverCalls)
			bk := key(b.OOMs, *b.MinCapacity, b.PeakReserved, b.DriverCalls)
			switch c := slices.Compare(rk, bk); {
			case c > 0:
				t.Errorf("recommendation %v ranks worse than the baseline %v", rk, bk)
			case c == 0 && !r.IsBaseline:
				t.Errorf("recommendation %v equals the baseline %v but is not it", r.Changes, bk)
			case r.IsBaseline && !strings.Contains(strings.Join(r.Reasons, "\n"), "no setting tried beats"):
				t.Errorf("baseline kept without saying so: %q", r.Reasons)
			}
			if len(rep.Settings) < 10 {
				t.Errorf("only %d settings tried", len(rep.Settings))
			}
			t.Logf("%s: %s (%s)", filepath.Base(f), r.Conf, r.Summary)
		})
	}
}

func TestTuneBadInput(t *testing.T) {
	dir := t.TempDir()
	notPickle := filepath.Join(dir, "bad.pickle")
	os.WriteFile(notPickle, []byte("this is not a pickle\n"), 0o644)
	empty := filepath.Join(dir, "empty.jsonl")
	os.WriteFile(empty, nil, 0o644)
	var buf bytes.Buffer
	if err := snapshot.Write(&buf, &snapshot.Snapshot{}); err != nil {
		t.Fatal(err)
	}
	noEvents := filepath.Join(dir, "no-events.pickle")
	os.WriteFile(noEvents, buf.Bytes(), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"not a pickle", []string{notPickle}, "bad.pickle"},
		{"snapshot with no events", []string{noEvents}, "no device has trace entries"},
		{"trace with no events", []string{empty}, "no allocations to tune for"},
		{"device out of range", []string{"../../tune/testdata/expandable-wins.pickle", "--device", "7"}, "device 7 has no trace entries"},
		{"device on a jsonl", []string{empty, "--device", "0"}, "applies to PyTorch snapshots (.pickle)"},
		{"bad capacity", []string{"../../tune/testdata/expandable-wins.pickle", "--capacity", "lots"}, "--capacity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fraglab(t, append([]string{"tune"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// The text report: the paste-able line, the two tables.
func TestTuneText(t *testing.T) {
	out, err := fraglab(t, "tune", "../../tune/testdata/expandable-wins.pickle")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True", "Settings (pytorch policy", "What a custom allocator could reach", "buddy"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// --json: one object with the documented keys; the recommendation has the
// 15 metrics of `replay --json`, params, conf and min_capacity.
func TestTuneJSONKeys(t *testing.T) {
	out, err := fraglab(t, "tune", "../../tune/testdata/max-split-wins.pickle", "--json", "--capacity", "300MiB")
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &top); err != nil {
		t.Fatalf("not one JSON object: %v", err)
	}
	var keys []string
	for k := range top {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"baseline", "bound", "capacity", "flags", "objective", "policies", "recommendation", "runs", "settings", "trace"}; !slices.Equal(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	var rec map[string]any
	if err := json.Unmarshal(top["recommendation"], &rec); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"peak_reserved", "peak_allocated", "peak_requested", "peak_private_reserved", "frag_ratio", "waste", "ext_frag",
		"ooms", "first_oom", "segment_allocs", "segment_frees", "segment_maps", "segment_unmaps", "events", "ns_per_event",
		"params", "conf", "min_capacity", "driver_calls", "is_baseline", "summary", "reasons", "changes"} {
		if _, ok := rec[k]; !ok {
			t.Errorf("recommendation lacks %q", k)
		}
	}
	if rec["conf"] != "max_split_size_mb:31" {
		t.Errorf("conf %v, want max_split_size_mb:31", rec["conf"])
	}
}
