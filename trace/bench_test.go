package trace

import (
	"bytes"
	"io"
	"testing"

	"github.com/fraglab/fraglab/sdk/abi"
)

// benchEvents is about the number of events of the benchmark trace.
const benchEvents = 1_000_000

// benchTrace returns the benchmark trace as the writer formats it.
func benchTrace(b *testing.B) []byte {
	var buf bytes.Buffer
	writeBench(b, NewJSONLWriter(&buf), benchTags())
	return buf.Bytes()
}

func benchTags() *Tags {
	tags := NewTags()
	tags.ID("moe_router")
	return tags
}

// writeBench writes alloc/free events interleaved, with up to 1000 live
// allocations and all four optional fields in use, and returns how many.
func writeBench(b *testing.B, w *JSONLWriter, tags *Tags) int {
	const window = 1000
	tagIDs := [3]int32{abi.TagUnknown, abi.TagActivation, abi.FirstCustomTag}
	n := 0
	for i := int64(0); n < benchEvents; i++ {
		e := Event{Op: OpAlloc, ID: i, Size: 512 * (i%4096 + 1), Stream: i % 2, Tag: tagIDs[i%3]}
		if err := w.Write(e, tags); err != nil {
			b.Fatal(err)
		}
		n++
		if i >= window-1 {
			if err := w.Write(Event{Op: OpFree, ID: i - window + 1}, tags); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	return n
}

func BenchmarkJSONLReader(b *testing.B) {
	data := benchTrace(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	events := 0
	for b.Loop() {
		r := NewJSONLReader(bytes.NewReader(data), "bench")
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			events++
		}
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkJSONLWriter(b *testing.B) {
	tags := benchTags()
	b.ReportAllocs()
	events := 0
	for b.Loop() {
		events += writeBench(b, NewJSONLWriter(io.Discard), tags)
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}
