package replay

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/internal/synth"
	"github.com/fraglab/fraglab/policies"
	"github.com/fraglab/fraglab/trace"
)

const MiB = 1 << 20

func builtin(t testing.TB, name string) *wasm.Module {
	t.Helper()
	bin, ok := policies.Builtin(name)
	if !ok {
		t.Fatalf("no built-in %q", name)
	}
	m, err := wasm.Compile(context.Background(), name, bin)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// run replays r and returns the result and the driver log.
func run(t testing.TB, r trace.Reader, policy string, capacity int64) (*Result, string) {
	t.Helper()
	var dl bytes.Buffer
	res, err := Run(context.Background(), r, builtin(t, policy),
		cudadriver.NewSim(cudadriver.SimOptions{Capacity: capacity}),
		Options{DriverLog: &dl, CheckInvariants: true})
	if err != nil {
		t.Fatalf("%s: %v", policy, err)
	}
	return res, dl.String()
}

func open(t *testing.T, path string) trace.Reader {
	t.Helper()
	r, c, err := trace.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return r
}

func TestDevlogExamples(t *testing.T) {
	for _, tc := range []struct {
		file         string
		peakReserved int64
	}{
		{"devlog-small-then-large.jsonl", 256 * MiB},
		{"devlog-large-then-small.jsonl", 128 * MiB},
	} {
		for _, policy := range []string{"default", "pytorch"} {
			t.Run(tc.file+"/"+policy, func(t *testing.T) {
				res, _ := run(t, open(t, filepath.Join("..", "examples", "traces", tc.file)), policy, 0)
				if got := res.Metrics.PeakReserved; got != tc.peakReserved {
					t.Errorf("peak_reserved = %d MiB, want %d MiB", got/MiB, tc.peakReserved/MiB)
				}
				if res.Metrics.PeakAllocated != 128*MiB || res.Metrics.OOMs != 0 {
					t.Errorf("peak_allocated %d, ooms %d; want 128 MiB and 0", res.Metrics.PeakAllocated, res.Metrics.OOMs)
				}
			})
		}
	}
}

// TestPytorchMatchesDefault: the pytorch module at default settings makes
// exactly the host's default decisions, so every device operation and
// every metric (timing aside) must agree, with and without OOM pressure.
func TestPytorchMatchesDefault(t *testing.T) {
	cases := []struct {
		name     string
		events   []trace.Event
		capacity int64
	}{
		{"mixed unlimited", synth.Mixed(1, 20000, 300), 0},
		{"mixed 2 GiB", synth.Mixed(2, 20000, 300), 2 << 30},
		{"mixed 600 MiB (OOMs)", synth.Mixed(3, 20000, 300), 600 * MiB},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			def, defLog := run(t, synth.NewReader(tc.events), "default", tc.capacity)
			pt, ptLog := run(t, synth.NewReader(tc.events), "pytorch", tc.capacity)
			def.Metrics.NsPerEvent, pt.Metrics.NsPerEvent = 0, 0
			if def.Metrics != pt.Metrics {
				t.Errorf("metrics differ:\ndefault %+v\npytorch %+v", def.Metrics, pt.Metrics)
			}
			if defLog != ptLog {
				t.Errorf("driver logs differ (%d vs %d bytes)", len(defLog), len(ptLog))
			}
			if tc.capacity > 0 && tc.capacity < 1<<30 && def.Metrics.OOMs == 0 {
				t.Errorf("expected OOMs at %d MiB to exercise the release path", tc.capacity/MiB)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	events := synth.Mixed(7, 5000, 200)
	a, aLog := run(t, synth.NewReader(events), "pytorch", 1<<30)
	b, bLog := run(t, synth.NewReader(events), "pytorch", 1<<30)
	a.Metrics.NsPerEvent, b.Metrics.NsPerEvent = 0, 0
	if a.Metrics != b.Metrics || aLog != bLog {
		t.Error("two runs of the same workload differ")
	}
}

// benchEvents is the 1M-event synthetic workload of the benchmarks.
var benchEvents []trace.Event

func events1M() []trace.Event {
	if benchEvents == nil {
		benchEvents = synth.Mixed(42, 1_000_000, 2000)
	}
	return benchEvents
}

// reportRate reports events/s (wall clock) and events/cpu-s (the process's
// CPU time since cpu0, garbage collection included: steadier than the wall
// clock on a machine shared with other work).
func reportRate(b *testing.B, events int, cpu0 float64) {
	n := float64(events) * float64(b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "events/s")
	if cpu := cpuSeconds() - cpu0; cpu > 0 {
		b.ReportMetric(n/cpu, "events/cpu-s")
	}
}

// BenchmarkReplayInProcess replays 1M pre-decoded events (host + policy).
func BenchmarkReplayInProcess(b *testing.B) {
	events := events1M()
	for _, policy := range []string{"default", "pytorch"} {
		b.Run(policy, func(b *testing.B) {
			mod := builtin(b, policy)
			b.ResetTimer()
			cpu := cpuSeconds()
			for i := 0; i < b.N; i++ {
				if _, err := Run(context.Background(), synth.NewReader(events), mod, cudadriver.NewSim(cudadriver.SimOptions{}), Options{}); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b, len(events), cpu)
		})
	}
}

// BenchmarkReplayJSONL replays 1M events from a JSONL file: decoding,
// validation, host and policy (the whole process but its start-up).
func BenchmarkReplayJSONL(b *testing.B) {
	events := events1M()
	path := filepath.Join(b.TempDir(), "bench.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := trace.NewJSONLWriter(f)
	tags := trace.NewTags()
	for _, e := range events {
		if err := w.Write(e, tags); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	for _, policy := range []string{"default", "pytorch"} {
		b.Run(policy, func(b *testing.B) {
			mod := builtin(b, policy)
			b.ResetTimer()
			cpu := cpuSeconds()
			for i := 0; i < b.N; i++ {
				r, c, err := trace.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Run(context.Background(), r, mod, cudadriver.NewSim(cudadriver.SimOptions{}), Options{}); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
			reportRate(b, len(events), cpu)
		})
	}
}

// BenchmarkWatchdog: the fast-mode hang watchdog's cost, replaying the 1M
// events with pytorch with the watchdog on (the default) and off.
func BenchmarkWatchdog(b *testing.B) {
	events := events1M()
	mod := builtin(b, "pytorch")
	for _, tc := range []struct {
		name    string
		timeout time.Duration
	}{{"off", -1}, {"on", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := Run(context.Background(), synth.NewReader(events), mod, cudadriver.NewSim(cudadriver.SimOptions{}), Options{HangTimeout: tc.timeout}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(len(events)*b.N), "ns/event")
		})
	}
}
