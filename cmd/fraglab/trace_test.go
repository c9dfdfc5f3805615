package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/trace"
)

func TestTraceGen(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "stl.jsonl")
	if _, err := fraglab(t, "trace", "gen", "devlog", "--param", "order=small-then-large", "--seed", "1", "-o", out); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	want, _ := os.ReadFile(smallThenLarge)
	if string(got) != string(want) {
		t.Errorf("devlog trace differs from %s:\n%s", smallThenLarge, got)
	}

	gz := filepath.Join(dir, "r.jsonl.gz")
	if _, err := fraglab(t, "trace", "gen", "random", "--param", "num_allocations=50", "--seed", "3", "-o", gz); err != nil {
		t.Fatal(err)
	}
	r, c, err := trace.Open(gz)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := 0
	for {
		_, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 100 { // 50 allocs, 50 frees
		t.Errorf("read %d events from %s, want 100", n, gz)
	}

	// Private pools (llm-serving's CUDA graphs) travel in JSONL and binary
	// traces; an RMM log cannot hold them: refused, leaving no file.
	for _, name := range []string{"graphs.jsonl", "graphs.fltr"} {
		pools := filepath.Join(dir, name)
		if _, err := fraglab(t, "trace", "gen", "llm-serving", "--param", "requests=5", "--param", "graph_batches=1,2", "-o", pools); err != nil {
			t.Fatalf("llm-serving with graph pools to %s: %v", name, err)
		}
		f, closer, err := trace.Open(pools)
		if err != nil {
			t.Fatal(err)
		}
		var inPool, releases int
		for {
			e, err := f.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if e.Op == trace.OpAlloc && e.Pool != 0 {
				inPool++
			}
			if e.Op == trace.OpReleasePool {
				releases++
			}
		}
		closer.Close()
		if inPool == 0 || releases != 1 { // graph_pool=shared: one pool, released at teardown
			t.Errorf("%s: %d allocs in private pools, %d release_pool; want some and 1", name, inPool, releases)
		}
	}
	csv := filepath.Join(dir, "graphs.csv")
	_, err = fraglab(t, "trace", "gen", "llm-serving", "--param", "requests=5", "--param", "graph_batches=1,2", "-o", csv)
	if err == nil || !strings.Contains(err.Error(), "to an RMM log: RMM logs have no private pools") {
		t.Errorf("llm-serving with graph pools to an RMM log: error %v", err)
	}
	if _, serr := os.Stat(csv); serr == nil {
		t.Errorf("%s written despite the error", csv)
	}

	for _, args := range [][]string{
		{"trace", "gen", "nope", "-o", out},
		{"trace", "gen", "random", "--param", "bogus=1", "-o", out},
		{"trace", "gen", "random", "--param", "noequals", "-o", out},
		{"trace", "gen", "random"},
		{"trace", "gen"},
	} {
		if _, err := fraglab(t, args...); err == nil {
			t.Errorf("%v succeeded", args)
		}
	}
}

func TestTraceGenList(t *testing.T) {
	out, err := fraglab(t, "trace", "gen", "--list")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"adversarial", "devlog", "random", "num_allocations (default 1000)", "RMM", "Robson"} {
		if !strings.Contains(out, w) {
			t.Errorf("--list lacks %q:\n%s", w, out)
		}
	}
}
