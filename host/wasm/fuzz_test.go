package wasm_test

import (
	"context"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/policies"
	"github.com/fraglab/fraglab/replay"
)

// FuzzCompile: any bytes offered as a policy module are refused with an
// error or load and run a small replay; the host never panics. The corpus
// is the built-in policies, which mutations turn into near-valid modules.
func FuzzCompile(f *testing.F) {
	for _, name := range policies.Names() {
		bin, _ := policies.Builtin(name)
		f.Add(bin)
	}
	f.Fuzz(func(t *testing.T, bin []byte) {
		ctx := context.Background()
		mod, err := wasm.Compile(ctx, "fuzz", bin)
		if err != nil {
			return
		}
		// A mutated module may loop forever: the safe mode's watchdog
		// stops it, and the run fails with an error.
		_, _ = replay.Run(ctx, jsonl(threeAllocs...), mod, cudadriver.NewSim(cudadriver.SimOptions{}),
			replay.Options{Safe: true, HangTimeout: 200e6, MemoryLimitPages: 64})
	})
}

// FuzzPytorchKnobs: any text for the pytorch policy's knobs is accepted or
// refused at start-up with a LoadError, never a trap that escapes, a hang
// or a panic; an accepted setting then serves a small replay.
func FuzzPytorchKnobs(f *testing.F) {
	for _, seed := range [][2]string{
		{"roundup_power2_divisions", "[256:1,512:2,>:4]"},
		{"roundup_power2_divisions", "4"},
		{"max_split_size_mb", "unlimited"},
		{"garbage_collection_threshold", "0.8"},
		{"large_segment_size_mb", "40"},
		{"expandable_segments", "True"},
	} {
		f.Add(seed[0], seed[1])
	}
	bin, _ := policies.Builtin("pytorch")
	mod, err := wasm.Compile(context.Background(), "pytorch", bin)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		_, _ = replay.Run(context.Background(), jsonl(threeAllocs...), mod, cudadriver.NewSim(cudadriver.SimOptions{}),
			replay.Options{Params: map[string]string{key: value}, Safe: true, HangTimeout: 200e6})
	})
}
