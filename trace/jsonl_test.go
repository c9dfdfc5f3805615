package trace

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/fraglab/fraglab/sdk/abi"
)

// readAll reads every event of r, failing the test on an error.
func readAll(t *testing.T, r Reader) []Event {
	t.Helper()
	var events []Event
	eachEvent(t, r, func(e Event) { events = append(events, e) })
	return events
}

// eachEvent calls f with every event of r, in order, and fails t when r
// fails.
func eachEvent(t testing.TB, r Reader, f func(Event)) {
	t.Helper()
	for {
		e, err := r.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		f(e)
	}
}

const moe = abi.FirstCustomTag

// validEvents are the events of testdata/valid.jsonl.
var validEvents = []Event{
	{Op: OpAlloc, ID: 0, Size: 16777216, Tag: abi.TagWeight},
	{Op: OpAlloc, ID: 1, Size: 2097152, Stream: 7, Tag: abi.TagActivation},
	{Op: OpAlloc, ID: 2, Size: 4096, Tag: moe},
	{Op: OpAlloc, ID: 3, Size: 1000, Stream: -1},
	{Op: OpFree, ID: 1},
	{Op: OpAlloc, ID: 1, Size: 512, Tag: moe},
	{Op: OpAlloc, ID: 4, Size: 512},
	{Op: OpAlloc, ID: 5, Size: 512, Tag: abi.TagKVCache},
	{Op: OpEmptyCache},
	{Op: OpFree, ID: 0},
	{Op: OpFree, ID: 2},
	{Op: OpFree, ID: 1},
	{Op: OpFree, ID: 3},
	{Op: OpAlloc, ID: 6, Size: 1024},
	{Op: OpAlloc, ID: 7, Size: 1024, Tag: moe + 1},
}

func TestJSONLReaderValid(t *testing.T) {
	f, err := os.Open("testdata/valid.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := NewJSONLReader(f, "valid.jsonl")
	var lines []int
	var got []Event
	eachEvent(t, r, func(e Event) {
		got = append(got, e)
		lines = append(lines, r.Line())
	})
	if !reflect.DeepEqual(got, validEvents) {
		t.Errorf("events:\n got %v\nwant %v", got, validEvents)
	}
	wantLines := []int{1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	if !reflect.DeepEqual(lines, wantLines) {
		t.Errorf("lines = %v, want %v", lines, wantLines)
	}
	if r.Live() != 4 {
		t.Errorf("Live() = %d, want 4", r.Live())
	}
	if name, _ := r.Tags().Name(moe + 1); name != `layer"norm` {
		t.Errorf("tag %d = %q, want layer\"norm", moe+1, name)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("Next after EOF = %v, want io.EOF", err)
	}
}

// poolEvents are the events of testdata/pools.jsonl.
var poolEvents = []Event{
	{Op: OpAlloc, ID: 0, Size: 1048576, Tag: abi.TagActivation, Pool: 1},
	{Op: OpAlloc, ID: 1, Size: 4096, Stream: 3},
	{Op: OpFreeRequested, ID: 1},
	{Op: OpAlloc, ID: 2, Size: 2048},
	{Op: OpFree, ID: 1},
	{Op: OpAlloc, ID: 1, Size: 512, Stream: 3, Pool: 2},
	{Op: OpFreeRequested, ID: 0},
	{Op: OpAlloc, ID: 3, Size: 1024, Tag: abi.TagWorkspace, Pool: 1},
	{Op: OpFree, ID: 0},
	{Op: OpReleasePool, Pool: 1},
	{Op: OpReleasePool, Pool: 2},
	{Op: OpEmptyCache, Pool: 2},
	{Op: OpFree, ID: 2},
	{Op: OpEmptyCache},
	{Op: OpEmptyCache},
}

// TestJSONLReaderPools reads private pools and frees that wait for other
// streams: a free_requested keeps its id live (pending) until the free
// that completes it.
func TestJSONLReaderPools(t *testing.T) {
	f, err := os.Open("testdata/pools.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := NewJSONLReader(f, "pools.jsonl")
	var got []Event
	var lines, live []int
	eachEvent(t, r, func(e Event) {
		got = append(got, e)
		lines = append(lines, r.Line())
		live = append(live, r.Live())
	})
	if !reflect.DeepEqual(got, poolEvents) {
		t.Errorf("events:\n got %v\nwant %v", got, poolEvents)
	}
	if want := []int{1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}; !reflect.DeepEqual(lines, want) {
		t.Errorf("lines = %v, want %v", lines, want)
	}
	// A pending id counts as live: ids 0 and 1 stay live after their
	// free_requested, until their free.
	if want := []int{1, 2, 2, 3, 2, 3, 3, 4, 3, 3, 3, 3, 2, 2, 2}; !reflect.DeepEqual(live, want) {
		t.Errorf("Live() after each event = %v, want %v", live, want)
	}
}

func TestJSONLReaderErrors(t *testing.T) {
	tests := []struct {
		file string
		line int
		msg  string // the message, or for malformed JSON its start
	}{
		{"malformed", 3, "malformed JSON (expected one object per line): "},
		{"not_object", 2, `expected a JSON object such as {"op":"free","id":0}, got [1,2]`},
		{"missing_op", 1, `missing "op": expected "alloc", "free", "free_requested", "empty_cache" or "release_pool"`},
		{"op_not_string", 3, `"op" must be a string: "alloc", "free", "free_requested", "empty_cache" or "release_pool", got 3`},
		{"unknown_op", 2, `unknown op "realloc": expected "alloc", "free", "free_requested", "empty_cache" or "release_pool"`},
		{"unknown_key", 3, `unknown key "sz" for op "alloc": allowed keys are "op", "id", "size", "stream", "tag", "pool"`},
		{"duplicate_key", 1, `duplicate key "id"`},
		{"id_missing", 2, `free is missing "id": expected a non-negative integer`},
		{"id_negative", 1, `"id" must be a non-negative integer, got -1`},
		{"id_fraction", 1, `"id" must be a non-negative integer, got 1.5`},
		{"id_string", 2, `"id" must be a non-negative integer, got "1"`},
		{"size_missing", 2, `alloc is missing "size": size must be a positive integer of bytes`},
		{"size_zero", 1, `"size" is 0: size must be a positive integer of bytes`},
		{"size_negative", 3, `"size" is -512: size must be a positive integer of bytes`},
		{"size_fraction", 1, `"size" is 1.5: size must be a positive integer of bytes`},
		{"size_string", 1, `"size" is "512": size must be a positive integer of bytes`},
		{"size_overflow", 1, `"size" is 9223372036854775808: size must be a positive integer of bytes`},
		{"stream_not_integer", 2, `"stream" must be an integer, got "s1"`},
		{"tag_not_string", 1, `"tag" must be a string such as "activation", got 2`},
		{"free_unknown", 4, "free of unknown id 7: no live allocation has this id"},
		{"free_twice", 3, "free of unknown id 1: no live allocation has this id"},
		{"alloc_live", 4, "alloc of id 7, which is still live (allocated at line 2)"},
		{"free_extra_key", 2, `unknown key "size" for op "free": allowed keys are "op", "id"`},
		{"empty_cache_extra_key", 1, `unknown key "id" for op "empty_cache": allowed keys are "op", "pool"`},
		// Private pools and frees that wait for other streams.
		{"pool_negative", 2, `"pool" must be a non-negative integer (0 is the default pool, private pools are 1 and up), got -1`},
		{"pool_string", 1, `"pool" must be a non-negative integer (0 is the default pool, private pools are 1 and up), got "1"`},
		{"free_requested_unknown", 4, "free_requested of unknown id 4: no live allocation has this id"},
		{"free_requested_after_free", 3, "free_requested of unknown id 1: no live allocation has this id"},
		{"free_requested_twice", 4, "free_requested of id 1, whose free was already requested at line 2"},
		{"free_after_completed", 4, "free of unknown id 1: no live allocation has this id"},
		{"alloc_pending", 4, "alloc of id 1, whose free was requested at line 3 but has not completed: the id is live until its free"},
		{"free_requested_missing_id", 2, `free_requested is missing "id": expected a non-negative integer`},
		{"free_requested_extra_key", 2, `unknown key "size" for op "free_requested": allowed keys are "op", "id"`},
		{"release_pool_missing", 2, `release_pool is missing "pool": expected a private pool id, an integer of 1 or more (0 is the default pool, which is never released)`},
		{"release_pool_zero", 1, `"pool" of release_pool must be a private pool id, an integer of 1 or more (0 is the default pool, which is never released), got 0`},
		{"release_pool_string", 2, `"pool" of release_pool must be a private pool id, an integer of 1 or more (0 is the default pool, which is never released), got "1"`},
		{"release_pool_fraction", 1, `"pool" of release_pool must be a private pool id, an integer of 1 or more (0 is the default pool, which is never released), got 1.5`},
		{"release_pool_extra_key", 1, `unknown key "id" for op "release_pool": allowed keys are "op", "pool"`},
		{"release_pool_duplicate_key", 2, `duplicate key "pool"`},
		{"empty_cache_pool_negative", 1, `"pool" of empty_cache must be a non-negative integer (0 or none empties the whole cache, 1 and up only that private pool), got -1`},
		{"empty_cache_pool_string", 2, `"pool" of empty_cache must be a non-negative integer (0 or none empties the whole cache, 1 and up only that private pool), got "1"`},
		{"empty_cache_pool_fraction", 1, `"pool" of empty_cache must be a non-negative integer (0 or none empties the whole cache, 1 and up only that private pool), got 1.5`},
		{"empty_cache_pool_duplicate_key", 2, `duplicate key "pool"`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "errors", tt.file+".jsonl")
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			r := NewJSONLReader(bytes.NewReader(data), path)
			var got error
			for got == nil {
				_, got = r.Next()
			}
			var e *Error
			if !errors.As(got, &e) {
				t.Fatalf("error %v (%T), want *Error", got, got)
			}
			if e.File != path || e.Line != tt.line || !strings.HasPrefix(e.Msg, tt.msg) ||
				(tt.file != "malformed" && e.Msg != tt.msg) {
				t.Errorf("error %q\nwant %q", e, fmt.Sprintf("%s:%d: %s", path, tt.line, tt.msg))
			}
			if _, again := r.Next(); again != got {
				t.Errorf("Next after an error = %v, want the same error", again)
			}
		})
	}
}

func TestJSONLReaderLongLine(t *testing.T) {
	long := `{"op":"alloc","id":1,"size":512,"tag":"` + strings.Repeat("x", MaxLineBytes) + `"}`
	in := `{"op":"alloc","id":0,"size":512}` + "\n" + long + "\n"
	r := NewJSONLReader(strings.NewReader(in), "")
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	_, err := r.Next()
	want := fmt.Sprintf("line 2: line longer than %d bytes", MaxLineBytes)
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}

	// A line just below the limit is fine.
	tag := strings.Repeat("y", MaxLineBytes-100)
	r = NewJSONLReader(strings.NewReader(`{"op":"alloc","id":1,"size":512,"tag":"`+tag+`"}`), "")
	e, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if name, _ := r.Tags().Name(e.Tag); name != tag {
		t.Errorf("long tag not read back")
	}
}

func TestParseInt(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"-0", 0, true},
		{"42", 42, true},
		{"-42", -42, true},
		{"1e3", 1000, true},
		{"1E+3", 1000, true},
		{"16.0", 16, true},
		{"1.5e1", 15, true},
		{"1500e-3", 1, false},
		{"1000e-3", 1, true},
		{"0e-400", 0, true},
		{"0.000", 0, true},
		{"9223372036854775807", 1<<63 - 1, true},
		{"-9223372036854775808", -1 << 63, true},
		{"9223372036854775808", 0, false},
		{"-9223372036854775809", 0, false},
		{"1e19", 0, false},
		{"1e999999999", 0, false},
		{"1.5", 0, false},
		{"1e-3", 0, false},
		{"", 0, false},
		{"-", 0, false},
		{"1.", 0, false},
		{".5", 0, false},
		{"1e", 0, false},
		{"1e+", 0, false},
		{"1x", 0, false},
		{"inf", 0, false},
		{"nan", 0, false},
		{"1-2", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseInt([]byte(tt.in))
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("parseInt(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestJSONLWriterFormat(t *testing.T) {
	tags := NewTags()
	custom := tags.ID("a\"b\\c\n")
	tests := []struct {
		e    Event
		want string
	}{
		{Event{Op: OpAlloc, ID: 3, Size: 512}, `{"op":"alloc","id":3,"size":512}`},
		{Event{Op: OpAlloc, ID: 3, Size: 512, Stream: -2, Tag: abi.TagGradient}, `{"op":"alloc","id":3,"size":512,"stream":-2,"tag":"gradient"}`},
		{Event{Op: OpAlloc, ID: 0, Size: 1, Tag: custom}, `{"op":"alloc","id":0,"size":1,"tag":"a\"b\\c\u000a"}`},
		{Event{Op: OpFree, ID: 9}, `{"op":"free","id":9}`},
		{Event{Op: OpEmptyCache}, `{"op":"empty_cache"}`},
		{Event{Op: OpAlloc, ID: 4, Size: 512, Stream: 2, Tag: abi.TagWeight, Pool: 3}, `{"op":"alloc","id":4,"size":512,"stream":2,"tag":"weight","pool":3}`},
		{Event{Op: OpAlloc, ID: 4, Size: 512, Pool: 0}, `{"op":"alloc","id":4,"size":512}`},
		{Event{Op: OpFreeRequested, ID: 4}, `{"op":"free_requested","id":4}`},
		{Event{Op: OpReleasePool, Pool: 3}, `{"op":"release_pool","pool":3}`},
		{Event{Op: OpEmptyCache, Pool: 3}, `{"op":"empty_cache","pool":3}`},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		w := NewJSONLWriter(&buf)
		if err := w.Write(tt.e, tags); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if got := buf.String(); got != tt.want+"\n" {
			t.Errorf("Write(%v) wrote %s, want %s", tt.e, got, tt.want)
		}
	}
}

func TestJSONLWriterRefuses(t *testing.T) {
	bad := []Event{
		{Op: OpAlloc, ID: -1, Size: 512},
		{Op: OpAlloc, ID: 1, Size: 0},
		{Op: OpAlloc, ID: 1, Size: 512, Tag: abi.FirstCustomTag},
		{Op: 7},
	}
	w := NewJSONLWriter(io.Discard)
	for _, e := range bad {
		if err := w.Write(e, nil); err == nil {
			t.Errorf("Write(%v) succeeded, want an error", e)
		}
	}
	for _, tc := range []struct {
		e    Event
		want string
	}{
		{Event{Op: OpAlloc, ID: 1, Size: 512, Pool: -1}, "trace: cannot write alloc of id 1: pool -1: a pool must be a non-negative integer (0 is the default pool, private pools are 1 and up)"},
		{Event{Op: OpReleasePool}, "trace: cannot write release_pool of pool 0: expected a private pool id, an integer of 1 or more (0 is the default pool, which is never released)"},
		{Event{Op: OpReleasePool, Pool: -2}, "trace: cannot write release_pool of pool -2: expected a private pool id, an integer of 1 or more (0 is the default pool, which is never released)"},
		{Event{Op: OpFreeRequested, ID: -1}, "trace: cannot write free_requested of id -1: ids must be non-negative"},
		{Event{Op: OpEmptyCache, Pool: -1}, "trace: cannot write empty_cache of pool -1: a pool must be a non-negative integer (0 or none empties the whole cache, 1 and up only that private pool)"},
	} {
		if err := w.Write(tc.e, nil); err == nil || err.Error() != tc.want {
			t.Errorf("Write(%v): error %v, want %q", tc.e, err, tc.want)
		}
	}
	if err := w.Write(Event{Op: OpAlloc, ID: 1, Size: 512, Tag: abi.TagWeight}, nil); err != nil {
		t.Errorf("well-known tag with nil registry: %v", err)
	}
}

func TestJSONLRoundTrip(t *testing.T) {
	tags := NewTags()
	tags.ID("moe_router")
	tags.ID("lora")
	var events []Event
	for i := range int64(200) {
		events = append(events, Event{Op: OpAlloc, ID: i, Size: 512 * (i + 1), Stream: i % 3, Tag: int32(i % 7)})
		if i%10 == 9 {
			events = append(events, Event{Op: OpAlloc, ID: 1000 + i, Size: 1 << 40, Tag: abi.FirstCustomTag + int32(i/10%2)})
			events = append(events, Event{Op: OpFree, ID: 1000 + i})
			events = append(events, Event{Op: OpEmptyCache})
		}
	}
	for i := range int64(200) {
		events = append(events, Event{Op: OpFree, ID: i})
	}
	var buf bytes.Buffer
	w := NewJSONLWriter(&buf)
	for _, e := range events {
		if err := w.Write(e, tags); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r := NewJSONLReader(&buf, "")
	got := readAll(t, r)
	if !reflect.DeepEqual(got, events) {
		t.Fatalf("round trip changed the events")
	}
	for _, id := range []int32{abi.FirstCustomTag, abi.FirstCustomTag + 1} {
		want, _ := tags.Name(id)
		if name, _ := r.Tags().Name(id); name != want {
			t.Errorf("tag %d read back as %q, want %q", id, name, want)
		}
	}
	if r.Live() != 0 {
		t.Errorf("Live() = %d after freeing everything", r.Live())
	}
}

// genTrace produces n events of alloc/free interleaved on the fly, keeping
// at most window allocations live: alloc i, then free i-window+1. Ids wrap
// around so that they are reused after their free.
type genTrace struct {
	n, window, i int
	buf          []byte
}

func (g *genTrace) Read(p []byte) (int, error) {
	for len(g.buf) < len(p) && g.i < g.n {
		k := g.i / 2
		if g.i%2 == 0 {
			g.buf = fmt.Appendf(g.buf, `{"op":"alloc","id":%d,"size":%d,"tag":"t%d"}`+"\n", k%(2*g.window), 512*(k%97+1), k%5)
		} else if k >= g.window-1 {
			g.buf = fmt.Appendf(g.buf, `{"op":"free","id":%d}`+"\n", (k-g.window+1)%(2*g.window))
		} else {
			g.buf = append(g.buf, "\n"...) // blank line while the window fills
		}
		g.i++
	}
	if len(g.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, g.buf)
	g.buf = g.buf[:copy(g.buf, g.buf[n:])]
	return n, nil
}

func TestJSONLReaderMillionEvents(t *testing.T) {
	const n, window = 1_000_000, 1000
	r := NewJSONLReader(&genTrace{n: n, window: window}, "gen")
	events, maxLive := 0, 0
	eachEvent(t, r, func(Event) {
		events++
		maxLive = max(maxLive, r.Live())
	})
	if want := n - (window - 1); events != want {
		t.Errorf("read %d events, want %d", events, want)
	}
	if maxLive != window || r.live.len() > window {
		t.Errorf("live allocations peaked at %d (now %d), want %d", maxLive, r.live.len(), window)
	}
	if r.line != n {
		t.Errorf("read %d lines, want %d", r.line, n)
	}
}

func TestJSONLReaderShrinksLiveMap(t *testing.T) {
	const n = 20000
	var buf bytes.Buffer
	w := NewJSONLWriter(&buf)
	for i := range int64(n) {
		w.Write(Event{Op: OpAlloc, ID: i, Size: 512}, nil)
	}
	for i := range int64(n - 10) {
		w.Write(Event{Op: OpFree, ID: i}, nil)
	}
	w.Flush()
	r := NewJSONLReader(&buf, "")
	readAll(t, r)
	if r.Live() != 10 || r.live.peak > n/8 {
		t.Errorf("Live() = %d, peak = %d: the live map was not rebuilt", r.Live(), r.live.peak)
	}

	// Pending ids stay in the map until their free, then it shrinks too.
	buf.Reset()
	for i := range int64(n) {
		w.Write(Event{Op: OpAlloc, ID: i, Size: 512}, nil)
		w.Write(Event{Op: OpFreeRequested, ID: i}, nil)
	}
	for i := range int64(n - 10) {
		w.Write(Event{Op: OpFree, ID: i}, nil)
	}
	w.Flush()
	r = NewJSONLReader(&buf, "")
	readAll(t, r)
	if r.Live() != 10 || r.live.peak > n/8 {
		t.Errorf("pending: Live() = %d, peak = %d: the live map was not rebuilt", r.Live(), r.live.peak)
	}
}

func TestExampleTraces(t *testing.T) {
	tests := []struct {
		file  string
		sizes []int64 // sizes of the allocs, in order
	}{
		{"devlog-small-then-large.jsonl", []int64{16 << 20, 16 << 20, 16 << 20, 16 << 20, 16 << 20, 16 << 20, 16 << 20, 16 << 20, 32 << 20, 32 << 20, 32 << 20, 32 << 20}},
		{"devlog-large-then-small.jsonl", []int64{32 << 20, 32 << 20, 32 << 20, 32 << 20, 16 << 20, 16 << 20, 16 << 20, 16 << 20, 16 << 20, 16 << 20, 16 << 20, 16 << 20}},
	}
	for _, tt := range tests {
		r, c, err := Open(filepath.Join("..", "examples", "traces", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		var sizes []int64
		for _, e := range readAll(t, r) {
			if e.Op == OpAlloc {
				sizes = append(sizes, e.Size)
				if e.Tag != abi.TagActivation {
					t.Errorf("%s: id %d has tag %d, want activation", tt.file, e.ID, e.Tag)
				}
			}
		}
		c.Close()
		if !reflect.DeepEqual(sizes, tt.sizes) {
			t.Errorf("%s: alloc sizes %v, want %v", tt.file, sizes, tt.sizes)
		}
		if r.(*JSONLReader).Live() != 0 {
			t.Errorf("%s: allocations left live", tt.file)
		}
	}
}

// A read error is reported at the line it stopped, even in the middle of
// one: the part read is not parsed as a line of its own.
func TestJSONLReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name, before, want string
	}{
		{"between lines", `{"op":"empty_cache"}` + "\n", "x.jsonl: reading line 2: boom"},
		{"in a line", `{"op":"empty_cache"}` + "\n" + `{"op":"emp`, "x.jsonl: reading line 2: boom"},
		{"after blank lines", "\n\n", "x.jsonl: reading line 3: boom"},
		{"in the first line", `{"op"`, "x.jsonl: reading line 1: boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewJSONLReader(io.MultiReader(strings.NewReader(tc.before), iotest.ErrReader(boom)), "x.jsonl")
			var err error
			for err == nil {
				_, err = r.Next()
			}
			if !errors.Is(err, boom) || err.Error() != tc.want {
				t.Errorf("error %v, want %s", err, tc.want)
			}
		})
	}
}

// A line without a newline at the end of the input is still a line.
func TestJSONLReaderNoFinalNewline(t *testing.T) {
	r := NewJSONLReader(strings.NewReader(`{"op":"empty_cache"}`+"\n"+`{"op":"empty_cache"}`), "x.jsonl")
	if got := readAll(t, r); len(got) != 2 {
		t.Errorf("read %v, want two empty_cache events", got)
	}
}

func TestJSONLReaderCRLF(t *testing.T) {
	in := "{\"op\":\"alloc\",\"id\":1,\"size\":512}\r\n\r\n{\"op\":\"free\",\"id\":1}\r\n"
	r := NewJSONLReader(strings.NewReader(in), "")
	got := readAll(t, r)
	want := []Event{{Op: OpAlloc, ID: 1, Size: 512}, {Op: OpFree, ID: 1}}
	if !reflect.DeepEqual(got, want) || r.Line() != 3 {
		t.Errorf("read %v ending at line %d, want %v ending at line 3", got, r.Line(), want)
	}
}
