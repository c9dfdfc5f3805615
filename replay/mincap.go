package replay

import (
	"context"
	"errors"
	"fmt"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/trace"
)

// CapacityStep is the resolution of MinCapacity: the sim granularity.
const CapacityStep = 2 << 20

// MinCapacity is the smallest device capacity, in CapacityStep steps, at
// which the workload completes with no OOM, on the sim device. open gives a
// fresh reader over the same workload for each try.
//
// Allocators are not monotonic in capacity: a smaller device makes the host
// release cached segments earlier, and a slightly bigger one can delay that
// release until it is too late. So a plain bisection can stop at a capacity
// with OOMs just above it. MinCapacity bisects, then probes upwards at
// answer + 2^k steps (k = 0, 1, 2, … below the capacity that bounds the
// search, where the run never reaches the device's limit); when a probe
// OOMs it bisects again above that probe. The answer is a capacity with no
// OOM at it nor at any probe above it: non-monotonicity between probes
// can still hide, but the answer is never a capacity that a slightly bigger
// device contradicts at the probed points. It costs about 2·log2(peak/2 MiB)
// replays, more when probes fail. With an initial state (Options.Initial)
// the search starts at the bytes it holds, and a capacity too small to
// adopt it (granularity rounding) counts as failing.
func MinCapacity(ctx context.Context, open func() (trace.Reader, error), mod *wasm.Module, opts Options) (int64, error) {
	opts.DriverLog, opts.SnapshotOut, opts.OnDriverOp, opts.OnBlockOp, opts.Timeline, opts.AfterEvent = nil, nil, nil, nil, 0, nil
	ooms := func(capacity int64) (int64, *Result, error) {
		r, err := open()
		if err != nil {
			return 0, nil, err
		}
		res, err := Run(ctx, r, mod, cudadriver.NewSim(cudadriver.SimOptions{Capacity: capacity}), opts)
		if capacity > 0 && errors.Is(err, host.ErrNoRoomForInitial) {
			return 1, nil, nil // too small even for the state the trace starts from
		}
		if err != nil {
			return 0, nil, err
		}
		return res.Metrics.OOMs, res, nil
	}
	_, free, err := ooms(0) // unlimited: the peak bounds the answer
	if err != nil {
		return 0, err
	}
	top := roundUpStep(free.Metrics.PeakReserved)
	for {
		n, _, err := ooms(top)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			break
		}
		if top > 1<<50 {
			return 0, fmt.Errorf("min_capacity: OOMs even at %d bytes", top)
		}
		top *= 2 // footprints rounded to the granularity can exceed the reserved peak
	}
	// Capacity lo fails (or is zero). A capacity below the bytes of the
	// initial state (a snapshot that starts mid-run) cannot even adopt it.
	lo := int64(0)
	if init := initialBytes(opts.Initial); init > 0 {
		lo = min((init-1)/CapacityStep*CapacityStep, top-CapacityStep)
	}
	return searchMinCapacity(lo, top, func(c int64) (bool, error) {
		n, _, err := ooms(c)
		return n > 0, err
	})
}

// searchMinCapacity finds, in CapacityStep steps within (lo, top], a
// capacity at which fails is false and stays false at every probe c + 2^k
// steps below top; fails(top) must be false. It bisects, probes upwards,
// and bisects again above the first probe that fails.
func searchMinCapacity(lo, top int64, fails func(capacity int64) (bool, error)) (int64, error) {
	for {
		hi := top
		for hi-lo > CapacityStep {
			mid := lo + (hi-lo)/2/CapacityStep*CapacityStep
			bad, err := fails(mid)
			if err != nil {
				return 0, err
			}
			if bad {
				lo = mid
			} else {
				hi = mid
			}
		}
		failed := int64(0)
		for k := int64(1); hi+k*CapacityStep < top; k *= 2 {
			bad, err := fails(hi + k*CapacityStep)
			if err != nil {
				return 0, err
			}
			if bad {
				failed = hi + k*CapacityStep
				break
			}
		}
		if failed == 0 {
			return hi, nil
		}
		lo = failed // bisect again above the probe that failed
	}
}

// initialBytes is what the initial state holds from the device.
func initialBytes(segs []host.InitialSegment) int64 {
	var n int64
	for _, s := range segs {
		n += s.Size
	}
	return n
}

func roundUpStep(n int64) int64 {
	if n <= 0 {
		return CapacityStep
	}
	return (n + CapacityStep - 1) / CapacityStep * CapacityStep
}

// LeastCapacity is the least capacity any policy can run a workload in:
// its rounded peak (Metrics.PeakRounded, or the peak requested when that
// is larger, as for records made before it) in CapacityStep steps, since
// every policy reserves whole steps and lays blocks on the 512-byte grid.
func LeastCapacity(peakRequested, peakRounded int64) int64 {
	return (max(peakRequested, peakRounded) + CapacityStep - 1) / CapacityStep * CapacityStep
}
