package traceconv

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/generate"
	"github.com/fraglab/fraglab/snapshot"
	"github.com/fraglab/fraglab/trace"
)

// writeGenerated writes a generated workload as JSONL to dir and returns
// its path.
func writeGenerated(t *testing.T, dir, kind string, params map[string]string) string {
	t.Helper()
	events, tags, err := generate.Generate(kind, params, 3)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, kind+".jsonl")
	var b bytes.Buffer
	w := trace.NewJSONLWriter(&b)
	for _, e := range events {
		if err := w.Write(e, tags); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func doConvert(t *testing.T, in, out string, o Options) *Report {
	t.Helper()
	rep, err := Convert(context.Background(), in, out, o)
	if err != nil {
		t.Fatalf("Convert(%s, %s): %v", in, out, err)
	}
	return rep
}

func readEvents(t *testing.T, path string) []trace.Event {
	t.Helper()
	src, err := Open(path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out []trace.Event
	for {
		e, err := src.Reader.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
}

// TestChain converts a tagged generated trace through every pair of
// formats and back to JSONL: JSONL and binary are lossless (same bytes);
// an RMM log keeps the events but renumbers ids and drops tags and
// empty_cache, and says so.
func TestChain(t *testing.T) {
	dir := t.TempDir()
	in := writeGenerated(t, dir, "training", map[string]string{"steps": "3", "layers": "4"})
	orig, _ := os.ReadFile(in)
	tests := []struct {
		chain   []string // extensions after the input
		same    bool     // the final JSONL equals the input byte for byte
		dropped []string // substrings of Report.Dropped of the step into the middle format
	}{
		{[]string{".fltr", ".jsonl"}, true, nil},
		{[]string{".fltr.gz", ".jsonl.gz", ".fltr", ".jsonl"}, true, nil},
		{[]string{".csv", ".jsonl"}, false, []string{"the tags of"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.chain, ""), func(t *testing.T) {
			cur := in
			for i, ext := range tt.chain {
				next := filepath.Join(dir, "step"+string(rune('a'+i))+ext)
				rep := doConvert(t, cur, next, Options{})
				if i == 0 {
					joined := strings.Join(rep.Dropped, "\n")
					for _, d := range tt.dropped {
						if !strings.Contains(joined, d) {
							t.Errorf("dropped %q lacks %q", joined, d)
						}
					}
					if tt.dropped == nil && len(rep.Dropped) > 0 {
						t.Errorf("lossless step dropped %q", rep.Dropped)
					}
				}
				cur = next
			}
			got, err := os.ReadFile(cur)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(cur, ".gz") {
				z, err := gzip.NewReader(bytes.NewReader(got))
				if err != nil {
					t.Fatal(err)
				}
				got, _ = io.ReadAll(z)
			}
			if tt.same && !bytes.Equal(got, orig) {
				t.Errorf("%s -> %v changed the trace", in, tt.chain)
			}
			if !tt.same {
				// Same sizes and streams in the same order; no tags.
				a, b := readEvents(t, in), readEvents(t, cur)
				var sa, sb []int64
				for _, e := range a {
					if e.Op == trace.OpAlloc {
						sa = append(sa, e.Size, e.Stream)
					}
				}
				for _, e := range b {
					if e.Op == trace.OpAlloc {
						sb = append(sb, e.Size, e.Stream)
					}
					if e.Tag != 0 {
						t.Fatalf("tag %d survived an RMM log", e.Tag)
					}
				}
				if !reflect.DeepEqual(sa, sb) {
					t.Errorf("allocation sizes and streams changed")
				}
			}
		})
	}
}

// TestRMMLossless: RMM -> RMM keeps threads, times, pointers and failures;
// RMM -> binary -> RMM keeps the events and says what it dropped.
func TestRMMLossless(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join("..", "trace", "testdata", "rmm", "valid.csv")
	out := filepath.Join(dir, "copy.csv")
	if rep := doConvert(t, in, out, Options{}); len(rep.Dropped) != 0 {
		t.Errorf("RMM -> RMM dropped %q", rep.Dropped)
	}
	again := filepath.Join(dir, "again.csv")
	doConvert(t, out, again, Options{})
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(again)
	if !bytes.Equal(a, b) || bytes.Count(a, []byte("allocate failure")) != 2 || !bytes.Contains(a, []byte("140336,10:15:02.000190,allocate,7f1c2b000000")) {
		t.Errorf("RMM -> RMM is not stable or lost lines:\n%s\nthen\n%s", a, b)
	}
	rep := doConvert(t, in, filepath.Join(dir, "x.fltr"), Options{})
	joined := strings.Join(rep.Dropped, "\n")
	for _, want := range []string{"2 allocate failures", "thread ids (2 threads)"} {
		if !strings.Contains(joined, want) {
			t.Errorf("RMM -> binary dropped %q, want it to mention %q", joined, want)
		}
	}
	if got, want := readEvents(t, filepath.Join(dir, "x.fltr")), readEvents(t, in); !reflect.DeepEqual(got, want) {
		t.Errorf("RMM -> binary events %v, want %v", got, want)
	}
}

// TestSnapshot converts the synthetic snapshot (mid-run: live blocks at the
// start) to JSONL and to a snapshot, with default and custom tag rules.
func TestSnapshot(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join("..", "snapshot", "testdata", "synthetic.pickle")
	src, err := Open(in, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := src.Workload
	src.Close()
	out := filepath.Join(dir, "s.jsonl")
	rep := doConvert(t, in, out, Options{})
	got := readEvents(t, out)
	var initial int
	for _, seg := range w.Initial {
		for _, b := range seg.Blocks {
			if b.ID >= 0 {
				initial++
			}
		}
	}
	if len(got) != initial+len(w.Events) {
		t.Errorf("JSONL has %d events, want %d initial allocs + %d events", len(got), initial, len(w.Events))
	}
	if !strings.Contains(strings.Join(rep.Dropped, "\n"), "recorded segment events") {
		t.Errorf("dropped %q does not mention the segment events", rep.Dropped)
	}
	pk := filepath.Join(dir, "s.pickle")
	doConvert(t, out, pk, Options{})
	s2, err := snapshot.ReadFile(pk)
	if err != nil {
		t.Fatal(err)
	}
	w2, err := s2.Workload(-1)
	if err != nil {
		t.Fatal(err)
	}
	var sizes, sizes2 []int64
	for _, e := range got {
		if e.Op == trace.OpAlloc {
			sizes = append(sizes, e.Size)
		}
	}
	for _, e := range w2.Events {
		if e.Op == trace.OpAlloc {
			sizes2 = append(sizes2, e.Size)
		}
	}
	if !reflect.DeepEqual(sizes, sizes2) {
		t.Errorf("snapshot written from JSONL has allocs %v, want %v", sizes2, sizes)
	}

	rules, err := snapshot.ParseTagRules([]byte("rules:\n  - tag: moe_router\n    file: model.py\n"), "inline")
	if err != nil {
		t.Fatal(err)
	}
	def, custom := readTags(t, in, nil), readTags(t, in, rules)
	if want := []string{"activation", "unknown"}; !reflect.DeepEqual(def, want) {
		t.Errorf("default tags %v, want %v", def, want)
	}
	if want := []string{"moe_router", "unknown"}; !reflect.DeepEqual(custom, want) {
		t.Errorf("custom tags %v, want %v", custom, want)
	}
}

// readTags returns the tag name of every alloc of a snapshot under rules.
func readTags(t *testing.T, path string, rules []snapshot.TagRule) []string {
	src, err := Open(path, OpenOptions{TagRules: rules})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var names []string
	for {
		e, err := src.Reader.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.Op == trace.OpAlloc {
			n, _ := src.Reader.Tags().Name(e.Tag)
			names = append(names, n)
		}
	}
}

func TestConvertErrors(t *testing.T) {
	dir := t.TempDir()
	in := writeGenerated(t, dir, "devlog", nil)
	bad := filepath.Join(dir, "bad.fltr")
	if err := os.WriteFile(bad, []byte("FLTRACE\x01\x30"), 0o644); err != nil {
		t.Fatal(err)
	}
	one := 1
	tests := []struct {
		in, out string
		o       Options
		want    string
	}{
		{in, filepath.Join(dir, "out.txt"), Options{}, "cannot tell the trace format from the extension"},
		{filepath.Join(dir, "x.txt"), filepath.Join(dir, "o.jsonl"), Options{}, "cannot tell the trace format"},
		{in, in, Options{}, "input and output are the same file"},
		{in, filepath.Join(dir, "o.pickle.gz"), Options{}, "gzipped snapshots are not supported"},
		{bad, filepath.Join(dir, "o.jsonl"), Options{}, "bad.fltr: byte 9: truncated file: expected an alloc size"},
		{in, filepath.Join(dir, "o.jsonl"), Options{OpenOptions: OpenOptions{Device: &one}}, "a snapshot device applies to PyTorch snapshots (.pickle), not"},
		{in, filepath.Join(dir, "missing", "o.jsonl"), Options{}, "writing " + filepath.Join(dir, "missing", "o.jsonl") + ": directory " + filepath.Join(dir, "missing") + " does not exist"},
	}
	for _, tt := range tests {
		_, err := Convert(context.Background(), tt.in, tt.out, tt.o)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Convert(%s, %s): error %v, want %q", filepath.Base(tt.in), filepath.Base(tt.out), err, tt.want)
		}
	}
	// A failed conversion leaves no file behind.
	left, _ := filepath.Glob(filepath.Join(dir, "o*"))
	tmp, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	if len(left)+len(tmp) > 0 {
		t.Errorf("failed conversions left %v %v", left, tmp)
	}
	if _, err := ParseFormat("xml"); err == nil || !strings.Contains(err.Error(), "expected jsonl, fltr (binary), csv (rmm) or pickle (snapshot)") {
		t.Errorf("ParseFormat(xml): %v", err)
	}
}

// TestFromTo: --from/--to override the extensions.
func TestFromTo(t *testing.T) {
	dir := t.TempDir()
	in := writeGenerated(t, dir, "devlog", nil)
	odd := filepath.Join(dir, "trace.bin")
	doConvert(t, in, odd, Options{To: Binary})
	back := filepath.Join(dir, "back.jsonl")
	doConvert(t, odd, back, Options{OpenOptions: OpenOptions{Format: Binary}})
	a, _ := os.ReadFile(in)
	b, _ := os.ReadFile(back)
	if !bytes.Equal(a, b) {
		t.Error("JSONL -> .bin (--to fltr) -> JSONL changed the trace")
	}
}

// TestPools converts examples/traces/graph-pools.jsonl (a private pool,
// free_requested, release_pool): JSONL and binary keep everything, byte
// for byte; an RMM log cannot hold them and the conversion fails naming the
// first such event, leaving no file; a snapshot says what it drops.
func TestPools(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join("..", "examples", "traces", "graph-pools.jsonl")
	orig, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	cur := in
	for i, ext := range []string{".fltr", ".fltr.gz", ".jsonl.gz", ".jsonl"} {
		next := filepath.Join(dir, "step"+string(rune('a'+i))+ext)
		if rep := doConvert(t, cur, next, Options{}); len(rep.Dropped) > 0 || rep.Events != 18 {
			t.Errorf("%s -> %s: %d events, dropped %q; want 18 and nothing", cur, next, rep.Events, rep.Dropped)
		}
		cur = next
	}
	if got, _ := os.ReadFile(cur); !bytes.Equal(got, orig) {
		t.Errorf("JSONL -> binary -> ... -> JSONL changed the trace:\n%s", got)
	}
	var pools, pending, releases int
	for _, e := range readEvents(t, filepath.Join(dir, "stepa.fltr")) {
		switch {
		case e.Op == trace.OpAlloc && e.Pool == 1:
			pools++
		case e.Op == trace.OpFreeRequested:
			pending++
		case e.Op == trace.OpReleasePool && e.Pool == 1:
			releases++
		}
	}
	if pools != 3 || pending != 1 || releases != 1 {
		t.Errorf("binary holds %d allocs to pool 1, %d free_requested, %d release_pool; want 3, 1, 1", pools, pending, releases)
	}

	csv := filepath.Join(dir, "o.csv")
	_, err = Convert(context.Background(), in, csv, Options{})
	want := "trace: cannot write event 1 (alloc of id 1 in private pool 1) to an RMM log: RMM logs have no private pools"
	if err == nil || err.Error() != want {
		t.Errorf("to RMM: error %v, want %q", err, want)
	}
	if _, err := os.Stat(csv); !os.IsNotExist(err) {
		t.Errorf("the failed RMM conversion left %s (%v)", csv, err)
	}

	pk := filepath.Join(dir, "o.pickle")
	rep := doConvert(t, in, pk, Options{})
	if d := strings.Join(rep.Dropped, "\n"); !strings.Contains(d, "1 release_pool events (a snapshot records each entry's pool") {
		t.Errorf("to a snapshot: dropped %q lacks the pool releases", d)
	}
	snap, err := snapshot.ReadFile(pk)
	if err != nil {
		t.Fatal(err)
	}
	acts := map[string]int{}
	for _, e := range snap.Traces[0] {
		acts[e.Action]++
	}
	// Every free is recorded as PyTorch does: free_requested, then
	// free_completed; id 4's completes two events after its request.
	if acts[snapshot.ActAlloc] != 7 || acts[snapshot.ActFreeRequested] != 7 || acts[snapshot.ActFreeCompleted] != 7 {
		t.Errorf("snapshot trace actions %v, want 7 alloc, free_requested and free_completed", acts)
	}
}
