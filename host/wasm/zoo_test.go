package wasm_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/sdk/abi"
)

// The hostile-module zoo: modules that misbehave in every way a policy
// can, each with the exact report the host gives. The rest of the zoo is
// in run_test.go (out-of-range answers, among them the split and pick
// answers that would overlap live blocks; traps), load_test.go (start-up
// traps, imports the host does not provide) and sandbox_test.go (memory
// grown to the cap, fast-mode hangs: exit status 3).

// TestHangEveryHookSafeMode: a hook of each kind that never returns is
// stopped in safe mode (replay --safe, wasm.Config.Interruptible) and
// reported with the event, the hook and its arguments.
func TestHangEveryHookSafeMode(t *testing.T) {
	// alloc 1000 (event 0), free it (event 1: merge), alloc 1000 again
	// from the cache (event 2: search order, pick).
	events := []string{
		`{"op":"alloc","id":0,"size":1000}`,
		`{"op":"free","id":0}`,
		`{"op":"alloc","id":1,"size":1000}`,
	}
	const timeout = 100 * time.Millisecond
	for _, tc := range []struct {
		hook  abi.Hook
		event int64
		args  []int64
		call  string
	}{
		{abi.HookRoundSize, 0, []int64{1000, 0, 0}, "policy_round_size(size=1000, stream=0, tag=0)"},
		{abi.HookChoosePool, 0, []int64{1024, 0, 0}, "policy_choose_pool(rounded=1024, stream=0, tag=0)"},
		{abi.HookSearchOrder, 2, []int64{1024, 0, 0, 0}, "policy_search_order(rounded=1024, pool=0, stream=0, tag=0)"},
		{abi.HookPickBlock, 2, []int64{1, 1024, 0, 0, 0}, "policy_pick_block(n=1, rounded=1024, pool=0, stream=0, tag=0)"},
		{abi.HookSplit, 0, []int64{2 * MiB, 1024, 0, 0, abi.FlagWholeSegment, 0}, "policy_split(block_size=2097152, rounded=1024, pool=0, stream=0, flags=2, tag=0)"},
		{abi.HookMerge, 1, []int64{1024, 2*MiB - 1024, 0, abi.SideNext}, "policy_merge(block_size=1024, neighbour_size=2096128, pool=0, side=1)"},
		{abi.HookSegmentMode, 0, []int64{0, 0}, "policy_segment_mode(pool=0, stream=0)"},
		{abi.HookSegmentSize, 0, []int64{1024, 0, 0, 0}, "policy_segment_size(rounded=1024, pool=0, stream=0, tag=0)"},
		{abi.HookExpandSize, 0, []int64{1024, 1024, 0, 0, 2 * MiB}, "policy_expand_size(missing=1024, rounded=1024, pool=0, stream=0, page=2097152)"},
		{abi.HookRelease, 0, []int64{0, 1024, 0, 0, 0}, "policy_release(phase=0, rounded=1024, pool=0, stream=0, attempt=0)"},
		{abi.HookObserve, 0, []int64{abi.ObserveAlloc, 0, 1024, 0}, "policy_observe(kind=0, id=0, size=1024, tag=0)"},
	} {
		t.Run(tc.hook.String(), func(t *testing.T) {
			start := time.Now()
			_, err := replay.Run(context.Background(), jsonl(events...), compile(t, "spin_hook"),
				cudadriver.NewSim(cudadriver.SimOptions{}), replay.Options{Safe: true, HangTimeout: timeout,
					Params: map[string]string{"hook": fmt.Sprint(int(tc.hook))}})
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("stopping the hook took %v", took)
			}
			var pe *host.PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("got %T %v, want a *host.PolicyError", err, err)
			}
			if pe.Event != tc.event || pe.Hook != tc.hook || !slices.Equal(pe.Args, tc.args) {
				t.Errorf("PolicyError{Event %d, Hook %v, Args %v}, want {%d, %v, %v}", pe.Event, pe.Hook, pe.Args, tc.event, tc.hook, tc.args)
			}
			want := fmt.Sprintf("event %d: %s failed: the hook did not return within 100ms and was stopped: module closed with context canceled", tc.event, tc.call)
			if got := err.Error(); got != want {
				t.Errorf("message\n\t%s\nwant\n\t%s", got, want)
			}
		})
	}
}
