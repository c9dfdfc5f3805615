// Package cudadriver is fraglab's view of a GPU: the Device interface (classic
// segments and virtual-memory mapping) and its backends. The sim backend is a
// deterministic simulated device; the cuda backend (real CUDA memory through
// the driver API) comes with its own files.
package cudadriver

import (
	"errors"
	"fmt"
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
}

// ErrOutOfMemory is returned (wrapped) by Alloc and Map when the device has no
// room left. Hosts react to it by releasing cached memory and retrying.
var ErrOutOfMemory = errors.New("out of memory")

// ErrNoDriver is returned (wrapped) when no CUDA driver can be loaded.
var ErrNoDriver = errors.New("no CUDA driver")

// OOMError reports an allocation the device could not satisfy.
type OOMError struct {
	Size, Free, Capacity int64
}

func (e *OOMError) Error() string {
	return fmt.Sprintf("out of memory: asked %d bytes, %d of %d free", e.Size, e.Free, e.Capacity)
}

// Unwrap makes errors.Is(err, ErrOutOfMemory) true.
func (e *OOMError) Unwrap() error { return ErrOutOfMemory }
