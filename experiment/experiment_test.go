package experiment

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"
)

func TestLoadFull(t *testing.T) {
	e, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if e.Name != "quickstart" || e.Description != "Every key, once." || e.Dir != "testdata" {
		t.Errorf("name/description/dir = %q %q %q", e.Name, e.Description, e.Dir)
	}
	if want := (Device{Kind: "sim", Capacities: []int64{256 << 20, 1 << 30}}); !reflect.DeepEqual(e.Device, want) {
		t.Errorf("device = %+v, want %+v", e.Device, want)
	}
	zero := 0
	trace := filepath.Join("testdata", "traces", "small-then-large.jsonl")
	wantW := []Workload{
		{Name: "small-then-large", Trace: trace, Line: 7},
		{Name: "snap", Trace: trace, Device: &zero, Line: 8},
		{Name: "random", Generator: "random", Params: map[string]string{"num_allocations": "1000", "max_size": "64MiB"}, Seeds: []int64{1, 2, 3}, Line: 11},
	}
	if len(e.Workloads) != len(wantW) {
		t.Fatalf("%d workloads, want %d", len(e.Workloads), len(wantW))
	}
	for i, w := range e.Workloads {
		w.digest = ""
		if !reflect.DeepEqual(w, wantW[i]) {
			t.Errorf("workloads[%d] = %+v, want %+v", i, w, wantW[i])
		}
	}
	wantP := []Policy{
		{Policy: "pytorch", Label: "pytorch", Params: map[string]string{}, Line: 15},
		{Policy: "pytorch", Label: "pytorch-split", Params: map[string]string{"expandable_segments": "true"},
			Sweeps: []Sweep{{Key: "max_split_size_mb", Values: []string{"128", "256", "512"}}}, Line: 16, labelGiven: true},
		{Policy: "policies/my.wasm", Path: filepath.Join("testdata", "policies", "my.wasm"), Label: "my", Params: map[string]string{}, Line: 21},
	}
	if len(e.Policies) != len(wantP) {
		t.Fatalf("%d policies, want %d", len(e.Policies), len(wantP))
	}
	for i, p := range e.Policies {
		if p.digest == "" {
			t.Errorf("policies[%d] has no module digest", i)
		}
		p.digest = ""
		if !reflect.DeepEqual(p, wantP[i]) {
			t.Errorf("policies[%d] = %+v, want %+v", i, p, wantP[i])
		}
	}
	if want := []string{"peak_reserved", "frag_ratio", "min_capacity"}; !reflect.DeepEqual(e.Metrics, want) {
		t.Errorf("metrics = %v, want %v", e.Metrics, want)
	}
	if e.Repeats != 2 || e.OnPolicyError != "fallback" || e.Output != filepath.Join("testdata", "out", "quickstart") {
		t.Errorf("repeats/on_policy_error/output = %d %q %q", e.Repeats, e.OnPolicyError, e.Output)
	}
	if want := (Limits{PolicyMemory: 256 << 20, PolicyMemoryPages: 4096, HookTimeout: 1500 * time.Millisecond}); e.Limits != want {
		t.Errorf("limits = %+v, want %+v", e.Limits, want)
	}
}

func TestLoadDefaults(t *testing.T) {
	e, err := Load("testdata/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if e.Device.Kind != "sim" || !reflect.DeepEqual(e.Device.Capacities, []int64{0}) {
		t.Errorf("device = %+v", e.Device)
	}
	if !reflect.DeepEqual(e.Metrics, KnownMetrics()) || e.Repeats != 1 || e.OnPolicyError != "abort" || e.Limits != (Limits{}) {
		t.Errorf("defaults: metrics %v repeats %d on_policy_error %q limits %+v", e.Metrics, e.Repeats, e.OnPolicyError, e.Limits)
	}
	if want := filepath.Join("testdata", "results", "minimal"); e.Output != want {
		t.Errorf("output = %q, want %q", e.Output, want)
	}
	if runs := e.Runs(); len(runs) != 1 || runs[0].Capacity != 0 || runs[0].Repeat != 1 || runs[0].Workload.Seed != 0 {
		t.Errorf("runs = %+v", runs)
	}
}

func TestErrors(t *testing.T) {
	cases := []struct{ file, want string }{
		{"unknown_key.yaml", `6: repats: unknown key "repats" (did you mean "repeats"?)`},
		{"unknown_nested_key.yaml", `6: policies[0].labl: unknown key "labl" (did you mean "label"?)`},
		{"unknown_key_no_suggestion.yaml", `6: foo: unknown key "foo": expected name, description, device, workloads, policies, metrics, repeats, limits, on_policy_error or output`},
		{"duplicate_key.yaml", `6: name: duplicate key`},
		{"wrong_type_repeats.yaml", `6: repeats: expected an integer, got the string "two"`},
		{"wrong_type_workloads.yaml", `3: workloads: expected a list, got a mapping`},
		{"wrong_type_param.yaml", `7: policies[0].params.max_split_size_mb: expected a string, number or boolean, or a list of them (a sweep), got a mapping`},
		{"missing_name.yaml", `1: name: missing required key`},
		{"missing_workloads.yaml", `1: workloads: missing required key`},
		{"missing_policies.yaml", `1: policies: missing required key`},
		{"missing_policy.yaml", `5: policies[0].policy: missing required key`},
		{"unknown_metric.yaml", `6: metrics[1]: unknown metric "frag_ratoi" (did you mean "frag_ratio"?)`},
		{"device_cuda.yaml", `4: device.latency_profile: applies to the sim device (kind sim or auto): cuda measures every call`},
		{"device_tpu.yaml", `3: device.kind: device kind "tpu": expected sim, cuda, cuda:N (N ≥ 0) or auto`},
		{"device_canary.yaml", `3: device.canary: expected a boolean, got the string "yes"`},
		{"bad_latency_profile.yaml", `3: device.latency_profile: latency profile: open testdata/errors/nope.json: no such file or directory`},
		{"bad_size.yaml", `3: device.capacity: invalid size "40GB": expected bytes or a number with KiB, MiB, GiB or TiB (e.g. 80GiB)`},
		{"bad_size_list.yaml", `3: device.capacity[1]: invalid size "lots": expected bytes or a number with KiB, MiB, GiB or TiB (e.g. 80GiB)`},
		{"zero_capacity.yaml", `3: device.capacity: a device of 0 bytes holds nothing: expected a positive size, or unlimited`},
		{"zero_capacity_list.yaml", `3: device.capacity[1]: a device of 0 bytes holds nothing: expected a positive size, or unlimited`},
		{"missing_trace.yaml", `3: workloads[0].trace: trace file "../traces/nope.jsonl" does not exist`},
		{"missing_wasm.yaml", `5: policies[0].policy: policy module "./nope.wasm" does not exist`},
		{"unknown_builtin.yaml", `5: policies[0].policy: unknown built-in policy "pytorh" (did you mean "pytorch"?) (a policy module's path ends in .wasm)`},
		{"empty_sweep.yaml", `7: policies[0].params.max_split_size_mb: empty sweep list: give at least one value`},
		{"trace_and_generator.yaml", `3: workloads[0]: has more than one of trace, traces and generator: give exactly one`},
		{"neither_trace_nor_generator.yaml", `3: workloads[0]: needs a trace, a traces glob or a generator`},
		{"bad_name.yaml", `1: name: invalid name "Quick Start": use lowercase letters, digits, '.', '_' and '-'`},
		{"bad_generator.yaml", `3: workloads[0].generator: invalid generator name "Random": use lowercase letters, digits and '-'`},
		{"unknown_generator.yaml", `3: workloads[0].generator: unknown generator "radnom" (did you mean "random"?) (generators: adversarial, devlog, llm-serving, random, training)`},
		{"unknown_generator_param.yaml", `4: workloads[0].params.max_sise: generator random has no parameter "max_sise" (it takes: num_allocations, max_size, max_usage, alloc_percent)`},
		{"duplicate_seed.yaml", `4: workloads[0].seeds[1]: duplicate seed 1`},
		{"duplicate_label.yaml", `6: policies[1]: duplicate label "pytorch" (also policies[0]): set a distinct label`},
		{"duplicate_run.yaml", `6: policies[1]: same policy and parameters as policies[0] (line 5): the runs would be identical`},
		{"duplicate_workload_name.yaml", `4: workloads[1]: duplicate workload name "small-then-large" (also workloads[0]): set a distinct name`},
		{"bad_policy_memory.yaml", `7: limits.policy_memory: 100000 is not a positive multiple of 64KiB (one Wasm page)`},
		{"bad_hook_timeout.yaml", `7: limits.hook_timeout: invalid duration "1 second": expected a Go duration such as 500ms or 1s`},
		{"bad_on_policy_error.yaml", `6: on_policy_error: must be abort or fallback, got "retry"`},
		{"zero_repeats.yaml", `6: repeats: must be between 1 and 1000000, got 0`},
		{"device_on_generator.yaml", `4: workloads[0].device: applies only to a trace workload`},
		{"too_many_runs.yaml", `1: the matrix has more than 1000000 runs (1 workload instances × 2 policy variants × 1 capacities × 1000000 repeats): split the experiment or shrink a sweep`},
		{"too_many_variants.yaml", `7: policies[0].params: the sweeps make more than 1000000 variants: at most 1000000 runs fit an experiment`},
		{"traces_with_name.yaml", `5: workloads[0].name: does not apply to a traces glob (each match is named after its file)`},
		{"traces_bad_glob.yaml", `4: workloads[1].traces: malformed glob "../traces/[a-": syntax error in pattern`},
		{"traces_name_taken.yaml", `4: workloads[1]: the traces glob matches "testdata/traces/small-then-large.jsonl", whose workload name "small-then-large" is taken (workloads[0])`},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join("testdata", "errors", c.file)
			e, err := Load(path)
			if err == nil {
				t.Fatalf("Load = %+v, want an error", e)
			}
			if want := path + ":" + c.want; err.Error() != want {
				t.Errorf("error:\n got %s\nwant %s", err, want)
			}
			var perr *Error
			if !errors.As(err, &perr) || perr.File != path || perr.Line == 0 {
				t.Errorf("errors.As(*Error) = %+v", perr)
			}
		})
	}
	// Every fixture is covered.
	fs, _ := filepath.Glob("testdata/errors/*.yaml")
	covered := map[string]bool{"several.yaml": true, "syntax.yaml": true}
	for _, c := range cases {
		covered[c.file] = true
	}
	for _, f := range fs {
		if !covered[filepath.Base(f)] {
			t.Errorf("fixture %s has no case", f)
		}
	}
}

func TestTracesGlob(t *testing.T) {
	cases := []struct {
		glob      string
		workloads []string
		notes     int
	}{
		{"traces/*.jsonl", []string{"small-then-large"}, 0},
		{"traces/*.pickle", nil, 1},
	}
	for _, c := range cases {
		t.Run(c.glob, func(t *testing.T) {
			dir := t.TempDir()
			src := "name: g\nworkloads:\n  - traces: " + filepath.Join(mustAbs(t, "testdata"), c.glob) +
				"\n  - generator: devlog\npolicies:\n  - policy: pytorch\n"
			path := filepath.Join(dir, "g.yaml")
			if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			e, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range e.Workloads[:len(e.Workloads)-1] {
				if w.digest == "" || w.Trace == "" {
					t.Errorf("workload %+v has no trace or digest", w)
				}
				got = append(got, w.Name)
			}
			if !reflect.DeepEqual(got, c.workloads) || len(e.Notes) != c.notes {
				t.Errorf("workloads %v, notes %q; want %v and %d notes", got, e.Notes, c.workloads, c.notes)
			}
		})
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestErrorsAllReported(t *testing.T) {
	_, err := Load("testdata/errors/several.yaml")
	want := "testdata/errors/several.yaml:2: repats: unknown key \"repats\" (did you mean \"repeats\"?)\n" +
		"testdata/errors/several.yaml:3: workloads: expected a list, got the number 3"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n got %v\nwant %s", err, want)
	}
}

func TestSyntaxAndDocumentErrors(t *testing.T) {
	cases := []struct{ data, want string }{
		{"name: x\nworkloads: [\n", "f.yaml: yaml: line 2: did not find expected node content"},
		{"", "f.yaml: empty experiment file"},
		{"# only a comment\n", "f.yaml: empty experiment file"},
		{"- a\n", "f.yaml:1: expected a mapping, got a list"},
		{"name: x\n---\nname: y\n", "f.yaml:2: more than one YAML document: an experiment file holds one"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.data), "f.yaml")
		if err == nil || err.Error() != c.want {
			t.Errorf("Parse(%q) error = %v, want %s", c.data, err, c.want)
		}
	}
	if _, err := Load("testdata/nope.yaml"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want ErrNotExist", err)
	}
}

const matrixYAML = `
name: matrix
device:
  capacity: [1GiB, unlimited]
workloads:
  - trace: traces/small-then-large.jsonl
  - generator: random
    params: {num_allocations: 10}
    seeds: [7, 8]
policies:
  - policy: pytorch
    params:
      b: [x, y]
      a: [1, 2, 3]
      c: fixed
  - policy: default
    label: plain
repeats: 2
`

func TestRunsOrderAndCount(t *testing.T) {
	e, err := Parse([]byte(matrixYAML), "testdata/matrix.yaml")
	if err != nil {
		t.Fatal(err)
	}
	runs := e.Runs()
	// workload instances (1 trace + 2 seeds) × policy variants (3×2 + 1)
	// × capacities (2) × repeats (2)
	if want := 3 * 7 * 2 * 2; len(runs) != want {
		t.Fatalf("%d runs, want %d", len(runs), want)
	}
	var got []string
	for _, r := range runs {
		if r.Repeat == 1 && r.Capacity == 1<<30 {
			got = append(got, r.Workload.Name+"#"+itoa(r.Workload.Seed)+" "+r.Policy.Label)
		}
	}
	var want []string
	for _, w := range []string{"small-then-large#0", "random#7", "random#8"} {
		for _, p := range []string{
			"pytorch(a=1,b=x,c=fixed)", "pytorch(a=1,b=y,c=fixed)",
			"pytorch(a=2,b=x,c=fixed)", "pytorch(a=2,b=y,c=fixed)",
			"pytorch(a=3,b=x,c=fixed)", "pytorch(a=3,b=y,c=fixed)",
			"plain",
		} {
			want = append(want, w+" "+p)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("order:\n got %q\nwant %q", got, want)
	}
	// Capacities, then repeats, vary fastest.
	var tail []string
	for _, r := range runs[:4] {
		tail = append(tail, itoa(r.Capacity)+"/"+itoa(int64(r.Repeat)))
	}
	if want := []string{"1073741824/1", "1073741824/2", "0/1", "0/2"}; !reflect.DeepEqual(tail, want) {
		t.Errorf("capacity/repeat order = %v, want %v", tail, want)
	}
	if p := runs[0].Policy; !reflect.DeepEqual(p.Params, map[string]string{"a": "1", "b": "x", "c": "fixed"}) || p.Name != "pytorch" || p.Path != "" {
		t.Errorf("runs[0].Policy = %+v", p)
	}
	if w := runs[len(runs)-1].Workload; w.Generator != "random" || w.Seed != 8 || w.Params["num_allocations"] != "10" {
		t.Errorf("last workload = %+v", w)
	}
	ids := map[string]bool{}
	for _, r := range runs {
		if len(r.ID) != 16 || ids[r.ID] {
			t.Fatalf("bad or repeated ID %q", r.ID)
		}
		ids[r.ID] = true
	}
}

func TestRunsFullExample(t *testing.T) {
	e, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// (2 traces + 3 seeds) × (1 + 3 + 1) variants × 2 capacities × 2 repeats
	if got, want := len(e.Runs()), 5*5*2*2; got != want {
		t.Errorf("%d runs, want %d", got, want)
	}
	r := e.Runs()[4*5]
	if r.Workload.Name != "snap" || r.Policy.Label != "pytorch" || *r.Workload.Device != 0 {
		t.Errorf("run 20 = %v", r)
	}
	labels := map[string]bool{}
	for _, r := range e.Runs() {
		labels[r.Policy.Label] = true
	}
	for _, l := range []string{"pytorch", "pytorch-split(max_split_size_mb=128)", "pytorch-split(max_split_size_mb=512)", "my"} {
		if !labels[l] {
			t.Errorf("no run labelled %q (have %v)", l, labels)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestTraceName checks a trace workload's default name: the base name
// without the extension of any trace format replay reads, gzipped or not.
func TestTraceName(t *testing.T) {
	cases := []struct{ path, want string }{
		{"../examples/traces/devlog-small-then-large.jsonl", "devlog-small-then-large"},
		{"traces/mixed-20k.jsonl.gz", "mixed-20k"},
		{"traces/run.fltr", "run"},
		{"traces/run.fltr.gz", "run"},
		{"logs/rmm.csv", "rmm"},
		{"logs/rmm.csv.gz", "rmm"},
		{"snapshots/run.pickle", "run"},
		{"snapshots/run.pkl", "run"},
		{`C:\traces\run.jsonl`, "run"},
		{"traces/run.txt", "run.txt"},
		{"traces/run", "run"},
	}
	for _, c := range cases {
		if got := traceName(c.path); got != c.want {
			t.Errorf("traceName(%q) = %q, want %q", c.path, got, c.want)
		}
	}
}
