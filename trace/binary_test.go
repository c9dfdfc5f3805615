package trace

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// jsonlToBinaryToJSONL converts JSONL to binary and back, returning both.
func jsonlToBinaryToJSONL(t testing.TB, jsonl []byte) (bin, back []byte) {
	t.Helper()
	var b bytes.Buffer
	bw, err := NewBinaryWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	r := NewJSONLReader(bytes.NewReader(jsonl), "in.jsonl")
	copyEvents(t, r, bw.Write)
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	var j bytes.Buffer
	jw := NewJSONLWriter(&j)
	br, err := NewBinaryReader(bytes.NewReader(b.Bytes()), "mid.fltr")
	if err != nil {
		t.Fatal(err)
	}
	copyEvents(t, br, jw.Write)
	if err := jw.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), j.Bytes()
}

// copyEvents writes every event of r with write and returns how many; it
// fails t when reading or writing fails.
func copyEvents(t testing.TB, r Reader, write func(Event, *Tags) error) int {
	t.Helper()
	n := 0
	eachEvent(t, r, func(e Event) {
		if err := write(e, r.Tags()); err != nil {
			t.Fatal(err)
		}
		n++
	})
	return n
}

func TestBinaryRoundTripValid(t *testing.T) {
	data, err := os.ReadFile("testdata/valid.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	// The writer's canonical form of valid.jsonl.
	var canon bytes.Buffer
	w := NewJSONLWriter(&canon)
	copyEvents(t, NewJSONLReader(bytes.NewReader(data), "valid.jsonl"), w.Write)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	bin, back := jsonlToBinaryToJSONL(t, canon.Bytes())
	if !bytes.Equal(back, canon.Bytes()) {
		t.Errorf("JSONL -> binary -> JSONL differs:\n%s\nwant\n%s", back, canon.Bytes())
	}
	br, err := NewBinaryReader(bytes.NewReader(bin), "valid.fltr")
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, br); !reflect.DeepEqual(got, validEvents) {
		t.Errorf("binary events %v, want %v", got, validEvents)
	}
}

func TestBinaryErrors(t *testing.T) {
	checkFileErrors(t, "binary", ": ", []fileError{
		{"bad-magic.fltr", `byte 0: not a fraglab binary trace: expected the header "FLTRACE"`},
		{"short.fltr", `byte 0: not a fraglab binary trace`},
		{"bad-version.fltr", "byte 7: binary trace version 3: this fraglab reads versions 1 and 2"},
		{"truncated.fltr", "byte 10: truncated file: expected a record"},
		{"truncated-varint.fltr", "byte 9: truncated file: expected an alloc size"},
		{"free-unknown.fltr", "byte 8: free of unknown id 0: no live allocation has this id"},
		{"unknown-record.fltr", "byte 8: unknown record type 0x40"},
		{"end-count.fltr", "byte 9: end record counts 5 events, but the file holds 1"},
		{"trailing.fltr", "byte 10: data after the end record"},
		{"undefined-tag.fltr", "byte 8: alloc of id 0: tag id 16 is used before its definition"},
		{"alloc-live.fltr", "byte 10: alloc of id 0, which is still live (allocated at byte 8)"},
		{"size-zero.fltr", "byte 8: alloc of id 0: size 0: size must be a positive integer of bytes"},
		// Version 2: private pools and frees that wait for other streams.
		{"free-requested-unknown.fltr", "byte 8: free_requested of unknown id 0: no live allocation has this id"},
		{"free-requested-twice.fltr", "byte 11: free_requested of id 0, whose free was already requested at byte 10"},
		{"alloc-pending.fltr", "byte 11: alloc of id 0, whose free was requested at byte 10 but has not completed: the id is live until its free"},
		{"release-pool-zero.fltr", "byte 8: release_pool of pool 0: expected a private pool id, an integer of 1 or more (0 is the default pool, which is never released)"},
		{"pool-truncated.fltr", "byte 10: truncated file: expected a pool"},
		{"unknown-record-v2.fltr", "byte 8: unknown record type 0x80: expected alloc, free, free_requested, empty_cache, release_pool, tag or end"},
		{"empty-cache-pool-zero.fltr", "byte 8: empty_cache of pool 0: expected a private pool id, an integer of 1 or more (the whole-cache empty_cache is the record 0x02)"},
		{"empty-cache-pool-truncated.fltr", "byte 9: truncated file: expected an empty_cache pool"},
		// Version 1 has none of them.
		{"v1-pool.fltr", "byte 8: unknown record type 0x70: expected alloc, free, empty_cache, tag or end (version 1 has no pools or free_requested)"},
		{"v1-release-pool.fltr", "byte 8: unknown record type 0x06: expected alloc, free, empty_cache, tag or end (version 1 has no pools or free_requested)"},
		{"v1-free-requested.fltr", "byte 10: unknown record type 0x31: expected alloc, free, empty_cache, tag or end (version 1 has no pools or free_requested)"},
		{"v1-empty-cache-pool.fltr", "byte 8: unknown record type 0x42: expected alloc, free, empty_cache, tag or end (version 1 has no pools or free_requested)"},
	})
}

// TestBinaryVersion1 reads valid-v1.fltr, which the version 1 writer made
// of valid.jsonl: it holds valid.jsonl's events, and today's writer writes
// the same records under version 2.
func TestBinaryVersion1(t *testing.T) {
	v1, err := os.ReadFile("testdata/binary/valid-v1.fltr")
	if err != nil {
		t.Fatal(err)
	}
	br, err := NewBinaryReader(bytes.NewReader(v1), "valid-v1.fltr")
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, br); !reflect.DeepEqual(got, validEvents) {
		t.Errorf("version 1 events %v, want %v", got, validEvents)
	}
	data, err := os.ReadFile("testdata/valid.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	v2, _ := jsonlToBinaryToJSONL(t, data)
	if v2[len(BinaryMagic)] != 2 {
		t.Errorf("the writer writes version %d, want 2", v2[len(BinaryMagic)])
	}
	v2[len(BinaryMagic)] = 1
	if !bytes.Equal(v2, v1) {
		t.Errorf("today's records differ from version 1's:\n%x\nwant\n%x", v2, v1)
	}
}

// TestBinaryPools: private pools, free_requested and release_pool go
// through binary and back to the same JSONL, and read as the same events.
func TestBinaryPools(t *testing.T) {
	data, err := os.ReadFile("testdata/pools.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var canon bytes.Buffer
	w := NewJSONLWriter(&canon)
	copyEvents(t, NewJSONLReader(bytes.NewReader(data), "pools.jsonl"), w.Write)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	bin, back := jsonlToBinaryToJSONL(t, canon.Bytes())
	if !bytes.Equal(back, canon.Bytes()) {
		t.Errorf("JSONL -> binary -> JSONL differs:\n%s\nwant\n%s", back, canon.Bytes())
	}
	br, err := NewBinaryReader(bytes.NewReader(bin), "pools.fltr")
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, br); !reflect.DeepEqual(got, poolEvents) {
		t.Errorf("binary events %v, want %v", got, poolEvents)
	}
	// The committed pools.fltr is what the writer makes of pools.jsonl.
	file, err := os.ReadFile("testdata/binary/pools.fltr")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(file, bin) {
		t.Errorf("testdata/binary/pools.fltr is\n%x\nthe writer writes\n%x", file, bin)
	}
}

func TestBinaryWriterRefuses(t *testing.T) {
	for _, tc := range []struct {
		e    Event
		want string
	}{
		{Event{Op: OpAlloc, ID: 1, Size: 512, Pool: -1}, "trace: cannot write alloc of id 1: pool -1: a pool must be a non-negative integer (0 is the default pool, private pools are 1 and up)"},
		{Event{Op: OpReleasePool}, "trace: cannot write release_pool of pool 0: expected a private pool id, an integer of 1 or more (0 is the default pool, which is never released)"},
		{Event{Op: OpFreeRequested, ID: -1}, "trace: cannot write free_requested of id -1: ids must be non-negative"},
		{Event{Op: OpEmptyCache, Pool: -1}, "trace: cannot write empty_cache of pool -1: a pool must be a non-negative integer (0 or none empties the whole cache, 1 and up only that private pool)"},
	} {
		w, err := NewBinaryWriter(io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(tc.e, nil); err == nil || err.Error() != tc.want {
			t.Errorf("Write(%v): error %v, want %q", tc.e, err, tc.want)
		}
	}
}

// fileError is a file of testdata that a reader must refuse, and a part of
// the error it must give.
type fileError struct{ file, want string }

// checkFileErrors reads each file of testdata/dir and checks that it fails
// with an error that starts with the file's path and sep, and contains
// want.
func checkFileErrors(t *testing.T, dir, sep string, tests []fileError) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", dir, tt.file)
			err := readFile(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("reading %s: error %v, want it to contain %q", path, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), path+sep) {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
}

// readFile reads every event of the trace at path and returns the first
// error (nil at a clean end).
func readFile(path string) error {
	r, c, err := Open(path)
	if err != nil {
		return err
	}
	defer c.Close()
	for {
		_, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func TestBinaryTruncatedAnywhere(t *testing.T) {
	for _, name := range []string{"testdata/valid.jsonl", "testdata/pools.jsonl"} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		bin, _ := jsonlToBinaryToJSONL(t, data)
		checkTruncated(t, bin)
	}
}

// checkTruncated checks that every proper prefix of the binary trace bin
// fails with an error naming a byte offset.
func checkTruncated(t *testing.T, bin []byte) {
	t.Helper()
	for n := 0; n < len(bin); n++ {
		r, err := NewBinaryReader(bytes.NewReader(bin[:n]), "cut.fltr")
		if err == nil {
			for err == nil {
				_, err = r.Next()
			}
		}
		if err == io.EOF || err == nil {
			t.Fatalf("the first %d of %d bytes read without error", n, len(bin))
		}
		if !strings.Contains(err.Error(), "cut.fltr: byte ") {
			t.Errorf("cut at %d: error %q has no byte offset", n, err)
		}
	}
}
