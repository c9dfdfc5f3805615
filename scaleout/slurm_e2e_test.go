package scaleout

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fraglab/fraglab/experiment"
	"github.com/fraglab/fraglab/internal/runrecord"
	"github.com/fraglab/fraglab/runner"
)

// buildFraglab builds the CLI into dir.
func buildFraglab(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "fraglab")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/fraglab").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

var jobIDs = regexp.MustCompile(`(?m)^array job (\d+) .*\nmerge job (\d+)$`)

// submit runs the generated script (with args) and returns the array and
// merge job IDs it prints.
func (c *slurmCluster) submit(script string, args ...string) (array, merge string) {
	c.t.Helper()
	out, err := c.command(60*time.Second, "bash", append([]string{script}, args...)...)
	if err != nil {
		c.t.Fatalf("%v\n%s", err, out)
	}
	m := jobIDs.FindStringSubmatch(out)
	if m == nil {
		c.t.Fatalf("the script printed no job IDs:\n%s", out)
	}
	return m[1], m[2]
}

// TestSlurmShardedSweep runs a 4-shard sweep on a real single-node Slurm
// cluster: it cancels one shard mid-way, checks that the merge job reports
// that shard's missing runs, resubmits that shard (--resume-missing),
// and compares the final merge with an unsharded local run.
func TestSlurmShardedSweep(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the Slurm cluster test takes about 30 s")
	}
	c := startSlurm(t)
	work := t.TempDir()
	fraglab := buildFraglab(t, work)
	exp, err := filepath.Abs(filepath.Join("testdata", "sweep.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := experiment.Load(exp)
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	expected := runner.ExpectedFromSpecs(runner.Specs(e), n)
	for _, sh := range expected {
		if len(sh.Runs) != 3 {
			t.Fatalf("testdata/sweep.yaml: shard %s has %d runs, the test wants 12 runs in 4 shards of 3", sh.Shard, len(sh.Runs))
		}
	}
	out := filepath.Join(work, "sharded")
	script := filepath.Join(work, "sweep.sh")

	gen, err := c.command(30*time.Second, fraglab, "slurm", exp, "--shards", fmt.Sprint(n), "--out", out, "-o", script, "--submit")
	if err != nil {
		t.Fatalf("%v\n%s", err, gen)
	}
	m := jobIDs.FindStringSubmatch(gen)
	if m == nil {
		t.Fatalf("fraglab slurm --submit printed no job IDs:\n%s", gen)
	}
	array, merge := m[1], m[2]

	// Cancel the first shard seen with exactly one run recorded: its
	// other two run one after the other (--parallel 1), so at least one is
	// still to come when scancel lands.
	victim := -1
	c.waitFor("a shard part-way through", 120*time.Second, func() bool {
		for _, sh := range expected {
			done := 0
			for _, id := range sh.Runs {
				if _, err := os.Stat(filepath.Join(out, "runs", runrecord.FileName(id))); err == nil {
					done++
				}
			}
			if done == 1 {
				victim = sh.Shard.Index
				return true
			}
		}
		return false
	})
	victimTask := fmt.Sprintf("%s_%d", array, victim)
	if _, err := c.command(10*time.Second, "scancel", victimTask); err != nil {
		t.Fatal(err)
	}
	c.waitJobsGone(180*time.Second, array, merge)

	states := c.states(array, merge)
	if states[victimTask] != "CANCELLED" {
		t.Errorf("task %s: %q, want CANCELLED (all: %v)", victimTask, states[victimTask], states)
	}
	for i := range n {
		if task := fmt.Sprintf("%s_%d", array, i); i != victim && states[task] != "COMPLETED" {
			t.Errorf("task %s: %q, want COMPLETED (all: %v)", task, states[task], states)
		}
	}
	// The merge ran after the array (afterany), found the cancelled
	// shard incomplete and failed, saying which runs are missing.
	if states[merge] != "FAILED" {
		t.Errorf("merge job %s: %q, want FAILED: a shard was cancelled (all: %v)", merge, states[merge], states)
	}
	mergeLog := readFile(t, filepath.Join(out, "slurm", "merge-job-"+merge+".out"))
	missingLine := regexp.MustCompile(fmt.Sprintf(`shard %d/%d: [0-9]+/3 ok, [1-9] missing, 0 failed`, victim, n))
	if !missingLine.MatchString(mergeLog) || !strings.Contains(mergeLog, "the sweep is incomplete") {
		t.Errorf("the first merge does not report shard %d's missing runs:\n%s", victim, mergeLog)
	}
	for i := range n {
		if i != victim && !strings.Contains(mergeLog, fmt.Sprintf("shard %d/%d: 3/3 ok", i, n)) {
			t.Errorf("the first merge does not report shard %d complete:\n%s", i, mergeLog)
		}
	}

	// Resubmit the cancelled shard: it re-runs its missing runs only.
	array2, merge2 := c.submit(script, fmt.Sprint(victim))
	c.waitJobsGone(180*time.Second, array2, merge2)
	states = c.states(array2, merge2)
	if task := fmt.Sprintf("%s_%d", array2, victim); states[task] != "COMPLETED" || states[merge2] != "COMPLETED" {
		t.Fatalf("resubmitted shard %s and merge %s: %v\n%s", task, merge2, states,
			readFile(t, filepath.Join(out, "slurm", fmt.Sprintf("shard-%d-job-%s.out", victim, array2))))
	}
	resumeLog := readFile(t, filepath.Join(out, "slurm", fmt.Sprintf("shard-%d-job-%s.out", victim, array2)))
	if !regexp.MustCompile(`resuming [1-9] runs`).MatchString(resumeLog) || !strings.Contains(resumeLog, "skipped (already ok)") {
		t.Errorf("the resubmitted shard did not resume:\n%s", resumeLog)
	}
	mergeLog = readFile(t, filepath.Join(out, "slurm", "merge-job-"+merge2+".out"))
	for i := range n {
		if !strings.Contains(mergeLog, fmt.Sprintf("shard %d/%d: 3/3 ok, 0 missing, 0 failed", i, n)) {
			t.Errorf("the second merge does not report shard %d complete:\n%s", i, mergeLog)
		}
	}

	// The merged reports equal an unsharded local run's, timings aside.
	local := filepath.Join(work, "local")
	if o, err := exec.Command(fraglab, "run", exp, "--out", local, "--parallel", "2").CombinedOutput(); err != nil {
		t.Fatalf("local run: %v\n%s", err, o)
	}
	assertSameResults(t, out, local)
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// timingKeys are the fields that differ between two runs of the same
// sweep (docs/metrics.md).
var timingKeys = []string{"elapsed_seconds", "ns_per_event"}

// assertSameResults compares results.json and results.csv without the
// timing fields, and results.md and report.html byte for byte.
func assertSameResults(t *testing.T, a, b string) {
	t.Helper()
	var ja, jb []map[string]any
	for _, p := range []struct {
		dir string
		v   *[]map[string]any
	}{{a, &ja}, {b, &jb}} {
		if err := json.Unmarshal([]byte(readFile(t, filepath.Join(p.dir, "results.json"))), p.v); err != nil {
			t.Fatal(err)
		}
		for _, row := range *p.v {
			for _, k := range timingKeys {
				delete(row, k)
			}
		}
	}
	if len(ja) == 0 || !reflect.DeepEqual(ja, jb) {
		t.Errorf("results.json differs (timings aside):\n%v\n%v", ja, jb)
	}
	ca, cb := csvWithoutTimings(t, filepath.Join(a, "results.csv")), csvWithoutTimings(t, filepath.Join(b, "results.csv"))
	if !reflect.DeepEqual(ca, cb) {
		t.Errorf("results.csv differs (timings aside):\n%v\n%v", ca, cb)
	}
	for _, f := range []string{"results.md", "report.html"} {
		if readFile(t, filepath.Join(a, f)) != readFile(t, filepath.Join(b, f)) {
			t.Errorf("%s differs", f)
		}
	}
}

func csvWithoutTimings(t *testing.T, name string) [][]string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("%s: %d rows, %v", name, len(rows), err)
	}
	var drop []int
	for i, h := range rows[0] {
		for _, k := range timingKeys {
			if h == k {
				drop = append(drop, i)
			}
		}
	}
	for r := range rows {
		for j := len(drop) - 1; j >= 0; j-- {
			rows[r] = append(rows[r][:drop[j]], rows[r][drop[j]+1:]...)
		}
	}
	return rows
}
