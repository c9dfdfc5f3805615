package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/fidelity"
	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/snapshot"
)

func init() { addCommands(fidelityCmd) }

func fidelityCmd() *cobra.Command {
	var (
		device   int
		capacity string
		params   []string
		context  int
	)
	cmd := &cobra.Command{
		Use:   "fidelity FILE.pickle",
		Short: "Check that the pytorch policy reproduces a PyTorch snapshot's recorded segment events",
		Long: `Replay a PyTorch memory snapshot with the pytorch policy (and the snapshot's
recorded allocator settings), taking each new segment's base address from the
trace, and compare the replay's segment events with the recorded ones: counts
per action, the longest matching prefix, the first divergence, the peak
reserved bytes and the alloc addresses. Exit status 0 only on an exact match.

The device capacity is taken from the trace (--capacity from-trace) unless
given.`,
		Example: `  fraglab fidelity ../shared/traces/pytorch/tiny-grad.pickle
  fraglab fidelity run.pickle --device 1 --capacity 79GiB`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ps, err := parseParams(params)
			if err != nil {
				return err
			}
			if !isSnapshot(args[0]) {
				return fmt.Errorf("%s: fidelity needs a PyTorch memory snapshot (.pickle)", args[0])
			}
			in, err := openInput(args[0], device, capacity)
			if err != nil {
				return err
			}
			mod, err := loadPolicy(cmd, "pytorch")
			if err != nil {
				return err
			}
			w := in.snap
			var replayed []fidelity.Op
			var allocs, addrMatches int
			var replayedOOMs []int64
			opts := replay.Options{
				Params:  in.params("pytorch", ps),
				Initial: in.initial,
				Place:   replay.RecordedPlacement(w),
				OnDriverOp: func(op host.DriverOp) {
					if op.Event >= 0 {
						replayed = append(replayed, fidelity.Op{Event: op.Event, Action: op.Action, Addr: op.Addr, Size: op.Size})
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
			}
			opts.ExplainOOMs = len(w.OOMs)
			res, err := replay.Run(cmd.Context(), in.reader, mod, cudadriver.NewSim(cudadriver.SimOptions{Capacity: in.capacity}), opts)
			if err != nil {
				return err
			}
			recorded := make([]fidelity.Op, len(w.Truth))
			for i, t := range w.Truth {
				recorded[i] = fidelity.Op{Event: t.Event, Action: t.Action, Addr: t.Addr, Size: t.Size}
			}
			rep := fidelity.Compare(recorded, replayed)
			rep.RecordedPeak = recordedPeak(w)
			rep.ReplayedPeak = res.Metrics.PeakReserved
			rep.AllocAddrs, rep.AllocAddrMatches = recordedAllocs(w), addrMatches
			rep.ReplayedOOMs = replayedOOMs
			for _, o := range w.OOMs {
				rep.RecordedOOMs = append(rep.RecordedOOMs, o.Event)
				rep.RecordedOOMStates = append(rep.RecordedOOMStates, fidelity.OOMState{Event: o.Event, Size: o.Size, Reserved: o.Reserved, DeviceFree: o.DeviceFree})
			}
			for _, o := range res.OOMReports {
				rep.ReplayedOOMStates = append(rep.ReplayedOOMStates, fidelity.OOMState{Event: o.Event, Size: o.Rounded, Reserved: o.Reserved, DeviceFree: o.DeviceFree})
			}
			if allocs < rep.AllocAddrs {
				// Allocations the replay failed (OOM) count as mismatches.
				rep.AllocAddrs = max(rep.AllocAddrs, allocs)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "snapshot %s, device %d: %d events, %d initial segments\n", args[0], w.Device, len(w.Events), len(w.Initial))
			for _, n := range in.notes {
				fmt.Fprintln(out, n)
			}
			fmt.Fprintln(out)
			rep.Print(out, context)
			if !rep.Match() || rep.AllocAddrMatches != rep.AllocAddrs {
				return exitError{code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&device, "device", -1, "device of the snapshot (default: the first with events)")
	f.StringVar(&capacity, "capacity", "from-trace", "device capacity SIZE, or from-trace")
	f.StringArrayVar(&params, "param", nil, "override a pytorch knob key=value (repeatable)")
	f.IntVar(&context, "context", 3, "segment events of context shown around the first divergence")
	atLeast(f, "0", "device", "context")
	return cmd
}

// recordedPeak is the peak of reserved bytes the snapshot implies: the
// initial segments plus the recorded segment events.
func recordedPeak(w *snapshot.Workload) int64 {
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
