package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.json")
	if err := Write(p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("two")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	st, _ := os.Stat(p)
	if string(b) != "two" || st.Mode().Perm() != 0o644 {
		t.Errorf("content %q mode %v", b, st.Mode().Perm())
	}
	noTemporaries(t, filepath.Dir(p))
}

// A failed write names the path asked for and what is wrong with it, never
// the temporary file, and leaves no temporary file behind.
func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	full := filepath.Join(dir, "full")
	readOnly := filepath.Join(dir, "read-only")
	for _, d := range []string{filepath.Join(dir, "empty"), filepath.Join(full, "child"), readOnly} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(readOnly, 0o555); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
		is               error
		root             bool // the case holds when running as root
	}{
		{"missing directory", filepath.Join(dir, "missing", "o.jsonl"),
			"directory " + filepath.Join(dir, "missing") + " does not exist", fs.ErrNotExist, true},
		{"missing directories", filepath.Join(dir, "a", "b", "o.jsonl"),
			"directory " + filepath.Join(dir, "a", "b") + " does not exist", fs.ErrNotExist, true},
		{"file in the way", filepath.Join(file, "sub", "o.jsonl"), file + " is not a directory", nil, true},
		{"empty directory in the way", filepath.Join(dir, "empty"), filepath.Join(dir, "empty") + " is a directory", nil, true},
		{"directory in the way", full, full + " is a directory", nil, true},
		{"read-only directory", filepath.Join(readOnly, "o.jsonl"), "permission denied in directory " + readOnly, fs.ErrPermission, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.root && os.Geteuid() == 0 {
				t.Skip("root may write anywhere")
			}
			err := Write(tt.path, []byte("x"))
			want := "writing " + tt.path + ": " + tt.want
			if err == nil || err.Error() != want {
				t.Fatalf("error %v, want %s", err, want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			var e *Error
			if !errors.As(err, &e) || e.Path != tt.path {
				t.Errorf("error %#v is not an *Error for %s", err, tt.path)
			}
		})
	}
	noTemporaries(t, dir)
	noTemporaries(t, full)
}

// A streamed File commits into place, or aborts leaving nothing.
func TestFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "o.jsonl")
	f, err := Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("one\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists before Commit: %v", p, err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Abort() // a no-op after Commit
	if b, _ := os.ReadFile(p); string(b) != "one\n" {
		t.Errorf("content %q, want %q", b, "one\n")
	}
	f, err = Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("two\n"))
	f.Abort()
	if b, _ := os.ReadFile(p); string(b) != "one\n" {
		t.Errorf("after Abort: content %q, want %q", b, "one\n")
	}
	noTemporaries(t, dir)
}

// noTemporaries fails t when dir holds a temporary file.
func noTemporaries(t *testing.T, dir string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
