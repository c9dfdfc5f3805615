package oomreport

import (
	"testing"

	"github.com/fraglab/fraglab/host"
)

func TestOOMVerdicts(t *testing.T) {
	const MiB = 1 << 20
	tests := []struct {
		name string
		r    host.OOMReport
		want string
	}{
		{"too little memory", host.OOMReport{Rounded: 100 * MiB, Cached: 30 * MiB, DeviceFree: 20 * MiB, Allocated: 900 * MiB},
			"not fragmentation: the cached 30.0 MiB and the device's free 20.0 MiB together are less than the 100.0 MiB asked; the live blocks (900.0 MiB) need a bigger device"},
		{"holes", host.OOMReport{Rounded: 100 * MiB, Cached: 90 * MiB, CachedTooSmall: 60 * MiB, CachedOtherStream: 30 * MiB, DeviceFree: 20 * MiB},
			"fragmentation: the cached 90.0 MiB and the device's free 20.0 MiB add up to the 100.0 MiB asked, but no free range could hold it; most of the cached bytes were in blocks too small"},
		{"kept cache", host.OOMReport{Rounded: 100 * MiB, Cached: 90 * MiB, CachedOtherPool: 90 * MiB, Releasable: 40 * MiB, DeviceFree: 20 * MiB},
			"fragmentation: the cached 90.0 MiB and the device's free 20.0 MiB add up to the 100.0 MiB asked, but no free range could hold it; most of the cached bytes were in another pool; the policy kept 40.0 MiB it could have released"},
		{"segment too big", host.OOMReport{Rounded: 8 * MiB, Grow: 20 * MiB, DeviceFree: 15 * MiB},
			"growth too large: the device's free 15.0 MiB would hold the 8.0 MiB asked, but the policy asked for 20.0 MiB at once (its segment or page size)"},
		{"no unmapped room", host.OOMReport{Rounded: 8 * MiB, DeviceFree: 15 * MiB},
			"no room to map: the device's free 15.0 MiB would hold the 8.0 MiB asked, but the policy's expandable segment had no unmapped range left to map it in"},
		{"under a reserve limit", host.OOMReport{Rounded: 20 * MiB, Reserved: 40 * MiB, Allocated: 40 * MiB, Grow: 20 * MiB,
			ReserveLimit: 50 * MiB, LimitRefused: true, DeviceFree: 60 * MiB},
			"not fragmentation: the cached 0 B and the 10.0 MiB left under the policy's reserve limit of 50.0 MiB (PyTorch: per_process_memory_fraction) together are less than the 20.0 MiB asked; the live blocks (40.0 MiB) need a higher reserve limit or a bigger device"},
		{"fragmentation under a reserve limit", host.OOMReport{Rounded: 20 * MiB, Reserved: 40 * MiB, Allocated: 25 * MiB, Grow: 20 * MiB,
			Cached: 15 * MiB, CachedTooSmall: 15 * MiB, ReserveLimit: 50 * MiB, LimitRefused: true, DeviceFree: 60 * MiB},
			"fragmentation: the cached 15.0 MiB and the 10.0 MiB left under the policy's reserve limit of 50.0 MiB (PyTorch: per_process_memory_fraction) add up to the 20.0 MiB asked, but no free range could hold it; most of the cached bytes were in blocks too small"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Verdict(tc.r); got != tc.want {
				t.Errorf("verdict\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}
