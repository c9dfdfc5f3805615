//go:build cgo && linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/internal/fakecuda"
)

// TestGPUCheckOnFakeDriver runs scripts/gpu-check.sh end to end with the
// fraglab binary (this test binary) loading internal/fakecuda instead of
// libcuda.so.1: devices, sim-vs-cuda driver logs on two snapshots (classic
// and expandable segments) with canary mode, calibrate, the estimate next
// to the measurement. Only NVML (absent) and the PyTorch capture (skipped
// without torch) are not exercised. The fake checks how it is called; it
// is not a GPU, so this proves the plumbing and the script, not CUDA.
func TestGPUCheckOnFakeDriver(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	for _, tool := range []string{"bash", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	lib, err := fakecuda.Build(t.TempDir())
	if err != nil {
		t.Skip(err)
	}
	snaps := t.TempDir()
	for policy, name := range map[string]string{"pytorch": "classic", "pytorch-expandable": "expandable"} {
		if _, err := fraglab(t, "replay", "--trace", smallThenLarge, "--policy", policy,
			"--snapshot-out", filepath.Join(snaps, name+".pickle")); err != nil {
			t.Fatal(err)
		}
	}
	self, _ := os.Executable()
	out := t.TempDir()
	cmd := exec.Command("bash", filepath.Join("..", "..", "scripts", "gpu-check.sh"))
	cmd.Env = append(os.Environ(), envAsCLI+"=1", "FRAGLAB="+self, "OUT="+out, "SNAPSHOTS="+snaps,
		cudadriver.LibCUDAEnv+"="+lib, "FAKECUDA_TOTAL=2147483648",
		"CALIBRATE_ARGS=--max 64MiB --repetitions 5")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gpu-check on the fake driver: %v\n%s", err, b)
	}
	for _, want := range []string{
		"PASS  fraglab devices lists a GPU",
		"PASS  classic: sim and cuda:0 driver logs  (identical apart from addresses (",
		"PASS  expandable: sim and cuda:0 driver logs  (identical apart from addresses (",
		"PASS  fraglab calibrate",
		"on sim, measured ",
		"memory_viz opens --snapshot-out", // SKIP without torch, else PASS
		"gpu-check: all passed",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("output lacks %q:\n%s", want, b)
		}
	}
	info, _ := os.ReadFile(filepath.Join(out, "replay", "classic", "cuda.device.json"))
	if !strings.Contains(string(info), `"backend": "cuda"`) || !strings.Contains(string(info), `"driver_seconds":`) ||
		!strings.Contains(string(info), `"nvml_error": "NVML unavailable: `) {
		t.Errorf("cuda device report:\n%s", info)
	}
}
