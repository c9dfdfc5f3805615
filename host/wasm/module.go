// Package wasm runs policy modules (sdk/ABI.md) with wazero: it loads and
// validates a module once (Compile), then makes one sandboxed instance per
// run (Module.Instantiate) that implements host.Policy with zero-allocation
// calls on the hot path.
package wasm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/fraglab/fraglab/sdk/abi"
)

// LoadError reports a module the host refuses, before running any of it.
type LoadError struct {
	Module   string   // name or path of the module
	Msg      string   // every problem, joined with "; "
	Problems []string // the problems one by one (Compile); nil when there is one
}

func (e *LoadError) Error() string { return fmt.Sprintf("policy %s: %s", e.Module, e.Msg) }

var (
	cacheOnce sync.Once
	cache     wazero.CompilationCache
)

// sharedCache is the in-process compilation cache every runtime shares.
func sharedCache() wazero.CompilationCache {
	cacheOnce.Do(func() { cache = wazero.NewCompilationCache() })
	return cache
}

// Module is a validated, compiled policy module.
type Module struct {
	Name         string             // name or path, for messages
	Major, Minor int                // ABI version the module declares
	Hooks        [abi.NumHooks]bool // hooks it exports
	Hash         string             // sha256 of the module bytes, hex
	WASI         bool               // imports wasi_snapshot_preview1
	EnvAbort     bool               // imports env.abort (AssemblyScript)
	bytes        []byte
}

// HookNames lists the exported hooks' names in ABI order.
func (m *Module) HookNames() []string {
	var out []string
	for h := abi.Hook(0); h < abi.NumHooks; h++ {
		if m.Hooks[h] {
			out = append(out, h.String())
		}
	}
	return out
}

// Compile validates a policy module: its version marker, hook signatures,
// imports and memory. It refuses a bad module with a *LoadError naming
// every problem found.
func Compile(ctx context.Context, name string, bin []byte) (*Module, error) {
	if err := precheck(bin); err != nil {
		return nil, &LoadError{Module: name, Msg: fmt.Sprintf("not a valid WebAssembly module: %v", err)}
	}
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCompilationCache(sharedCache()))
	defer r.Close(ctx)
	cm, err := r.CompileModule(ctx, bin)
	if err != nil {
		return nil, &LoadError{Module: name, Msg: fmt.Sprintf("not a valid WebAssembly module: %v", err)}
	}
	sum := sha256.Sum256(bin)
	m := &Module{Name: name, Major: -1, Hash: hex.EncodeToString(sum[:]), bytes: bin}
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }

	exports := cm.ExportedFunctions()
	names := make([]string, 0, len(exports))
	for n := range exports {
		names = append(names, n)
	}
	sort.Strings(names)
	var markers []string
	known := map[string]abi.Hook{}
	for h := abi.Hook(0); h < abi.NumHooks; h++ {
		known[abi.Hooks[h].Name] = h
	}
	for _, n := range names {
		def := exports[n]
		switch {
		case strings.HasPrefix(n, abi.MarkerPrefix):
			markers = append(markers, n)
			if len(def.ParamTypes()) != 0 || len(def.ResultTypes()) != 0 {
				bad("version marker %s must have type () -> (), has %s", n, Signature(def.ParamTypes(), def.ResultTypes()))
			}
		case strings.HasPrefix(n, "policy_"):
			h, ok := known[n]
			if !ok {
				bad("unknown hook export %s (hooks of ABI %d.%d: %s)", n, abi.Major, abi.Minor, strings.Join(hookNames(), ", "))
				continue
			}
			spec := abi.Hooks[h]
			want, got := ABISignature(spec.Types, spec.Results), Signature(def.ParamTypes(), def.ResultTypes())
			if want != got {
				bad("hook %s has signature %s, expected %s", n, got, want)
				continue
			}
			m.Hooks[h] = true
		}
	}
	switch len(markers) {
	case 0:
		bad("no ABI version marker: export an empty function %s%d_%d", abi.MarkerPrefix, abi.Major, abi.Minor)
	case 1:
		maj, min, ok := ParseMarker(markers[0])
		switch {
		case !ok:
			bad("malformed ABI version marker %s (expected %s<major>_<minor>)", markers[0], abi.MarkerPrefix)
		case maj != abi.Major || min > abi.Minor:
			bad("unsupported ABI version %d.%d: this host implements %d.%d", maj, min, abi.Major, abi.Minor)
		default:
			m.Major, m.Minor = maj, min
		}
	default:
		bad("more than one ABI version marker: %s", strings.Join(markers, ", "))
	}
	if _, ok := cm.ExportedMemories()["memory"]; !ok {
		bad("the module must export its linear memory as \"memory\"")
	}
	if len(cm.ImportedMemories()) > 0 {
		bad("the module imports a memory; it must define and export its own")
	}
	if m.Hooks[abi.HookPickBlock] && !m.Hooks[abi.HookScratch] {
		bad("policy_pick_block needs policy_scratch to receive candidates")
	}
	if m.Major >= 0 {
		for h := abi.Hook(0); h < abi.NumHooks; h++ {
			if m.Hooks[h] && abi.HookSince(h) > m.Minor {
				bad("hook %s is ABI 1.%d, but the module declares ABI %d.%d (export %s%d_%d)", h, abi.HookSince(h), m.Major, m.Minor, abi.MarkerPrefix, abi.Major, abi.HookSince(h))
			}
		}
	}
	switch {
	case m.Hooks[abi.HookPlan] && !m.Hooks[abi.HookPlace]:
		bad("policy_plan needs policy_place: a plan is carried out by placements")
	case m.Hooks[abi.HookPlace] && !m.Hooks[abi.HookPlan]:
		bad("policy_place needs policy_plan: placements are offsets in the planned arena")
	}
	if m.Hooks[abi.HookPlan] && !m.Hooks[abi.HookScratch] {
		bad("policy_plan needs policy_scratch to receive plan records")
	}
	imports := map[string]abi.ImportSpec{}
	for _, s := range abi.Imports {
		imports[s.Name] = s
	}
	for _, def := range cm.ImportedFunctions() {
		mod, n, _ := def.Import()
		got := Signature(def.ParamTypes(), def.ResultTypes())
		switch mod {
		case abi.ImportModule:
			s, ok := imports[n]
			if !ok {
				bad("imports %s.%s, which the host does not provide (it provides %s)", mod, n, strings.Join(importNames(), ", "))
			} else if want := ABISignature(s.Params, s.Results); want != got {
				bad("imports %s.%s with signature %s, expected %s", mod, n, got, want)
			}
		case wasi_snapshot_preview1.ModuleName:
			m.WASI = true
			want, ok := WASISignatures(ctx)[n]
			if !ok {
				bad("imports %s.%s, which is not a WASI preview 1 function", mod, n)
			} else if want != got {
				bad("imports %s.%s with signature %s, expected %s", mod, n, got, want)
			}
		case "env":
			if n != "abort" || got != "(i32, i32, i32, i32) -> ()" {
				bad("imports env.%s %s: only env.abort (i32, i32, i32, i32) -> () is allowed from env", n, got)
			}
			m.EnvAbort = true
		default:
			bad("imports %s.%s: imports are allowed only from %q, wasi_snapshot_preview1 and env.abort", mod, n, abi.ImportModule)
		}
	}
	if len(problems) > 0 {
		return nil, &LoadError{Module: name, Msg: strings.Join(problems, "; "), Problems: problems}
	}
	return m, nil
}

var (
	wasiOnce sync.Once
	wasiSigs map[string]string
)

// WASISignatures lists wazero's WASI preview 1 functions with their
// signatures, so a bad WASI import is refused at load like any other.
func WASISignatures(ctx context.Context) map[string]string {
	wasiOnce.Do(func() {
		wasiSigs = map[string]string{}
		r := wazero.NewRuntime(ctx)
		defer r.Close(ctx)
		cm, err := wasi_snapshot_preview1.NewBuilder(r).Compile(ctx)
		if err != nil {
			return
		}
		for name, def := range cm.ExportedFunctions() {
			wasiSigs[name] = Signature(def.ParamTypes(), def.ResultTypes())
		}
	})
	return wasiSigs
}

// ParseMarker reads <major>_<minor> from a version marker export name.
func ParseMarker(s string) (major, minor int, ok bool) {
	maj, min, found := strings.Cut(strings.TrimPrefix(s, abi.MarkerPrefix), "_")
	if !found {
		return 0, 0, false
	}
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	return a, b, err1 == nil && err2 == nil && a >= 0 && b >= 0
}

func hookNames() []string {
	var out []string
	for _, h := range abi.Hooks {
		out = append(out, h.Name)
	}
	return out
}

func importNames() []string {
	var out []string
	for _, s := range abi.Imports {
		out = append(out, s.Name)
	}
	return out
}

// Signature writes a function type as the host's messages do:
// "(i64, i32, i32) -> (i64)".
func Signature(params, results []api.ValueType) string {
	return "(" + typeList(params) + ") -> (" + typeList(results) + ")"
}

// ABISignature is Signature for a type list of sdk/abi.
func ABISignature(params, results []abi.ValType) string {
	p := make([]api.ValueType, len(params))
	for i, t := range params {
		p[i] = api.ValueType(t)
	}
	r := make([]api.ValueType, len(results))
	for i, t := range results {
		r[i] = api.ValueType(t)
	}
	return Signature(p, r)
}

func typeList(ts []api.ValueType) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = api.ValueTypeName(t)
	}
	return strings.Join(s, ", ")
}
