package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/policies"
)

func TestPolicyHelp(t *testing.T) {
	out, err := fraglab(t, "policy", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"new", "build", "check", "Examples:"} {
		if !strings.Contains(out, want) {
			t.Errorf("policy --help lacks %q:\n%s", want, out)
		}
	}
	for _, sub := range []string{"new", "build", "check"} {
		out, err := fraglab(t, "policy", sub, "--help")
		if err != nil || !strings.Contains(out, "Examples:\n  fraglab policy "+sub) {
			t.Errorf("policy %s --help: %v\n%s", sub, err, out)
		}
	}
}

// TestPolicyNewBuildCheckReplay follows a new user, for the languages whose
// toolchain is here (the policytool tests cover them all).
func TestPolicyNewBuildCheckReplay(t *testing.T) {
	for _, c := range []struct{ lang, tool string }{{"wat", "wat2wasm"}, {"c", "clang"}} {
		t.Run(c.lang, func(t *testing.T) {
			if _, err := exec.LookPath(c.tool); err != nil {
				t.Skipf("%s not found: skipping the %s skeleton (apt-get install clang lld wabt)", c.tool, c.lang)
			}
			dir := filepath.Join(t.TempDir(), "p-"+c.lang)
			wasmPath := filepath.Join(t.TempDir(), "p.wasm")
			out, err := fraglab(t, "policy", "new", dir, "--lang", c.lang)
			if err != nil || !strings.Contains(out, "policy build "+dir) {
				t.Fatalf("new: %v\n%s", err, out)
			}
			out, err = fraglab(t, "policy", "build", dir, "-o", wasmPath)
			if err != nil || !strings.Contains(out, "built "+wasmPath) || !strings.Contains(out, "$ ") {
				t.Fatalf("build: %v\n%s", err, out)
			}
			out, err = fraglab(t, "policy", "check", wasmPath, "--param", "round_kib=16", "--events", "500")
			if err != nil || !strings.Contains(out, "result   OK") || !strings.Contains(out, "policy_round_size") {
				t.Fatalf("check: %v\n%s", err, out)
			}
			out, err = fraglab(t, "replay", "--trace", smallThenLarge, "--policy", wasmPath, "--json")
			if err != nil || !strings.Contains(out, `"peak_reserved":268435456`) {
				t.Fatalf("replay: %v\n%s", err, out)
			}
		})
	}
}

func TestPolicyNewErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := fraglab(t, "policy", "new", dir); err == nil || !strings.Contains(err.Error(), "--lang is required") {
		t.Errorf("no --lang: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "x"), nil, 0o644)
	if _, err := fraglab(t, "policy", "new", dir, "--lang", "c"); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("non-empty dir: %v", err)
	}
	if _, err := fraglab(t, "policy", "new", dir, "--lang", "c", "--force"); err != nil {
		t.Errorf("--force: %v", err)
	}
}

func TestPolicyBuildMissingToolchain(t *testing.T) {
	dir := t.TempDir()
	if _, err := fraglab(t, "policy", "new", dir, "--lang", "wat", "--force"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", "")
	_, err := fraglab(t, "policy", "build", dir, "-o", filepath.Join(dir, "p.wasm"))
	if err == nil || err.Error() != "wat2wasm not found: install it with apt-get install wabt" {
		t.Errorf("build without wat2wasm: %v", err)
	}
}

func TestPolicyCheckExitStatus(t *testing.T) {
	good := filepath.Join(t.TempDir(), "pytorch.wasm")
	bin, _ := policies.Builtin("pytorch")
	os.WriteFile(good, bin, 0o644)
	out, err := fraglab(t, "policy", "check", good, "--events", "500")
	if err != nil || !strings.Contains(out, "result   OK") {
		t.Errorf("check pytorch.wasm: %v\n%s", err, out)
	}
	out, err = fraglab(t, "policy", "check", "default", "--events", "500")
	if err != nil || !strings.Contains(out, "module   default") || !strings.Contains(out, "result   OK") {
		t.Errorf("check default: %v\n%s", err, out)
	}
	if _, err := fraglab(t, "policy", "check", "nosuch"); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("check nosuch: %v", err)
	}

	tool, lerr := exec.LookPath("wat2wasm")
	if lerr != nil {
		t.Skip("wat2wasm not found: apt-get install wabt")
	}
	src := filepath.Join(t.TempDir(), "bad.wat")
	os.WriteFile(src, []byte(`(module
  (import "env" "clock" (func (result i64)))
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_1"))
  (func (export "policy_split") (param i64 i64 i32) (result i64) (i64.const -1)))`), 0o644)
	bad := filepath.Join(t.TempDir(), "bad.wasm")
	if b, err := exec.Command(tool, src, "-o", bad).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	out, err = fraglab(t, "policy", "check", bad)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("check of a bad module: error %v, want exit status 1\n%s", err, out)
	}
	for _, want := range []string{
		"hook policy_split has signature (i64, i64, i32) -> (i64), expected (i64, i64, i32, i32, i32, i32) -> (i64)",
		"env.clock", "NOT ALLOWED", "result   FAILED: 2 problems",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	out, err = fraglab(t, "policy", "check", bad, "--json")
	var rep struct {
		Problems []string `json:"problems"`
		Imports  []struct {
			Module, Name string
			Allowed      bool
		} `json:"imports"`
	}
	if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil || !errors.As(err, &ee) {
		t.Fatalf("--json: %v, %v\n%s", jerr, err, out)
	}
	if len(rep.Problems) != 2 || len(rep.Imports) != 1 || rep.Imports[0].Allowed {
		t.Errorf("--json report: %+v", rep)
	}
}
