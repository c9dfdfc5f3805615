//go:build linux

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fraglab/fraglab/internal/dirlock"
	"github.com/fraglab/fraglab/internal/runrecord"
)

// The chaos test: a small sweep through the real binary, its parent
// killed at several points (SIGKILL, SIGTERM, SIGINT) and single workers
// killed at random points (seeded: FRAGLAB_CHAOS_SEED), each time resumed,
// must end with the results of an uninterrupted sweep (timings aside),
// every record written once and whole, and no process left. It
// synchronises on what the sweep prints (one line per finished run, after
// its record is written) and on process exits, never on sleeps.

var (
	chaosBinOnce sync.Once
	chaosBin     string
	chaosBinErr  error
	chaosBinDir  string
)

// fraglabBinary builds this command into a temporary directory, once per
// test binary (with -race when the tests are, to reuse the build cache).
func fraglabBinary(t *testing.T) string {
	t.Helper()
	chaosBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fraglab-chaos-bin-")
		if err != nil {
			chaosBinErr = err
			return
		}
		chaosBinDir = dir
		args := []string{"build", "-o", filepath.Join(dir, "fraglab")}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			chaosBinErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		chaosBin = filepath.Join(dir, "fraglab")
	})
	if chaosBinErr != nil {
		t.Fatal(chaosBinErr)
	}
	return chaosBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if chaosBinDir != "" {
		os.RemoveAll(chaosBinDir)
	}
	os.Exit(code)
}

// chaosExperiment: 16 runs of a few tenths of a second each.
func chaosExperiment(t *testing.T, dir string) string {
	n := 30000
	if raceEnabled {
		n = 5000
	}
	exp := filepath.Join(dir, "chaos.yaml")
	yaml := fmt.Sprintf(`name: chaos
workloads:
  - generator: random
    params: {num_allocations: %d, max_size: 64MiB}
    seeds: [1, 2, 3, 4]
policies:
  - policy: pytorch
  - policy: default
device:
  capacity: [1GiB, unlimited]
metrics: [peak_reserved, frag_ratio, ooms]
`, n)
	if err := os.WriteFile(exp, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return exp
}

const chaosRuns = 16

// sweepProc is one `fraglab run` under test.
type sweepProc struct {
	cmd    *exec.Cmd
	lines  chan string // stderr, line by line; closed at EOF
	stderr strings.Builder
	mu     sync.Mutex
}

func startSweep(t *testing.T, bin string, args ...string) *sweepProc {
	t.Helper()
	p := &sweepProc{cmd: exec.Command(bin, args...), lines: make(chan string, 64)}
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout = io.Discard
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	return p
}

// nextFinished reads stderr up to the next line of a finished run.
func (p *sweepProc) nextFinished() (string, bool) {
	for l := range p.lines {
		if strings.HasPrefix(l, "[") {
			return l, true
		}
	}
	return "", false
}

// waitFinished reads stderr until the n-th line of a finished run and
// reports whether it came (false: the sweep ended first).
func (p *sweepProc) waitFinished(n int) bool {
	for n > 0 {
		l, ok := <-p.lines
		if !ok {
			return false
		}
		if strings.HasPrefix(l, "[") {
			n--
		}
	}
	return true
}

// wait drains stderr and waits for the process; it returns its exit
// status (-1 when killed by a signal) and its stderr.
func (p *sweepProc) wait(t *testing.T) (int, string) {
	t.Helper()
	for range p.lines {
	}
	err := p.cmd.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return p.cmd.ProcessState.ExitCode(), p.stderr.String()
}

// children lists the pids whose parent is pid (from /proc/*/stat).
func children(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, ends at the last ')'.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 {
			if pp, _ := strconv.Atoi(f[1]); pp == pid {
				out = append(out, c)
			}
		}
	}
	return out
}

// reapOrphans waits for every child of this test process that it did not
// start itself (workers re-parented to it, a child subreaper, when their
// sweep died): each must end within the bound, which fails the test, not
// a synchronisation. It returns how many it reaped.
func reapOrphans(t *testing.T) int {
	t.Helper()
	n := 0
	for _, pid := range children(os.Getpid()) {
		done := make(chan struct{})
		go func() {
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, 0, nil)
			close(done)
		}()
		select {
		case <-done:
			n++
		case <-time.After(20 * time.Second):
			syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("process %d (a worker of a dead sweep) still running 20 s after its parent ended", pid)
		}
	}
	return n
}

// checkRecords asserts every file of runs is a whole record of its ID, no
// ok record seen before changed or went, and returns the ok records now.
func checkRecords(t *testing.T, runs string, okBefore map[string][]byte) map[string][]byte {
	t.Helper()
	ok := map[string][]byte{}
	ents, _ := os.ReadDir(runs)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(runs, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(e.Name(), ".tmp-") {
			continue // a write cut short by SIGKILL: never a record
		}
		var r runrecord.Record
		if err := json.Unmarshal(b, &r); err != nil || runrecord.FileName(r.ID) != e.Name() {
			t.Errorf("%s: not a whole record of its run: %v\n%s", e.Name(), err, b)
			continue
		}
		if r.Status == runrecord.StatusOK {
			ok[r.ID] = b
		}
	}
	for id, b := range okBefore {
		if string(ok[id]) != string(b) {
			t.Errorf("the ok record of %s changed or went", id)
		}
	}
	return ok
}

// withoutTimings is a record or result as JSON, its timing fields gone.
func withoutTimings(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var strip func(any)
	strip = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			delete(x, "elapsed_seconds")
			delete(x, "ns_per_event")
			for _, y := range x {
				strip(y)
			}
		case []any:
			for _, y := range x {
				strip(y)
			}
		}
	}
	strip(v)
	return v
}

func TestChaos(t *testing.T) {
	// Workers re-parent to this process when their sweep dies, so that
	// any left is seen (and reaped).
	if err := prctlSubreaper(); err != nil {
		t.Skipf("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	bin := fraglabBinary(t)
	work := t.TempDir()
	exp := chaosExperiment(t, work)
	seed := uint64(1)
	if s := os.Getenv("FRAGLAB_CHAOS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (FRAGLAB_CHAOS_SEED)", seed)
	rng := rand.New(rand.NewPCG(seed, 17))

	ref := filepath.Join(work, "ref")
	if code, stderr := startSweep(t, bin, "run", exp, "--out", ref, "--parallel", "2").wait(t); code != 0 {
		t.Fatalf("uninterrupted sweep: exit %d\n%s", code, stderr)
	}

	out := filepath.Join(work, "out")
	args := []string{"run", exp, "--out", out, "--parallel", "2"}
	resume := "fraglab run " + exp + " --out " + out + " --parallel 2"
	// Each fault is one sweep over out, resuming the one before: a worker
	// killed (SIGKILL) after some runs, then, after one more run, the
	// parent killed with sig (0: the sweep goes on to its end).
	type fault struct {
		name   string
		worker bool
		sig    syscall.Signal
	}
	faults := []fault{
		{"parent SIGKILL", false, syscall.SIGKILL},
		{"worker SIGKILL, then parent SIGTERM", true, syscall.SIGTERM},
		{"parent SIGINT", false, syscall.SIGINT},
		{"worker SIGKILL, then parent SIGKILL", true, syscall.SIGKILL},
		{"worker SIGKILL, the sweep goes on", true, 0},
	}
	if testing.Short() {
		faults = []fault{faults[0], faults[1], faults[4]}
	}
	ok := map[string][]byte{}
	staleFrom := 0 // the pid of a sweep killed with its lock held
	killedWorkers, failedRuns := 0, 0
	for i, f := range faults {
		if len(ok) >= chaosRuns-3 {
			t.Logf("fault %d (%s): skipped, the sweep is all but done", i, f.name)
			continue
		}
		p := startSweep(t, bin, args...)
		// A point among the runs still to do: after the k-th finishes.
		k := 1 + rng.IntN(3)
		if !p.waitFinished(k) {
			code, stderr := p.wait(t)
			t.Fatalf("fault %d (%s): the sweep ended (exit %d) before %d runs finished\n%s", i, f.name, code, k, stderr)
		}
		if i == 0 {
			// Meanwhile a second writer is refused, naming the holder.
			for _, a := range [][]string{args, {"merge", out}} {
				b, err := exec.Command(bin, a...).CombinedOutput()
				want := fmt.Sprintf("is in use by another fraglab: pid %d", p.cmd.Process.Pid)
				if err == nil || !strings.Contains(string(b), want) {
					t.Errorf("%v while a sweep runs: %v\n%s\nwant a refusal containing %q", a, err, b, want)
				}
			}
		}
		if f.worker {
			// Kill a worker at random, until one dies mid-run: the sweep's
			// next line is then that run, failed, saying how (a worker
			// killed as it was ending after handing its record over leaves
			// no trace).
			for failedLine := ""; failedLine == ""; {
				ws := children(p.cmd.Process.Pid)
				if len(ws) > 0 {
					w := ws[rng.IntN(len(ws))]
					syscall.Kill(w, syscall.SIGKILL)
					killedWorkers++
					t.Logf("fault %d (%s): killed worker %d", i, f.name, w)
				}
				l, ok := p.nextFinished()
				if !ok {
					code, stderr := p.wait(t)
					t.Fatalf("fault %d (%s): the sweep ended (exit %d) with no run failed\n%s", i, f.name, code, stderr)
				}
				if strings.Contains(l, "] failed ") {
					failedLine = l
					failedRuns++
					if !strings.Contains(l, "worker killed by signal killed") {
						t.Errorf("fault %d (%s): %q, want the run failed by the signal", i, f.name, l)
					}
				}
			}
			if f.sig != 0 && !p.waitFinished(1) {
				code, stderr := p.wait(t)
				t.Fatalf("fault %d (%s): the sweep ended (exit %d) before the parent could be killed\n%s", i, f.name, code, stderr)
			}
		}
		if f.sig != 0 {
			syscall.Kill(p.cmd.Process.Pid, f.sig)
		}
		code, stderr := p.wait(t)
		t.Logf("fault %d (%s) after %d runs: exit %d", i, f.name, k, code)
		switch f.sig {
		case 0:
			// The sweep goes on; the killed run is recorded failed: exit 1.
			if code != 1 || !strings.Contains(stderr, "fraglab: 1 of ") {
				t.Errorf("fault %d (%s): exit %d, want 1 with a failed run\n%s", i, f.name, code, stderr)
			}
		case syscall.SIGKILL:
			if code != -1 {
				t.Errorf("fault %d (%s): exit %d, want killed", i, f.name, code)
			}
		default:
			want := 128 + int(f.sig)
			if code != want || !strings.Contains(stderr, "Resume with:\n  "+resume+"\n") {
				t.Errorf("fault %d (%s): exit %d, want %d saying how to resume (%q)\n%s", i, f.name, code, want, resume, stderr)
			}
			if _, err := os.Stat(filepath.Join(out, dirlock.FileName)); !os.IsNotExist(err) {
				t.Errorf("fault %d (%s): the lock is left (%v)", i, f.name, err)
			}
		}
		checkTakeOver(t, i, f.name, stderr, &staleFrom)
		if f.sig == syscall.SIGKILL {
			staleFrom = p.cmd.Process.Pid
		}
		if n := reapOrphans(t); n > 0 {
			t.Logf("fault %d: reaped %d workers of the dead sweep", i, n)
		}
		ok = checkRecords(t, filepath.Join(out, "runs"), ok)
		if _, err := os.Stat(filepath.Join(out, "results.json")); err == nil && f.sig != 0 {
			t.Errorf("fault %d (%s): the interrupted sweep wrote reports", i, f.name)
		}
	}
	// The last sweep ended with the failed run of its killed worker on
	// record, which the resume below re-runs.
	recs, err := runrecord.ReadDir(filepath.Join(out, "runs"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Status == runrecord.StatusFailed && !strings.Contains(r.Error, "worker killed by signal killed") {
			t.Errorf("failed record %s: %q, want the signal", r.ID, r.Error)
		}
	}
	t.Logf("%d workers killed, %d of them mid-run (their runs recorded failed)", killedWorkers, failedRuns)

	// The last resume finishes the sweep.
	p := startSweep(t, bin, args...)
	code, stderr := p.wait(t)
	if code != 0 {
		t.Fatalf("final resume: exit %d\n%s", code, stderr)
	}
	checkTakeOver(t, len(faults), "final resume", stderr, &staleFrom)
	reapOrphans(t)
	ok = checkRecords(t, filepath.Join(out, "runs"), ok)
	if len(ok) != chaosRuns {
		t.Errorf("%d ok records, want %d", len(ok), chaosRuns)
	}

	// The same results as the uninterrupted sweep, timings aside.
	refRecs, _ := os.ReadDir(filepath.Join(ref, "runs"))
	var refIDs, ids []string
	for _, e := range refRecs {
		refIDs = append(refIDs, strings.TrimSuffix(e.Name(), ".json"))
	}
	for id := range ok {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, refIDs) {
		t.Fatalf("records %v, want %v", ids, refIDs)
	}
	for _, id := range ids {
		want, _ := os.ReadFile(filepath.Join(ref, "runs", runrecord.FileName(id)))
		if !reflect.DeepEqual(withoutTimings(t, ok[id]), withoutTimings(t, want)) {
			t.Errorf("record %s differs from the uninterrupted sweep's (timings aside):\n%s\n%s", id, ok[id], want)
		}
	}
	for _, f := range []string{"results.json", "results.csv", "results.md", "report.html"} {
		a, err1 := os.ReadFile(filepath.Join(out, f))
		b, err2 := os.ReadFile(filepath.Join(ref, f))
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v %v", f, err1, err2)
		}
		switch f {
		case "results.json":
			if !reflect.DeepEqual(withoutTimings(t, a), withoutTimings(t, b)) {
				t.Errorf("%s differs (timings aside)", f)
			}
		case "results.csv":
			if !reflect.DeepEqual(csvNoTimings(t, a), csvNoTimings(t, b)) {
				t.Errorf("%s differs (timings aside)", f)
			}
		default:
			if string(a) != string(b) {
				t.Errorf("%s differs", f)
			}
		}
	}
	if rest := children(os.Getpid()); len(rest) > 0 {
		t.Errorf("processes left: %v", rest)
	}
}

// checkTakeOver: the sweep after one killed by SIGKILL (pid *stale) says
// it took over that sweep's lock.
func checkTakeOver(t *testing.T, i int, name, stderr string, stale *int) {
	t.Helper()
	if *stale == 0 {
		return
	}
	if want := fmt.Sprintf("took over the lock of pid %d on host ", *stale); !strings.Contains(stderr, want) {
		t.Errorf("sweep %d (%s) after a SIGKILLed one: stderr lacks %q\n%s", i, name, want, stderr)
	}
	*stale = 0
}

// csvNoTimings is a CSV's rows without its timing columns.
func csvNoTimings(t *testing.T, b []byte) [][]string {
	t.Helper()
	var rows [][]string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		rows = append(rows, strings.Split(l, ","))
	}
	var keep []int
	for i, h := range rows[0] {
		if h != "elapsed_seconds" && h != "ns_per_event" {
			keep = append(keep, i)
		}
	}
	for r, row := range rows {
		var k []string
		for _, i := range keep {
			if i < len(row) {
				k = append(k, row[i])
			}
		}
		rows[r] = k
	}
	return rows
}

func prctlSubreaper() error {
	const prSetChildSubreaper = 36
	_, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
	if e != 0 {
		return e
	}
	return nil
}
