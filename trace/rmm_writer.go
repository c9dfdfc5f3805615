package trace

import (
	"bufio"
	"fmt"
	"io"
	"strconv"

	"github.com/fraglab/fraglab/sdk/abi"
)

// RMMBase is the first pointer RMMWriter makes up for allocations whose
// pointer is not given.
const RMMBase = 0x7f0000000000

// RMMWriter writes events as a log of rmm::mr::logging_resource_adaptor that
// RMM's replay benchmark (benchmarks/replay) reads: the header RMMHeader,
// then "THREAD,HH:MM:SS.ffffff,ACTION,POINTER,SIZE,STREAM" lines with the
// pointer and stream in hexadecimal (printf's %llx, as RMM's current
// adaptor writes them). Call Flush when done.
//
// Events carry no pointers, threads or times; WriteRecord takes them from
// an RMMRecord (an RMM log read back), and Write makes them up: pointers
// from RMMBase on, each after the previous allocation rounded up to 256
// bytes (never reused), thread 0, and the event's index as microseconds.
// RMM logs cannot hold empty_cache events or tags: Dropped counts them.
// Nor can they hold private pools or frees that wait for other streams: an
// alloc to a private pool, a free_requested, a release_pool or the
// empty_cache of a private pool is refused with a *FormatError, never
// dropped silently.
type RMMWriter struct {
	w      *bufio.Writer
	buf    []byte
	index  int64            // events given to Write and WriteRecord so far
	live   map[int64]rmmOut // id -> pointer, size, stream
	next   uint64           // next made-up pointer
	lines  int64            // lines written after the header
	empty  int64            // empty_cache events dropped
	tagged int64            // allocations whose tag was dropped
}

type rmmOut struct {
	ptr    uint64
	size   int64
	stream int64
}

// NewRMMWriter writes the header to w and returns a writer of events.
func NewRMMWriter(w io.Writer) (*RMMWriter, error) {
	rw := &RMMWriter{w: bufio.NewWriterSize(w, 64<<10), live: map[int64]rmmOut{}, next: RMMBase}
	if _, err := rw.w.WriteString(RMMHeader + "\n"); err != nil {
		return nil, err
	}
	return rw, nil
}

// Write writes e with a made-up pointer, thread 0 and time.
func (w *RMMWriter) Write(e Event, tags *Tags) error {
	return w.WriteRecord(e, RMMRecord{})
}

// WriteRecord writes e with the thread, time and pointer of rec; a zero
// Time or Pointer is made up as by Write. A free uses the pointer, size and
// stream of its allocation.
func (w *RMMWriter) WriteRecord(e Event, rec RMMRecord) error {
	i := w.index
	w.index++
	switch e.Op {
	case OpAlloc:
		if e.Pool != 0 {
			return &FormatError{Index: i, Event: e, Format: "an RMM log", Why: "RMM logs have no private pools"}
		}
		if e.Size <= 0 {
			return fmt.Errorf("trace: cannot write alloc of id %d: %s, got %d", e.ID, sizeRule, e.Size)
		}
		if _, dup := w.live[e.ID]; dup {
			return fmt.Errorf("trace: cannot write alloc of id %d: the id is still live", e.ID)
		}
		ptr := rec.Pointer
		if ptr == 0 {
			ptr = w.next
			w.next += (uint64(e.Size) + 255) &^ 255
		}
		if e.Tag != abi.TagUnknown {
			w.tagged++
		}
		w.live[e.ID] = rmmOut{ptr: ptr, size: e.Size, stream: e.Stream}
		return w.line(rec, RMMAllocate, ptr, e.Size, e.Stream)
	case OpFree:
		a, ok := w.live[e.ID]
		if !ok {
			return fmt.Errorf("trace: cannot write free of id %d: no live allocation has this id", e.ID)
		}
		delete(w.live, e.ID)
		return w.line(rec, RMMFree, a.ptr, a.size, a.stream)
	case OpEmptyCache:
		if e.Pool != 0 {
			return &FormatError{Index: i, Event: e, Format: "an RMM log", Why: "RMM logs have no private pools"}
		}
		w.empty++
		return nil
	case OpFreeRequested:
		return &FormatError{Index: i, Event: e, Format: "an RMM log", Why: "RMM logs have no frees that wait for other streams (record_stream)"}
	case OpReleasePool:
		return &FormatError{Index: i, Event: e, Format: "an RMM log", Why: "RMM logs have no private pools"}
	}
	return fmt.Errorf("trace: cannot write event with unknown %s", e.Op)
}

// FormatError is a writer's refusal of an event that its format cannot
// hold (an RMM log's of private pools and pending frees).
type FormatError struct {
	Index  int64  // the event's index among those given to the writer, from 0
	Event  Event  // the event refused
	Format string // the format, as a message names it: "an RMM log"
	Why    string // what the format lacks
}

// Error returns "trace: cannot write event INDEX (EVENT) to FORMAT: WHY".
func (e *FormatError) Error() string {
	return fmt.Sprintf("trace: cannot write event %d (%s) to %s: %s", e.Index, describe(e.Event), e.Format, e.Why)
}

// describe names e for a message: "alloc of id 3 in private pool 1",
// "free_requested of id 3", "release_pool of pool 1", "empty_cache of
// pool 1", "empty_cache".
func describe(e Event) string {
	switch e.Op {
	case OpAlloc:
		if e.Pool != 0 {
			return fmt.Sprintf("alloc of id %d in private pool %d", e.ID, e.Pool)
		}
		return fmt.Sprintf("alloc of id %d", e.ID)
	case OpFree, OpFreeRequested:
		return fmt.Sprintf("%s of id %d", e.Op, e.ID)
	case OpReleasePool:
		return fmt.Sprintf("release_pool of pool %d", e.Pool)
	case OpEmptyCache:
		if e.Pool != 0 {
			return fmt.Sprintf("empty_cache of pool %d", e.Pool)
		}
	}
	return e.Op.String()
}

// WriteFailure writes an "allocate failure" line (null pointer).
func (w *RMMWriter) WriteFailure(f RMMFailure) error {
	return w.line(RMMRecord{Thread: f.Thread, Time: f.Time}, RMMAllocateFailure, 0, f.Size, f.Stream)
}

func (w *RMMWriter) line(rec RMMRecord, action string, ptr uint64, size, stream int64) error {
	b := strconv.AppendUint(w.buf[:0], rec.Thread, 10)
	b = append(b, ',')
	if rec.Time != "" {
		b = append(b, rec.Time...)
	} else {
		b = appendRMMTime(b, w.lines)
	}
	b = append(b, ',')
	b = append(b, action...)
	b = append(b, ',')
	b = strconv.AppendUint(b, ptr, 16)
	b = append(b, ',')
	b = strconv.AppendInt(b, size, 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(stream), 16)
	b = append(b, '\n')
	w.buf = b
	w.lines++
	_, err := w.w.Write(b)
	return err
}

// appendRMMTime appends us microseconds after midnight (modulo a day) as
// HH:MM:SS.ffffff.
func appendRMMTime(b []byte, us int64) []byte {
	us %= 24 * 3600 * 1_000_000
	pad := func(b []byte, v int64, n int) []byte {
		s := strconv.FormatInt(v, 10)
		for i := len(s); i < n; i++ {
			b = append(b, '0')
		}
		return append(b, s...)
	}
	b = pad(b, us/3_600_000_000, 2)
	b = append(b, ':')
	b = pad(b, us/60_000_000%60, 2)
	b = append(b, ':')
	b = pad(b, us/1_000_000%60, 2)
	b = append(b, '.')
	return pad(b, us%1_000_000, 6)
}

// Flush writes buffered lines to the underlying writer.
func (w *RMMWriter) Flush() error { return w.w.Flush() }

// Dropped describes what the log could not hold, one line per kind, or
// nothing.
func (w *RMMWriter) Dropped() []string {
	var d []string
	if w.empty > 0 {
		d = append(d, fmt.Sprintf("%d empty_cache events (RMM logs have no such action)", w.empty))
	}
	if w.tagged > 0 {
		d = append(d, fmt.Sprintf("the tags of %d allocations (RMM logs have no tags)", w.tagged))
	}
	return d
}
