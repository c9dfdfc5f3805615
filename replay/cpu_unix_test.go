//go:build unix

package replay

import "syscall"

// cpuSeconds is the CPU time (user + system) of the process so far. On a
// shared machine it moves less than the wall clock with the load of others.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
