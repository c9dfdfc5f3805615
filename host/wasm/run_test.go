package wasm_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/internal/synth"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/sdk/abi"
	"github.com/fraglab/fraglab/trace"
)

// Small traces of the run-time tests.
var (
	// one 1000-byte allocation: round, pool, release(0), segment mode and
	// size, split of the new 2 MiB segment, observe.
	traceOne = []string{`{"op":"alloc","id":0,"size":1000}`}
	// allocate, free (merge with the rest of the segment), allocate again
	// from the cache (search order, pick).
	traceReuse = []string{
		`{"op":"alloc","id":0,"size":1000}`,
		`{"op":"free","id":0}`,
		`{"op":"alloc","id":1,"size":1000}`,
	}
)

// policyError asserts err is a *host.PolicyError and returns it.
func policyError(t *testing.T, err error) *host.PolicyError {
	t.Helper()
	var pe *host.PolicyError
	if !errors.As(err, &pe) {
		t.Fatalf("got %T %v, want a *host.PolicyError", err, err)
	}
	return pe
}

// TestInvalidAnswers: every answer out of a hook's range (ABI §2, §3)
// stops the run with a *host.PolicyError naming the event, the hook, its
// arguments and the answer.
func TestInvalidAnswers(t *testing.T) {
	const (
		negative     = "negative answers must be DEFER (-1) or ERROR (-3)"
		negativePick = "negative answers must be DEFER (-1), NONE (-2) or ERROR (-3)"
	)
	for _, tc := range []struct {
		fixture  string
		capacity int64
		events   []string
		event    int64
		hook     abi.Hook
		args     []int64
		answer   int64
		msg      string // the whole message
	}{
		{"answer_round_below", 0, []string{
			`{"op":"alloc","id":0,"size":512}`,
			`{"op":"free","id":0}`,
			`{"op":"alloc","id":1,"size":1000}`,
		}, 2, abi.HookRoundSize, []int64{1000, 0, 0}, 512,
			"event 2: policy_round_size(size=1000, stream=0, tag=0) answered 512: the rounded size must be ≥ the request, a multiple of 512 and ≤ 2^48"},
		{"answer_round_unaligned", 0, traceOne, 0, abi.HookRoundSize, []int64{1000, 0, 0}, 1000,
			"event 0: policy_round_size(size=1000, stream=0, tag=0) answered 1000: the rounded size must be ≥ the request, a multiple of 512 and ≤ 2^48"},
		{"answer_round_huge", 0, traceOne, 0, abi.HookRoundSize, []int64{1000, 0, 0}, 1<<48 + 512,
			"event 0: policy_round_size(size=1000, stream=0, tag=0) answered 281474976711168: the rounded size must be ≥ the request, a multiple of 512 and ≤ 2^48"},
		{"answer_round_negative", 0, traceOne, 0, abi.HookRoundSize, []int64{1000, 0, 0}, -7,
			"event 0: policy_round_size(size=1000, stream=0, tag=0) answered -7: " + negative},
		{"answer_round_none", 0, traceOne, 0, abi.HookRoundSize, []int64{1000, 0, 0}, abi.None,
			"event 0: policy_round_size(size=1000, stream=0, tag=0) answered -2: " + negative},
		{"answer_pool_8", 0, traceOne, 0, abi.HookChoosePool, []int64{1024, 0, 0}, 8,
			"event 0: policy_choose_pool(rounded=1024, stream=0, tag=0) answered 8: pool ids are 0..7"},
		{"answer_order_3", 0, traceReuse, 2, abi.HookSearchOrder, []int64{1024, 0, 0, 0}, 3,
			"event 2: policy_search_order(rounded=1024, pool=0, stream=0, tag=0) answered 3: search orders are 0 (best fit), 1 (address) and 2 (largest first)"},
		{"answer_pick_n", 0, traceReuse, 2, abi.HookPickBlock, []int64{1, 1024, 0, 0, 0}, 1,
			"event 2: policy_pick_block(n=1, rounded=1024, pool=0, stream=0, tag=0) answered 1: the answer must be a candidate index in [0, n) or NONE (-2)"},
		{"answer_pick_negative", 0, traceReuse, 2, abi.HookPickBlock, []int64{1, 1024, 0, 0, 0}, -7,
			"event 2: policy_pick_block(n=1, rounded=1024, pool=0, stream=0, tag=0) answered -7: " + negativePick},
		{"answer_split_above", 0, traceOne, 0, abi.HookSplit, []int64{2 * MiB, 1024, 0, 0, abi.FlagWholeSegment, 0}, 2*MiB + 512,
			"event 0: policy_split(block_size=2097152, rounded=1024, pool=0, stream=0, flags=2, tag=0) answered 2097664: the front piece must be a multiple of 512 between the rounded size and the block size (the block size: no split)"},
		{"answer_split_below", 0, traceOne, 0, abi.HookSplit, []int64{2 * MiB, 1024, 0, 0, abi.FlagWholeSegment, 0}, 512,
			"event 0: policy_split(block_size=2097152, rounded=1024, pool=0, stream=0, flags=2, tag=0) answered 512: the front piece must be a multiple of 512 between the rounded size and the block size (the block size: no split)"},
		{"answer_merge_2", 0, traceReuse, 1, abi.HookMerge, []int64{1024, 2*MiB - 1024, 0, abi.SideNext}, 2,
			"event 1: policy_merge(block_size=1024, neighbour_size=2096128, pool=0, side=1) answered 2: the answer must be 1 (merge) or 0 (keep apart)"},
		{"answer_segment_mode_page", 0, traceOne, 0, abi.HookSegmentMode, []int64{0, 0}, 4096,
			"event 0: policy_segment_mode(pool=0, stream=0) answered 4096: the answer must be 0 (classic) or a page size that is a multiple of the device granularity"},
		{"answer_segment_small", 0, traceOne, 0, abi.HookSegmentSize, []int64{1024, 0, 0, 0}, 512,
			"event 0: policy_segment_size(rounded=1024, pool=0, stream=0, tag=0) answered 512: the segment size must be ≥ the rounded size, a multiple of 512 and ≤ 2^48"},
		{"answer_expand_zero", 0, traceOne, 0, abi.HookExpandSize, []int64{1024, 1024, 0, 0, 2 * MiB}, 0,
			"event 0: policy_expand_size(missing=1024, rounded=1024, pool=0, stream=0, page=2097152) answered 0: the bytes to map must be a multiple of the page and ≥ the missing bytes"},
		{"answer_release_5", 0, traceOne, 0, abi.HookRelease, []int64{0, 1024, 0, 0, 0}, 5,
			"event 0: policy_release(phase=0, rounded=1024, pool=0, stream=0, attempt=0) answered 5: unknown release action (the low 4 bits must be 0..3; stitch (4) and release stitched (5) need ABI 1.5)"},
		{"answer_release_2_noarg", 0, traceOne, 0, abi.HookRelease, []int64{0, 1024, 0, 0, 0}, 2,
			"event 0: policy_release(phase=0, rounded=1024, pool=0, stream=0, attempt=0) answered 2: actions release oversize (2) and release aged (3) need an argument > 0 (arg<<4 | action)"},
		{"answer_release_1_arg", 0, traceOne, 0, abi.HookRelease, []int64{0, 1024, 0, 0, 0}, 1<<4 | 1,
			"event 0: policy_release(phase=0, rounded=1024, pool=0, stream=0, attempt=0) answered 17: actions nothing (0) and release cached (1) take no argument"},
		// 8 MiB does not fit a 4 MiB device: release cached is answered for
		// attempts 0..15 and the 17th attempt is refused.
		{"answer_release_forever", 4 * MiB, []string{`{"op":"alloc","id":0,"size":8388608}`}, 0, abi.HookRelease, []int64{1, 8 * MiB, 1, 0, 16}, 0,
			"event 0: policy_release(phase=1, rounded=8388608, pool=1, stream=0, attempt=16) answered 0: too many release attempts for one allocation (at most 16)"},
		{"answer_observe_negative", 0, traceOne, 0, abi.HookObserve, []int64{abi.ObserveAlloc, 0, 1024, 0}, -7,
			"event 0: policy_observe(kind=0, id=0, size=1024, tag=0) answered -7: " + negative},
		// ERROR: the error_set text is the reason. Streams are indexes
		// (5 -> 0, 9 -> 1) and tags ids (activation = 2).
		{"answer_error", 0, []string{
			`{"op":"alloc","id":0,"size":1000,"stream":5}`,
			`{"op":"alloc","id":1,"size":3000,"stream":9,"tag":"activation"}`,
		}, 1, abi.HookChoosePool, []int64{3072, 1, abi.TagActivation}, abi.Error,
			"event 1: policy_choose_pool(rounded=3072, stream=1, tag=2) answered ERROR: no pool for activations"},
		{"answer_error_silent", 0, traceOne, 0, abi.HookSegmentSize, []int64{1024, 0, 0, 0}, abi.Error,
			"event 0: policy_segment_size(rounded=1024, pool=0, stream=0, tag=0) answered ERROR: the policy gave no reason (error_set)"},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			res, err := replayJSONL(t, tc.fixture, tc.capacity, tc.events...)
			if res != nil {
				t.Errorf("Run returned a result with the error")
			}
			pe := policyError(t, err)
			if pe.Event != tc.event || pe.Hook != tc.hook || !slices.Equal(pe.Args, tc.args) || pe.Answer != tc.answer || pe.Trap != nil {
				t.Errorf("PolicyError{Event %d, Hook %v, Args %v, Answer %d, Trap %v}\nwant {Event %d, Hook %v, Args %v, Answer %d, Trap nil}",
					pe.Event, pe.Hook, pe.Args, pe.Answer, pe.Trap, tc.event, tc.hook, tc.args, tc.answer)
			}
			if got := err.Error(); got != tc.msg {
				t.Errorf("message\n\t%s\nwant\n\t%s", got, tc.msg)
			}
		})
	}
}

// TestTraps: a trap in a hook stops the run with a *host.PolicyError whose
// Trap carries the trap message and the guest's stack trace (ABI §2).
func TestTraps(t *testing.T) {
	four := []string{
		`{"op":"alloc","id":0,"size":1000}`,
		`{"op":"alloc","id":1,"size":2000}`,
		`{"op":"alloc","id":2,"size":3000}`,
		`{"op":"alloc","id":3,"size":4000}`,
	}
	for _, tc := range []struct {
		fixture string
		events  []string
		event   int64
		args    []int64
		want    []string
	}{
		{"trap_fourth_call", four, 3, []int64{4000, 0, 0}, []string{
			"event 3: policy_round_size(size=4000, stream=0, tag=0) failed: wasm error: unreachable\nwasm stack trace:\n",
		}},
		{"trap_proc_exit", traceOne, 0, []int64{1000, 0, 0}, []string{
			"event 0: policy_round_size(size=1000, stream=0, tag=0) failed: ", "exit_code(3)",
		}},
		{"trap_stderr", traceOne, 0, []int64{1000, 0, 0}, []string{
			"event 0: policy_round_size(size=1000, stream=0, tag=0) failed: wasm error: unreachable",
			"\npolicy stderr:\npolicy: invariant violated\n",
		}},
		{"trap_bad_pointer", traceOne, 0, []int64{1000, 0, 0}, []string{
			"event 0: policy_round_size(size=1000, stream=0, tag=0) failed: ",
			"fraglab.log: bytes [65530, 65630) lie outside the module's memory (65536 bytes)",
			"wasm stack trace:\n\tfraglab.log(i32,i32,i32)\n",
		}},
		// A reason given to error_set before the trap joins the message.
		{"trap_with_reason", traceOne, 0, []int64{1000, 0, 0}, []string{
			"event 0: policy_round_size(size=1000, stream=0, tag=0) failed: wasm error: unreachable\nwasm stack trace:\n",
			" (policy said: index out of range [3] with length 3)",
		}},
		// AssemblyScript's abort: allowed at load, traps with its message.
		{"abort", []string{
			`{"op":"alloc","id":0,"size":1000}`,
			`{"op":"alloc","id":1,"size":2000000}`,
		}, 1, []int64{2000000, 0, 0}, []string{
			"event 1: policy_round_size(size=2000000, stream=0, tag=0) failed: ",
			"abort: size too large at assembly/index.ts:12:5",
			"wasm stack trace:\n\tenv.abort(i32,i32,i32,i32)\n",
		}},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			_, err := replayJSONL(t, tc.fixture, 0, tc.events...)
			pe := policyError(t, err)
			if pe.Trap == nil {
				t.Fatalf("PolicyError without Trap: %v", err)
			}
			if pe.Event != tc.event || pe.Hook != abi.HookRoundSize || !slices.Equal(pe.Args, tc.args) || pe.Answer != 0 {
				t.Errorf("PolicyError{Event %d, Hook %v, Args %v, Answer %d}, want {%d, policy_round_size, %v, 0}",
					pe.Event, pe.Hook, pe.Args, pe.Answer, tc.event, tc.args)
			}
			if !errors.Is(err, pe.Trap) {
				t.Errorf("PolicyError does not unwrap to its Trap")
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message\n\t%s\ndoes not contain\n\t%s", msg, w)
				}
			}
		})
	}
}

// TestDeadAfterTrap: after a trap the instance is never called again;
// every later call answers the same error.
func TestDeadAfterTrap(t *testing.T) {
	t.Run("instance", func(t *testing.T) {
		in := instantiate(t, "trap_fourth_call", wasm.Config{})
		for i := range 3 {
			if ans, err := in.RoundSize(1000, 0, 0); ans != abi.Defer || err != nil {
				t.Fatalf("call %d: %d, %v", i+1, ans, err)
			}
		}
		_, trap := in.RoundSize(1000, 0, 0)
		if trap == nil || !strings.Contains(trap.Error(), "unreachable") {
			t.Fatalf("fourth call: %v, want the unreachable trap", trap)
		}
		// Were the guest called again it would answer DEFER (its counter
		// passed 4); it must not be.
		for i := range 2 {
			_, err := in.RoundSize(1000, 0, 0)
			if err != trap {
				t.Errorf("call after the trap %d: %v, want the same error %v", i+1, err, trap)
			}
		}
		if _, err := in.ChoosePool(1024, 0, 0); err != trap {
			t.Errorf("another hook after the trap: %v, want the same error", err)
		}
		if got := global(t, in, "g_calls"); got != 4 {
			t.Errorf("the guest was called %d times, want 4", got)
		}
	})
	t.Run("allocator", func(t *testing.T) {
		in := instantiate(t, "trap_fourth_call", wasm.Config{})
		a := host.New(cudadriver.NewSim(cudadriver.SimOptions{}), in, host.Options{})
		in.AttachStats(a.Stat)
		var first *host.PolicyError
		for i := range int64(6) {
			a.SetEvent(i)
			err := a.Alloc(i, 1000, 0, 0)
			switch {
			case i < 3 && err != nil:
				t.Fatalf("event %d: %v", i, err)
			case i == 3:
				first = policyError(t, err)
			case i > 3:
				pe := policyError(t, err)
				if pe.Event != i || pe.Trap != first.Trap {
					t.Errorf("event %d: %v; want the trap of event 3 again", i, err)
				}
			}
		}
		if got := global(t, in, "g_calls"); got != 4 {
			t.Errorf("the guest was called %d times, want 4", got)
		}
	})
}

// TestDeferEqualsDefault: a module that answers DEFER from every hook
// makes the host defaults' decisions: the same metrics and device
// operations as the built-in "default" policy, which exports no hook.
func TestDeferEqualsDefault(t *testing.T) {
	deferAll, def := compile(t, "defer_all"), builtin(t, "default")
	run := func(mod *wasm.Module, events []trace.Event, capacity int64) (*replay.Result, string) {
		t.Helper()
		var dl strings.Builder
		res, err := replay.Run(context.Background(), synth.NewReader(events), mod,
			cudadriver.NewSim(cudadriver.SimOptions{Capacity: capacity}),
			replay.Options{DriverLog: &dl, CheckInvariants: true})
		if err != nil {
			t.Fatalf("%s: %v", mod.Name, err)
		}
		res.Metrics.NsPerEvent = 0
		return res, dl.String()
	}
	for _, tc := range []struct {
		name     string
		events   []trace.Event
		capacity int64
	}{
		{"unlimited", synth.Mixed(11, 5000, 200), 0},
		{"600 MiB (OOMs)", synth.Mixed(12, 5000, 300), 600 * MiB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, gotLog := run(deferAll, tc.events, tc.capacity)
			want, wantLog := run(def, tc.events, tc.capacity)
			if got.Metrics != want.Metrics {
				t.Errorf("metrics differ:\ndefer_all %+v\ndefault   %+v", got.Metrics, want.Metrics)
			}
			if gotLog != wantLog {
				t.Errorf("driver logs differ (%d vs %d bytes)", len(gotLog), len(wantLog))
			}
			if tc.capacity > 0 && want.Metrics.OOMs == 0 {
				t.Errorf("no OOM at %d MiB: the release path is not exercised", tc.capacity/MiB)
			}
			// Every decision was asked, and every answer was DEFER.
			s := got.Stats
			for _, h := range []abi.Hook{abi.HookRoundSize, abi.HookChoosePool, abi.HookSearchOrder, abi.HookPickBlock,
				abi.HookSplit, abi.HookMerge, abi.HookSegmentMode, abi.HookSegmentSize, abi.HookRelease, abi.HookObserve} {
				if s.HookCalls[h] == 0 || s.HookDefers[h] != s.HookCalls[h] {
					t.Errorf("%v: %d calls, %d DEFER", h, s.HookCalls[h], s.HookDefers[h])
				}
			}
		})
	}
}

// TestPickNone: a policy_pick_block that always answers NONE never reuses a
// cached block, so every allocation allocates a new segment.
func TestPickNone(t *testing.T) {
	events := synth.Mixed(21, 4000, 150)
	res, err := replay.Run(context.Background(), synth.NewReader(events), compile(t, "pick_none"),
		cudadriver.NewSim(cudadriver.SimOptions{}), replay.Options{CheckInvariants: true})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Stats
	if res.Metrics.OOMs != 0 || s.Allocs == 0 {
		t.Fatalf("%d allocations, %d OOMs", s.Allocs, res.Metrics.OOMs)
	}
	if res.Metrics.SegmentAllocs != s.Allocs {
		t.Errorf("segment_allocs = %d, want one per allocation (%d)", res.Metrics.SegmentAllocs, s.Allocs)
	}
	if s.HookCalls[abi.HookPickBlock] == 0 {
		t.Errorf("policy_pick_block was never asked")
	}
}
