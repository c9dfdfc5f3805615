// Package synth generates deterministic synthetic workloads for tests and
// benchmarks: a random mix of allocations and frees around a bounded live
// set, with sizes spread across PyTorch's pool and segment boundaries.
package synth

import (
	"io"
	"math/rand"

	"github.com/fraglab/fraglab/trace"
)

// Mixed returns n events (allocs, frees and the final frees) drawn from
// seed, keeping at most maxLive allocations live. Sizes: 60% small (≤ 1
// MiB), 30% 1–10 MiB, 10% 10–200 MiB.
func Mixed(seed int64, n, maxLive int) []trace.Event {
	r := rand.New(rand.NewSource(seed))
	out := make([]trace.Event, 0, n)
	live := make([]int64, 0, maxLive)
	var next int64
	for len(out) < n {
		if len(live) > 0 && (len(live) >= maxLive || r.Intn(2) == 0 || len(out)+len(live) >= n) {
			j := r.Intn(len(live))
			out = append(out, trace.Event{Op: trace.OpFree, ID: live[j]})
			live[j] = live[len(live)-1]
			live = live[:len(live)-1]
			continue
		}
		out = append(out, trace.Event{Op: trace.OpAlloc, ID: next, Size: size(r), Tag: int32(r.Intn(3))})
		live = append(live, next)
		next++
	}
	return out
}

func size(r *rand.Rand) int64 {
	switch k := r.Intn(10); {
	case k < 6:
		return 1 + r.Int63n(1<<20)
	case k < 9:
		return (1 << 20) + r.Int63n(9<<20)
	}
	return (10 << 20) + r.Int63n(190<<20)
}

// Reader replays a slice of events as a trace.Reader.
type Reader struct {
	Events []trace.Event
	i      int
	tags   *trace.Tags
}

// NewReader returns a reader over events.
func NewReader(events []trace.Event) *Reader { return NewReaderTags(events, trace.NewTags()) }

// NewReaderTags returns a reader over events whose tag ids are named by tags.
func NewReaderTags(events []trace.Event, tags *trace.Tags) *Reader {
	return &Reader{Events: events, tags: tags}
}

// Next implements trace.Reader.
func (r *Reader) Next() (trace.Event, error) {
	if r.i >= len(r.Events) {
		return trace.Event{}, io.EOF
	}
	r.i++
	return r.Events[r.i-1], nil
}

// Tags implements trace.Reader.
func (r *Reader) Tags() *trace.Tags { return r.tags }
