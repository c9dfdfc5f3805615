package snapshot

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/fraglab/fraglab/internal/sharedtraces"
	"github.com/fraglab/fraglab/trace"
)

// counts summarises one device's workload.
type counts struct {
	allocs, frees, emptyCaches          int
	segAlloc, segFree, segMap, segUnmap int
	ooms, initialSegs                   int
}

func countOf(w *Workload) counts {
	var c counts
	for _, e := range w.Events {
		switch e.Op {
		case trace.OpAlloc:
			c.allocs++
		case trace.OpFree:
			c.frees++
		case trace.OpEmptyCache:
			c.emptyCaches++
		}
	}
	for _, t := range w.Truth {
		switch t.Action {
		case ActSegmentAlloc:
			c.segAlloc++
		case ActSegmentFree:
			c.segFree++
		case ActSegmentMap:
			c.segMap++
		case ActSegmentUnmap:
			c.segUnmap++
		}
	}
	c.ooms = len(w.OOMs)
	c.initialSegs = len(w.Initial)
	return c
}

// sharedFacts are the counts each real snapshot must give, per device with
// entries (from the traces' README and reference §10).
var sharedFacts = map[string]map[int]counts{
	"tiny-grad.pickle":                      {0: {allocs: 12, frees: 7, segAlloc: 7}},
	"small-clean-start.pickle":              {0: {allocs: 36, frees: 26, segAlloc: 9}},
	"transformer-ctx128-trainstep.pickle":   {0: {allocs: 6771, frees: 5894, segAlloc: 783, initialSegs: 227}},
	"transformer-ctx512-forward-amp.pickle": {0: {allocs: 2702, frees: 1414, emptyCaches: 1, segAlloc: 638, segFree: 597, initialSegs: 827}},
	"expandable-4gpu-oom.pickle": {
		0: {allocs: 2434, frees: 1918, segMap: 175},
		1: {allocs: 200, // 199 recorded allocs and the one that failed (the oom)
			frees: 175, segMap: 40, segUnmap: 6, ooms: 1},
		2: {allocs: 392, frees: 206, segMap: 78},
	},
	"finetune-2024-format.pickle":          {0: {allocs: 3505, frees: 3325, segAlloc: 152, initialSegs: 63}},
	"transformer-medium-1024-train.pickle": {0: {allocs: 7591, frees: 7370, initialSegs: 234}},
}

func TestSharedSnapshots(t *testing.T) {
	for _, path := range sharedtraces.Files(t) {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			s, err := ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Workload(-1); err != nil {
				t.Fatalf("Workload(-1): %v", err)
			}
			facts, known := sharedFacts[name]
			var devs []int
			for d := range facts {
				devs = append(devs, d)
			}
			sort.Ints(devs)
			if known && !reflect.DeepEqual(devs, s.Devices()) {
				t.Errorf("devices with entries %v, want %v", s.Devices(), devs)
			}
			for _, d := range s.Devices() {
				w, err := s.Workload(d)
				if err != nil {
					t.Fatalf("Workload(%d): %v", d, err)
				}
				if err := Verify(w, s); err != nil {
					t.Errorf("device %d: %v", d, err)
				}
				got := countOf(w)
				if want, ok := facts[d]; known && (!ok || got != want) {
					t.Errorf("device %d: got %+v\nwant %+v", d, got, want)
				}
				tags := map[string]int{}
				k := 0
				for i, e := range w.Events {
					if e.Op != trace.OpAlloc || w.AllocAddr[i] == 0 {
						continue
					}
					n, _ := w.Tags.Name(e.Tag)
					tags[n]++
					// The cached tagger agrees with Classify (checked on
					// the small files; Classify alone is slow).
					for ; s.Traces[d][k].Action != ActAlloc || s.Traces[d][k].Addr != w.AllocAddr[i]; k++ {
					}
					if len(s.Traces[d]) < 200 {
						if want := Classify(s.Traces[d][k].Frames, DefaultTagRules()); n != want {
							t.Errorf("event %d tagged %s, Classify says %s", i, n, want)
						}
					}
					k++
				}
				t.Logf("device %d: %+v capacity [%d, %d] tags %v", d, got, w.Capacity.Low, w.Capacity.High, tags)
			}
		})
	}
}

func TestSharedDetails(t *testing.T) {
	dir := sharedtraces.Dir(t)
	read := func(name string) *Snapshot {
		s, err := ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	workload := func(s *Snapshot, d int) *Workload {
		w, err := s.Workload(d)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}

	// The 597 releases at the start are one empty_cache call.
	w := workload(read("transformer-ctx512-forward-amp.pickle"), 0)
	if w.Events[0].Op != trace.OpEmptyCache {
		t.Errorf("ctx512: first event %v, want empty_cache", w.Events[0].Op)
	}
	for _, x := range w.Truth[:597] {
		if x.Action != ActSegmentFree || x.Event != 0 {
			t.Fatalf("ctx512: %+v does not belong to the empty_cache event", x)
		}
	}

	// 7×512 MiB, 1×20 MiB and 1×2 MiB segments.
	w = workload(read("small-clean-start.pickle"), 0)
	sizes := map[int64]int{}
	for _, x := range w.Truth {
		sizes[x.Size]++
	}
	if want := map[int64]int{512 * mib: 7, 20 * mib: 1, 2 * mib: 1}; !reflect.DeepEqual(sizes, want) {
		t.Errorf("small-clean-start segment sizes %v, want %v", sizes, want)
	}

	// Expandable segments, an OOM retry and an oom on device 1.
	s := read("expandable-4gpu-oom.pickle")
	if !s.Settings.ExpandableSegments || !reflect.DeepEqual(s.Settings.Params(), map[string]string{"expandable_segments": "True"}) {
		t.Errorf("settings %+v params %v", s.Settings, s.Settings.Params())
	}
	if s.Traces[0][0].CompileContext != "N/A" {
		t.Errorf("compile_context %q", s.Traces[0][0].CompileContext)
	}
	w = workload(s, 1)
	o := w.OOMs[0]
	if o.DeviceFree != 95682560 || o.Size != 5308694528 || w.Capacity.Low != o.Reserved+o.DeviceFree || w.Capacity.High != w.Capacity.Low {
		t.Errorf("oom %+v capacity %+v", o, w.Capacity)
	}

	// Old format: no settings, no time_us.
	s = read("finetune-2024-format.pickle")
	if s.Settings != nil || s.Traces[0][0].TimeUS != 0 {
		t.Errorf("finetune-2024-format: settings %+v time_us %d", s.Settings, s.Traces[0][0].TimeUS)
	}

	// Newest format; every allocation is served from the initial state.
	s = read("transformer-medium-1024-train.pickle")
	if v, ok := s.Settings.Other["graph_capture_record_stream_reuse"]; !ok || v != false {
		t.Errorf("graph_capture_record_stream_reuse = %v, %v", v, ok)
	}
	w = workload(s, 0)
	if len(w.Truth) != 0 || len(w.Initial) == 0 {
		t.Errorf("truth %d initial %d", len(w.Truth), len(w.Initial))
	}

	// Peak reserved of the training step: 56.9 GiB.
	w = workload(read("transformer-ctx128-trainstep.pickle"), 0)
	if w.Capacity.Low != 61111009280 || w.Capacity.High != -1 {
		t.Errorf("ctx128 capacity %+v", w.Capacity)
	}
}

func TestSharedRoundTrip(t *testing.T) {
	dir := sharedtraces.Dir(t)
	for _, name := range []string{"tiny-grad.pickle", "small-clean-start.pickle"} {
		s, err := ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := Write(&b, s); err != nil {
			t.Fatal(err)
		}
		got, err := Read(bytes.NewReader(b.Bytes()), name+" (written)")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Errorf("%s: Read → Write → Read changed the snapshot", name)
		}
	}
}

func BenchmarkReadTrainstep(b *testing.B) {
	dir := sharedtraces.Dir(b)
	data, err := os.ReadFile(filepath.Join(dir, "transformer-ctx128-trainstep.pickle"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Read(bytes.NewReader(data), "trainstep"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWorkloadTrainstep(b *testing.B) {
	dir := sharedtraces.Dir(b)
	s, err := ReadFile(filepath.Join(dir, "transformer-ctx128-trainstep.pickle"))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Workload(0); err != nil {
			b.Fatal(err)
		}
	}
}
