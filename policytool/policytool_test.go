package policytool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/policies"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/sdk/abi"
	"github.com/fraglab/fraglab/trace"
)

const smallThenLarge = "../examples/traces/devlog-small-then-large.jsonl"

func TestNewWritesEveryLanguage(t *testing.T) {
	want := map[string][]string{
		C:              {"policy.c", "fraglab.h"},
		Go:             {"go.mod", "main.go", "policy.go", "policy_test.go", "fraglab-sdk/go.mod", "fraglab-sdk/sdk/go/fraglab/hooks.go", "fraglab-sdk/sdk/abi/abi.go"},
		Rust:           {"policy.rs", "fraglab/src/lib.rs"},
		AssemblyScript: {"package.json", "package-lock.json", "assembly/policy.ts", "assembly/fraglab.ts", "assembly/tsconfig.json"},
		WAT:            {"policy.wat", "template.wat"},
	}
	for _, lang := range Languages() {
		t.Run(lang, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "My Policy")
			files, err := New(dir, lang, "", false)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range append(want[lang], "README.md", MarkerFile, ".gitignore") {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("skeleton lacks %s (wrote %v)", f, files)
				}
			}
			for _, f := range files {
				if strings.HasSuffix(f, "_test.go") && strings.HasPrefix(f, "fraglab-sdk/") {
					t.Errorf("the SDK copy has a test file: %s", f)
				}
			}
			p, err := Detect(dir)
			if err != nil {
				t.Fatal(err)
			}
			if p.Lang != lang || p.Name != "my-policy" || p.How != MarkerFile {
				t.Errorf("Detect: %+v", p)
			}
			src, err := os.ReadFile(filepath.Join(dir, ruleFiles[lang]))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(bytes.ToLower(src), []byte("edit this rule")) {
				t.Errorf("%s has no \"edit this rule\"", ruleFiles[lang])
			}
			readme, _ := os.ReadFile(filepath.Join(dir, "README.md"))
			for _, c := range buildSteps(lang, entries[lang], "my-policy.wasm") {
				if !bytes.Contains(readme, []byte(c.display())) {
					t.Errorf("README lacks the build command %q", c.display())
				}
			}
			if bytes.Contains(readme, []byte("<no value>")) {
				t.Errorf("README has an unfilled field:\n%s", readme)
			}
		})
	}
}

func TestNewRefusesNonEmptyDirUnlessForced(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := New(dir, "c", "p", false)
	if err == nil || !strings.Contains(err.Error(), "is not empty") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("New into a non-empty dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "policy.c")); err == nil {
		t.Fatal("a refused New wrote files")
	}
	if _, err := New(dir, "c", "p", true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(keep); string(b) != "mine" {
		t.Error("--force touched a file that is not the skeleton's")
	}
	// --force over a Go skeleton drops stale SDK files.
	gdir := t.TempDir()
	if _, err := New(gdir, "go", "g", false); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(gdir, "fraglab-sdk", "sdk", "go", "fraglab", "old.go")
	if err := os.WriteFile(stale, []byte("package fraglab\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(gdir, "go", "g", true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("--force kept a stale file in fraglab-sdk/")
	}
}

func TestNewErrors(t *testing.T) {
	for _, c := range []struct{ lang, name, want string }{
		{"cobol", "", `unknown language "cobol": expected one of c, go, rust, assemblyscript, wat`},
		{"c", "Bad Name", `policy name "Bad Name"`},
		{"c", "-x", `policy name "-x"`},
	} {
		_, err := New(filepath.Join(t.TempDir(), "p"), c.lang, c.name, false)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%q, %q): %v, want %q", c.lang, c.name, err, c.want)
		}
	}
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o644)
	if _, err := New(file, "c", "", false); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("New onto a file: %v", err)
	}
}

func TestDetectByFileNames(t *testing.T) {
	for _, c := range []struct {
		files     []string
		lang      string
		entry     string
		wantError string
	}{
		{files: []string{"policy.c", "other.c", "fraglab.h"}, lang: C, entry: "policy.c"},
		{files: []string{"mine.c"}, lang: C, entry: "mine.c"},
		{files: []string{"go.mod", "main.go"}, lang: Go, entry: "."},
		{files: []string{"x.rs", "fraglab/src/lib.rs"}, lang: Rust, entry: "x.rs"},
		{files: []string{"package.json", "assembly/fraglab.ts", "assembly/mine.ts"}, lang: AssemblyScript, entry: "assembly/mine.ts"},
		{files: []string{"template.wat", "mine.wat"}, lang: WAT, entry: "mine.wat"},
		{files: []string{"a.wat", "b.wat"}, wantError: "several WebAssembly text (WAT) sources (a.wat, b.wat)"},
		{files: []string{"README.md"}, wantError: "cannot tell the language"},
	} {
		dir := t.TempDir()
		for _, f := range c.files {
			p := filepath.Join(dir, f)
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, nil, 0o644)
		}
		p, err := Detect(dir)
		if c.wantError != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantError) {
				t.Errorf("%v: error %v, want %q", c.files, err, c.wantError)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", c.files, err)
			continue
		}
		if p.Lang != c.lang || p.Entry != c.entry || p.How != "file names" {
			t.Errorf("%v: %+v, want %s %s", c.files, p, c.lang, c.entry)
		}
	}
}

func TestDetectBadMarker(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, MarkerFile), []byte("lang = fortran\n"), 0o644)
	if _, err := Detect(dir); err == nil || !strings.Contains(err.Error(), `unknown language "fortran"`) {
		t.Errorf("Detect: %v", err)
	}
	os.WriteFile(filepath.Join(dir, MarkerFile), []byte("lang = c\nentry = gone.c\n"), 0o644)
	if _, err := Detect(dir); err == nil || !strings.Contains(err.Error(), "names entry gone.c, which is missing") {
		t.Errorf("Detect: %v", err)
	}
}

// TestSkeletons is the new user's path for every language: new, build,
// check, then a replay through the host. Every skeleton implements the
// same rule, so their replays must agree exactly.
func TestSkeletons(t *testing.T) {
	type outcome struct {
		lang string
		m    replay.Metrics
	}
	var results []outcome
	for _, lang := range Languages() {
		t.Run(lang, func(t *testing.T) {
			toolchainOrSkip(t, lang)
			dir := filepath.Join(t.TempDir(), "p-"+lang)
			if _, err := New(dir, lang, "", false); err != nil {
				t.Fatal(err)
			}
			if lang == AssemblyScript {
				prepareAS(t, dir)
			}
			out := filepath.Join(t.TempDir(), "out", lang+".wasm")
			res, err := Build(t.Context(), dir, out)
			if err != nil {
				t.Fatal(err)
			}
			if res.Size < 8 || res.Out != out || len(res.Commands) == 0 {
				t.Fatalf("Build: %+v", res)
			}
			t.Logf("%s: built %d bytes in %v", lang, res.Size, res.Elapsed)

			rep, err := Check(t.Context(), out, CheckOptions{Params: map[string]string{"round_kib": "8"}, Events: 2000})
			if err != nil {
				t.Fatal(err)
			}
			var text bytes.Buffer
			rep.WriteText(&text)
			if !rep.OK() {
				t.Fatalf("check failed:\n%s", text.String())
			}
			if strings.Join(rep.Called, " ") != "policy_round_size" || len(rep.Smoke) != 2 || rep.Smoke[1].Metrics.OOMs == 0 {
				t.Errorf("check:\n%s", text.String())
			}
			// The Go and Rust SDKs export the newest marker; the other
			// skeletons declare 1.0, which is all they need.
			minor := 0
			if lang == Go || lang == Rust {
				minor = abi.Minor
			}
			abiLine := fmt.Sprintf("ABI      %d.%d (%s%d_%d;", abi.Major, minor, abi.MarkerPrefix, abi.Major, minor)
			for _, want := range []string{abiLine, "policy_round_size", "(i64, i32, i32) -> (i64)", "fraglab.param_i64", "allowed", "result   OK"} {
				if !strings.Contains(text.String(), want) {
					t.Errorf("check output lacks %q:\n%s", want, text.String())
				}
			}
			// A bad parameter value is the policy's own refusal.
			bad, _ := Check(t.Context(), out, CheckOptions{Params: map[string]string{"round_kib": "0"}, Events: 100})
			if bad.OK() || !strings.Contains(strings.Join(bad.Problems, "\n"), "round_kib") {
				t.Errorf("round_kib=0: problems %q", bad.Problems)
			}

			results = append(results, outcome{lang, replaySmallThenLarge(t, out)})
			if lang == Go {
				goTestSkeleton(t, dir)
			}
		})
	}
	for _, r := range results[min(1, len(results)):] {
		if r.m != results[0].m {
			t.Errorf("the %s skeleton replays differently from the %s one:\n%+v\n%+v", r.lang, results[0].lang, r.m, results[0].m)
		}
	}
}

// replaySmallThenLarge replays the README's trace through the host, under
// the module at path with round_kib=8.
func replaySmallThenLarge(t *testing.T, path string) replay.Metrics {
	t.Helper()
	bin, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := wasm.Compile(t.Context(), path, bin)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(smallThenLarge)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := replay.Run(t.Context(), trace.NewJSONLReader(f, smallThenLarge), mod, cudadriver.NewSim(cudadriver.SimOptions{}),
		replay.Options{Params: map[string]string{"round_kib": "8"}, CheckInvariants: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Metrics.PeakReserved != 256<<20 || res.Metrics.Events != 24 {
		t.Errorf("replay: %+v", res.Metrics)
	}
	res.Metrics.NsPerEvent = 0 // timing
	return res.Metrics
}

// goTestSkeleton runs the Go skeleton's own tests, offline.
func goTestSkeleton(t *testing.T, dir string) {
	t.Helper()
	cmd := exec.Command("go", "test", "-count=1", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=readonly", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("go test in the Go skeleton: %v\n%s", err, b)
	}
}

// TestMissingToolchain simulates a machine without the toolchains (an
// empty PATH, a rustc that is not there): the error names what to install.
func TestMissingToolchain(t *testing.T) {
	want := map[string]string{
		C:              "clang not found: install it with apt-get install clang lld",
		Go:             "go not found: install Go 1.24 or later",
		Rust:           "/nonexistent/rustc not found: install it with apt-get install rustc libstd-rust-dev-wasm32",
		AssemblyScript: "node not found: install Node.js 20 or later with npm (apt-get install nodejs npm)",
		WAT:            "wat2wasm not found: install it with apt-get install wabt",
	}
	for _, lang := range Languages() {
		t.Run(lang, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := New(dir, lang, "p", true); err != nil {
				t.Fatal(err)
			}
			t.Setenv("PATH", "")
			t.Setenv(RustcEnv, "/nonexistent/rustc")
			out := filepath.Join(t.TempDir(), "p.wasm")
			_, err := Build(context.Background(), dir, out)
			asToolchainError(t, err)
			if err.Error() != want[lang] && !strings.HasPrefix(err.Error(), want[lang]) {
				t.Errorf("error %q, want %q", err, want[lang])
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("a failed build left a module")
			}
		})
	}
}

func TestRustWithoutWasmStd(t *testing.T) {
	// A rustc whose sysroot has no wasm32 standard library (rustup's
	// default install).
	dir := t.TempDir()
	sysroot := filepath.Join(dir, "sysroot")
	os.MkdirAll(filepath.Join(sysroot, "lib", "rustlib", "x86_64-unknown-linux-gnu", "lib"), 0o755)
	fake := filepath.Join(dir, "rustc")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho "+sysroot+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	proj := filepath.Join(dir, "p")
	if _, err := New(proj, Rust, "", false); err != nil {
		t.Fatal(err)
	}
	t.Setenv(RustcEnv, fake)
	_, err := Build(t.Context(), proj, "")
	te := asToolchainError(t, err)
	if !strings.Contains(te.Error(), "standard library of "+fake) || !strings.Contains(te.Error(), "apt-get install libstd-rust-dev-wasm32") {
		t.Errorf("error %q", te)
	}
}

// fakeTools writes shell scripts named after tools into a new directory
// and returns it, for a PATH holding only them.
func fakeTools(t *testing.T, scripts map[string]string) string {
	t.Helper()
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh for the fake tools")
	}
	dir := t.TempDir()
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Without node_modules and without npm, the error says that npm installs
// the compiler (a fake node on PATH, no npm).
func TestASWithoutNpm(t *testing.T) {
	dir := t.TempDir()
	if _, err := New(dir, AssemblyScript, "p", true); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", fakeTools(t, map[string]string{"node": "exit 0"}))
	_, err := Build(t.Context(), dir, "")
	te := asToolchainError(t, err)
	want := "npm not found: the AssemblyScript compiler is not installed in " + filepath.Join(dir, "node_modules") + " and fraglab installs it with npm: install npm (apt-get install nodejs npm), or run npm ci there yourself"
	if te.Error() != want {
		t.Errorf("error %q, want %q", te, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "p.wasm")); err == nil {
		t.Error("a failed build left a module")
	}
}

// An npm that fails (no registry, no cache): the error shows the command,
// npm's output and what to do; the log printed the command before it ran.
func TestASNpmFails(t *testing.T) {
	dir := t.TempDir()
	if _, err := New(dir, AssemblyScript, "p", true); err != nil {
		t.Fatal(err)
	}
	args := filepath.Join(t.TempDir(), "npm-args")
	t.Setenv("PATH", fakeTools(t, map[string]string{
		"node": "exit 0",
		"npm":  `echo "$PWD $@" > ` + args + "\necho 'npm error code ENOTCACHED' >&2\nexit 1",
	}))
	var log bytes.Buffer
	_, err := BuildWith(t.Context(), dir, "", BuildOptions{Log: &log})
	var te *ToolError
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T), want a *ToolError", err, err)
	}
	for _, want := range []string{"npm failed (exit status 1)", "npm ci --prefer-offline --no-audit --no-fund", "ENOTCACHED",
		"run npm ci in " + dir + " where the registry is reachable"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if !strings.HasPrefix(log.String(), "$ npm_config_update_notifier=false ") || !strings.Contains(log.String(), "/npm ci --prefer-offline") {
		t.Errorf("log %q, want the npm ci line first", log.String())
	}
	b, _ := os.ReadFile(args)
	if got, want := strings.TrimSpace(string(b)), dir+" ci --prefer-offline --no-audit --no-fund"; got != want {
		t.Errorf("npm ran as %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "p.wasm")); err == nil {
		t.Error("a failed build left a module")
	}
}

// An npm that succeeds but installs no asc: the error names package.json.
// A project without a package-lock.json gets npm install instead of ci.
func TestASNpmInstallsNoCompiler(t *testing.T) {
	dir := t.TempDir()
	if _, err := New(dir, AssemblyScript, "p", true); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "package-lock.json")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", fakeTools(t, map[string]string{"node": "exit 0", "npm": "echo added 0 packages"}))
	var log bytes.Buffer
	_, err := BuildWith(t.Context(), dir, "", BuildOptions{Log: &log})
	te := asToolchainError(t, err)
	if !strings.Contains(te.Error(), "installed no node_modules/.bin/asc: its package.json must list assemblyscript") {
		t.Errorf("error %q", te)
	}
	if !strings.Contains(log.String(), "/npm install --prefer-offline --no-audit --no-fund") {
		t.Errorf("log %q, want npm install", log.String())
	}
}

// The real thing: a new AssemblyScript project without node_modules builds,
// running npm ci itself. npm works offline only from its cache, so a
// failing npm ci skips the test, after checking that it was the command
// tried.
func TestASBuildInstallsCompiler(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not found: apt-get install nodejs npm")
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("npm not found: apt-get install nodejs npm")
	}
	dir := filepath.Join(t.TempDir(), "p")
	if _, err := New(dir, AssemblyScript, "", false); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	res, err := BuildWith(t.Context(), dir, "", BuildOptions{Log: &log})
	if !strings.HasPrefix(log.String(), "$ npm_config_update_notifier=false ") || !strings.Contains(log.String(), "npm ci --prefer-offline --no-audit --no-fund\n") {
		t.Fatalf("the build did not run npm ci first; log:\n%s\nerror: %v", log.String(), err)
	}
	var te *ToolError
	if errors.As(err, &te) && te.Tool == "npm" {
		t.Skipf("npm ci failed (no registry and not in npm's cache?), skipping the AssemblyScript build: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".bin", "asc")); err != nil {
		t.Errorf("npm ci installed no asc: %v", err)
	}
	if len(res.Commands) != 2 || !strings.Contains(res.Commands[1], "asc assembly/policy.ts") || res.Size < 8 {
		t.Errorf("Build: %+v", res)
	}
	// Built again, the compiler is there: no npm.
	log.Reset()
	if _, err := BuildWith(t.Context(), dir, "", BuildOptions{Log: &log}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(log.String(), "npm") || strings.Count(log.String(), "$ ") != 1 {
		t.Errorf("second build ran %q, want asc only", log.String())
	}
}

func TestBuildShowsToolOutput(t *testing.T) {
	toolchainOrSkip(t, C)
	dir := t.TempDir()
	if _, err := New(dir, C, "p", true); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "p.wasm")
	os.WriteFile(out, []byte("stale"), 0o644)
	src := filepath.Join(dir, "policy.c")
	b, _ := os.ReadFile(src)
	os.WriteFile(src, bytes.Replace(b, []byte("return rounded < granule"), []byte("return rounded < granul"), 1), 0o644)
	_, err := Build(t.Context(), dir, "")
	var te *ToolError
	if !errors.As(err, &te) {
		t.Fatalf("error %v, want a *ToolError", err)
	}
	for _, want := range []string{"clang failed (exit status 1)", "policy.c:", "granul", "$ "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed build left the stale module")
	}
}

// hostABI and newestMarker are the host's ABI version and its marker, as
// the host's messages name them.
var (
	hostABI      = fmt.Sprintf("%d.%d", abi.Major, abi.Minor)
	newestMarker = fmt.Sprintf("%s%d_%d", abi.MarkerPrefix, abi.Major, abi.Minor)
)

// hostile are small modules the host refuses or that fail their smoke
// replay, with the texts check must print (the host's own).
var hostile = []struct {
	name, wat string
	want      []string
}{
	{"wrong-signature", `(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_round_size") (param i32) (result i64) (i64.const -1)))`,
		[]string{"WRONG SIGNATURE, expected (i64, i32, i32) -> (i64)",
			"hook policy_round_size has signature (i32) -> (i64), expected (i64, i32, i32) -> (i64)"}},
	{"forbidden-import", `(module
  (import "env" "now" (func (result i64)))
  (import "wasi_snapshot_preview1" "sock_open" (func (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0")))`,
		[]string{"env.now", "NOT ALLOWED", "imports env.now () -> (i64): only env.abort (i32, i32, i32, i32) -> () is allowed from env",
			"imports wasi_snapshot_preview1.sock_open, which is not a WASI preview 1 function"}},
	{"other-module", `(module
  (import "os" "exit" (func (param i32)))
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0")))`,
		[]string{`imports os.exit: imports are allowed only from "fraglab", wasi_snapshot_preview1 and env.abort`}},
	{"unknown-major", `(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v2_0")))`,
		[]string{"ABI      2.0 (fraglab_abi_v2_0; this host implements " + hostABI + ")", "unsupported ABI version 2.0: this host implements " + hostABI}},
	{"no-marker", `(module (memory (export "memory") 1))`,
		[]string{"ABI      none (no version marker)", "no ABI version marker: export an empty function " + newestMarker}},
	{"no-memory", `(module (func (export "fraglab_abi_v1_0")))`,
		[]string{`NOT exported as "memory"`, `the module must export its linear memory as "memory"`}},
	{"unknown-hook", `(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_round") (result i64) (i64.const 0)))`,
		[]string{"UNKNOWN HOOK", "unknown hook export policy_round"}},
	{"init-error", `(module
  (import "fraglab" "error_set" (func $error_set (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "not today")
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_init") (result i64)
    (call $error_set (i32.const 16) (i32.const 9))
    (i64.const -3)))`,
		[]string{"policy_init answered -3", "not today"}},
	{"bad-answer", `(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_round_size") (param i64 i32 i32) (result i64) (i64.const 1000)))`,
		[]string{"smoke replay on the unlimited device: event 0: policy_round_size(", "answered 1000", "FAILED"}},
	{"trap", `(module
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_0"))
  (func (export "policy_split") (param i64 i64 i32 i32 i32 i32) (result i64) (unreachable)))`,
		[]string{"smoke replay on the unlimited device", "policy_split", "unreachable"}},
}

func TestCheckHostileModules(t *testing.T) {
	for _, h := range hostile {
		t.Run(h.name, func(t *testing.T) {
			path := wat2wasm(t, h.name, h.wat)
			rep, err := Check(t.Context(), path, CheckOptions{Events: 200})
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatal("check passed a bad module")
			}
			var text bytes.Buffer
			rep.WriteText(&text)
			for _, want := range h.want {
				if !strings.Contains(text.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, text.String())
				}
			}
			if !strings.Contains(text.String(), "result   FAILED") {
				t.Errorf("no FAILED result:\n%s", text.String())
			}
		})
	}
}

func TestCheckNotWasm(t *testing.T) {
	rep := CheckBytes(t.Context(), "junk.wasm", []byte("hello"), CheckOptions{})
	var text bytes.Buffer
	rep.WriteText(&text)
	if rep.OK() || rep.Wasm || !strings.Contains(text.String(), "not a valid WebAssembly module") {
		t.Errorf("junk:\n%s", text.String())
	}
	if _, err := Check(t.Context(), filepath.Join(t.TempDir(), "missing.wasm"), CheckOptions{}); err == nil {
		t.Error("Check of a missing file: no error")
	}
}

func TestCheckBuiltins(t *testing.T) {
	for _, name := range policies.Names() {
		bin, _ := policies.Builtin(name)
		rep := CheckBytes(t.Context(), name, bin, CheckOptions{Events: 1000})
		var text bytes.Buffer
		rep.WriteText(&text)
		if !rep.OK() || len(rep.Smoke) != 2 || rep.Smoke[0].Metrics == nil || rep.Smoke[1].Metrics.OOMs == 0 {
			t.Errorf("%s:\n%s", name, text.String())
		}
	}
	// A parameter the policy never reads is a problem, as in a run.
	bin, _ := policies.Builtin("default")
	rep := CheckBytes(t.Context(), "default", bin, CheckOptions{Params: map[string]string{"typo": "1"}})
	if rep.OK() || !strings.Contains(strings.Join(rep.Problems, "\n"), "typo") {
		t.Errorf("unread parameter: %q", rep.Problems)
	}
}

func TestGoSkeletonNamedGo(t *testing.T) {
	// "go" is the project name a user gets from ./go; it is no valid
	// module path.
	dir := filepath.Join(t.TempDir(), "go")
	if _, err := New(dir, Go, "", false); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	if !strings.HasPrefix(string(b), "module go-policy\n") {
		t.Errorf("go.mod:\n%s", b)
	}
	toolchainOrSkip(t, Go)
	if _, err := Build(t.Context(), dir, ""); err != nil {
		t.Fatal(err)
	}
}

// A project whose package.json lies in a parent directory (a workspace):
// npm runs there, and the log says so.
func TestASPackageInParent(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "p")
	if _, err := New(dir, AssemblyScript, "p", false); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"package.json", "package-lock.json"} {
		if err := os.Rename(filepath.Join(dir, f), filepath.Join(parent, f)); err != nil {
			t.Fatal(err)
		}
	}
	args := filepath.Join(t.TempDir(), "npm-args")
	t.Setenv("PATH", fakeTools(t, map[string]string{"node": "exit 0", "npm": `echo "$PWD $1" > ` + args + "\nexit 1"}))
	var log bytes.Buffer
	_, err := BuildWith(t.Context(), dir, "", BuildOptions{Log: &log})
	var te *ToolError
	if !errors.As(err, &te) || te.Tool != "npm" {
		t.Fatalf("error %v, want npm's failure", err)
	}
	if b, _ := os.ReadFile(args); strings.TrimSpace(string(b)) != parent+" ci" {
		t.Errorf("npm ran as %q, want in %s", b, parent)
	}
	if !strings.HasPrefix(log.String(), "$ (cd "+parent+" && ") {
		t.Errorf("log %q", log.String())
	}
}
