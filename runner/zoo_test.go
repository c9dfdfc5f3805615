package runner

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/experiment"
)

// TestHostileModulesInASweep: hostile policies run as a sweep's runs in
// worker processes (fast mode: a hang ends the worker with exit status
// 3); each run's record carries the exact report, and the other runs go
// on. The modules are host/wasm's fixtures.
func TestHostileModulesInASweep(t *testing.T) {
	tool, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Skip("wat2wasm not found: apt-get install wabt")
	}
	dir := t.TempDir()
	mods := []string{"spin_split", "init_trap", "load_import_fraglab_unknown", "grow_to_cap", "answer_split_above"}
	var pols strings.Builder
	for _, m := range mods {
		out := filepath.Join(dir, m+".wasm")
		if b, err := exec.Command(tool, filepath.Join("..", "host", "wasm", "testdata", m+".wat"), "-o", out).CombinedOutput(); err != nil {
			t.Fatalf("wat2wasm %s: %v\n%s", m, err, b)
		}
		pols.WriteString("  - policy: ./" + m + ".wasm\n")
	}
	trace, _ := filepath.Abs("../examples/traces/devlog-small-then-large.jsonl")
	exp := filepath.Join(dir, "zoo.yaml")
	yaml := "name: zoo\nworkloads:\n  - trace: " + trace + "\n    name: stl\npolicies:\n" + pols.String() +
		"metrics: [peak_reserved]\nlimits:\n  hook_timeout: 300ms\n  policy_memory: 4MiB\n"
	if err := os.WriteFile(exp, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := experiment.Load(exp)
	if err != nil {
		t.Fatal(err)
	}
	s := sweep(t, e, Options{Out: filepath.Join(dir, "out")})
	want := map[string]string{
		// the third split of the trace's 16 MiB segments spins
		"stl/spin_split":                  "policy hung: fraglab: event 2 (alloc id=2 size=16777216 stream=0 tag=2): policy_split(block_size=16777216, rounded=16777216, pool=1, stream=0, flags=2, tag=2) did not return within 300ms. Wasm code cannot be interrupted in fast mode, so the process ends; rerun with --safe to stop the hook instead of the process.",
		"stl/init_trap":                   "policy ./init_trap.wasm: policy_init trapped: wasm error: unreachable\nwasm stack trace:\n\t.$1() i64",
		"stl/load_import_fraglab_unknown": "policy ./load_import_fraglab_unknown.wasm: imports fraglab.clock, which the host does not provide (it provides log, error_set, param_i64, param_f64, param_str, stat, tag_name, config)",
		"stl/grow_to_cap":                 "",
		"stl/answer_split_above":          "event 0: policy_split(block_size=16777216, rounded=16777216, pool=1, stream=0, flags=2, tag=2) answered 16777728: the front piece must be a multiple of 512 between the rounded size and the block size (the block size: no split)",
	}
	if s.Ran != len(mods) || len(s.Records) != len(mods) {
		t.Fatalf("ran %d of %d", s.Ran, len(mods))
	}
	for _, r := range s.Records {
		k := r.Workload + "/" + r.Policy
		w, ok := want[k]
		switch {
		case !ok:
			t.Errorf("unexpected run %s", k)
		case w == "" && (r.Status != "ok" || r.Error != ""):
			t.Errorf("%s: %s %q, want ok", k, r.Status, r.Error)
		case w != "" && (r.Status != "failed" || r.Error != w):
			t.Errorf("%s: %s\n\t%q\nwant failed with\n\t%q", k, r.Status, r.Error, w)
		}
	}
}
