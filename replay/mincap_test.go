package replay

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/internal/synth"
	"github.com/fraglab/fraglab/trace"
)

func TestMinCapacity(t *testing.T) {
	for _, tc := range []struct {
		file string
		want int64
	}{
		// 8×16 MiB then 4×32 MiB needs 256 MiB unlimited, but at 128 MiB
		// the free 16 MiB segments are released and the 32 MiB ones fit.
		{"devlog-small-then-large.jsonl", 128 * MiB},
		{"devlog-large-then-small.jsonl", 128 * MiB},
	} {
		open := func() (trace.Reader, error) {
			r, _, err := trace.Open(filepath.Join("..", "examples", "traces", tc.file))
			return r, err
		}
		got, err := MinCapacity(context.Background(), open, builtin(t, "pytorch"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%s: min capacity %d MiB, want %d MiB", tc.file, got/MiB, tc.want/MiB)
		}
		// The boundary is real: one step less OOMs.
		r, _ := open()
		res, err := Run(context.Background(), r, builtin(t, "pytorch"), cudadriver.NewSim(cudadriver.SimOptions{Capacity: got - CapacityStep}), Options{})
		if err != nil || res.Metrics.OOMs == 0 {
			t.Errorf("%s: at %d MiB: %v, %d OOMs; want OOMs", tc.file, (got-CapacityStep)/MiB, err, res.Metrics.OOMs)
		}
	}
}

// TestMinCapacityInitialState: a trace that starts mid-run (a snapshot)
// holds its initial segments before the first event; capacities below them
// count as failing, not as errors.
func TestMinCapacityInitialStateTooSmall(t *testing.T) {
	initial := []host.InitialSegment{{Size: 100 * MiB, Pool: 1, Blocks: []host.AdoptedBlock{
		{Size: 60 * MiB, ID: 1, Requested: 60 * MiB}, {Size: 40 * MiB, ID: -1},
	}}}
	events := []trace.Event{
		{Op: trace.OpAlloc, ID: 2, Size: 30 * MiB}, // fits the cached 40 MiB block
		{Op: trace.OpFree, ID: 2},
		{Op: trace.OpFree, ID: 1},
	}
	open := func() (trace.Reader, error) { return synth.NewReader(events), nil }
	got, err := MinCapacity(context.Background(), open, builtin(t, "pytorch"), Options{Initial: initial})
	if err != nil {
		t.Fatal(err)
	}
	if got != 100*MiB {
		t.Errorf("min capacity %d MiB, want 100 MiB (the initial segment)", got/MiB)
	}
	// Below it, a plain run says why it cannot start.
	_, err = Run(context.Background(), synth.NewReader(events), builtin(t, "pytorch"),
		cudadriver.NewSim(cudadriver.SimOptions{Capacity: 98 * MiB}), Options{Initial: initial})
	if !errors.Is(err, host.ErrNoRoomForInitial) {
		t.Errorf("run at 98 MiB: %v, want ErrNoRoomForInitial", err)
	}
}

func TestTimeline(t *testing.T) {
	events := synth.Mixed(9, 50000, 500)
	res, err := Run(context.Background(), synth.NewReader(events), builtin(t, "pytorch"), cudadriver.NewSim(cudadriver.SimOptions{}), Options{Timeline: 200})
	if err != nil {
		t.Fatal(err)
	}
	tl := res.Timeline
	if n := len(tl.Event); n < 200 || n > 402 || len(tl.Reserved) != n || len(tl.Allocated) != n || len(tl.Requested) != n {
		t.Fatalf("%d points (series %d/%d/%d), want 200..402", n, len(tl.Reserved), len(tl.Allocated), len(tl.Requested))
	}
	var maxR, maxA int64
	for i, e := range tl.Event {
		if i > 0 && e <= tl.Event[i-1] {
			t.Fatalf("events not increasing at %d: %d after %d", i, e, tl.Event[i-1])
		}
		maxR, maxA = max(maxR, tl.Reserved[i]), max(maxA, tl.Allocated[i])
	}
	if maxR != res.Metrics.PeakReserved || maxA != res.Metrics.PeakAllocated {
		t.Errorf("timeline peaks %d/%d, metrics %d/%d: the peaks must be kept", maxR, maxA, res.Metrics.PeakReserved, res.Metrics.PeakAllocated)
	}
}

// A workload that starts mid-run holds its initial segments from the
// start: bisection must not try capacities that cannot adopt them (that
// is an error of the run, not an OOM).
func TestMinCapacityInitialState(t *testing.T) {
	initial := []host.InitialSegment{{Addr: 1 << 32, Size: 64 * MiB, Pool: 1,
		Blocks: []host.AdoptedBlock{{Size: 32 * MiB, ID: 100, Requested: 32 * MiB}, {Size: 32 * MiB, ID: -1}}}}
	events := []trace.Event{
		{Op: trace.OpAlloc, ID: 1, Size: 16 * MiB},
		{Op: trace.OpFree, ID: 100},
		{Op: trace.OpAlloc, ID: 2, Size: 40 * MiB},
	}
	open := func() (trace.Reader, error) { return synth.NewReader(events), nil }
	got, err := MinCapacity(context.Background(), open, builtin(t, "pytorch"), Options{Initial: initial})
	if err != nil {
		t.Fatal(err)
	}
	// 16 MiB fits in the free half; 40 MiB needs the freed 64 MiB segment
	// released (the 16 MiB block lives in it) or a new segment: 64 + 40.
	if got < 64*MiB {
		t.Errorf("min capacity %d MiB, below the 64 MiB initial state", got/MiB)
	}
	r, _ := open()
	res, err := Run(context.Background(), r, builtin(t, "pytorch"), cudadriver.NewSim(cudadriver.SimOptions{Capacity: got}), Options{Initial: initial})
	if err != nil || res.Metrics.OOMs != 0 {
		t.Errorf("at the answer %d MiB: %v, %v OOMs; want a clean run", got/MiB, err, res)
	}
}

// AfterEvent sees every event, in order, with the allocator after it.
func TestAfterEvent(t *testing.T) {
	events := synth.Mixed(3, 2000, 100)
	var n, peak int64
	res, err := Run(context.Background(), synth.NewReader(events), builtin(t, "pytorch"), cudadriver.NewSim(cudadriver.SimOptions{}),
		Options{AfterEvent: func(i int64, a *host.Allocator) {
			if i != n {
				t.Fatalf("called for event %d, want %d", i, n)
			}
			n++
			r, _, _ := a.Bytes()
			peak = max(peak, r)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(events)) || peak != res.Metrics.PeakReserved {
		t.Errorf("%d calls, peak %d; want %d calls, peak %d", n, peak, len(events), res.Metrics.PeakReserved)
	}
}

// TestSearchMinCapacity: the search on made-up failure patterns, in steps
// of 2 MiB; top (100 steps) always passes.
func TestSearchMinCapacity(t *testing.T) {
	const step = CapacityStep
	for _, c := range []struct {
		name  string
		fails func(steps int64) bool
		want  int64 // steps
	}{
		{"monotonic", func(s int64) bool { return s < 37 }, 37},
		{"everything passes", func(s int64) bool { return false }, 1},
		// Bisection alone stops at 37; the probe at 37+4 = 41 fails, so
		// the search goes on above it.
		{"one bad capacity above the threshold", func(s int64) bool { return s < 37 || s == 41 }, 42},
		// A bad band: probes 38, 39, 41 pass … 45 = 37+8 fails; then 46..
		// passes with 47 (46+1) failing, so 48.
		{"bad capacities further up", func(s int64) bool { return s < 37 || s == 45 || s == 47 }, 48},
		{"bad just below top", func(s int64) bool { return s < 37 || s == 99 }, 37},
	} {
		t.Run(c.name, func(t *testing.T) {
			var tried []int64
			got, err := searchMinCapacity(0, 100*step, func(capacity int64) (bool, error) {
				if capacity%step != 0 || capacity <= 0 || capacity >= 100*step {
					t.Fatalf("tried %d bytes: not a step inside (0, top)", capacity)
				}
				tried = append(tried, capacity/step)
				return c.fails(capacity / step), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want*step {
				t.Errorf("got %d steps, want %d (tried %v)", got/step, c.want, tried)
			}
			if c.fails(got / step) {
				t.Errorf("the answer %d fails", got/step)
			}
		})
	}
}
