package trace_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"reflect"
	"strconv"
	"testing"

	"github.com/fraglab/fraglab/generate"
	"github.com/fraglab/fraglab/trace"
)

// generated returns a generated workload of about n events: the random
// generator (unaligned sizes, no tags) for half of them and llm-serving
// (tags, KV cache growth, about 140 events a request) for the rest, one after the other with the second
// trace's ids moved past the first's.
func generated(tb testing.TB, n int) ([]trace.Event, *trace.Tags) {
	tb.Helper()
	rnd, _, err := generate.Generate("random", map[string]string{"num_allocations": strconv.Itoa((n + 3) / 4)}, 7)
	if err != nil {
		tb.Fatal(err)
	}
	llm, tags, err := generate.Generate("llm-serving", map[string]string{"requests": strconv.Itoa(max(1, n/200))}, 7)
	if err != nil {
		tb.Fatal(err)
	}
	var next int64
	for _, e := range rnd {
		next = max(next, e.ID+1)
	}
	events := append([]trace.Event{}, rnd...)
	for _, e := range llm {
		if e.Op != trace.OpEmptyCache {
			e.ID += next
		}
		events = append(events, e)
	}
	return events, tags
}

func writeJSONL(tb testing.TB, events []trace.Event, tags *trace.Tags) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w := trace.NewJSONLWriter(&buf)
	for _, e := range events {
		if err := w.Write(e, tags); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func writeBinary(tb testing.TB, r trace.Reader) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w, err := trace.NewBinaryWriter(&buf)
	if err != nil {
		tb.Fatal(err)
	}
	trace.CopyEvents(tb, r, w.Write)
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// roundTripEvents is about the number of events of TestGeneratedRoundTrip:
// 1,000,000 by default (the size; under a second), or
// FRAGLAB_ROUNDTRIP_EVENTS.
func roundTripEvents(t *testing.T) int {
	if s := os.Getenv("FRAGLAB_ROUNDTRIP_EVENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("FRAGLAB_ROUNDTRIP_EVENTS=%q: want a positive integer", s)
		}
		return n
	}
	return 1_000_000
}

// TestGeneratedRoundTrip converts a generated trace JSONL -> binary ->
// JSONL and requires the same bytes, and a binary at least 4x smaller.
func TestGeneratedRoundTrip(t *testing.T) {
	events, tags := generated(t, roundTripEvents(t))
	jsonl := writeJSONL(t, events, tags)
	bin := writeBinary(t, trace.NewJSONLReader(bytes.NewReader(jsonl), "gen.jsonl"))
	r, err := trace.NewBinaryReader(bytes.NewReader(bin), "gen.fltr")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := trace.NewJSONLWriter(&buf)
	n := trace.CopyEvents(t, r, w.Write)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	back := buf.Bytes()
	if n != len(events) {
		t.Fatalf("binary holds %d events, want %d", n, len(events))
	}
	if want := roundTripEvents(t); n < want {
		t.Fatalf("the generated trace has %d events, want at least %d", n, want)
	}
	if !bytes.Equal(back, jsonl) {
		i := 0
		for i < len(back) && i < len(jsonl) && back[i] == jsonl[i] {
			i++
		}
		t.Fatalf("JSONL -> binary -> JSONL of %d events differs from byte %d", n, i)
	}
	ratio := float64(len(jsonl)) / float64(len(bin))
	t.Logf("%d events: JSONL %.1f B/event, binary %.1f B/event (%.1fx smaller)",
		n, float64(len(jsonl))/float64(n), float64(len(bin))/float64(n), ratio)
	if ratio < 4 {
		t.Errorf("binary is only %.1fx smaller than JSONL; want at least 4x", ratio)
	}
}

// benchFormats returns the 1M-event generated trace in each format.
func benchFormats(b *testing.B) map[string][]byte {
	events, tags := generated(b, 1_000_000)
	jsonl := writeJSONL(b, events, tags)
	bin := writeBinary(b, trace.NewJSONLReader(bytes.NewReader(jsonl), "bench.jsonl"))
	var csv bytes.Buffer
	w, err := trace.NewRMMWriter(&csv)
	if err != nil {
		b.Fatal(err)
	}
	trace.CopyEvents(b, trace.NewJSONLReader(bytes.NewReader(jsonl), "bench.jsonl"), w.Write)
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	return map[string][]byte{"jsonl": jsonl, "fltr": bin, "csv": csv.Bytes()}
}

// BenchmarkReadFormats reads the same 1M-event generated trace from JSONL,
// the binary format and an RMM log, reporting events/s and bytes/event.
func BenchmarkReadFormats(b *testing.B) {
	data := benchFormats(b)
	open := map[string]func([]byte) (trace.Reader, error){
		"jsonl": func(d []byte) (trace.Reader, error) { return trace.NewJSONLReader(bytes.NewReader(d), "b"), nil },
		"fltr":  func(d []byte) (trace.Reader, error) { return trace.NewBinaryReader(bytes.NewReader(d), "b") },
		"csv":   func(d []byte) (trace.Reader, error) { return trace.NewRMMReader(bytes.NewReader(d), "b") },
	}
	for _, name := range []string{"jsonl", "fltr", "csv"} {
		b.Run(name, func(b *testing.B) {
			d := data[name]
			b.SetBytes(int64(len(d)))
			events := 0
			for b.Loop() {
				r, err := open[name](d)
				if err != nil {
					b.Fatal(err)
				}
				events = trace.CopyEvents(b, r, func(trace.Event, *trace.Tags) error { return nil })
			}
			b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(len(d))/float64(events), "bytes/event")
		})
	}
}

// poolCases are workloads with private pools and frees that wait for other
// streams, for TestPoolsRoundTrip. rmm is the error the RMM writer gives
// (none: the workload has nothing an RMM log lacks).
var poolCases = []struct {
	name   string
	events []trace.Event
	rmm    string
}{
	{"no pools", []trace.Event{
		{Op: trace.OpAlloc, ID: 0, Size: 4096},
		{Op: trace.OpAlloc, ID: 1, Size: 1 << 20, Stream: 7, Pool: 0},
		{Op: trace.OpFree, ID: 0},
		{Op: trace.OpFree, ID: 1},
	}, ""},
	{"a graph capture into pool 1, then its release", []trace.Event{
		{Op: trace.OpAlloc, ID: 0, Size: 512},
		{Op: trace.OpAlloc, ID: 1, Size: 2 << 20, Stream: 5, Pool: 1},
		{Op: trace.OpAlloc, ID: 2, Size: 1000, Stream: 5, Pool: 1},
		{Op: trace.OpAlloc, ID: 3, Size: 1000, Stream: 5},
		{Op: trace.OpFree, ID: 1},
		{Op: trace.OpFree, ID: 2},
		{Op: trace.OpReleasePool, Pool: 1},
		{Op: trace.OpEmptyCache},
	}, "trace: cannot write event 1 (alloc of id 1 in private pool 1) to an RMM log: RMM logs have no private pools"},
	{"a pending free completed by its free", []trace.Event{
		{Op: trace.OpAlloc, ID: 0, Size: 512},
		{Op: trace.OpAlloc, ID: 1, Size: 512},
		{Op: trace.OpFreeRequested, ID: 1},
		{Op: trace.OpFreeRequested, ID: 0},
		{Op: trace.OpFree, ID: 0},
		{Op: trace.OpAlloc, ID: 0, Size: 1024},
		{Op: trace.OpFree, ID: 1},
	}, "trace: cannot write event 2 (free_requested of id 1) to an RMM log: RMM logs have no frees that wait for other streams (record_stream)"},
	{"a release_pool first", []trace.Event{
		{Op: trace.OpReleasePool, Pool: 1 << 40},
		{Op: trace.OpAlloc, ID: 9, Size: 512, Pool: 1<<63 - 1},
		{Op: trace.OpFreeRequested, ID: 9},
		{Op: trace.OpFree, ID: 9},
	}, "trace: cannot write event 0 (release_pool of pool 1099511627776) to an RMM log: RMM logs have no private pools"},
	{"a MemPool deleted: release_pool, then the empty_cache of that pool only", []trace.Event{
		{Op: trace.OpAlloc, ID: 0, Size: 8 << 20, Pool: 2},
		{Op: trace.OpAlloc, ID: 1, Size: 8 << 20},
		{Op: trace.OpFree, ID: 0},
		{Op: trace.OpReleasePool, Pool: 2},
		{Op: trace.OpEmptyCache, Pool: 2},
		{Op: trace.OpEmptyCache},
	}, "trace: cannot write event 0 (alloc of id 0 in private pool 2) to an RMM log: RMM logs have no private pools"},
	{"the empty_cache of a pool first", []trace.Event{
		{Op: trace.OpAlloc, ID: 0, Size: 512},
		{Op: trace.OpEmptyCache},
		{Op: trace.OpEmptyCache, Pool: 1<<63 - 1},
	}, "trace: cannot write event 2 (empty_cache of pool 9223372036854775807) to an RMM log: RMM logs have no private pools"},
}

// TestPoolsRoundTrip writes each of poolCases in every format and reads it
// back: JSONL and binary give the same events, an RMM log refuses what it
// cannot hold with a *trace.FormatError naming the event.
func TestPoolsRoundTrip(t *testing.T) {
	type format struct {
		write func([]trace.Event) ([]byte, error)
		read  func([]byte) (trace.Reader, error)
	}
	// each writes the events with a new writer on a buffer, then finishes it.
	each := func(events []trace.Event, w interface {
		Write(trace.Event, *trace.Tags) error
	}, finish func() error, buf *bytes.Buffer) ([]byte, error) {
		for _, e := range events {
			if err := w.Write(e, nil); err != nil {
				return nil, err
			}
		}
		err := finish()
		return buf.Bytes(), err
	}
	formats := map[string]format{
		"jsonl": {
			write: func(events []trace.Event) ([]byte, error) {
				var buf bytes.Buffer
				w := trace.NewJSONLWriter(&buf)
				return each(events, w, w.Flush, &buf)
			},
			read: func(b []byte) (trace.Reader, error) { return trace.NewJSONLReader(bytes.NewReader(b), "rt.jsonl"), nil },
		},
		"fltr": {
			write: func(events []trace.Event) ([]byte, error) {
				var buf bytes.Buffer
				w, err := trace.NewBinaryWriter(&buf)
				if err != nil {
					return nil, err
				}
				return each(events, w, w.Close, &buf)
			},
			read: func(b []byte) (trace.Reader, error) { return trace.NewBinaryReader(bytes.NewReader(b), "rt.fltr") },
		},
		"csv": {
			write: func(events []trace.Event) ([]byte, error) {
				var buf bytes.Buffer
				w, err := trace.NewRMMWriter(&buf)
				if err != nil {
					return nil, err
				}
				return each(events, w, w.Flush, &buf)
			},
			read: func(b []byte) (trace.Reader, error) { return trace.NewRMMReader(bytes.NewReader(b), "rt.csv") },
		},
	}
	for _, tc := range poolCases {
		for _, name := range []string{"jsonl", "fltr", "csv"} {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				f := formats[name]
				data, err := f.write(tc.events)
				if name == "csv" && tc.rmm != "" {
					var fe *trace.FormatError
					if !errors.As(err, &fe) || err.Error() != tc.rmm {
						t.Fatalf("error %v (%T), want the *trace.FormatError %q", err, err, tc.rmm)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				r, err := f.read(data)
				if err != nil {
					t.Fatal(err)
				}
				var got []trace.Event
				for {
					e, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("reading back: %v\n%s", err, data)
					}
					got = append(got, e)
				}
				if !reflect.DeepEqual(got, tc.events) {
					t.Errorf("read back\n%v\nwant\n%v", got, tc.events)
				}
			})
		}
	}
}

// TestGeneratedPoolsRoundTrip: a generated trace with some allocations
// moved to private pools, some frees waiting for other streams and pool
// releases converts JSONL -> binary -> JSONL to the same bytes.
func TestGeneratedPoolsRoundTrip(t *testing.T) {
	base, tags := generated(t, 100_000)
	var events []trace.Event
	pool := map[int64]int64{} // id -> pool of its alloc
	var releases int
	for i, e := range base {
		switch e.Op {
		case trace.OpAlloc:
			if i%7 < 3 {
				e.Pool = int64(i%3) + 1
			}
			pool[e.ID] = e.Pool
		case trace.OpFree:
			if e.ID%5 == 0 {
				events = append(events, trace.Event{Op: trace.OpFreeRequested, ID: e.ID})
			}
			if p := pool[e.ID]; p != 0 && e.ID%11 == 0 {
				events = append(events, e, trace.Event{Op: trace.OpReleasePool, Pool: p})
				releases++
				continue
			}
		}
		events = append(events, e)
	}
	if releases == 0 {
		t.Fatal("no release_pool generated")
	}
	jsonl := writeJSONL(t, events, tags)
	bin := writeBinary(t, trace.NewJSONLReader(bytes.NewReader(jsonl), "gen.jsonl"))
	r, err := trace.NewBinaryReader(bytes.NewReader(bin), "gen.fltr")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := trace.NewJSONLWriter(&buf)
	if n := trace.CopyEvents(t, r, w.Write); n != len(events) {
		t.Fatalf("binary holds %d events, want %d", n, len(events))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), jsonl) {
		t.Fatalf("JSONL -> binary -> JSONL of %d events with pools differs", len(events))
	}
	t.Logf("%d events: JSONL %.1f B/event, binary %.1f B/event", len(events),
		float64(len(jsonl))/float64(len(events)), float64(len(bin))/float64(len(events)))
}
