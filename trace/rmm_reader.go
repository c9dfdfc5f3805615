package trace

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// RMMHeader is the first line of a log of RMM's
// rmm::mr::logging_resource_adaptor.
const RMMHeader = "Thread,Time,Action,Pointer,Size,Stream"

// The actions of an RMM log.
const (
	RMMAllocate        = "allocate"
	RMMFree            = "free"
	RMMAllocateFailure = "allocate failure"
)

// RMMRecord is what a line of an RMM log holds beyond the fraglab event.
type RMMRecord struct {
	Line    int    // 1-based line number
	Thread  uint64 // the logging thread's id
	Time    string // HH:MM:SS.ffffff, as logged
	Pointer uint64 // the device pointer (0 for an allocate failure)
}

// RMMFailure is an "allocate failure" line: the upstream resource could not
// serve the request, so the application got an exception and nothing was
// allocated. Failures are not events; they are the log's own out-of-memory
// ground truth.
type RMMFailure struct {
	Event  int64 // index of the next event of the workload (the failure came before it)
	Line   int
	Thread uint64
	Time   string
	Size   int64
	Stream int64
}

// RMMReader reads a log of rmm::mr::logging_resource_adaptor (CSV with the
// header RMMHeader) as a workload. Each allocate gets a fresh allocation id
// (0, 1, … in log order), since RMM reuses pointers after their free; a
// free names its allocation by pointer. Threads, times and pointers are
// kept in RMMRecord (Record), allocate failures in Failures; no tags.
type RMMReader struct {
	lineReader
	tags     *Tags
	live     map[uint64]rmmLive // pointer -> allocation
	nextID   int64
	events   int64
	rec      RMMRecord
	failures []RMMFailure
	threads  map[uint64]int64 // thread -> events
	err      error
}

type rmmLive struct {
	id, size int64
	line     int
}

// NewRMMReader checks the header of the RMM log in r and returns a reader of
// its events. file names the log in error messages.
func NewRMMReader(r io.Reader, file string) (*RMMReader, error) {
	rr := &RMMReader{lineReader: newLineReader(r, file), tags: NewTags(), live: map[uint64]rmmLive{}, threads: map[uint64]int64{}}
	if !rr.sc.Scan() || rr.cutShort() {
		if err := rr.sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: reading the header: %w", rr.name(), err)
		}
		return nil, &Error{File: file, Line: 1, Msg: fmt.Sprintf("empty file: expected the RMM log header %q", RMMHeader)}
	}
	rr.line = 1
	head := strings.TrimSuffix(strings.TrimPrefix(rr.sc.Text(), "\ufeff"), "\r")
	if head != RMMHeader {
		return nil, rr.fail("expected the RMM log header %q, got %q", RMMHeader, shorten(head))
	}
	return rr, nil
}

// Tags returns the registry of the events' tags: RMM logs have none, so
// every event is abi.TagUnknown.
func (r *RMMReader) Tags() *Tags { return r.tags }

// Record returns the RMM fields of the line of the last event returned.
func (r *RMMReader) Record() RMMRecord { return r.rec }

// Failures returns the allocate failures read so far, in log order.
func (r *RMMReader) Failures() []RMMFailure { return r.failures }

// Threads returns the number of events (failures included) per thread read
// so far.
func (r *RMMReader) Threads() map[uint64]int64 { return r.threads }

// Next returns the next event, io.EOF at the end of the log, or an *Error
// naming the line. Errors are sticky.
func (r *RMMReader) Next() (Event, error) {
	if r.err != nil {
		return Event{}, r.err
	}
	for {
		b, err := r.nextLine()
		var e Event
		ok := false // false for an allocate failure: no event
		if err == nil {
			e, ok, err = r.parse(b)
		}
		if err != nil {
			r.err = err
			return Event{}, err
		}
		if ok {
			r.events++
			return e, nil
		}
	}
}

// parse reads one line; ok is false for a failure (no event).
func (r *RMMReader) parse(b []byte) (Event, bool, error) {
	b = bytes.TrimSuffix(b, []byte{'\r'})
	f := strings.Split(string(b), ",")
	if len(f) != 6 {
		return Event{}, false, r.fail("expected 6 comma-separated fields (%s), got %d", RMMHeader, len(f))
	}
	thread, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return Event{}, false, r.fail("Thread %q: expected a decimal thread id", shorten(f[0]))
	}
	if !validRMMTime(f[1]) {
		return Event{}, false, r.fail("Time %q: expected HH:MM:SS.ffffff", shorten(f[1]))
	}
	ptr, ok := parseHex(f[3])
	if !ok {
		return Event{}, false, r.fail("Pointer %q: expected a hexadecimal address such as 0x7f1c2a000000", shorten(f[3]))
	}
	size, err := strconv.ParseInt(f[4], 10, 64)
	if err != nil || size < 0 {
		return Event{}, false, r.fail("Size %q: expected a decimal number of bytes", shorten(f[4]))
	}
	stream, ok := parseHex(f[5])
	if !ok {
		return Event{}, false, r.fail("Stream %q: expected a hexadecimal stream handle such as 0x0", shorten(f[5]))
	}
	r.threads[thread]++
	r.rec = RMMRecord{Line: r.line, Thread: thread, Time: f[1], Pointer: ptr}
	switch f[2] {
	case RMMAllocate:
		if size == 0 {
			return Event{}, false, r.fail("allocate of 0 bytes at %#x: fraglab workloads need a positive size", ptr)
		}
		if ptr == 0 {
			return Event{}, false, r.fail("allocate returned a null pointer: a failed allocation is logged as %q", RMMAllocateFailure)
		}
		if l, live := r.live[ptr]; live {
			return Event{}, false, r.fail("allocate of pointer %#x, which is still live (allocated at line %d and not freed since)", ptr, l.line)
		}
		id := r.nextID
		r.nextID++
		r.live[ptr] = rmmLive{id: id, size: size, line: r.line}
		return Event{Op: OpAlloc, ID: id, Size: size, Stream: int64(stream)}, true, nil
	case RMMFree:
		l, live := r.live[ptr]
		if !live {
			return Event{}, false, r.fail("free of pointer %#x, which is not live (never allocated, or already freed)", ptr)
		}
		if size != l.size {
			return Event{}, false, r.fail("free of pointer %#x with size %d, but it was allocated with size %d at line %d", ptr, size, l.size, l.line)
		}
		delete(r.live, ptr)
		return Event{Op: OpFree, ID: l.id}, true, nil
	case RMMAllocateFailure:
		r.failures = append(r.failures, RMMFailure{Event: r.events, Line: r.line, Thread: thread, Time: f[1], Size: size, Stream: int64(stream)})
		return Event{}, false, nil
	}
	return Event{}, false, r.fail("unknown Action %q: expected %q, %q or %q", shorten(f[2]), RMMAllocate, RMMFree, RMMAllocateFailure)
}

// parseHex parses a hexadecimal number with or without 0x (RMM's fmt-based
// logger writes 0x7f..., its printf-based one 7f...); "(nil)" is 0.
func parseHex(s string) (uint64, bool) {
	if s == "(nil)" {
		return 0, true
	}
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if s == "" {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 16, 64)
	return v, err == nil
}

// validRMMTime reports whether s looks like spdlog's %H:%M:%S.%f: three
// colon-separated fields of digits, then a '.' (or ':', as RMM's own parser
// documents) and digits.
func validRMMTime(s string) bool {
	if len(s) < 8 {
		return false
	}
	for i, part := range strings.SplitN(s, ":", 3) {
		if i < 2 && (part == "" || strings.Trim(part, "0123456789") != "") {
			return false
		}
		if i == 2 {
			sec, frac, ok := strings.Cut(part, ".")
			if !ok {
				sec, frac, ok = strings.Cut(part, ":")
			}
			if sec == "" || strings.Trim(sec, "0123456789") != "" || (ok && (frac == "" || strings.Trim(frac, "0123456789") != "")) {
				return false
			}
		}
	}
	return strings.Count(s, ":") >= 2
}

func shorten(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

func init() {
	Register(".csv", func(r io.Reader, file string) (Reader, error) {
		return NewRMMReader(r, file)
	})
}
