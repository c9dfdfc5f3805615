package sharedtraces

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// tree makes the given files (and their folders) under a fresh folder and
// returns it.
func tree(t *testing.T, files ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, f := range files {
		p := filepath.Join(root, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestFind(t *testing.T) {
	tests := []struct {
		name  string
		files []string
		from  string // folder the search starts in, under the tree
		want  string // expected folder under the tree; "" for none
		picks []string
	}{
		{"from the root", []string{"repo/go.mod", "shared/traces/pytorch/a.pickle"}, "repo", "shared/traces/pytorch", []string{"a.pickle"}},
		{"from a nested package", []string{"repo/go.mod", "repo/cmd/fraglab/x.go", "shared/traces/pytorch/b.pickle", "shared/traces/pytorch/a.pickle", "shared/traces/pytorch/notes.txt"}, "repo/cmd/fraglab", "shared/traces/pytorch", []string{"a.pickle", "b.pickle"}},
		{"folder without snapshots", []string{"repo/go.mod", "shared/traces/pytorch/notes.txt"}, "repo", "shared/traces/pytorch", nil},
		{"no shared folder", []string{"repo/go.mod", "repo/pkg/x.go"}, "repo/pkg", "", nil},
		{"the nearest go.mod decides", []string{"repo/go.mod", "repo/sub/go.mod", "shared/traces/pytorch/a.pickle"}, "repo/sub", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := tree(t, tc.files...)
			got := find(filepath.Join(root, filepath.FromSlash(tc.from)))
			want := ""
			if tc.want != "" {
				want = filepath.Join(root, "repo", filepath.FromSlash(Rel))
			}
			if got != want {
				t.Fatalf("find = %q, want %q", got, want)
			}
			var names []string
			for _, f := range pickles(got) {
				names = append(names, filepath.Base(f))
			}
			if !reflect.DeepEqual(names, tc.picks) {
				t.Errorf("pickles = %q, want %q", names, tc.picks)
			}
		})
	}
}

// TestSkip: Dir and Files skip, not fail, when the snapshots are absent.
func TestSkip(t *testing.T) {
	t.Chdir(filepath.Join(tree(t, "repo/go.mod", "repo/pkg/x.go"), "repo", "pkg"))
	for name, call := range map[string]func(t *testing.T){
		"Dir":   func(t *testing.T) { Dir(t) },
		"Files": func(t *testing.T) { Files(t) },
	} {
		t.Run(name, func(t *testing.T) {
			call(t)
			t.Error("did not skip")
		})
	}
}
