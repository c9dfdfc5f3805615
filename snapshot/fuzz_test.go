package snapshot

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/fraglab/fraglab/internal/sharedtraces"
)

// FuzzRead checks that no input makes Read panic or hang, that every error
// of Read is a *Error with a message, and that a snapshot Read accepts
// makes a workload or an error (never a panic) and writes a pickle that Read
// accepts again.
//
// Seeds: the fixtures this package generates, every pickle of testdata (the
// Python-written unsigned-*.pickle among them), a frame announcing 1 TiB,
// and the real snapshots of shared/traces/pytorch when they are there.
//
//	go test ./snapshot -run X -fuzz FuzzRead -fuzztime 60s
func FuzzRead(f *testing.F) {
	for _, data := range fixtures() {
		f.Add(data)
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.pickle")) // the pattern is valid
	if dir := sharedtraces.Lookup(); dir != "" {
		shared, _ := filepath.Glob(filepath.Join(dir, "*.pickle"))
		files = append(files, shared...)
	} else {
		f.Logf("no PyTorch snapshots in %s: fuzzing without them as seeds", sharedtraces.Rel)
	}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("\x80\x04\x95" + le64(1<<40) + "}."))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Read(bytes.NewReader(data), "fuzz")
		if err != nil {
			se, ok := err.(*Error)
			if !ok {
				t.Fatalf("error %T (%v), want *snapshot.Error", err, err)
			}
			if se.Msg == "" {
				t.Fatalf("error with an empty message: %#v", se)
			}
			return
		}
		if s == nil {
			t.Fatal("no snapshot and no error")
		}
		_, _ = s.Workload(-1) // an error is fine, a panic is not
		var b bytes.Buffer
		if err := Write(&b, s); err != nil {
			t.Fatalf("Write of what Read returned: %v", err)
		}
		if _, err := Read(&b, "rewritten"); err != nil {
			t.Fatalf("Read of what Write wrote: %v", err)
		}
	})
}
