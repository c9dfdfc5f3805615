package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fraglab/fraglab/experiment"
	"github.com/fraglab/fraglab/internal/runrecord"
	"github.com/fraglab/fraglab/report"
	"github.com/fraglab/fraglab/runner"
)

func init() { addCommands(mergeCmd) }

func mergeCmd() *cobra.Command {
	var (
		out     string
		expFile string
		shards  int
	)
	cmd := &cobra.Command{
		Use:   "merge DIR...",
		Short: "Merge the run records of a sharded sweep into one results.json/.csv/.md and report.html",
		Long: `Merge the run records (DIR/runs/*.json) of the shards of a sweep, from one
shared results directory or several, into one set of reports, identical to
what an unsharded run of the experiment writes (timing fields aside).

The runs each shard owns come from --experiment (split into --shards
shards, or as many as the shard manifests in DIR/shards say) or, without
it, from the manifests the shards wrote. Every shard's missing and failed
runs are listed; the exit status is 1 unless every run is recorded ok (the
reports are written all the same). Re-run what is missing with
"fraglab run EXP --shard I/N --resume-missing --out DIR".

A run recorded in several DIRs counts once (an ok record over a failed
one, else the first DIR's). Records of runs outside the sweep are left out
of the reports, and counted.

Merge holds the lock of the directory it writes to (OUT/.fraglab.lock) while
it writes: it is refused while an unsharded run or another merge holds it.
Shards still running do not hold it and are not disturbed.`,
		Example: `  fraglab merge /shared/results
  fraglab merge --experiment exp.yaml --shards 8 /shared/results
  fraglab merge --out merged node1/results node2/results`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			recs, dups, err := readRecordsOf(args)
			if err != nil {
				return err
			}
			var ms []*runner.Manifest
			for _, d := range args {
				m, err := runner.ReadManifests(d)
				if err != nil {
					return err
				}
				ms = append(ms, m...)
			}
			expected, err := runner.ExpectedFromManifests(ms)
			if err != nil {
				return err
			}
			names := map[string]string{}
			if expFile != "" {
				e, err := experiment.Load(expFile)
				if err != nil {
					return err
				}
				if shards <= 0 && len(expected) > 0 {
					shards = len(expected)
				}
				specs := runner.Specs(e)
				for _, s := range specs {
					names[s.ID] = s.Key()
				}
				expected = runner.ExpectedFromSpecs(specs, shards)
			} else if shards > 0 {
				return errors.New("--shards needs --experiment")
			}
			if dups > 0 {
				fmt.Fprintf(stderr, "%d runs were recorded in several directories; each counts once\n", dups)
			}
			keep, extra := restrictTo(expected, recs)
			if len(extra) > 0 {
				fmt.Fprintf(stderr, "left out of the reports: %d records of runs outside the sweep: %s\n", len(extra), strings.Join(extra, " "))
			}
			if len(keep) == 0 {
				return fmt.Errorf("%s: no run records of the sweep", strings.Join(args, ", "))
			}
			if out == "" {
				out = args[0]
			}
			lock, err := lockDir(stderr, out, commandLine(cmd, args))
			if err != nil {
				return err
			}
			defer lock.Release()
			if err := report.Write(out, keep); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "merged %d run records; reports in %s\n", len(keep), out)
			if expected == nil {
				fmt.Fprintln(stderr, "no shard manifests and no --experiment: missing runs cannot be told")
				return nil
			}
			byID := map[string]*runrecord.Record{}
			for _, r := range keep {
				byID[r.ID] = r
			}
			if incomplete := printCoverage(stdout, runner.Check(expected, byID), names); incomplete > 0 {
				fmt.Fprintf(stderr, "fraglab: the sweep is incomplete: %d runs missing or failed\n", incomplete)
				return exitError{code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "directory to write the reports to (default: the first DIR)")
	f.StringVarP(&expFile, "experiment", "e", "", "the experiment file: which runs the sweep has")
	f.IntVar(&shards, "shards", 0, "how many shards the sweep was split into (default: as the manifests say, else 1)")
	atLeast(f, "1", "shards")
	return cmd
}

// readRecordsOf reads the records of every DIR (DIR/runs or DIR itself),
// one per run ID: an ok record wins over a failed one, else the first
// read. dups counts the run IDs met more than once.
func readRecordsOf(dirs []string) (recs []*runrecord.Record, dups int, err error) {
	byID := map[string]int{}
	for _, d := range dirs {
		if _, err := os.Stat(d); err != nil {
			return nil, 0, err
		}
		rs, err := runrecord.ReadDir(runsDir(d))
		if err != nil {
			return nil, 0, err
		}
		for _, r := range rs {
			i, seen := byID[r.ID]
			if !seen {
				byID[r.ID] = len(recs)
				recs = append(recs, r)
				continue
			}
			dups++
			if recs[i].Status != runrecord.StatusOK && r.Status == runrecord.StatusOK {
				recs[i] = r
			}
		}
	}
	return recs, dups, nil
}

// restrictTo keeps the records of the expected runs when every shard's
// runs are known (else all), and returns the IDs of those left out.
func restrictTo(expected []runner.ShardRuns, recs []*runrecord.Record) (keep []*runrecord.Record, extra []string) {
	want := map[string]bool{}
	for _, e := range expected {
		if !e.Known {
			return recs, nil
		}
		for _, id := range e.Runs {
			want[id] = true
		}
	}
	if expected == nil {
		return recs, nil
	}
	for _, r := range recs {
		if want[r.ID] {
			keep = append(keep, r)
		} else {
			extra = append(extra, r.ID)
		}
	}
	return keep, extra
}

// printCoverage prints one line per shard and one per run missing or
// failed (with its "workload/policy" when names has it), and returns how
// many runs are missing or failed.
func printCoverage(w io.Writer, st []runner.ShardStatus, names map[string]string) int {
	bad := 0
	for _, s := range st {
		label := "all runs"
		if s.Shard.Sharded() {
			label = "shard " + s.Shard.String()
		}
		if !s.Known {
			fmt.Fprintf(w, "%s: unknown runs (no manifest: the shard never started; give --experiment to list them)\n", label)
			bad++
			continue
		}
		fmt.Fprintf(w, "%s: %d/%d ok, %d missing, %d failed\n", label, s.OK, len(s.Runs), len(s.Missing), len(s.Failed))
		for _, l := range []struct {
			what string
			ids  []string
		}{{"missing", s.Missing}, {"failed", s.Failed}} {
			for _, id := range l.ids {
				fmt.Fprintf(w, "  %s %s %s\n", l.what, id, names[id])
			}
		}
		bad += len(s.Missing) + len(s.Failed)
	}
	return bad
}

// listMissing prints, by shard, the runs of shard (the whole matrix when
// not sharded) with no ok record in outDir, and returns how many. The
// grouping of an unsharded resume follows the manifests in outDir, and it
// writes the manifests of the shards that never started. It is an error
// when outDir holds no record of e: there is nothing to resume.
func listMissing(w io.Writer, e *experiment.Experiment, outDir string, shard runner.Shard) (int, error) {
	if outDir == "" {
		return 0, errors.New("no output directory: the experiment has none and none was given")
	}
	recs, err := runrecord.ReadDir(filepath.Join(outDir, "runs"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	byID := map[string]*runrecord.Record{}
	for _, r := range recs {
		byID[r.ID] = r
	}
	specs := runner.Specs(e)
	names := map[string]string{}
	found := false
	for _, s := range specs {
		names[s.ID] = s.Key()
		found = found || byID[s.ID] != nil
	}
	if !found {
		return 0, fmt.Errorf("--resume-missing: %s holds no record of experiment %q: nothing to resume (run without --resume-missing to start the sweep)",
			filepath.Join(outDir, "runs"), e.Name)
	}
	n := shard.Count
	var known []runner.ShardRuns
	if !shard.Sharded() {
		ms, err := runner.ReadManifests(outDir)
		if err != nil {
			return 0, err
		}
		if known, err = runner.ExpectedFromManifests(ms); err != nil {
			return 0, err
		}
		n = len(known)
	}
	expected := runner.ExpectedFromSpecs(specs, n)
	if shard.Sharded() {
		expected = expected[shard.Index : shard.Index+1]
	}
	// Taking over a sharded directory: the shards that never started get
	// their manifests, so that merge without --experiment sees them.
	for i, k := range known {
		if !k.Known {
			m := &runner.Manifest{Experiment: e.Name, Shard: k.Shard.String(), Runs: expected[i].Runs}
			if err := runner.WriteManifest(outDir, k.Shard, m); err != nil {
				return 0, err
			}
		}
	}
	todo := printCoverage(w, runner.Check(expected, byID), names)
	if todo == 0 {
		fmt.Fprintln(w, "nothing to resume: every run is recorded ok")
	} else {
		fmt.Fprintf(w, "resuming %d runs\n", todo)
	}
	return todo, nil
}
