package trace

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
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
