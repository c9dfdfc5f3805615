package trace_test

import (
	"bytes"
	"os"
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
