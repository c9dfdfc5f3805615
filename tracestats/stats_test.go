package tracestats

import (
	"bytes"
	"encoding/xml"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/internal/synth"
	"github.com/fraglab/fraglab/trace"
	"github.com/fraglab/fraglab/traceconv"
)

func statsOf(t *testing.T, path string) *Stats {
	t.Helper()
	src, err := traceconv.Open(path, traceconv.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	s, err := OfSource(src)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSmall checks every number on testdata/small.jsonl, worked out by
// hand (see the comments).
func TestSmall(t *testing.T) {
	s := statsOf(t, "testdata/small.jsonl")
	const (
		KiB = 1 << 10
		MiB = 1 << 20
	)
	checks := []struct {
		name      string
		got, want any
	}{
		{"events", s.Events, int64(8)},
		{"allocs", s.Allocs, int64(4)},
		{"frees", s.Frees, int64(3)},
		{"empty_cache", s.EmptyCache, int64(1)},
		{"allocated", s.AllocatedBytes, int64(1000 + 2*MiB + 4*MiB + 10*MiB)},
		// Live after each event: 1000, +2 MiB, +4 MiB, -2 MiB, =, +10 MiB (the peak, event 5), ...
		{"peak", s.PeakLiveBytes, int64(1000 + 4*MiB + 10*MiB)},
		{"peak event", s.PeakEvent, int64(5)},
		{"peak count", s.PeakLiveCount, int64(3)},
		{"live at end", s.LiveAtEnd, int64(1)},
		{"live bytes at end", s.LiveBytesAtEnd, int64(1000)},
		// 2 and 4 MiB are in the band; 1000 B and 10 MiB are not.
		{"band share", s.BandShare, float64(6*MiB) / float64(1000+16*MiB)},
		{"sizes", s.Sizes, []SizeBin{
			{Lo: 513, Hi: KiB, Count: 1, Bytes: 1000},
			{Lo: 2 * MiB, Hi: 4 * MiB, Count: 1, Bytes: 2 * MiB},
			{Lo: 4 * MiB, Hi: 8 * MiB, Count: 1, Bytes: 4 * MiB},
			{Lo: 10 * MiB, Hi: 16 * MiB, Count: 1, Bytes: 10 * MiB},
		}},
		// id 1 lives from event 1 to 3 (2 events), id 2 from 2 to 6 (4), id 3 from 5 to 7 (2).
		{"classes", s.Classes, []Group{
			{Name: ClassSmall, Allocs: 1, Bytes: 1000, Lifetime: Lifetime{NeverFreed: 1}},
			{Name: ClassMedium, Allocs: 2, Bytes: 6 * MiB, Lifetime: Lifetime{Freed: 2, Min: 2, P50: 2, P90: 2, P99: 2, Max: 4, Mean: 3}},
			{Name: ClassLarge, Allocs: 1, Bytes: 10 * MiB, Lifetime: Lifetime{Freed: 1, Min: 2, P50: 2, P90: 2, P99: 2, Max: 2, Mean: 2}},
		}},
		{"tags", s.Tags, []Group{
			{Name: "unknown", Allocs: 1, Bytes: 10 * MiB, Lifetime: Lifetime{Freed: 1, Min: 2, P50: 2, P90: 2, P99: 2, Max: 2, Mean: 2}},
			{Name: "weight", Allocs: 1, Bytes: 1000, Lifetime: Lifetime{NeverFreed: 1}},
			{Name: "activation", Allocs: 2, Bytes: 6 * MiB, Lifetime: Lifetime{Freed: 2, Min: 2, P50: 2, P90: 2, P99: 2, Max: 4, Mean: 3}},
		}},
		{"streams", s.Streams, []Stream{{Stream: 0, Allocs: 3, Bytes: 1000 + 14*MiB}, {Stream: 7, Allocs: 1, Bytes: 2 * MiB}}},
		{"curve", s.Curve, []Point{{0, 1000}, {1, 1000 + 2*MiB}, {2, 1000 + 6*MiB}, {3, 1000 + 4*MiB}, {4, 1000 + 4*MiB},
			{5, 1000 + 14*MiB}, {6, 1000 + 10*MiB}, {7, 1000}}},
		{"failures", s.Failures, int64(0)},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %+v, want %+v", c.name, c.got, c.want)
		}
	}
}

func TestRMMFailures(t *testing.T) {
	s := statsOf(t, "../trace/testdata/rmm/valid.csv")
	want := []Failure{{Event: 4, Line: 6, Size: 85899345920, Stream: 0x55d0c0a1b2c0}, {Event: 7, Line: 10, Size: 1000}}
	if s.Failures != 2 || !reflect.DeepEqual(s.FailureList, want) {
		t.Errorf("failures %d %+v, want 2 %+v", s.Failures, s.FailureList, want)
	}
	var b bytes.Buffer
	if err := WriteText(&b, s, "valid.csv"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "before event 4: 80.0 GiB on stream 0x55d0c0a1b2c0 (line 6)") {
		t.Errorf("text lacks the first failure:\n%s", b.String())
	}
}

// TestCurveBounded: a long trace keeps at most maxCurve points, and the
// curve still holds the peak and ends at the last event.
func TestCurveBounded(t *testing.T) {
	for _, n := range []int{10, maxCurve, maxCurve + 1, 5*maxCurve + 3, 100_000} {
		events := synth.Mixed(int64(n), n, 50)
		s, err := Read(synth.NewReader(events))
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Curve) > maxCurve {
			t.Errorf("%d events: %d curve points, want at most %d", n, len(s.Curve), maxCurve)
		}
		var top int64
		for _, p := range s.Curve {
			top = max(top, p.Live)
		}
		if top != s.PeakLiveBytes {
			t.Errorf("%d events: the curve's top %d is not the peak %d", n, top, s.PeakLiveBytes)
		}
		if last := s.Curve[len(s.Curve)-1].Event; last != s.Events-1 {
			t.Errorf("%d events: the curve ends at event %d, want %d", n, last, s.Events-1)
		}
	}
}

func TestSVGWellFormed(t *testing.T) {
	for _, path := range []string{"testdata/small.jsonl", "../trace/testdata/rmm/valid.csv", "../examples/traces/devlog-small-then-large.jsonl", "../examples/traces/graph-pools.jsonl"} {
		var b bytes.Buffer
		if err := WriteSVG(&b, statsOf(t, path), "a <title> & more"); err != nil {
			t.Fatal(err)
		}
		d := xml.NewDecoder(&b)
		elems := map[string]int{}
		for {
			tok, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: SVG is not well-formed XML: %v", path, err)
			}
			if se, ok := tok.(xml.StartElement); ok {
				elems[se.Name.Local]++
			}
		}
		if elems["svg"] != 1 || elems["polyline"] != 1 || elems["line"] != len(Boundaries) || elems["rect"] < 3 {
			t.Errorf("%s: elements %v: want one svg, one polyline, a line per boundary and bars", path, elems)
		}
	}
}

func TestFreeOfUnknownID(t *testing.T) {
	c := NewCollector()
	if err := c.Add(trace.Event{Op: trace.OpFree, ID: 3}, nil); err == nil || !strings.Contains(err.Error(), "event 0: free of id 3") {
		t.Errorf("error %v", err)
	}
}

// TestBinsFollowPyTorchBoundaries: a request lands on the side of each
// boundary where PyTorch's rule puts it (≤ 512 B is one 512 B block, ≤ 1 MiB
// is the small pool, < 10 MiB shares 20 MiB segments), and the text marks
// each boundary between those bins.
func TestBinsFollowPyTorchBoundaries(t *testing.T) {
	const (
		KiB = 1 << 10
		MiB = 1 << 20
	)
	for _, c := range []struct {
		size   int64
		lo, hi int64
	}{
		{511, 256, 512},
		{512, 512, 513},
		{513, 513, KiB},
		{MiB - 1, 512 * KiB, MiB},
		{MiB, MiB, MiB + 1},
		{MiB + 1, MiB + 1, 2 * MiB},
		{10*MiB - 1, 8 * MiB, 10 * MiB},
		{10 * MiB, 10 * MiB, 16 * MiB},
		{20 * MiB, 20 * MiB, 32 * MiB},
	} {
		k := binOf(c.size)
		lo, hi := binEdges[k], binEdges[k+1]
		if lo != c.lo || hi != c.hi {
			t.Errorf("%d bytes: bin [%d, %d), want [%d, %d)", c.size, lo, hi, c.lo, c.hi)
		}
	}
	c := NewCollector()
	for i, size := range []int64{MiB, MiB + 1} {
		if err := c.Add(trace.Event{Op: trace.OpAlloc, ID: int64(i), Size: size}, trace.NewTags()); err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	if err := WriteText(&b, c.Stats(), "t"); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	exact, marker, above := strings.Index(text, "1 MiB exactly"), strings.Index(text, "1 MiB small/large pool"), strings.Index(text, ">1 MiB .. 2 MiB")
	if exact < 0 || marker < 0 || above < 0 || !(exact < marker && marker < above) {
		t.Errorf("want the exactly-1 MiB bin, then the pool boundary, then >1 MiB:\n%s", text)
	}
}
