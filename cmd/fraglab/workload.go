package main

import (
	"github.com/fraglab/fraglab/replay/setup"
	"github.com/fraglab/fraglab/snapshot"
)

// workloadSpec is the setup.WorkloadSpec of the CLI's flags: device picks
// a snapshot's device (-1: the first with events); capacity is a SIZE,
// unlimited, from-trace (snapshots only) or empty for unlimited; rules are
// a snapshot's tag rules (nil: the defaults).
func workloadSpec(path string, device int, capacity string, rules []snapshot.TagRule) (setup.WorkloadSpec, error) {
	c, err := setup.ParseCapacity(capacity)
	if err != nil {
		return setup.WorkloadSpec{}, err
	}
	s := setup.WorkloadSpec{Trace: path, Capacity: c, TagRules: rules}
	if device >= 0 {
		s.SnapshotDevice = &device
	}
	return s, nil
}

// openInput opens a workload (workloadSpec) with the default tag rules.
func openInput(path string, device int, capacity string) (*setup.Workload, error) {
	s, err := workloadSpec(path, device, capacity, nil)
	if err != nil {
		return nil, err
	}
	return setup.OpenWorkload(s)
}
