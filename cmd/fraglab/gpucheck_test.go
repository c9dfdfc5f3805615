package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// envAsCLI makes the test binary behave as the fraglab binary, so shell
// scripts can be tested against it without building one. This init runs
// after every command file's init (test files come last), when the
// commands are registered.
const envAsCLI = "FRAGLAB_CLI_TEST_AS_FRAGLAB"

func init() {
	if os.Getenv(envAsCLI) == "1" {
		main()
		os.Exit(0)
	}
}

// TestGPUCheckWithoutGPU: scripts/gpu-check.sh runs, reports "no CUDA
// driver" and exits with status 2.
func TestGPUCheckWithoutGPU(t *testing.T) {
	why := noGPU(t)
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cmd := exec.Command("bash", filepath.Join("..", "..", "scripts", "gpu-check.sh"))
	cmd.Env = append(os.Environ(), envAsCLI+"=1", "FRAGLAB="+self, "OUT="+out, "SNAPSHOTS="+t.TempDir())
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want status 2\n%s", err, b)
	}
	if !strings.Contains(string(b), "FAIL  fraglab devices lists no GPU  ("+why+")") {
		t.Errorf("output does not say why:\n%s", b)
	}
	summary, _ := os.ReadFile(filepath.Join(out, "summary.txt"))
	if !strings.Contains(string(summary), "no CUDA driver: ") {
		t.Errorf("summary.txt:\n%s", summary)
	}
}
