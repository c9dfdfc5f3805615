package replay

import "github.com/fraglab/fraglab/cudadriver"

// DeviceReport is what a run records about its device: the device, the
// time spent in the driver, and canary mode's work. Run records hold it as
// device_info; `fraglab replay --device-info FILE` writes it.
type DeviceReport struct {
	Device cudadriver.Description `json:"device"`
	// DriverSeconds is the measured time in driver calls (cuda);
	// DriverSecondsEst the time a sim run estimates from its latency
	// profile. At most one is set.
	DriverSeconds    *float64 `json:"driver_seconds,omitempty"`
	DriverSecondsEst *float64 `json:"driver_seconds_est,omitempty"`
	// DriverByKind splits the driver time by call kind (seconds), when
	// there is any.
	DriverByKind map[string]float64      `json:"driver_by_kind,omitempty"`
	Canary       *cudadriver.CanaryStats `json:"canary,omitempty"`
}

// NewDeviceReport is the device report of res on the device d describes.
func NewDeviceReport(d cudadriver.Description, res *Result) *DeviceReport {
	r := &DeviceReport{Device: d, Canary: res.Canary}
	t := res.Timings
	total := t.Total().Seconds()
	switch {
	case t.Measured:
		r.DriverSeconds = &total
	case total > 0:
		r.DriverSecondsEst = &total
	default:
		return r
	}
	r.DriverByKind = map[string]float64{
		cudadriver.OpAlloc: t.Alloc.Seconds(), cudadriver.OpFree: t.Free.Seconds(),
		cudadriver.OpReserve: t.Reserve.Seconds(), cudadriver.OpRelease: t.Release.Seconds(),
		cudadriver.OpMap: t.Map.Seconds(), cudadriver.OpUnmap: t.Unmap.Seconds(),
	}
	if t.MemInfo > 0 {
		r.DriverByKind["meminfo"] = t.MemInfo.Seconds()
	}
	return r
}
