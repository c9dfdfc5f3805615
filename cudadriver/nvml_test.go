package cudadriver

import (
	"errors"
	"strings"
	"testing"
)

// fakeNVML fails Init when initErr is set; any other call after a failed
// Init fails the test, as it would kill the process with the real library.
type fakeNVML struct {
	t         *testing.T
	initErr   error
	shutdowns int
}

func (f *fakeNVML) init() error { return f.initErr }
func (f *fakeNVML) guard(call string) {
	if f.initErr != nil {
		f.t.Fatalf("%s reached NVML after a failed Init", call)
	}
}
func (f *fakeNVML) shutdown() error {
	f.guard("shutdown")
	f.shutdowns++
	return nil
}
func (f *fakeNVML) driverVersion() (string, error) { f.guard("driverVersion"); return "550.54.15", nil }
func (f *fakeNVML) count() (int, error)            { f.guard("count"); return 2, nil }
func (f *fakeNVML) gpu(i, pid int) (GPUInfo, error) {
	f.guard("gpu")
	return GPUInfo{Name: "Fake H100", TotalMemory: 80 << 30, FreeMemory: 79 << 30, ProcessUsed: int64(i) << 20}, nil
}

func TestNVMLRefusesCallsAfterFailedInit(t *testing.T) {
	f := &fakeNVML{t: t, initErr: errors.New("nvmlInit: ERROR_LIBRARY_NOT_FOUND")}
	n := openNVMLWith(f)
	if err := n.Err(); err == nil || err.Error() != "NVML unavailable: nvmlInit: ERROR_LIBRARY_NOT_FOUND" {
		t.Errorf("Err = %v", err)
	}
	if _, err := n.GPUs(); err == nil || !strings.Contains(err.Error(), "ERROR_LIBRARY_NOT_FOUND") {
		t.Errorf("GPUs after failed Init: %v", err)
	}
	if _, err := n.GPU(0); err == nil {
		t.Error("GPU after failed Init answered")
	}
	if err := n.Close(); err != nil {
		t.Errorf("Close after failed Init: %v", err)
	}
}

func TestNVMLAfterInit(t *testing.T) {
	f := &fakeNVML{t: t}
	n := openNVMLWith(f)
	gs, err := n.GPUs()
	if err != nil || len(gs) != 2 || gs[1].Index != 1 || gs[1].Driver != "550.54.15" || gs[1].ProcessUsed != 1<<20 {
		t.Fatalf("GPUs = %+v, %v", gs, err)
	}
	n.Close()
	n.Close()
	if f.shutdowns != 1 {
		t.Errorf("shutdown called %d times", f.shutdowns)
	}
	if _, err := n.GPU(0); err == nil || !strings.Contains(err.Error(), "shut down") {
		t.Errorf("GPU after Close: %v", err)
	}
}

// TestSystemNVML: the real library either initialises or is refused with
// a reason; never a crash.
func TestSystemNVML(t *testing.T) {
	n := OpenNVML()
	defer n.Close()
	if err := n.Err(); err != nil {
		if _, gerr := n.GPUs(); gerr == nil {
			t.Fatal("GPUs answered after a failed Init")
		}
		t.Skipf("GPU-only part: %v", err)
	}
	gs, err := n.GPUs()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		if g.Name == "" || g.TotalMemory <= 0 {
			t.Errorf("GPU %+v", g)
		}
	}
}
