package runner

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/experiment"
	"github.com/fraglab/fraglab/internal/runrecord"
)

func TestParseShard(t *testing.T) {
	slurm := map[string]string{EnvSlurmTaskID: "2", EnvSlurmTaskCount: "4", EnvSlurmTaskMin: "0", EnvSlurmTaskMax: "3"}
	subset := map[string]string{EnvSlurmTaskID: "3", EnvSlurmTaskCount: "2", EnvSlurmTaskMin: "1", EnvSlurmTaskMax: "3"}
	k8s := map[string]string{EnvK8sIndex: "5"}
	for _, c := range []struct {
		in   string
		env  map[string]string
		want Shard
		err  string
	}{
		{in: "0/1", want: Shard{0, 1}},
		{in: "3/4", want: Shard{3, 4}},
		{in: "slurm", env: slurm, want: Shard{2, 4}},
		{in: "slurm/8", env: slurm, want: Shard{2, 8}},
		{in: "slurm/4", env: subset, want: Shard{3, 4}},
		{in: "k8s/6", env: k8s, want: Shard{5, 6}},
		{in: "4/4", err: "shard index 4 is out of range for 4 shards (0..3)"},
		{in: "-1/4", err: "index before / must be a non-negative integer"},
		{in: "1/0", err: "shard count after / must be an integer ≥ 1"},
		{in: "a/b", err: "shard count after / must be an integer ≥ 1"},
		{in: "2", err: "want I/N (e.g. 0/4), slurm, slurm/N or k8s/N"},
		{in: "slurm", err: "SLURM_ARRAY_TASK_ID is not set"},
		{in: "slurm", env: subset, err: "the array is not numbered 0..1"},
		{in: "slurm/2", env: map[string]string{EnvSlurmTaskID: "x"}, err: `SLURM_ARRAY_TASK_ID="x" is not a non-negative integer`},
		{in: "k8s", env: k8s, err: "use --shard k8s/N"},
		{in: "k8s/4", err: "JOB_COMPLETION_INDEX is not set"},
		{in: "k8s/4", env: k8s, err: "shard index 5 is out of range for 4 shards"},
	} {
		got, err := ParseShard(c.in, func(k string) string { return c.env[k] })
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), fmt.Sprintf("%q", c.in)) {
				t.Errorf("ParseShard(%q) = %v, %v; want an error naming it and containing %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseShard(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

// TestAssignShardsPartition is the property test: for random sets of run
// IDs and shard counts, every run is in exactly one shard, shard sizes
// differ by at most one, and the assignment is the same when recomputed
// from the IDs in another order.
func TestAssignShardsPartition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 300 {
		ids := make([]string, rng.IntN(200))
		for i := range ids {
			ids[i] = fmt.Sprintf("%016x", rng.Uint64()) // like experiment run IDs
		}
		n := 1 + rng.IntN(20)
		as := AssignShards(ids, n)
		if len(as) != len(ids) {
			t.Fatalf("trial %d: %d of %d runs assigned", trial, len(as), len(ids))
		}
		sizes := make([]int, n)
		for _, id := range ids {
			s, ok := as[id]
			if !ok || s < 0 || s >= n {
				t.Fatalf("trial %d: run %s in shard %d (ok %v) of %d", trial, id, s, ok, n)
			}
			sizes[s]++
		}
		if lo, hi := slices.Min(sizes), slices.Max(sizes); hi-lo > 1 {
			t.Fatalf("trial %d: %d runs in %d shards unbalanced: sizes %v", trial, len(ids), n, sizes)
		}
		shuffled := slices.Clone(ids)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if again := AssignShards(shuffled, n); !reflect.DeepEqual(again, as) {
			t.Fatalf("trial %d: the assignment changed when recomputed from reordered IDs", trial)
		}
	}
}

func specsOf(ids ...string) []Spec {
	out := make([]Spec, len(ids))
	for i, id := range ids {
		out[i] = Spec{ID: id, Workload: "w" + id, Policy: "p", Label: "p"}
	}
	return out
}

func TestSelectShardKeepsMatrixOrderAndCoversAll(t *testing.T) {
	var ids []string
	for i := range 23 {
		ids = append(ids, fmt.Sprintf("%016x", i*7919))
	}
	specs := specsOf(ids...)
	seen := map[string]int{}
	for i := range 5 {
		got := SelectShard(specs, Shard{i, 5})
		if len(got) < 4 || len(got) > 5 {
			t.Errorf("shard %d/5 has %d of 23 runs", i, len(got))
		}
		last := -1
		for _, s := range got {
			seen[s.ID]++
			p := slices.Index(ids, s.ID)
			if p <= last {
				t.Errorf("shard %d/5 is not in matrix order", i)
			}
			last = p
		}
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("run %s is in %d shards", id, seen[id])
		}
	}
	if got := SelectShard(specs, Shard{}); len(got) != len(specs) {
		t.Errorf("unsharded selection has %d of %d runs", len(got), len(specs))
	}
}

func TestManifestsAndCheck(t *testing.T) {
	e, err := experiment.Load(filepath.Join("testdata", "tiny.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	specs := Specs(e)
	out := t.TempDir()
	for i := range 3 {
		if i == 1 {
			continue // shard 1 never started
		}
		if err := writeShardManifest(out, e.Name, Shard{i, 3}, specs); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := ReadManifests(out)
	if err != nil || len(ms) != 2 {
		t.Fatalf("%d manifests, %v", len(ms), err)
	}
	fromManifests, err := ExpectedFromManifests(ms)
	if err != nil {
		t.Fatal(err)
	}
	fromSpecs := ExpectedFromSpecs(specs, 3)
	if len(fromManifests) != 3 || fromManifests[1].Known || !reflect.DeepEqual(fromManifests[0], fromSpecs[0]) || !reflect.DeepEqual(fromManifests[2], fromSpecs[2]) {
		t.Errorf("from manifests %+v, from specs %+v", fromManifests, fromSpecs)
	}

	recs := map[string]*runrecord.Record{}
	for _, s := range specs {
		recs[s.ID] = &runrecord.Record{ID: s.ID, Status: runrecord.StatusOK}
	}
	missing, failed := fromSpecs[0].Runs[0], fromSpecs[2].Runs[0]
	delete(recs, missing)
	recs[failed].Status = runrecord.StatusFailed
	st := Check(fromSpecs, recs)
	if !reflect.DeepEqual(st[0].Missing, []string{missing}) || len(st[0].Failed) != 0 || st[0].Complete() {
		t.Errorf("shard 0: %+v", st[0])
	}
	if !st[1].Complete() || st[1].OK != len(fromSpecs[1].Runs) {
		t.Errorf("shard 1: %+v", st[1])
	}
	if !reflect.DeepEqual(st[2].Failed, []string{failed}) || len(st[2].Missing) != 0 {
		t.Errorf("shard 2: %+v", st[2])
	}

	// Errors name the file or the conflict.
	for _, c := range []struct {
		name, body, err string
	}{
		{"shard-0-of-2.json", "{", "shard-0-of-2.json: not a shard manifest"},
		{"shard-0-of-2.json", `{"experiment":"x","shard":"1/2","runs":[]}`, "holds the manifest of shard 1/2, whose file is shard-1-of-2.json"},
		{"shard-9-of-9.json", `{"experiment":"x","shard":"k8s/9","runs":[]}`, `shard "k8s/9" is not I/N`},
	} {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, ShardsDir), 0o755)
		os.WriteFile(filepath.Join(dir, ShardsDir, c.name), []byte(c.body), 0o644)
		if _, err := ReadManifests(dir); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s %s: %v, want %q", c.name, c.body, err, c.err)
		}
	}
	other := &Manifest{Experiment: "other", Shard: "1/3", Runs: []string{}}
	if _, err := ExpectedFromManifests(append(ms, other)); err == nil || !strings.Contains(err.Error(), "different sweeps") {
		t.Errorf("manifests of two experiments: %v", err)
	}
	dup := &Manifest{Experiment: e.Name, Shard: "1/3", Runs: []string{fromSpecs[0].Runs[0]}}
	if _, err := ExpectedFromManifests(append(ms, dup)); err == nil || !strings.Contains(err.Error(), "is in the manifests of shards 0/3 and 1/3") {
		t.Errorf("a run in two manifests: %v", err)
	}
}
