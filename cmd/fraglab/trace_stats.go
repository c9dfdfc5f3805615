package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/fraglab/fraglab/internal/atomicfile"
	"github.com/fraglab/fraglab/traceconv"
	"github.com/fraglab/fraglab/tracestats"
)

func traceStatsCmd() *cobra.Command {
	var (
		from, tagRules, svg string
		device              int
		asJSON              bool
	)
	c := &cobra.Command{
		Use:   "stats FILE",
		Short: "Summarise a workload: events, live bytes, sizes, lifetimes, tags, streams, pools, failures",
		Long: `Prints event counts, the live requested bytes over events (peak and where), a histogram of
request sizes with PyTorch's boundaries marked (512 B rounding, 1 MiB small/large pool, 10 MiB,
20 MiB segments), the share of bytes in 1-10 MiB requests, lifetimes in events per size class and
per tag, streams, private pools (free_requested and release_pool counts, the peak bytes live in
private pools), and the failed allocations the trace recorded (RMM allocate failures, snapshot
oom entries). FILE is any format trace convert reads. docs/trace-stats.md defines each number.`,
		Example: `  fraglab trace stats run.jsonl
  fraglab trace stats snap.pickle --json
  fraglab trace stats rmm_log.csv --svg rmm.svg`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var o traceconv.OpenOptions
			if cmd.Flags().Changed("device") {
				o.Device = &device
			}
			var err error
			if from != "" {
				if o.Format, err = traceconv.ParseFormat(from); err != nil {
					return fmt.Errorf("--from: %w", err)
				}
			}
			if o.TagRules, err = loadTagRules(tagRules); err != nil {
				return err
			}
			src, err := traceconv.Open(args[0], o)
			if err != nil {
				return err
			}
			defer src.Close()
			s, err := tracestats.OfSource(src)
			if err != nil {
				return err
			}
			if svg != "" {
				var b bytes.Buffer
				if err := tracestats.WriteSVG(&b, s, filepath.Base(args[0])); err != nil {
					return err
				}
				if err := atomicfile.Write(svg, b.Bytes()); err != nil {
					return err
				}
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(s)
			}
			return tracestats.WriteText(cmd.OutOrStdout(), s, args[0])
		},
	}
	c.Flags().StringVar(&from, "from", "", "input format: jsonl, fltr, csv or pickle (default: by extension)")
	c.Flags().IntVar(&device, "device", -1, "device of a PyTorch snapshot (default: the first with events)")
	atLeast(c.Flags(), "0", "device")
	c.Flags().StringVar(&tagRules, "tag-rules", "", "YAML rules mapping a snapshot's stack frames to tags (default: the built-in rules; see docs/tags.md)")
	c.Flags().StringVar(&svg, "svg", "", "also write the live-bytes curve and the size histogram as an SVG to FILE")
	c.Flags().BoolVar(&asJSON, "json", false, "print the stats as one JSON object")
	return c
}
