//go:build !unix

package replay

// cpuSeconds is 0 where the process CPU time is not read: the benchmarks'
// events/cpu-s metric is then left out.
func cpuSeconds() float64 { return 0 }
