package experiment

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/fraglab/fraglab/internal/kv"
)

// Experiment is a parsed, validated experiment file.
type Experiment struct {
	// File is the path the experiment was read from, as given to Load or
	// Parse; Dir is its directory, against which relative paths resolve.
	File, Dir string

	Name        string
	Description string
	Device      Device
	Workloads   []Workload
	Policies    []Policy
	// Metrics are the metric keys to report, in the order given (all of
	// KnownMetrics by default).
	Metrics []string
	// Repeats is how many times each run is repeated (≥ 1).
	Repeats int
	Limits  Limits
	// OnPolicyError is "abort" (the default) or "fallback".
	OnPolicyError string
	// Output is the results directory, resolved against Dir.
	Output string
	// Notes are what a reader of the results should know about the file
	// (a traces glob that matched nothing).
	Notes []string
}

// Device is the device every run uses.
type Device struct {
	// Kind is "sim" (the default), "cuda:N" ("cuda" is written cuda:0) or
	// "auto" (cuda:0 when a GPU is present when the run starts, else sim).
	Kind string
	// LatencyProfile is a latency profile's path, resolved against the
	// experiment's directory: sim runs estimate their driver time from it.
	LatencyProfile string
	// Canary runs every run in canary mode (replay.Options.Canary).
	Canary bool
	// Capacities are the usable capacities in bytes, one run per value; 0
	// means unlimited. Never empty after Parse: no capacity gives [0].
	Capacities []int64
}

// Workload is one entry of workloads: a trace file or a generator.
type Workload struct {
	// Name defaults to the trace file's base name without its extensions,
	// or to the generator's name.
	Name string
	// Trace is the trace file's path resolved against the experiment's
	// directory; empty for a generator.
	Trace string
	// Device picks a device of a .pickle snapshot; nil when not given.
	Device *int
	// Generator is the generator's name; empty for a trace.
	Generator string
	// Params are the generator's parameters, as written.
	Params map[string]string
	// Seeds are the generator's seeds ([1] by default); nil for a trace.
	Seeds []int64
	// Line is where the entry starts in the experiment file.
	Line int

	digest string // identity of the trace's content
}

// Policy is one entry of policies. A list-valued parameter is a sweep.
type Policy struct {
	// Policy is the built-in name or the .wasm path as written.
	Policy string
	// Path is the .wasm path resolved against the experiment's directory;
	// empty for a built-in.
	Path string
	// Label is the label given, or the default: the policy's name
	// followed by its fixed parameters, e.g. "pytorch(expandable_segments=true)".
	Label string
	// Params are the fixed (single-valued) parameters.
	Params map[string]string
	// Sweeps are the list-valued parameters, sorted by key.
	Sweeps []Sweep
	// Line is where the entry starts in the experiment file.
	Line int

	labelGiven bool
	digest     string // identity of the module
}

// Sweep is a parameter with several values: one policy variant per value.
type Sweep struct {
	Key    string
	Values []string
}

// Limits are the sandbox limits of every run's policy.
type Limits struct {
	// PolicyMemory caps the policy's linear memory, in bytes (a multiple
	// of 64 KiB); 0 leaves the host default.
	PolicyMemory int64
	// PolicyMemoryPages is PolicyMemory in 64 KiB Wasm pages.
	PolicyMemoryPages uint32
	// HookTimeout is how long one hook may run; 0 leaves the host default.
	HookTimeout time.Duration
}

// WorkloadRef is the workload instance of one run.
type WorkloadRef struct {
	Name      string
	Trace     string // resolved path; empty for a generator
	Device    *int
	Generator string
	Params    map[string]string
	Seed      int64 // 0 for a trace
}

// PolicyRef is the concrete policy of one run: no sweeps left.
type PolicyRef struct {
	// Name is the built-in name or the .wasm path as written.
	Name string
	// Path is the resolved .wasm path; empty for a built-in.
	Path string
	// Label names this variant: the label given followed by the swept
	// values, e.g. "pytorch-split(max_split_size_mb=128)", or by default
	// the policy's name and all its parameters.
	Label  string
	Params map[string]string
}

// Run is one cell of the experiment's matrix.
type Run struct {
	Workload WorkloadRef
	Policy   PolicyRef
	// Capacity is the device's usable memory in bytes; 0 is unlimited.
	Capacity int64
	// Repeat counts from 1 to Experiment.Repeats.
	Repeat int
	// ID is a stable content hash (16 hex digits) of the run's inputs: the
	// workload's identity (a trace's bytes and device, or a generator's
	// name, parameters and seed), the policy module's bytes, the policy's
	// parameters, the capacity, the repeat and the device kind (unless
	// sim). Labels, names, paths and the description do not enter it.
	ID string
}

// KnownMetrics returns every metric key an experiment may ask for, in the
// default order.
func KnownMetrics() []string { return slices.Clone(knownMetrics) }

var knownMetrics = []string{
	"peak_reserved", "peak_allocated", "peak_requested", "peak_private_reserved", "frag_ratio", "waste",
	"ext_frag", "ooms", "first_oom", "segment_allocs", "segment_frees",
	"segment_maps", "segment_unmaps", "events", "ns_per_event", "min_capacity",
}

// MaxRuns is the most runs an experiment's matrix may expand to: more is
// an error at parse time, before anything is expanded (a typo such as
// repeats: 1000000 with a sweep would otherwise exhaust memory).
const MaxRuns = 1_000_000

// mulCap multiplies, saturating at MaxRuns+1.
func mulCap(a, b int) int {
	if a == 0 || b == 0 {
		return 0
	}
	if a > (MaxRuns+1)/b {
		return MaxRuns + 1
	}
	return min(a*b, MaxRuns+1)
}

// variantCount is how many variants the policy's sweeps make (at most
// MaxRuns+1).
func (p *Policy) variantCount() int {
	n := 1
	for _, s := range p.Sweeps {
		n = mulCap(n, len(s.Values))
	}
	return n
}

// runCount is the size of the matrix: workload instances × policy variants
// × capacities × repeats (at most MaxRuns+1), and its factors.
func (e *Experiment) runCount() (n, instances, variants int) {
	for _, w := range e.Workloads {
		instances += max(len(w.Seeds), 1)
	}
	for i := range e.Policies {
		variants += e.Policies[i].variantCount()
	}
	n = mulCap(mulCap(mulCap(instances, variants), max(len(e.Device.Capacities), 1)), max(e.Repeats, 1))
	return n, instances, variants
}

// Variants expands the policy's sweeps into concrete policies: the
// cartesian product of the swept values, the first key (in key order)
// varying slowest, each key's values in the order given.
func (p *Policy) Variants() []PolicyRef {
	combos := []map[string]string{maps.Clone(p.Params)}
	if combos[0] == nil {
		combos[0] = map[string]string{}
	}
	for _, s := range p.Sweeps {
		var next []map[string]string
		for _, c := range combos {
			for _, v := range s.Values {
				m := maps.Clone(c)
				m[s.Key] = v
				next = append(next, m)
			}
		}
		combos = next
	}
	out := make([]PolicyRef, len(combos))
	for i, c := range combos {
		var label string
		if p.labelGiven {
			label = p.Label
			if len(p.Sweeps) > 0 {
				swept := map[string]string{}
				for _, s := range p.Sweeps {
					swept[s.Key] = c[s.Key]
				}
				label += paramSuffix(swept)
			}
		} else {
			label = policyName(p.Policy) + paramSuffix(c)
		}
		out[i] = PolicyRef{Name: p.Policy, Path: p.Path, Label: label, Params: c}
	}
	return out
}

// Runs expands the matrix in a fixed order: workloads, then seeds, then
// policies, then sweep values, then capacities, then repeats (the last
// varying fastest).
func (e *Experiment) Runs() []Run {
	rs := e.expand()
	out := make([]Run, len(rs))
	for i, r := range rs {
		out[i] = r.Run
	}
	return out
}

type sourcedRun struct {
	Run
	wi, pi int
}

func (e *Experiment) expand() []sourcedRun {
	caps := e.Device.Capacities
	if len(caps) == 0 {
		caps = []int64{0}
	}
	repeats := max(e.Repeats, 1)
	variants := make([][]PolicyRef, len(e.Policies))
	for i := range e.Policies {
		variants[i] = e.Policies[i].Variants()
	}
	var out []sourcedRun
	for wi, w := range e.Workloads {
		seeds := w.Seeds
		if w.Generator == "" {
			seeds = []int64{0}
		} else if len(seeds) == 0 {
			seeds = []int64{1}
		}
		for _, seed := range seeds {
			wr := WorkloadRef{Name: w.Name, Trace: w.Trace, Device: w.Device, Generator: w.Generator, Params: w.Params, Seed: seed}
			for pi := range e.Policies {
				for _, pr := range variants[pi] {
					for _, c := range caps {
						for rep := 1; rep <= repeats; rep++ {
							r := Run{Workload: wr, Policy: pr, Capacity: c, Repeat: rep}
							r.ID = runID(&w, seed, &e.Policies[pi], pr.Params, c, rep, e.Device.Kind)
							out = append(out, sourcedRun{r, wi, pi})
						}
					}
				}
			}
		}
	}
	return out
}

func runID(w *Workload, seed int64, p *Policy, params map[string]string, capacity int64, repeat int, device string) string {
	type workloadID struct {
		Trace     string            `json:"trace,omitempty"`
		Device    *int              `json:"device,omitempty"`
		Generator string            `json:"generator,omitempty"`
		Params    map[string]string `json:"params,omitempty"`
		Seed      int64             `json:"seed"`
	}
	in := struct {
		V        string            `json:"v"`
		Workload workloadID        `json:"workload"`
		Module   string            `json:"module"`
		Params   map[string]string `json:"params"`
		Capacity int64             `json:"capacity"`
		Repeat   int               `json:"repeat"`
		Device   string            `json:"device,omitempty"` // empty for sim: sim IDs predate devices
	}{V: "fraglab-run-1", Params: params, Capacity: capacity, Repeat: repeat}
	if device != "sim" && device != "" {
		in.Device = device
	}
	if w.Generator != "" {
		in.Workload = workloadID{Generator: w.Generator, Params: w.Params, Seed: seed}
	} else {
		d := w.digest
		if d == "" {
			d = "path:" + w.Trace
		}
		in.Workload = workloadID{Trace: d, Device: w.Device}
	}
	in.Module = p.digest
	if in.Module == "" {
		in.Module = "policy:" + p.Policy
	}
	b, err := json.Marshal(in) // map keys come out sorted
	if err != nil {
		panic(err) // strings and integers only
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:16]
}

// paramSuffix prints params sorted by key as "(k=v,k=v)", or "" if none.
func paramSuffix(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	return "(" + kv.Format(m, ",") + ")"
}

// policyName is a built-in's name, or a .wasm path's base name without
// the extension.
func policyName(p string) string {
	if !isWasmPath(p) {
		return p
	}
	p = p[strings.LastIndexAny(p, `/\`)+1:]
	return strings.TrimSuffix(p, ".wasm")
}

func isWasmPath(p string) bool { return strings.HasSuffix(p, ".wasm") }

// String prints a run on one line, for listings and logs.
func (r Run) String() string {
	w := r.Workload.Name
	if r.Workload.Generator != "" {
		w += fmt.Sprintf("#%d", r.Workload.Seed)
	}
	c := "unlimited"
	if r.Capacity > 0 {
		c = fmt.Sprint(r.Capacity)
	}
	return fmt.Sprintf("%s %s × %s capacity=%s repeat=%d", r.ID, w, r.Policy.Label, c, r.Repeat)
}
