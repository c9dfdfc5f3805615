package cudadriver

import (
	"fmt"
	"os"
	"sync"
)

// GPUInfo is what NVML says about one GPU.
type GPUInfo struct {
	Index       int    `json:"index"`
	Name        string `json:"name"`
	UUID        string `json:"uuid,omitempty"`
	Driver      string `json:"driver"`       // driver version, e.g. "550.54.15"
	TotalMemory int64  `json:"total_memory"` // bytes
	FreeMemory  int64  `json:"free_memory"`  // bytes, when asked
	// ProcessUsed is the memory this process holds on the GPU (bytes), 0
	// when NVML does not list it (e.g. inside some containers).
	ProcessUsed int64 `json:"process_used"`
}

// nvmlLib is the part of NVML fraglab calls. nvml_cgo.go implements it with
// github.com/NVIDIA/go-nvml; tests use fakes. Only NVML gates its calls.
type nvmlLib interface {
	init() error
	shutdown() error
	driverVersion() (string, error)
	count() (int, error)
	gpu(index, pid int) (GPUInfo, error)
}

// NVML is a guarded handle on the NVIDIA Management Library: every call is
// refused, with Init's error, unless Init succeeded. (A go-nvml call after a
// failed Init dereferences symbols that were never loaded and kills the
// process.)
type NVML struct {
	mu      sync.Mutex
	lib     nvmlLib
	initErr error
	open    bool
}

// OpenNVML initialises NVML. The handle is always usable: when Init
// failed, Err says why and every query returns that error.
func OpenNVML() *NVML { return openNVMLWith(systemNVML()) }

func openNVMLWith(lib nvmlLib) *NVML {
	n := &NVML{lib: lib}
	if err := lib.init(); err != nil {
		n.initErr = fmt.Errorf("NVML unavailable: %w", err)
	} else {
		n.open = true
	}
	return n
}

// Err is nil when NVML is initialised, else why not.
func (n *NVML) Err() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.gate()
}

func (n *NVML) gate() error {
	if n.initErr != nil {
		return n.initErr
	}
	if !n.open {
		return fmt.Errorf("NVML is shut down")
	}
	return nil
}

// GPUs describes every GPU NVML sees, with this process's usage.
func (n *NVML) GPUs() ([]GPUInfo, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.gate(); err != nil {
		return nil, err
	}
	c, err := n.lib.count()
	if err != nil {
		return nil, err
	}
	out := make([]GPUInfo, 0, c)
	for i := range c {
		g, err := n.gpuLocked(i)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// GPU describes GPU index (NVML's index, which is CUDA's ordinal unless
// CUDA_VISIBLE_DEVICES or CUDA_DEVICE_ORDER reorder them).
func (n *NVML) GPU(index int) (GPUInfo, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.gate(); err != nil {
		return GPUInfo{}, err
	}
	return n.gpuLocked(index)
}

func (n *NVML) gpuLocked(index int) (GPUInfo, error) {
	g, err := n.lib.gpu(index, os.Getpid())
	if err != nil {
		return GPUInfo{}, err
	}
	if g.Driver, err = n.lib.driverVersion(); err != nil {
		return GPUInfo{}, err
	}
	g.Index = index
	return g, nil
}

// Close shuts NVML down; later calls are refused.
func (n *NVML) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.open {
		return nil
	}
	n.open = false
	return n.lib.shutdown()
}
