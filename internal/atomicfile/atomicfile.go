// Package atomicfile writes files so that readers never see a partial one.
// Its errors name the file being written, not the temporary one.
package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Write writes b to path through a temporary file in the same directory,
// renamed into place, with mode 0644.
func Write(path string, b []byte) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}

// File is the output to path, written to a temporary file in the same
// directory until Commit renames it into place.
type File struct {
	tmp  *os.File
	path string
}

// Create starts writing path.
func Create(path string) (*File, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return nil, explain(path, err)
	}
	return &File{tmp: tmp, path: path}, nil
}

// Write writes b to the temporary file.
func (f *File) Write(b []byte) (int, error) {
	n, err := f.tmp.Write(b)
	if err != nil {
		err = explain(f.path, err)
	}
	return n, err
}

// Commit closes the temporary file and renames it to the path, with mode
// 0644. On an error the temporary file is removed and the path untouched.
func (f *File) Commit() error {
	err := f.tmp.Chmod(0o644)
	if cerr := f.tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.tmp.Name(), f.path)
	}
	if err != nil {
		os.Remove(f.tmp.Name())
		return explain(f.path, err)
	}
	return nil
}

// Abort closes and removes the temporary file, leaving the path untouched.
// It is a no-op after Commit.
func (f *File) Abort() {
	f.tmp.Close()
	os.Remove(f.tmp.Name())
}

// Error is a failed write of Path.
type Error struct {
	Path string
	Msg  string // what went wrong, without the temporary file's name
	Err  error  // the system's error
}

func (e *Error) Error() string { return "writing " + e.Path + ": " + e.Msg }

func (e *Error) Unwrap() error { return e.Err }

// explain makes err, which may name the temporary file, an *Error naming
// path and, where the directory is at fault, the directory.
func explain(path string, err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		err = pe.Err
	case errors.As(err, &le):
		err = le.Err
	}
	dir := filepath.Dir(path)
	msg := err.Error()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		msg = "directory " + dir + " does not exist"
	case errors.Is(err, syscall.ENOTDIR):
		msg = notDir(dir) + " is not a directory"
	case errors.Is(err, fs.ErrPermission):
		msg = "permission denied in directory " + dir
	case errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, fs.ErrExist):
		msg = path + " is a directory"
	}
	return &Error{Path: path, Msg: msg, Err: err}
}

// notDir returns the first of dir and its parents that exists: the file in
// the way of a directory.
func notDir(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || d == filepath.Dir(d) {
			return d
		}
	}
}
