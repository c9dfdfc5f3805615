package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/internal/sharedtraces"
)

const rmmLog = "../../trace/testdata/rmm/valid.csv"

func TestTraceConvertAndStats(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "stl.fltr")
	out, err := fraglab(t, "trace", "convert", smallThenLarge, bin)
	if err != nil || !strings.Contains(out, "wrote 24 events (jsonl) to "+bin+" (fltr)") {
		t.Fatalf("convert: %v\n%s", err, out)
	}
	back := filepath.Join(dir, "stl.jsonl")
	if _, err := fraglab(t, "trace", "convert", bin, back); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(smallThenLarge)
	b, _ := os.ReadFile(back)
	if string(a) != string(b) {
		t.Errorf("JSONL -> fltr -> JSONL changed %s", smallThenLarge)
	}
	// The binary trace replays like the JSONL one.
	j1, err := fraglab(t, "replay", "--trace", smallThenLarge, "--json")
	if err != nil {
		t.Fatal(err)
	}
	j2, err := fraglab(t, "replay", "--trace", bin, "--json")
	if err != nil {
		t.Fatal(err)
	}
	if strip(j1) != strip(j2) {
		t.Errorf("replay of the binary trace differs:\n%s\n%s", j1, j2)
	}

	out, err = fraglab(t, "replay", "--trace", rmmLog)
	if err != nil || !strings.Contains(out, "the RMM log recorded 2 allocate failures (its own OOMs; the first before event 4, line 6); this replay had 0 OOMs") {
		t.Errorf("replay of an RMM log: %v\n%s", err, out)
	}

	svg := filepath.Join(dir, "rmm.svg")
	out, err = fraglab(t, "trace", "stats", rmmLog, "--svg", svg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"events       7 (alloc 4, free 3, empty_cache 0)", "failures     2 failed allocations", "before event 4: 80.0 GiB", "1 MiB small/large pool", "tag unknown"} {
		if !strings.Contains(out, want) {
			t.Errorf("stats output lacks %q:\n%s", want, out)
		}
	}
	if s, err := os.ReadFile(svg); err != nil || !strings.HasPrefix(string(s), "<svg") {
		t.Errorf("--svg wrote %v %.40q", err, s)
	}
	out, err = fraglab(t, "trace", "stats", rmmLog, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Events   int64 `json:"events"`
		Failures int64 `json:"failures"`
		Peak     int64 `json:"peak_live_bytes"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil || s.Events != 7 || s.Failures != 2 || s.Peak != 22024192 {
		t.Errorf("--json: %v %+v", err, s)
	}
}

// strip drops ns_per_event, which differs from run to run.
func strip(j string) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(j), &m); err != nil {
		return j
	}
	delete(m, "ns_per_event")
	b, _ := json.Marshal(m)
	return string(b)
}

func TestTraceConvertErrors(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(rules, []byte("rules:\n  - tag: weight\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"trace", "convert", smallThenLarge, filepath.Join(dir, "x"), "--to", "xml"}, `--to: unknown trace format "xml"`},
		{[]string{"trace", "convert", smallThenLarge}, "accepts 2 arg(s)"},
		{[]string{"trace", "convert", "../../trace/testdata/rmm/bad-pointer.csv", filepath.Join(dir, "o.jsonl")}, `bad-pointer.csv:2: Pointer "0xZZ"`},
		{[]string{"trace", "stats", "../../trace/testdata/binary/truncated.fltr"}, "truncated.fltr: byte 10: truncated file"},
		{[]string{"trace", "stats", smallThenLarge, "--tag-rules", rules}, "line 2: rule 1 (tag weight): no condition"},
		{[]string{"replay", "--trace", smallThenLarge, "--tag-rules", filepath.Join(dir, "none.yaml")}, "no such file"},
	} {
		_, err := fraglab(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want %q", tt.args, err, tt.want)
		}
	}
}

// TestTagRulesKeepPytorchExact: other tag rules change a snapshot's tags but
// not what the pytorch policy decides.
func TestTagRulesKeepPytorchExact(t *testing.T) {
	files := sharedtraces.Files(t)
	rules := filepath.Join(t.TempDir(), "all-weight.yaml")
	if err := os.WriteFile(rules, []byte("rules:\n  - tag: weight\n    file: .py\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := files[0]
	a, err := fraglab(t, "replay", "--trace", f, "--policy", "pytorch", "--json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := fraglab(t, "replay", "--trace", f, "--policy", "pytorch", "--json", "--tag-rules", rules)
	if err != nil {
		t.Fatal(err)
	}
	if strip(a) != strip(b) {
		t.Errorf("%s: tag rules changed the pytorch replay:\n%s\n%s", f, a, b)
	}
	st, err := fraglab(t, "trace", "stats", f, "--tag-rules", rules)
	if err != nil || !strings.Contains(st, "tag weight") || strings.Contains(st, "tag activation") {
		t.Errorf("stats with all-weight rules: %v\n%s", err, st)
	}
}

// TestTraceGenFormats: trace gen writes the format -o names; the binary and
// RMM outputs hold the events of the JSONL one.
func TestTraceGenFormats(t *testing.T) {
	dir := t.TempDir()
	gen := func(out string) {
		t.Helper()
		if _, err := fraglab(t, "trace", "gen", "random", "--param", "num_allocations=300", "--seed", "5", "-o", out); err != nil {
			t.Fatal(err)
		}
	}
	j, f, c := filepath.Join(dir, "r.jsonl"), filepath.Join(dir, "r.fltr"), filepath.Join(dir, "r.csv")
	gen(j)
	gen(f)
	gen(c)
	for _, p := range []string{f, c} {
		back := p + ".jsonl"
		if _, err := fraglab(t, "trace", "convert", p, back); err != nil {
			t.Fatal(err)
		}
		a, _ := os.ReadFile(j)
		b, _ := os.ReadFile(back)
		if string(a) != string(b) {
			t.Errorf("trace gen -o %s, converted back, differs from trace gen -o r.jsonl", filepath.Base(p))
		}
	}
	if _, err := fraglab(t, "trace", "gen", "random", "-o", filepath.Join(dir, "r.txt")); err == nil || !strings.Contains(err.Error(), "cannot tell the trace format") {
		t.Errorf("-o r.txt: %v", err)
	}
}
