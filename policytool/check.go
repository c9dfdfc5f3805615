package policytool

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/internal/synth"
	"github.com/fraglab/fraglab/internal/units"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/sdk/abi"
	"github.com/fraglab/fraglab/trace"
)

// Defaults of CheckOptions.
const (
	DefaultSmokeEvents = 4000
	DefaultSmokeSeed   = 1
	// smokeMaxLive bounds the live allocations of the synthetic workload.
	smokeMaxLive = 64
	// hangTimeout is how long one event of a smoke replay may take.
	hangTimeout = 10 * time.Second
	// runTimeout bounds policy_init and each smoke replay.
	runTimeout = 2 * time.Minute
)

// CheckOptions configures Check.
type CheckOptions struct {
	Params map[string]string // policy parameters, as --param gives them
	Events int               // synthetic events per smoke replay (0: DefaultSmokeEvents)
	Seed   int64             // seed of the synthetic workload (0: DefaultSmokeSeed)
}

// Report is what Check found. A module passes when Problems is empty.
type Report struct {
	Path    string   `json:"path"`
	Size    int      `json:"size"`
	SHA256  string   `json:"sha256"`
	Wasm    bool     `json:"wasm"`    // a WebAssembly module at all
	ABI     string   `json:"abi"`     // the version its marker declares, "" without one
	Markers []string `json:"markers"` // its version-marker exports
	Memory  bool     `json:"memory"`  // exports its memory as "memory"
	Hooks   []Hook   `json:"hooks"`   // its policy_* exports, in ABI order
	Imports []Import `json:"imports"` // its function imports, in module order
	// Called lists the hooks the host calls once policy_init has run (the
	// exported hooks, less those a 1.1 hook mask leaves out); Window is the
	// candidate window in force. Both are empty when the module did not
	// start.
	Called []string `json:"called"`
	Window int      `json:"window"`
	// Problems are the reasons the host refuses the module, or the smoke
	// replays failed: the host's own texts.
	Problems []string   `json:"problems"`
	Smoke    []SmokeRun `json:"smoke"`
}

// Hook is one policy_* export.
type Hook struct {
	Name      string `json:"name"`
	Signature string `json:"signature"`
	Expected  string `json:"expected,omitempty"` // the ABI's signature; "" for an unknown hook
	OK        bool   `json:"ok"`
}

// Import is one function import.
type Import struct {
	Module    string `json:"module"`
	Name      string `json:"name"`
	Signature string `json:"signature"`
	Allowed   bool   `json:"allowed"`
	Note      string `json:"note"` // what the host provides, or why it refuses the import
}

// SmokeRun is one smoke replay.
type SmokeRun struct {
	Name     string          `json:"name"`
	Capacity int64           `json:"capacity"` // device bytes; 0 unlimited
	Events   int             `json:"events"`
	Elapsed  time.Duration   `json:"elapsed_ns"`
	Metrics  *replay.Metrics `json:"metrics,omitempty"`
	Error    string          `json:"error,omitempty"` // the run's error: the policy's failure, a broken invariant
	LogLines int             `json:"log_lines"`       // lines the policy logged
}

// OK reports whether the module passed every check.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Check examines the policy module at path as the host would load it: its
// version marker, hooks and their signatures, imports, and every reason the
// host refuses it (wasm.Compile's list); then, if the host accepts it, runs
// policy_init and two smoke replays of a synthetic workload
// (internal/synth.Mixed, with a second stream and an empty_cache) on the
// sim device with the allocator's invariants checked after every event:
// one on an unlimited device, one on a device too small for the
// workload's live bytes, so that allocations go through the release path
// and OOM. The error is for a file that cannot be read; everything else is
// in the Report.
func Check(ctx context.Context, path string, opts CheckOptions) (*Report, error) {
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return CheckBytes(ctx, path, bin, opts), nil
}

// CheckBytes is Check for a module already in memory; name is for
// messages.
func CheckBytes(ctx context.Context, name string, bin []byte, opts CheckOptions) *Report {
	if opts.Events <= 0 {
		opts.Events = DefaultSmokeEvents
	}
	if opts.Seed == 0 {
		opts.Seed = DefaultSmokeSeed
	}
	sum := sha256.Sum256(bin)
	r := &Report{Path: name, Size: len(bin), SHA256: hex.EncodeToString(sum[:])}
	r.inspect(ctx, bin)
	mod, err := wasm.Compile(ctx, name, bin)
	if err != nil {
		r.Problems = append(r.Problems, loadProblems(err)...)
		return r
	}
	if !r.start(ctx, mod, opts.Params) {
		return r
	}
	events := smokeEvents(opts.Seed, opts.Events)
	r.smoke(ctx, mod, opts, "unlimited device", 0, events)
	r.smoke(ctx, mod, opts, "small device (OOMs)", smokeCapacity(events), events)
	return r
}

// loadProblems splits a *wasm.LoadError into its problems.
func loadProblems(err error) []string {
	var le *wasm.LoadError
	if !errors.As(err, &le) {
		return []string{err.Error()}
	}
	if le.Problems != nil {
		return le.Problems
	}
	return []string{le.Msg}
}

// inspect lists the module's markers, hooks, memory and imports, without
// judging them (wasm.Compile does).
func (r *Report) inspect(ctx context.Context, bin []byte) {
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	cm, err := rt.CompileModule(ctx, bin)
	if err != nil {
		return // wasm.Compile reports it
	}
	r.Wasm = true
	_, r.Memory = cm.ExportedMemories()["memory"]
	exports := cm.ExportedFunctions()
	known := map[string]abi.Hook{}
	for h := abi.Hook(0); h < abi.NumHooks; h++ {
		known[abi.Hooks[h].Name] = h
	}
	var unknown []Hook
	byHook := map[abi.Hook]Hook{}
	for n, def := range exports {
		got := wasm.Signature(def.ParamTypes(), def.ResultTypes())
		switch {
		case strings.HasPrefix(n, abi.MarkerPrefix):
			r.Markers = append(r.Markers, n)
		case strings.HasPrefix(n, "policy_"):
			h, ok := known[n]
			if !ok {
				unknown = append(unknown, Hook{Name: n, Signature: got})
				continue
			}
			want := wasm.ABISignature(abi.Hooks[h].Types, abi.Hooks[h].Results)
			byHook[h] = Hook{Name: n, Signature: got, Expected: want, OK: got == want}
		}
	}
	for h := abi.Hook(0); h < abi.NumHooks; h++ {
		if hk, ok := byHook[h]; ok {
			r.Hooks = append(r.Hooks, hk)
		}
	}
	slices.SortFunc(unknown, func(a, b Hook) int { return strings.Compare(a.Name, b.Name) })
	r.Hooks = append(r.Hooks, unknown...)
	slices.Sort(r.Markers)
	if len(r.Markers) == 1 {
		if maj, min, ok := wasm.ParseMarker(r.Markers[0]); ok {
			r.ABI = fmt.Sprintf("%d.%d", maj, min)
		}
	}
	for _, def := range cm.ImportedFunctions() {
		mod, n, _ := def.Import()
		r.Imports = append(r.Imports, classify(ctx, mod, n, wasm.Signature(def.ParamTypes(), def.ResultTypes())))
	}
}

// classify says whether the host provides an import (sdk/ABI.md §1, §5).
func classify(ctx context.Context, mod, name, sig string) Import {
	im := Import{Module: mod, Name: name, Signature: sig}
	switch mod {
	case abi.ImportModule:
		for _, s := range abi.Imports {
			if s.Name != name {
				continue
			}
			if want := wasm.ABISignature(s.Params, s.Results); want != sig {
				im.Note = "wrong signature, expected " + want
			} else {
				im.Allowed, im.Note = true, "host import"
			}
			return im
		}
		im.Note = "the host has no such import"
	case wasi_snapshot_preview1.ModuleName:
		want, ok := wasm.WASISignatures(ctx)[name]
		switch {
		case !ok:
			im.Note = "not a WASI preview 1 function"
		case want != sig:
			im.Note = "wrong signature, expected " + want
		default:
			im.Allowed, im.Note = true, "WASI, stubbed by the host"
		}
	case "env":
		if name == "abort" && sig == "(i32, i32, i32, i32) -> ()" {
			im.Allowed, im.Note = true, "AssemblyScript's abort: traps"
		} else {
			im.Note = "only env.abort (i32, i32, i32, i32) -> () is allowed from env"
		}
	default:
		im.Note = fmt.Sprintf("imports are allowed only from %q, %s and env.abort", abi.ImportModule, wasi_snapshot_preview1.ModuleName)
	}
	return im
}

// start instantiates the module as a run does (_initialize, policy_init,
// parameters, scratch) and records the hooks the host will call.
func (r *Report) start(ctx context.Context, mod *wasm.Module, params map[string]string) bool {
	ctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()
	dev := cudadriver.NewSim(cudadriver.SimOptions{})
	inst, err := mod.Instantiate(ctx, wasm.Config{Params: params, Device: dev.Info(), TagName: trace.NewTags().Name, Interruptible: true})
	if err != nil {
		r.Problems = append(r.Problems, loadProblems(err)...)
		return false
	}
	defer inst.Close()
	for h := abi.Hook(0); h < abi.NumHooks; h++ {
		if inst.Implements(h) {
			r.Called = append(r.Called, h.String())
		}
	}
	r.Window = inst.CandidateWindow()
	return true
}

// smokeEvents is the synthetic workload of the smoke replays: synth.Mixed,
// with every fourth allocation on a second stream and an empty_cache
// half-way.
func smokeEvents(seed int64, n int) []trace.Event {
	events := synth.Mixed(seed, n, smokeMaxLive)
	for i := range events {
		if events[i].Op == trace.OpAlloc && events[i].ID%4 == 3 {
			events[i].Stream = 1
		}
	}
	mid := len(events) / 2
	out := make([]trace.Event, 0, len(events)+1)
	out = append(out, events[:mid]...)
	out = append(out, trace.Event{Op: trace.OpEmptyCache})
	return append(out, events[mid:]...)
}

// smokeCapacity is a device capacity that makes the workload OOM under any
// policy: half its peak of live requested bytes (every policy allocates at
// least what is requested), in whole 2 MiB pages.
func smokeCapacity(events []trace.Event) int64 {
	live := map[int64]int64{}
	var cur, peak int64
	for _, e := range events {
		switch e.Op {
		case trace.OpAlloc:
			live[e.ID] = e.Size
			cur += e.Size
			peak = max(peak, cur)
		case trace.OpFree:
			cur -= live[e.ID]
			delete(live, e.ID)
		}
	}
	const page = 2 << 20
	return max(peak/2/page*page, page)
}

// smoke runs one smoke replay.
func (r *Report) smoke(ctx context.Context, mod *wasm.Module, opts CheckOptions, name string, capacity int64, events []trace.Event) {
	ctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()
	var log lineCounter
	run := SmokeRun{Name: name, Capacity: capacity, Events: len(events)}
	dev := cudadriver.NewSim(cudadriver.SimOptions{Capacity: capacity})
	start := time.Now()
	res, err := replay.Run(ctx, synth.NewReader(events), mod, dev, replay.Options{
		Params: opts.Params, PolicyLog: &log, CheckInvariants: true, Safe: true, HangTimeout: hangTimeout,
	})
	run.Elapsed = time.Since(start)
	run.LogLines = log.lines
	if err != nil {
		run.Error = err.Error()
		r.Problems = append(r.Problems, fmt.Sprintf("smoke replay on the %s: %v", name, err))
	} else {
		m := res.Metrics
		run.Metrics = &m
	}
	r.Smoke = append(r.Smoke, run)
}

// lineCounter counts the lines written to it.
type lineCounter struct{ lines int }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.lines += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}

// WriteText prints the report for people.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "module   %s  %d bytes  sha256:%.12s\n", r.Path, r.Size, r.SHA256)
	if !r.Wasm {
		fmt.Fprintf(w, "result   FAILED: not a WebAssembly module\n")
		for _, p := range r.Problems {
			fmt.Fprintf(w, "  - %s\n", p)
		}
		return
	}
	abiLine := "none (no version marker)"
	switch {
	case len(r.Markers) > 1:
		abiLine = "several markers: " + strings.Join(r.Markers, ", ")
	case r.ABI != "":
		abiLine = fmt.Sprintf("%s (%s; this host implements %d.%d)", r.ABI, r.Markers[0], abi.Major, abi.Minor)
	case len(r.Markers) == 1:
		abiLine = "malformed marker " + r.Markers[0]
	}
	fmt.Fprintf(w, "ABI      %s\n", abiLine)
	mem := `exported as "memory"`
	if !r.Memory {
		mem = `NOT exported as "memory"`
	}
	fmt.Fprintf(w, "memory   %s\n", mem)
	fmt.Fprintf(w, "hooks    %d exported", len(r.Hooks))
	if len(r.Hooks) == 0 {
		fmt.Fprint(w, ": every decision is the host default")
	}
	fmt.Fprintln(w)
	nameW, sigW := 0, 0
	for _, h := range r.Hooks {
		nameW = max(nameW, len(h.Name))
		sigW = max(sigW, len(h.Signature))
	}
	for _, h := range r.Hooks {
		status := "ok"
		switch {
		case h.Expected == "":
			status = "UNKNOWN HOOK"
		case !h.OK:
			status = "WRONG SIGNATURE, expected " + h.Expected
		}
		fmt.Fprintf(w, "  %-*s  %-*s  %s\n", nameW, h.Name, sigW, h.Signature, status)
	}
	if r.Called != nil || r.OK() {
		called := strings.Join(r.Called, " ")
		if called == "" {
			called = "none (host defaults)"
		}
		fmt.Fprintf(w, "called   %s (after policy_init; candidate window %d)\n", called, r.Window)
	}
	fmt.Fprintf(w, "imports  %d\n", len(r.Imports))
	nameW, sigW = 0, 0
	for _, im := range r.Imports {
		nameW = max(nameW, len(im.Module)+1+len(im.Name))
		sigW = max(sigW, len(im.Signature))
	}
	for _, im := range r.Imports {
		status := "allowed"
		if !im.Allowed {
			status = "NOT ALLOWED"
		}
		fmt.Fprintf(w, "  %-*s  %-*s  %s: %s\n", nameW, im.Module+"."+im.Name, sigW, im.Signature, status, im.Note)
	}
	if len(r.Smoke) > 0 {
		fmt.Fprintf(w, "smoke    %d events per replay (synth.Mixed: 2 streams, 1 empty_cache), invariants checked after every event\n", r.Smoke[0].Events)
		for _, s := range r.Smoke {
			dev := "unlimited"
			if s.Capacity > 0 {
				dev = units.Format(s.Capacity)
			}
			if s.Metrics == nil {
				fmt.Fprintf(w, "  %-10s FAILED  %s\n", dev, s.Error)
				continue
			}
			m := s.Metrics
			oom := "no OOM"
			if m.OOMs > 0 {
				oom = fmt.Sprintf("%d OOMs (first at event %d)", m.OOMs, m.FirstOOM)
			}
			fmt.Fprintf(w, "  %-10s ok  peak_reserved %s  peak_allocated %s  frag_ratio %.4f  %s  %s/event  %d log lines  %s\n",
				dev, units.Format(m.PeakReserved), units.Format(m.PeakAllocated), m.FragRatio, oom,
				time.Duration(m.NsPerEvent).String(), s.LogLines, s.Elapsed.Round(time.Millisecond))
		}
	} else if r.OK() {
		fmt.Fprintln(w, "smoke    not run")
	}
	if r.OK() {
		fmt.Fprintln(w, "result   OK")
		return
	}
	fmt.Fprintf(w, "result   FAILED: %d problem%s\n", len(r.Problems), plural(len(r.Problems)))
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
