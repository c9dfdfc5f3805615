//go:build linux

package runner

import "syscall"

// workerSysProcAttr makes the kernel kill a worker when the sweep's
// process ends (PR_SET_PDEATHSIG), even by SIGKILL. Strictly, the signal
// comes when the OS thread that started the worker ends; the Go runtime
// ends threads only of goroutines that exit locked to them, which this
// package never does, and the lifeline covers the rest.
func workerSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
