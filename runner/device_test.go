package runner

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/internal/runrecord"
)

// TestExecuteDevice: a run records its device, its estimated driver time
// on sim with a latency profile, and canary counts; a cuda run without a
// driver fails saying so.
func TestExecuteDevice(t *testing.T) {
	trace := filepath.Join("..", "examples", "traces", "devlog-small-then-large.jsonl")
	profile := filepath.Join("..", "cudadriver", "testdata", "latency-example.json")
	rec := Execute(context.Background(), &Spec{ID: "x", Trace: trace, Policy: "pytorch", Label: "pytorch",
		LatencyProfile: profile, Canary: true})
	if rec.Status != runrecord.StatusOK {
		t.Fatalf("run failed: %s", rec.Error)
	}
	d := rec.DeviceInfo
	if rec.Device != "sim" || d == nil || d.Device.Backend != "sim" || d.Device.LatencyProfile != "example" ||
		d.DriverSecondsEst == nil || *d.DriverSecondsEst <= 0 || d.DriverSeconds != nil || d.Canary == nil || d.Canary.Checks != 12 {
		t.Fatalf("record device %q, info %+v", rec.Device, d)
	}

	_, noDriver := cudadriver.CUDADeviceCount()
	if noDriver == nil {
		t.Skip("a CUDA driver is present: the rest checks the behaviour without one")
	}
	rec = Execute(context.Background(), &Spec{ID: "y", Trace: trace, Policy: "pytorch", Label: "pytorch", DeviceKind: "cuda:0"})
	if rec.Status != runrecord.StatusFailed || rec.Error != noDriver.Error() || !strings.HasPrefix(rec.Error, "no CUDA driver: ") || rec.Device != "cuda:0" {
		t.Errorf("cuda run without a driver: %s %q %q", rec.Status, rec.Error, rec.Device)
	}
	rec = Execute(context.Background(), &Spec{ID: "z", Trace: trace, Policy: "pytorch", Label: "pytorch", DeviceKind: "auto"})
	if rec.Status != runrecord.StatusOK || rec.Device != "sim" || !strings.HasPrefix(rec.DeviceInfo.Device.Note, "device auto: sim (no CUDA driver: ") {
		t.Errorf("auto without a GPU: %s %q %+v", rec.Status, rec.Device, rec.DeviceInfo)
	}
}
