// Package fakecuda builds a stand-in for libcuda.so.1 (fakecuda.c.in) that
// tests load through cudadriver.LibCUDAEnv, so the cuda backend's cgo path
// (dlopen, dlsym, argument passing, the locked thread) runs on machines
// without a GPU. It checks how it is called; it does not model a GPU.
package fakecuda

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

//go:embed fakecuda.c.in
var source []byte

// Build compiles the fake driver into dir with the C compiler ($CC, else
// cc) and returns the library's path.
func Build(dir string) (string, error) {
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		return "", fmt.Errorf("no C compiler (%s): %w", cc, err)
	}
	src := filepath.Join(dir, "fakecuda.c")
	if err := os.WriteFile(src, source, 0o644); err != nil {
		return "", err
	}
	lib := filepath.Join(dir, "libfakecuda.so")
	out, err := exec.Command(cc, "-shared", "-fPIC", "-O1", "-o", lib, src, "-lpthread").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building the fake CUDA driver: %v\n%s", err, out)
	}
	return lib, nil
}
