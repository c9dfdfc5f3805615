package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/internal/oomreport"
)

// testdata/oom-fragmented.jsonl at 40 MiB: three 8 MiB blocks fill two
// 20 MiB segments, the first is freed, and a 14 MiB request finds 24 MiB
// cached in holes of 8, 4 and 12 MiB (fragmentation); then a 32 MiB one
// fails with only those 24 MiB (not fragmentation).
const oomFragmented = "testdata/oom-fragmented.jsonl"

func TestReplayExplainsOOMs(t *testing.T) {
	report := filepath.Join(t.TempDir(), "ooms.json")
	out, err := fraglab(t, "replay", "--trace", oomFragmented, "--policy", "pytorch", "--capacity", "40MiB", "--oom-report", report)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"first OOM, at event 4 (alloc id 4, stream 0; 2 OOMs in all)",
		"reserved    40.0 MiB = allocated 16.0 MiB + cached 24.0 MiB (reserved but unallocated, in 3 free blocks, the largest 12.0 MiB)",
		"too small       24.0 MiB",
		"of it, 0 B sat in whole free segments or pages",
		"(2 of 2 segments)",
		"verdict     fragmentation: the cached 24.0 MiB and the device's free 0 B add up to the 14.0 MiB asked",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var rs []host.OOMReport
	if err := json.Unmarshal(b, &rs); err != nil {
		t.Fatalf("--oom-report: %v\n%s", err, b)
	}
	if len(rs) != 2 {
		t.Fatalf("--oom-report holds %d reports, want 2", len(rs))
	}
	second := rs[1]
	if second.Event != 5 || second.Rounded != 32<<20 || second.Cached != 24<<20 || oomreport.Fragmented(second) {
		t.Errorf("second report: %+v; want event 5, 32 MiB asked, 24 MiB cached, not fragmentation", second)
	}
	if !strings.HasPrefix(oomreport.Verdict(second), "not fragmentation") {
		t.Errorf("verdict of the second OOM: %s", oomreport.Verdict(second))
	}

	// --explain-ooms bounds the reports; --json keeps exactly its metrics.
	out, err = fraglab(t, "replay", "--trace", oomFragmented, "--capacity", "40MiB", "--explain-ooms", "1", "--oom-report", report, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil || len(m) != 16 || m["ooms"] != float64(2) {
		t.Errorf("--json with OOMs: %d keys, ooms %v, %v\n%s", len(m), m["ooms"], err, out)
	}
	if b, _ = os.ReadFile(report); json.Unmarshal(b, &rs) != nil || len(rs) != 1 {
		t.Errorf("--explain-ooms 1: %d reports\n%s", len(rs), b)
	}

	// No OOM: an empty array, and no explanation in the table.
	out, err = fraglab(t, "replay", "--trace", oomFragmented, "--oom-report", report)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ = os.ReadFile(report); strings.TrimSpace(string(b)) != "[]" || strings.Contains(out, "first OOM") {
		t.Errorf("without OOMs: report %s, table:\n%s", b, out)
	}
	if _, err := fraglab(t, "replay", "--trace", oomFragmented, "--explain-ooms", "-1"); err == nil || !strings.Contains(err.Error(), "--explain-ooms -1") {
		t.Errorf("--explain-ooms -1: %v", err)
	}
}
