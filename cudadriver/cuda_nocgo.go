//go:build !cgo || !linux

package cudadriver

import (
	"fmt"
	"runtime"
)

// LibCUDAEnv names an environment variable that, when set, is the path of
// the driver library to load instead of libcuda.so.1 (cgo builds on Linux
// only).
const LibCUDAEnv = "FRAGLAB_LIBCUDA"

// errNoCgo is why this build cannot load the CUDA driver.
var errNoCgo = fmt.Errorf("%w: this fraglab was built without cgo for %s/%s (build with CGO_ENABLED=1 on linux to load libcuda.so.1)",
	ErrNoDriver, runtime.GOOS, runtime.GOARCH)

// CUDADeviceCount is cuDeviceGetCount; this build has no driver.
func CUDADeviceCount() (int, error) { return 0, errNoCgo }

func openDriver(int) (driver, driverDevice, error) { return nil, driverDevice{}, errNoCgo }
