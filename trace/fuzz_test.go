package trace

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// seeds adds every file matching the globs to the fuzz corpus.
func seeds(f *testing.F, globs ...string) {
	f.Helper()
	for _, g := range globs {
		files, _ := filepath.Glob(g)
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
}

// drain reads r to its end or first error; a reader must never panic, and
// must stop: every event consumes input.
func drain(t *testing.T, r Reader, limit int) ([]Event, error) {
	var out []Event
	for len(out) <= limit {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
	t.Fatalf("more than %d events from %d bytes of input", limit, limit)
	return nil, nil
}

// FuzzJSONLReader: any input gives events or an error, never a panic; and
// what reads without error writes back to JSONL that reads the same, and
// converts to binary and back to the same JSONL. Seeds: the valid traces
// (pools.jsonl has private pools and pending frees) and every error file.
func FuzzJSONLReader(f *testing.F) {
	seeds(f, "testdata/*.jsonl", "testdata/errors/*.jsonl")
	f.Add([]byte(`{"op":"alloc","id":1,"size":512,"pool":3}` + "\n" + `{"op":"free_requested","id":1}` + "\n" +
		`{"op":"release_pool","pool":3}` + "\n" + `{"op":"free","id":1}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewJSONLReader(bytes.NewReader(data), "fuzz.jsonl")
		events, err := drain(t, r, len(data)+1)
		if err != nil {
			return
		}
		var out bytes.Buffer
		w := NewJSONLWriter(&out)
		for _, e := range events {
			if err := w.Write(e, r.Tags()); err != nil {
				t.Fatalf("a trace that reads does not write: %v", err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		r2 := NewJSONLReader(bytes.NewReader(out.Bytes()), "again.jsonl")
		again, err := drain(t, r2, out.Len()+1)
		if err != nil || len(again) != len(events) {
			t.Fatalf("rewritten trace: %d events, %v; want %d\n%s", len(again), err, len(events), out.Bytes())
		}
		for i := range events {
			n1, _ := r.Tags().Name(events[i].Tag)
			n2, _ := r2.Tags().Name(again[i].Tag)
			if e, g := events[i], again[i]; e.Op != g.Op || e.ID != g.ID || e.Size != g.Size || e.Stream != g.Stream || e.Pool != g.Pool || n1 != n2 {
				t.Fatalf("event %d: %+v, rewritten %+v", i, e, g)
			}
		}
		if _, back := jsonlToBinaryToJSONL(t, out.Bytes()); !bytes.Equal(back, out.Bytes()) {
			t.Fatalf("JSONL -> binary -> JSONL differs:\n%s\nwant\n%s", back, out.Bytes())
		}
	})
}

// FuzzRMMReader: any input gives events or an error, never a panic.
func FuzzRMMReader(f *testing.F) {
	seeds(f, "testdata/rmm/*.csv")
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewRMMReader(bytes.NewReader(data), "fuzz.csv")
		if err != nil {
			return
		}
		drain(t, r, len(data)+1)
	})
}

// FuzzBinaryReader: any input gives events or an error, never a panic; and
// what reads without error writes back to a file that reads the same.
// Seeds: testdata/binary, version 1 and 2 files (pools.fltr has private
// pools and pending frees), valid and not.
func FuzzBinaryReader(f *testing.F) {
	seeds(f, "testdata/binary/*.fltr")
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewBinaryReader(bytes.NewReader(data), "fuzz.fltr")
		if err != nil {
			return
		}
		events, err := drain(t, r, len(data)+1)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		w, err := NewBinaryWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			if err := w.Write(e, r.Tags()); err != nil {
				t.Fatalf("a trace that reads back does not write: %v", err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r2, err := NewBinaryReader(bytes.NewReader(buf.Bytes()), "again.fltr")
		if err != nil {
			t.Fatal(err)
		}
		again, err := drain(t, r2, len(buf.Bytes())+1)
		if err != nil || len(again) != len(events) {
			t.Fatalf("rewritten trace: %d events, %v; want %d", len(again), err, len(events))
		}
		for i := range events {
			n1, _ := r.Tags().Name(events[i].Tag)
			n2, _ := r2.Tags().Name(again[i].Tag)
			if events[i].Op != again[i].Op || events[i].ID != again[i].ID || events[i].Size != again[i].Size ||
				events[i].Stream != again[i].Stream || events[i].Pool != again[i].Pool || n1 != n2 {
				t.Fatalf("event %d: %+v, rewritten %+v", i, events[i], again[i])
			}
		}
	})
}
