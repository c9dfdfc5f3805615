package cudadriver

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// CalibrateOptions configure Calibrate.
type CalibrateOptions struct {
	// Sizes to measure, increasing; default CalibrationSizes(2 MiB, 1 GiB).
	Sizes []int64
	// Repetitions per size and operation (default 20). Warmup rounds are
	// made and discarded first: 0 means the default, 2; negative means none.
	Repetitions, Warmup int
	// Progress, when set, is called before each size.
	Progress func(size int64)
}

// CalibrationSizes are the powers of two from lo to hi (log-spaced).
func CalibrationSizes(lo, hi int64) []int64 {
	var out []int64
	for s := lo; s <= hi; s *= 2 {
		out = append(out, s)
	}
	return out
}

// Calibrate measures the latency of alloc, free, reserve, map, unmap and
// release on dev at each size (sizes rounded up to the granularity), and
// returns a profile with the median and 90th percentile of each. A size
// the device has no room for ends the measurement there; the profile's
// note says so.
func Calibrate(dev Device, o CalibrateOptions) (*LatencyProfile, error) {
	info := dev.Info()
	if o.Sizes == nil {
		o.Sizes = CalibrationSizes(2<<20, 1<<30)
	}
	if o.Repetitions <= 0 {
		o.Repetitions = 20
	}
	if o.Warmup < 0 {
		o.Warmup = 0
	} else if o.Warmup == 0 {
		o.Warmup = 2
	}
	p := &LatencyProfile{Format: LatencyFormat, Device: info.Name, Granularity: info.Granularity,
		Repetitions: o.Repetitions, Warmup: o.Warmup, Created: time.Now().UTC().Format(time.RFC3339),
		Ops: map[string][]LatencyPoint{}}
	g := info.Granularity
	for _, size := range o.Sizes {
		size = (size + g - 1) / g * g
		if o.Progress != nil {
			o.Progress(size)
		}
		samples, err := measure(dev, size, o.Warmup, o.Repetitions)
		if errors.Is(err, ErrOutOfMemory) {
			p.Note = fmt.Sprintf("stopped at %d bytes: %v", size, err)
			break
		}
		if err != nil {
			return nil, fmt.Errorf("calibrating at %d bytes: %w", size, err)
		}
		for _, op := range LatencyOps {
			p.Ops[op] = append(p.Ops[op], point(size, samples[op]))
		}
	}
	if len(p.Ops) == 0 {
		return nil, fmt.Errorf("calibration measured nothing: %s", p.Note)
	}
	return p, nil
}

// measure times warmup+reps rounds of each operation at size.
func measure(dev Device, size int64, warmup, reps int) (map[string][]time.Duration, error) {
	out := map[string][]time.Duration{}
	timed := func(op string, keep bool, f func() error) error {
		start := time.Now()
		err := f()
		if keep && err == nil {
			out[op] = append(out[op], time.Since(start))
		}
		return err
	}
	for i := range warmup + reps {
		keep := i >= warmup
		var addr uint64
		if err := timed(OpAlloc, keep, func() (err error) { addr, err = dev.Alloc(size); return }); err != nil {
			return nil, err
		}
		if err := timed(OpFree, keep, func() error { return dev.Free(addr) }); err != nil {
			return nil, err
		}
		if err := timed(OpReserve, keep, func() (err error) { addr, err = dev.Reserve(size); return }); err != nil {
			return nil, err
		}
		if err := timed(OpMap, keep, func() error { return dev.Map(addr, size) }); err != nil {
			dev.Release(addr)
			return nil, err
		}
		if err := timed(OpUnmap, keep, func() error { return dev.Unmap(addr, size) }); err != nil {
			return nil, err
		}
		if err := timed(OpRelease, keep, func() error { return dev.Release(addr) }); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// point summarises samples: median and 90th percentile (nearest rank).
func point(size int64, samples []time.Duration) LatencyPoint {
	s := slices.Clone(samples)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	p90 := s[(9*n+9)/10-1]
	return LatencyPoint{Size: size, MedianNs: med.Nanoseconds(), P90Ns: max(p90.Nanoseconds(), med.Nanoseconds())}
}
