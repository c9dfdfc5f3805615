package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/fraglab/fraglab/internal/runrecord"
	"github.com/fraglab/fraglab/report"
)

// runsDir is DIR/runs when it exists, else DIR itself (a runs directory).
func runsDir(dir string) string {
	if fi, err := os.Stat(filepath.Join(dir, "runs")); err == nil && fi.IsDir() {
		return filepath.Join(dir, "runs")
	}
	return dir
}

func readRuns(dir string) ([]*runrecord.Record, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	rd := runsDir(dir)
	recs, err := runrecord.ReadDir(rd)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: no run records (*.json)", rd)
	}
	return recs, nil
}

func init() { addCommands(reportCmd, compareCmd) }

func reportCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "report DIR",
		Short: "Regenerate results.json, results.csv, results.md and report.html from DIR/runs/*.json",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			recs, err := readRuns(args[0])
			if err != nil {
				return err
			}
			if out == "" {
				out = args[0]
			}
			lock, err := lockDir(cmd.ErrOrStderr(), out, commandLine(cmd, args))
			if err != nil {
				return err
			}
			defer lock.Release()
			if err := report.Write(out, recs); err != nil {
				return err
			}
			for _, f := range []string{report.JSONFile, report.CSVFile, report.MarkdownFile, report.HTMLFile} {
				fmt.Fprintln(cmd.OutOrStdout(), filepath.Join(out, f))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to write the reports to (default DIR)")
	return cmd
}

func compareCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "compare DIR_A DIR_B",
		Short: "Print per-run metric changes between two result sets (DIR/runs/*.json)",
		Long: "Runs are matched by ID, then by workload, policy, capacity and repeat.\n" +
			"For each metric: A, B, the absolute and the relative change; then the runs in only one set.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := readRuns(args[0])
			if err != nil {
				return err
			}
			b, err := readRuns(args[1])
			if err != nil {
				return err
			}
			return report.Compare(cmd.OutOrStdout(), a, b)
		},
	}
}
