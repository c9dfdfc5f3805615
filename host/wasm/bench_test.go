package wasm_test

import (
	"testing"

	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/sdk/abi"
)

// candidates8 are eight free blocks in descending address order, so
// bench_pick.wat (lowest address first) scans all and picks the last.
func candidates8() []abi.Candidate {
	c := make([]abi.Candidate, 8)
	for i := range c {
		c[i] = abi.Candidate{
			Size: int64(i+1) * 4096, Addr: 1<<32 - uint64(i)<<20, SegmentAddr: 1 << 32, SegmentSize: 20 << 20,
			ExpandableSize: int64(i+1) * 4096, Stream: 0,
		}
	}
	return c
}

// TestHookCallAllocs: a hook call on the hot path allocates nothing
// (CallWithStack on the instance's own stack; candidates written in place).
func TestHookCallAllocs(t *testing.T) {
	round := instantiate(t, "bench_round", wasm.Config{})
	if n := testing.AllocsPerRun(1000, func() {
		if r, err := round.RoundSize(1000, 0, 0); r != 1024 || err != nil {
			t.Fatalf("RoundSize(1000) = %d, %v", r, err)
		}
	}); n != 0 {
		t.Errorf("RoundSize: %v allocations per call, want 0", n)
	}
	pick := instantiate(t, "bench_pick", wasm.Config{})
	c := candidates8()
	if n := testing.AllocsPerRun(1000, func() {
		if r, err := pick.PickBlock(c, 4096, 1, 0, 0); r != 7 || err != nil {
			t.Fatalf("PickBlock = %d, %v", r, err)
		}
	}); n != 0 {
		t.Errorf("PickBlock: %v allocations per call, want 0", n)
	}
}

// BenchmarkHookCall: one policy_round_size call of a C-like module through
// Instance.RoundSize (the CallWithStack path every hook takes).
func BenchmarkHookCall(b *testing.B) {
	in := instantiate(b, "bench_round", wasm.Config{})
	b.ReportAllocs()
	for b.Loop() {
		if r, err := in.RoundSize(1000, 0, 0); r != 1024 || err != nil {
			b.Fatalf("RoundSize(1000) = %d, %v", r, err)
		}
	}
}

// BenchmarkPickBlock8: policy_pick_block with 8 candidates: the host
// writes 8 records into the scratch buffer and the guest scans them.
func BenchmarkPickBlock8(b *testing.B) {
	in := instantiate(b, "bench_pick", wasm.Config{})
	c := candidates8()
	b.ReportAllocs()
	for b.Loop() {
		if r, err := in.PickBlock(c, 4096, 1, 0, 0); r != 7 || err != nil {
			b.Fatalf("PickBlock = %d, %v", r, err)
		}
	}
}

// BenchmarkHookCallSafe: the same call in safe mode (Config.Interruptible),
// where wazero watches a context on every call so a hung hook can be
// stopped. Compare with BenchmarkHookCall for the price of safe mode.
func BenchmarkHookCallSafe(b *testing.B) {
	in := instantiate(b, "bench_round", wasm.Config{Interruptible: true})
	b.ReportAllocs()
	for b.Loop() {
		if r, err := in.RoundSize(1000, 0, 0); r != 1024 || err != nil {
			b.Fatalf("RoundSize(1000) = %d, %v", r, err)
		}
	}
}
