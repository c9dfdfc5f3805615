package policies

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/host/abi"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

const mib = 1 << 20

// The toolchain the committed modules were built with (see build.sh).
const committedClangMajor = "14"

// The build commands of build.sh, run from the policy's directory. Keep
// them the same as build.sh and the READMEs.
func clangArgs(out string) []string {
	return []string{"--target=wasm32", "-std=c11", "-O2", "-ffreestanding", "-nostdlib",
		"-Wall", "-Wextra", "-Wno-unused-parameter", "-Wmissing-prototypes", "-Werror",
		"-Wl,--no-entry", "-Wl,--strip-all", "-I../../sdk/c",
		"-o", out, "pytorch.c"}
}

func wat2wasmArgs(out string) []string { return []string{"default.wat", "-o", out} }

// TestRebuildIsIdentical rebuilds each built-in from its source and checks
// that the result is byte for byte the committed (and embedded) module.
func TestRebuildIsIdentical(t *testing.T) {
	t.Run("pytorch", func(t *testing.T) {
		for _, tool := range []string{"clang", "wasm-ld"} {
			if _, err := exec.LookPath(tool); err != nil {
				t.Skipf("%s not found; to rebuild the C policies: apt-get install clang lld", tool)
			}
		}
		out := filepath.Join(t.TempDir(), "pytorch.wasm")
		run(t, "pytorch", "clang", clangArgs(out)...)
		if !compareBuilt(t, "pytorch", out) {
			v := clangMajor(t)
			if v != committedClangMajor {
				t.Skipf("pytorch.wasm differs, but the committed module was built with clang %s and this is clang %s",
					committedClangMajor, v)
			}
			t.Fatal("pytorch/pytorch.wasm is not what pytorch.c builds to: run policies/build.sh and commit the result")
		}
	})
	t.Run("default", func(t *testing.T) {
		if _, err := exec.LookPath("wat2wasm"); err != nil {
			t.Skip("wat2wasm not found; to rebuild the WAT policies: apt-get install wabt")
		}
		out := filepath.Join(t.TempDir(), "default.wasm")
		run(t, "default", "wat2wasm", wat2wasmArgs(out)...)
		if !compareBuilt(t, "default", out) {
			t.Fatal("default/default.wasm is not what default.wat builds to: run policies/build.sh and commit the result")
		}
	})
}

func run(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s (in %s): %v\n%s", name, strings.Join(args, " "), dir, err, out)
	} else if len(out) > 0 {
		t.Logf("%s: %s", name, out)
	}
}

// compareBuilt reports whether the freshly built module equals both the
// committed file and the embedded module of policy name.
func compareBuilt(t *testing.T, name, built string) bool {
	t.Helper()
	got, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join(name, name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	embedded, _ := Builtin(name)
	if !bytes.Equal(committed, embedded) {
		t.Fatalf("the embedded %s module differs from %s/%s.wasm", name, name, name)
	}
	if !bytes.Equal(got, committed) {
		t.Logf("rebuilt %s: %d bytes; committed: %d bytes", name, len(got), len(committed))
		return false
	}
	return true
}

func clangMajor(t *testing.T) string {
	out, err := exec.Command("clang", "--version").Output()
	if err != nil {
		t.Fatalf("clang --version: %v", err)
	}
	m := regexp.MustCompile(`clang version (\d+)\.`).FindSubmatch(out)
	if m == nil {
		return "?"
	}
	return string(m[1])
}

func TestNamesAndBuiltin(t *testing.T) {
	if got, want := Names(), []string{"default", "pytorch"}; !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	for _, name := range Names() {
		b, ok := Builtin(name)
		if !ok || len(b) == 0 {
			t.Fatalf("Builtin(%q) = %d bytes, %v", name, len(b), ok)
		}
		b[0] ^= 0xff // the caller's copy: the embedded module is unchanged
		if again, _ := Builtin(name); again[0] == b[0] {
			t.Fatalf("Builtin(%q) hands out the embedded bytes, not a copy", name)
		}
	}
	if b, ok := Builtin("nope"); ok || b != nil {
		t.Fatalf(`Builtin("nope") = %v, %v; want nil, false`, b, ok)
	}
}

// The hooks each built-in must export, no more and no less.
var wantHooks = map[string][]string{
	"default": nil,
	"pytorch": {"policy_choose_pool", "policy_init", "policy_pick_block", "policy_release",
		"policy_round_size", "policy_scratch", "policy_segment_size", "policy_split"},
}

// TestModuleShape checks each embedded module against ABI §1 and §5: a
// `memory` export, exactly one marker fraglab_abi_v1_0, hooks with exactly
// the signatures of abi.Hooks, and imports only from module "fraglab" with
// the signatures of abi.Imports.
func TestModuleShape(t *testing.T) {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	instantiateHost(t, r, &fakeHost{})

	hooks := map[string]abi.HookSpec{}
	for _, h := range abi.Hooks {
		hooks[h.Name] = h
	}
	imports := map[string]abi.ImportSpec{}
	for _, im := range abi.Imports {
		imports[im.Name] = im
	}
	marker := fmt.Sprintf("%s%d_%d", abi.MarkerPrefix, abi.Major, abi.Minor)

	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			wasm, _ := Builtin(name)
			cm, err := r.CompileModule(ctx, wasm)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			defer cm.Close(ctx)

			if _, ok := cm.ExportedMemories()["memory"]; !ok {
				t.Error(`no memory exported as "memory"`)
			}
			if n := len(cm.ImportedMemories()); n != 0 {
				t.Errorf("imports %d memories; a policy owns its memory", n)
			}

			var markers, gotHooks []string
			for export, fn := range cm.ExportedFunctions() {
				switch {
				case strings.HasPrefix(export, abi.MarkerPrefix):
					markers = append(markers, export)
					checkSig(t, export, fn, nil, nil)
				case strings.HasPrefix(export, "policy_"):
					spec, ok := hooks[export]
					if !ok {
						t.Errorf("exports %s, which is no hook of ABI v1", export)
						continue
					}
					gotHooks = append(gotHooks, export)
					checkSig(t, export, fn, spec.Types, spec.Results)
				default:
					t.Errorf("exports function %s, which is neither a hook nor the marker", export)
				}
			}
			if len(markers) != 1 || markers[0] != marker {
				t.Errorf("version markers %v, want exactly [%s]", markers, marker)
			}
			slices.Sort(gotHooks)
			if !slices.Equal(gotHooks, wantHooks[name]) {
				t.Errorf("exports hooks %v, want %v", gotHooks, wantHooks[name])
			}

			for _, fn := range cm.ImportedFunctions() {
				module, field, _ := fn.Import()
				if module != abi.ImportModule {
					t.Errorf("imports %s.%s: built-ins import only from %q", module, field, abi.ImportModule)
					continue
				}
				spec, ok := imports[field]
				if !ok {
					t.Errorf("imports %s.%s, which the host does not provide", module, field)
					continue
				}
				checkSig(t, module+"."+field, fn, spec.Params, spec.Results)
			}

			// Instantiating with nothing but the "fraglab" host module
			// proves no other import (table, global) is needed either.
			mod, err := r.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName(""))
			if err != nil {
				t.Fatalf("instantiate with only the fraglab host module: %v", err)
			}
			mod.Close(ctx)
		})
	}
}

func checkSig(t *testing.T, name string, fn api.FunctionDefinition, params, results []abi.ValType) {
	t.Helper()
	if !sameTypes(fn.ParamTypes(), params) || !sameTypes(fn.ResultTypes(), results) {
		t.Errorf("%s has signature %s, want %s", name,
			sig(fn.ParamTypes(), fn.ResultTypes()), sig(toAPI(params), toAPI(results)))
	}
}

func sameTypes(got []api.ValueType, want []abi.ValType) bool {
	return slices.Equal(got, toAPI(want))
}

func toAPI(ts []abi.ValType) []api.ValueType {
	out := make([]api.ValueType, len(ts))
	for i, v := range ts {
		out[i] = api.ValueType(v)
	}
	return out
}

func sig(params, results []api.ValueType) string {
	name := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, v := range ts {
			s[i] = api.ValueTypeName(v)
		}
		return "(" + strings.Join(s, ", ") + ")"
	}
	return name(params) + " -> " + name(results)
}

// fakeHost is a minimal host module "fraglab": it records what the policy
// asks and answers like a host with no parameters and fixed statistics.
type fakeHost struct {
	stats    map[int32]int64
	config   [][2]int64 // (key, value) of each config call
	params   []string   // names of the parameters read
	logs     []string
	errorSet string
}

func instantiateHost(t *testing.T, r wazero.Runtime, h *fakeHost) {
	t.Helper()
	i32, i64, f64 := api.ValueTypeI32, api.ValueTypeI64, api.ValueTypeF64
	str := func(m api.Module, ptr, n uint64) string {
		b, ok := m.Memory().Read(uint32(ptr), uint32(n))
		if !ok {
			t.Errorf("host import: bad string (%d, %d)", ptr, n)
		}
		return string(b)
	}
	b := r.NewHostModuleBuilder(abi.ImportModule)
	fn := func(name string, params, results []api.ValueType, f api.GoModuleFunc) {
		b.NewFunctionBuilder().WithGoModuleFunction(f, params, results).Export(name)
	}
	fn("log", []api.ValueType{i32, i32, i32}, nil, func(_ context.Context, m api.Module, s []uint64) {
		h.logs = append(h.logs, str(m, s[1], s[2]))
	})
	fn("error_set", []api.ValueType{i32, i32}, nil, func(_ context.Context, m api.Module, s []uint64) {
		h.errorSet = str(m, s[0], s[1])
	})
	fn("param_i64", []api.ValueType{i32, i32, i64}, []api.ValueType{i64}, func(_ context.Context, m api.Module, s []uint64) {
		h.params = append(h.params, str(m, s[0], s[1])) // absent: s[2], the default, stays
	})
	fn("param_f64", []api.ValueType{i32, i32, f64}, []api.ValueType{f64}, func(_ context.Context, m api.Module, s []uint64) {
		h.params = append(h.params, str(m, s[0], s[1]))
	})
	fn("param_str", []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}, func(_ context.Context, m api.Module, s []uint64) {
		h.params = append(h.params, str(m, s[0], s[1]))
		s[0] = api.EncodeI32(-1)
	})
	fn("stat", []api.ValueType{i32, i32}, []api.ValueType{i64}, func(_ context.Context, _ api.Module, s []uint64) {
		v, ok := h.stats[api.DecodeI32(s[0])]
		if !ok {
			v = abi.StatUnknown
		}
		s[0] = api.EncodeI64(v)
	})
	fn("tag_name", []api.ValueType{i32, i32, i32}, []api.ValueType{i32}, func(_ context.Context, _ api.Module, s []uint64) {
		s[0] = api.EncodeI32(-1)
	})
	fn("config", []api.ValueType{i32, i64}, []api.ValueType{i64}, func(_ context.Context, _ api.Module, s []uint64) {
		key, value := api.DecodeI32(s[0]), int64(s[1])
		h.config = append(h.config, [2]int64{int64(key), value})
		if key != abi.ConfigCandidateWindow || value < 1 || value > abi.MaxCandidates {
			value = abi.Error
		}
		s[0] = api.EncodeI64(value)
	})
	if _, err := b.Instantiate(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// pytorchInstance is an initialised instance of the pytorch module.
type pytorchInstance struct {
	t       *testing.T
	mod     api.Module
	host    *fakeHost
	scratch uint32
}

func newPytorch(t *testing.T) *pytorchInstance {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	t.Cleanup(func() { r.Close(ctx) })
	h := &fakeHost{stats: map[int32]int64{abi.StatCapacity: 80 << 30, abi.StatReserved: 0}}
	instantiateHost(t, r, h)
	wasm, _ := Builtin("pytorch")
	mod, err := r.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithName("pytorch"))
	if err != nil {
		t.Fatal(err)
	}
	p := &pytorchInstance{t: t, mod: mod, host: h}
	if got := p.call("policy_init"); got < 0 {
		t.Fatalf("policy_init() = %d (error text %q)", got, h.errorSet)
	}
	p.scratch = uint32(p.call("policy_scratch", api.EncodeI32(abi.DefaultCandidateWindow*abi.RecordSize)))
	return p
}

// call calls a hook and returns its answer as an int64 (the i32 answer of
// policy_scratch zero-extended).
func (p *pytorchInstance) call(hook string, args ...uint64) int64 {
	p.t.Helper()
	fn := p.mod.ExportedFunction(hook)
	if fn == nil {
		p.t.Fatalf("%s is not exported", hook)
	}
	res, err := fn.Call(context.Background(), args...)
	if err != nil {
		p.t.Fatalf("%s%v: %v", hook, args, err)
	}
	if hook == "policy_scratch" {
		return int64(api.DecodeU32(res[0]))
	}
	return int64(res[0])
}

func TestPytorchInit(t *testing.T) {
	p := newPytorch(t)
	// Classic segments (the default): the rules read only the best fit.
	if want := [][2]int64{{abi.ConfigCandidateWindow, 1}}; !slices.Equal(p.host.config, want) {
		t.Errorf("config calls %v, want %v", p.host.config, want)
	}
	if len(p.host.params) != 0 {
		t.Errorf("read parameters %v; the pytorch policy reads none yet", p.host.params)
	}
	if len(p.host.logs) != 0 || p.host.errorSet != "" {
		t.Errorf("logged %q, error text %q", p.host.logs, p.host.errorSet)
	}
	if p.scratch == 0 || p.scratch%8 != 0 {
		t.Errorf("policy_scratch(384) = %d, want a non-zero 8-byte aligned address", p.scratch)
	}
	if got := p.call("policy_scratch", api.EncodeI32(8*abi.RecordSize+1)); got != 0 {
		t.Errorf("policy_scratch(385) = %d, want 0 (the area holds 8 records)", got)
	}
	if got := p.call("policy_scratch", api.EncodeI32(8*abi.RecordSize)); got != int64(p.scratch) {
		t.Errorf("policy_scratch moved: %d, then %d", p.scratch, got)
	}
}

// hookCase is one hook call and its expected answer.
type hookCase struct {
	name string
	args []uint64
	want int64
}

func i32(v int32) uint64 { return api.EncodeI32(v) }
func i64(v int64) uint64 { return api.EncodeI64(v) }

// TestPytorchBoundaries checks the pytorch hooks at every boundary of
// PyTorch's default rules (ABI §4).
func TestPytorchBoundaries(t *testing.T) {
	p := newPytorch(t)
	const stream, tag = 0, 0
	round := func(size int64) []uint64 { return []uint64{i64(size), i32(stream), i32(tag)} }
	seg := func(rounded int64, pool int32) []uint64 {
		return []uint64{i64(rounded), i32(pool), i32(stream), i32(tag)}
	}
	split := func(block, rounded int64, pool, flags int32) []uint64 {
		return []uint64{i64(block), i64(rounded), i32(pool), i32(stream), i32(flags), i32(tag)}
	}
	release := func(phase int32, attempt int32) []uint64 {
		return []uint64{i32(phase), i64(4 * mib), i32(1), i32(stream), i32(attempt)}
	}
	cached := int64(abi.ActReleaseCached)

	tests := map[string][]hookCase{
		"policy_round_size": {
			{"0 -> 512", round(0), 512},
			{"1 -> 512", round(1), 512},
			{"511 -> 512", round(511), 512},
			{"512 stays", round(512), 512},
			{"513 -> 1024", round(513), 1024},
			{"1000 -> 1024", round(1000), 1024},
			{"1 MiB stays", round(mib), mib},
			{"1 MiB+1", round(mib + 1), mib + 512},
			{"3 MiB+1 (no power-of-two rounding)", round(3*mib + 1), 3*mib + 512},
			{"1 GiB+1", round(1<<30 + 1), 1<<30 + 512},
		},
		"policy_choose_pool": {
			{"512 small", round(512), 0},
			{"1 MiB small", round(mib), 0},
			{"1 MiB+512 large", round(mib + 512), 1},
			{"1 GiB large", round(1 << 30), 1},
		},
		"policy_segment_size": {
			{"512 -> 2 MiB", seg(512, 0), 2 * mib},
			{"1 MiB -> 2 MiB", seg(mib, 0), 2 * mib},
			{"1 MiB+512 -> 20 MiB", seg(mib+512, 1), 20 * mib},
			{"10 MiB-512 -> 20 MiB", seg(10*mib-512, 1), 20 * mib},
			{"10 MiB stays", seg(10*mib, 1), 10 * mib},
			{"10 MiB+1 KiB -> 12 MiB", seg(10*mib+1024, 1), 12 * mib},
			{"12 MiB stays", seg(12*mib, 1), 12 * mib},
			{"1 GiB+512 -> 1 GiB+2 MiB", seg(1<<30+512, 1), 1<<30 + 2*mib},
		},
		"policy_split": {
			{"small, remainder 0: no split", split(512, 512, 0, 0), 512},
			{"small, remainder 512: split", split(1024, 512, 0, 0), 512},
			{"small, whole 2 MiB segment: split", split(2*mib, 4096, 0, abi.FlagWholeSegment), 4096},
			{"large, remainder 0: no split", split(20*mib, 20*mib, 1, 0), 20 * mib},
			{"large, remainder 512: no split", split(2*mib+512, 2*mib, 1, 0), 2*mib + 512},
			{"large, remainder 1 MiB: no split", split(3*mib, 2*mib, 1, abi.FlagWholeSegment), 3 * mib},
			{"large, remainder 1 MiB+512: split", split(3*mib+512, 2*mib, 1, abi.FlagWholeSegment), 2 * mib},
			{"large, 19.5 MiB in 20 MiB: no split", split(20*mib, 19*mib+mib/2, 1, abi.FlagWholeSegment), 20 * mib},
			{"large, 10.5 MiB in 12 MiB: split", split(12*mib, 10*mib+mib/2, 1, abi.FlagWholeSegment), 10*mib + mib/2},
			{"large, 1 GiB block, small request: split", split(1<<30, 2*mib, 1, 0), 2 * mib},
			{"extra pool 3 is large: no split", split(2*mib+512, 2*mib, 3, 0), 2*mib + 512},
			{"expandable, remainder 512: split", split(2*mib+512, 2*mib, 1, abi.FlagExpandable), 2 * mib},
		},
		"policy_release": {
			{"phase 0: nothing", release(abi.PhaseBeforeGrow, 0), abi.ActNothing},
			{"phase 1 attempt 0: release cached", release(abi.PhaseGrowFailed, 0), cached},
			{"phase 1 attempt 1: nothing (OOM)", release(abi.PhaseGrowFailed, 1), abi.ActNothing},
			{"phase 1 attempt 15: nothing", release(abi.PhaseGrowFailed, 15), abi.ActNothing},
		},
	}
	for _, hook := range slices.Sorted(maps.Keys(tests)) {
		for _, tc := range tests[hook] {
			t.Run(hook+"/"+tc.name, func(t *testing.T) {
				if got := p.call(hook, tc.args...); got != tc.want {
					t.Errorf("%s%v = %d, want %d", hook, tc.args, got, tc.want)
				}
			})
		}
	}
}

// cand builds a candidate record; exp is its expandable size (0: classic,
// expandable size = size).
func cand(size, addr, exp int64) abi.Candidate {
	c := abi.Candidate{Size: size, Addr: uint64(addr), SegmentAddr: uint64(addr), SegmentSize: size,
		ExpandableSize: size, Flags: abi.FlagWholeSegment}
	if exp != 0 {
		c.ExpandableSize, c.Flags, c.SegmentSize = exp, abi.FlagExpandable, 64*mib
	}
	return c
}

// TestPytorchPickBlock writes candidate records into the scratch area and
// checks the pick: the first (best-fit) candidate, except for the
// expandable tie-break of ABI §4.
func TestPytorchPickBlock(t *testing.T) {
	p := newPytorch(t)
	tests := []struct {
		name    string
		rounded int64
		pool    int32
		cands   []abi.Candidate
		want    int64
	}{
		{"one candidate", 4096, 0, []abi.Candidate{cand(2*mib, 0x1000000, 0)}, 0},
		{"best fit is first", 4 * mib, 1, []abi.Candidate{
			cand(20*mib, 0x2000000, 0), cand(20*mib, 0x4000000, 0), cand(40*mib, 0x1000000, 0)}, 0},
		{"full window, first", 2 * mib, 1, []abi.Candidate{
			cand(2*mib, 8<<30, 0), cand(3*mib, 7<<30, 0), cand(4*mib, 6<<30, 0), cand(5*mib, 5<<30, 0),
			cand(6*mib, 4<<30, 0), cand(7*mib, 3<<30, 0), cand(8*mib, 2<<30, 0), cand(9*mib, 1<<30, 0)}, 0},
		{"oversize block for a small request (max_split_size unlimited)", 2 * mib, 1, []abi.Candidate{
			cand(1<<30, 0x1000000, 0)}, 0},
		{"expandable: next cannot grow as far", 4 * mib, 1, []abi.Candidate{
			cand(20*mib, 0x1000000, 60*mib), cand(20*mib, 0x3000000, 20*mib), cand(40*mib, 0x5000000, 40*mib)}, 1},
		{"expandable: walks while smaller", 4 * mib, 1, []abi.Candidate{
			cand(20*mib, 0x1000000, 80*mib), cand(20*mib, 0x3000000, 60*mib), cand(20*mib, 0x5000000, 40*mib),
			cand(40*mib, 0x7000000, 50*mib)}, 2},
		{"expandable: stops at the window's end", 4 * mib, 1, []abi.Candidate{
			cand(20*mib, 0x1000000, 80*mib), cand(20*mib, 0x3000000, 60*mib)}, 1},
		{"expandable: equal expandable size stays", 4 * mib, 1, []abi.Candidate{
			cand(20*mib, 0x1000000, 60*mib), cand(20*mib, 0x3000000, 60*mib)}, 0},
		{"classic first: no tie-break", 4 * mib, 1, []abi.Candidate{
			cand(20*mib, 0x1000000, 0), cand(20*mib, 0x3000000, 20*mib)}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf := make([]byte, len(tc.cands)*abi.RecordSize)
			for i := range tc.cands {
				tc.cands[i].Put(buf[i*abi.RecordSize:])
			}
			if !p.mod.Memory().Write(p.scratch, buf) {
				t.Fatalf("cannot write %d bytes at scratch %d", len(buf), p.scratch)
			}
			got := p.call("policy_pick_block", i32(int32(len(tc.cands))), i64(tc.rounded), i32(tc.pool), i32(0), i32(0))
			if got != tc.want {
				t.Errorf("policy_pick_block(n=%d, rounded=%d, pool=%d) = %d, want %d",
					len(tc.cands), tc.rounded, tc.pool, got, tc.want)
			}
		})
	}
}

// Host defaults of ABI §4, in Go, to compare the pytorch policy with.
func defaultRound(size int64) int64 {
	if size < 512 {
		return 512
	}
	return (size + 511) / 512 * 512
}

func defaultPool(rounded int64) int64 {
	if rounded <= mib {
		return 0
	}
	return 1
}

func defaultSegment(rounded int64) int64 {
	switch {
	case rounded <= mib:
		return 2 * mib
	case rounded < 10*mib:
		return 20 * mib
	}
	return (rounded + 2*mib - 1) / (2 * mib) * (2 * mib)
}

func defaultSplit(block, rounded int64, pool int32) int64 {
	r := block - rounded
	if (pool == 0 && r >= 512) || (pool != 0 && r > mib) {
		return rounded
	}
	return block
}

// TestPytorchMatchesHostDefaults compares the pytorch policy with ABI §4's
// host defaults on sizes around every power of two and on random sizes.
func TestPytorchMatchesHostDefaults(t *testing.T) {
	p := newPytorch(t)
	var sizes []int64
	for shift := 0; shift <= 40; shift++ {
		for _, d := range []int64{-513, -512, -511, -1, 0, 1, 511, 512, 513} {
			if s := int64(1)<<shift + d; s >= 0 {
				sizes = append(sizes, s)
			}
		}
	}
	for _, s := range []int64{10 * mib, 20 * mib} {
		for _, d := range []int64{-513, -512, -1, 0, 1, 512} {
			sizes = append(sizes, s+d)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		sizes = append(sizes, rng.Int64N(1<<rng.IntN(38)+1))
	}
	for _, size := range sizes {
		rounded := defaultRound(size)
		if got := p.call("policy_round_size", i64(size), i32(0), i32(0)); got != rounded {
			t.Fatalf("policy_round_size(%d) = %d, host default %d", size, got, rounded)
		}
		pool := defaultPool(rounded)
		if got := p.call("policy_choose_pool", i64(rounded), i32(0), i32(0)); got != pool {
			t.Fatalf("policy_choose_pool(%d) = %d, host default %d", rounded, got, pool)
		}
		segment := defaultSegment(rounded)
		if got := p.call("policy_segment_size", i64(rounded), i32(int32(pool)), i32(0), i32(0)); got != segment {
			t.Fatalf("policy_segment_size(%d) = %d, host default %d", rounded, got, segment)
		}
		for _, block := range []int64{rounded, rounded + 512, rounded + mib, rounded + mib + 512, segment} {
			want := defaultSplit(block, rounded, int32(pool))
			got := p.call("policy_split", i64(block), i64(rounded), i32(int32(pool)), i32(0), i32(0), i32(0))
			if got != want {
				t.Fatalf("policy_split(%d, %d, pool %d) = %d, host default %d", block, rounded, pool, got, want)
			}
		}
	}
}
