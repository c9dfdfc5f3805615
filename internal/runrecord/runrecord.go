// Package runrecord is the stored result of one experiment run: what the
// runner writes (one JSON file per run, atomically) and what reports read.
package runrecord

import (
	"encoding/json"
	"fmt"
	"github.com/fraglab/fraglab/internal/atomicfile"
	"os"
	"path/filepath"
	"sort"

	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/segmap"
)

// Baseline is the policy label that other policies are compared against
// (report.Baseline), and whose first OOM event the other runs draw their
// segments at (Record.BaselineMap).
const Baseline = "pytorch"

// How records compact their segment maps (segmap.Map.Compact).
const (
	MapSegments   = 60
	MapResolution = 700
)

// Run statuses.
const (
	StatusOK     = "ok"
	StatusFailed = "failed"
)

// Record is one run: its identity, its outcome and its metrics.
type Record struct {
	ID           string            `json:"id"`            // experiment.Run.ID: content hash of the run's inputs
	Experiment   string            `json:"experiment"`    // experiment name
	Workload     string            `json:"workload"`      // workload name (with seed for generators)
	Policy       string            `json:"policy"`        // policy label (one row of a table)
	PolicyModule string            `json:"policy_module"` // built-in name or .wasm path
	PolicyHash   string            `json:"policy_hash"`   // sha256 of the module bytes
	Params       map[string]string `json:"params"`
	Device       string            `json:"device"`   // "sim" or "cuda:N" (the device the run used)
	Capacity     int64             `json:"capacity"` // bytes; 0 unlimited
	Repeat       int               `json:"repeat"`
	Status       string            `json:"status"` // ok or failed
	Error        string            `json:"error,omitempty"`
	Shard        string            `json:"shard,omitempty"` // "I/N" when run as a shard

	Metrics     *replay.Metrics `json:"metrics,omitempty"` // nil when failed
	MinCapacity *int64          `json:"min_capacity,omitempty"`
	// Offline: the policy saw the workload ahead of the replay (it plans).
	Offline  bool      `json:"offline,omitempty"`  // when asked: smallest capacity (2 MiB steps) with no OOM
	Timeline *Timeline `json:"timeline,omitempty"` // downsampled bytes over event index, for charts
	// DeviceInfo is the device (NVML's view on cuda), the time in the
	// driver (measured on cuda, driver_seconds_est on sim with a latency
	// profile) and canary counts; nil in records older than it.
	DeviceInfo *replay.DeviceReport `json:"device_info,omitempty"`
	// FirstOOMReport explains the run's first OOM (docs/oom.md); nil
	// without OOMs, and in records older than it.
	FirstOOMReport *host.OOMReport `json:"first_oom_report,omitempty"`
	// SegmentMap is the segments and blocks after the run's first OOM
	// (segmap, compacted: at most MapSegments segments, runs merged below
	// 1/MapResolution of the largest); nil without OOMs.
	SegmentMap *segmap.Map `json:"segment_map,omitempty"`
	// BaselineMap is the segments and blocks, compacted the same way,
	// after the event of the Baseline policy's first OOM on the same
	// workload, capacity and repeat, for the runs of other policies when
	// that run had an OOM (report.html draws the two side by side); nil
	// otherwise, and when the baseline run was not recorded first.
	BaselineMap *segmap.Map `json:"baseline_map,omitempty"`

	ElapsedSeconds float64 `json:"elapsed_seconds"` // wall time of the run (a timing field: not compared)
}

// Timeline is reserved, allocated and requested bytes at chosen event
// indexes (a few hundred points, always including the peaks).
type Timeline = replay.Timeline

// FileName is the record's file name inside a runs directory.
func FileName(id string) string { return id + ".json" }

// Write stores r in dir atomically (a temporary file renamed into place),
// so an interrupted run never leaves a partial record.
func Write(dir string, r *Record) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, FileName(r.ID)), append(b, '\n'))
}

// ReadDir loads every record of a runs directory, sorted by ID. A file
// that is not a valid record is an error naming it.
func ReadDir(dir string) ([]*Record, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*Record
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		var r Record
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: not a run record: %w", n, err)
		}
		if r.ID == "" || (r.Status != StatusOK && r.Status != StatusFailed) {
			return nil, fmt.Errorf("%s: not a run record (no id or unknown status %q)", n, r.Status)
		}
		out = append(out, &r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
