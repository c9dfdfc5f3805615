//go:build !linux

package runner

import "syscall"

// workerSysProcAttr: no parent-death signal outside Linux; the lifeline
// (lifeline.go) ends an orphaned worker.
func workerSysProcAttr() *syscall.SysProcAttr { return nil }
