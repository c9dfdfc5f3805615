package experiment

import (
	"path/filepath"
	"reflect"
	"testing"
)

func TestDeviceKeys(t *testing.T) {
	tests := []struct {
		file string
		want Device
	}{
		{"gpu.yaml", Device{Kind: "cuda:1", Canary: true, Capacities: []int64{8 << 30}}},
		{"profile.yaml", Device{Kind: "auto", Capacities: []int64{0},
			LatencyProfile: filepath.Join("..", "cudadriver", "testdata", "latency-example.json")}},
		{"minimal.yaml", Device{Kind: "sim", Capacities: []int64{0}}},
	}
	for _, tc := range tests {
		e, err := Load(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(e.Device, tc.want) {
			t.Errorf("%s: device %+v, want %+v", tc.file, e.Device, tc.want)
		}
	}
}

// TestDeviceKindEntersRunID: a run on a GPU is not the run on sim (its
// record must not be skipped as already done), and sim IDs are unchanged
// by the device key's existence.
func TestDeviceKindEntersRunID(t *testing.T) {
	w := &Workload{Trace: "t.jsonl", digest: "d"}
	p := &Policy{Policy: "pytorch", digest: "m"}
	sim := runID(w, 0, p, nil, 0, 1, "sim")
	if runID(w, 0, p, nil, 0, 1, "") != sim {
		t.Error("an empty kind and sim give different IDs")
	}
	seen := map[string]string{sim: "sim"}
	for _, k := range []string{"cuda:0", "cuda:1", "auto"} {
		id := runID(w, 0, p, nil, 0, 1, k)
		if other, dup := seen[id]; dup {
			t.Errorf("%s and %s share run ID %s", k, other, id)
		}
		seen[id] = k
	}
}
