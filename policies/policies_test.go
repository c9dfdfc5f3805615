package policies

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/internal/synth"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/sdk/abi"
	"github.com/fraglab/fraglab/trace"
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
	if got, want := Names(), []string{"best-fit-nosplit-large", "bfc", "buddy", "default", "first-fit", "gmlake",
		"lifetime-aware", "planner", "prealloc-arena", "pytorch", "pytorch-expandable", "rmm-pool", "size-class", "tlsf"}; !slices.Equal(got, want) {
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
		"policy_round_size", "policy_scratch", "policy_segment_mode", "policy_segment_size", "policy_split"},
	"pytorch-expandable":     {"policy_segment_mode", "policy_split"},
	"first-fit":              {"policy_search_order"},
	"best-fit-nosplit-large": {"policy_split"},
	"buddy":                  {"policy_init", "policy_merge", "policy_round_size", "policy_segment_size", "policy_split"},
	"size-class":             {"policy_init", "policy_round_size", "policy_split"},
	"lifetime-aware":         {"policy_choose_pool"},
	"rmm-pool":               {"policy_release", "policy_segment_size"},
	"prealloc-arena":         {"policy_choose_pool", "policy_init", "policy_segment_size", "policy_split"},
	"bfc":                    {"policy_choose_pool", "policy_init", "policy_release", "policy_segment_size", "policy_split"},
	"gmlake":                 {"policy_init", "policy_pick_block", "policy_release", "policy_scratch", "policy_segment_mode", "policy_split"},
	"planner": {"policy_choose_pool", "policy_init", "policy_pick_block", "policy_place", "policy_plan", "policy_release",
		"policy_round_size", "policy_scratch", "policy_segment_mode", "policy_segment_size", "policy_split"},
	// The Rust SDK exports every hook and declares the ones it implements
	// with the hook mask (config key 2); TestTLSFHookMask checks the mask.
	"tlsf": sdkHooks(),
}

// sdkHooks is every hook's export name, sorted: what a module built with
// the Rust or Go SDK exports (the hook mask says which it implements).
func sdkHooks() []string {
	var names []string
	for _, spec := range abi.Hooks {
		names = append(names, spec.Name)
	}
	slices.Sort(names)
	return names
}

// markerMinor is the ABI minor each built-in declares: 0 (it needs nothing
// past ABI 1.0) unless listed.
var markerMinor = map[string]int{
	"tlsf":    5, // the Rust SDK declares the newest ABI (it sets the hook mask, 1.1's key)
	"buddy":   2, // repeated merges, config key 3 of ABI 1.2
	"pytorch": 3, // per_process_memory_fraction's limit, config key 4 of ABI 1.3
	"planner": 5, // policy_plan and policy_place, ABI 1.5
	"gmlake":  5, // stitching: actions 4 and 5, config key 5 of ABI 1.5
}

// TestModuleShape checks each embedded module against ABI §1 and §5: a
// `memory` export, exactly one marker (fraglab_abi_v1_0 unless markerMinor
// says otherwise), hooks with exactly
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
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			marker := fmt.Sprintf("%s%d_%d", abi.MarkerPrefix, abi.Major, markerMinor[name])
			bin, _ := Builtin(name)
			cm, err := r.CompileModule(ctx, bin)
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
// asks and answers like the real host (host/wasm) with the parameters of
// params and fixed statistics.
type fakeHost struct {
	params   map[string]string // the run's parameters
	stats    map[int32]int64
	config   [][2]int64 // (key, value) of each config call
	read     []string   // names of the parameters read, in order
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
	// param looks a parameter up, as host/wasm does, and records the read.
	param := func(m api.Module, ptr, n uint64) (string, bool) {
		name := str(m, ptr, n)
		h.read = append(h.read, name)
		v, ok := h.params[name]
		return v, ok
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
		v, ok := param(m, s[0], s[1])
		s[0] = s[2] // absent or not an integer: the default
		switch {
		case !ok:
		case strings.EqualFold(v, "true"):
			s[0] = 1
		case strings.EqualFold(v, "false"):
			s[0] = 0
		default:
			if n, err := strconv.ParseInt(v, 0, 64); err == nil {
				s[0] = uint64(n)
			}
		}
	})
	fn("param_f64", []api.ValueType{i32, i32, f64}, []api.ValueType{f64}, func(_ context.Context, m api.Module, s []uint64) {
		v, ok := param(m, s[0], s[1])
		s[0] = s[2] // absent or not a number: the default
		if ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(f) {
				s[0] = api.EncodeF64(f)
			}
		}
	})
	fn("param_str", []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}, func(_ context.Context, m api.Module, s []uint64) {
		v, ok := param(m, s[0], s[1])
		if !ok {
			s[0] = api.EncodeI32(-1)
			return
		}
		if uint32(len(v)) <= api.DecodeU32(s[3]) && !m.Memory().Write(api.DecodeU32(s[2]), []byte(v)) {
			t.Errorf("param_str: bad buffer (%d, %d)", s[2], s[3])
		}
		s[0] = api.EncodeI32(int32(len(v)))
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
		switch {
		case key == abi.ConfigCandidateWindow && value >= 1 && value <= abi.MaxCandidates:
		case key == abi.ConfigReserveLimit && value >= 0 && value <= 1<<48:
		default:
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

// The device the fake host describes: 80 GiB, 2 MiB granularity, nothing
// reserved yet.
func deviceStats() map[int32]int64 {
	return map[int32]int64{abi.StatCapacity: 80 << 30, abi.StatGranularity: 2 * mib, abi.StatReserved: 0}
}

func newPytorch(t *testing.T) *pytorchInstance { return newPytorchWith(t, nil) }

// newPytorchWith instantiates the pytorch module with parameters params
// and runs policy_init, which must succeed.
func newPytorchWith(t *testing.T, params map[string]string) *pytorchInstance {
	t.Helper()
	p, got := startPytorch(t, params, deviceStats())
	if got < 0 {
		t.Fatalf("policy_init() with %v = %d (error text %q)", params, got, p.host.errorSet)
	}
	p.scratch = uint32(p.call("policy_scratch", api.EncodeI32(abi.DefaultCandidateWindow*abi.RecordSize)))
	return p
}

// startPytorch instantiates the pytorch module with parameters params and
// statistics stats and returns it with policy_init's answer.
func startPytorch(t *testing.T, params map[string]string, stats map[int32]int64) (*pytorchInstance, int64) {
	t.Helper()
	return startBuiltin(t, "pytorch", params, stats)
}

// startBuiltin instantiates built-in name against the fake host with
// parameters params and statistics stats, and returns it with
// policy_init's answer.
func startBuiltin(t *testing.T, name string, params map[string]string, stats map[int32]int64) (*pytorchInstance, int64) {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	t.Cleanup(func() { r.Close(ctx) })
	h := &fakeHost{params: params, stats: stats}
	instantiateHost(t, r, h)
	bin, _ := Builtin(name)
	mod, err := r.InstantiateWithConfig(ctx, bin, wazero.NewModuleConfig().WithName(name))
	if err != nil {
		t.Fatal(err)
	}
	p := &pytorchInstance{t: t, mod: mod, host: h}
	return p, p.call("policy_init")
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
	if !slices.Equal(p.host.read, knobs) {
		t.Errorf("read parameters %v, want the knobs %v", p.host.read, knobs)
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

// knobs are the parameters the pytorch policy reads, in the order it reads
// them: PyTorch's PYTORCH_CUDA_ALLOC_CONF keys.
var knobs = []string{"max_split_size_mb", "max_non_split_rounding_mb", "roundup_power2_divisions",
	"garbage_collection_threshold", "per_process_memory_fraction", "large_segment_size_mb", "expandable_segments"}

const gib = 1 << 30

// release answers of policy_release (ABI §3.3).
func releaseAnswer(action, arg int64) int64 { return arg<<abi.ActionBits | action }

// TestPytorchKnobsAccepted starts the policy with valid knob values at the
// edges of their ranges.
func TestPytorchKnobsAccepted(t *testing.T) {
	for _, params := range []map[string]string{
		{"max_split_size_mb": "20"},
		{"max_split_size_mb": "unlimited"},
		{"max_split_size_mb": "Unlimited"},
		{"max_split_size_mb": "268435456"},
		{"max_split_size_mb": "99999999999999999999999"},
		{"max_non_split_rounding_mb": "20"},
		{"max_non_split_rounding_mb": "99999999999999999999999"},
		{"roundup_power2_divisions": "0"},
		{"roundup_power2_divisions": "1"},
		{"roundup_power2_divisions": "9223372036854775808"},
		{"roundup_power2_divisions": "[]"},
		{"roundup_power2_divisions": " [ 256 : 1 , >:8 , ] "},
		{"roundup_power2_divisions": "[1:0,65536:2]"},
		{"garbage_collection_threshold": "0.0001"},
		{"garbage_collection_threshold": "0.9999"},
		{"garbage_collection_threshold": "5e-1"},
		{"per_process_memory_fraction": "1"},
		{"per_process_memory_fraction": "0.0001"},
		{"large_segment_size_mb": "11"},
		{"large_segment_size_mb": "268435456"},
		{"expandable_segments": "true"},
		{"expandable_segments": "True"},
		{"expandable_segments": "FALSE"},
		{"expandable_segments": "1"},
		{"expandable_segments": "0"},
		{"expandable_segments": "true", "large_segment_size_mb": "12"},
	} {
		t.Run(fmt.Sprint(params), func(t *testing.T) {
			p, got := startPytorch(t, params, deviceStats())
			if got != 0 || p.host.errorSet != "" {
				t.Fatalf("policy_init() = %d, error text %q; want 0", got, p.host.errorSet)
			}
			for name := range params {
				if !slices.Contains(p.host.read, name) {
					t.Errorf("parameter %s was never read", name)
				}
			}
		})
	}
}

// TestPytorchKnobErrors checks that every invalid knob value refuses the
// module with a text naming the knob, the value and the accepted range.
func TestPytorchKnobErrors(t *testing.T) {
	const divisionsRange = "must be a power of two or 0, or a list such as [256:1,512:2,>:8] " +
		"(keys: MB, powers of two, or >; divisions: powers of two or 0)"
	gran4 := deviceStats()
	gran4[abi.StatGranularity] = 4 * mib
	tests := []struct {
		params map[string]string
		stats  map[int32]int64 // nil: deviceStats()
		want   string
	}{
		{map[string]string{"max_split_size_mb": "10"}, nil, "max_split_size_mb=10: must be ≥ 20 (MB)"},
		{map[string]string{"max_split_size_mb": "19"}, nil, "max_split_size_mb=19: must be ≥ 20 (MB)"},
		{map[string]string{"max_split_size_mb": "0"}, nil, "max_split_size_mb=0: must be ≥ 20 (MB)"},
		{map[string]string{"max_split_size_mb": "-1"}, nil, "max_split_size_mb=-1: must be an integer ≥ 20 (MB), or unlimited"},
		{map[string]string{"max_split_size_mb": "20MB"}, nil, "max_split_size_mb=20MB: must be an integer ≥ 20 (MB), or unlimited"},
		{map[string]string{"max_split_size_mb": ""}, nil, "max_split_size_mb=: must be an integer ≥ 20 (MB), or unlimited"},
		{map[string]string{"max_split_size_mb": "2 0"}, nil, "max_split_size_mb=2 0: must be an integer ≥ 20 (MB), or unlimited"},
		{map[string]string{"max_split_size_mb": " 20"}, nil, "max_split_size_mb= 20: must be an integer ≥ 20 (MB), or unlimited"},
		{map[string]string{"garbage_collection_threshold": "0.5 "}, nil, "garbage_collection_threshold=0.5 : must be a number > 0 and < 1"},
		{map[string]string{"max_split_size_mb": strings.Repeat("9", 300)}, nil,
			"max_split_size_mb=(a value of 300 bytes): must be an integer ≥ 20 (MB), or unlimited"},
		{map[string]string{"max_non_split_rounding_mb": "19"}, nil, "max_non_split_rounding_mb=19: must be ≥ 20 (MB)"},
		{map[string]string{"max_non_split_rounding_mb": "unlimited"}, nil, "max_non_split_rounding_mb=unlimited: must be an integer ≥ 20 (MB)"},
		{map[string]string{"roundup_power2_divisions": "3"}, nil, "roundup_power2_divisions=3: divisions 3 must be a power of two or 0"},
		{map[string]string{"roundup_power2_divisions": "99999999999999999999"}, nil,
			"roundup_power2_divisions=99999999999999999999: divisions 99999999999999999999 must be a power of two or 0"},
		{map[string]string{"roundup_power2_divisions": "four"}, nil, "roundup_power2_divisions=four: " + divisionsRange},
		{map[string]string{"roundup_power2_divisions": "[300:2]"}, nil, "roundup_power2_divisions=[300:2]: key 300 must be a power of two (MB) or >"},
		{map[string]string{"roundup_power2_divisions": "[0:2]"}, nil, "roundup_power2_divisions=[0:2]: key 0 must be a power of two (MB) or >"},
		{map[string]string{"roundup_power2_divisions": "[256:3]"}, nil, "roundup_power2_divisions=[256:3]: divisions 3 must be a power of two or 0"},
		{map[string]string{"roundup_power2_divisions": "[>:6]"}, nil, "roundup_power2_divisions=[>:6]: divisions 6 must be a power of two or 0"},
		{map[string]string{"roundup_power2_divisions": "[256:2"}, nil, "roundup_power2_divisions=[256:2: " + divisionsRange},
		{map[string]string{"roundup_power2_divisions": "[256]"}, nil, "roundup_power2_divisions=[256]: " + divisionsRange},
		{map[string]string{"roundup_power2_divisions": "[:2]"}, nil, "roundup_power2_divisions=[:2]: " + divisionsRange},
		{map[string]string{"roundup_power2_divisions": "[256:]"}, nil, "roundup_power2_divisions=[256:]: " + divisionsRange},
		{map[string]string{"roundup_power2_divisions": "[256:2]x"}, nil, "roundup_power2_divisions=[256:2]x: " + divisionsRange},
		{map[string]string{"roundup_power2_divisions": "[256:2;512:4]"}, nil, "roundup_power2_divisions=[256:2;512:4]: " + divisionsRange},
		{map[string]string{"roundup_power2_divisions": "[1.5:2]"}, nil, "roundup_power2_divisions=[1.5:2]: " + divisionsRange},
		{map[string]string{"roundup_power2_divisions": ""}, nil, "roundup_power2_divisions=: " + divisionsRange},
		{map[string]string{"garbage_collection_threshold": "0"}, nil, "garbage_collection_threshold=0: must be a number > 0 and < 1"},
		{map[string]string{"garbage_collection_threshold": "1"}, nil, "garbage_collection_threshold=1: must be a number > 0 and < 1"},
		{map[string]string{"garbage_collection_threshold": "-0.5"}, nil, "garbage_collection_threshold=-0.5: must be a number > 0 and < 1"},
		{map[string]string{"garbage_collection_threshold": "half"}, nil, "garbage_collection_threshold=half: must be a number > 0 and < 1"},
		{map[string]string{"garbage_collection_threshold": "NaN"}, nil, "garbage_collection_threshold=NaN: must be a number > 0 and < 1"},
		{map[string]string{"garbage_collection_threshold": "inf"}, nil, "garbage_collection_threshold=inf: must be a number > 0 and < 1"},
		{map[string]string{"per_process_memory_fraction": "0"}, nil, "per_process_memory_fraction=0: must be a number > 0 and ≤ 1"},
		{map[string]string{"per_process_memory_fraction": "1.0001"}, nil, "per_process_memory_fraction=1.0001: must be a number > 0 and ≤ 1"},
		{map[string]string{"per_process_memory_fraction": "all"}, nil, "per_process_memory_fraction=all: must be a number > 0 and ≤ 1"},
		{map[string]string{"large_segment_size_mb": "10"}, nil, "large_segment_size_mb=10: must be > 10 and ≤ 268435456 (MB)"},
		{map[string]string{"large_segment_size_mb": "268435457"}, nil, "large_segment_size_mb=268435457: must be > 10 and ≤ 268435456 (MB)"},
		{map[string]string{"large_segment_size_mb": "20.5"}, nil, "large_segment_size_mb=20.5: must be > 10 and ≤ 268435456 (MB)"},
		{map[string]string{"expandable_segments": "yes"}, nil, "expandable_segments=yes: must be true, false, 1 or 0"},
		{map[string]string{"expandable_segments": "2"}, nil, "expandable_segments=2: must be true, false, 1 or 0"},
		{map[string]string{"expandable_segments": "true", "large_segment_size_mb": "21"}, nil,
			"large_segment_size_mb=21: must be a multiple of the device granularity (2097152 bytes) with expandable_segments on, as it is the large pool's page"},
		{map[string]string{"expandable_segments": "true"}, gran4,
			"expandable_segments=true: the small pool's 2 MiB page is not a multiple of the device granularity (4194304 bytes)"},
		// The first invalid knob, in the order they are read, is reported.
		{map[string]string{"expandable_segments": "maybe", "max_split_size_mb": "1"}, nil, "max_split_size_mb=1: must be ≥ 20 (MB)"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.params), func(t *testing.T) {
			stats := tc.stats
			if stats == nil {
				stats = deviceStats()
			}
			p, got := startPytorch(t, tc.params, stats)
			if got != abi.Error || p.host.errorSet != tc.want {
				t.Errorf("policy_init() = %d, error text\n%q\nwant %d and\n%q", got, p.host.errorSet, abi.Error, tc.want)
			}
		})
	}
	// A classic-segment run does not care about the granularity.
	if p, got := startPytorch(t, map[string]string{"large_segment_size_mb": "21"}, gran4); got != 0 {
		t.Errorf("large_segment_size_mb=21 without expandable segments: policy_init() = %d (%q)", got, p.host.errorSet)
	}
}

// roundCase is a request size and its rounded size.
type roundCase struct{ size, want int64 }

// TestPytorchRoundupPower2Divisions checks round_size under every form of
// roundup_power2_divisions (ref §1.2, §1.3).
func TestPytorchRoundupPower2Divisions(t *testing.T) {
	tests := []struct {
		value string
		cases []roundCase
	}{
		{"4", []roundCase{
			{511, 512},                    // below 512
			{1200, 1536},                  // 1200 ≤ 512·4: the 512·d guard keeps plain rounding (not 1280)
			{2048, 2048},                  // a power of two stays
			{2049, 2560},                  // 2049 > 2048: quarters of 2048 are 512
			{2561, 3072},                  //
			{4300, 5120},                  // quarters of 4096 are 1024
			{4096, 4096},                  // a power of two stays
			{mib + 1, mib + 256<<10},      // interval 0 covers everything below 2 MiB
			{3 * mib, 3 * mib},            // already on a quarter
			{3*mib + 1, 3*mib + mib/2},    // quarters of 2 MiB
			{5*mib + 1, 6 * mib},          // quarters of 4 MiB
			{64 * mib, 64 * mib},          // a power of two stays
			{gib + 1, gib + gib/4},        // quarters of 1 GiB
			{64*gib + 1, 64*gib + 16*gib}, // above 64 GiB: the last interval
		}},
		{"0", []roundCase{{1200, 1536}, {4300, 4608}, {5*mib + 1, 5*mib + 512}}},
		{"1", []roundCase{{1200, 1536}, {4300, 4608}, {5*mib + 1, 5*mib + 512}}},
		{"2", []roundCase{{1025, 1536}, {1537, 2048}, {3*mib + 1, 4 * mib}}},
		// d = 2^63 never applies: no size is above 512·d.
		{"9223372036854775808", []roundCase{{4300, 4608}, {1 << 47, 1 << 47}, {1<<47 + 1, 1<<47 + 512}}},
		// Key K sets [K MiB, 2K MiB) (index log2 K); the first key also
		// fills every lower interval; > fills the intervals above the last
		// key (main-2025/26: from last+1).
		{"[256:1,512:2,1024:4,>:8]", []roundCase{
			{4300, 4608},                 // interval 0: filled by the first key (1)
			{200*mib + 1, 200*mib + 512}, // interval 7: filled by the first key (1)
			{300*mib + 1, 300*mib + 512}, // [256, 512) MiB: 1
			{600*mib + 1, 768 * mib},     // [512, 1024) MiB: halves of 512 MiB
			{1536*mib + 1, 1792 * mib},   // [1, 2) GiB: quarters of 1 GiB
			{3*gib + 1, 3*gib + 256*mib}, // [2, 4) GiB: eighths of 2 GiB (>)
			{100*gib + 1, 104 * gib},     // last interval: eighths of 64 GiB (>)
		}},
		{"[64:4]", []roundCase{
			{4300, 5120},                 // interval 0: filled by the first key
			{3*mib + 1, 3*mib + mib/2},   // interval 1: filled by the first key
			{100*mib + 1, 112 * mib},     // [64, 128) MiB: quarters of 64 MiB
			{64 * mib, 64 * mib},         // a power of two stays
			{200*mib + 1, 200*mib + 512}, // above the last key, no >: off
		}},
		{"[64:4,>:2]", []roundCase{
			{100*mib + 1, 112 * mib}, // the last key's interval keeps 4 (v2.5 would give it 2: 128 MiB)
			{200*mib + 1, 256 * mib}, // [128, 256) MiB: halves of 128 MiB
			{gib + 1, gib + gib/2},   // halves of 1 GiB
		}},
		{"[>:8]", []roundCase{
			{4300, 4608},                 // no key: interval 0 stays off
			{3*mib + 1, 3*mib + 256<<10}, // eighths of 2 MiB
		}},
		{"[65536:2]", []roundCase{ // a key above 32768 MB clamps to the last interval, filling every other
			{4300, 6144}, {3*mib + 1, 4 * mib}, {100*gib + 1, 128 * gib},
		}},
		{"[1:0,2:4]", []roundCase{{4300, 4608}, {mib + 1, mib + 512}, {3*mib + 1, 3*mib + mib/2}}},
		{"[]", []roundCase{{4300, 4608}, {5*mib + 1, 5*mib + 512}}},
	}
	for _, tc := range tests {
		p := newPytorchWith(t, map[string]string{"roundup_power2_divisions": tc.value})
		for _, c := range tc.cases {
			got := p.call("policy_round_size", i64(c.size), i32(0), i32(0))
			if got != c.want {
				t.Errorf("roundup_power2_divisions=%s: policy_round_size(%d) = %d, want %d", tc.value, c.size, got, c.want)
			}
			if got < c.size || got%512 != 0 {
				t.Errorf("roundup_power2_divisions=%s: policy_round_size(%d) = %d is not a valid rounding", tc.value, c.size, got)
			}
		}
	}
}

// pick writes candidates into p's scratch area and asks policy_pick_block.
func (p *pytorchInstance) pick(rounded int64, pool int32, cands ...abi.Candidate) int64 {
	p.t.Helper()
	buf := make([]byte, len(cands)*abi.RecordSize)
	for i := range cands {
		cands[i].Put(buf[i*abi.RecordSize:])
	}
	if !p.mod.Memory().Write(p.scratch, buf) {
		p.t.Fatalf("cannot write %d bytes at scratch %d", len(buf), p.scratch)
	}
	return p.call("policy_pick_block", i32(int32(len(cands))), i64(rounded), i32(pool), i32(0), i32(0))
}

func (p *pytorchInstance) split(block, rounded int64, pool, flags int32) int64 {
	p.t.Helper()
	return p.call("policy_split", i64(block), i64(rounded), i32(pool), i32(0), i32(flags), i32(0))
}

func (p *pytorchInstance) release(phase, attempt int32) int64 {
	p.t.Helper()
	return p.call("policy_release", i32(phase), i64(4*mib), i32(1), i32(0), i32(attempt))
}

// TestPytorchMaxSplitSize checks max_split_size_mb and
// max_non_split_rounding_mb at their exact boundaries: the pick rules (a)
// and (b), no split of oversize requests, and the release sequence.
func TestPytorchMaxSplitSize(t *testing.T) {
	const limit = 40 * mib
	p := newPytorchWith(t, map[string]string{"max_split_size_mb": "40"})
	picks := []struct {
		name           string
		rounded, block int64
		want           int64
	}{
		{"(a) small request, block just below max_split", limit - 512, limit - 512, 0},
		{"(a) small request, oversize block", limit - 512, limit, abi.None},
		{"(a) small request, huge block", 2 * mib, gib, abi.None},
		{"(b) oversize request, exact fit", limit, limit, 0},
		{"(b) block 20 MiB - 512 larger", limit, limit + 20*mib - 512, 0},
		{"(b) block 20 MiB larger", limit, limit + 20*mib, abi.None},
		{"(b) 100 MiB request, 120 MiB - 512 block", 100 * mib, 120*mib - 512, 0},
		{"(b) 100 MiB request, 120 MiB block", 100 * mib, 120 * mib, abi.None},
	}
	for _, c := range picks {
		if got := p.pick(c.rounded, 1, cand(c.block, 0x1000000, 0)); got != c.want {
			t.Errorf("%s: policy_pick_block(rounded %d, block %d) = %d, want %d", c.name, c.rounded, c.block, got, c.want)
		}
	}
	splits := []struct {
		name                  string
		block, rounded, front int64
		pool                  int32
	}{
		{"oversize request in a larger block: no split", 100 * mib, limit, 100 * mib, 1},
		{"oversize request, remainder 19.5 MiB: no split", limit + 20*mib - 512, limit, limit + 20*mib - 512, 1},
		{"request just below max_split: split", 100 * mib, limit - 512, limit - 512, 1},
		{"request below max_split, remainder 1 MiB: no split", limit, limit - mib, limit, 1},
		{"small request in an oversize 40 MiB segment: split", limit, 5 * mib, 5 * mib, 1},
		{"small pool: max_split does not apply", 2 * mib, 512, 512, 0},
	}
	for _, c := range splits {
		if got := p.split(c.block, c.rounded, c.pool, abi.FlagWholeSegment); got != c.front {
			t.Errorf("%s: policy_split(%d, %d) = %d, want %d", c.name, c.block, c.rounded, got, c.front)
		}
	}
	// The release sequence: oversize (threshold max_split), then cached,
	// then nothing (OOM). Phase 0 is GC, off here.
	for _, c := range []struct {
		phase, attempt int32
		want           int64
	}{
		{abi.PhaseBeforeGrow, 0, abi.ActNothing},
		{abi.PhaseGrowFailed, 0, releaseAnswer(abi.ActReleaseOver, limit)},
		{abi.PhaseGrowFailed, 1, releaseAnswer(abi.ActReleaseCached, 0)},
		{abi.PhaseGrowFailed, 2, abi.ActNothing},
		{abi.PhaseGrowFailed, 15, abi.ActNothing},
	} {
		if got := p.release(c.phase, c.attempt); got != c.want {
			t.Errorf("policy_release(phase %d, attempt %d) = %#x, want %#x", c.phase, c.attempt, got, c.want)
		}
	}

	// max_non_split_rounding_mb moves rule (b)'s bound.
	q := newPytorchWith(t, map[string]string{"max_split_size_mb": "40", "max_non_split_rounding_mb": "30"})
	for _, c := range []struct{ block, want int64 }{
		{limit + 30*mib - 512, 0}, {limit + 30*mib, abi.None},
	} {
		if got := q.pick(limit, 1, cand(c.block, 0x1000000, 0)); got != c.want {
			t.Errorf("max_non_split_rounding_mb=30: pick(rounded %d, block %d) = %d, want %d", limit, c.block, got, c.want)
		}
	}
	// Without max_split_size_mb it does nothing.
	r := newPytorchWith(t, map[string]string{"max_non_split_rounding_mb": "20"})
	if got := r.pick(limit, 1, cand(gib, 0x1000000, 0)); got != 0 {
		t.Errorf("max_non_split_rounding_mb alone: pick = %d, want 0", got)
	}

	// The smallest max_split_size_mb, 20: every default 20 MiB segment is
	// oversize.
	m := newPytorchWith(t, map[string]string{"max_split_size_mb": "20"})
	if got := m.pick(5*mib, 1, cand(20*mib, 0x1000000, 0)); got != abi.None {
		t.Errorf("max_split_size_mb=20: 5 MiB request, 20 MiB block: pick = %d, want NONE", got)
	}
	if got := m.pick(5*mib, 1, cand(20*mib-512, 0x1000000, 0)); got != 0 {
		t.Errorf("max_split_size_mb=20: 5 MiB request, 20 MiB - 512 block: pick = %d, want 0", got)
	}
	if got := m.release(abi.PhaseGrowFailed, 0); got != releaseAnswer(abi.ActReleaseOver, 20*mib) {
		t.Errorf("max_split_size_mb=20: release attempt 0 = %#x", got)
	}

	// unlimited, and counts beyond 2^48 bytes, are the default sequence.
	for _, v := range []string{"unlimited", "268435457"} {
		u := newPytorchWith(t, map[string]string{"max_split_size_mb": v})
		if got := u.release(abi.PhaseGrowFailed, 0); got != releaseAnswer(abi.ActReleaseCached, 0) {
			t.Errorf("max_split_size_mb=%s: release attempt 0 = %#x, want release cached", v, got)
		}
		if got := u.pick(2*mib, 1, cand(1<<47, 0x1000000, 0)); got != 0 {
			t.Errorf("max_split_size_mb=%s: pick of a 2^47-byte block = %d, want 0", v, got)
		}
	}
	// 268435456 MB = 2^48 bytes is kept: a 2^48 block is oversize.
	h := newPytorchWith(t, map[string]string{"max_split_size_mb": "268435456"})
	if got := h.release(abi.PhaseGrowFailed, 0); got != releaseAnswer(abi.ActReleaseOver, 1<<48) {
		t.Errorf("max_split_size_mb=268435456: release attempt 0 = %#x", got)
	}
}

// TestPytorchGarbageCollection checks phase 0 of policy_release:
// garbage_collection_threshold t with per_process_memory_fraction f.
func TestPytorchGarbageCollection(t *testing.T) {
	const capacity = 10 * gib
	gc := func(params map[string]string, capacity, reserved int64) int64 {
		t.Helper()
		p := newPytorchWith(t, params)
		p.host.stats[abi.StatCapacity] = capacity
		p.host.stats[abi.StatReserved] = reserved
		return p.release(abi.PhaseBeforeGrow, 0)
	}
	aged := func(target int64) int64 { return releaseAnswer(abi.ActReleaseAged, target) }
	half := map[string]string{"garbage_collection_threshold": "0.5"}
	halfOf80 := map[string]string{"garbage_collection_threshold": "0.5", "per_process_memory_fraction": "0.8"}
	// t × f × capacity, truncated twice as PyTorch's size_t casts do.
	limit := func(t, f float64) int64 { return int64(t * float64(int64(f*float64(capacity)))) }
	if got, want := limit(0.5, 0.8), int64(4*gib); got != want {
		t.Fatalf("threshold %d, want %d", got, want)
	}
	odd := map[string]string{"garbage_collection_threshold": "0.3", "per_process_memory_fraction": "0.7"}
	for _, c := range []struct {
		name     string
		params   map[string]string
		capacity int64
		reserved int64
		want     int64
	}{
		{"no threshold: off", nil, capacity, capacity, abi.ActNothing},
		{"fraction alone: off", map[string]string{"per_process_memory_fraction": "0.5"}, capacity, capacity, abi.ActNothing},
		{"t=0.5: at the threshold", half, capacity, 5 * gib, abi.ActNothing},
		{"t=0.5: 512 above", half, capacity, 5*gib + 512, aged(512)},
		{"t=0.5: all of the device", half, capacity, capacity, aged(5 * gib)},
		{"t=0.5, f=0.8: under", halfOf80, capacity, 4*gib - 512, abi.ActNothing},
		{"t=0.5, f=0.8: at", halfOf80, capacity, 4 * gib, abi.ActNothing},
		{"t=0.5, f=0.8: above", halfOf80, capacity, 4*gib + 2*mib, aged(2 * mib)},
		{"t=0.3, f=0.7: at", odd, capacity, limit(0.3, 0.7), abi.ActNothing},
		{"t=0.3, f=0.7: above", odd, capacity, 3 * gib, aged(3*gib - limit(0.3, 0.7))},
		{"unknown capacity (unlimited device): off", half, -1, 100 * gib, abi.ActNothing},
		{"unknown stat: off", half, abi.StatUnknown, 100 * gib, abi.ActNothing},
		{"nothing reserved", half, capacity, 0, abi.ActNothing},
	} {
		if got := gc(c.params, c.capacity, c.reserved); got != c.want {
			t.Errorf("%s: policy_release(phase 0) = %#x, want %#x", c.name, got, c.want)
		}
	}
	// GC does not change phase 1: release cached, then OOM.
	p := newPytorchWith(t, half)
	if got := p.release(abi.PhaseGrowFailed, 0); got != releaseAnswer(abi.ActReleaseCached, 0) {
		t.Errorf("phase 1 attempt 0 = %#x, want release cached", got)
	}
}

// TestPytorchMemoryFraction: a per_process_memory_fraction below 1 sets the
// host's reserve limit (config key 4) to fraction × capacity, truncated to
// bytes; a fraction of 1, or an unknown capacity, sets none.
func TestPytorchMemoryFraction(t *testing.T) {
	var capacity int64 = 80 << 30 // a variable: the products below truncate at run time, as in the policy
	for _, c := range []struct {
		name     string
		fraction string
		capacity int64
		want     int64 // the limit set; -1: no config call for key 4
	}{
		{"default", "", capacity, -1},
		{"1", "1", capacity, -1},
		{"0.5", "0.5", capacity, 40 << 30},
		{"0.7, truncated", "0.7", capacity, int64(0.7 * float64(capacity))},
		{"0.0001", "0.0001", capacity, int64(0.0001 * float64(capacity))},
		{"unlimited device", "0.5", -1, -1},
		{"unknown capacity", "0.5", abi.StatUnknown, -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			var params map[string]string
			if c.fraction != "" {
				params = map[string]string{"per_process_memory_fraction": c.fraction}
			}
			stats := deviceStats()
			stats[abi.StatCapacity] = c.capacity
			p, got := startPytorch(t, params, stats)
			if got != 0 {
				t.Fatalf("policy_init() = %d (%q)", got, p.host.errorSet)
			}
			limit := int64(-1)
			for _, kv := range p.host.config {
				if kv[0] == abi.ConfigReserveLimit {
					limit = kv[1]
				}
			}
			if limit != c.want {
				t.Errorf("reserve limit %d, want %d (config calls %v)", limit, c.want, p.host.config)
			}
		})
	}
}

// TestPytorchMemoryFractionEndToEnd: with classic segments the sim's
// free memory is a byte count, so a fraction f of a device of capacity C
// must give exactly the run of a device of f × C (OOMs included), and
// never reserve more than f × C.
func TestPytorchMemoryFractionEndToEnd(t *testing.T) {
	events := synth.Mixed(3, 20000, 300)
	half := mustReplay(t, events, map[string]string{"per_process_memory_fraction": "0.5"}, 1200*mib)
	small := mustReplay(t, events, nil, 600*mib)
	half.NsPerEvent, small.NsPerEvent = 0, 0
	if half != small {
		t.Errorf("fraction 0.5 of 1200 MiB: %+v\n600 MiB device:        %+v", half, small)
	}
	if half.OOMs == 0 || half.PeakReserved > 600*mib {
		t.Errorf("fraction 0.5 of 1200 MiB: %d OOMs, peak reserved %d MiB; want OOMs and at most 600 MiB", half.OOMs, half.PeakReserved/mib)
	}
}

// TestPytorchPartialOversizeRelease: with max_split_size_mb=20 on a full
// device, releasing oversize segments that add up to less than the request
// is not followed by a retry (release_available_cached_blocks answers
// false); every cached segment is released first, as in PyTorch.
func TestPytorchPartialOversizeRelease(t *testing.T) {
	// Segments of 30, 30, 20 and 10 MiB on 100 MiB; the 30 and the 10 are
	// freed; 40 MiB releases the free 30 (less than 40), then the free 10,
	// then fits.
	events := workload(30*mib, 30*mib, 20*mib, 10*mib, free(0), free(3), 40*mib)
	m := mustReplay(t, events, map[string]string{"max_split_size_mb": "20"}, 100*mib)
	if m.OOMs != 0 || m.SegmentFrees != 2 || m.SegmentAllocs != 5 {
		t.Errorf("%d OOMs, %d segment frees, %d segment allocs; want 0, 2, 5", m.OOMs, m.SegmentFrees, m.SegmentAllocs)
	}
}

// TestPytorchDeclinedFreeTail: with expandable segments and
// max_split_size_mb=20, a 4 MiB request declines the free 100 MiB block
// (rule a) and grows; PyTorch's try_allocate_expandable_block then takes
// that block, the free tail of the segment, with nothing mapped.
func TestPytorchDeclinedFreeTail(t *testing.T) {
	m := mustReplay(t, workload(100*mib, free(0), 4*mib),
		map[string]string{"expandable_segments": "true", "max_split_size_mb": "20"}, 0)
	if m.PeakReserved != 100*mib || m.SegmentMaps != 1 || m.OOMs != 0 {
		t.Errorf("peak reserved %d MiB, %d maps, %d OOMs; want 100 MiB, 1, 0", m.PeakReserved/mib, m.SegmentMaps, m.OOMs)
	}
}

// TestPytorchLargeSegmentSize checks large_segment_size_mb: the segment for
// 1 MiB < rounded < 10 MiB, and the large pool's expandable page.
func TestPytorchLargeSegmentSize(t *testing.T) {
	seg := func(p *pytorchInstance, rounded int64, pool int32) int64 {
		return p.call("policy_segment_size", i64(rounded), i32(pool), i32(0), i32(0))
	}
	mode := func(p *pytorchInstance, pool int32) int64 {
		return p.call("policy_segment_mode", i32(pool), i32(0))
	}
	p := newPytorchWith(t, map[string]string{"large_segment_size_mb": "11"})
	for _, c := range []struct {
		rounded, want int64
		pool          int32
	}{
		{mib, 2 * mib, 0},
		{mib + 512, 11 * mib, 1},
		{10*mib - 512, 11 * mib, 1},
		{10 * mib, 10 * mib, 1},
		{10*mib + 512, 12 * mib, 1},
	} {
		if got := seg(p, c.rounded, c.pool); got != c.want {
			t.Errorf("large_segment_size_mb=11: policy_segment_size(%d) = %d, want %d", c.rounded, got, c.want)
		}
	}
	for pool := int32(0); pool < abi.MaxPools; pool++ {
		if got := mode(p, pool); got != 0 {
			t.Errorf("expandable segments off: policy_segment_mode(%d) = %d, want 0 (classic)", pool, got)
		}
	}
	big := newPytorchWith(t, map[string]string{"large_segment_size_mb": "256"})
	if got := seg(big, 2*mib, 1); got != 256*mib {
		t.Errorf("large_segment_size_mb=256: policy_segment_size(2 MiB) = %d, want 256 MiB", got)
	}
	e := newPytorchWith(t, map[string]string{"large_segment_size_mb": "32", "expandable_segments": "true"})
	for pool, want := range map[int32]int64{0: 2 * mib, 1: 32 * mib, 2: 32 * mib, 7: 32 * mib} {
		if got := mode(e, pool); got != want {
			t.Errorf("large_segment_size_mb=32, expandable: policy_segment_mode(%d) = %d, want %d", pool, got, want)
		}
	}
}

// TestPytorchExpandableSegments checks expandable_segments=true: the
// segment mode, the split rule, the window of 8 and the tie-break walk.
func TestPytorchExpandableSegments(t *testing.T) {
	p := newPytorchWith(t, map[string]string{"expandable_segments": "true"})
	if want := [][2]int64{{abi.ConfigCandidateWindow, 8}}; !slices.Equal(p.host.config, want) {
		t.Errorf("config calls %v, want %v", p.host.config, want)
	}
	for pool, want := range map[int32]int64{0: 2 * mib, 1: 20 * mib, 5: 20 * mib} {
		if got := p.call("policy_segment_mode", i32(pool), i32(0)); got != want {
			t.Errorf("policy_segment_mode(%d) = %d, want %d", pool, got, want)
		}
	}
	// Split at remainder ≥ 512 in every pool, whatever the block's flags
	// (the global flag decides).
	for _, c := range []struct {
		name                  string
		block, rounded, front int64
		flags                 int32
	}{
		{"large, remainder 512", 2*mib + 512, 2 * mib, 2 * mib, abi.FlagExpandable},
		{"large, remainder 0", 2 * mib, 2 * mib, 2 * mib, abi.FlagExpandable},
		{"large classic block, remainder 512", 2*mib + 512, 2 * mib, 2 * mib, abi.FlagWholeSegment},
		{"large, 19.5 MiB in 20 MiB", 20 * mib, 19*mib + mib/2, 19*mib + mib/2, abi.FlagExpandable},
	} {
		if got := p.split(c.block, c.rounded, 1, c.flags); got != c.front {
			t.Errorf("%s: policy_split(%d, %d) = %d, want %d", c.name, c.block, c.rounded, got, c.front)
		}
	}

	// The walk, as in TestPytorchPickBlock, now over a window of 8.
	exp := func(size, exp int64, k int) abi.Candidate { return cand(size, int64(k+1)*0x10000000, exp) }
	walk := func(exps ...int64) []abi.Candidate {
		out := make([]abi.Candidate, len(exps))
		for k, e := range exps {
			out[k] = exp(20*mib, e, k)
		}
		return out
	}
	for _, c := range []struct {
		name  string
		cands []abi.Candidate
		want  int64
	}{
		{"stops where the next grows further", walk(80*mib, 60*mib, 40*mib, 50*mib), 2},
		{"end of a short list", walk(80*mib, 60*mib), 1},
		{"equal stays", walk(60*mib, 60*mib), 0},
		{"full window, stops at 6", walk(90*mib, 80*mib, 70*mib, 60*mib, 50*mib, 40*mib, 30*mib, 35*mib), 6},
		{"full window, stops at 0", walk(20*mib, 90*mib, 80*mib, 70*mib, 60*mib, 50*mib, 40*mib, 30*mib), 0},
		// The walk reaches the window's last candidate and may go on: the
		// host default walks the whole free index.
		{"full window, walks to the end: DEFER", walk(90*mib, 80*mib, 70*mib, 60*mib, 50*mib, 40*mib, 30*mib, 25*mib), abi.Defer},
		{"full window of classic blocks: the first", []abi.Candidate{
			cand(2*mib, 8<<30, 0), cand(3*mib, 7<<30, 0), cand(4*mib, 6<<30, 0), cand(5*mib, 5<<30, 0),
			cand(6*mib, 4<<30, 0), cand(7*mib, 3<<30, 0), cand(8*mib, 2<<30, 0), cand(9*mib, 1<<30, 0)}, 0},
	} {
		if got := p.pick(4*mib, 1, c.cands...); got != c.want {
			t.Errorf("%s: policy_pick_block = %d, want %d", c.name, got, c.want)
		}
	}

	// With max_split_size_mb the rules must see the block: the walk stops
	// at the window's last candidate (a documented limitation) and the
	// rules apply to the block the walk chose.
	m := newPytorchWith(t, map[string]string{"expandable_segments": "true", "max_split_size_mb": "40"})
	full := walk(90*mib, 80*mib, 70*mib, 60*mib, 50*mib, 40*mib, 30*mib, 25*mib)
	if got := m.pick(4*mib, 1, full...); got != 7 {
		t.Errorf("max_split set, full window walked to the end: pick = %d, want 7", got)
	}
	mixed := []abi.Candidate{exp(20*mib, 80*mib, 0), exp(40*mib, 60*mib, 1), exp(50*mib, 90*mib, 2)}
	if got := m.pick(4*mib, 1, mixed...); got != abi.None {
		t.Errorf("max_split 40 MiB, walk ends on a 40 MiB block for 4 MiB: pick = %d, want NONE (rule a)", got)
	}
	if got := m.pick(40*mib, 1, mixed...); got != 1 {
		t.Errorf("max_split 40 MiB, walk ends on a 40 MiB block for 40 MiB: pick = %d, want 1", got)
	}
	// While expandable segments are on, an oversize request splits too.
	if got := m.split(100*mib, 60*mib, 1, abi.FlagExpandable); got != 60*mib {
		t.Errorf("expandable, oversize request: policy_split(100 MiB, 60 MiB) = %d, want 60 MiB", got)
	}
	// The release sequence is unchanged (the host skips expandable blocks
	// when it releases oversize ones).
	if got := m.release(abi.PhaseGrowFailed, 0); got != releaseAnswer(abi.ActReleaseOver, 40*mib) {
		t.Errorf("release attempt 0 = %#x, want release oversize", got)
	}

	// expandable_segments=false is the default.
	off := newPytorchWith(t, map[string]string{"expandable_segments": "false"})
	if want := [][2]int64{{abi.ConfigCandidateWindow, 1}}; !slices.Equal(off.host.config, want) {
		t.Errorf("expandable_segments=false: config calls %v, want %v", off.host.config, want)
	}
	if got := off.call("policy_segment_mode", i32(1), i32(0)); got != 0 {
		t.Errorf("expandable_segments=false: policy_segment_mode(1) = %d, want 0", got)
	}
}

// replayPytorch replays events through the real host (host/wasm, replay)
// under the pytorch built-in with params, on a sim device of capacity bytes
// (0: unlimited), checking the allocator's invariants after every event.
func replayPytorch(t *testing.T, events []trace.Event, params map[string]string, capacity int64) (*replay.Result, error) {
	t.Helper()
	ctx := context.Background()
	bin, _ := Builtin("pytorch")
	mod, err := wasm.Compile(ctx, "pytorch", bin)
	if err != nil {
		t.Fatal(err)
	}
	return replay.Run(ctx, synth.NewReader(events), mod, cudadriver.NewSim(cudadriver.SimOptions{Capacity: capacity}),
		replay.Options{Params: params, CheckInvariants: true})
}

func mustReplay(t *testing.T, events []trace.Event, params map[string]string, capacity int64) replay.Metrics {
	t.Helper()
	res, err := replayPytorch(t, events, params, capacity)
	if err != nil {
		t.Fatalf("replay with %v: %v", params, err)
	}
	return res.Metrics
}

// workload builds a trace: positive numbers allocate that many bytes under
// the next id, negative numbers -(k+1) free id k.
func workload(steps ...int64) []trace.Event {
	var out []trace.Event
	var id int64
	for _, s := range steps {
		if s >= 0 {
			out = append(out, trace.Event{Op: trace.OpAlloc, ID: id, Size: s})
			id++
		} else {
			out = append(out, trace.Event{Op: trace.OpFree, ID: -s - 1})
		}
	}
	return out
}

func free(id int64) int64 { return -(id + 1) }

// readTrace reads a JSONL workload into events.
func readTrace(t *testing.T, path string) []trace.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := trace.NewJSONLReader(f, path)
	var out []trace.Event
	for {
		e, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
}

// TestPytorchKnobsEndToEnd runs workloads through the real host and checks
// each knob's effect on the run's metrics.
func TestPytorchKnobsEndToEnd(t *testing.T) {
	expandable := map[string]string{"expandable_segments": "true"}

	t.Run("expandable: 8×16 MiB", func(t *testing.T) {
		// The devlog's walkthrough: 20 → 40 → 60 → 80 → 80 → 100 → 120 →
		// 140 MiB, seven 20 MiB pages for 128 MiB of tensors.
		m := mustReplay(t, workload(16*mib, 16*mib, 16*mib, 16*mib, 16*mib, 16*mib, 16*mib, 16*mib), expandable, 0)
		if m.PeakReserved != 140*mib || m.SegmentMaps != 7 || m.SegmentAllocs != 0 || m.PeakAllocated != 128*mib {
			t.Errorf("peak reserved %d MiB, %d maps, %d segment allocs, peak allocated %d MiB; want 140 MiB, 7, 0, 128 MiB",
				m.PeakReserved/mib, m.SegmentMaps, m.SegmentAllocs, m.PeakAllocated/mib)
		}
	})
	t.Run("expandable: order does not matter", func(t *testing.T) {
		// The devlog's two orders, 256 and 128 MiB with classic segments,
		// both fit in one expandable segment of seven pages: eight 16 MiB
		// requests map one page each time they grow (7 maps), four 32 MiB
		// ones two, two, one and two pages (4 maps).
		for _, c := range []struct {
			file    string
			classic int64
			maps    int64
		}{
			{"devlog-small-then-large.jsonl", 256 * mib, 7},
			{"devlog-large-then-small.jsonl", 128 * mib, 4},
		} {
			events := readTrace(t, filepath.Join("..", "examples", "traces", c.file))
			m := mustReplay(t, events, expandable, 0)
			if m.PeakReserved != 140*mib || m.SegmentMaps != c.maps || m.SegmentUnmaps != 0 {
				t.Errorf("%s: peak reserved %d MiB with %d maps, %d unmaps; want 140 MiB with %d, 0",
					c.file, m.PeakReserved/mib, m.SegmentMaps, m.SegmentUnmaps, c.maps)
			}
			if m := mustReplay(t, events, nil, 0); m.PeakReserved != c.classic || m.SegmentMaps != 0 {
				t.Errorf("%s, classic: peak reserved %d MiB, %d maps; want %d MiB, 0", c.file, m.PeakReserved/mib, m.SegmentMaps, c.classic/mib)
			}
		}
	})
	t.Run("expandable: the 1 MiB loophole", func(t *testing.T) {
		// 2 MiB (large pool, a 20 MiB page), free, 0.5 MiB (small pool,
		// its own segment and a 2 MiB page): 22 MiB.
		m := mustReplay(t, workload(2*mib, free(0), mib/2), expandable, 0)
		if m.PeakReserved != 22*mib || m.SegmentMaps != 2 {
			t.Errorf("2 MiB, free, 0.5 MiB: peak reserved %d MiB with %d maps, want 22 MiB with 2", m.PeakReserved/mib, m.SegmentMaps)
		}
		m = mustReplay(t, workload(2*mib, free(0), 2*mib), expandable, 0)
		if m.PeakReserved != 20*mib || m.SegmentMaps != 1 {
			t.Errorf("2 MiB, free, 2 MiB: peak reserved %d MiB with %d maps, want 20 MiB with 1", m.PeakReserved/mib, m.SegmentMaps)
		}
	})
	t.Run("expandable: live blocks pin splits", func(t *testing.T) {
		// 4×16 MiB (80 MiB mapped, a 16 MiB free tail), free #0 and #2:
		// a 32 MiB request fits no free block, and the tail plus one new
		// page holds it: 100 MiB.
		m := mustReplay(t, workload(16*mib, 16*mib, 16*mib, 16*mib, free(0), free(2), 32*mib), expandable, 0)
		if m.PeakReserved != 100*mib || m.SegmentMaps != 5 {
			t.Errorf("peak reserved %d MiB with %d maps, want 100 MiB with 5", m.PeakReserved/mib, m.SegmentMaps)
		}
	})
	t.Run("expandable: large_segment_size_mb sets the page", func(t *testing.T) {
		m := mustReplay(t, workload(16*mib), map[string]string{"expandable_segments": "true", "large_segment_size_mb": "64"}, 0)
		if m.PeakReserved != 64*mib || m.SegmentMaps != 1 {
			t.Errorf("peak reserved %d MiB with %d maps, want 64 MiB with 1", m.PeakReserved/mib, m.SegmentMaps)
		}
	})
	t.Run("large_segment_size_mb", func(t *testing.T) {
		// 3 MiB gets a large_segment_size segment.
		for v, want := range map[string]int64{"": 20 * mib, "12": 12 * mib, "64": 64 * mib} {
			params := map[string]string{"large_segment_size_mb": v}
			if v == "" {
				params = nil
			}
			if m := mustReplay(t, workload(3*mib), params, 0); m.PeakReserved != want || m.SegmentAllocs != 1 {
				t.Errorf("large_segment_size_mb=%q: peak reserved %d MiB, %d segments; want %d MiB, 1", v, m.PeakReserved/mib, m.SegmentAllocs, want/mib)
			}
		}
	})
	t.Run("max_split_size_mb=20", func(t *testing.T) {
		// A cached 100 MiB segment serves three 30 MiB requests by default
		// (split); with max_split_size_mb=20 the requests are oversize and
		// the block is more than 20 MiB larger (rule b): each gets its own
		// segment, and the peak reserved grows.
		events := workload(100*mib, free(0), 30*mib, 30*mib, 30*mib)
		def := mustReplay(t, events, nil, 0)
		ms := mustReplay(t, events, map[string]string{"max_split_size_mb": "20"}, 0)
		if def.PeakReserved != 100*mib || ms.PeakReserved != 190*mib {
			t.Errorf("peak reserved: default %d MiB, max_split_size_mb=20 %d MiB; want 100 and 190", def.PeakReserved/mib, ms.PeakReserved/mib)
		}
		// On a 120 MiB device the growth fails and the oversize cached
		// segment is released first (release_available_cached_blocks).
		def = mustReplay(t, events, nil, 120*mib)
		ms = mustReplay(t, events, map[string]string{"max_split_size_mb": "20"}, 120*mib)
		if def.SegmentFrees != 0 || ms.SegmentFrees != 1 || ms.OOMs != 0 || ms.PeakReserved != 100*mib {
			t.Errorf("120 MiB device: segment frees default %d, max_split %d; max_split OOMs %d, peak reserved %d MiB; want 0, 1, 0, 100 MiB",
				def.SegmentFrees, ms.SegmentFrees, ms.OOMs, ms.PeakReserved/mib)
		}
		// Rule (a): a 5 MiB request never takes the cached 100 MiB block.
		events = workload(100*mib, free(0), 5*mib)
		if m := mustReplay(t, events, map[string]string{"max_split_size_mb": "20"}, 0); m.PeakReserved != 120*mib {
			t.Errorf("rule (a): peak reserved %d MiB, want 120 MiB", m.PeakReserved/mib)
		}
	})
	t.Run("roundup_power2_divisions=4", func(t *testing.T) {
		// 4300 B → 5120 (not 4608), 5 MiB + 1 → 6 MiB (not 5 MiB + 512).
		events := workload(4300, 5*mib+1)
		def := mustReplay(t, events, nil, 0)
		r4 := mustReplay(t, events, map[string]string{"roundup_power2_divisions": "4"}, 0)
		if def.PeakAllocated != 4608+5*mib+512 || r4.PeakAllocated != 5120+6*mib {
			t.Errorf("peak allocated: default %d, divisions 4 %d; want %d and %d", def.PeakAllocated, r4.PeakAllocated, 4608+5*mib+512, 5120+6*mib)
		}
	})
	t.Run("garbage_collection_threshold", func(t *testing.T) {
		// 2 GiB device, t = 0.25: before growing for 700 MiB, 600 MiB are
		// reserved, over 512 MiB, so GC releases the cached 600 MiB segment.
		events := workload(600*mib, free(0), 700*mib)
		def := mustReplay(t, events, nil, 2*gib)
		gc := mustReplay(t, events, map[string]string{"garbage_collection_threshold": "0.25"}, 2*gib)
		if def.PeakReserved != 1300*mib || gc.PeakReserved != 700*mib || gc.SegmentFrees != 1 {
			t.Errorf("peak reserved: default %d MiB, GC %d MiB (%d frees); want 1300, 700 (1)", def.PeakReserved/mib, gc.PeakReserved/mib, gc.SegmentFrees)
		}
		// per_process_memory_fraction=0.5: the limit is 1 GiB, GC from 256 MiB.
		events = workload(300*mib, free(0), 400*mib)
		if m := mustReplay(t, events, map[string]string{"garbage_collection_threshold": "0.25", "per_process_memory_fraction": "0.5"}, 2*gib); m.PeakReserved != 400*mib {
			t.Errorf("fraction 0.5: peak reserved %d MiB, want 400", m.PeakReserved/mib)
		}
		if m := mustReplay(t, events, map[string]string{"garbage_collection_threshold": "0.25"}, 2*gib); m.PeakReserved != 700*mib {
			t.Errorf("fraction 1: peak reserved %d MiB, want 700", m.PeakReserved/mib)
		}
		// An unlimited device: no GC.
		if m := mustReplay(t, events, map[string]string{"garbage_collection_threshold": "0.25"}, 0); m.PeakReserved != 700*mib {
			t.Errorf("unlimited device: peak reserved %d MiB, want 700", m.PeakReserved/mib)
		}
	})
	t.Run("errors", func(t *testing.T) {
		for params, want := range map[string]string{
			"max_split_size_mb=10":             "policy pytorch: policy_init answered -3 (policy said: max_split_size_mb=10: must be ≥ 20 (MB))",
			"roundup_power2_divisions=[256:3]": "policy pytorch: policy_init answered -3 (policy said: roundup_power2_divisions=[256:3]: divisions 3 must be a power of two or 0)",
			"max_split_size=128": "policy pytorch: unknown parameter max_split_size: the policy never reads it (it reads: " +
				"expandable_segments, garbage_collection_threshold, large_segment_size_mb, max_non_split_rounding_mb, " +
				"max_split_size_mb, per_process_memory_fraction, roundup_power2_divisions)",
		} {
			k, v, _ := strings.Cut(params, "=")
			res, err := replayPytorch(t, workload(mib), map[string]string{k: v}, 0)
			if err == nil || err.Error() != want {
				t.Errorf("%s: result %v, error\n%v\nwant\n%s", params, res, err, want)
			}
		}
	})
}

// expandableDefaultModule is a policy module, assembled here, that exports
// only policy_segment_mode: expandable segments with pages of 2 MiB (pool 0)
// and 20 MiB (other pools); every other decision is the host default, which
// is PyTorch's rule with expandable_segments:True (ABI §4).
func expandableDefaultModule() []byte {
	uleb := func(n int) []byte {
		var out []byte
		for {
			b := byte(n & 0x7f)
			n >>= 7
			if n == 0 {
				return append(out, b)
			}
			out = append(out, b|0x80)
		}
	}
	vec := func(items ...[]byte) []byte {
		out := uleb(len(items))
		for _, it := range items {
			out = append(out, it...)
		}
		return out
	}
	name := func(s string) []byte { return append(uleb(len(s)), s...) }
	section := func(id byte, content []byte) []byte {
		return append(append([]byte{id}, uleb(len(content))...), content...)
	}
	body := func(code ...byte) []byte { return append(uleb(len(code)+1), append([]byte{0}, code...)...) }
	const i32, i64, fn = 0x7f, 0x7e, 0x60
	mod := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	mod = append(mod, section(1, vec([]byte{fn, 0, 0}, []byte{fn, 2, i32, i32, 1, i64}))...) // types
	mod = append(mod, section(3, vec([]byte{0}, []byte{1}))...)                              // functions
	mod = append(mod, section(5, vec([]byte{0, 1}))...)                                      // one memory page
	mod = append(mod, section(7, vec(
		append(name("fraglab_abi_v1_0"), 0, 0),
		append(name("policy_segment_mode"), 0, 1),
		append(name("memory"), 2, 0)))...)
	mod = append(mod, section(10, vec(
		body(0x0b),
		// local.get 0; i32.eqz; if (result i64) i64.const 2 MiB else i64.const 20 MiB end
		body(0x20, 0, 0x45, 0x04, i64, 0x42, 0x80, 0x80, 0x80, 0x01, 0x05, 0x42, 0x80, 0x80, 0x80, 0x0a, 0x0b, 0x0b)))...)
	return mod
}

// TestPytorchExpandableMatchesHostDefault: with expandable_segments=true
// the pytorch policy makes the host's default decisions for expandable
// segments (its window and tie-break walk, DEFER at the window's end), so
// every device operation and metric must agree with a module that only
// turns expandable segments on, with and without OOM pressure.
func TestPytorchExpandableMatchesHostDefault(t *testing.T) {
	ctx := context.Background()
	ref, err := wasm.Compile(ctx, "expandable-default", expandableDefaultModule())
	if err != nil {
		t.Fatal(err)
	}
	bin, _ := Builtin("pytorch")
	pt, err := wasm.Compile(ctx, "pytorch", bin)
	if err != nil {
		t.Fatal(err)
	}
	runWith := func(mod *wasm.Module, events []trace.Event, params map[string]string, capacity int64) (replay.Metrics, string) {
		t.Helper()
		var log bytes.Buffer
		res, err := replay.Run(ctx, synth.NewReader(events), mod, cudadriver.NewSim(cudadriver.SimOptions{Capacity: capacity}),
			replay.Options{Params: params, DriverLog: &log, CheckInvariants: true})
		if err != nil {
			t.Fatalf("%s: %v", mod.Name, err)
		}
		res.Metrics.NsPerEvent = 0
		return res.Metrics, log.String()
	}
	for _, tc := range []struct {
		name     string
		events   []trace.Event
		capacity int64
	}{
		{"mixed unlimited", synth.Mixed(1, 20000, 300), 0},
		{"mixed 2 GiB", synth.Mixed(2, 20000, 300), 2 << 30},
		{"mixed 600 MiB (OOMs)", synth.Mixed(3, 20000, 300), 600 * mib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, wantLog := runWith(ref, tc.events, nil, tc.capacity)
			got, gotLog := runWith(pt, tc.events, map[string]string{"expandable_segments": "true"}, tc.capacity)
			if got != want {
				t.Errorf("metrics differ:\nhost default %+v\npytorch      %+v", want, got)
			}
			if gotLog != wantLog {
				t.Errorf("driver logs differ (%d vs %d bytes)", len(wantLog), len(gotLog))
			}
			if want.SegmentMaps == 0 {
				t.Error("no segment_map: the reference module did not turn expandable segments on")
			}
			if tc.capacity > 0 && tc.capacity < 1<<30 && want.OOMs == 0 {
				t.Errorf("expected OOMs at %d MiB to exercise the release path", tc.capacity/mib)
			}
		})
	}
}
