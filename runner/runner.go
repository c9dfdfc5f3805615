package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/fraglab/fraglab/experiment"
	"github.com/fraglab/fraglab/internal/runrecord"
	"github.com/fraglab/fraglab/replay"
)

// DefaultRunTimeout is the wall-clock limit of one run's worker.
const DefaultRunTimeout = 10 * time.Minute

// Options configure Run.
type Options struct {
	// Out is the results directory; records go to Out/runs. Default: the
	// experiment's Output.
	Out string
	// Parallel is how many workers run at once (default runtime.NumCPU()).
	Parallel int
	// RunTimeout is the wall-clock limit of one run (default
	// DefaultRunTimeout); a worker past it is killed and the run fails.
	RunTimeout time.Duration
	// Only keeps the runs whose "workload/policy-label" contains it.
	Only string
	// Shard selects one slice of the matrix (SelectShard, applied before
	// Only); the zero Shard runs the whole matrix. A shard writes its
	// manifest to Out/shards and its label into each record.
	Shard Shard
	// RetryFailed runs only the runs recorded failed; the runs with no
	// record are left for a sweep without it (Summary.Left counts them).
	RetryFailed bool
	// Executable is the worker binary (default os.Executable()), started
	// with Args and the magic cookie in its environment.
	Executable string
	Args       []string
	// OnStart is called when the sweep's runs are known: total to run
	// (after --only and skipping) and skipped (already recorded ok).
	OnStart func(total, skipped int)
	// OnDone is called, one call at a time, as each run ends, after its
	// record is written.
	OnDone func(rec *runrecord.Record)
}

// setDefaults fills in the zero fields of o that have a default:
// Parallel, RunTimeout and Executable.
func (o *Options) setDefaults() error {
	if o.Parallel <= 0 {
		o.Parallel = runtime.NumCPU()
	}
	if o.RunTimeout <= 0 {
		o.RunTimeout = DefaultRunTimeout
	}
	if o.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding the worker binary: %w", err)
		}
		o.Executable = exe
	}
	return nil
}

// Summary is the outcome of a sweep.
type Summary struct {
	// Records are the records of every selected run, in matrix order:
	// those run now and those skipped because already recorded ok.
	Records []*runrecord.Record
	// Ran, Skipped and Failed count runs executed now, runs skipped, and
	// runs (executed now) that failed.
	Ran, Skipped, Failed int
	// Left counts the runs with no record that RetryFailed left out.
	Left int
	// RunsDir is where the records are.
	RunsDir string
}

// Specs expands e's matrix into run specs, in matrix order.
func Specs(e *experiment.Experiment) []Spec {
	var out []Spec
	for _, r := range e.Runs() {
		w := r.Workload.Name
		if r.Workload.Generator != "" {
			w += fmt.Sprintf("#%d", r.Workload.Seed)
		}
		out = append(out, Spec{
			ID: r.ID, Experiment: e.Name,
			Workload: w, Trace: r.Workload.Trace, Device: r.Workload.Device,
			Generator: r.Workload.Generator, GeneratorParams: r.Workload.Params, Seed: r.Workload.Seed,
			Policy: r.Policy.Name, PolicyPath: r.Policy.Path, Label: r.Policy.Label, Params: r.Policy.Params,
			Capacity: r.Capacity, Repeat: r.Repeat,
			MemoryLimitPages: e.Limits.PolicyMemoryPages, HangTimeout: e.Limits.HookTimeout,
			Fallback:    e.OnPolicyError == "fallback",
			MinCapacity: len(e.Metrics) == 0 || slices.Contains(e.Metrics, "min_capacity"),
			DeviceKind:  e.Device.Kind, LatencyProfile: e.Device.LatencyProfile, Canary: e.Device.Canary,
		})
	}
	return out
}

// Filter keeps the specs whose Key ("workload/policy-label") contains only;
// an empty only keeps all.
func Filter(specs []Spec, only string) []Spec {
	if only == "" {
		return specs
	}
	var out []Spec
	for _, s := range specs {
		if strings.Contains(s.Key(), only) {
			out = append(out, s)
		}
	}
	return out
}

// Run executes the runs of e not yet recorded with status ok, each in a
// worker process, and writes each record as the run ends. A run that
// fails, a worker that crashes, hangs or is killed gives a failed record;
// the other runs go on. When ctx ends, workers still running are killed
// and their runs are not recorded (the next sweep runs them); Run then
// returns ctx's error with what was done.
func Run(ctx context.Context, e *experiment.Experiment, o Options) (*Summary, error) {
	out := o.Out
	if out == "" {
		out = e.Output
	}
	if out == "" {
		return nil, errors.New("no output directory: the experiment has none and none was given")
	}
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	all := Specs(e)
	if o.Only != "" && len(Filter(all, o.Only)) == 0 {
		// Most likely a typo: say so rather than run nothing and succeed.
		return nil, fmt.Errorf("--only %q matches none of the %d runs of experiment %s: expected part of a run's WORKLOAD/POLICY-LABEL, e.g. %q",
			o.Only, len(all), e.Name, all[0].Key())
	}
	sum := &Summary{RunsDir: filepath.Join(out, "runs")}
	if err := os.MkdirAll(sum.RunsDir, 0o755); err != nil {
		return nil, err
	}

	if o.Shard.Sharded() {
		if err := writeShardManifest(out, e.Name, o.Shard, all); err != nil {
			return nil, err
		}
	}
	specs := Filter(SelectShard(all, o.Shard), o.Only)
	recs := make([]*runrecord.Record, len(specs))
	var todo []int
	for i := range specs {
		r := readRecord(sum.RunsDir, specs[i].ID)
		switch {
		case r != nil && r.Status == runrecord.StatusOK:
			recs[i] = r
			sum.Skipped++
		case r == nil && o.RetryFailed:
			sum.Left++
		default:
			todo = append(todo, i)
		}
	}
	if o.OnStart != nil {
		o.OnStart(len(todo), sum.Skipped)
	}
	bl := newBaselines(sum.RunsDir, all, specs, recs, todo)
	todo = bl.order(specs, todo)

	var (
		mu       sync.Mutex
		writeErr error
	)
	feedWorkers(ctx, o.Parallel, todo, func(jobs <-chan int) {
		for i := range jobs {
			s := specs[i]
			if !bl.wait(ctx, &s) {
				continue // interrupted
			}
			rec := runWorker(ctx, &o, &s)
			bl.done(&s, rec)
			// Interrupted: not recorded. A worker that died of the same
			// signal (scancel, a pod deletion) is no failure of the run.
			if rec == nil || ctx.Err() != nil {
				continue
			}
			rec.Shard = o.Shard.String()
			err := runrecord.Write(sum.RunsDir, rec)
			mu.Lock()
			recs[i] = rec
			sum.Ran++
			if rec.Status != runrecord.StatusOK {
				sum.Failed++
			}
			if err != nil && writeErr == nil {
				writeErr = fmt.Errorf("writing the record of run %s: %w", rec.ID, err)
			}
			if o.OnDone != nil {
				o.OnDone(rec)
			}
			mu.Unlock()
		}
	})
	for _, r := range recs {
		if r != nil {
			sum.Records = append(sum.Records, r)
		}
	}
	if writeErr != nil {
		return sum, writeErr
	}
	return sum, ctx.Err()
}

// readRecord returns the record of id in dir, or nil if there is none (a
// file that is not a record of id counts as none, and is overwritten).
func readRecord(dir, id string) *runrecord.Record {
	b, err := os.ReadFile(filepath.Join(dir, runrecord.FileName(id)))
	if err != nil {
		return nil
	}
	var r runrecord.Record
	if json.Unmarshal(b, &r) != nil || r.ID != id || (r.Status != runrecord.StatusOK && r.Status != runrecord.StatusFailed) {
		return nil
	}
	return &r
}

// stderrTail keeps the last bytes written to it.
type stderrTail struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 2048

func (t *stderrTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*tailMax {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailMax:]...)
	}
	return len(p), nil
}

func (t *stderrTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if len(b) > tailMax {
		b = b[len(b)-tailMax:]
		if i := strings.IndexByte(string(b), '\n'); i >= 0 && i < len(b)-1 {
			b = b[i+1:]
		}
	}
	return strings.TrimSpace(string(b))
}

// feedWorkers runs work in min(parallel, len(todo)) goroutines (at least
// one), hands them the items of todo through jobs until ctx ends, then
// closes jobs and waits for every goroutine to return.
func feedWorkers(ctx context.Context, parallel int, todo []int, work func(jobs <-chan int)) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(parallel, max(len(todo), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(jobs)
		}()
	}
feed:
	for _, i := range todo {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
}

// newWorkerClient prepares (does not start) a worker process running
// o.Executable with o.Args, and the go-plugin client that talks to it; the
// worker's stderr goes to the returned tail. The worker dies with this
// process: the kernel kills it (Linux), and it exits when its lifeline,
// which the caller closes when done with the worker, ends.
func newWorkerClient(o *Options) (*plugin.Client, *exec.Cmd, *stderrTail, *lifeline) {
	tail := &stderrTail{}
	cmd := exec.Command(o.Executable, o.Args...)
	cmd.Env = os.Environ()
	cmd.SysProcAttr = workerSysProcAttr()
	life := attachLifeline(cmd)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		Plugins:          plugin.PluginSet{pluginName: &workerPlugin{}},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolNetRPC},
		Stderr:           tail,
		SyncStderr:       tail,
		Logger:           hclog.NewNullLogger(),
		StartTimeout:     time.Minute,
	})
	return client, cmd, tail, life
}

// runWorker runs s in a fresh worker process and returns its record, or
// nil if ctx ended first.
func runWorker(ctx context.Context, o *Options, s *Spec) *runrecord.Record {
	start := time.Now()
	fail := func(format string, args ...any) *runrecord.Record {
		return s.failedRecord(start, format, args...)
	}
	client, cmd, tail, life := newWorkerClient(o)
	defer life.close() // after Kill: a worker still there exits
	defer client.Kill()
	// Started here, not in the goroutine below, so that cmd.Process is set
	// before anything may kill it. The handshake is bounded by StartTimeout.
	_, err := client.Start()
	life.started()
	if err != nil {
		return fail("starting the worker: %s", exitReason(client, cmd, err, tail))
	}

	end, rec, err := waitRun(ctx, o.RunTimeout, func() (*runrecord.Record, error) {
		proto, err := client.Client()
		if err != nil {
			return nil, err
		}
		raw, err := proto.Dispense(pluginName)
		if err != nil {
			return nil, err
		}
		return raw.(*workerClient).run(s)
	})
	switch {
	case end == runTimedOut:
		killWorker(cmd)
		return fail("run timed out after %s: worker killed%s", o.RunTimeout, tailSuffix(tail))
	case end == runCanceled:
		killWorker(cmd)
		return nil
	case err != nil:
		return fail("%s", exitReason(client, cmd, err, tail))
	}
	rec.ElapsedSeconds = time.Since(start).Seconds()
	return rec
}

// runEnd is what ended waitRun's wait.
type runEnd int

const (
	runReturned runEnd = iota // the call returned
	runTimedOut               // the timeout passed first
	runCanceled               // the context ended first
)

// waitRun runs call in a goroutine of its own and waits for it to return,
// for timeout to pass or for ctx to end, whichever comes first. Only with
// runReturned are call's record and error given back; otherwise call may
// still be running, and the caller kills its worker.
func waitRun(ctx context.Context, timeout time.Duration, call func() (*runrecord.Record, error)) (runEnd, *runrecord.Record, error) {
	type result struct {
		rec *runrecord.Record
		err error
	}
	done := make(chan result, 1)
	go func() {
		rec, err := call()
		done <- result{rec, err}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-done:
		return runReturned, r.rec, r.err
	case <-timer.C:
		return runTimedOut, nil, nil
	case <-ctx.Done():
		return runCanceled, nil, nil
	}
}

func killWorker(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}

func tailSuffix(t *stderrTail) string {
	if s := t.String(); s != "" {
		return "; stderr: " + s
	}
	return ""
}

// exitReason explains why the worker gave no record: how its process
// ended (waiting briefly for it to end) and the tail of its stderr.
func exitReason(client *plugin.Client, cmd *exec.Cmd, err error, tail *stderrTail) string {
	deadline := time.Now().Add(5 * time.Second)
	for !client.Exited() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !client.Exited() || cmd.ProcessState == nil {
		return fmt.Sprintf("worker failed: %v%s", err, tailSuffix(tail))
	}
	ps := cmd.ProcessState
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Sprintf("worker killed by signal %s%s", ws.Signal(), tailSuffix(tail))
	}
	if ps.ExitCode() == replay.ExitHung {
		msg := tail.String()
		if msg == "" {
			msg = "the worker's watchdog ended it (exit status 3)"
		}
		return "policy hung: " + msg
	}
	return fmt.Sprintf("worker exited with status %d%s", ps.ExitCode(), tailSuffix(tail))
}
