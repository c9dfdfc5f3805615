package fidelity

import (
	"context"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/snapshot"
)

// Check replays a snapshot workload with a policy module (the pytorch
// policy, for the fidelity check) on a simulated device of capacity bytes
// (0: unlimited), taking each new segment's base address from the trace,
// and compares the replay's segment events, peak reserved bytes, OOMs and
// alloc addresses with the recorded ones. params are the policy's
// parameters (the snapshot's recorded settings, see Settings.Params, and
// any overrides).
func Check(ctx context.Context, w *snapshot.Workload, mod *wasm.Module, capacity int64, params map[string]string) (*Report, error) {
	return CheckProgress(ctx, w, mod, capacity, params, nil)
}

// CheckProgress is Check calling progress as the replay goes
// (replay.Options.Progress); nil: none.
func CheckProgress(ctx context.Context, w *snapshot.Workload, mod *wasm.Module, capacity int64, params map[string]string, progress func(events int64)) (*Report, error) {
	reader, initial := replay.SnapshotInput(w)
	var replayed []Op
	var allocs, addrMatches int
	var replayedOOMs []int64
	opts := replay.Options{
		Params:  params,
		Initial: initial,
		Place:   replay.RecordedPlacement(w),
		OnDriverOp: func(op host.DriverOp) {
			if op.Event >= 0 {
				replayed = append(replayed, Op{Event: op.Event, Action: op.Action, Addr: op.Addr, Size: op.Size})
			}
		},
		OnBlockOp: func(op host.BlockOp) {
			if op.Action == host.ActionOOM {
				replayedOOMs = append(replayedOOMs, op.Event)
			}
			if op.Action == host.ActionAlloc && op.Event < int64(len(w.AllocAddr)) && w.AllocAddr[op.Event] != 0 {
				allocs++
				if op.Addr == w.AllocAddr[op.Event] {
					addrMatches++
				}
			}
		},
		ExplainOOMs: len(w.OOMs),
		Progress:    progress,
	}
	res, err := replay.Run(ctx, reader, mod, cudadriver.NewSim(cudadriver.SimOptions{Capacity: capacity}), opts)
	if err != nil {
		return nil, err
	}
	recorded := make([]Op, len(w.Truth))
	for i, t := range w.Truth {
		recorded[i] = Op{Event: t.Event, Action: t.Action, Addr: t.Addr, Size: t.Size}
	}
	rep := Compare(recorded, replayed)
	rep.RecordedPeak = RecordedPeak(w)
	rep.ReplayedPeak = res.Metrics.PeakReserved
	rep.AllocAddrs, rep.AllocAddrMatches = recordedAllocs(w), addrMatches
	rep.ReplayedOOMs = replayedOOMs
	for _, o := range w.OOMs {
		rep.RecordedOOMs = append(rep.RecordedOOMs, o.Event)
		rep.RecordedOOMStates = append(rep.RecordedOOMStates, OOMState{Event: o.Event, Size: o.Size, Reserved: o.Reserved, DeviceFree: o.DeviceFree})
	}
	for _, o := range res.OOMReports {
		rep.ReplayedOOMStates = append(rep.ReplayedOOMStates, OOMState{Event: o.Event, Size: o.Rounded, Reserved: o.Reserved, DeviceFree: o.DeviceFree})
	}
	if allocs < rep.AllocAddrs {
		// Allocations the replay failed (OOM) count as mismatches.
		rep.AllocAddrs = max(rep.AllocAddrs, allocs)
	}
	return rep, nil
}

// Exact reports a reproduction that fidelity accepts: Match, and every
// recorded alloc address reproduced.
func (r *Report) Exact() bool { return r.Match() && r.AllocAddrMatches == r.AllocAddrs }

// RecordedPeak is the peak of reserved bytes the snapshot implies: the
// initial segments plus the recorded segment events.
func RecordedPeak(w *snapshot.Workload) int64 {
	var reserved int64
	for _, s := range w.Initial {
		reserved += s.Size
	}
	peak := reserved
	for _, t := range w.Truth {
		switch t.Action {
		case snapshot.ActSegmentAlloc, snapshot.ActSegmentMap:
			reserved += t.Size
		case snapshot.ActSegmentFree, snapshot.ActSegmentUnmap:
			reserved -= t.Size
		}
		peak = max(peak, reserved)
	}
	return peak
}

func recordedAllocs(w *snapshot.Workload) int {
	n := 0
	for _, a := range w.AllocAddr {
		if a != 0 {
			n++
		}
	}
	return n
}
