package trace

import (
	"bytes"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

const rmmStream = 0x55d0c0a1b2c0

// rmmValidEvents are the events of testdata/rmm/valid.csv.
var rmmValidEvents = []Event{
	{Op: OpAlloc, ID: 0, Size: 1048576},
	{Op: OpAlloc, ID: 1, Size: 4096},
	{Op: OpAlloc, ID: 2, Size: 20971520, Stream: rmmStream},
	{Op: OpFree, ID: 0},
	{Op: OpAlloc, ID: 3, Size: 512}, // the pointer of id 0, reused
	{Op: OpFree, ID: 2},
	{Op: OpFree, ID: 1},
}

var rmmValidFailures = []RMMFailure{
	{Event: 4, Line: 6, Thread: 140336, Time: "10:15:02.000260", Size: 85899345920, Stream: rmmStream},
	{Event: 7, Line: 10, Thread: 140335, Time: "10:15:02.000450", Size: 1000},
}

// readRMM reads every event of an RMM log with its record.
func readRMM(t *testing.T, data []byte, file string) ([]Event, []RMMRecord, *RMMReader) {
	t.Helper()
	r, err := NewRMMReader(bytes.NewReader(data), file)
	if err != nil {
		t.Fatal(err)
	}
	var events []Event
	var recs []RMMRecord
	eachEvent(t, r, func(e Event) {
		events = append(events, e)
		recs = append(recs, r.Record())
	})
	return events, recs, r
}

func TestRMMReaderValid(t *testing.T) {
	r, c, err := Open("testdata/rmm/valid.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := readAll(t, r); !reflect.DeepEqual(got, rmmValidEvents) {
		t.Errorf("events\n%v\nwant\n%v", got, rmmValidEvents)
	}
	rr := r.(*RMMReader)
	if got := rr.Failures(); !reflect.DeepEqual(got, rmmValidFailures) {
		t.Errorf("failures\n%+v\nwant\n%+v", got, rmmValidFailures)
	}
	if got, want := rr.Threads(), map[uint64]int64{140335: 6, 140336: 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("threads %v, want %v", got, want)
	}
}

// writeRMM writes events with their records (nil: made up) and the
// failures at their event indices.
func writeRMM(t *testing.T, events []Event, recs []RMMRecord, failures []RMMFailure) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewRMMWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	k := 0
	for i, e := range events {
		for ; k < len(failures) && failures[k].Event == int64(i); k++ {
			if err := w.WriteFailure(failures[k]); err != nil {
				t.Fatal(err)
			}
		}
		var rec RMMRecord
		if recs != nil {
			rec = recs[i]
		}
		if err := w.WriteRecord(e, rec); err != nil {
			t.Fatal(err)
		}
	}
	for ; k < len(failures); k++ {
		if err := w.WriteFailure(failures[k]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRMMRoundTrip(t *testing.T) {
	data, err := os.ReadFile("testdata/rmm/valid.csv")
	if err != nil {
		t.Fatal(err)
	}
	events, recs, r := readRMM(t, data, "valid.csv")
	out := writeRMM(t, events, recs, r.Failures())
	events2, recs2, r2 := readRMM(t, out, "out.csv")
	if !reflect.DeepEqual(events2, events) || !reflect.DeepEqual(recs2, recs) || !reflect.DeepEqual(r2.Failures(), r.Failures()) {
		t.Errorf("import -> export -> import changed the log:\n%s", out)
	}
	if again := writeRMM(t, events2, recs2, r2.Failures()); !bytes.Equal(again, out) {
		t.Errorf("export is not stable:\n%s\nthen\n%s", out, again)
	}
	// The writer's own form: hex without 0x, as RMM's printf logger.
	if want := "140336,10:15:02.000190,allocate,7f1c2b000000,20971520,55d0c0a1b2c0\n"; !strings.Contains(string(out), want) {
		t.Errorf("export lacks the line %q:\n%s", want, out)
	}
}

func TestRMMWriterMadeUpFields(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewRMMWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	tags := NewTags()
	events := []Event{
		{Op: OpAlloc, ID: 5, Size: 1000, Tag: tags.ID("activation")},
		{Op: OpAlloc, ID: 6, Size: 512, Stream: 2},
		{Op: OpEmptyCache},
		{Op: OpFree, ID: 5},
		{Op: OpAlloc, ID: 5, Size: 1},
	}
	for _, e := range events {
		if err := w.Write(e, tags); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := RMMHeader + "\n" +
		"0,00:00:00.000000,allocate,7f0000000000,1000,0\n" +
		"0,00:00:00.000001,allocate,7f0000000400,512,2\n" +
		"0,00:00:00.000002,free,7f0000000000,1000,0\n" +
		"0,00:00:00.000003,allocate,7f0000000600,1,0\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
	if got := strings.Join(w.Dropped(), "; "); got != "1 empty_cache events (RMM logs have no such action); the tags of 1 allocations (RMM logs have no tags)" {
		t.Errorf("Dropped() = %q", got)
	}
	got, _, _ := readRMM(t, buf.Bytes(), "made-up.csv")
	want2 := []Event{{Op: OpAlloc, ID: 0, Size: 1000}, {Op: OpAlloc, ID: 1, Size: 512, Stream: 2}, {Op: OpFree, ID: 0}, {Op: OpAlloc, ID: 2, Size: 1}}
	if !reflect.DeepEqual(got, want2) {
		t.Errorf("read back %v, want %v", got, want2)
	}
}

func TestRMMErrors(t *testing.T) {
	checkFileErrors(t, "rmm", ":", []fileError{
		{"empty.csv", `:1: empty file: expected the RMM log header "Thread,Time,Action,Pointer,Size,Stream"`},
		{"bad-header.csv", `:1: expected the RMM log header "Thread,Time,Action,Pointer,Size,Stream", got "Thread,Time,Action,Size,Stream"`},
		{"bad-pointer.csv", `:2: Pointer "0xZZ": expected a hexadecimal address`},
		{"free-unknown.csv", ":3: free of pointer 0x200, which is not live (never allocated, or already freed)"},
		{"double-allocate.csv", ":3: allocate of pointer 0x100, which is still live (allocated at line 2 and not freed since)"},
		{"free-size.csv", ":3: free of pointer 0x100 with size 1024, but it was allocated with size 512 at line 2"},
		{"bad-action.csv", `:3: unknown Action "realloc": expected "allocate", "free" or "allocate failure"`},
		{"truncated-line.csv", ":2: expected 6 comma-separated fields (Thread,Time,Action,Pointer,Size,Stream), got 5"},
		{"bad-time.csv", `:2: Time "noon": expected HH:MM:SS.ffffff`},
		{"bad-size.csv", `:2: Size "-5": expected a decimal number of bytes`},
		{"bad-stream.csv", `:2: Stream "stream7": expected a hexadecimal stream handle`},
		{"bad-thread.csv", `:2: Thread "main": expected a decimal thread id`},
	})
}

// A read error is reported where it stopped, even inside the header or a
// line: the part read is not parsed.
func TestRMMReadError(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name, before, want string
	}{
		{"in the header", "Thread,Time,Ac", "x.csv: reading the header: boom"},
		{"after the header", RMMHeader + "\n", "x.csv: reading line 2: boom"},
		{"in a line", RMMHeader + "\n1,08:00:00.000000,allocate,0x1", "x.csv: reading line 2: boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRMMReader(io.MultiReader(strings.NewReader(tc.before), iotest.ErrReader(boom)), "x.csv")
			for err == nil {
				_, err = r.Next()
			}
			if !errors.Is(err, boom) || err.Error() != tc.want {
				t.Errorf("error %v, want %s", err, tc.want)
			}
		})
	}
}
