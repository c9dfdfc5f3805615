package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/internal/runrecord"
)

const exampleProfile = "../../cudadriver/testdata/latency-example.json"

// noGPU skips a test meant for machines without a CUDA driver.
func noGPU(t *testing.T) string {
	t.Helper()
	_, err := cudadriver.CUDADeviceCount()
	if err == nil {
		t.Skip("a CUDA driver is present: this test checks the behaviour without one")
	}
	return err.Error()
}

func TestDevicesWithoutGPU(t *testing.T) {
	why := noGPU(t)
	out, err := fraglab(t, "devices")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "sim ") || !strings.Contains(out, "no GPU listed: "+why) || !strings.HasPrefix(why, "no CUDA driver: ") {
		t.Errorf("devices:\n%s", out)
	}
	out, err = fraglab(t, "devices", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var l deviceList
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatal(err)
	}
	if len(l.Devices) != 1 || l.Devices[0].Device != "sim" || l.NoCUDA != why {
		t.Errorf("devices --json: %+v", l)
	}
}

func TestReplayDeviceSelection(t *testing.T) {
	why := noGPU(t)
	info := filepath.Join(t.TempDir(), "device.json")
	out, err := fraglab(t, "replay", "--trace", smallThenLarge, "--device", "auto", "--device-info", info)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "device   sim, capacity unlimited") {
		t.Errorf("auto without a GPU should replay on sim:\n%s", out)
	}
	var rep struct {
		Device cudadriver.Description `json:"device"`
	}
	b, _ := os.ReadFile(info)
	if err := json.Unmarshal(b, &rep); err != nil || rep.Device.Backend != "sim" || rep.Device.Note != "device auto: sim ("+why+")" {
		t.Errorf("--device-info: %v\n%s", err, b)
	}
	for _, d := range []string{"cuda", "cuda:2"} {
		if _, err := fraglab(t, "replay", "--trace", smallThenLarge, "--device", d); err == nil || err.Error() != why {
			t.Errorf("--device %s: %v, want %q", d, err, why)
		}
	}
	if _, err := fraglab(t, "calibrate", "-o", filepath.Join(t.TempDir(), "p.json")); err == nil || err.Error() != why {
		t.Errorf("calibrate: %v, want %q", err, why)
	}
}

func TestReplayDeviceFlagErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--device", "gpu"}, `--device "gpu": expected sim, cuda, cuda:N or auto`},
		{[]string{"--device", "0"}, "a snapshot device applies to PyTorch snapshots (.pickle), not"},
		{[]string{"--snapshot-device", "1", "--device", "2"}, "--device 2 and --snapshot-device 1 disagree"},
		{[]string{"--latency-profile", "nope.json"}, "latency profile: open nope.json"},
		{[]string{"--latency-profile", smallThenLarge}, "latency profile ../../examples/traces/devlog-small-then-large.jsonl: "},
	}
	for _, c := range cases {
		_, err := fraglab(t, append([]string{"replay", "--trace", smallThenLarge}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("replay %s: %v, want %q", strings.Join(c.args, " "), err, c.want)
		}
	}
	if _, err := fraglab(t, "calibrate", "--device", "sim", "-o", "x.json"); err == nil || !strings.Contains(err.Error(), "calibrate measures a GPU") {
		t.Errorf("calibrate --device sim: %v", err)
	}
}

func TestReplayCanaryAndLatencyProfile(t *testing.T) {
	info := filepath.Join(t.TempDir(), "device.json")
	out, err := fraglab(t, "replay", "--trace", smallThenLarge, "--policy", "pytorch-expandable", "--canary",
		"--latency-profile", exampleProfile, "--device-info", info)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"driver_seconds_est ", "estimated from the latency profile of example (", "map ", "canary   ", "no block was overwritten while live"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	var rep map[string]any
	b, _ := os.ReadFile(info)
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	est, _ := rep["driver_seconds_est"].(float64)
	canary, _ := rep["canary"].(map[string]any)
	if est <= 0 || rep["driver_seconds"] != nil || canary["fills"] != float64(12) {
		t.Errorf("device info: %s", b)
	}
	// --json keeps exactly its metrics, canary or not.
	out, err = fraglab(t, "replay", "--trace", smallThenLarge, "--canary", "--latency-profile", exampleProfile, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil || len(m) != 16 {
		t.Errorf("--json with --canary: %d keys, %v\n%s", len(m), err, out)
	}
}

// TestRunOnAutoDevice: an experiment with device kind auto runs (on sim
// here), one run at a time, and its records carry the device report.
func TestRunOnAutoDevice(t *testing.T) {
	why := noGPU(t)
	dir := t.TempDir()
	trace, _ := filepath.Abs(smallThenLarge)
	profile, _ := filepath.Abs(exampleProfile)
	yaml := "name: auto\ndevice:\n  kind: auto\n  capacity: 1GiB\n  canary: true\n  latency_profile: " + profile +
		"\nworkloads:\n  - trace: " + trace + "\npolicies:\n  - policy: pytorch\n"
	exp := filepath.Join(dir, "auto.yaml")
	if err := os.WriteFile(exp, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := fraglab(t, "run", exp, "--out", filepath.Join(dir, "out")); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	recs, err := runrecord.ReadDir(filepath.Join(dir, "out", "runs"))
	if err != nil || len(recs) != 1 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	r := recs[0]
	d := r.DeviceInfo
	if r.Device != "sim" || d == nil || d.Device.Note != "device auto: sim ("+why+")" || d.Device.Capacity != 1<<30 ||
		d.DriverSecondsEst == nil || d.Canary == nil || d.Canary.Fills != 12 {
		t.Errorf("record: device %q, info %+v", r.Device, d)
	}
}
