// Package traceconv opens workloads of every format fraglab knows (JSONL,
// the compact binary format, RMM logs, PyTorch snapshots) as one Source, and
// converts between them, saying what a target format cannot hold.
// docs/trace-format.md describes the formats, docs/cli.md `trace convert`.
package traceconv

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/replay/setup"
	"github.com/fraglab/fraglab/snapshot"
	"github.com/fraglab/fraglab/trace"
)

// Format is a trace format.
type Format string

// The formats.
const (
	JSONL    Format = "jsonl"    // JSON Lines (.jsonl)
	Binary   Format = "fltr"     // the compact binary format (.fltr)
	RMM      Format = "rmm-csv"  // RMM logging_resource_adaptor CSV (.csv)
	Snapshot Format = "snapshot" // PyTorch memory snapshot (.pickle, .pkl)
)

// Formats lists the formats in the order messages name them.
var Formats = []Format{JSONL, Binary, RMM, Snapshot}

var aliases = map[string]Format{
	"jsonl": JSONL, "json": JSONL,
	"fltr": Binary, "binary": Binary, "bin": Binary,
	"csv": RMM, "rmm": RMM, "rmm-csv": RMM,
	"pickle": Snapshot, "pkl": Snapshot, "snapshot": Snapshot,
}

// ParseFormat parses a --from/--to value: jsonl, fltr (binary), csv (rmm,
// rmm-csv) or pickle (snapshot).
func ParseFormat(s string) (Format, error) {
	if f, ok := aliases[strings.ToLower(s)]; ok {
		return f, nil
	}
	return "", fmt.Errorf("unknown trace format %q: expected jsonl, fltr (binary), csv (rmm) or pickle (snapshot)", s)
}

// FormatOf returns the format of a file by its extension (a trailing .gz
// aside: JSONL, binary and RMM files may be gzipped, snapshots may not).
func FormatOf(path string) (f Format, gz bool, err error) {
	name := strings.ToLower(filepath.Base(path))
	gz = strings.HasSuffix(name, ".gz")
	name = strings.TrimSuffix(name, ".gz")
	switch filepath.Ext(name) {
	case ".jsonl":
		return JSONL, gz, nil
	case ".fltr":
		return Binary, gz, nil
	case ".csv":
		return RMM, gz, nil
	case ".pickle", ".pkl":
		if gz {
			return "", false, fmt.Errorf("%s: gzipped snapshots are not supported: gunzip it first", path)
		}
		return Snapshot, false, nil
	}
	return "", false, fmt.Errorf("%s: cannot tell the trace format from the extension: expected .jsonl, .fltr, .csv (each optionally .gz) or .pickle, or name it with --from/--to", path)
}

// Failure is a failed allocation the trace recorded itself: an RMM
// "allocate failure" line or a PyTorch snapshot's oom entry.
type Failure struct {
	Event  int64 // index of the next event
	Line   int   // line of an RMM log; 0 otherwise
	Size   int64
	Stream int64
}

// Source is an open workload of any format.
type Source struct {
	Path   string
	Format Format
	Reader trace.Reader
	// Initial is the state live before the first event (a snapshot that
	// starts mid-run): the segments replay.SnapshotInput gives a replay.
	// Their live blocks' frees are events; InitialAllocs lists them.
	Initial []host.InitialSegment
	// RMM is the reader of an RMM log (threads, times, pointers,
	// failures); nil for other formats.
	RMM *trace.RMMReader
	// Workload is the snapshot's workload; nil for other formats.
	Workload *snapshot.Workload
	closer   io.Closer
}

// OpenOptions configures Open.
type OpenOptions struct {
	Format   Format             // "": by extension
	Device   *int               // snapshot device; nil: the first with trace entries
	TagRules []snapshot.TagRule // snapshot tag rules; nil: snapshot.DefaultTagRules
}

// Open opens the workload at path.
func Open(path string, o OpenOptions) (*Source, error) {
	f, gz, err := FormatOf(path)
	if o.Format != "" {
		f, gz = o.Format, strings.HasSuffix(strings.ToLower(path), ".gz")
	} else if err != nil {
		return nil, err
	}
	s := &Source{Path: path, Format: f}
	if f == Snapshot {
		// As a replay opens it: the same tag rules, device and initial state.
		w, err := setup.OpenWorkload(setup.WorkloadSpec{Trace: path, SnapshotDevice: o.Device, TagRules: o.TagRules, Snapshot: true})
		if err != nil {
			return nil, err
		}
		s.Workload, s.Reader, s.Initial, s.closer = w.Snapshot, w.Reader, w.Initial, w
		return s, nil
	}
	if o.Device != nil {
		return nil, fmt.Errorf("a snapshot device applies to PyTorch snapshots (.pickle), not %s", path)
	}
	r, c, err := openAs(path, f, gz)
	if err != nil {
		return nil, err
	}
	s.Reader, s.closer = r, c
	s.RMM, _ = r.(*trace.RMMReader)
	return s, nil
}

// openAs opens path with the reader of format f, whatever its extension.
func openAs(path string, f Format, gz bool) (trace.Reader, io.Closer, error) {
	ext := map[Format]string{JSONL: ".jsonl", Binary: ".fltr", RMM: ".csv"}[f]
	if got, _, err := FormatOf(path); err == nil && got == f {
		return trace.Open(path)
	}
	return trace.OpenAs(path, ext, gz)
}

// Failures returns the failed allocations the trace recorded: an RMM log's
// allocate failures (read so far) or a snapshot's oom entries.
func (s *Source) Failures() []Failure {
	var out []Failure
	if s.RMM != nil {
		for _, f := range s.RMM.Failures() {
			out = append(out, Failure{Event: f.Event, Line: f.Line, Size: f.Size, Stream: f.Stream})
		}
	}
	if s.Workload != nil {
		for _, o := range s.Workload.OOMs {
			var stream int64
			if o.Event < int64(len(s.Workload.Events)) {
				stream = s.Workload.Events[o.Event].Stream
			}
			out = append(out, Failure{Event: o.Event, Size: o.Size, Stream: stream})
		}
	}
	return out
}

// InitialAllocs are the allocations live before the first event, as
// alloc events: each live block of Initial (its requested size), in id
// order.
func (s *Source) InitialAllocs() []trace.Event {
	var out []trace.Event
	for _, seg := range s.Initial {
		for _, b := range seg.Blocks {
			if b.ID >= 0 {
				out = append(out, trace.Event{Op: trace.OpAlloc, ID: b.ID, Size: b.Requested})
			}
		}
	}
	return out
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// Close closes the file.
func (s *Source) Close() error { return s.closer.Close() }
