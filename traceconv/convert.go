package traceconv

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/internal/atomicfile"
	"github.com/fraglab/fraglab/internal/synth"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/replay/setup"
	"github.com/fraglab/fraglab/sdk/abi"
	"github.com/fraglab/fraglab/trace"
)

// Options configures Convert.
type Options struct {
	OpenOptions        // the input: format ("" by extension), snapshot device and tag rules
	To          Format // the output format; "": by extension
	// Progress, when set, is called with the number of events written so
	// far, every 65536 events and at the end.
	Progress func(events int64)
}

// Report says what a conversion did.
type Report struct {
	From, To Format
	Events   int64 // events read (initial allocations not included)
	Written  int64 // events written (initial allocations included)
	// Dropped lists, one line each with its count, what the output format
	// could not hold; empty for a lossless conversion.
	Dropped []string
	// Notes are what a reader of the output should know (e.g. what RMM's
	// replay benchmark refuses).
	Notes []string
}

// Convert converts the workload at in to out. The output is written to a
// temporary file renamed into place, so a failed conversion leaves no
// partial file.
func Convert(ctx context.Context, in, out string, o Options) (*Report, error) {
	src, err := Open(in, o.OpenOptions)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	if abs(in) == abs(out) {
		return nil, fmt.Errorf("%s: input and output are the same file", out)
	}
	return writeFile(ctx, src, out, o.To, o.Progress)
}

// WriteEvents writes events (tags names their tags) to path in the format
// to, or the one its extension names when to is "", as Convert writes.
func WriteEvents(ctx context.Context, path string, to Format, events []trace.Event, tags *trace.Tags) (*Report, error) {
	src := &Source{Path: "(events)", Format: JSONL, Reader: synth.NewReaderTags(events, tags), closer: nopCloser{}}
	return writeFile(ctx, src, path, to, nil)
}

// writeFile writes src to out through a temporary file.
func writeFile(ctx context.Context, src *Source, out string, to Format, progress func(int64)) (*Report, error) {
	f, gz, err := FormatOf(out)
	if to != "" {
		f, gz = to, strings.HasSuffix(strings.ToLower(out), ".gz")
	} else if err != nil {
		return nil, err
	}
	if f == Snapshot && gz {
		return nil, fmt.Errorf("%s: gzipped snapshots are not supported", out)
	}
	tmp, err := atomicfile.Create(out)
	if err != nil {
		return nil, err
	}
	defer tmp.Abort() // after Commit, a no-op
	rep, err := convert(ctx, src, tmp, f, gz, progress)
	if err != nil {
		return nil, err
	}
	if err := tmp.Commit(); err != nil {
		return nil, err
	}
	return rep, nil
}

func abs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

// sink is an output format.
type sink interface {
	write(e trace.Event, tags *trace.Tags) error
	// finish ends the output (end records, flushes).
	finish(ctx context.Context) error
	// dropped says what the format could not hold.
	dropped() []string
	// notes says what a reader of the output should know.
	notes() []string
}

// noNotes is the notes of sinks with nothing to say.
type noNotes struct{}

func (noNotes) notes() []string { return nil }

func convert(ctx context.Context, src *Source, f io.Writer, to Format, gz bool, progress func(int64)) (*Report, error) {
	rep := &Report{From: src.Format, To: to}
	var w io.Writer = f
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(f)
		w = zw
	}
	snk, err := newSink(src, w, to)
	if err != nil {
		return nil, err
	}
	tags := src.Reader.Tags()
	initial := src.InitialAllocs()
	for _, a := range initial {
		if err := snk.write(a, tags); err != nil {
			return nil, err
		}
		rep.Written++
	}
	for {
		e, err := src.Reader.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		rep.Events++
		if err := snk.write(e, src.Reader.Tags()); err != nil {
			var fe *trace.FormatError
			if errors.As(err, &fe) && len(initial) == 0 {
				return nil, err // it names the event already, by the same index
			}
			return nil, fmt.Errorf("event %d: %w", rep.Events-1, err)
		}
		rep.Written++
		if progress != nil && rep.Events%65536 == 0 {
			progress(rep.Events)
		}
	}
	if err := snk.finish(ctx); err != nil {
		return nil, err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return nil, err
		}
	}
	if progress != nil {
		progress(rep.Events)
	}
	rep.Dropped = append(sourceLosses(src, to), snk.dropped()...)
	rep.Notes = snk.notes()
	return rep, nil
}

// sourceLosses says what the source holds beyond its events that the
// target format loses.
func sourceLosses(src *Source, to Format) []string {
	var d []string
	if w := src.Workload; w != nil {
		if n := len(src.InitialAllocs()); n > 0 {
			d = append(d, fmt.Sprintf("the layout of %d segments live at the start (their %d live blocks became allocs at the start; ids kept)", len(w.Initial), n))
		}
		if n := len(w.Truth); n > 0 && to != Snapshot {
			d = append(d, fmt.Sprintf("%d recorded segment events (segment_alloc/free/map/unmap)", n))
		}
		if n := len(w.OOMs); n > 0 {
			d = append(d, fmt.Sprintf("%d recorded oom entries (each failed request stays as an alloc that is never freed)", n))
		}
		if to != Snapshot {
			d = append(d, "recorded addresses and stack frames (frames became tags)")
		} else {
			d = append(d, "recorded addresses, segments and stack frames (the snapshot is a fresh replay under pytorch)")
		}
		if w.Settings != nil && to != Snapshot {
			d = append(d, "the recorded allocator settings")
		}
	}
	if src.RMM != nil && to != RMM {
		if n := len(src.RMM.Failures()); n > 0 {
			d = append(d, fmt.Sprintf("%d allocate failures (the log's own OOMs; see fraglab trace stats)", n))
		}
		threads := src.RMM.Threads()
		d = append(d, fmt.Sprintf("the thread ids (%d threads), times and pointers of the RMM log", len(threads)))
	}
	return d
}

func newSink(src *Source, w io.Writer, to Format) (sink, error) {
	switch to {
	case JSONL:
		return &jsonlSink{w: trace.NewJSONLWriter(w)}, nil
	case Binary:
		bw, err := trace.NewBinaryWriter(w)
		if err != nil {
			return nil, err
		}
		return &binarySink{w: bw}, nil
	case RMM:
		rw, err := trace.NewRMMWriter(w)
		if err != nil {
			return nil, err
		}
		return &rmmSink{w: rw, src: src.RMM}, nil
	case Snapshot:
		return &snapshotSink{out: w, tags: trace.NewTags()}, nil
	}
	return nil, fmt.Errorf("unknown output format %q", to)
}

type jsonlSink struct {
	noNotes
	w *trace.JSONLWriter
}

func (s *jsonlSink) write(e trace.Event, tags *trace.Tags) error { return s.w.Write(e, tags) }
func (s *jsonlSink) finish(context.Context) error                { return s.w.Flush() }
func (s *jsonlSink) dropped() []string                           { return nil }

type binarySink struct {
	noNotes
	w *trace.BinaryWriter
}

func (s *binarySink) write(e trace.Event, tags *trace.Tags) error { return s.w.Write(e, tags) }
func (s *binarySink) finish(context.Context) error                { return s.w.Close() }
func (s *binarySink) dropped() []string                           { return nil }

// rmmSink writes an RMM log; from an RMM log it keeps threads, times,
// pointers and the allocate failures, in place.
type rmmSink struct {
	w       *trace.RMMWriter
	src     *trace.RMMReader // nil unless the source is an RMM log
	events  int64
	failed  int             // failures of src written
	streams map[int64]int64 // allocs per stream RMM's replay benchmark refuses
}

func (s *rmmSink) failures(upTo int64) error {
	if s.src == nil {
		return nil
	}
	fs := s.src.Failures()
	for ; s.failed < len(fs) && fs[s.failed].Event <= upTo; s.failed++ {
		if err := s.w.WriteFailure(fs[s.failed]); err != nil {
			return err
		}
	}
	return nil
}

func (s *rmmSink) write(e trace.Event, tags *trace.Tags) error {
	if err := s.failures(s.events); err != nil {
		return err
	}
	var rec trace.RMMRecord
	if s.src != nil {
		rec = s.src.Record()
	}
	if e.Op == trace.OpAlloc && e.Stream != 0 && e.Stream != 2 {
		if s.streams == nil {
			s.streams = map[int64]int64{}
		}
		s.streams[e.Stream]++
	}
	s.events++
	return s.w.WriteRecord(e, rec)
}

func (s *rmmSink) finish(context.Context) error {
	if err := s.failures(1<<63 - 1); err != nil {
		return err
	}
	return s.w.Flush()
}

func (s *rmmSink) dropped() []string { return s.w.Dropped() }

func (s *rmmSink) notes() []string {
	if len(s.streams) == 0 {
		return nil
	}
	var allocs int64
	for _, k := range s.streams {
		allocs += k
	}
	return []string{fmt.Sprintf("%d allocations are on %d streams other than 0 (default) and 2 (cudaStreamPerThread), which RMM's replay benchmark refuses (\"Non-default streams not currently supported\")", allocs, len(s.streams))}
}

// snapshotSink replays the events under the built-in pytorch policy on an
// unlimited simulated device and writes that run as a PyTorch snapshot:
// addresses and segments come from the replay.
type snapshotSink struct {
	noNotes
	out      io.Writer
	events   []trace.Event
	tags     *trace.Tags
	tagged   int64
	releases int64 // release_pool events
}

func (s *snapshotSink) write(e trace.Event, tags *trace.Tags) error {
	if e.Op == trace.OpAlloc && e.Tag != abi.TagUnknown {
		s.tagged++
	}
	if e.Op == trace.OpReleasePool {
		s.releases++
	}
	s.tags = tags
	s.events = append(s.events, e)
	return nil
}

func (s *snapshotSink) finish(ctx context.Context) error {
	mod, err := setup.LoadPolicy(ctx, "pytorch", "")
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(s.out, 64<<10)
	_, err = replay.Run(ctx, synth.NewReaderTags(s.events, s.tags), mod, cudadriver.NewSim(cudadriver.SimOptions{}),
		replay.Options{SnapshotOut: bw})
	if err != nil {
		return fmt.Errorf("replaying the workload under pytorch to make the snapshot: %w", err)
	}
	return bw.Flush()
}

func (s *snapshotSink) dropped() []string {
	d := []string{"allocation ids (a snapshot names blocks by address)"}
	if s.tagged > 0 {
		d = append(d, fmt.Sprintf("the tags of %d allocations (a snapshot has stack frames, not tags)", s.tagged))
	}
	if s.releases > 0 {
		d = append(d, fmt.Sprintf("%d release_pool events (a snapshot records each entry's pool, here pool P as id (P, 0), or (0, P) after an empty_cache of P alone, but no pool release: reading it back infers one before the pool's first released segment, and numbers pools by first appearance)", s.releases))
	}
	return d
}
