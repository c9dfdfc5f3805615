package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/fraglab/fraglab/experiment"
	meter "github.com/fraglab/fraglab/internal/progress"
	"github.com/fraglab/fraglab/internal/runrecord"
	"github.com/fraglab/fraglab/internal/units"
	"github.com/fraglab/fraglab/report"
	"github.com/fraglab/fraglab/runner"
)

// workerOptions configure this binary when it is started as a run worker
// (tests set hooks here).
var workerOptions runner.WorkerOptions

// The binary is its own run worker: `fraglab run` re-executes it with the
// go-plugin magic cookie in the environment, and then it serves one run
// and exits instead of running the CLI.
func init() {
	if runner.IsWorker() {
		runner.Serve(workerOptions)
	}
}

func init() { addCommands(runCmd) }

func runCmd() *cobra.Command {
	var (
		out           string
		parallel      int
		only          string
		runTimeout    time.Duration
		shardFlag     string
		resumeMissing bool
		retryFailed   bool
	)
	cmd := &cobra.Command{
		Use:   "run EXPERIMENT.yaml",
		Short: "Run an experiment's matrix of workloads × policies",
		Long: `Run every run of an experiment file (docs/experiments.md), each in its own
worker process (this binary, re-executed), --parallel at a time.

Each run's record is written to OUT/runs/<id>.json as soon as it ends. Running
again skips the runs already recorded with status ok and retries the failed
ones, so an interrupted sweep loses nothing. A run whose worker crashes,
hangs or is killed, or that exceeds --run-timeout, is recorded as failed with
the reason; the other runs go on. At the end a summary table is printed, and
the exit status is 1 if any run failed.

--only FILTER keeps the runs whose "WORKLOAD/POLICY-LABEL" contains FILTER as
a substring, e.g. "devlog-small-then-large/" (one workload), "/pytorch" (the
policies whose label starts with pytorch) or "/pytorch(max_split_size_mb=128)".
A generator workload's name is "NAME#SEED".

--shard I/N runs only shard I (0 ≤ I < N) of N deterministic, balanced
slices of the matrix (docs/scale-out.md), writing the same records to
OUT/runs plus OUT/shards/shard-I-of-N.json (the runs it owns) and no
reports: "fraglab merge OUT" writes them once every shard is done.
"--shard slurm/N" takes I from SLURM_ARRAY_TASK_ID ("slurm": N from
SLURM_ARRAY_TASK_COUNT too), "--shard k8s/N" from JOB_COMPLETION_INDEX.

--resume-missing re-runs exactly the runs with no ok record in OUT (of the
shard with --shard, else of the whole matrix), after listing them by shard;
it refuses to start when OUT holds no record of the experiment.
--retry-failed re-runs only the runs recorded failed, leaving the runs with
no record for a later run.

One writer per results directory: an unsharded run holds the lock
OUT/.fraglab.lock (pid, host, start, command) from start to end, and a
second run or merge into OUT is refused, naming the holder; the lock of a
run that died on this host is taken over, saying so. A shard takes no lock:
it writes only its own records, and the reports are merge's.

Ctrl-C or SIGTERM stops the running workers (their runs get no record),
keeps every finished record, writes no report, prints the command that
resumes and exits with status 130 (SIGINT) or 143 (SIGTERM). Workers die
with this process however it ends, SIGKILL included.`,
		Example: `  fraglab run experiments/quickstart.yaml
  fraglab run exp.yaml --out /tmp/results --parallel 4 --only /pytorch
  fraglab run exp.yaml --out /shared/results --shard 2/8
  fraglab run exp.yaml --out /shared/results --shard 2/8 --resume-missing`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := experiment.Load(args[0])
			if err != nil {
				return err
			}
			var shard runner.Shard
			if shardFlag != "" {
				if shard, err = runner.ParseShard(shardFlag, os.Getenv); err != nil {
					return err
				}
			}
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			for _, n := range e.Notes {
				fmt.Fprintln(stderr, "note:", n)
			}
			if resumeMissing && retryFailed {
				return errors.New("--resume-missing and --retry-failed: give one (--resume-missing re-runs the failed runs too)")
			}
			if !shard.Sharded() {
				// The whole directory is ours: records and reports.
				lock, err := lockDir(stderr, cmp.Or(out, e.Output), commandLine(cmd, args))
				if err != nil {
					return err
				}
				defer lock.Release()
			}
			if resumeMissing {
				todo, err := listMissing(stdout, e, cmp.Or(out, e.Output), shard)
				if err != nil {
					return err
				}
				if todo == 0 && shard.Sharded() {
					return nil
				}
			}
			// SIGTERM too: that is how Slurm (scancel) and Kubernetes stop a shard.
			ctx, stop := interruptible(ctxOf(cmd))
			defer stop()
			if e.Device.Kind != "sim" && !cmd.Flags().Changed("parallel") {
				// Runs sharing a GPU would take each other's memory.
				parallel = 1
				fmt.Fprintf(stderr, "fraglab: device %s: one run at a time (--parallel to override)\n", e.Device.Kind)
			}
			p := &progress{w: stderr, tty: isTerminal(stderr)}
			sum, err := runner.Run(ctx, e, runner.Options{Out: out, Parallel: parallel, Only: only, RunTimeout: runTimeout,
				Shard: shard, RetryFailed: retryFailed, OnStart: p.start, OnDone: p.done})
			p.finish()
			if sum == nil {
				return err
			}
			printSummary(stdout, sum)
			if sig := interruptedBy(ctx); sig != nil {
				fmt.Fprintf(stderr, "fraglab: interrupted by %s: the runs still going were stopped and not recorded, the %d finished ones are in %s; no report was written. Resume with:\n  %s\n",
					sigName(sig), sum.Ran, sum.RunsDir, commandLine(cmd, args))
				return exitError{code: 128 + sigNumber(sig)}
			}
			if err != nil && ctx.Err() != nil {
				return fmt.Errorf("interrupted: the runs still going were stopped and not recorded; run again to finish (%w)", err)
			}
			if sum.Left > 0 {
				fmt.Fprintf(stderr, "fraglab: --retry-failed: %d runs have no record and were left; run without --retry-failed to run them\n", sum.Left)
			}
			if err != nil {
				return err
			}
			outDir := filepath.Dir(sum.RunsDir)
			if shard.Sharded() {
				// Reports are written once, by merge: shards never share a file.
				fmt.Fprintf(stdout, "shard %s done; when every shard is, write the reports: fraglab merge %s\n", shard, outDir)
				return failedExit(stderr, sum)
			}
			if err := report.Write(outDir, sum.Records); err != nil {
				return fmt.Errorf("writing the reports: %w", err)
			}
			fmt.Fprintf(stdout, "reports in %s\n", outDir)
			return failedExit(stderr, sum)
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "results directory; records go to OUT/runs (default: the experiment's output)")
	f.IntVar(&parallel, "parallel", runtime.NumCPU(), "how many runs at once")
	f.StringVar(&only, "only", "", `run only the runs whose "workload/policy-label" contains FILTER`)
	f.StringVar(&shardFlag, "shard", "", `run one slice of the matrix: I/N (0 ≤ I < N), slurm, slurm/N or k8s/N`)
	f.BoolVar(&resumeMissing, "resume-missing", false, "re-run exactly the missing and failed runs (of the shard with --shard), listing them first")
	f.BoolVar(&retryFailed, "retry-failed", false, "re-run only the runs recorded failed (not those with no record)")
	f.DurationVar(&runTimeout, "run-timeout", runner.DefaultRunTimeout, "wall-clock limit of one run; its worker is killed past it")
	atLeast(f, "1", "parallel")
	atLeast(f, "1ns", "run-timeout")
	return cmd
}

// failedExit says how many runs failed and gives exit status 1 if any did.
func failedExit(stderr io.Writer, sum *runner.Summary) error {
	if sum.Failed > 0 {
		fmt.Fprintf(stderr, "fraglab: %d of %d runs failed (records in %s; run again to retry them, or with --retry-failed to retry only them)\n", sum.Failed, sum.Ran, sum.RunsDir)
		return exitError{code: 1}
	}
	return nil
}

func ctxOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// isTerminal reports whether w is a terminal.
var isTerminal = meter.IsTerminal

// progress reports runs as they end: a bar on a terminal, else one line
// per run.
type progress struct {
	w                io.Writer
	tty              bool
	bar              *progressbar.ProgressBar
	total, n, failed int
}

func (p *progress) start(total, skipped int) {
	p.total = total
	if skipped > 0 {
		fmt.Fprintf(p.w, "%d runs already recorded ok, skipped\n", skipped)
	}
	if p.tty && total > 0 {
		p.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(p.w), progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true), progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetDescription("runs"), progressbar.OptionClearOnFinish())
	}
}

func (p *progress) done(r *runrecord.Record) {
	p.n++
	if r.Status != runrecord.StatusOK {
		p.failed++
	}
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("runs (%d failed)", p.failed))
		_ = p.bar.Add(1)
		return
	}
	detail := ""
	if r.Metrics != nil {
		detail = "peak_reserved=" + units.Format(r.Metrics.PeakReserved)
	} else {
		detail = r.Error
	}
	fmt.Fprintf(p.w, "[%d/%d] %-6s %s/%s  %s  %.1fs\n", p.n, p.total, r.Status, r.Workload, r.Policy, detail, r.ElapsedSeconds)
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// printSummary prints one row per run, in matrix order.
func printSummary(w io.Writer, s *runner.Summary) {
	if len(s.Records) == 0 {
		fmt.Fprintln(w, "no runs")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKLOAD\tPOLICY\tCAPACITY\tSTATUS\tPEAK_RESERVED\tFRAG_RATIO\tOOMS")
	for _, r := range s.Records {
		capacity := "unlimited"
		if r.Capacity > 0 {
			capacity = units.Format(r.Capacity)
		}
		peak, frag, ooms := "-", "-", "-"
		if m := r.Metrics; m != nil {
			peak, frag, ooms = units.Format(m.PeakReserved), fmt.Sprintf("%.4f", m.FragRatio), fmt.Sprint(m.OOMs)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Workload, r.Policy, capacity, r.Status, peak, frag, ooms)
	}
	tw.Flush()
	for _, r := range s.Records {
		if r.Status != runrecord.StatusOK {
			fmt.Fprintf(w, "failed %s %s/%s: %s\n", r.ID, r.Workload, r.Policy, r.Error)
		}
	}
	fmt.Fprintf(w, "%d runs: %d ran, %d skipped (already ok), %d failed; records in %s\n",
		len(s.Records), s.Ran, s.Skipped, s.Failed, s.RunsDir)
}
