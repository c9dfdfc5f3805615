package fraglab

import (
	"fmt"
	"unsafe"
)

// Typed wrappers of the host imports (sdk/ABI.md §5). The raw imports are
// host* in imports_wasip1.go (WebAssembly) and imports_stub.go (plain Go,
// backed by FakeHost).

// str passes a string's bytes to an import without copying them.
func str(s string) (unsafe.Pointer, int32) {
	return unsafe.Pointer(unsafe.StringData(s)), int32(len(s))
}

// ParamInt returns the run parameter name as an integer, or def when the
// run does not set it; "true" and "false" read as 1 and 0. Call it from
// Init: a value that does not parse refuses the module, and so does a
// parameter the policy never read.
func ParamInt(name string, def int64) int64 {
	p, n := str(name)
	return hostParamI64(p, n, def)
}

// ParamBool returns the run parameter name as a boolean (true, false, or an
// integer, non-zero being true), or def when the run does not set it. Call
// it from Init.
func ParamBool(name string, def bool) bool {
	d := int64(0)
	if def {
		d = 1
	}
	return ParamInt(name, d) != 0
}

// ParamFloat returns the run parameter name as a float, or def when the run
// does not set it. Call it from Init.
func ParamFloat(name string, def float64) float64 {
	p, n := str(name)
	return hostParamF64(p, n, def)
}

// ParamString returns the run parameter name as text, or def when the run
// does not set it. It allocates: call it from Init.
func ParamString(name, def string) string {
	p, n := str(name)
	size := hostParamStr(p, n, nil, 0)
	if size < 0 {
		return def
	}
	if size == 0 {
		return ""
	}
	buf := make([]byte, size)
	hostParamStr(p, n, unsafe.Pointer(&buf[0]), size)
	return string(buf)
}

// Stat returns the allocator's state: key is a Stat* constant, arg the
// pool for the per-pool keys. Unknown keys answer StatUnknown. It does not
// allocate.
func Stat(key, arg int32) int64 { return hostStat(key, arg) }

// MergeOffsets returns, during Merge, the offsets in their segment of the
// freed block (as merged so far) and of its free neighbour, in bytes from
// the segment's base (ABI 1.2, StatMergeBlockOffset and
// StatMergeNeighbourOffset). ok is false outside Merge. It does not
// allocate. A binary buddy merges when the sizes are equal and
// min(block, neighbour) is a multiple of twice the size.
func MergeOffsets() (block, neighbour int64, ok bool) {
	block = hostStat(StatMergeBlockOffset, 0)
	neighbour = hostStat(StatMergeNeighbourOffset, 0)
	if block < 0 || neighbour < 0 {
		return -1, -1, false
	}
	return block, neighbour, true
}

// RequestPrivatePool returns, while the host serves an allocation (in every
// hook it asks then), the private memory pool the allocation is made to:
// 0 for the default pool, the pool's id (>= 1) for a private one (ABI 1.4,
// StatRequestPrivatePool, sdk/ABI.md §3.6). ok is false outside an
// allocation (a free, empty_cache) and in Init. It does not allocate.
func RequestPrivatePool() (pool int64, ok bool) {
	pool = hostStat(StatRequestPrivatePool, 0)
	if pool < 0 {
		return -1, false
	}
	return pool, true
}

// Log writes msg as one line of the run's log at level Log* (the host keeps
// the first 1000 lines of a run). It does not allocate by itself, so a
// constant message is fine in a hook.
func Log(level int32, msg string) {
	p, n := str(msg)
	hostLog(level, p, n)
}

// Logf formats a line for the run's log. It allocates: keep it out of hooks
// on the hot path.
func Logf(level int32, format string, args ...any) {
	Log(level, fmt.Sprintf(format, args...))
}

// Errorf sets the error text (error_set) and returns Error, so a hook can
// fail with
//
//	return fraglab.Errorf("pool %d: no such pool", pool)
//
// It allocates, which is fine on a path that ends the run. Init returns an
// error instead; the SDK hands its text to error_set.
func Errorf(format string, args ...any) int64 {
	setError(fmt.Sprintf(format, args...))
	return Error
}

// Fail sets the error text to msg and returns Error, without allocating.
func Fail(msg string) int64 {
	setError(msg)
	return Error
}

func setError(msg string) {
	p, n := str(msg)
	hostErrorSet(p, n)
}

// TagName returns the name of tag id, and false for an unknown id. It
// allocates: look names up in Init or cache them.
func TagName(id int32) (string, bool) {
	size := hostTagName(id, nil, 0)
	if size < 0 {
		return "", false
	}
	if size == 0 {
		return "", true
	}
	buf := make([]byte, size)
	hostTagName(id, unsafe.Pointer(&buf[0]), size)
	return string(buf), true
}

// Config sets configuration key to value and returns the value in force,
// or Error for an unknown key or a value out of range (sdk/ABI.md §5.5).
// It works in Init only. The SDK sets ConfigHooks, ConfigCandidateWindow,
// ConfigMergeRepeat and ConfigReserveLimit itself (implement Windowed,
// MergeRepeater and ReserveLimiter for the last three); Config is for keys
// a later ABI minor adds.
func Config(key int32, value int64) int64 { return hostConfig(key, value) }
