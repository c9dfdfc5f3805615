package wasm_test

import (
	"math"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/sdk/abi"
)

// TestStitchKeys: ABI 1.5's config key 5 and stat keys 20 and 21 answer
// only modules that declare 1.5, and such a module's stitches run.
func TestStitchKeys(t *testing.T) {
	in := instantiate(t, "stitch", wasm.Config{})
	for name, want := range map[string]int64{"g_keep": 1, "g_keep2": abi.Error, "g_stat20": 0, "g_stat21": 0} {
		if got := global(t, in, name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	if !in.StitchKeep() {
		t.Error("StitchKeep() = false after config(5, 1)")
	}
	// Two 4 MiB blocks with a 4 MiB one between, the outer ones freed: a
	// 6 MiB request stitches their 8 MiB (the segment is 12 MiB, the cap
	// 14 MiB: growing by 6 MiB would not fit).
	res, err := replayJSONL(t, "stitch", 14<<20,
		`{"op":"alloc","id":0,"size":4194304}`, `{"op":"alloc","id":1,"size":4194304}`, `{"op":"alloc","id":2,"size":4194304}`,
		`{"op":"free","id":0}`, `{"op":"free","id":2}`, `{"op":"alloc","id":3,"size":6291456}`)
	if err != nil {
		t.Fatal(err)
	}
	if res.Metrics.OOMs != 0 || res.Metrics.Stitches != 1 || res.Metrics.PeakStitched != 6<<20 || res.Metrics.PeakReserved != 12<<20 {
		t.Errorf("metrics %+v: want no OOM, one stitch of 6 MiB, peak reserved 12 MiB", res.Metrics)
	}

	old := instantiate(t, "stitch_v1_4", wasm.Config{})
	if got := global(t, old, "g_keep"); got != abi.Error || old.StitchKeep() {
		t.Errorf("1.4 module: config(5, 1) = %d, StitchKeep %v; want -3, false", got, old.StitchKeep())
	}
	if got := global(t, old, "g_stat20"); got != math.MinInt64 {
		t.Errorf("1.4 module: stat(20) = %d, want unknown", got)
	}
	_, err = replayJSONL(t, "stitch_v1_4", 0, `{"op":"alloc","id":0,"size":4194304}`)
	if err == nil || !strings.Contains(err.Error(), "event 0: policy_release(phase=0, rounded=4194304, pool=1, stream=0, attempt=0) answered 4: unknown release action") {
		t.Errorf("1.4 module answering 4: %v", err)
	}
}
