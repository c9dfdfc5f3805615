package cudadriver

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const examplePath = "testdata/latency-example.json"

func TestLatencyEstimate(t *testing.T) {
	p, err := LoadLatencyProfile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Example {
		t.Fatal("the committed example profile must say it is an example")
	}
	// The example is 20 µs + 1 µs/MiB for alloc, 10 µs + 4 µs/MiB for map.
	tests := []struct {
		op   string
		size int64
		want time.Duration
	}{
		{OpAlloc, 2 * MiB, 22 * time.Microsecond},      // a measured point
		{OpAlloc, 1 * MiB, 22 * time.Microsecond},      // below the first point: its value
		{OpAlloc, 3 * MiB, 23 * time.Microsecond},      // halfway between 2 and 4 MiB
		{OpAlloc, 768 * MiB, 788 * time.Microsecond},   // between 512 MiB and 1 GiB
		{OpAlloc, 2048 * MiB, 2068 * time.Microsecond}, // extrapolated along the last two points
		{OpMap, 6 * MiB, 34 * time.Microsecond},        // between 4 and 8 MiB
		{OpReserve, 64 * MiB, 5 * time.Microsecond},    // flat
		{"nonsense", 64 * MiB, 0},                      // an operation the profile lacks
	}
	for _, tc := range tests {
		if got := p.Estimate(tc.op, tc.size); got != tc.want {
			t.Errorf("Estimate(%s, %d MiB) = %v, want %v", tc.op, tc.size/MiB, got, tc.want)
		}
	}
	var none *LatencyProfile
	if got := none.Estimate(OpAlloc, MiB); got != 0 {
		t.Errorf("nil profile estimates %v", got)
	}
}

func TestLatencyProfileErrors(t *testing.T) {
	tests := []struct{ name, json, want string }{
		{"syntax", `{"format": "fraglab-latency-profile-1",, }`, "byte 40: invalid character"},
		{"format", `{"format": "other", "ops": {"alloc": [{"size": 1, "median_ns": 1, "p90_ns": 1}]}}`, `format "other", expected "fraglab-latency-profile-1"`},
		{"unknown key", `{"format": "fraglab-latency-profile-1", "opz": {}}`, `unknown field "opz"`},
		{"no ops", `{"format": "fraglab-latency-profile-1"}`, "ops: no operation measured"},
		{"unknown op", `{"format": "fraglab-latency-profile-1", "ops": {"malloc": [{"size": 1, "median_ns": 1, "p90_ns": 1}]}}`, "ops.malloc: unknown operation"},
		{"empty op", `{"format": "fraglab-latency-profile-1", "ops": {"map": []}}`, "ops.map: no points"},
		{"size", `{"format": "fraglab-latency-profile-1", "ops": {"map": [{"size": 0, "median_ns": 1, "p90_ns": 1}]}}`, "ops.map[0]: size 0, expected > 0"},
		{"order", `{"format": "fraglab-latency-profile-1", "ops": {"map": [{"size": 4, "median_ns": 1, "p90_ns": 1}, {"size": 2, "median_ns": 1, "p90_ns": 1}]}}`, "ops.map[1]: size 2 after 4, expected increasing sizes"},
		{"p90", `{"format": "fraglab-latency-profile-1", "ops": {"free": [{"size": 4, "median_ns": 5, "p90_ns": 1}]}}`, "ops.free[0]: median_ns 5, p90_ns 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseLatencyProfile([]byte(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := LoadLatencyProfile(filepath.Join("testdata", "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: %v", err)
	}
}

func TestSimTimingsFromProfile(t *testing.T) {
	p, err := LoadLatencyProfile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	run := func(prof *LatencyProfile) Timings {
		s := NewSim(SimOptions{Latency: prof})
		a, _ := s.Alloc(4 * MiB)
		s.Free(a)
		r, _ := s.Reserve(8 * MiB)
		s.Map(r, 4*MiB)
		s.Unmap(r, 4*MiB)
		s.Release(r)
		return s.Timings()
	}
	got := run(p)
	want := Timings{Alloc: 24 * time.Microsecond, Free: 17 * time.Microsecond, Reserve: 5 * time.Microsecond,
		Release: 5 * time.Microsecond, Map: 26 * time.Microsecond, Unmap: 18 * time.Microsecond}
	if got != want {
		t.Errorf("timings %+v, want %+v", got, want)
	}
	if again := run(p); again != got {
		t.Errorf("not deterministic: %+v then %+v", got, again)
	}
	if zero := run(nil); zero.Total() != 0 {
		t.Errorf("no profile: timings %+v, want zero", zero)
	}
}

func TestCalibrateOnSim(t *testing.T) {
	// 12 MiB of capacity: 2, 4 and 8 MiB are measured, 16 MiB is refused.
	s := NewSim(SimOptions{Capacity: 12 * MiB})
	p, err := Calibrate(s, CalibrateOptions{Sizes: CalibrationSizes(2*MiB, 32*MiB), Repetitions: 5})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Note, "stopped at 16777216 bytes") {
		t.Errorf("note %q, want it to say where it stopped", p.Note)
	}
	for _, op := range LatencyOps {
		pts := p.Ops[op]
		if len(pts) != 3 || pts[0].Size != 2*MiB || pts[2].Size != 8*MiB {
			t.Errorf("%s: points %+v, want 2, 4 and 8 MiB", op, pts)
		}
	}
	if s.Used() != 0 {
		t.Errorf("calibration left %d bytes on the device", s.Used())
	}
	// What Calibrate writes, ParseLatencyProfile reads.
	path := filepath.Join(t.TempDir(), "p.json")
	if err := p.Write(path); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadLatencyProfile(path); err != nil {
		t.Errorf("reading a calibrated profile back: %v", err)
	}
	if got := CalibrationSizes(2*MiB, 1024*MiB); len(got) != 10 || got[9] != 1024*MiB {
		t.Errorf("default sizes %v", got)
	}
}

func TestPoint(t *testing.T) {
	var s []time.Duration
	for i := 10; i >= 1; i-- {
		s = append(s, time.Duration(i))
	}
	if p := point(7, s); p.MedianNs != 5 || p.P90Ns != 9 || p.Size != 7 {
		t.Errorf("point = %+v, want median 5 (5.5 truncated), p90 9", p)
	}
}
