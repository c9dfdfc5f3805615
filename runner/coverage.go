package runner

import (
	"fmt"
	"slices"

	"github.com/fraglab/fraglab/internal/runrecord"
)

// ShardRuns are the runs one shard owns. Known is false for a shard whose
// runs cannot be told: no manifest was found for it and no experiment
// was given.
type ShardRuns struct {
	Shard Shard
	Runs  []string // run IDs, in matrix order
	Known bool
}

// ExpectedFromSpecs splits the whole matrix specs into n shards (n ≤ 1:
// one entry, the unsharded matrix).
func ExpectedFromSpecs(specs []Spec, n int) []ShardRuns {
	if n <= 1 {
		ids := make([]string, len(specs))
		for i := range specs {
			ids[i] = specs[i].ID
		}
		return []ShardRuns{{Runs: ids, Known: true}}
	}
	out := make([]ShardRuns, n)
	for i := range out {
		s := Shard{Index: i, Count: n}
		out[i] = ShardRuns{Shard: s, Known: true, Runs: []string{}}
		for _, sp := range SelectShard(specs, s) {
			out[i].Runs = append(out[i].Runs, sp.ID)
		}
	}
	return out
}

// ExpectedFromManifests gives the runs of every shard of the sweep the
// manifests describe: all must name the same experiment and shard count
// and no two may claim the same run. Shards without a manifest are
// listed with Known false.
func ExpectedFromManifests(ms []*Manifest) ([]ShardRuns, error) {
	if len(ms) == 0 {
		return nil, nil
	}
	var out []ShardRuns
	owner := map[string]string{}
	for _, m := range ms {
		s, err := ParseShard(m.Shard, func(string) string { return "" })
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = make([]ShardRuns, s.Count)
			for i := range out {
				out[i].Shard = Shard{Index: i, Count: s.Count}
			}
		}
		if s.Count != len(out) || m.Experiment != ms[0].Experiment {
			return nil, fmt.Errorf("shard manifests of different sweeps: %s of experiment %q and %s of experiment %q",
				ms[0].Shard, ms[0].Experiment, m.Shard, m.Experiment)
		}
		if out[s.Index].Known {
			if !slices.Equal(out[s.Index].Runs, m.Runs) {
				return nil, fmt.Errorf("two manifests of shard %s list different runs", m.Shard)
			}
			continue
		}
		for _, id := range m.Runs {
			if o, dup := owner[id]; dup {
				return nil, fmt.Errorf("run %s is in the manifests of shards %s and %s", id, o, m.Shard)
			}
			owner[id] = m.Shard
		}
		out[s.Index] = ShardRuns{Shard: s, Runs: m.Runs, Known: true}
	}
	return out, nil
}

// ShardStatus is how much of one shard is recorded.
type ShardStatus struct {
	ShardRuns
	OK      int
	Missing []string // run IDs with no record
	Failed  []string // run IDs recorded failed
}

// Complete reports whether every run of the shard is recorded ok.
func (s *ShardStatus) Complete() bool {
	return s.Known && len(s.Missing) == 0 && len(s.Failed) == 0
}

// Check compares the expected runs with the records, by run ID.
func Check(expected []ShardRuns, recs map[string]*runrecord.Record) []ShardStatus {
	out := make([]ShardStatus, len(expected))
	for i, e := range expected {
		out[i].ShardRuns = e
		for _, id := range e.Runs {
			switch r := recs[id]; {
			case r == nil:
				out[i].Missing = append(out[i].Missing, id)
			case r.Status == runrecord.StatusOK:
				out[i].OK++
			default:
				out[i].Failed = append(out[i].Failed, id)
			}
		}
	}
	return out
}
