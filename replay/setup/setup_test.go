package setup

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/trace"
)

const (
	setupSnapshot = "../../snapshot/testdata/synthetic.pickle" // settings, an initial segment, tags
	setupTrace    = "../../examples/traces/devlog-small-then-large.jsonl"
)

func TestIsSnapshot(t *testing.T) {
	for _, tt := range []struct {
		path string
		want bool
	}{
		{"a.pickle", true}, {"a.pkl", true}, {"dir/A.PICKLE", true}, {"a.Pkl", true},
		{"a.jsonl", false}, {"a.fltr", false}, {"a.csv", false}, {"a.pickle.gz", false}, {"pickle", false},
	} {
		if got := IsSnapshot(tt.path); got != tt.want {
			t.Errorf("IsSnapshot(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestParseCapacity(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    Capacity
		wantErr string
	}{
		{in: "", want: Capacity{}},
		{in: "unlimited", want: Capacity{}},
		{in: "from-trace", want: Capacity{FromTrace: true}},
		{in: "1GiB", want: Capacity{Bytes: 1 << 30}},
		{in: "4096", want: Capacity{Bytes: 4096}},
		{in: "0", wantErr: "--capacity 0: a device of 0 bytes holds nothing: expected a positive size, or unlimited"},
		{in: "0GiB", wantErr: "--capacity 0GiB: a device of 0 bytes holds nothing"},
		{in: "lots", wantErr: `--capacity: invalid size "lots": expected bytes or a number with KiB, MiB, GiB or TiB (e.g. 80GiB) (or unlimited, or from-trace for a PyTorch snapshot)`},
		{in: "40GB", wantErr: `invalid size "40GB"`},
		{in: "-1", wantErr: "--capacity: "},
	} {
		got, err := ParseCapacity(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseCapacity(%q): error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseCapacity(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

// TestOpenWorkloadKinds: a snapshot (in any case of its extension), a
// trace and a generator are told apart, and the options that apply to
// snapshots only are refused for the others.
func TestOpenWorkloadKinds(t *testing.T) {
	upper := filepath.Join(t.TempDir(), "SYNTHETIC.PICKLE")
	b, err := os.ReadFile(setupSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(upper, b, 0o644); err != nil {
		t.Fatal(err)
	}
	zero, seven := 0, 7
	for _, tt := range []struct {
		name     string
		spec     WorkloadSpec
		snapshot bool // a snapshot workload with its initial state
		events   bool // Events known
		read     bool // Read set (a trace file)
		capacity int64
		wantErr  string
	}{
		{name: "snapshot", spec: WorkloadSpec{Trace: setupSnapshot}, snapshot: true, events: true},
		{name: "snapshot upper case", spec: WorkloadSpec{Trace: upper}, snapshot: true, events: true},
		{name: "snapshot device", spec: WorkloadSpec{Trace: setupSnapshot, SnapshotDevice: &zero, Capacity: Capacity{Bytes: 1 << 30}}, snapshot: true, events: true, capacity: 1 << 30},
		{name: "snapshot forced", spec: WorkloadSpec{Trace: setupTrace, Snapshot: true}, wantErr: "devlog-small-then-large.jsonl"},
		{name: "trace", spec: WorkloadSpec{Trace: setupTrace, Capacity: Capacity{Bytes: 4096}}, read: true, capacity: 4096},
		{name: "generator", spec: WorkloadSpec{Generator: "devlog", Seed: 1}, events: true},
		{name: "trace with device", spec: WorkloadSpec{Trace: setupTrace, SnapshotDevice: &zero}, wantErr: "a snapshot device applies to PyTorch snapshots (.pickle), not"},
		{name: "generator with device", spec: WorkloadSpec{Generator: "devlog", SnapshotDevice: &zero}, wantErr: "a snapshot device applies to PyTorch snapshots (.pickle), not generator devlog"},
		{name: "trace from-trace", spec: WorkloadSpec{Trace: setupTrace, Capacity: Capacity{FromTrace: true}}, wantErr: "--capacity from-trace needs a PyTorch snapshot (.pickle)"},
		{name: "generator from-trace", spec: WorkloadSpec{Generator: "devlog", Capacity: Capacity{FromTrace: true}}, wantErr: "--capacity from-trace needs a PyTorch snapshot (.pickle)"},
		{name: "unknown generator", spec: WorkloadSpec{Generator: "nope"}, wantErr: `unknown generator "nope"`},
		{name: "unknown format", spec: WorkloadSpec{Trace: "run.txt"}, wantErr: "or a PyTorch snapshot .pickle or .pkl"},
		{name: "no such device", spec: WorkloadSpec{Trace: setupSnapshot, SnapshotDevice: &seven}, wantErr: "device 7 has no trace entries"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w, err := OpenWorkload(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if got := w.Snapshot != nil; got != tt.snapshot {
				t.Errorf("snapshot workload: %v, want %v", got, tt.snapshot)
			}
			if tt.snapshot && len(w.Initial) != len(w.Snapshot.Initial) {
				t.Errorf("%d initial segments, want the snapshot's %d", len(w.Initial), len(w.Snapshot.Initial))
			}
			if got := w.Events > 0; got != tt.events {
				t.Errorf("events %d, want known: %v", w.Events, tt.events)
			}
			if got := w.Read != nil; got != tt.read {
				t.Errorf("read progress: %v, want %v", got, tt.read)
			}
			if w.Capacity != tt.capacity {
				t.Errorf("capacity %d, want %d", w.Capacity, tt.capacity)
			}
			// A reopened reader replays the same events as the first.
			n1 := countEvents(t, w.Reader)
			r, initial, err := w.Reopen()
			if err != nil {
				t.Fatal(err)
			}
			if n2 := countEvents(t, r); n1 != n2 || len(initial) != len(w.Initial) || n1 == 0 {
				t.Errorf("reopened: %d events, %d initial segments; first %d, %d", n2, len(initial), n1, len(w.Initial))
			}
			r, initial, c, err := w.OpenReader()
			if err != nil {
				t.Fatal(err)
			}
			if n3 := countEvents(t, r); n3 != n1 || len(initial) != len(w.Initial) || (c != nil) != tt.read {
				t.Errorf("OpenReader: %d events, %d initial segments, closer %v", n3, len(initial), c != nil)
			}
			if c != nil {
				c.Close()
			}
		})
	}
}

func countEvents(t *testing.T, r trace.Reader) int {
	t.Helper()
	n := 0
	for {
		_, err := r.Next()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
}

// TestCapacityFromTrace: from-trace takes the snapshot's recorded capacity
// and says so.
func TestCapacityFromTrace(t *testing.T) {
	w, err := OpenWorkload(WorkloadSpec{Trace: setupSnapshot, Capacity: Capacity{FromTrace: true}})
	if err != nil {
		t.Fatal(err)
	}
	if w.Capacity != w.Snapshot.Capacity.Low || w.Capacity <= 0 {
		t.Errorf("capacity %d, want the recorded low bound %d", w.Capacity, w.Snapshot.Capacity.Low)
	}
	if len(w.Notes) == 0 || !strings.HasPrefix(w.Notes[0], "capacity from the trace: ") {
		t.Errorf("notes %q, want the capacity's evidence", w.Notes)
	}
}

// TestRecordedSettings: the pytorch policy starts from a snapshot's
// recorded settings, under the user's params; other policies get the
// user's only.
func TestRecordedSettings(t *testing.T) {
	w, err := OpenWorkload(WorkloadSpec{Trace: setupSnapshot})
	if err != nil {
		t.Fatal(err)
	}
	rec := w.Snapshot.Settings.Params()
	if len(rec) == 0 {
		t.Fatal("the fixture records no settings")
	}
	var key string
	for k := range rec {
		key = k
		break
	}
	got := w.Params("pytorch", map[string]string{key: "user", "extra": "1"})
	if got[key] != "user" || got["extra"] != "1" || len(got) != len(rec)+1 && len(got) != len(rec) {
		t.Errorf("pytorch params %v: want the recorded %v under the user's", got, rec)
	}
	if len(w.Notes) != 1 || !strings.HasPrefix(w.Notes[0], "recorded allocator settings: ") {
		t.Errorf("notes %q", w.Notes)
	}
	if got := w.Params("default", map[string]string{"a": "b"}); len(got) != 1 || got["a"] != "b" {
		t.Errorf("default policy params %v, want the user's only", got)
	}
}

func TestLoadPolicy(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name, path, wantErr string
	}{
		{name: "pytorch"},
		{name: "default"},
		{name: "pytorh", wantErr: `unknown policy "pytorh": built-ins are`},
		{name: "missing.wasm", wantErr: "policy: open missing.wasm"},
		{name: "x", path: "missing/x.wasm", wantErr: "policy: open missing/x.wasm"},
	} {
		mod, err := LoadPolicy(ctx, tt.name, tt.path)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("LoadPolicy(%q, %q): error %v, want %q", tt.name, tt.path, err, tt.wantErr)
			}
			continue
		}
		if err != nil || mod.Hash == "" {
			t.Errorf("LoadPolicy(%q, %q): %v", tt.name, tt.path, err)
		}
	}
}

// TestSetupReplayAgain: a run set up replays its workload, and Again replays it
// once more on a fresh device to the same metrics.
func TestSetupReplayAgain(t *testing.T) {
	ctx := context.Background()
	for _, ws := range []WorkloadSpec{
		{Trace: setupSnapshot, Capacity: Capacity{FromTrace: true}},
		{Trace: setupTrace, Capacity: Capacity{Bytes: 200 << 20}},
		{Generator: "devlog", Seed: 3},
	} {
		s, err := New(ctx, Spec{Workload: ws, Policy: "pytorch", Device: DeviceSpec{Selector: cudadriver.Selector{Kind: "sim"}}})
		if err != nil {
			t.Fatal(err)
		}
		opts := replay.Options{PolicyLog: io.Discard}
		a, err := s.Replay(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.Again(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		a.Metrics.NsPerEvent, b.Metrics.NsPerEvent = 0, 0
		if a.Metrics != b.Metrics || a.Metrics.Events == 0 {
			t.Errorf("%+v: again %+v, first %+v", ws, b.Metrics, a.Metrics)
		}
		if c := s.Workload.Capacity; c > 0 && a.Device.Capacity != c || c == 0 && a.Device.Capacity > 0 {
			t.Errorf("%+v: device capacity %d, want %d", ws, a.Device.Capacity, s.Workload.Capacity)
		}
		if rep := s.Report(a); rep.Device.Backend != "sim" {
			t.Errorf("device report %+v", rep.Device)
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}
}
