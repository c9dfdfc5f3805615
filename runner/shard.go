package runner

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/fraglab/fraglab/internal/atomicfile"
)

// Shard is one of Count deterministic slices of an experiment's run
// matrix; Index counts from 0. The zero Shard (Count 0) means the whole
// matrix.
type Shard struct {
	Index, Count int
}

// Sharded reports whether s selects a slice (Count > 0).
func (s Shard) Sharded() bool { return s.Count > 0 }

// String is "I/N", or "" for the whole matrix.
func (s Shard) String() string {
	if !s.Sharded() {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Environment variables read by ParseShard, only when asked by name.
const (
	EnvSlurmTaskID    = "SLURM_ARRAY_TASK_ID"
	EnvSlurmTaskCount = "SLURM_ARRAY_TASK_COUNT"
	EnvSlurmTaskMin   = "SLURM_ARRAY_TASK_MIN"
	EnvSlurmTaskMax   = "SLURM_ARRAY_TASK_MAX"
	EnvK8sIndex       = "JOB_COMPLETION_INDEX"
)

// ParseShard reads a --shard value:
//
//   - "I/N": shard I (0 ≤ I < N) of N;
//   - "slurm/N": I from SLURM_ARRAY_TASK_ID;
//   - "slurm": I and N from SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT,
//     accepted only for an array numbered 0..N-1 (a resubmitted subset such
//     as --array=1,3 has another count: use slurm/N);
//   - "k8s/N": I from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job).
//
// getenv looks variables up (os.Getenv in the CLI); they are read only
// for the slurm and k8s forms.
func ParseShard(v string, getenv func(string) string) (Shard, error) {
	bad := func(format string, args ...any) (Shard, error) {
		return Shard{}, fmt.Errorf("--shard %q: %s", v, fmt.Sprintf(format, args...))
	}
	envInt := func(name string) (int, error) {
		s := getenv(name)
		if s == "" {
			return 0, fmt.Errorf("%s is not set", name)
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%s=%q is not a non-negative integer", name, s)
		}
		return n, nil
	}
	src, count, hasCount := strings.Cut(v, "/")
	n := 0
	if hasCount {
		var err error
		n, err = strconv.Atoi(count)
		if err != nil || n < 1 {
			return bad("the shard count after / must be an integer ≥ 1, got %q", count)
		}
	}
	var i int
	switch src {
	case "slurm":
		var err error
		if i, err = envInt(EnvSlurmTaskID); err != nil {
			return bad("%v (run it as a task of sbatch --array)", err)
		}
		if !hasCount {
			if n, err = envInt(EnvSlurmTaskCount); err != nil || n < 1 {
				return bad("%s must be ≥ 1: %v", EnvSlurmTaskCount, err)
			}
			lo, errLo := envInt(EnvSlurmTaskMin)
			hi, errHi := envInt(EnvSlurmTaskMax)
			if errLo != nil || errHi != nil || lo != 0 || hi != n-1 {
				return bad("the array is not numbered 0..%d (%s=%q, %s=%q); give the shard count: --shard slurm/N",
					n-1, EnvSlurmTaskMin, getenv(EnvSlurmTaskMin), EnvSlurmTaskMax, getenv(EnvSlurmTaskMax))
			}
		}
	case "k8s":
		if !hasCount {
			return bad("Kubernetes does not tell a pod the completion count: use --shard k8s/N")
		}
		var err error
		if i, err = envInt(EnvK8sIndex); err != nil {
			return bad("%v (run it in a pod of an Indexed Job)", err)
		}
	default:
		if !hasCount {
			return bad("want I/N (e.g. 0/4), slurm, slurm/N or k8s/N")
		}
		var err error
		if i, err = strconv.Atoi(src); err != nil || i < 0 {
			return bad("the shard index before / must be a non-negative integer, got %q", src)
		}
	}
	if i >= n {
		return bad("shard index %d is out of range for %d shards (0..%d)", i, n, n-1)
	}
	return Shard{Index: i, Count: n}, nil
}

// AssignShards maps each run ID to its shard among n: the IDs are sorted by
// the SHA-256 of the ID (ties, which need equal IDs, cannot occur for a
// valid matrix) and dealt round-robin. So the shard sizes differ by at most
// one, and the assignment depends only on the set of IDs, not on their
// order: re-computing it for the same matrix gives the same shards, and a
// reordered experiment file too. Adding or removing runs may move others
// between shards; records are per run ID, so resumption is unaffected.
func AssignShards(ids []string, n int) map[string]int {
	type keyed struct {
		sum [sha256.Size]byte
		id  string
	}
	ks := make([]keyed, len(ids))
	for i, id := range ids {
		ks[i] = keyed{sha256.Sum256([]byte(id)), id}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		if c := strings.Compare(string(a.sum[:]), string(b.sum[:])); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	out := make(map[string]int, len(ids))
	for p, k := range ks {
		if n > 0 {
			out[k.id] = p % n
		}
	}
	return out
}

// SelectShard returns the specs of shard s, in matrix order; all of them
// when s is not sharded. It must be given the whole matrix (before --only)
// so that a run's shard does not depend on filtering.
func SelectShard(specs []Spec, s Shard) []Spec {
	if !s.Sharded() {
		return specs
	}
	ids := make([]string, len(specs))
	for i := range specs {
		ids[i] = specs[i].ID
	}
	as := AssignShards(ids, s.Count)
	var out []Spec
	for _, sp := range specs {
		if as[sp.ID] == s.Index {
			out = append(out, sp)
		}
	}
	return out
}

// ShardsDir is the folder, inside a results directory, of the shard
// manifests.
const ShardsDir = "shards"

// Manifest is what a shard writes, before running, to
// OUT/shards/shard-I-of-N.json: the runs it owns. Merging reads the
// manifests to know which runs are expected without the experiment file.
type Manifest struct {
	Experiment string   `json:"experiment"`
	Shard      string   `json:"shard"` // "I/N"
	Runs       []string `json:"runs"`  // run IDs, in matrix order
}

// ManifestName is the file name of shard s's manifest.
func ManifestName(s Shard) string {
	return fmt.Sprintf("shard-%d-of-%d.json", s.Index, s.Count)
}

// WriteManifest stores m for shard s in out/shards, atomically.
func WriteManifest(out string, s Shard, m *Manifest) error {
	dir := filepath.Join(out, ShardsDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, ManifestName(s)), append(b, '\n'))
}

// ReadManifests loads every manifest of out/shards (none is not an
// error). A file that is not a manifest is an error naming it.
func ReadManifests(out string) ([]*Manifest, error) {
	names, err := filepath.Glob(filepath.Join(out, ShardsDir, "shard-*-of-*.json"))
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	var ms []*Manifest
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		var m Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%s: not a shard manifest: %w", n, err)
		}
		sh, err := ParseShard(m.Shard, func(string) string { return "" })
		if err != nil {
			return nil, fmt.Errorf("%s: not a shard manifest: shard %q is not I/N", n, m.Shard)
		}
		if want := ManifestName(sh); filepath.Base(n) != want {
			return nil, fmt.Errorf("%s: holds the manifest of shard %s, whose file is %s", n, m.Shard, want)
		}
		ms = append(ms, &m)
	}
	return ms, nil
}

// writeShardManifest records which runs of all shard s owns.
func writeShardManifest(out, experiment string, s Shard, all []Spec) error {
	m := &Manifest{Experiment: experiment, Shard: s.String(), Runs: []string{}}
	for _, sp := range SelectShard(all, s) {
		m.Runs = append(m.Runs, sp.ID)
	}
	if err := WriteManifest(out, s, m); err != nil {
		return fmt.Errorf("writing the manifest of shard %s: %w", s, err)
	}
	return nil
}
