package cudadriver

import (
	"errors"
	"fmt"
	"time"
)

// CUDAOptions configures the cuda backend.
type CUDAOptions struct {
	// Index is the CUDA device ordinal.
	Index int
	// Capacity caps the bytes the device may hold (segment footprints plus
	// mapped pages), so runs compare across cards: past it Alloc and Map
	// return an *OOMError. 0 means the free memory when the device opens.
	// A cap above the free memory is an error.
	Capacity int64
}

// CUDAError is a failed CUDA driver call.
type CUDAError struct {
	Call string // e.g. "cuMemAlloc_v2"
	Code int    // CUresult
	Name string // cuGetErrorName, e.g. "CUDA_ERROR_OUT_OF_MEMORY"
	Text string // cuGetErrorString
}

func (e *CUDAError) Error() string {
	return fmt.Sprintf("%s: %s (%s, code %d)", e.Call, e.Text, e.Name, e.Code)
}

// cudaErrorOutOfMemory is CUDA_ERROR_OUT_OF_MEMORY.
const cudaErrorOutOfMemory = 2

// isDriverOOM reports whether err is the driver's out-of-memory error.
func isDriverOOM(err error) bool {
	var ce *CUDAError
	return errors.As(err, &ce) && ce.Code == cudaErrorOutOfMemory
}

// driver is the raw CUDA driver API the cuda backend needs, for one device
// with its primary context current. cuda_cgo.go implements it over
// libcuda.so.1 loaded at run time; tests use a fake. Every error is a
// *CUDAError.
type driver interface {
	memGetInfo() (free, total int64, err error)
	memAlloc(size int64) (uint64, error)
	memFree(ptr uint64) error
	addressReserve(size, align int64) (uint64, error)
	addressFree(ptr uint64, size int64) error
	memCreate(size int64) (handle uint64, err error)
	memRelease(handle uint64) error
	memMap(ptr uint64, size int64, handle uint64) error
	memUnmap(ptr uint64, size int64) error
	setAccess(ptr uint64, size int64) error
	memsetD32(ptr uint64, v uint32, words int64) error
	memcpyDtoH(dst []uint32, src uint64) error
	synchronize() error
	close() error
}

// driverDevice describes the device a driver opened.
type driverDevice struct {
	Name        string
	Granularity int64 // cuMemGetAllocationGranularity, minimum
	Version     int   // cuDriverGetVersion, e.g. 12040
}

// CUDA is real GPU memory through the CUDA driver API: classic segments
// with cuMemAlloc/cuMemFree, expandable segments with cuMemAddressReserve,
// cuMemCreate, cuMemMap, cuMemSetAccess, cuMemUnmap, cuMemRelease at the
// allocation granularity (one physical handle per granule, so any mapped
// sub-range can be unmapped). Every call is timed. Not safe for concurrent
// use; the driver calls run on one locked OS thread.
type CUDA struct {
	drv     driver
	info    Info
	index   int
	version int
	ledger
	reserved  map[uint64]*cudaReservation
	rangeHint uint64 // base of the reservation a range lookup found last (findRange)
	// aliased counts, per physical handle, the stitched ranges mapping it;
	// a handle released (cuMemRelease) while aliased keeps its memory, and
	// its bytes on the cap, until the last alias goes.
	aliased  map[uint64]int
	orphaned map[uint64]bool // handles released while aliased
	timings  Timings
	closed   bool
}

type cudaReservation struct {
	size    int64
	handles map[int64]uint64 // granule index → physical handle
	alias   bool             // mapped by MapAlias: the handles are other ranges'
}

// OpenCUDA opens CUDA device opts.Index. Without a driver the error wraps
// ErrNoDriver ("no CUDA driver: ..." with the loader's reason).
func OpenCUDA(opts CUDAOptions) (*CUDA, error) {
	drv, dd, err := openDriver(opts.Index)
	if err != nil {
		return nil, err
	}
	return newCUDA(drv, dd, opts)
}

func newCUDA(drv driver, dd driverDevice, opts CUDAOptions) (*CUDA, error) {
	free, _, err := drv.memGetInfo()
	if err != nil {
		drv.close()
		return nil, err
	}
	capacity := opts.Capacity
	switch {
	case capacity < 0:
		drv.close()
		return nil, fmt.Errorf("cuda:%d: capacity %d: must be ≥ 0", opts.Index, capacity)
	case capacity == 0:
		capacity = free / dd.Granularity * dd.Granularity
	case capacity > free:
		drv.close()
		return nil, fmt.Errorf("cuda:%d (%s): capacity cap %d bytes is above the %d bytes free: lower --capacity or free the GPU", opts.Index, dd.Name, capacity, free)
	}
	return &CUDA{
		drv:      drv,
		info:     Info{Name: dd.Name, Backend: "cuda", Capacity: capacity, Granularity: dd.Granularity},
		index:    opts.Index,
		version:  dd.Version,
		ledger:   newLedger(),
		reserved: map[uint64]*cudaReservation{},
		aliased:  map[uint64]int{},
		orphaned: map[uint64]bool{},
		timings:  Timings{Measured: true},
	}, nil
}

// Info implements Device.
func (c *CUDA) Info() Info { return c.info }

// Index is the CUDA device ordinal.
func (c *CUDA) Index() int { return c.index }

// DriverVersion is cuDriverGetVersion's answer, e.g. 12040 for 12.4.
func (c *CUDA) DriverVersion() int { return c.version }

func (c *CUDA) roundUp(n int64) int64 {
	g := c.info.Granularity
	return (n + g - 1) / g * g
}

func (c *CUDA) oom(n int64, cause error) error {
	free, total := c.MemInfo()
	return &OOMError{Size: n, Free: free, Capacity: total, Cause: cause}
}

// Alloc implements Device with cuMemAlloc.
func (c *CUDA) Alloc(size int64) (uint64, error) {
	if size <= 0 {
		return 0, fmt.Errorf("cuda: alloc of %d bytes: size must be positive", size)
	}
	start := time.Now()
	defer func() { c.timings.Alloc += time.Since(start) }()
	foot := c.roundUp(size)
	if c.used+foot > c.info.Capacity {
		c.counters.FailedAllocs++
		return 0, c.oom(size, nil)
	}
	addr, err := c.drv.memAlloc(size)
	if err != nil {
		c.counters.FailedAllocs++
		if isDriverOOM(err) {
			return 0, c.oom(size, err)
		}
		return 0, err
	}
	c.addSegment(addr, size, foot)
	return addr, nil
}

// Free implements Device with cuMemFree.
func (c *CUDA) Free(addr uint64) error {
	size, err := c.segmentSize("cuda", addr)
	if err != nil {
		return err
	}
	start := time.Now()
	defer func() { c.timings.Free += time.Since(start) }()
	if err := c.drv.memFree(addr); err != nil {
		return err
	}
	c.dropSegment(addr, size, c.roundUp(size))
	return nil
}

// Reserve implements Device with cuMemAddressReserve.
func (c *CUDA) Reserve(size int64) (uint64, error) {
	g := c.info.Granularity
	if size <= 0 || size%g != 0 {
		return 0, fmt.Errorf("cuda: reserve of %d bytes: size must be a positive multiple of %d", size, g)
	}
	start := time.Now()
	defer func() { c.timings.Reserve += time.Since(start) }()
	addr, err := c.drv.addressReserve(size, g)
	if err != nil {
		return 0, err
	}
	c.reserved[addr] = &cudaReservation{size: size, handles: map[int64]uint64{}}
	c.counters.Reserves++
	return addr, nil
}

// Map implements Device: one cuMemCreate and cuMemMap per granule, then
// one cuMemSetAccess over the range. On failure what was mapped is undone.
func (c *CUDA) Map(addr uint64, size int64) error {
	g := c.info.Granularity
	r, first, n, err := checkMapRange("cuda", "granule", c.reserved, &c.rangeHint, g, addr, size, false)
	if err != nil {
		return err
	}
	start := time.Now()
	defer func() { c.timings.Map += time.Since(start) }()
	if c.used+size > c.info.Capacity {
		c.counters.FailedMaps++
		return c.oom(size, nil)
	}
	var done []int64
	undo := func(cause error) error {
		for _, p := range done {
			at := addr + uint64((p-first)*g)
			c.drv.memUnmap(at, g)
			c.drv.memRelease(r.handles[p])
			delete(r.handles, p)
		}
		c.counters.FailedMaps++
		if isDriverOOM(cause) {
			return c.oom(size, cause)
		}
		return cause
	}
	for p := first; p < first+n; p++ {
		h, err := c.drv.memCreate(g)
		if err != nil {
			return undo(err)
		}
		if err := c.drv.memMap(addr+uint64((p-first)*g), g, h); err != nil {
			c.drv.memRelease(h)
			return undo(err)
		}
		r.handles[p] = h
		done = append(done, p)
	}
	if err := c.drv.setAccess(addr, size); err != nil {
		return undo(err)
	}
	c.addMapped(size)
	return nil
}

// Unmap implements Device: cuMemUnmap and cuMemRelease per granule.
func (c *CUDA) Unmap(addr uint64, size int64) error {
	g := c.info.Granularity
	r, first, n, err := checkMapRange("cuda", "granule", c.reserved, &c.rangeHint, g, addr, size, true)
	if err != nil {
		return err
	}
	if r.alias {
		return fmt.Errorf("cuda: unmap of %d bytes at %#x: a stitched range, unmapped whole by UnmapAlias", size, addr)
	}
	start := time.Now()
	defer func() { c.timings.Unmap += time.Since(start) }()
	for p := first; p < first+n; p++ {
		if err := c.drv.memUnmap(addr+uint64((p-first)*g), g); err != nil {
			return err
		}
		h := r.handles[p]
		if err := c.drv.memRelease(h); err != nil {
			return err
		}
		delete(r.handles, p)
		if c.aliased[h] > 0 {
			c.orphaned[h] = true // the memory lives on in a stitched range
		} else {
			c.used -= g
		}
	}
	c.countUnmap(size)
	return nil
}

// Release implements Device with cuMemAddressFree.
func (c *CUDA) Release(addr uint64) error {
	r, ok := c.reserved[addr]
	if !ok {
		return fmt.Errorf("cuda: release of %#x: not a reserved range", addr)
	}
	if len(r.handles) != 0 {
		return fmt.Errorf("cuda: release of %#x: %d granules are still mapped", addr, len(r.handles))
	}
	start := time.Now()
	defer func() { c.timings.Release += time.Since(start) }()
	if err := c.drv.addressFree(addr, r.size); err != nil {
		return err
	}
	delete(c.reserved, addr)
	c.counters.Releases++
	return nil
}

// MemInfo implements Device: the capped view, capacity minus what this
// device holds, so a run sees the same numbers as on sim. DriverMemInfo
// asks the driver.
func (c *CUDA) MemInfo() (free, total int64) {
	return c.info.Capacity - c.used, c.info.Capacity
}

// DriverMemInfo is cuMemGetInfo: the whole card's free and total bytes.
func (c *CUDA) DriverMemInfo() (free, total int64, err error) {
	start := time.Now()
	defer func() { c.timings.MemInfo += time.Since(start) }()
	return c.drv.memGetInfo()
}

// Used reports the bytes the device holds: segment footprints and mapped
// granules.
func (c *CUDA) Used() int64 { return c.used }

// Counters implements Device.
func (c *CUDA) Counters() Counters { return c.counters }

// Timings implements Device: wall-clock time of each kind of call,
// including the hop to the driver's locked thread (about a microsecond).
func (c *CUDA) Timings() Timings { return c.timings }

// FillD32 implements PatternMemory with cuMemsetD32, then waits for it
// (cuCtxSynchronize) so a later read or free sees the pattern.
func (c *CUDA) FillD32(addr uint64, size int64, v uint32) error {
	if size <= 0 || size%4 != 0 || addr%4 != 0 {
		return fmt.Errorf("cuda: fill of %d bytes at %#x: address and size must be positive multiples of 4", size, addr)
	}
	if err := c.drv.memsetD32(addr, v, size/4); err != nil {
		return err
	}
	return c.drv.synchronize()
}

// canaryChunk is how many words CheckD32 copies to the host at a time.
const canaryChunk = 1 << 18 // 1 MiB

// CheckD32 implements PatternMemory with cuMemcpyDtoH, in 1 MiB chunks.
func (c *CUDA) CheckD32(addr uint64, size int64, v uint32) (uint64, uint32, bool, error) {
	if size <= 0 || size%4 != 0 || addr%4 != 0 {
		return 0, 0, false, fmt.Errorf("cuda: check of %d bytes at %#x: address and size must be positive multiples of 4", size, addr)
	}
	buf := make([]uint32, min(size/4, canaryChunk))
	for off := int64(0); off < size; {
		n := min((size-off)/4, canaryChunk)
		if err := c.drv.memcpyDtoH(buf[:n], addr+uint64(off)); err != nil {
			return 0, 0, false, err
		}
		for i, w := range buf[:n] {
			if w != v {
				return addr + uint64(off) + uint64(i)*4, w, true, nil
			}
		}
		off += n * 4
	}
	return 0, 0, false, nil
}

// Close implements Device: it frees every segment, unmaps and releases
// every reservation, and releases the primary context. The first error is
// returned; the rest are still attempted.
func (c *CUDA) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	for addr := range c.segments {
		errs = append(errs, c.Free(addr))
	}
	g := c.info.Granularity
	for base, r := range c.reserved {
		if r.alias {
			errs = append(errs, c.UnmapAlias(base))
		}
	}
	for base, r := range c.reserved {
		for p := range r.handles {
			errs = append(errs, c.Unmap(base+uint64(p*g), g))
		}
		errs = append(errs, c.Release(base))
	}
	errs = append(errs, c.drv.close())
	return errors.Join(errs...)
}

// MapAlias implements Stitcher: one cuMemMap per granule of the existing
// handle behind each source granule, at its place in the stitched range,
// then one cuMemSetAccess over the range. On failure what was mapped is
// unmapped.
func (c *CUDA) MapAlias(addr uint64, spans []Span) error {
	r, ok := c.reserved[addr]
	if !ok {
		return fmt.Errorf("cuda: stitch at %#x: not the base of a reserved range", addr)
	}
	g := c.info.Granularity
	if err := aliasCheck("cuda", g, addr, r.size, len(r.handles), spans); err != nil {
		return err
	}
	var hs []uint64
	for _, sp := range spans {
		for at := sp.Addr; at < sp.Addr+uint64(sp.Size); at += uint64(g) {
			src, _, p, ok := sourcePage(c.reserved, g, at, &c.rangeHint)
			if !ok {
				return fmt.Errorf("cuda: stitch at %#x: source granule %#x is not a mapped granule of an expandable range", addr, at)
			}
			hs = append(hs, src.handles[p])
		}
	}
	start := time.Now()
	defer func() { c.timings.Map += time.Since(start) }()
	undo := func(cause error) error {
		for p := range r.handles {
			c.drv.memUnmap(addr+uint64(p*g), g)
			delete(r.handles, p)
		}
		c.counters.FailedMaps++
		return cause
	}
	for i, h := range hs {
		if err := c.drv.memMap(addr+uint64(int64(i)*g), g, h); err != nil {
			return undo(err)
		}
		r.handles[int64(i)] = h
	}
	if err := c.drv.setAccess(addr, r.size); err != nil {
		return undo(err)
	}
	for _, h := range hs {
		c.aliased[h]++
	}
	r.alias = true
	c.counters.AliasMaps++
	c.counters.AliasBytes += r.size
	return nil
}

// UnmapAlias implements Stitcher: cuMemUnmap per granule (the handles stay
// their sources'), then cuMemAddressFree.
func (c *CUDA) UnmapAlias(addr uint64) error {
	r, ok := c.reserved[addr]
	if !ok || !r.alias {
		return fmt.Errorf("cuda: unstitch of %#x: not a stitched range", addr)
	}
	g := c.info.Granularity
	start := time.Now()
	for p, h := range r.handles {
		if err := c.drv.memUnmap(addr+uint64(p*g), g); err != nil {
			c.timings.Unmap += time.Since(start)
			return err
		}
		delete(r.handles, p)
		if c.aliased[h]--; c.aliased[h] == 0 {
			delete(c.aliased, h)
			if c.orphaned[h] {
				delete(c.orphaned, h)
				c.used -= g
			}
		}
	}
	c.timings.Unmap += time.Since(start)
	c.counters.AliasUnmaps++
	r.alias = false
	return c.Release(addr)
}

// PhysicalPage implements Stitcher: a classic segment's granule is named
// by its address, a mapped granule by its physical handle (with the top
// bit set, so the two never meet).
func (c *CUDA) PhysicalPage(addr uint64) (uint64, bool) {
	g := uint64(c.info.Granularity)
	for base, n := range c.segments {
		if addr >= base && addr < base+uint64(c.roundUp(n)) {
			return addr &^ (g - 1), true
		}
	}
	for base, r := range c.reserved {
		if addr >= base && addr < base+uint64(r.size) {
			h, ok := r.handles[int64((addr-base)/g)]
			return 1<<63 | h, ok
		}
	}
	return 0, false
}

var (
	_ Device        = (*CUDA)(nil)
	_ PatternMemory = (*CUDA)(nil)
	_ PatternMemory = (*Sim)(nil)
)
