package trace

import "strconv"

// Op is the kind of an event.
type Op uint8

// The event kinds.
const (
	OpAlloc Op = iota // allocate Size bytes under ID
	OpFree            // free the live allocation ID
	// OpEmptyCache: the workload asked to release cached memory: the whole
	// device's (torch.cuda.empty_cache()) when Pool is 0, else only
	// private pool Pool's (PyTorch's emptyCache(mempool_id), which
	// torch.cuda.MemPool's destructor calls after releasePool).
	OpEmptyCache
	// OpFreeRequested: the workload freed ID, but its block waits for work
	// queued on other streams (PyTorch's record_stream): it is reusable only
	// after a later OpFree of the same ID (PyTorch's free_completed), or
	// after a release synchronises the device. The ID stays live until then.
	OpFreeRequested
	// OpReleasePool: the last user of private pool Pool let go of it (a
	// CUDA graph destroyed, a torch.cuda.MemPool deleted): its cached
	// blocks become releasable (PyTorch's releasePool, use count 0).
	OpReleasePool
)

// String returns the op's name in traces: "alloc", "free", "empty_cache",
// "free_requested" or "release_pool".
func (o Op) String() string {
	switch o {
	case OpAlloc:
		return "alloc"
	case OpFree:
		return "free"
	case OpEmptyCache:
		return "empty_cache"
	case OpFreeRequested:
		return "free_requested"
	case OpReleasePool:
		return "release_pool"
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// Event is one step of a workload. Size, Stream and Tag are zero but for
// alloc; ID is zero for empty_cache and release_pool; Pool is zero but for
// alloc, release_pool and the empty_cache of a private pool.
type Event struct {
	Op     Op
	ID     int64 // allocation id, unique among live allocations
	Size   int64 // requested bytes (alloc only)
	Stream int64 // raw stream value of the trace, 0 by default (alloc only)
	Tag    int32 // tag id from the reader's Tags (alloc only)
	// Pool is the private memory pool an alloc is served from (a CUDA
	// graph's or a torch.cuda.MemPool's), the pool release_pool lets go
	// of, or the only pool an empty_cache releases; 0 is the default pool
	// (for empty_cache: the whole device), private pools are 1 and up.
	Pool int64
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
