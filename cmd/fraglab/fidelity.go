package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fraglab/fraglab/internal/fidelity"
	"github.com/fraglab/fraglab/replay/setup"
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
			if !setup.IsSnapshot(args[0]) {
				return fmt.Errorf("%s: fidelity needs a PyTorch memory snapshot (.pickle)", args[0])
			}
			in, err := openInput(args[0], device, capacity)
			if err != nil {
				return err
			}
			mod, err := setup.LoadPolicy(cmd.Context(), "pytorch", "")
			if err != nil {
				return err
			}
			w := in.Snapshot
			progress, endProgress := replayProgress(cmd.ErrOrStderr(), "fidelity", in.Events, nil)
			rep, err := fidelity.CheckProgress(cmd.Context(), w, mod, in.Capacity, in.Params("pytorch", ps), progress)
			endProgress()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "snapshot %s, device %d: %d events, %d initial segments\n", args[0], w.Device, len(w.Events), len(w.Initial))
			for k, id := range w.PoolIDs {
				fmt.Fprintf(out, "private pool %d: recorded pool id (%d, %d)\n", k+1, id[0], id[1])
			}
			for _, n := range in.Notes {
				fmt.Fprintln(out, n)
			}
			fmt.Fprintln(out)
			rep.Print(out, context)
			if !rep.Exact() {
				return exitError{code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&device, "device", -1, "device of the snapshot (default: the first with events)")
	f.StringVar(&capacity, "capacity", "from-trace", "device capacity SIZE or unlimited, or from-trace")
	f.StringArrayVar(&params, "param", nil, "override a pytorch knob key=value (repeatable)")
	f.IntVar(&context, "context", 3, "segment events of context shown around the first divergence")
	atLeast(f, "0", "device", "context")
	return cmd
}
