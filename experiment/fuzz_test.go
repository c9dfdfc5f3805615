package experiment

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: any experiment file gives an experiment or an error naming a
// line, never a panic. Relative paths resolve against testdata/errors, so
// the corpus's traces and policies exist.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	more, _ := filepath.Glob("testdata/errors/*.yaml")
	for _, name := range append(files, more...) {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Parse(data, filepath.Join("testdata", "errors", "fuzz.yaml"))
		if err == nil {
			e.Runs()
		}
	})
}
