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
// which the workload completes with no OOM, found by bisection on the sim
// device. open gives a fresh reader over the same workload for each try.
// Bisection assumes that more capacity never causes an OOM; allocators are
// not strictly monotonic (a smaller device releases cached segments
// earlier), so the answer is the boundary bisection finds. It costs about
// log2(peak/2 MiB) replays. With an initial state (Options.Initial) the
// search starts at the bytes it holds, and a capacity too small to adopt it
// (granularity rounding) counts as failing.
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
	hi := roundUpStep(free.Metrics.PeakReserved)
	for {
		n, _, err := ooms(hi)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			break
		}
		if hi > 1<<50 {
			return 0, fmt.Errorf("min_capacity: OOMs even at %d bytes", hi)
		}
		hi *= 2 // footprints rounded to the granularity can exceed the reserved peak
	}
	// Capacity lo fails (or is zero). A capacity below the bytes of the
	// initial state (a snapshot that starts mid-run) cannot even adopt it.
	lo := int64(0)
	if init := initialBytes(opts.Initial); init > 0 {
		lo = min((init-1)/CapacityStep*CapacityStep, hi-CapacityStep)
	}
	for hi-lo > CapacityStep {
		mid := lo + (hi-lo)/2/CapacityStep*CapacityStep
		n, _, err := ooms(mid)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, nil
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
