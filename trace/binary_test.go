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
		{"bad-version.fltr", "byte 7: binary trace version 2: this fraglab reads version 1"},
		{"truncated.fltr", "byte 10: truncated file: expected a record"},
		{"truncated-varint.fltr", "byte 9: truncated file: expected an alloc size"},
		{"free-unknown.fltr", "byte 8: free of unknown id 0: no live allocation has this id"},
		{"unknown-record.fltr", "byte 8: unknown record type 0x40"},
		{"end-count.fltr", "byte 9: end record counts 5 events, but the file holds 1"},
		{"trailing.fltr", "byte 10: data after the end record"},
		{"undefined-tag.fltr", "byte 8: alloc of id 0: tag id 16 is used before its definition"},
		{"alloc-live.fltr", "byte 10: alloc of id 0, which is still live (allocated at byte 8)"},
		{"size-zero.fltr", "byte 8: alloc of id 0: size 0: size must be a positive integer of bytes"},
	})
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
	data, err := os.ReadFile("testdata/valid.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	bin, _ := jsonlToBinaryToJSONL(t, data)
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
