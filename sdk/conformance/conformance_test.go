// Package conformance holds the suite every SDK's example must pass: the
// five languages build the same "sizeclass" policy, and it must make
// exactly the same decisions as a native Go reference of its rules through
// the same host, on the same workloads and parameters. The Go and Rust
// SDKs, which own the version marker, must also declare the newest ABI,
// reproduce the built-in buddy policy with its 1.2 features and set 1.3's
// reserve limit; the C, Go, Rust and AssemblyScript SDKs must read 1.4's
// stat key 17 through the host; every SDK must name 1.4's stat keys and
// 1.5's constants.
package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/internal/synth"
	"github.com/fraglab/fraglab/policies"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/sdk/abi"
	"github.com/fraglab/fraglab/sdk/go/fraglab"
	"github.com/fraglab/fraglab/trace"
)

// root is the repository root, from sdk/conformance.
var root, _ = filepath.Abs(filepath.Join("..", ".."))

// sdkBuild builds one SDK's example into out, with the command its README
// documents. missing names the toolchain and the package that brings it
// when it is absent.
type sdkBuild struct {
	lang    string
	missing func() string
	build   func(t *testing.T, out string)
}

func need(tools ...string) func() string {
	return func() string {
		for _, tool := range tools {
			if _, err := exec.LookPath(tool); err != nil {
				return tool + " not found"
			}
		}
		return ""
	}
}

func run(t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

var sdks = []sdkBuild{
	{"c", need("clang", "wasm-ld"), func(t *testing.T, out string) { buildC(t, "sdk/c/example/sizeclass.c", out) }},
	{"go", need("go"), func(t *testing.T, out string) { buildGo(t, "./sdk/go/example", out) }},
	{"rust", need(rustc), func(t *testing.T, out string) { buildRust(t, "sdk/rust/example/sizeclass.rs", out) }},
	{"assemblyscript", need("npm", "npx"), func(t *testing.T, out string) { buildAS(t, "assembly/sizeclass.ts", out) }},
	{"wat", need("wat2wasm"), func(t *testing.T, out string) {
		run(t, root, nil, "wat2wasm", "sdk/wat/sizeclass.wat", "-o", out)
	}},
}

// buildC builds the C policy src (a path from the repository root) into
// the module out, as sdk/c/README.md documents.
func buildC(t *testing.T, src, out string) {
	t.Helper()
	run(t, root, nil, "clang", "--target=wasm32", "-std=c11", "-O2", "-ffreestanding", "-nostdlib",
		"-Wl,--no-entry", "-Wl,--strip-all", "-I", "sdk/c", "-o", out, src)
}

// buildAS builds the AssemblyScript policy entry (a path from
// sdk/assemblyscript) into the module out, as sdk/assemblyscript/README.md
// documents, installing the compiler first when it is missing.
func buildAS(t *testing.T, entry, out string) {
	t.Helper()
	dir := filepath.Join(root, "sdk", "assemblyscript")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "assemblyscript")); err != nil {
		run(t, dir, nil, "npm", "ci", "--no-audit", "--no-fund")
	}
	run(t, dir, nil, "npx", "asc", entry, "-O3", "--runtime", "stub", "--noAssert", "--use", "abort=", "-o", out)
}

// buildGo builds Go package pkg (a path from the repository root) into the
// module out, as sdk/go/README.md documents.
func buildGo(t *testing.T, pkg, out string) {
	t.Helper()
	run(t, root, []string{"GOOS=wasip1", "GOARCH=wasm"}, "go", "build", "-buildmode=c-shared", "-o", out, pkg)
}

// rustc is Debian's rustc, which has the wasm32 standard library.
const rustc = "/usr/bin/rustc"

// buildRust builds the Rust policy src (a path from the repository root)
// into the module out, with the SDK as an rlib beside it, as
// sdk/rust/README.md documents.
func buildRust(t *testing.T, src, out string) {
	t.Helper()
	rlib := filepath.Join(filepath.Dir(out), "libfraglab.rlib")
	run(t, root, nil, rustc, "--edition", "2021", "--crate-type", "rlib", "--target", "wasm32-unknown-unknown",
		"-C", "opt-level=3", "-C", "panic=abort", "--crate-name", "fraglab", "sdk/rust/fraglab/src/lib.rs", "-o", rlib)
	run(t, root, nil, rustc, "--edition", "2021", "--crate-type", "cdylib", "--target", "wasm32-unknown-unknown",
		"-C", "opt-level=3", "-C", "panic=abort", "-C", "link-arg=-zstack-size=65536", "-C", "strip=symbols",
		"--extern", "fraglab="+rlib, "-o", out, src)
}

// compileFile compiles the module at path, named name.
func compileFile(t *testing.T, name, path string) *wasm.Module {
	t.Helper()
	bin, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := wasm.Compile(context.Background(), name, bin)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// built holds the example modules once built, so the tests of one test binary
// build them once.
var built map[string]*wasm.Module

// modules builds every SDK's example once per test binary.
func modules(t *testing.T) map[string]*wasm.Module {
	t.Helper()
	if built != nil {
		return enough(t, built)
	}
	dir := t.TempDir()
	out := map[string]*wasm.Module{}
	for _, s := range sdks {
		if why := s.missing(); why != "" {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s SDK: %s (.ci/run installs every toolchain)", s.lang, why)
			}
			t.Logf("skipping the %s SDK: %s", s.lang, why)
			continue
		}
		path := filepath.Join(dir, s.lang+".wasm")
		s.build(t, path)
		out[s.lang] = compileFile(t, s.lang, path)
	}
	built = out
	return enough(t, out)
}

// enough skips the test when fewer than two SDKs were built.
func enough(t *testing.T, mods map[string]*wasm.Module) map[string]*wasm.Module {
	t.Helper()
	if len(mods) < 2 && os.Getenv("CI") == "" {
		t.Skip("fewer than two SDK toolchains here: nothing to compare (apt-get install clang lld wabt rustc libstd-rust-dev-wasm32; npm)")
	}
	return mods
}

// reference is the sizeclass policy's rules in Go, through the same
// host.Policy contract: the answers every SDK must give.
type reference struct {
	host.NoHooks
	classes, splitMin int64
}

func (reference) Implements(h abi.Hook) bool { return h == abi.HookRoundSize || h == abi.HookSplit }

func (p reference) RoundSize(size int64, _, _ int32) (int64, error) {
	if size <= 512 {
		return 512, nil
	}
	if size&(size-1) == 0 {
		return size, nil
	}
	k := 63
	for size>>k == 0 {
		k--
	}
	step := max((int64(1)<<k)/p.classes, 512)
	return (size + step - 1) / step * step, nil
}

func (p reference) Split(block, rounded int64, pool, _, _, _ int32) (int64, error) {
	r := block - rounded
	if pool == 0 {
		if r >= 512 {
			return rounded, nil
		}
		return block, nil
	}
	if r>>20 >= p.splitMin {
		return rounded, nil
	}
	return block, nil
}

// outcome is everything a run decided: metrics, every device operation and
// every allocation's block.
type outcome struct {
	metrics replay.Metrics
	log     string
}

func record(t *testing.T, events []trace.Event, capacity int64, run func(r trace.Reader, dev cudadriver.Device, opts replay.Options) (*replay.Result, error)) outcome {
	t.Helper()
	var b bytes.Buffer
	opts := replay.Options{
		CheckInvariants: true,
		OnDriverOp:      func(op host.DriverOp) { fmt.Fprintf(&b, "%+v\n", op) },
		OnBlockOp:       func(op host.BlockOp) { fmt.Fprintf(&b, "%+v\n", op) },
	}
	res, err := run(synth.NewReader(events), cudadriver.NewSim(cudadriver.SimOptions{Capacity: capacity}), opts)
	if err != nil {
		t.Fatal(err)
	}
	res.Metrics.NsPerEvent = 0
	return outcome{res.Metrics, b.String()}
}

func devlog(t *testing.T, name string) []trace.Event {
	t.Helper()
	r, c, err := trace.Open(filepath.Join(root, "examples", "traces", name))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out []trace.Event
	for {
		e, err := r.Next()
		if err != nil {
			break
		}
		out = append(out, e)
	}
	return out
}

func TestSDKsMakeIdenticalDecisions(t *testing.T) {
	mods := modules(t)
	workloads := []struct {
		name     string
		events   []trace.Event
		capacity int64
	}{
		{"devlog small then large", devlog(t, "devlog-small-then-large.jsonl"), 0},
		{"devlog large then small", devlog(t, "devlog-large-then-small.jsonl"), 0},
		{"mixed", synth.Mixed(11, 20000, 300), 0},
		{"mixed at 700 MiB (OOMs)", synth.Mixed(12, 20000, 300), 700 << 20},
	}
	paramSets := []map[string]string{
		nil,
		{"classes_per_doubling": "2"},
		{"classes_per_doubling": "16", "split_min_mb": "1"},
		{"classes_per_doubling": "1", "split_min_mb": "64"},
	}
	for _, w := range workloads {
		for _, ps := range paramSets {
			t.Run(fmt.Sprintf("%s %v", w.name, ps), func(t *testing.T) {
				classes, splitMin := int64(4), int64(4)
				fmt.Sscan(ps["classes_per_doubling"], &classes)
				fmt.Sscan(ps["split_min_mb"], &splitMin)
				ref := reference{classes: classes, splitMin: splitMin}
				want := record(t, w.events, w.capacity, func(r trace.Reader, dev cudadriver.Device, opts replay.Options) (*replay.Result, error) {
					return replay.RunPolicy(context.Background(), r, ref, dev, opts)
				})
				for lang, m := range mods {
					got := record(t, w.events, w.capacity, func(r trace.Reader, dev cudadriver.Device, opts replay.Options) (*replay.Result, error) {
						opts.Params = ps
						return replay.Run(context.Background(), r, m, dev, opts)
					})
					if got.metrics != want.metrics {
						t.Errorf("%s: metrics %+v\nreference %+v", lang, got.metrics, want.metrics)
					}
					if got.log != want.log {
						t.Errorf("%s: decisions differ from the reference (%d vs %d bytes of log); first difference at byte %d",
							lang, len(got.log), len(want.log), firstDiff(got.log, want.log))
					}
				}
			})
		}
	}
}

func firstDiff(a, b string) int {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestSDKsReportErrorsAlike: an invalid parameter refuses the module in
// every language with the same text, through the error_set import.
func TestSDKsReportErrorsAlike(t *testing.T) {
	mods := modules(t)
	for _, tc := range []struct {
		params map[string]string
		want   string
	}{
		{map[string]string{"classes_per_doubling": "3"}, "classes_per_doubling=3: must be 1, 2, 4, 8 or 16"},
		{map[string]string{"split_min_mb": "0"}, "split_min_mb=0: must be ≥ 1"},
		{map[string]string{"clases_per_doubling": "4"}, "unknown parameter clases_per_doubling"},
	} {
		for lang, m := range mods {
			_, err := replay.Run(context.Background(), synth.NewReader(nil), m, cudadriver.NewSim(cudadriver.SimOptions{}), replay.Options{Params: tc.params})
			var le *wasm.LoadError
			if !errors.As(err, &le) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s with %v: %v, want a load error containing %q", lang, tc.params, err, tc.want)
			}
		}
	}
}

// TestSDKsLeaveOtherHooksToTheHost: whatever each language exports, only
// round_size and split are asked (missing or masked hooks are defaults).
func TestSDKsLeaveOtherHooksToTheHost(t *testing.T) {
	mods := modules(t)
	for lang, m := range mods {
		res, err := replay.Run(context.Background(), synth.NewReader(synth.Mixed(3, 3000, 100)), m, cudadriver.NewSim(cudadriver.SimOptions{}), replay.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for h := abi.Hook(0); h < abi.NumHooks; h++ {
			asked := res.Stats.HookCalls[h] > 0
			if asked != (h == abi.HookRoundSize || h == abi.HookSplit) {
				t.Errorf("%s: %s asked %d times", lang, h, res.Stats.HookCalls[h])
			}
		}
	}
}

// TestGoGuestPanic: a Go guest that panics in a hook is a trap: the run
// stops with the event, the hook, its arguments and the Go runtime's panic
// message from the guest's stderr.
func TestGoGuestPanic(t *testing.T) {
	out := filepath.Join(t.TempDir(), "gopanic.wasm")
	buildGo(t, "./sdk/conformance/testdata/gopanic", out)
	m := compileFile(t, "gopanic", out)
	events := []trace.Event{{Op: trace.OpAlloc, ID: 0, Size: 100}, {Op: trace.OpAlloc, ID: 1, Size: 200}, {Op: trace.OpAlloc, ID: 2, Size: 300}}
	_, err := replay.Run(context.Background(), synth.NewReader(events), m, cudadriver.NewSim(cudadriver.SimOptions{}), replay.Options{})
	var pe *host.PolicyError
	if !errors.As(err, &pe) || pe.Event != 2 || pe.Hook != abi.HookRoundSize || pe.Trap == nil {
		t.Fatalf("got %v, want a trap in policy_round_size at event 2", err)
	}
	for _, want := range []string{"event 2: policy_round_size(size=300, stream=0, tag=0) failed", "assignment to entry in nil map"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestSDKsDeclareABI: the Go and Rust SDKs own the version marker and
// declare the newest minor the host implements; the C, AssemblyScript and
// WAT examples choose their marker and need nothing past 1.0. Every SDK
// offers the newest marker.
func TestSDKsDeclareABI(t *testing.T) {
	newest := fmt.Sprintf("%s%d_%d", abi.MarkerPrefix, abi.Major, abi.Minor)
	for _, file := range []string{
		"sdk/go/fraglab/exports_wasip1.go", "sdk/rust/fraglab/src/lib.rs", "sdk/c/fraglab.h",
		"sdk/assemblyscript/assembly/fraglab.ts", "sdk/wat/README.md",
	} {
		src, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(src, []byte(newest)) {
			t.Errorf("%s does not offer the marker %s", file, newest)
		}
	}
	wantMinor := map[string]int{"go": abi.Minor, "rust": abi.Minor, "c": 0, "assemblyscript": 0, "wat": 0}
	for lang, m := range modules(t) {
		if m.Major != abi.Major || m.Minor != wantMinor[lang] {
			t.Errorf("%s example declares ABI %d.%d, want %d.%d", lang, m.Major, m.Minor, abi.Major, wantMinor[lang])
		}
	}
}

// TestSDKBuddyMatchesBuiltin: the ABI 1.2 features of the Go and Rust SDKs
// (repeated merges, merge offsets) through the real host. testdata/buddy
// holds policies/buddy, a C module that uses both, written with each SDK;
// each must declare at least 1.2 (the newest minor, as the SDKs do) and
// make exactly the built-in's decisions. A module that merged once per
// side, or merged non-buddies, would not.
func TestSDKBuddyMatchesBuiltin(t *testing.T) {
	bin, ok := policies.Builtin("buddy")
	if !ok {
		t.Fatal("no built-in buddy")
	}
	want, err := wasm.Compile(context.Background(), "buddy", bin)
	if err != nil {
		t.Fatal(err)
	}
	builds := sdkBuilds("buddy")
	workloads := []struct {
		name     string
		events   []trace.Event
		capacity int64
	}{
		{"devlog small then large", devlog(t, "devlog-small-then-large.jsonl"), 0},
		{"mixed", synth.Mixed(21, 20000, 300), 0},
		{"mixed at 700 MiB (OOMs)", synth.Mixed(22, 20000, 300), 700 << 20},
	}
	for _, b := range builds {
		t.Run(b.lang, func(t *testing.T) {
			if why := b.missing(); why != "" {
				if os.Getenv("CI") != "" {
					t.Fatalf("%s SDK: %s", b.lang, why)
				}
				t.Skipf("%s SDK: %s", b.lang, why)
			}
			path := filepath.Join(t.TempDir(), "buddy.wasm")
			b.build(t, path)
			m := compileFile(t, b.lang+" buddy", path)
			if m.Major != 1 || m.Minor < 2 || m.Minor != abi.Minor {
				t.Errorf("declares ABI %d.%d, want %d.%d (the newest; merge repeat needs at least 1.2)", m.Major, m.Minor, abi.Major, abi.Minor)
			}
			for _, w := range workloads {
				replayWith := func(m *wasm.Module) outcome {
					return record(t, w.events, w.capacity, func(r trace.Reader, dev cudadriver.Device, opts replay.Options) (*replay.Result, error) {
						return replay.Run(context.Background(), r, m, dev, opts)
					})
				}
				got, ref := replayWith(m), replayWith(want)
				if got.metrics != ref.metrics {
					t.Errorf("%s: metrics %+v\nbuilt-in %+v", w.name, got.metrics, ref.metrics)
				}
				if got.log != ref.log {
					t.Errorf("%s: decisions differ from the built-in buddy (%d vs %d bytes of log); first difference at byte %d",
						w.name, len(got.log), len(ref.log), firstDiff(got.log, ref.log))
				}
			}
		})
	}
}

// sdkBuilds builds a test policy with the Go and the Rust SDK: the Go
// package under testdata/NAME/go, the Rust file testdata/NAME/rust/NAME.rs.
func sdkBuilds(name string) []sdkBuild {
	dir := "sdk/conformance/testdata/" + name
	return []sdkBuild{
		{"go", need("go"), func(t *testing.T, out string) { buildGo(t, "./"+dir+"/go", out) }},
		{"rust", need(rustc), func(t *testing.T, out string) { buildRust(t, dir+"/rust/"+name+".rs", out) }},
	}
}

// TestSDKReserveLimit: the ABI 1.3 feature of the Go and Rust SDKs (the
// reserve limit, config key 4) through the real host. testdata/limit sets
// the limit its parameter gives: 16 MiB segments on a 1 GiB device, the
// third past a 40 MiB limit, must fail without one; no limit, none fails;
// a limit the host refuses (past 2^48) refuses the module, saying why.
func TestSDKReserveLimit(t *testing.T) {
	events := []trace.Event{{Op: trace.OpAlloc, ID: 0, Size: 16 << 20}, {Op: trace.OpAlloc, ID: 1, Size: 16 << 20}, {Op: trace.OpAlloc, ID: 2, Size: 16 << 20}}
	cases := []struct {
		limit             string
		ooms              int64
		peak              int64
		wantErr, wantErr2 string
	}{
		{"41943040", 1, 32 << 20, "", ""},
		{"0", 0, 48 << 20, "", ""},
		{"281474976710657", 0, 0, "config(4, 281474976710657) answered -3", "the host does not accept the reserve limit (ABI 1.3 needed"},
	}
	for _, b := range sdkBuilds("limit") {
		t.Run(b.lang, func(t *testing.T) {
			if why := b.missing(); why != "" {
				if os.Getenv("CI") != "" {
					t.Fatalf("%s SDK: %s", b.lang, why)
				}
				t.Skipf("%s SDK: %s", b.lang, why)
			}
			path := filepath.Join(t.TempDir(), "limit.wasm")
			b.build(t, path)
			m := compileFile(t, b.lang+" limit", path)
			for _, c := range cases {
				opts := replay.Options{CheckInvariants: true, Params: map[string]string{"limit": c.limit}}
				res, err := replay.Run(context.Background(), synth.NewReader(events), m, cudadriver.NewSim(cudadriver.SimOptions{Capacity: 1 << 30}), opts)
				if c.wantErr != "" {
					var le *wasm.LoadError
					if !errors.As(err, &le) || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), c.wantErr2) {
						t.Errorf("limit %s: %v, want a load error containing %q and %q", c.limit, err, c.wantErr, c.wantErr2)
					}
					continue
				}
				if err != nil {
					t.Fatalf("limit %s: %v", c.limit, err)
				}
				if res.Metrics.OOMs != c.ooms || res.Metrics.PeakReserved != c.peak {
					t.Errorf("limit %s: OOMs %d, peak reserved %d; want %d and %d", c.limit, res.Metrics.OOMs, res.Metrics.PeakReserved, c.ooms, c.peak)
				}
			}
		})
	}
}

// TestSDKsReadRequestPrivatePool: ABI 1.4's stat key 17 (the private memory
// pool of the allocation being served) through the real host, with each
// SDK's constant and helper. testdata/privatepool holds one policy written
// with the C, Go, Rust and AssemblyScript SDKs: policy_choose_pool puts an
// allocation to private memory pool p into pool 1 + p and defers for the
// default memory pool, and fails the run if key 17 answers no pool. Each
// declares at least 1.4 with its SDK's marker (C and AssemblyScript choose
// 1.4; Go and Rust declare their newest). (The sizeclass examples read no stat,
// and WAT has no SDK: TestSDKsNameABI14StatKeys checks what it documents.)
func TestSDKsReadRequestPrivatePool(t *testing.T) {
	events := []trace.Event{
		{Op: trace.OpAlloc, ID: 1, Size: 1000},
		{Op: trace.OpAlloc, ID: 2, Size: 4 << 20, Pool: 1},
		{Op: trace.OpAlloc, ID: 3, Size: 1000, Pool: 3},
		{Op: trace.OpAlloc, ID: 4, Size: 4 << 20},
		{Op: trace.OpFree, ID: 2},
		{Op: trace.OpAlloc, ID: 5, Size: 1 << 20, Stream: 7, Pool: 6},
		{Op: trace.OpFree, ID: 3},
		{Op: trace.OpReleasePool, Pool: 3},
		{Op: trace.OpEmptyCache},
		{Op: trace.OpAlloc, ID: 6, Size: 8 << 20, Pool: 1},
	}
	// The (pool, private pool) of each allocation: the host's pool for the
	// default memory pool (small below 1 MiB), 1 + p for private pool p.
	want := map[int64][2]int64{1: {0, 0}, 2: {2, 1}, 3: {4, 3}, 4: {1, 0}, 5: {7, 6}, 6: {2, 1}}
	dir := "sdk/conformance/testdata/privatepool"
	builds := append([]sdkBuild{
		{"c", need("clang", "wasm-ld"), func(t *testing.T, out string) { buildC(t, dir+"/c/privatepool.c", out) }},
		{"assemblyscript", need("npm", "npx"), func(t *testing.T, out string) {
			buildAS(t, "../conformance/testdata/privatepool/assemblyscript/privatepool.ts", out)
		}},
	}, sdkBuilds("privatepool")...)
	for _, b := range builds {
		t.Run(b.lang, func(t *testing.T) {
			if why := b.missing(); why != "" {
				if os.Getenv("CI") != "" {
					t.Fatalf("%s SDK: %s", b.lang, why)
				}
				t.Skipf("%s SDK: %s", b.lang, why)
			}
			path := filepath.Join(t.TempDir(), "privatepool.wasm")
			b.build(t, path)
			m := compileFile(t, b.lang+" privatepool", path)
			if m.Major != abi.Major || m.Minor < 4 || m.Minor > abi.Minor {
				t.Errorf("declares ABI %d.%d, want 1.4 to %d.%d (stat key 17 needs at least 1.4)", m.Major, m.Minor, abi.Major, abi.Minor)
			}
			got := map[int64][2]int64{}
			opts := replay.Options{CheckInvariants: true, OnBlockOp: func(op host.BlockOp) {
				if op.Action == host.ActionAlloc {
					got[op.ID] = [2]int64{int64(op.Pool), op.PrivatePool}
				}
			}}
			res, err := replay.Run(context.Background(), synth.NewReader(events), m, cudadriver.NewSim(cudadriver.SimOptions{}), opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Errorf("%d allocations served, want %d", len(got), len(want))
			}
			for id, w := range want {
				if got[id] != w {
					t.Errorf("allocation %d: pool %d in memory pool %d, want pool %d in memory pool %d", id, got[id][0], got[id][1], w[0], w[1])
				}
			}
			if n := res.Stats.HookCalls[abi.HookChoosePool]; n != int64(len(want)) {
				t.Errorf("policy_choose_pool asked %d times, want %d", n, len(want))
			}
		})
	}
}

// TestSDKsNameABI14StatKeys: every SDK names ABI 1.4's stat keys with the
// host's values (the Go SDK takes them from sdk/abi), and the WAT notes
// list them.
func TestSDKsNameABI14StatKeys(t *testing.T) {
	keys := []struct {
		name  string // as Rust and AssemblyScript name it; C adds FRAGLAB_
		value int
	}{
		{"STAT_REQUEST_PRIVATE_POOL", abi.StatRequestPrivatePool},
		{"STAT_PRIVATE_RESERVED", abi.StatPrivateReserved},
		{"STAT_PENDING_FREE", abi.StatPendingFree},
	}
	if fraglab.StatRequestPrivatePool != abi.StatRequestPrivatePool || fraglab.StatPrivateReserved != abi.StatPrivateReserved ||
		fraglab.StatPendingFree != abi.StatPendingFree {
		t.Error("the Go SDK's ABI 1.4 stat keys are not sdk/abi's")
	}
	for _, f := range []struct {
		file   string
		define func(name string, value int) string // a regular expression
	}{
		{"sdk/c/fraglab.h", func(n string, v int) string { return `#define FRAGLAB_` + n + `\s+` + fmt.Sprint(v) + `\b` }},
		{"sdk/rust/fraglab/src/lib.rs", func(n string, v int) string { return `pub const ` + n + `: i32 = ` + fmt.Sprint(v) + `;` }},
		{"sdk/assemblyscript/assembly/fraglab.ts", func(n string, v int) string {
			return `export const ` + n + `: i32 = ` + fmt.Sprint(v) + `;`
		}},
	} {
		src, err := os.ReadFile(filepath.Join(root, f.file))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if re := regexp.MustCompile(f.define(k.name, k.value)); !re.Match(src) {
				t.Errorf("%s does not define %s as %d (%s)", f.file, k.name, k.value, re)
			}
		}
	}
	for _, file := range []string{"sdk/wat/template.wat", "sdk/wat/README.md"} {
		src, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Join(strings.Fields(strings.ReplaceAll(string(src), ";;", "")), " ")
		for _, k := range []string{"17 the private memory pool", "18 bytes reserved by private pools", "19 bytes in frees that wait for other streams"} {
			if !strings.Contains(text, k) {
				t.Errorf("%s does not document stat key %q", file, k)
			}
		}
	}
}

// TestSDKsNameABI15Constants: every SDK names ABI 1.5's constants
// (stitching: flag, actions, stat and config keys; planning: hook numbers
// and plan records) with the host's values (the Go SDK takes them from
// sdk/abi), and the WAT notes document them.
func TestSDKsNameABI15Constants(t *testing.T) {
	consts := []struct {
		name  string // as Rust and AssemblyScript name it; C adds FRAGLAB_
		value string // as the sources write it
		abi   int64
	}{
		{"FLAG_STITCHED", "1 << 2", abi.FlagStitched},
		{"ACT_STITCH", "4", abi.ActStitch},
		{"ACT_RELEASE_STITCHED", "5", abi.ActReleaseStitched},
		{"STITCH_GROW", "1", abi.StitchGrow},
		{"STAT_STITCHED", "20", abi.StatStitched},
		{"STAT_STITCHED_FREE", "21", abi.StatStitchedFree},
		{"CONFIG_STITCH_KEEP", "5", abi.ConfigStitchKeep},
		{"HOOK_PLAN", "13", int64(abi.HookPlan)},
		{"HOOK_PLACE", "14", int64(abi.HookPlace)},
		{"NUM_HOOKS", "15", int64(abi.NumHooks)},
		{"PLAN_RECORD_SIZE", "48", abi.PlanRecordSize},
		{"PLAN_BATCH", "256", abi.PlanBatch},
	}
	for _, c := range consts {
		var v int64
		if _, err := fmt.Sscanf(strings.ReplaceAll(c.value, "1 << 2", "4"), "%d", &v); err != nil || v != c.abi {
			t.Errorf("%s: the table says %s, sdk/abi %d", c.name, c.value, c.abi)
		}
	}
	goSDK := []struct {
		name      string
		got, want int64
	}{
		{"FlagStitched", fraglab.FlagStitched, abi.FlagStitched},
		{"ActStitch", fraglab.ActStitch, abi.ActStitch},
		{"ActReleaseStitched", fraglab.ActReleaseStitched, abi.ActReleaseStitched},
		{"StitchGrow", fraglab.StitchGrow, abi.StitchGrow},
		{"StatStitched", fraglab.StatStitched, abi.StatStitched},
		{"StatStitchedFree", fraglab.StatStitchedFree, abi.StatStitchedFree},
		{"ConfigStitchKeep", fraglab.ConfigStitchKeep, abi.ConfigStitchKeep},
		{"HookPlan", int64(fraglab.HookPlan), int64(abi.HookPlan)},
		{"HookPlace", int64(fraglab.HookPlace), int64(abi.HookPlace)},
		{"PlanRecordSize", fraglab.PlanRecordSize, abi.PlanRecordSize},
		{"PlanBatch", fraglab.PlanBatch, abi.PlanBatch},
	}
	for _, c := range goSDK {
		if c.got != c.want {
			t.Errorf("the Go SDK's %s is %d, sdk/abi's %d", c.name, c.got, c.want)
		}
	}
	if fraglab.PlanNever != uint64(abi.PlanNever) {
		t.Error("the Go SDK's PlanNever is not sdk/abi's")
	}
	for _, f := range []struct {
		file   string
		define func(name, value string) string // a regular expression
		never  string                          // how it names PlanNever
	}{
		{"sdk/c/fraglab.h", func(n, v string) string { return `#define FRAGLAB_` + n + `\s+\(?` + regexp.QuoteMeta(v) + `\)?(\s|$)` }, "FRAGLAB_PLAN_NEVER"},
		{"sdk/rust/fraglab/src/lib.rs", func(n, v string) string { return `pub const ` + n + `: \w+ = ` + regexp.QuoteMeta(v) + `;` }, "pub const PLAN_NEVER: u64 = u64::MAX;"},
		{"sdk/assemblyscript/assembly/fraglab.ts", func(n, v string) string {
			return `export const ` + n + `: \w+ = ` + regexp.QuoteMeta(v) + `;`
		}, "export const PLAN_NEVER: u64 = u64.MAX_VALUE;"},
	} {
		src, err := os.ReadFile(filepath.Join(root, f.file))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range consts {
			if re := regexp.MustCompile(`(?m)` + f.define(c.name, c.value)); !re.Match(src) {
				t.Errorf("%s does not define %s as %s (%s)", f.file, c.name, c.value, re)
			}
		}
		if !bytes.Contains(src, []byte(f.never)) {
			t.Errorf("%s does not define PLAN_NEVER (%q)", f.file, f.never)
		}
	}
	for _, file := range []string{"sdk/wat/template.wat", "sdk/wat/README.md"} {
		src, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Join(strings.Fields(strings.ReplaceAll(string(src), ";;", "")), " ")
		for _, k := range []string{"20 bytes mapped in stitched ranges", "21 of those the bytes in free stitched blocks",
			"4 stitch", "grow", "5 release stitched", "plan 13", "place 14", "policy_plan", "policy_place"} {
			if !strings.Contains(text, k) {
				t.Errorf("%s does not document %q", file, k)
			}
		}
	}
}
