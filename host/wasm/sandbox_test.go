package wasm_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/sdk/abi"
)

var threeAllocs = []string{
	`{"op":"alloc","id":0,"size":1000}`,
	`{"op":"alloc","id":1,"size":30000000}`,
	`{"op":"alloc","id":2,"size":5000,"stream":7}`,
	`{"op":"free","id":0}`,
}

// TestHangSafeMode: in safe mode a runaway hook is stopped within the
// timeout and reported with the event, the hook and its arguments.
func TestHangSafeMode(t *testing.T) {
	start := time.Now()
	_, err := replay.Run(context.Background(), jsonl(threeAllocs...), compile(t, "spin_split"),
		cudadriver.NewSim(cudadriver.SimOptions{}), replay.Options{Safe: true, HangTimeout: 300 * time.Millisecond})
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("stopping the hook took %v, want well under 2 s", took)
	}
	var pe *host.PolicyError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want a *host.PolicyError", err)
	}
	want := "event 2: policy_split(block_size=2097152, rounded=5120, pool=0, stream=1, flags=2, tag=0) failed: the hook did not return within 300ms and was stopped"
	if pe.Event != 2 || pe.Hook != abi.HookSplit || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error:\n%v\nwant it to start with\n%s", err, want)
	}
}

// TestHangSafeModeFallback: with fallback the run finishes on host
// defaults after the hung hook is stopped, and says so.
func TestHangSafeModeFallback(t *testing.T) {
	res, err := replay.Run(context.Background(), jsonl(threeAllocs...), compile(t, "spin_split"),
		cudadriver.NewSim(cudadriver.SimOptions{}), replay.Options{Safe: true, Fallback: true, HangTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.PolicyFailure == nil || res.PolicyFailure.Event != 2 || res.PolicyFailure.Hook != abi.HookSplit {
		t.Fatalf("PolicyFailure = %v, want the hang at event 2 in policy_split", res.PolicyFailure)
	}
	if res.Metrics.Events != 4 || res.Stats.LiveBlocks != 2 {
		t.Errorf("events %d, live blocks %d: the run did not finish on host defaults", res.Metrics.Events, res.Stats.LiveBlocks)
	}
}

// TestFallbackOnInvalidAnswer: an out-of-range answer with fallback: the
// decision and the rest of the run use the host defaults.
func TestFallbackOnInvalidAnswer(t *testing.T) {
	res, err := replay.Run(context.Background(), jsonl(threeAllocs...), compile(t, "answer_round_below"),
		cudadriver.NewSim(cudadriver.SimOptions{}), replay.Options{Fallback: true, CheckInvariants: true})
	if err != nil {
		t.Fatal(err)
	}
	def, err := replay.Run(context.Background(), jsonl(threeAllocs...), compile(t, "defer_all"),
		cudadriver.NewSim(cudadriver.SimOptions{}), replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res.Metrics.NsPerEvent, def.Metrics.NsPerEvent = 0, 0
	if res.PolicyFailure == nil || res.PolicyFailure.Event != 0 || res.Metrics != def.Metrics {
		t.Errorf("failure %v; metrics %+v, want the defaults' %+v", res.PolicyFailure, res.Metrics, def.Metrics)
	}
}

// TestHangFastMode: without safe mode the hook cannot be stopped; the
// watchdog reports it, with the hook and its arguments as safe mode does,
// and ends the process with status 3 within 2 s. The
// replay runs in a child process (this test binary, re-executed).
func TestHangFastMode(t *testing.T) {
	if os.Getenv("FRAGLAB_HANG_CHILD") == "1" {
		_, err := replay.Run(context.Background(), jsonl(threeAllocs...), compile(t, "spin_split"),
			cudadriver.NewSim(cudadriver.SimOptions{}), replay.Options{HangTimeout: 500 * time.Millisecond})
		t.Fatalf("the hung run returned: %v", err)
	}
	start := time.Now()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHangFastMode$")
	cmd.Env = append(os.Environ(), "FRAGLAB_HANG_CHILD=1")
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != replay.ExitHung {
		t.Fatalf("child: %v, want exit status %d\n%s", err, replay.ExitHung, out)
	}
	want := "fraglab: event 2 (alloc id=2 size=5000 stream=7 tag=0): policy_split(block_size=2097152, rounded=5120, pool=0, stream=1, flags=2, tag=0) did not return within 500ms."
	if !strings.Contains(string(out), want) {
		t.Errorf("child output:\n%s\nwant it to contain %q", out, want)
	}
	if took > 2500*time.Millisecond { // process start and compile included
		t.Errorf("the hang was reported after %v", took)
	}
}

// TestMemoryGrowToCap: a policy that grows its memory without bound stops
// at the cap (memory.grow answers -1, as the Wasm spec says), and the run
// goes on unaffected.
func TestMemoryGrowToCap(t *testing.T) {
	in := instantiate(t, "grow_to_cap", wasm.Config{MemoryLimitPages: 64})
	for i := 0; i < 3; i++ {
		if ans, err := in.RoundSize(1000, 0, 0); ans != abi.Defer || err != nil {
			t.Fatalf("RoundSize = %d, %v; want DEFER", ans, err)
		}
	}
	if pages, failed := global(t, in, "g_pages"), global(t, in, "g_failed"); pages != 64 || failed != 3 {
		t.Errorf("memory %d pages after %d failed grows; want the 64-page cap after 3", pages, failed)
	}
	res, err := replay.Run(context.Background(), jsonl(threeAllocs...), compile(t, "grow_to_cap"),
		cudadriver.NewSim(cudadriver.SimOptions{}), replay.Options{MemoryLimitPages: 64, CheckInvariants: true})
	if err != nil || res.Metrics.Events != 4 {
		t.Fatalf("run at the cap: %v", err)
	}
}

// TestInitHangSafeMode: a policy_init that never returns is stopped after
// InitTimeout and Instantiate fails naming it.
func TestInitHangSafeMode(t *testing.T) {
	start := time.Now()
	_, err := compile(t, "spin_init").Instantiate(context.Background(),
		wasm.Config{Interruptible: true, InitTimeout: 200 * time.Millisecond})
	var le *wasm.LoadError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "policy_init did not return within 200ms and was stopped") {
		t.Fatalf("Instantiate: %v; want a LoadError naming policy_init", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("stopped after %v", took)
	}
}

// TestInitHangFastMode: without safe mode a runaway policy_init cannot be
// stopped: the process reports it and ends with ExitHung (in a child
// process, this test binary re-executed).
func TestInitHangFastMode(t *testing.T) {
	if os.Getenv("FRAGLAB_INIT_HANG_CHILD") == "1" {
		_, err := compile(t, "spin_init").Instantiate(context.Background(), wasm.Config{InitTimeout: 300 * time.Millisecond})
		t.Fatalf("the hung start-up returned: %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestInitHangFastMode$")
	cmd.Env = append(os.Environ(), "FRAGLAB_INIT_HANG_CHILD=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != wasm.ExitHung {
		t.Fatalf("child: %v, want exit status %d\n%s", err, wasm.ExitHung, out)
	}
	if want := "fraglab: policy spin_init: policy_init did not return within 300ms."; !strings.Contains(string(out), want) {
		t.Errorf("child output:\n%s\nwant it to contain %q", out, want)
	}
}
