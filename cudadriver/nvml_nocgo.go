//go:build !cgo || !linux

package cudadriver

import (
	"fmt"
	"runtime"
)

// noNVML is NVML in a build without cgo: Init always fails.
type noNVML struct{}

func systemNVML() nvmlLib { return noNVML{} }

func (noNVML) init() error {
	return fmt.Errorf("this fraglab was built without cgo for %s/%s", runtime.GOOS, runtime.GOARCH)
}
func (noNVML) shutdown() error                { return nil }
func (noNVML) driverVersion() (string, error) { return "", fmt.Errorf("no NVML") }
func (noNVML) count() (int, error)            { return 0, fmt.Errorf("no NVML") }
func (noNVML) gpu(int, int) (GPUInfo, error)  { return GPUInfo{}, fmt.Errorf("no NVML") }
