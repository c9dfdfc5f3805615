package experiment

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const idYAML = `
name: ids
description: DESC
device:
  capacity: 1GiB
workloads:
  - trace: t.jsonl
  - generator: random
    params: {num_allocations: 10}
policies:
  - policy: pytorch
    label: LABEL
    params: {max_split_size_mb: 128}
  - policy: p.wasm
`

// idsOf writes the fixture files into a fresh directory, applies edit to
// the YAML and returns the IDs of its runs.
func idsOf(t *testing.T, trace, wasm string, edit func(string) string, opts ...Option) []string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range map[string]string{"t.jsonl": trace, "p.wasm": wasm} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	y := idYAML
	if edit != nil {
		y = edit(y)
	}
	path := filepath.Join(dir, "e.yaml")
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := Load(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range e.Runs() {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestIDs(t *testing.T) {
	const trace, wasm = `{"op":"alloc","id":0,"size":1}` + "\n", "\x00asm\x01\x00\x00\x00"
	base := idsOf(t, trace, wasm, nil)
	if len(base) != 4 {
		t.Fatalf("%d runs, want 4", len(base))
	}
	// Runs: [trace×pytorch, trace×p.wasm, gen×pytorch, gen×p.wasm].
	replace := func(old, new string) func(string) string {
		return func(s string) string {
			if !strings.Contains(s, old) {
				t.Fatalf("fixture lacks %q", old)
			}
			return strings.Replace(s, old, new, 1)
		}
	}
	cases := []struct {
		name        string
		trace, wasm string
		edit        func(string) string
		changed     []bool // which of the 4 IDs change
	}{
		{"same experiment, another directory", trace, wasm, nil, []bool{false, false, false, false}},
		{"label", trace, wasm, replace("LABEL", "other"), []bool{false, false, false, false}},
		{"description", trace, wasm, replace("DESC", "other"), []bool{false, false, false, false}},
		{"name", trace, wasm, replace("name: ids", "name: other"), []bool{false, false, false, false}},
		{"workload name", trace, wasm, replace("- trace: t.jsonl", "- name: w\n    trace: t.jsonl"), []bool{false, false, false, false}},
		{"trace bytes", trace + "\n", wasm, nil, []bool{true, true, false, false}},
		{"trace device", trace, wasm, replace("- trace: t.jsonl", "- trace: t.jsonl\n    device: 1"), []bool{true, true, false, false}},
		{"wasm bytes", trace, wasm + "\x00", nil, []bool{false, true, false, true}},
		{"policy param", trace, wasm, replace("max_split_size_mb: 128", "max_split_size_mb: 256"), []bool{true, false, true, false}},
		{"built-in", trace, wasm, replace("policy: pytorch", "policy: default"), []bool{true, false, true, false}},
		{"generator param", trace, wasm, replace("{num_allocations: 10}", "{num_allocations: 11}"), []bool{false, false, true, true}},
		{"generator seed", trace, wasm, replace("{num_allocations: 10}", "{num_allocations: 10}\n    seeds: [2]"), []bool{false, false, true, true}},
		{"capacity", trace, wasm, replace("capacity: 1GiB", "capacity: 2GiB"), []bool{true, true, true, true}},
		{"capacity spelling", trace, wasm, replace("capacity: 1GiB", "capacity: 1073741824"), []bool{false, false, false, false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := idsOf(t, c.trace, c.wasm, c.edit)
			for i := range base {
				if (got[i] != base[i]) != c.changed[i] {
					t.Errorf("run %d: ID %s → %s, want changed=%v", i, base[i], got[i], c.changed[i])
				}
			}
		})
	}
}

func TestIDRepeats(t *testing.T) {
	ids := idsOf(t, "x\n", "y", func(s string) string { return s + "repeats: 2\n" })
	if len(ids) != 8 || ids[0] == ids[1] {
		t.Errorf("repeats must have distinct IDs: %v", ids)
	}
	base := idsOf(t, "x\n", "y", nil)
	if ids[0] != base[0] {
		t.Errorf("repeat 1's ID changed with repeats: %s vs %s", ids[0], base[0])
	}
}

func TestWithBuiltins(t *testing.T) {
	lookup := func(b string) func(string) ([]byte, bool) {
		return func(name string) ([]byte, bool) {
			if name == "pytorch" {
				return []byte(b), true
			}
			return nil, false
		}
	}
	a := idsOf(t, "x\n", "y", nil, WithBuiltins(lookup("one")))
	b := idsOf(t, "x\n", "y", nil, WithBuiltins(lookup("two")))
	if a[0] == b[0] || a[1] != b[1] {
		t.Errorf("built-in bytes must change only the built-in's IDs: %v vs %v", a, b)
	}
	// default is not built in under this lookup
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "t.jsonl"), []byte("x"), 0o644)
	_, err := Parse([]byte("name: x\nworkloads: [{trace: t.jsonl}]\npolicies: [{policy: default}]\n"), filepath.Join(dir, "e.yaml"), WithBuiltins(lookup("one")))
	if want := `e.yaml:3: policies[0].policy: unknown built-in policy "default" (a policy module's path ends in .wasm)`; err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("error = %v, want suffix %s", err, want)
	}
}

func TestVariantsAndLabels(t *testing.T) {
	p := Policy{Policy: "dir/x.wasm", Params: map[string]string{"k": "v"}, Sweeps: []Sweep{{"a", []string{"1", "2"}}}}
	var labels []string
	for _, v := range p.Variants() {
		labels = append(labels, v.Label)
	}
	if want := []string{"x(a=1,k=v)", "x(a=2,k=v)"}; !reflect.DeepEqual(labels, want) {
		t.Errorf("labels = %v, want %v", labels, want)
	}
}

func TestSuggest(t *testing.T) {
	cases := map[string]string{
		"repeat": ` (did you mean "repeats"?)`, "REPEATS": ` (did you mean "repeats"?)`,
		"polices": ` (did you mean "policies"?)`, "outptu": ` (did you mean "output"?)`, "zzz": "",
	}
	for in, want := range cases {
		if got := suggest(in, topKeys); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}
