package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// A number below a flag's minimum is refused before the command runs,
// instead of silently meaning the flag's default.
func TestFlagBelowMinimumIsRefused(t *testing.T) {
	const snap = "../../tune/testdata/expandable-wins.pickle"
	// Outputs go to a temporary directory in case a check is missing.
	tmp := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"replay", "--trace", snap, "--snapshot-device", "-5"}, "--snapshot-device -5: expected an integer ≥ 0"},
		{[]string{"replay", "--trace", snap, "--snapshot-device", "-1"}, "--snapshot-device -1: expected an integer ≥ 0"},
		{[]string{"replay", "--trace", snap, "--device", "-1"}, "--device -1: a snapshot's device is an integer ≥ 0"},
		{[]string{"replay", "--trace", smallThenLarge, "--hang-timeout", "0"}, "--hang-timeout 0s: expected a positive duration"},
		{[]string{"replay", "--trace", smallThenLarge, "--hang-timeout", "-1s"}, "--hang-timeout -1s: expected a positive duration"},
		{[]string{"replay", "--trace", smallThenLarge, "--policy-memory-pages", "0"}, "--policy-memory-pages 0: expected an integer ≥ 1"},
		{[]string{"fidelity", snap, "--device", "-2"}, "--device -2: expected an integer ≥ 0"},
		{[]string{"fidelity", snap, "--context", "-1"}, "--context -1: expected an integer ≥ 0"},
		{[]string{"tune", snap, "--top", "0"}, "--top 0: expected an integer ≥ 1"},
		{[]string{"tune", snap, "--parallel", "0"}, "--parallel 0: expected an integer ≥ 1"},
		{[]string{"tune", snap, "--device", "-3"}, "--device -3: expected an integer ≥ 0"},
		{[]string{"trace", "stats", snap, "--device", "-2"}, "--device -2: expected an integer ≥ 0"},
		{[]string{"trace", "convert", snap, filepath.Join(tmp, "out.jsonl"), "--device", "-2"}, "--device -2: expected an integer ≥ 0"},
		{[]string{"run", tinyExperiment, "--out", tmp, "--parallel", "0"}, "--parallel 0: expected an integer ≥ 1"},
		{[]string{"run", tinyExperiment, "--out", tmp, "--parallel", "-1"}, "--parallel -1: expected an integer ≥ 1"},
		{[]string{"run", tinyExperiment, "--out", tmp, "--run-timeout", "0"}, "--run-timeout 0s: expected a positive duration"},
		{[]string{"merge", "nowhere", "--shards", "-1"}, "--shards -1: expected an integer ≥ 1"},
		{[]string{"merge", "nowhere", "--shards", "0"}, "--shards 0: expected an integer ≥ 1"},
		{[]string{"policy", "check", "nothing.wasm", "--events", "0"}, "--events 0: expected an integer ≥ 1"},
		{[]string{"slurm", tinyExperiment, "--shards", "2", "--cpus-per-task", "0"}, "--cpus-per-task 0: expected an integer ≥ 1"},
		{[]string{"k8s", tinyExperiment, "--shards", "2", "--cpus", "0"}, "--cpus 0: expected an integer ≥ 1"},
	}
	for _, c := range cases {
		_, err := fraglab(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("fraglab %s: error %v, want it to contain %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}

// The minimum itself is accepted: the check refuses only what is below it.
func TestFlagAtMinimumIsAccepted(t *testing.T) {
	const snap = "../../tune/testdata/expandable-wins.pickle"
	cases := [][]string{
		{"replay", "--trace", smallThenLarge, "--hang-timeout", "1ns", "--policy-memory-pages", "1", "--policy", "default", "--json"},
		{"replay", "--trace", snap, "--snapshot-device", "0", "--json"},
		{"fidelity", snap, "--device", "0", "--context", "0"},
		{"trace", "stats", snap, "--device", "0", "--json"},
	}
	for _, args := range cases {
		if _, err := fraglab(t, args...); err != nil {
			t.Errorf("fraglab %s: %v", strings.Join(args, " "), err)
		}
	}
}
