package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/internal/sharedtraces"
)

// fraglab runs the CLI in-process and returns stdout and the error.
func fraglab(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

const smallThenLarge = "../../examples/traces/devlog-small-then-large.jsonl"

func TestReplayJSONHasExactlyTheMetrics(t *testing.T) {
	out, err := fraglab(t, "replay", "--trace", smallThenLarge, "--policy", "pytorch", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	want := []string{"peak_reserved", "peak_allocated", "peak_requested", "peak_rounded", "peak_private_reserved", "frag_ratio", "waste", "ext_frag",
		"ooms", "first_oom", "segment_allocs", "segment_frees", "segment_maps", "segment_unmaps", "events", "ns_per_event"}
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("keys %v, want exactly %v", got, want)
	}
	if m["peak_reserved"] != float64(256<<20) || m["events"] != float64(24) {
		t.Errorf("peak_reserved %v, events %v; want 268435456 and 24", m["peak_reserved"], m["events"])
	}
	if !strings.Contains(out, `"peak_reserved":268435456,`) {
		t.Errorf("bytes must print as integers: %s", out)
	}
}

func TestReplayTableAndDriverLog(t *testing.T) {
	dl := filepath.Join(t.TempDir(), "driver.jsonl")
	out, err := fraglab(t, "replay", "--trace", smallThenLarge, "--policy", "default", "--capacity", "200MiB", "--driver-log", dl)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"peak_reserved", "ooms", "capacity 200.0 MiB"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	log, err := os.ReadFile(dl)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	// 8 segments of 16 MiB, then at 200 MiB the first 32 MiB alloc fits
	// (160 MiB), the next needs a release of cached 16 MiB segments.
	if !strings.HasPrefix(lines[0], `{"event":0,"action":"segment_alloc","addr":`) || !strings.Contains(string(log), `"action":"segment_free"`) {
		t.Errorf("driver log:\n%s", log)
	}
}

func TestReplayErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(bad, []byte("{\"op\":\"alloc\",\"id\":1,\"size\":10}\n{\"op\":\"free\",\"id\":2}\n"), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"replay", "--trace", smallThenLarge, "--policy", "nope"}, `unknown policy "nope": built-ins are best-fit-nosplit-large, bfc, buddy, default, first-fit, gmlake, lifetime-aware, planner, prealloc-arena, pytorch, pytorch-expandable, rmm-pool, size-class, tlsf`},
		{[]string{"replay", "--trace", smallThenLarge, "--param", "x"}, `expected key=value`},
		{[]string{"replay", "--trace", smallThenLarge, "--policy", "pytorch", "--param", "max_split_size=128"}, "unknown parameter max_split_size: the policy never reads it (it reads: "},
		{[]string{"replay", "--trace", smallThenLarge, "--capacity", "lots"}, `invalid size "lots"`},
		{[]string{"replay", "--trace", smallThenLarge, "--capacity", "0"}, "--capacity 0: a device of 0 bytes holds nothing: expected a positive size"},
		{[]string{"replay", "--trace", smallThenLarge, "--capacity", "0GiB"}, "--capacity 0GiB: a device of 0 bytes holds nothing"},
		{[]string{"fidelity", "../../tune/testdata/expandable-wins.pickle", "--capacity", "0"}, "--capacity 0: a device of 0 bytes holds nothing"},
		{[]string{"replay", "--trace", bad}, "bad.jsonl:2: free of unknown id 2"},
		{[]string{"replay", "--trace", "missing.jsonl"}, "missing.jsonl"},
		{[]string{"replay"}, "--trace is required"},
		{[]string{"replay", "--trace", "run.xyz"}, "run.xyz: unsupported trace format .xyz: expected .csv, .csv.gz, .fltr, .fltr.gz, .jsonl or .jsonl.gz, or a PyTorch snapshot .pickle or .pkl"},
		{[]string{"replay", "--trace", smallThenLarge, "--policy", "./nothing.wasm"}, "nothing.wasm"},
	}
	for _, c := range cases {
		_, err := fraglab(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("fraglab %s: error %v, want it to contain %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}

func TestPoliciesLists(t *testing.T) {
	out, err := fraglab(t, "policies")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "default") || !strings.Contains(out, "pytorch") || !strings.Contains(out, "policy_round_size") {
		t.Errorf("policies:\n%s", out)
	}
	// tlsf (Rust SDK) exports every hook; its hook mask says which it
	// implements, and only those are listed.
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "tlsf" {
			if !strings.Contains(line, "policy_pick_block") || strings.Contains(line, "policy_merge") || strings.Contains(line, "policy_observe") {
				t.Errorf("tlsf lists the hooks of its mask only: %s", line)
			}
			return
		}
	}
	t.Errorf("no tlsf line in:\n%s", out)
}

// TestFidelityOnSharedSnapshots: the pytorch policy reproduces every real
// snapshot's recorded segment events, peak reserved, OOMs and alloc
// addresses, on every device with events.
func TestFidelityOnSharedSnapshots(t *testing.T) {
	files := sharedtraces.Files(t)
	devices := map[string][]string{"expandable-4gpu-oom.pickle": {"0", "1", "2"}}
	for _, f := range files {
		devs := devices[filepath.Base(f)]
		if devs == nil {
			devs = []string{"0"}
		}
		for _, d := range devs {
			t.Run(filepath.Base(f)+"/device"+d, func(t *testing.T) {
				out, err := fraglab(t, "fidelity", f, "--device", d)
				if err != nil || !strings.Contains(out, "EXACT MATCH") {
					t.Errorf("fidelity: %v\n%s", err, out)
				}
			})
		}
	}
}

// TestFidelityReportsDivergence: with a capacity far above the recorded
// one, the OOM path of device 1 is not taken, and fidelity says so with a
// non-zero exit.
func TestFidelityReportsDivergence(t *testing.T) {
	f := filepath.Join(sharedtraces.Dir(t), "expandable-4gpu-oom.pickle")
	if _, err := os.Stat(f); err != nil {
		t.Skipf("%s absent: %v", f, err)
	}
	out, err := fraglab(t, "fidelity", f, "--device", "1", "--capacity", "1TiB")
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("exit %v, want exit status 1", err)
	}
	for _, want := range []string{"DIVERGES", "first divergence at segment event 39", ">> #39 event 286 segment_unmap", "OOMs at events: recorded [287], replayed []: differ"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
