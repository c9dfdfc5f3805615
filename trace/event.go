package trace

import "strconv"

// Op is the kind of an event.
type Op uint8

// The event kinds.
const (
	OpAlloc      Op = iota // allocate Size bytes under ID
	OpFree                 // free the live allocation ID
	OpEmptyCache           // the workload asked to release cached memory
)

// String returns the op's name in traces: "alloc", "free" or "empty_cache".
func (o Op) String() string {
	switch o {
	case OpAlloc:
		return "alloc"
	case OpFree:
		return "free"
	case OpEmptyCache:
		return "empty_cache"
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// Event is one step of a workload. Size, Stream and Tag are zero for free
// and empty_cache; ID is zero for empty_cache.
type Event struct {
	Op     Op
	ID     int64 // allocation id, unique among live allocations
	Size   int64 // requested bytes (alloc only)
	Stream int64 // raw stream value of the trace, 0 by default (alloc only)
	Tag    int32 // tag id from the reader's Tags (alloc only)
}

// Reader is a stream of events.
type Reader interface {
	// Next returns the next event, or io.EOF at the end of the trace.
	Next() (Event, error)
	// Tags returns the registry that names the Tag ids of the events.
	Tags() *Tags
}

// Error is a problem at a line of a trace file.
type Error struct {
	File string // file name; may be empty
	Line int    // 1-based line number
	Msg  string // what is wrong and what was expected
}

// Error returns "FILE:LINE: MSG", or "line LINE: MSG" without a file name.
func (e *Error) Error() string {
	if e.File == "" {
		return "line " + strconv.Itoa(e.Line) + ": " + e.Msg
	}
	return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
}
