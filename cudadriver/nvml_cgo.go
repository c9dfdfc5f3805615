//go:build cgo && linux

package cudadriver

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// goNVML is NVML through go-nvml, which dlopens libnvidia-ml.so.1.
// UNVERIFIED on a GPU here: only its failed Init is exercised by tests.
type goNVML struct{}

func systemNVML() nvmlLib { return goNVML{} }

func nvmlErr(call string, r nvml.Return) error {
	if r == nvml.SUCCESS {
		return nil
	}
	return fmt.Errorf("%s: %s", call, nvml.ErrorString(r))
}

func (goNVML) init() error     { return nvmlErr("nvmlInit", nvml.Init()) }
func (goNVML) shutdown() error { return nvmlErr("nvmlShutdown", nvml.Shutdown()) }

func (goNVML) driverVersion() (string, error) {
	v, r := nvml.SystemGetDriverVersion()
	return v, nvmlErr("nvmlSystemGetDriverVersion", r)
}

func (goNVML) count() (int, error) {
	c, r := nvml.DeviceGetCount()
	return c, nvmlErr("nvmlDeviceGetCount", r)
}

func (goNVML) gpu(index, pid int) (GPUInfo, error) {
	d, r := nvml.DeviceGetHandleByIndex(index)
	if err := nvmlErr("nvmlDeviceGetHandleByIndex", r); err != nil {
		return GPUInfo{}, err
	}
	var g GPUInfo
	if g.Name, r = d.GetName(); r != nvml.SUCCESS {
		return GPUInfo{}, nvmlErr("nvmlDeviceGetName", r)
	}
	g.UUID, _ = d.GetUUID() // optional
	m, r := d.GetMemoryInfo()
	if err := nvmlErr("nvmlDeviceGetMemoryInfo", r); err != nil {
		return GPUInfo{}, err
	}
	g.TotalMemory, g.FreeMemory = int64(m.Total), int64(m.Free)
	// Per-process usage is not always visible (containers): 0 then.
	if ps, r := d.GetComputeRunningProcesses(); r == nvml.SUCCESS {
		for _, p := range ps {
			if int(p.Pid) == pid {
				g.ProcessUsed += int64(p.UsedGpuMemory)
			}
		}
	}
	return g, nil
}
