package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/fraglab/fraglab/host/wasm"
)

// TestImplementedHooksOffline: a module with the planning hooks (ABI 1.5)
// lists policy_scratch, policy_plan and policy_place and is offline; one
// whose hook mask leaves them off is neither.
func TestImplementedHooksOffline(t *testing.T) {
	tool, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Skip("wat2wasm not found: apt-get install wabt")
	}
	const planner = `(module
  (import "fraglab" "config" (func $config (param i32 i64) (result i64)))
  (memory (export "memory") 1)
  (func (export "fraglab_abi_v1_5"))
  (func (export "policy_init") (result i64) MASK (i64.const 0))
  (func (export "policy_scratch") (param i32) (result i32) (i32.const 1024))
  (func (export "policy_plan") (param i32 i32) (result i64) (i64.const 0))
  (func (export "policy_place") (param i64 i64 i32 i32 i32) (result i64) (i64.const -1)))`
	for _, c := range []struct {
		name, mask string
		want       []string
		offline    bool
	}{
		{"planner", "", []string{"policy_init", "policy_scratch", "policy_plan", "policy_place"}, true},
		{"masked off", "(drop (call $config (i32.const 2) (i64.const 1)))", []string{"policy_init"}, false},
	} {
		dir := t.TempDir()
		src, bin := filepath.Join(dir, "p.wat"), filepath.Join(dir, "p.wasm")
		os.WriteFile(src, []byte(strings.Replace(planner, "MASK", c.mask, 1)), 0o644)
		if b, err := exec.Command(tool, src, "-o", bin).CombinedOutput(); err != nil {
			t.Fatalf("wat2wasm: %v\n%s", err, b)
		}
		code, _ := os.ReadFile(bin)
		m, err := wasm.Compile(t.Context(), c.name, code)
		if err != nil {
			t.Fatal(err)
		}
		cmd := &cobra.Command{}
		cmd.SetContext(t.Context())
		names, offline, err := implementedHooks(cmd, m)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(names, c.want) || offline != c.offline {
			t.Errorf("%s: hooks %v offline %v, want %v %v", c.name, names, offline, c.want, c.offline)
		}
	}
}
