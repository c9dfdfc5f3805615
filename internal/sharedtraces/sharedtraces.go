// Package sharedtraces finds, for tests, the real PyTorch memory snapshots
// that live outside the repository, in ../shared/traces/pytorch from the
// repository root, and skips a test, with one clear message, when they are
// absent. It is test support: only _test.go files import it.
package sharedtraces

import (
	"os"
	"path/filepath"
	"testing"
)

// Rel is where the snapshots are, relative to the repository root.
const Rel = "../shared/traces/pytorch"

// skipMsg is the message of every skip for want of the snapshots.
const skipMsg = "no PyTorch snapshots (*.pickle) in " + Rel + " (the real PyTorch snapshots live outside the repository): skipping"

// Lookup returns the folder of the snapshots, found from the working
// directory (a test runs in its package's folder), or "" when it is absent.
func Lookup() string {
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	return find(wd)
}

// Dir returns the folder of the snapshots, or skips t when it is absent.
func Dir(t testing.TB) string {
	t.Helper()
	dir := Lookup()
	if dir == "" {
		t.Skip(skipMsg)
	}
	return dir
}

// Files returns the snapshots (*.pickle) in Dir, sorted, or skips t when
// there are none.
func Files(t testing.TB) []string {
	t.Helper()
	files := pickles(Lookup())
	if len(files) == 0 {
		t.Skip(skipMsg)
	}
	return files
}

// find walks up from dir to the repository root (the folder holding
// go.mod) and returns its Rel folder, or "" when there is no root or no
// such folder.
func find(dir string) string {
	for {
		if st, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !st.IsDir() {
			shared := filepath.Join(dir, filepath.FromSlash(Rel))
			if st, err := os.Stat(shared); err == nil && st.IsDir() {
				return shared
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// pickles lists the *.pickle files of dir (none when dir is "").
func pickles(dir string) []string {
	if dir == "" {
		return nil
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.pickle")) // the pattern is valid
	return files
}
