package cudadriver

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// fakeDriver is a CUDA driver in Go memory: enough to test the cuda
// backend's bookkeeping (cap, handles per granule, error mapping) on CPU.
type fakeDriver struct {
	free     int64 // bytes the "card" has free
	next     uint64
	allocs   map[uint64]int64
	handles  map[uint64]int64  // live physical handles → size
	mapped   map[uint64]uint64 // cuMemMap base -> handle
	msize    map[uint64]int64  // cuMemMap base -> bytes
	words    map[fakeWord]uint32
	nextH    uint64
	failNext string // call name whose next call fails
	failCode int
	failSkip int // matching calls let through before the failure
	calls    []string
	closed   bool
}

func newFakeDriver(free int64) *fakeDriver {
	return &fakeDriver{free: free, next: 0x7000_0000_0000, allocs: map[uint64]int64{}, handles: map[uint64]int64{},
		mapped: map[uint64]uint64{}, msize: map[uint64]int64{}, words: map[fakeWord]uint32{}}
}

// fakeWord is a word of fake device memory: at an offset of a physical
// handle's memory, or (handle 0) at an address of a cuMemAlloc segment.
// Memory belongs to handles, so a handle mapped at two addresses shows the
// same words at both.
type fakeWord struct{ h, off uint64 }

func (f *fakeDriver) word(va uint64) fakeWord {
	for p, h := range f.mapped {
		if va >= p && va < p+uint64(f.msize[p]) {
			return fakeWord{h, va - p}
		}
	}
	return fakeWord{0, va}
}

func (f *fakeDriver) call(name string) error {
	f.calls = append(f.calls, name)
	if f.failNext == name && f.failSkip > 0 {
		f.failSkip--
	} else if f.failNext == name {
		f.failNext = ""
		names := map[int]string{2: "CUDA_ERROR_OUT_OF_MEMORY", 1: "CUDA_ERROR_INVALID_VALUE"}
		texts := map[int]string{2: "out of memory", 1: "invalid argument"}
		return &CUDAError{Call: name, Code: f.failCode, Name: names[f.failCode], Text: texts[f.failCode]}
	}
	return nil
}

func (f *fakeDriver) memGetInfo() (int64, int64, error) {
	return f.free, 80 << 30, f.call("cuMemGetInfo_v2")
}
func (f *fakeDriver) memAlloc(size int64) (uint64, error) {
	if err := f.call("cuMemAlloc_v2"); err != nil {
		return 0, err
	}
	a := f.next
	f.next += uint64(size+(2<<20)-1) / (2 << 20) * (2 << 20)
	f.allocs[a] = size
	return a, nil
}
func (f *fakeDriver) memFree(p uint64) error {
	if _, ok := f.allocs[p]; !ok {
		return &CUDAError{Call: "cuMemFree_v2", Code: 1, Name: "CUDA_ERROR_INVALID_VALUE", Text: "invalid argument"}
	}
	delete(f.allocs, p)
	return f.call("cuMemFree_v2")
}
func (f *fakeDriver) addressReserve(size, align int64) (uint64, error) {
	a := f.next
	f.next += uint64(size)
	return a, f.call("cuMemAddressReserve")
}
func (f *fakeDriver) addressFree(uint64, int64) error { return f.call("cuMemAddressFree") }
func (f *fakeDriver) memCreate(size int64) (uint64, error) {
	if err := f.call("cuMemCreate"); err != nil {
		return 0, err
	}
	f.nextH++
	f.handles[f.nextH] = size
	return f.nextH, nil
}
func (f *fakeDriver) memRelease(h uint64) error {
	if _, ok := f.handles[h]; !ok {
		return fmt.Errorf("release of unknown handle %d", h)
	}
	delete(f.handles, h)
	return f.call("cuMemRelease")
}
func (f *fakeDriver) memMap(p uint64, size int64, h uint64) error {
	if err := f.call("cuMemMap"); err != nil {
		return err
	}
	f.mapped[p], f.msize[p] = h, size
	return nil
}
func (f *fakeDriver) memUnmap(p uint64, size int64) error {
	if _, ok := f.mapped[p]; !ok {
		return fmt.Errorf("unmap of %#x, not mapped by one cuMemMap", p)
	}
	delete(f.mapped, p)
	delete(f.msize, p)
	return f.call("cuMemUnmap")
}
func (f *fakeDriver) setAccess(uint64, int64) error { return f.call("cuMemSetAccess") }
func (f *fakeDriver) memsetD32(p uint64, v uint32, n int64) error {
	for i := range uint64(n) {
		f.words[f.word(p+4*i)] = v
	}
	return f.call("cuMemsetD32_v2")
}
func (f *fakeDriver) memcpyDtoH(dst []uint32, src uint64) error {
	for i := range dst {
		dst[i] = f.words[f.word(src+4*uint64(i))]
	}
	return f.call("cuMemcpyDtoH_v2")
}
func (f *fakeDriver) synchronize() error { return f.call("cuCtxSynchronize") }
func (f *fakeDriver) close() error       { f.closed = true; return nil }

func openFake(t *testing.T, free, capacity int64) (*CUDA, *fakeDriver) {
	t.Helper()
	f := newFakeDriver(free)
	c, err := newCUDA(f, driverDevice{Name: "Fake GPU", Granularity: 2 * MiB, Version: 12040}, CUDAOptions{Capacity: capacity})
	if err != nil {
		t.Fatal(err)
	}
	return c, f
}

func TestCUDACapacityCap(t *testing.T) {
	c, _ := openFake(t, 100*MiB, 10*MiB)
	if c.Info().Capacity != 10*MiB || c.Info().Backend != "cuda" || c.Info().Name != "Fake GPU" {
		t.Fatalf("info %+v", c.Info())
	}
	if _, err := c.Alloc(6 * MiB); err != nil {
		t.Fatal(err)
	}
	_, err := c.Alloc(6 * MiB)
	var oom *OOMError
	if !errors.As(err, &oom) || oom.Free != 4*MiB || oom.Capacity != 10*MiB || oom.Cause != nil {
		t.Fatalf("alloc past the cap: %v, want an OOMError with 4 MiB of 10 MiB free", err)
	}
	if free, total := c.MemInfo(); free != 4*MiB || total != 10*MiB {
		t.Errorf("MemInfo %d %d", free, total)
	}
	// No cap: the free memory, in whole granules.
	c2, _ := openFake(t, 100*MiB+123, 0)
	if c2.Info().Capacity != 100*MiB {
		t.Errorf("default capacity %d, want the free memory rounded down to the granularity", c2.Info().Capacity)
	}
	// A cap above the free memory is refused before anything runs.
	f := newFakeDriver(100 * MiB)
	_, err = newCUDA(f, driverDevice{Name: "Fake GPU", Granularity: 2 * MiB}, CUDAOptions{Index: 3, Capacity: 200 * MiB})
	if err == nil || !strings.Contains(err.Error(), "cuda:3 (Fake GPU): capacity cap 209715200 bytes is above the 104857600 bytes free") || !f.closed {
		t.Errorf("cap above free: %v (driver closed: %v)", err, f.closed)
	}
}

func TestCUDADriverErrors(t *testing.T) {
	c, f := openFake(t, 100*MiB, 0)
	f.failNext, f.failCode = "cuMemAlloc_v2", 2
	_, err := c.Alloc(MiB)
	var oom *OOMError
	var ce *CUDAError
	if !errors.As(err, &oom) || !errors.Is(err, ErrOutOfMemory) || !errors.As(err, &ce) || ce.Call != "cuMemAlloc_v2" {
		t.Fatalf("driver OOM: %v, want an *OOMError wrapping the *CUDAError", err)
	}
	if want := "cuMemAlloc_v2: out of memory (CUDA_ERROR_OUT_OF_MEMORY, code 2)"; !strings.Contains(err.Error(), want) {
		t.Errorf("message %q lacks %q", err, want)
	}
	f.failNext, f.failCode = "cuMemAlloc_v2", 1
	if _, err = c.Alloc(MiB); errors.Is(err, ErrOutOfMemory) || err == nil || err.Error() != "cuMemAlloc_v2: invalid argument (CUDA_ERROR_INVALID_VALUE, code 1)" {
		t.Errorf("other driver error: %v", err)
	}
	if got := c.Counters().FailedAllocs; got != 2 {
		t.Errorf("failed allocs %d", got)
	}
	// A map whose third granule fails undoes the first two.
	r, err := c.Reserve(16 * MiB)
	if err != nil {
		t.Fatal(err)
	}
	f.failNext, f.failCode, f.failSkip = "cuMemMap", 2, 2
	if err := c.Map(r, 6*MiB); !errors.Is(err, ErrOutOfMemory) {
		t.Fatalf("map failing: %v", err)
	}
	if len(f.handles) != 0 || len(f.mapped) != 0 || c.Used() != 0 {
		t.Errorf("after a failed map: handles %v mapped %v used %d, want nothing left", f.handles, f.mapped, c.Used())
	}
}

func TestCUDAMapsOneHandlePerGranule(t *testing.T) {
	c, f := openFake(t, 100*MiB, 0)
	r, _ := c.Reserve(16 * MiB)
	if err := c.Map(r, 8*MiB); err != nil {
		t.Fatal(err)
	}
	if len(f.handles) != 4 || len(f.mapped) != 4 || c.Used() != 8*MiB {
		t.Fatalf("handles %d mapped %d used %d, want 4 granules", len(f.handles), len(f.mapped), c.Used())
	}
	// Unmapping a sub-range of what one Map mapped releases its granules.
	if err := c.Unmap(r+2*MiB, 4*MiB); err != nil {
		t.Fatal(err)
	}
	if len(f.handles) != 2 || c.Used() != 4*MiB {
		t.Errorf("after unmapping 2 granules: %d handles, used %d", len(f.handles), c.Used())
	}
	if err := c.Unmap(r+2*MiB, 2*MiB); err == nil || !strings.Contains(err.Error(), "is not mapped") {
		t.Errorf("unmap of an unmapped granule: %v", err)
	}
	if err := c.Release(r); err == nil || !strings.Contains(err.Error(), "2 granules are still mapped") {
		t.Errorf("release while mapped: %v", err)
	}
	a, _ := c.Alloc(3 * MiB)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if len(f.handles) != 0 || len(f.mapped) != 0 || len(f.allocs) != 0 || !f.closed {
		t.Errorf("after Close: handles %v mapped %v allocs %v closed %v", f.handles, f.mapped, f.allocs, f.closed)
	}
	_ = a
	tm := c.Timings()
	if !tm.Measured || tm.Map <= 0 || tm.Unmap <= 0 || tm.Alloc <= 0 || tm.Free <= 0 {
		t.Errorf("timings %+v, want every kind used measured", tm)
	}
}

func TestCanaryOnFakeCUDA(t *testing.T) {
	c, _ := openFake(t, 100*MiB, 0)
	base, _ := c.Alloc(8 * MiB)
	can, err := NewCanary(c, CanaryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	can.Alloc(1, base, 64*1024)
	can.Alloc(2, base+32*1024, 64*1024) // over the second half of block 1
	err = can.Free(1)
	var ce *CanaryError
	if !errors.As(err, &ce) || ce.Bad != base+32*1024 || ce.Over != 2 {
		t.Fatalf("overlap on cuda memory: %v", err)
	}
	if err := can.Free(2); err != nil {
		t.Errorf("intact block: %v", err)
	}
}

// TestCUDAReal runs the backend on a real GPU when there is one.
func TestCUDAReal(t *testing.T) {
	c, err := OpenCUDA(CUDAOptions{Capacity: 64 * MiB})
	if errors.Is(err, ErrNoDriver) {
		t.Skipf("GPU-only test: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, err := c.Alloc(3 * MiB)
	if err != nil {
		t.Fatal(err)
	}
	can, _ := NewCanary(c, CanaryOptions{})
	if err := can.Alloc(1, a, 3*MiB); err != nil {
		t.Fatal(err)
	}
	if err := can.Free(1); err != nil {
		t.Fatal(err)
	}
	g := c.Info().Granularity
	r, err := c.Reserve(4 * g)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Map(r, 2*g); err != nil {
		t.Fatal(err)
	}
	if err := c.Unmap(r+uint64(g), g); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Alloc(128 * MiB); !errors.Is(err, ErrOutOfMemory) {
		t.Errorf("alloc past the 64 MiB cap: %v", err)
	}
}

func TestOpenCUDAWithoutDriver(t *testing.T) {
	_, err := OpenCUDA(CUDAOptions{})
	if err == nil {
		t.Skip("a CUDA driver is present")
	}
	if !errors.Is(err, ErrNoDriver) || !strings.HasPrefix(err.Error(), "no CUDA driver: ") {
		t.Errorf("error %q, want one wrapping ErrNoDriver that starts with \"no CUDA driver: \"", err)
	}
	if _, err := CUDADeviceCount(); !errors.Is(err, ErrNoDriver) {
		t.Errorf("CUDADeviceCount: %v", err)
	}
}
