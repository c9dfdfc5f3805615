package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/internal/kv"
	"github.com/fraglab/fraglab/internal/units"
	"github.com/fraglab/fraglab/trace"
	"github.com/fraglab/fraglab/tune"
)

func init() { addCommands(tuneCmd) }

func tuneCmd() *cobra.Command {
	var (
		capacity string
		device   int
		asJSON   bool
		parallel int
		top      int
		noPols   bool
	)
	cmd := &cobra.Command{
		Use:   "tune SNAPSHOT.pickle",
		Short: "Find the PYTORCH_CUDA_ALLOC_CONF that serves a snapshot best",
		Long: `Replay a PyTorch memory snapshot (or a .jsonl trace) under the pytorch policy
with many PYTORCH_CUDA_ALLOC_CONF settings, in worker processes, and recommend
the best against the settings recorded in the snapshot (the baseline).

The search (docs/tune.md): one knob at a time from the baseline; the knobs
that helped, in every combination; one knob at a time again from the best so
far; then min_capacity for the baseline and the --top best. Ranking: with a
capacity, fewest OOMs at it first, then min_capacity, peak_reserved, driver
calls and fewest changed knobs; without, the same without OOMs. The other
built-in policies are replayed too, as what a custom allocator could reach.`,
		Example: `  fraglab tune run.pickle
  fraglab tune run.pickle --capacity from-trace --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			in, err := openInput(path, device, capacity)
			if err != nil {
				return err
			}
			in.Close()
			tin := tune.Input{Trace: path, Device: device, Capacity: in.Capacity, Recorded: in.Params("pytorch", nil),
				Open: func() (trace.Reader, []host.InitialSegment, error) {
					r, initial, c, err := in.OpenReader()
					if err != nil || c == nil {
						return r, initial, err
					}
					return &closingReader{r, c}, initial, nil
				}}
			if tin.Recorded == nil {
				tin.Recorded = map[string]string{}
			}
			ctx, stop := signal.NotifyContext(ctxOf(cmd), os.Interrupt)
			defer stop()
			stderr := cmd.ErrOrStderr()
			var bar *progressbar.ProgressBar
			opts := tune.Options{Parallel: parallel, Top: top, NoPolicies: noPols}
			// A long trace: a line of events, rate and ETA over every
			// replay the search has planned so far (the total grows with
			// its stages); else a bar of replays, on a terminal only.
			if m, perRun := tuneMeter(stderr, path, in); m != nil {
				defer m.Done()
				opts.OnProgress = func(done, total int) {
					m.SetNote(fmt.Sprintf("%d/%d replays", done, total))
					m.SetTotal(int64(total) * perRun)
					m.Update(int64(done) * perRun)
				}
			} else if isTerminal(stderr) {
				opts.OnProgress = func(done, total int) {
					if bar == nil {
						bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(stderr), progressbar.OptionShowCount(),
							progressbar.OptionSetElapsedTime(true), progressbar.OptionSetDescription("replays"), progressbar.OptionClearOnFinish())
					}
					bar.ChangeMax(total)
					_ = bar.Set(done)
				}
			}
			rep, err := tune.Run(ctx, tin, opts)
			if bar != nil {
				_ = bar.Finish()
			}
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(rep)
			}
			printTune(cmd.OutOrStdout(), args[0], in.Notes, rep)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&capacity, "capacity", "", "device capacity SIZE or unlimited, or from-trace for a PyTorch snapshot (default unknown: replays run unlimited)")
	f.IntVar(&device, "device", -1, "device of a PyTorch snapshot (default: the first with events)")
	f.BoolVar(&asJSON, "json", false, "print the report as one JSON object")
	f.IntVar(&parallel, "parallel", 0, "worker processes (default: the number of CPUs)")
	f.IntVar(&top, "top", tune.DefaultTop, "settings besides the baseline that get min_capacity")
	f.BoolVar(&noPols, "no-policies", false, "skip the other built-in policies")
	atLeast(f, "0", "device")
	atLeast(f, "1", "parallel", "top")
	return cmd
}

// closingReader closes its file at the end of the trace.
type closingReader struct {
	trace.Reader
	c io.Closer
}

func (r *closingReader) Next() (trace.Event, error) {
	e, err := r.Reader.Next()
	if err != nil {
		r.c.Close()
	}
	return e, err
}

func printTune(w io.Writer, path string, notes []string, rep *tune.Report) {
	capacity := "unknown (replays run unlimited)"
	if rep.Capacity > 0 {
		capacity = units.Format(rep.Capacity)
	}
	fmt.Fprintf(w, "trace      %s (%d events)\n", path, rep.Baseline.Events)
	fmt.Fprintf(w, "capacity   %s\n", capacity)
	rec := "none (PyTorch's defaults)"
	if len(rep.Baseline.Params) > 0 {
		rec = kv.Format(rep.Baseline.Params, " ")
	}
	fmt.Fprintf(w, "recorded   %s\n", rec)
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
	fmt.Fprintf(w, "ranking    %s\n", rep.Objective)
	fmt.Fprintf(w, "tried      %d settings and %d other policies in %d worker runs\n", len(rep.Settings), len(rep.Policies), rep.Runs)
	b := rep.Bound
	fmt.Fprintf(w, "bound      peak requested %s, rounded peak %s: no setting or policy runs in less than %s\n\n",
		units.Format(b.PeakRequested), units.Format(b.PeakRounded), units.Format(b.LeastCapacity))

	r := rep.Recommendation
	fmt.Fprintln(w, "Recommendation:")
	if r.IsBaseline {
		fmt.Fprintln(w, "  keep the recorded settings: nothing tried beats them")
	} else {
		fmt.Fprintf(w, "  PYTORCH_CUDA_ALLOC_CONF=%s\n", r.Conf)
		fmt.Fprintf(w, "  fraglab params: %s\n", kv.Format(r.Changes, " "))
	}
	fmt.Fprintf(w, "  %s\n", r.Summary)
	for _, s := range r.Reasons {
		fmt.Fprintf(w, "  - %s\n", s)
	}

	fmt.Fprintln(w, "\nSettings (pytorch policy; a setting change), best first:")
	table(w, rep.Settings, rep.Bound, true)
	if len(rep.Flags) > 0 {
		fmt.Fprintln(w, "\nFlagged (from the replays):")
		for i, f := range rep.Flags {
			if i == maxFlags {
				fmt.Fprintf(w, "  … and %d more (--json lists them all)\n", len(rep.Flags)-maxFlags)
				break
			}
			fmt.Fprintf(w, "  - %s\n", f)
		}
	}
	if len(rep.Policies) > 0 {
		fmt.Fprintln(w, "\nWhat a custom allocator could reach (fraglab's other built-in policies, not a setting change; baseline for reference):")
		table(w, append([]*tune.Setting{rep.Baseline}, rep.Policies...), rep.Bound, false)
	}
}

// maxFlags is how many flags the text report prints.
const maxFlags = 10

// table prints rows with the numbers right-aligned and the setting, the
// widest column, last and left-aligned; utilization is peak requested /
// min capacity (the distance to the bound).
func table(w io.Writer, rows []*tune.Setting, b tune.Bound, stage bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "peak_reserved\tfrag_ratio\tooms\tmin_capacity\tutilization\tdriver_calls\t"
	if stage {
		head = "stage\t" + head
	}
	fmt.Fprintln(tw, head+"  setting")
	for _, s := range rows {
		line := ""
		if stage {
			line = s.Stage + "\t"
		}
		if s.Metrics == nil {
			line += "\t\t\t\t\t\t  " + s.Name + ": failed: " + oneLine(s.Error)
		} else {
			mc, util := "-", "-"
			if s.MinCapacity != nil {
				mc = units.Format(*s.MinCapacity)
				util = fmt.Sprintf("%.3f", b.Utilization(s))
			}
			line += fmt.Sprintf("%s\t%.4f\t%d\t%s\t%s\t%d\t  %s", units.Format(s.PeakReserved), s.FragRatio, s.OOMs, mc, util, *s.DriverCalls, s.Name)
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return s
}
