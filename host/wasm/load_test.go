package wasm_test

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/sdk/abi"
)

// TestCompileRefuses: modules the host refuses before running any of their
// code (ABI §1), each with the documented text.
func TestCompileRefuses(t *testing.T) {
	hooks := "policy_init, policy_scratch, policy_round_size, policy_choose_pool, policy_search_order, " +
		"policy_pick_block, policy_split, policy_merge, policy_segment_mode, policy_segment_size, " +
		"policy_expand_size, policy_release, policy_observe, policy_plan, policy_place"
	for _, tc := range []struct {
		fixture string
		want    []string
	}{
		{"load_no_marker", []string{"no ABI version marker: export an empty function fraglab_abi_v1_5"}},
		{"load_abi_v2_0", []string{"unsupported ABI version 2.0: this host implements 1.5"}},
		{"load_abi_v1_9", []string{"unsupported ABI version 1.9: this host implements 1.5"}},
		{"load_abi_malformed", []string{"malformed ABI version marker fraglab_abi_v1 (expected fraglab_abi_v<major>_<minor>)"}},
		{"load_two_markers", []string{"more than one ABI version marker: fraglab_abi_v1_0, fraglab_abi_v1_1"}},
		{"load_marker_params", []string{"version marker fraglab_abi_v1_0 must have type () -> (), has (i32) -> ()"}},
		{"load_hook_signature", []string{"hook policy_round_size has signature (i32) -> (i64), expected (i64, i32, i32) -> (i64)"}},
		{"load_unknown_hook", []string{"unknown hook export policy_round (hooks of ABI 1.5: " + hooks + ")"}},
		{"load_import_env_clock", []string{"imports env.clock () -> (i64): only env.abort (i32, i32, i32, i32) -> () is allowed from env"}},
		{"load_import_env_abort_signature", []string{"imports env.abort (i32, i32) -> (): only env.abort (i32, i32, i32, i32) -> () is allowed from env"}},
		{"load_import_wasi_unstable", []string{`imports wasi_unstable.fd_write: imports are allowed only from "fraglab", wasi_snapshot_preview1 and env.abort`}},
		{"load_import_fraglab_signature", []string{"imports fraglab.log with signature (i32, i32) -> (), expected (i32, i32, i32) -> ()"}},
		{"load_import_fraglab_unknown", []string{"imports fraglab.clock, which the host does not provide (it provides log, error_set, param_i64, param_f64, param_str, stat, tag_name, config)"}},
		{"load_wasi_signature", []string{"imports wasi_snapshot_preview1.fd_write with signature (i32, i32) -> (i32), expected (i32, i32, i32, i32) -> (i32)"}},
		{"load_wasi_unknown", []string{"imports wasi_snapshot_preview1.no_such_call, which is not a WASI preview 1 function"}},
		{"load_no_memory", []string{`the module must export its linear memory as "memory"`}},
		{"load_imported_memory", []string{"the module imports a memory; it must define and export its own"}},
		{"load_pick_without_scratch", []string{"policy_pick_block needs policy_scratch to receive candidates"}},
		{"load_plan_old_abi", []string{
			"hook policy_plan is ABI 1.5, but the module declares ABI 1.4 (export fraglab_abi_v1_5)",
			"hook policy_place is ABI 1.5, but the module declares ABI 1.4 (export fraglab_abi_v1_5)",
		}},
		{"load_plan_without_place", []string{"policy_plan needs policy_place: a plan is carried out by placements"}},
		{"load_place_without_plan", []string{"policy_place needs policy_plan: placements are offsets in the planned arena"}},
		{"load_plan_without_scratch", []string{"policy_plan needs policy_scratch to receive plan records"}},
		{"load_many_problems", []string{
			"unknown hook export policy_round",
			"no ABI version marker",
			`the module must export its linear memory as "memory"`,
			"imports env.clock",
		}},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			m, err := wasm.Compile(context.Background(), tc.fixture, wat(t, tc.fixture))
			if m != nil {
				t.Errorf("Compile returned a module with the error")
			}
			loadError(t, err, tc.fixture, tc.want...)
		})
	}
}

func TestCompileNotWasm(t *testing.T) {
	_, err := wasm.Compile(context.Background(), "junk.wasm", []byte("(module)"))
	loadError(t, err, "junk.wasm", "not a valid WebAssembly module")
}

// TestCompileAccepts: what Compile records about modules it accepts.
func TestCompileAccepts(t *testing.T) {
	all := make([]string, 0, abi.NumHooks)
	for h := abi.Hook(0); h < abi.NumHooks; h++ {
		if abi.HookSince(h) == 0 { // defer_all declares ABI 1.0
			all = append(all, h.String())
		}
	}
	for _, tc := range []struct {
		fixture        string
		hooks          []string
		wasi, envAbort bool
	}{
		{"defer_all", all, false, false},
		{"abort", []string{"policy_round_size"}, false, true},
		{"trap_proc_exit", []string{"policy_round_size"}, true, false},
		{"lifecycle", []string{"policy_init"}, false, false},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			m := compile(t, tc.fixture)
			if got := m.HookNames(); !slices.Equal(got, tc.hooks) {
				t.Errorf("HookNames = %v, want %v", got, tc.hooks)
			}
			if m.WASI != tc.wasi || m.EnvAbort != tc.envAbort {
				t.Errorf("WASI, EnvAbort = %v, %v; want %v, %v", m.WASI, m.EnvAbort, tc.wasi, tc.envAbort)
			}
			if m.Major != 1 || m.Minor != 0 {
				t.Errorf("version %d.%d, want 1.0", m.Major, m.Minor)
			}
			if len(m.Hash) != 64 || m.Name != tc.fixture {
				t.Errorf("Name %q, Hash %q", m.Name, m.Hash)
			}
		})
	}
}

// TestInstantiateRefuses: modules that compile but refuse to start (ABI
// §3.1, §5.2): Instantiate returns a *LoadError.
func TestInstantiateRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fixture string
		params  map[string]string
		pages   uint32
		want    []string
	}{
		{"init ERROR with reason", "init_error", nil, 0, []string{"policy_init answered -3 (policy said: cannot start: no GPU model given)"}},
		{"init negative", "init_defer", nil, 0, []string{"policy_init answered -1"}},
		{"init trap", "init_trap", nil, 0, []string{"policy_init trapped: wasm error: unreachable\nwasm stack trace:"}},
		{"_initialize trap", "initialize_trap", nil, 0, []string{"_initialize trapped: wasm error: unreachable\nwasm stack trace:"}},
		{"scratch 0", "scratch_zero", nil, 0, []string{"policy_scratch(384) answered 0: expected a non-zero, 8-byte aligned address"}},
		{"scratch misaligned", "scratch_misaligned", nil, 0, []string{"policy_scratch(384) answered 1028: expected a non-zero, 8-byte aligned address"}},
		{"scratch past memory", "scratch_past_memory", nil, 0, []string{"policy_scratch(384) answered 65528: the region ends past the module's memory"}},
		{"memory above the limit", "memory_too_big", nil, 2, []string{"compile: ", "over limit of 2 pages"}},
		{"unknown parameter", "params", map[string]string{"alpha": "1", "gamma": "2"}, 0,
			[]string{"unknown parameter gamma: the policy never reads it (it reads: alpha, beta, name)"}},
		{"unknown parameters", "params", map[string]string{"gamma": "1", "delta": "2"}, 0,
			[]string{"unknown parameter delta, gamma: the policy never reads it (it reads: alpha, beta, name)"}},
		{"parameter of a policy without parameters", "defer_all", map[string]string{"window": "4"}, 0,
			[]string{"unknown parameter window: the policy never reads it (it reads no parameters)"}},
		{"param_i64 of a word", "params", map[string]string{"alpha": "abc"}, 0, []string{`parameter alpha="abc" is not an integer`}},
		{"param_i64 of a float", "params", map[string]string{"alpha": "1.5"}, 0, []string{`parameter alpha="1.5" is not an integer`}},
		{"param_f64 of a word", "params", map[string]string{"beta": "fast"}, 0, []string{`parameter beta="fast" is not a number`}},
		{"param_f64 of NaN", "params", map[string]string{"beta": "NaN"}, 0, []string{`parameter beta="NaN" is not a number`}},
		{"two bad values", "params", map[string]string{"alpha": "x", "beta": "y"}, 0,
			[]string{`parameter alpha="x" is not an integer; parameter beta="y" is not a number`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := compile(t, tc.fixture)
			in, err := m.Instantiate(context.Background(), wasm.Config{Params: tc.params, MemoryLimitPages: tc.pages})
			if in != nil {
				in.Close()
				t.Fatalf("Instantiate started the instance")
			}
			loadError(t, err, tc.fixture, tc.want...)
		})
	}
}

// TestLifecycle: _initialize runs before policy_init; _start and the wasm
// start section never run.
func TestLifecycle(t *testing.T) {
	in := instantiate(t, "lifecycle", wasm.Config{})
	for h := abi.Hook(0); h < abi.NumHooks; h++ {
		if in.Implements(h) {
			t.Errorf("Implements(%v) = true for a module with policy_init only", h)
		}
	}
	if in.CandidateWindow() != abi.DefaultCandidateWindow {
		t.Errorf("CandidateWindow = %d, want the default %d", in.CandidateWindow(), abi.DefaultCandidateWindow)
	}
}

// TestParams: param_i64, param_f64 and param_str as the policy sees them
// (ABI §5.2); params.wat stores what it read and policy_observe(kind)
// answers it.
func TestParams(t *testing.T) {
	const (
		kAlpha  = 0
		kBeta   = 1
		kFirst  = 2 // param_str with a 4-byte buffer
		kBefore = 3 // buffer bytes 0..7 after that call
		kSecond = 4 // param_str with a 32-byte buffer (only when the first did not fit)
		kBuf    = 5 // kBuf..kBuf+3: buffer bytes 0..31 now
	)
	for _, tc := range []struct {
		name          string
		params        map[string]string
		alpha         int64
		beta          float64
		first, second int64
		before, buf   string
	}{
		{"defaults", nil, 7, 0.5, -1, 0, "########", "################################"},
		{"values", map[string]string{"alpha": "-42", "beta": "2.5", "name": "abc"}, -42, 2.5, 3, 0, "abc#####", "abc#############################"},
		{"hex and exponent", map[string]string{"alpha": "0x10", "beta": "1e-3"}, 16, 0.001, -1, 0, "########", "################################"},
		{"true", map[string]string{"alpha": "true"}, 1, 0.5, -1, 0, "########", "################################"},
		{"FALSE", map[string]string{"alpha": "FALSE"}, 0, 0.5, -1, 0, "########", "################################"},
		{"largest", map[string]string{"alpha": "9223372036854775807", "beta": "-Inf"}, math.MaxInt64, math.Inf(-1), -1, 0, "########", "################################"},
		{"empty string", map[string]string{"name": ""}, 7, 0.5, 0, 0, "########", "################################"},
		{"string of exactly the buffer", map[string]string{"name": "wxyz"}, 7, 0.5, 4, 0, "wxyz####", "wxyz############################"},
		// Too long for 4 bytes: the host answers the length and leaves
		// the buffer alone; the second call with 32 bytes gets the text.
		{"string too long", map[string]string{"name": "hello, world"}, 7, 0.5, 12, 12, "########", "hello, world####################"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := instantiate(t, "params", wasm.Config{Params: tc.params})
			get := func(kind int32) int64 {
				t.Helper()
				v, err := in.Observe(kind, 0, 0, 0)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			le := func(v int64) string {
				b := make([]byte, 8)
				for i := range b {
					b[i] = byte(uint64(v) >> (8 * i))
				}
				return string(b)
			}
			if got := get(kAlpha); got != tc.alpha {
				t.Errorf("param_i64(alpha, 7) = %d, want %d", got, tc.alpha)
			}
			if got := math.Float64frombits(uint64(get(kBeta))); got != tc.beta {
				t.Errorf("param_f64(beta, 0.5) = %v, want %v", got, tc.beta)
			}
			if got := get(kFirst); got != tc.first {
				t.Errorf("param_str(name, limit 4) = %d, want %d", got, tc.first)
			}
			if got := le(get(kBefore)); got != tc.before {
				t.Errorf("buffer after param_str(name, limit 4) = %q, want %q", got, tc.before)
			}
			if got := get(kSecond); got != tc.second {
				t.Errorf("param_str(name, limit 32) = %d, want %d", got, tc.second)
			}
			var buf string
			for k := int32(kBuf); k < kBuf+4; k++ {
				buf += le(get(k))
			}
			if buf != tc.buf {
				t.Errorf("buffer = %q, want %q", buf, tc.buf)
			}
		})
	}
}

// TestMemoryLimit: the instance's memory cap applies when the module grows.
func TestMemoryLimit(t *testing.T) {
	// records.wat grows its memory by one page per policy_pick_block.
	in := instantiate(t, "records", wasm.Config{MemoryLimitPages: 2})
	c := []abi.Candidate{{Size: 512}}
	for i, want := range []int64{2, 2} {
		if _, err := in.PickBlock(c, 512, 0, 0, 0); err != nil {
			t.Fatal(err)
		}
		if got := global(t, in, "g_pages"); got != want {
			t.Errorf("call %d: %d pages, want %d (limit 2)", i, got, want)
		}
	}
}
