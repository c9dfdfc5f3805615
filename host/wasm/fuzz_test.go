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
