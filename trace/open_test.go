package trace

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestOpen(t *testing.T) {
	for _, path := range []string{"testdata/valid.jsonl", "testdata/valid.jsonl.gz"} {
		r, c, err := Open(path)
		if err != nil {
			t.Fatalf("Open(%s): %v", path, err)
		}
		if got := readAll(t, r); !reflect.DeepEqual(got, validEvents) {
			t.Errorf("Open(%s) read %v, want %v", path, got, validEvents)
		}
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notGzip := filepath.Join(dir, "plain.jsonl.gz")
	if err := os.WriteFile(notGzip, []byte(`{"op":"empty_cache"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ path, want string }{
		{"trace.xyz", "unsupported trace format .xyz: expected .csv, .csv.gz, .fltr, .fltr.gz, .jsonl or .jsonl.gz"},
		{"trace.xyz.gz", "unsupported trace format .xyz.gz: expected .csv, .csv.gz, .fltr, .fltr.gz, .jsonl or .jsonl.gz"},
		{"trace", "unsupported trace format (no extension): expected .csv, .csv.gz, .fltr, .fltr.gz, .jsonl or .jsonl.gz"},
		{filepath.Join(dir, "missing.jsonl"), "no such file"},
		{notGzip, "not a gzip file"},
	}
	for _, tt := range tests {
		_, _, err := Open(tt.path)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%s) error %v, want %q", tt.path, err, tt.want)
		}
		if unsupported := strings.HasPrefix(tt.want, "unsupported"); errors.Is(err, ErrUnsupportedFormat) != unsupported {
			t.Errorf("Open(%s): errors.Is(%v, ErrUnsupportedFormat) = %t, want %t", tt.path, err, !unsupported, unsupported)
		}
	}
}

func TestRegister(t *testing.T) {
	called := ""
	Register(".test.csv", func(r io.Reader, file string) (Reader, error) {
		called = file
		return NewJSONLReader(strings.NewReader(`{"op":"empty_cache"}`), file), nil
	})
	t.Cleanup(func() {
		formatsMu.Lock()
		delete(formats, ".test.csv")
		formatsMu.Unlock()
	})
	path := filepath.Join(t.TempDir(), "X.Test.CSV")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r, c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if called != path {
		t.Errorf("registered open got file %q, want %q", called, path)
	}
	if e, err := r.Next(); err != nil || e.Op != OpEmptyCache {
		t.Errorf("Next = %v, %v", e, err)
	}
	_, _, err = Open("trace.xyz")
	if want := "expected .csv, .csv.gz, .fltr, .fltr.gz, .jsonl, .jsonl.gz, .test.csv or .test.csv.gz"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want %q", err, want)
	}
	for _, bad := range []string{"csv", ".jsonl", ".x.gz", "."} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", bad)
				}
			}()
			Register(bad, func(io.Reader, string) (Reader, error) { return nil, nil })
		}()
	}
}

// A damaged .gz trace of any format is an error naming the file, where
// reading stopped and what is wrong with the gzip stream.
func TestOpenDamagedGzip(t *testing.T) {
	jsonl, err := os.ReadFile("testdata/valid.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	csv, err := os.ReadFile("testdata/rmm/valid.csv")
	if err != nil {
		t.Fatal(err)
	}
	bin, _ := jsonlToBinaryToJSONL(t, jsonl)
	formats := []struct {
		ext   string
		data  []byte
		where string // how the error says where reading stopped
	}{
		{".jsonl", jsonl, "reading line "},
		{".fltr", bin, "reading byte "},
		{".csv", csv, "reading line "},
	}
	damages := []struct {
		name   string
		damage func(gz []byte) []byte
		want   string
		is     error // the gzip error it unwraps to; nil: none
		where  bool  // the error says where reading stopped
	}{
		{"truncated", func(gz []byte) []byte { return gz[:len(gz)-12] },
			"truncated gzip stream: the file ends before its compressed data does", io.ErrUnexpectedEOF, true},
		{"bad checksum", func(gz []byte) []byte { gz[len(gz)-8] ^= 0xff; return gz },
			"corrupt gzip stream: the checksum or length recorded in it does not match the data", gzip.ErrChecksum, true},
		{"trailing garbage", func(gz []byte) []byte { return append(gz, "this is not gzip data"...) },
			"corrupt gzip stream: the compressed data is followed by bytes that are not gzip", gzip.ErrHeader, true},
		{"cut in the header", func(gz []byte) []byte { return gz[:5] },
			"reading the gzip header: truncated gzip stream", io.ErrUnexpectedEOF, false},
		{"empty", func([]byte) []byte { return nil }, "not a gzip file: the file is empty", nil, false},
	}
	dir := t.TempDir()
	for _, f := range formats {
		for _, d := range damages {
			t.Run(f.ext+"/"+d.name, func(t *testing.T) {
				path := filepath.Join(dir, strings.ReplaceAll(d.name, " ", "-")+f.ext+".gz")
				if err := os.WriteFile(path, d.damage(gzipped(t, f.data)), 0o644); err != nil {
					t.Fatal(err)
				}
				err := openAndRead(path)
				if err == nil || !strings.Contains(err.Error(), d.want) {
					t.Fatalf("error %v, want one containing %q", err, d.want)
				}
				if d.where && !strings.HasPrefix(err.Error(), path+": "+f.where) {
					t.Errorf("error %q does not start with %q", err, path+": "+f.where)
				}
				if !strings.HasPrefix(err.Error(), path+": ") || strings.Count(err.Error(), path) != 1 {
					t.Errorf("error %q does not name %s once, first", err, path)
				}
				if d.is != nil && !errors.Is(err, d.is) {
					t.Errorf("errors.Is(%v, %v) = false", err, d.is)
				}
			})
		}
	}
}

// gzipped compresses data.
func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	if _, err := z.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// openAndRead opens the trace at path and reads it to the end, returning
// the first error.
func openAndRead(path string) error {
	r, c, err := Open(path)
	if err != nil {
		return err
	}
	defer c.Close()
	for {
		if _, err := r.Next(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// OpenTracked reads what Open reads and says how much of the file it has
// read: all of it at the end.
func TestOpenTracked(t *testing.T) {
	for _, path := range []string{"testdata/valid.jsonl", "testdata/valid.jsonl.gz"} {
		r, c, read, err := OpenTracked(path)
		if err != nil {
			t.Fatalf("OpenTracked(%s): %v", path, err)
		}
		if got := readAll(t, r); !reflect.DeepEqual(got, validEvents) {
			t.Errorf("OpenTracked(%s) read %v, want %v", path, got, validEvents)
		}
		if f := read(); f != 1 {
			t.Errorf("OpenTracked(%s): read %v at the end, want 1", path, f)
		}
		c.Close()
	}
	if _, _, _, err := OpenTracked("testdata/valid.txt"); !errors.Is(err, ErrUnsupportedFormat) {
		t.Errorf("OpenTracked of a .txt: %v", err)
	}
	// Part of a big file: the fraction is the bytes read so far.
	path := filepath.Join(t.TempDir(), "big.jsonl")
	var b strings.Builder
	for i := range 20000 {
		b.WriteString(`{"op":"alloc","id":` + strconv.Itoa(i+1) + `,"size":512}` + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	r, c, read, err := OpenTracked(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 10 {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if f := read(); f <= 0 || f >= 0.5 {
		t.Errorf("after 10 of 20000 events read %v, want a small part", f)
	}
}
