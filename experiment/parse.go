package experiment

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/generate"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/fraglab/fraglab/internal/yamlnode"

	"github.com/fraglab/fraglab/internal/units"
	"github.com/fraglab/fraglab/policies"
)

// Error is one problem in an experiment file. Load and Parse return every
// problem they find, joined with errors.Join; errors.As finds the first.
type Error struct {
	File string // the file as given to Load or Parse
	Line int    // 1-based; 0 when the problem has no line
	Key  string // the key's path, e.g. "policies[1].params.max_split_size_mb"
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		b.WriteString(": " + e.Key)
	}
	b.WriteString(": " + e.Msg)
	return b.String()
}

// Option changes how an experiment is read.
type Option func(*parser)

// WithBuiltins sets how built-in policy names are looked up: lookup returns
// a built-in's WebAssembly module, whose bytes enter the run IDs. The
// default is policies.Builtin.
func WithBuiltins(lookup func(name string) ([]byte, bool)) Option {
	return func(p *parser) { p.builtins = lookup }
}

// Load reads and parses the experiment file at path.
func Load(path string, opts ...Option) (*Experiment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path, opts...)
}

// Parse parses an experiment. file names it in error messages, and
// relative paths in it (traces, .wasm policies, output) resolve against
// file's directory. Trace files and .wasm modules are read to hash them.
func Parse(data []byte, file string, opts ...Option) (*Experiment, error) {
	p := &parser{file: file, dir: filepath.Dir(file), builtins: policies.Builtin, digests: map[string]string{}}
	for _, o := range opts {
		o(p)
	}
	e := p.parse(data)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return e, nil
}

type parser struct {
	file, dir string
	builtins  func(string) ([]byte, bool)
	digests   map[string]string // resolved path → content digest
	errs      []error
}

var (
	nameRE      = regexp.MustCompile(`^[a-z0-9._-]+$`)
	generatorRE = regexp.MustCompile(`^[a-z0-9-]+$`)
)

var topKeys = []string{"name", "description", "device", "workloads", "policies", "metrics", "repeats", "limits", "on_policy_error", "output"}

func (p *parser) errf(n *yaml.Node, key, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) parse(data []byte) *Experiment {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			p.errf(nil, "", "empty experiment file")
		} else {
			p.errf(nil, "", "%s", err)
		}
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		p.errf(&extra, "", "more than one YAML document: an experiment file holds one")
		return nil
	}
	if len(doc.Content) == 0 {
		p.errf(nil, "", "empty experiment file")
		return nil
	}
	root := yamlnode.Deref(doc.Content[0])
	fields := p.mapping(root, "", topKeys)
	if fields == nil {
		return nil
	}
	e := &Experiment{File: p.file, Dir: p.dir, Repeats: 1, OnPolicyError: "abort", Device: Device{Kind: "sim"}}

	if n, ok := fields["name"]; !ok {
		p.errf(root, "name", "missing required key")
	} else if s, ok := p.str(n, "name"); ok {
		if !nameRE.MatchString(s) {
			p.errf(n, "name", "invalid name %q: use lowercase letters, digits, '.', '_' and '-'", s)
		}
		e.Name = s
	}
	if n, ok := fields["description"]; ok {
		e.Description, _ = p.str(n, "description")
	}
	if n, ok := fields["device"]; ok {
		p.device(n, &e.Device)
	}
	if len(e.Device.Capacities) == 0 {
		e.Device.Capacities = []int64{0}
	}
	if n, ok := fields["workloads"]; !ok {
		p.errf(root, "workloads", "missing required key")
	} else {
		p.workloads(n, e)
	}
	if n, ok := fields["policies"]; !ok {
		p.errf(root, "policies", "missing required key")
	} else {
		p.policies(n, e)
	}
	e.Metrics = KnownMetrics()
	if n, ok := fields["metrics"]; ok {
		p.metrics(n, e)
	}
	if n, ok := fields["repeats"]; ok {
		if v, ok := p.integer(n, "repeats"); ok {
			if v < 1 || v > 1_000_000 {
				p.errf(n, "repeats", "must be between 1 and 1000000, got %d", v)
			} else {
				e.Repeats = int(v)
			}
		}
	}
	if n, ok := fields["limits"]; ok {
		p.limits(n, &e.Limits)
	}
	if n, ok := fields["on_policy_error"]; ok {
		if s, ok := p.str(n, "on_policy_error"); ok {
			if s != "abort" && s != "fallback" {
				p.errf(n, "on_policy_error", "must be abort or fallback, got %q", s)
			} else {
				e.OnPolicyError = s
			}
		}
	}
	out := ""
	if n, ok := fields["output"]; ok {
		out, _ = p.str(n, "output")
	}
	if out == "" {
		out = filepath.Join("results", e.Name)
	}
	e.Output = p.resolve(out)

	if len(p.errs) == 0 {
		if n, instances, variants := e.runCount(); n > MaxRuns {
			p.errf(root, "", "the matrix has more than %d runs (%d workload instances × %d policy variants × %d capacities × %d repeats): split the experiment or shrink a sweep",
				MaxRuns, instances, variants, len(e.Device.Capacities), max(e.Repeats, 1))
		} else {
			p.checkUnique(e)
		}
	}
	return e
}

// checkUnique rejects two runs with the same ID: identical workloads or
// policy variants that would overwrite each other's results.
func (p *parser) checkUnique(e *Experiment) {
	seen := map[string]sourcedRun{}
	for _, r := range e.expand() {
		first, dup := seen[r.ID]
		if !dup {
			seen[r.ID] = r
			continue
		}
		if first.wi != r.wi {
			p.errf(&yaml.Node{Line: e.Workloads[r.wi].Line}, fmt.Sprintf("workloads[%d]", r.wi),
				"same workload as workloads[%d] (line %d): the runs would be identical", first.wi, e.Workloads[first.wi].Line)
		} else {
			p.errf(&yaml.Node{Line: e.Policies[r.pi].Line}, fmt.Sprintf("policies[%d]", r.pi),
				"same policy and parameters as policies[%d] (line %d): the runs would be identical", first.pi, e.Policies[first.pi].Line)
		}
		return
	}
}

func (p *parser) device(n *yaml.Node, d *Device) {
	f := p.mapping(n, "device", []string{"kind", "capacity", "latency_profile", "canary"})
	if f == nil {
		return
	}
	if k, ok := f["kind"]; ok {
		if s, ok := p.str(k, "device.kind"); ok {
			if sel, err := cudadriver.ParseSelector(s); err != nil {
				p.errf(k, "device.kind", "device kind %q: expected sim, cuda, cuda:N (N ≥ 0) or auto", s)
			} else {
				d.Kind = sel.String()
			}
		}
	}
	if n, ok := f["latency_profile"]; ok {
		if s, ok := p.str(n, "device.latency_profile"); ok {
			path := p.resolve(s)
			if strings.HasPrefix(d.Kind, "cuda") {
				p.errf(n, "device.latency_profile", "applies to the sim device (kind sim or auto): cuda measures every call")
			} else if _, err := cudadriver.LoadLatencyProfile(path); err != nil {
				p.errf(n, "device.latency_profile", "%v", err)
			} else {
				d.LatencyProfile = path
			}
		}
	}
	if n, ok := f["canary"]; ok {
		if n = yamlnode.Deref(n); n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			p.typeErr(n, "device.canary", "a boolean")
		} else {
			d.Canary = n.Value == "true"
		}
	}
	c, ok := f["capacity"]
	if !ok {
		return
	}
	const key = "device.capacity"
	if c.Kind == yaml.SequenceNode {
		if len(c.Content) == 0 {
			p.errf(c, key, "empty list: give at least one size, or leave capacity out for unlimited")
			return
		}
		seen := map[int64]bool{}
		for i, item := range c.Content {
			k := fmt.Sprintf("%s[%d]", key, i)
			v, ok := p.capacity(yamlnode.Deref(item), k)
			if !ok {
				continue
			}
			if seen[v] {
				p.errf(item, k, "duplicate capacity %s", item.Value)
				continue
			}
			seen[v] = true
			d.Capacities = append(d.Capacities, v)
		}
		return
	}
	if v, ok := p.capacity(c, key); ok {
		d.Capacities = []int64{v}
	}
}

// capacity is a positive SIZE or "unlimited" (0).
func (p *parser) capacity(n *yaml.Node, key string) (int64, bool) {
	n = yamlnode.Deref(n)
	if t := n.ShortTag(); n.Kind != yaml.ScalarNode || (t != "!!int" && t != "!!str") {
		p.typeErr(n, key, "a size (bytes, or a number with KiB, MiB, GiB or TiB)")
		return 0, false
	}
	v, err := units.ParseCapacity(n.Value)
	if err != nil {
		p.errf(n, key, "%s", err)
		return 0, false
	}
	return v, true
}

var workloadKeys = []string{"name", "trace", "traces", "device", "generator", "params", "seeds"}

func (p *parser) workloads(n *yaml.Node, e *Experiment) {
	items, ok := p.list(n, "workloads")
	if !ok {
		return
	}
	names := map[string]int{}
	for i, item := range items {
		key := fmt.Sprintf("workloads[%d]", i)
		f := p.mapping(item, key, workloadKeys)
		if f == nil {
			continue
		}
		w := Workload{Line: item.Line}
		tr, hasTrace := f["trace"]
		gen, hasGen := f["generator"]
		glob, hasGlob := f["traces"]
		switch given := btoi(hasTrace) + btoi(hasGen) + btoi(hasGlob); {
		case given > 1:
			p.errf(item, key, "has more than one of trace, traces and generator: give exactly one")
			continue
		case given == 0:
			p.errf(item, key, "needs a trace, a traces glob or a generator")
			continue
		case hasGlob:
			for _, w := range p.traceGlob(glob, f, key, item.Line, e) {
				if j, dup := names[w.Name]; dup {
					p.errf(item, key, "the traces glob matches %q, whose workload name %q is taken (workloads[%d])", w.Trace, w.Name, j)
					continue
				}
				names[w.Name] = i
				e.Workloads = append(e.Workloads, w)
			}
			continue
		case hasTrace:
			for _, k := range []string{"params", "seeds"} {
				if n, ok := f[k]; ok {
					p.errf(n, key+"."+k, "applies only to a generator workload")
				}
			}
			s, ok := p.str(tr, key+".trace")
			if !ok {
				continue
			}
			w.Trace = p.resolve(s)
			w.Name = traceName(s)
			d, err := p.digest(w.Trace)
			if err != nil {
				p.errf(tr, key+".trace", "trace file %q %s", s, err)
				continue
			}
			w.digest = d
			w.Device = p.snapshotDevice(f, key)
		default:
			if n, ok := f["device"]; ok {
				p.errf(n, key+".device", "applies only to a trace workload")
			}
			s, ok := p.str(gen, key+".generator")
			if !ok {
				continue
			}
			g, known := generate.Lookup(s)
			switch {
			case !generatorRE.MatchString(s):
				p.errf(gen, key+".generator", "invalid generator name %q: use lowercase letters, digits and '-'", s)
			case !known:
				p.errf(gen, key+".generator", "unknown generator %q%s (generators: %s)", s, suggest(s, generate.Names()), strings.Join(generate.Names(), ", "))
			}
			w.Generator, w.Name = s, s
			w.Params = map[string]string{}
			if pn, ok := f["params"]; ok {
				p.generatorParams(pn, key+".params", w.Params)
				if known {
					for k := range w.Params {
						if !slices.ContainsFunc(g.Params, func(gp generate.Param) bool { return gp.Name == k }) {
							p.errf(pn, key+".params."+k, "generator %s has no parameter %q (it takes: %s)", s, k, paramNames(g))
						}
					}
				}
			}
			w.Seeds = []int64{1}
			if sn, ok := f["seeds"]; ok {
				w.Seeds = p.seeds(sn, key+".seeds")
			}
		}
		if nn, ok := f["name"]; ok {
			if s, ok := p.str(nn, key+".name"); ok {
				w.Name = s
			}
		}
		if j, dup := names[w.Name]; dup {
			p.errf(item, key, "duplicate workload name %q (also workloads[%d]): set a distinct name", w.Name, j)
		} else {
			names[w.Name] = i
		}
		e.Workloads = append(e.Workloads, w)
	}
}

// snapshotDevice is a trace workload's device key, nil when absent.
func (p *parser) snapshotDevice(f map[string]*yaml.Node, key string) *int {
	dn, ok := f["device"]
	if !ok {
		return nil
	}
	v, ok := p.integer(dn, key+".device")
	if !ok {
		return nil
	}
	if v < 0 || v > 1<<20 {
		p.errf(dn, key+".device", "must be a device index ≥ 0, got %d", v)
		return nil
	}
	d := int(v)
	return &d
}

// traceGlob expands a workload's traces key: one trace workload per
// matching file, in name order. A glob that matches nothing is not an
// error (the files may live outside the repository, as the shared
// snapshots do); it is said in e.Notes.
func (p *parser) traceGlob(n *yaml.Node, f map[string]*yaml.Node, key string, line int, e *Experiment) []Workload {
	for _, k := range []string{"name", "params", "seeds"} {
		if kn, ok := f[k]; ok {
			p.errf(kn, key+"."+k, "does not apply to a traces glob (each match is named after its file)")
		}
	}
	pattern, ok := p.str(n, key+".traces")
	if !ok {
		return nil
	}
	matches, err := filepath.Glob(p.resolve(pattern))
	if err != nil {
		p.errf(n, key+".traces", "malformed glob %q: %v", pattern, err)
		return nil
	}
	if len(matches) == 0 {
		e.Notes = append(e.Notes, fmt.Sprintf("%s (line %d): traces %q matches no file; no workload from it", key, line, pattern))
		return nil
	}
	device := p.snapshotDevice(f, key)
	var out []Workload
	for _, m := range matches {
		d, err := p.digest(m)
		if err != nil {
			p.errf(n, key+".traces", "trace file %q %s", m, err)
			continue
		}
		out = append(out, Workload{Name: traceName(m), Trace: m, Device: device, Line: line, digest: d})
	}
	return out
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (p *parser) generatorParams(n *yaml.Node, key string, out map[string]string) {
	f := p.mapping(n, key, nil)
	for k, v := range f {
		if s, ok := p.scalar(v, key+"."+k); ok {
			out[k] = s
		}
	}
}

func (p *parser) seeds(n *yaml.Node, key string) []int64 {
	items, ok := p.list(n, key)
	if !ok {
		return nil
	}
	var out []int64
	seen := map[int64]bool{}
	for i, item := range items {
		k := fmt.Sprintf("%s[%d]", key, i)
		v, ok := p.integer(item, k)
		if !ok {
			continue
		}
		if seen[v] {
			p.errf(item, k, "duplicate seed %d", v)
			continue
		}
		seen[v] = true
		out = append(out, v)
	}
	return out
}

var policyKeys = []string{"policy", "label", "params"}

func (p *parser) policies(n *yaml.Node, e *Experiment) {
	items, ok := p.list(n, "policies")
	if !ok {
		return
	}
	labels := map[string]int{}
	for i, item := range items {
		key := fmt.Sprintf("policies[%d]", i)
		f := p.mapping(item, key, policyKeys)
		if f == nil {
			continue
		}
		pn, ok := f["policy"]
		if !ok {
			p.errf(item, key+".policy", "missing required key")
			continue
		}
		name, ok := p.str(pn, key+".policy")
		if !ok {
			continue
		}
		pol := Policy{Policy: name, Line: item.Line, Params: map[string]string{}}
		if isWasmPath(name) {
			pol.Path = p.resolve(name)
			d, err := p.digest(pol.Path)
			if err != nil {
				p.errf(pn, key+".policy", "policy module %q %s", name, err)
				continue
			}
			pol.digest = d
		} else {
			mod, ok := p.builtins(name)
			if !ok {
				p.errf(pn, key+".policy", "unknown built-in policy %q%s (a policy module's path ends in .wasm)", name, suggest(name, p.builtinNames()))
				continue
			}
			sum := sha256.Sum256(mod)
			pol.digest = "builtin:" + name + ":sha256:" + hex.EncodeToString(sum[:])
		}
		if prm, ok := f["params"]; ok {
			p.policyParams(prm, key+".params", &pol)
		}
		if ln, ok := f["label"]; ok {
			if s, ok := p.str(ln, key+".label"); ok {
				pol.Label, pol.labelGiven = s, true
			}
		}
		if !pol.labelGiven {
			pol.Label = policyName(name) + paramSuffix(pol.Params)
		}
		if n := pol.variantCount(); n > MaxRuns {
			p.errf(f["params"], key+".params", "the sweeps make more than %d variants: at most %d runs fit an experiment", MaxRuns, MaxRuns)
			continue
		}
		for _, v := range pol.Variants() {
			if j, dup := labels[v.Label]; dup {
				p.errf(item, key, "duplicate label %q (also policies[%d]): set a distinct label", v.Label, j)
				break
			}
			labels[v.Label] = i
		}
		e.Policies = append(e.Policies, pol)
	}
}

func (p *parser) builtinNames() []string {
	var out []string
	for _, n := range policies.Names() {
		if _, ok := p.builtins(n); ok {
			out = append(out, n)
		}
	}
	return out
}

func (p *parser) policyParams(n *yaml.Node, key string, pol *Policy) {
	f := p.mapping(n, key, nil)
	for _, k := range sortedKeys(f) {
		v, kk := f[k], key+"."+k
		if v.Kind != yaml.SequenceNode {
			if v.Kind != yaml.ScalarNode || v.ShortTag() == "!!null" {
				p.typeErr(v, kk, "a string, number or boolean, or a list of them (a sweep)")
			} else {
				pol.Params[k] = v.Value
			}
			continue
		}
		if len(v.Content) == 0 {
			p.errf(v, kk, "empty sweep list: give at least one value")
			continue
		}
		sw := Sweep{Key: k}
		seen := map[string]bool{}
		for j, item := range v.Content {
			s, ok := p.scalar(yamlnode.Deref(item), fmt.Sprintf("%s[%d]", kk, j))
			if !ok {
				continue
			}
			if seen[s] {
				p.errf(item, fmt.Sprintf("%s[%d]", kk, j), "duplicate sweep value %q", s)
				continue
			}
			seen[s] = true
			sw.Values = append(sw.Values, s)
		}
		if len(sw.Values) > 0 {
			pol.Sweeps = append(pol.Sweeps, sw)
		}
	}
}

func (p *parser) metrics(n *yaml.Node, e *Experiment) {
	items, ok := p.list(n, "metrics", true)
	if !ok {
		return
	}
	if len(items) == 0 {
		p.errf(n, "metrics", "empty list: leave metrics out for all of them")
		return
	}
	e.Metrics = nil
	seen := map[string]bool{}
	for i, item := range items {
		k := fmt.Sprintf("metrics[%d]", i)
		s, ok := p.str(item, k)
		if !ok {
			continue
		}
		switch {
		case !slices.Contains(knownMetrics, s):
			p.errf(item, k, "unknown metric %q%s", s, suggest(s, knownMetrics))
		case seen[s]:
			p.errf(item, k, "duplicate metric %q", s)
		default:
			seen[s] = true
			e.Metrics = append(e.Metrics, s)
		}
	}
}

func (p *parser) limits(n *yaml.Node, l *Limits) {
	f := p.mapping(n, "limits", []string{"policy_memory", "hook_timeout"})
	if m, ok := f["policy_memory"]; ok {
		const key, page = "limits.policy_memory", 64 << 10
		if v, ok := p.size(m, key); ok {
			switch {
			case v <= 0 || v%page != 0:
				p.errf(m, key, "%s is not a positive multiple of 64KiB (one Wasm page)", m.Value)
			case v > 4<<30:
				p.errf(m, key, "%s is over 4GiB, the most a 32-bit Wasm memory holds", m.Value)
			default:
				l.PolicyMemory, l.PolicyMemoryPages = v, uint32(v/page)
			}
		}
	}
	if t, ok := f["hook_timeout"]; ok {
		const key = "limits.hook_timeout"
		if s, ok := p.str(t, key); ok {
			d, err := time.ParseDuration(s)
			switch {
			case err != nil:
				p.errf(t, key, "invalid duration %q: expected a Go duration such as 500ms or 1s", s)
			case d <= 0:
				p.errf(t, key, "must be positive, got %s", s)
			default:
				l.HookTimeout = d
			}
		}
	}
}

// mapping checks that n is a mapping of known keys (any key when known is
// nil) and returns its values by key; nil when n is not a mapping.
func (p *parser) mapping(n *yaml.Node, key string, known []string) map[string]*yaml.Node {
	n = yamlnode.Deref(n)
	if n.Kind != yaml.MappingNode {
		p.typeErr(n, key, "a mapping")
		return nil
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := yamlnode.Deref(n.Content[i]), yamlnode.Deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!null" {
			p.errf(k, key, "keys must be strings")
			continue
		}
		kk := k.Value
		if key != "" {
			kk = key + "." + k.Value
		}
		if known != nil && !slices.Contains(known, k.Value) {
			hint := suggest(k.Value, known)
			if hint == "" {
				hint = ": expected " + yamlnode.OrList(known)
			}
			p.errf(k, kk, "unknown key %q%s", k.Value, hint)
			continue
		}
		if _, dup := out[k.Value]; dup {
			p.errf(k, kk, "duplicate key")
			continue
		}
		out[k.Value] = v
	}
	return out
}

// list checks that n is a list, non-empty unless allowEmpty.
func (p *parser) list(n *yaml.Node, key string, allowEmpty ...bool) ([]*yaml.Node, bool) {
	n = yamlnode.Deref(n)
	if n.Kind != yaml.SequenceNode {
		p.typeErr(n, key, "a list")
		return nil, false
	}
	if len(n.Content) == 0 && len(allowEmpty) == 0 {
		p.errf(n, key, "empty list: give at least one entry")
		return nil, false
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = yamlnode.Deref(c)
	}
	return out, true
}

// str accepts any non-null scalar.
func (p *parser) str(n *yaml.Node, key string) (string, bool) {
	n = yamlnode.Deref(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		p.typeErr(n, key, "a string")
		return "", false
	}
	return n.Value, true
}

// scalar accepts a string, number or boolean, as written.
func (p *parser) scalar(n *yaml.Node, key string) (string, bool) {
	n = yamlnode.Deref(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		p.typeErr(n, key, "a string, number or boolean")
		return "", false
	}
	return n.Value, true
}

func (p *parser) integer(n *yaml.Node, key string) (int64, bool) {
	n = yamlnode.Deref(n)
	var v int64
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		p.typeErr(n, key, "an integer")
		return 0, false
	}
	return v, true
}

func (p *parser) size(n *yaml.Node, key string) (int64, bool) {
	n = yamlnode.Deref(n)
	if t := n.ShortTag(); n.Kind != yaml.ScalarNode || (t != "!!int" && t != "!!str") {
		p.typeErr(n, key, "a size (bytes, or a number with KiB, MiB, GiB or TiB)")
		return 0, false
	}
	v, err := units.ParseSize(n.Value)
	if err != nil {
		p.errf(n, key, "%s", err)
		return 0, false
	}
	return v, true
}

func (p *parser) typeErr(n *yaml.Node, key, want string) {
	p.errf(n, key, "expected %s, got %s", want, yamlnode.Describe(n))
}

func (p *parser) resolve(path string) string {
	if filepath.IsAbs(path) {
		return filepath.Clean(path)
	}
	return filepath.Join(p.dir, path)
}

// digest hashes a file's content; the error says why it can't be read.
func (p *parser) digest(path string) (string, error) {
	if d, ok := p.digests[path]; ok {
		return d, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", errors.New("does not exist")
	}
	if err != nil {
		return "", fmt.Errorf("cannot be read: %v", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return "", errors.New("is a directory")
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("cannot be read: %v", err)
	}
	d := "sha256:" + hex.EncodeToString(h.Sum(nil))
	p.digests[path] = d
	return d, nil
}

// traceName is a trace path's base name without its extensions: those of
// every format a trace workload may have, and .gz.
func traceName(path string) string {
	b := path[strings.LastIndexAny(path, `/\`)+1:]
	b = strings.TrimSuffix(b, ".gz")
	for _, ext := range []string{".jsonl", ".json", ".fltr", ".csv", ".pickle", ".pkl"} {
		if s, ok := strings.CutSuffix(b, ext); ok {
			return s
		}
	}
	return b
}

func sortedKeys(m map[string]*yaml.Node) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// suggest returns ` (did you mean "x"?)` for the closest candidate within
// edit distance 2, or "".
func suggest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), c); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

func paramNames(g *generate.Generator) string {
	names := make([]string, len(g.Params))
	for i, gp := range g.Params {
		names[i] = gp.Name
	}
	return strings.Join(names, ", ")
}
