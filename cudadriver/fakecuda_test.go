//go:build cgo && linux

package cudadriver

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/internal/fakecuda"
)

// envFakeChild marks the child process that loads the fake driver (the
// driver is loaded once per process, so the parent cannot switch to it).
const envFakeChild = "FRAGLAB_FAKECUDA_CHILD"

// TestCgoPathOnFakeDriver runs the cgo backend against internal/fakecuda,
// a libcuda stand-in that checks its callers: the whole dlopen/dlsym path,
// the structures passed to the VMM calls, and that every call comes from
// the thread the context is current on.
func TestCgoPathOnFakeDriver(t *testing.T) {
	if os.Getenv(envFakeChild) == "1" {
		t.Skip("in the child")
	}
	lib, err := fakecuda.Build(t.TempDir())
	if err != nil {
		t.Skip(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFakeDriverChild$", "-test.v")
	cmd.Env = append(os.Environ(), envFakeChild+"=1", LibCUDAEnv+"="+lib, "FAKECUDA_TOTAL=268435456")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestFakeDriverChild") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func TestFakeDriverChild(t *testing.T) {
	if os.Getenv(envFakeChild) != "1" {
		t.Skip("run by TestCgoPathOnFakeDriver")
	}
	if n, err := CUDADeviceCount(); err != nil || n != 1 {
		t.Fatalf("CUDADeviceCount = %d, %v", n, err)
	}
	if _, err := OpenCUDA(CUDAOptions{Index: 1}); err == nil || !strings.Contains(err.Error(), "cuda:1: no such device: 1 CUDA device(s), ordinals 0..0") {
		t.Errorf("device 1: %v", err)
	}
	if _, err := OpenCUDA(CUDAOptions{Capacity: 512 * MiB}); err == nil || !strings.Contains(err.Error(), "capacity cap 536870912 bytes is above the 268435456 bytes free") {
		t.Errorf("cap above free: %v", err)
	}
	c, err := OpenCUDA(CUDAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if i := c.Info(); i.Name != "fraglab fake GPU" || i.Granularity != 2*MiB || i.Capacity != 256*MiB || c.DriverVersion() != 12040 {
		t.Errorf("info %+v, driver %d", i, c.DriverVersion())
	}
	// Calls from other OS threads all reach the driver's one thread (the
	// fake answers CUDA_ERROR_INVALID_CONTEXT from any other). Each
	// goroutine locks its own thread and exits with it, so every call
	// comes from a different thread; one at a time, as a Device is used.
	for range 4 {
		errc := make(chan error)
		go func() {
			runtime.LockOSThread()
			_, _, err := c.DriverMemInfo()
			errc <- err
		}()
		if err := <-errc; err != nil {
			t.Errorf("from another thread: %v", err)
		}
	}

	a, err := c.Alloc(3 * MiB)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Reserve(16 * MiB)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Map(r, 8*MiB); err != nil {
		t.Fatal(err)
	}
	can, _ := NewCanary(c, CanaryOptions{})
	for id, b := range map[int64][2]int64{1: {int64(a), 3 * MiB}, 2: {int64(r), 2 * MiB}, 3: {int64(r) + 2*MiB, 6 * MiB}} {
		if err := can.Alloc(id, uint64(b[0]), b[1]); err != nil {
			t.Fatal(err)
		}
	}
	for id := int64(1); id <= 3; id++ {
		if err := can.Free(id); err != nil {
			t.Errorf("canary block %d: %v", id, err)
		}
	}
	// Two live blocks on the same bytes of (fake) device memory. Block 4 is
	// over 1 MiB, so it is sampled: the damage is found in a window of its
	// second half.
	can.Alloc(4, r+MiB, 2*MiB)
	can.Alloc(5, r+2*MiB, 2*MiB)
	var ce *CanaryError
	if err := can.Free(4); !errors.As(err, &ce) || ce.Bad < r+2*MiB || ce.Bad >= r+3*MiB || ce.Over != 5 || can.Stats().SampledChecks == 0 {
		t.Errorf("overlap: %v", err)
	}
	// A stitched range over granules 1 and 3: cuMemMap of their handles
	// at a second address; the fake's memory belongs to handles, so a
	// write through either address is read through the other.
	al, err := c.Reserve(4 * MiB)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.MapAlias(al, []Span{{r + 2*MiB, 2 * MiB}, {r + 6*MiB, 2 * MiB}}); err != nil {
		t.Fatal(err)
	}
	if p1, _ := c.PhysicalPage(r + 6*MiB); p1 != func() uint64 { p, _ := c.PhysicalPage(al + 2*MiB); return p }() {
		t.Error("the alias's second granule is not its source's handle")
	}
	if err := c.FillD32(al, 4096, 0x5a5a5a5a); err != nil {
		t.Fatal(err)
	}
	if bad, got, found, err := c.CheckD32(r+2*MiB, 4096, 0x5a5a5a5a); err != nil || found {
		t.Errorf("write through the alias not seen at the source: %#x holds %#x (%v)", bad, got, err)
	}
	if err := c.FillD32(r+6*MiB, 4096, 0x77); err != nil {
		t.Fatal(err)
	}
	if _, _, found, err := c.CheckD32(al+2*MiB, 4096, 0x77); err != nil || found {
		t.Errorf("write at the source not seen through the alias (%v)", err)
	}
	// Unmap a sub-range, then the rest: one cuMemUnmap per granule.
	if err := c.Unmap(r+2*MiB, 4*MiB); err != nil {
		t.Fatal(err)
	}
	if err := c.Unmap(r, 2*MiB); err != nil {
		t.Fatal(err)
	}
	if err := c.Unmap(r+6*MiB, 2*MiB); err != nil {
		t.Fatal(err)
	}
	// The sources' handles were released while the alias maps them: their
	// memory lives on, on the cap, until the alias goes.
	if c.Used() != 8*MiB { // the 3 MiB segment (a 4 MiB footprint) and the two stitched granules
		t.Errorf("used %d with the sources unmapped under the alias", c.Used())
	}
	if _, _, found, err := c.CheckD32(al, 4096, 0x5a5a5a5a); err != nil || found {
		t.Errorf("the alias lost its memory with the source's mapping (%v)", err)
	}
	if err := c.UnmapAlias(al); err != nil {
		t.Fatal(err)
	}
	if err := c.Release(r); err != nil {
		t.Fatal(err)
	}
	// Reading unmapped memory is the driver's error, with its text.
	if _, _, _, err := c.CheckD32(r, 4096, 1); err == nil || err.Error() != "cuMemcpyDtoH_v2: resource not mapped (CUDA_ERROR_NOT_MAPPED, code 211)" {
		t.Errorf("read of released memory: %v", err)
	}
	// The driver's own OOM (the cap is the whole fake card) maps to OOMError.
	c.Free(a)
	big, err := c.Alloc(200 * MiB)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Alloc(100 * MiB)
	var oom *OOMError
	if !errors.As(err, &oom) || oom.Cause != nil {
		t.Errorf("past the cap: %v", err)
	}
	c.Free(big)
	if p, err := Calibrate(c, CalibrateOptions{Sizes: CalibrationSizes(2*MiB, 512*MiB), Repetitions: 3}); err != nil ||
		len(p.Ops[OpMap]) != 8 || !strings.Contains(p.Note, "stopped at 536870912 bytes") {
		t.Errorf("calibrate: %+v, %v", p, err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	tm := c.Timings()
	if !tm.Measured || tm.Alloc <= 0 || tm.Map <= 0 || tm.Unmap <= 0 || tm.Release <= 0 {
		t.Errorf("timings %+v", tm)
	}
}
