package main

import (
	"fmt"
	"io"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/fraglab/fraglab/snapshot"
	"github.com/fraglab/fraglab/traceconv"
)

func traceConvertCmd() *cobra.Command {
	var (
		from, to, tagRules string
		device             int
	)
	c := &cobra.Command{
		Use:   "convert IN OUT",
		Short: "Convert a workload between JSONL, the binary format, RMM logs and PyTorch snapshots",
		Long: `Converts the workload IN to OUT. Formats come from the extensions (.jsonl, .fltr, .csv,
each optionally .gz, and .pickle) or from --from/--to (jsonl, fltr, csv, pickle).
Whatever OUT's format cannot hold is listed on stderr with its count.
Writing a .pickle replays the workload under the built-in pytorch policy on an unlimited
simulated device: the snapshot's addresses and segments are that replay's.`,
		Example: `  fraglab trace convert run.jsonl run.fltr
  fraglab trace convert rmm_log.csv run.jsonl
  fraglab trace convert run.fltr run.csv        # for RMM's replay benchmark
  fraglab trace convert snap.pickle run.jsonl --tag-rules my-rules.yaml`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var o traceconv.Options
			var err error
			if from != "" {
				if o.Format, err = traceconv.ParseFormat(from); err != nil {
					return fmt.Errorf("--from: %w", err)
				}
			}
			if to != "" {
				if o.To, err = traceconv.ParseFormat(to); err != nil {
					return fmt.Errorf("--to: %w", err)
				}
			}
			if cmd.Flags().Changed("device") {
				o.Device = &device
			}
			if o.TagRules, err = loadTagRules(tagRules); err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			var bar *progressbar.ProgressBar
			if isTerminal(stderr) {
				bar = progressbar.NewOptions64(-1, progressbar.OptionSetWriter(stderr), progressbar.OptionShowCount(),
					progressbar.OptionSetDescription("events"), progressbar.OptionClearOnFinish())
				o.Progress = func(n int64) { _ = bar.Set64(n) }
			}
			rep, err := traceconv.Convert(cmd.Context(), args[0], args[1], o)
			if bar != nil {
				_ = bar.Finish()
			}
			if err != nil {
				return err
			}
			printDropped(stderr, rep)
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d events (%s) to %s (%s)\n", rep.Written, rep.From, args[1], rep.To)
			return nil
		},
	}
	c.Flags().StringVar(&from, "from", "", "input format: jsonl, fltr, csv or pickle (default: by extension)")
	c.Flags().StringVar(&to, "to", "", "output format: jsonl, fltr, csv or pickle (default: by extension)")
	c.Flags().IntVar(&device, "device", -1, "device of a PyTorch snapshot (default: the first with events)")
	atLeast(c.Flags(), "0", "device")
	c.Flags().StringVar(&tagRules, "tag-rules", "", "YAML rules mapping a snapshot's stack frames to tags (default: the built-in rules; see docs/tags.md)")
	return c
}

// printDropped says on w what the conversion dropped, with counts, and its
// notes.
func printDropped(w io.Writer, rep *traceconv.Report) {
	if len(rep.Dropped) > 0 {
		fmt.Fprintf(w, "fraglab: %s cannot hold everything of %s; dropped:\n", rep.To, rep.From)
		for _, d := range rep.Dropped {
			fmt.Fprintf(w, "  - %s\n", d)
		}
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "fraglab: note: %s\n", n)
	}
}

// loadTagRules reads a --tag-rules file; "" means the default rules (nil).
func loadTagRules(path string) ([]snapshot.TagRule, error) {
	if path == "" {
		return nil, nil
	}
	return snapshot.LoadTagRules(path)
}
