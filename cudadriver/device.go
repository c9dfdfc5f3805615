// Package cudadriver is fraglab's view of a GPU: the Device interface (classic
// segments and virtual-memory mapping) and its backends. The sim backend is a
// deterministic simulated device; the cuda backend (real CUDA memory through
// the driver API) comes with its own files.
package cudadriver

import (
	"errors"
	"fmt"
	"time"
)

// Device is the memory of one GPU as an allocator host sees it. Addresses are
// device virtual addresses; sizes are bytes. Implementations are not safe for
// concurrent use: one run owns one Device.
type Device interface {
	// Info describes the device.
	Info() Info
	// Alloc allocates a contiguous classic segment of size bytes (cudaMalloc).
	Alloc(size int64) (addr uint64, err error)
	// Free releases a segment returned by Alloc.
	Free(addr uint64) error
	// Reserve reserves a virtual address range of size bytes, a multiple of
	// the granularity, backed by no memory yet (cuMemAddressReserve).
	Reserve(size int64) (addr uint64, err error)
	// Map backs [addr, addr+size) of a reserved range with physical pages
	// (cuMemCreate + cuMemMap + cuMemSetAccess). addr and size are multiples
	// of the granularity and the range must be unmapped.
	Map(addr uint64, size int64) error
	// Unmap releases the physical pages of a mapped [addr, addr+size).
	Unmap(addr uint64, size int64) error
	// Release returns a reserved range; it must be fully unmapped.
	Release(addr uint64) error
	// MemInfo reports free and total device bytes (cuMemGetInfo). Total is
	// the capacity; with no capacity set on sim both are -1 (unlimited).
	MemInfo() (free, total int64)
	// Counters reports how many calls of each kind were made.
	Counters() Counters
	// Timings reports the time spent in calls of each kind: measured on a
	// real device, estimated from a latency profile on sim.
	Timings() Timings
	// Close releases everything the device still holds.
	Close() error
}

// Info describes a device.
type Info struct {
	Name        string // e.g. "sim" or "NVIDIA H100 80GB HBM3"
	Backend     string // "sim" or "cuda"
	Capacity    int64  // usable bytes; -1 when unlimited
	Granularity int64  // allocation and mapping granularity in bytes
}

// Counters counts device calls. Failed calls are counted separately.
type Counters struct {
	Allocs, Frees, Reserves, Releases, Maps, Unmaps int64
	FailedAllocs, FailedMaps                        int64
	AllocBytes, FreeBytes, MapBytes, UnmapBytes     int64
	// Stitched ranges (Stitcher): MapAlias and UnmapAlias calls, and the
	// bytes MapAlias mapped (no memory is created for them).
	AliasMaps, AliasUnmaps, AliasBytes int64
}

// Timings is the time spent in device calls of each kind, failed calls
// included.
type Timings struct {
	Alloc, Free, Reserve, Release, Map, Unmap, MemInfo time.Duration
	// Measured is true when the durations are wall-clock times of real
	// driver calls; false when they are estimates from a latency profile
	// (all zero without one).
	Measured bool
}

// Total is the sum of every kind.
func (t Timings) Total() time.Duration {
	return t.Alloc + t.Free + t.Reserve + t.Release + t.Map + t.Unmap + t.MemInfo
}

// ErrOutOfMemory is returned (wrapped) by Alloc and Map when the device has no
// room left. Hosts react to it by releasing cached memory and retrying.
var ErrOutOfMemory = errors.New("out of memory")

// ErrNoDriver is returned (wrapped) when no CUDA driver can be loaded.
var ErrNoDriver = errors.New("no CUDA driver")

// OOMError reports an allocation the device could not satisfy.
type OOMError struct {
	Size, Free, Capacity int64
	// Cause is the driver's error when the driver refused (cuda), nil when
	// the capacity did.
	Cause error
}

func (e *OOMError) Error() string {
	s := fmt.Sprintf("out of memory: asked %d bytes, %d of %d free", e.Size, e.Free, e.Capacity)
	if e.Cause != nil {
		s += " (" + e.Cause.Error() + ")"
	}
	return s
}

// Unwrap makes errors.Is(err, ErrOutOfMemory) true, and reaches the cause.
func (e *OOMError) Unwrap() []error {
	if e.Cause != nil {
		return []error{ErrOutOfMemory, e.Cause}
	}
	return []error{ErrOutOfMemory}
}
