package policytool

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// toolchainOrSkip skips the test when lang's toolchain is missing, saying
// what to install (the CI installs every one).
func toolchainOrSkip(t *testing.T, lang string) {
	t.Helper()
	p := &Project{Lang: lang, Dir: t.TempDir()}
	if lang == AssemblyScript {
		if _, err := exec.LookPath("node"); err != nil {
			t.Skip("node not found: apt-get install nodejs npm (AssemblyScript runs on Node.js)")
		}
		return // asc comes from npm install, per project
	}
	if _, _, err := findTools(t.Context(), p); err != nil {
		t.Skipf("skipping %s: %v", LangTitle(lang), err)
	}
}

// wat2wasm assembles WAT text into a module, skipping the test without
// wabt.
func wat2wasm(t *testing.T, name, text string) string {
	t.Helper()
	tool, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Skip("wat2wasm not found: apt-get install wabt")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, name+".wat")
	if err := os.WriteFile(src, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name+".wasm")
	if b, err := exec.Command(tool, src, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm %s: %v\n%s", name, err, b)
	}
	return out
}

// prepareAS gives an AssemblyScript project its compiler: a link to the
// SDK's node_modules when it has one (offline), else npm install. It skips
// the test when neither works.
func prepareAS(t *testing.T, dir string) {
	t.Helper()
	sdkModules, err := filepath.Abs("../sdk/assemblyscript/node_modules")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(sdkModules, ".bin", "asc")); err == nil {
		if err := os.Symlink(sdkModules, filepath.Join(dir, "node_modules")); err != nil {
			t.Fatal(err)
		}
		return
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm not found: apt-get install nodejs npm (AssemblyScript comes from npm)")
	}
	cmd := exec.Command(npm, "install", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("npm install failed (no registry?), skipping AssemblyScript: %v\n%s", err, b)
	}
}

// asToolchainError asserts err is a *ToolchainError and returns it.
func asToolchainError(t *testing.T, err error) *ToolchainError {
	t.Helper()
	var te *ToolchainError
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T), want a *ToolchainError", err, err)
	}
	return te
}
