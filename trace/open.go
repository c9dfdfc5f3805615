package trace

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// OpenFunc makes a Reader of the trace in r; file names it in messages.
type OpenFunc func(r io.Reader, file string) (Reader, error)

var (
	formatsMu sync.RWMutex
	formats   = map[string]OpenFunc{}
)

func init() {
	Register(".jsonl", func(r io.Reader, file string) (Reader, error) {
		return NewJSONLReader(r, file), nil
	})
}

// Register makes Open read files ending in ext (such as ".csv"), and in
// ext+".gz" gunzipped, with open. Extensions match case-insensitively, the
// longest first. Register panics when ext is malformed or already taken.
func Register(ext string, open OpenFunc) {
	ext = strings.ToLower(ext)
	if !strings.HasPrefix(ext, ".") || len(ext) < 2 || strings.HasSuffix(ext, ".gz") || open == nil {
		panic(fmt.Sprintf("trace: Register(%q): want an extension like \".csv\" (without .gz) and a non-nil open", ext))
	}
	formatsMu.Lock()
	defer formatsMu.Unlock()
	if _, dup := formats[ext]; dup {
		panic("trace: Register called twice for " + ext)
	}
	formats[ext] = open
}

// Open opens the trace file at path, choosing its reader by extension
// (.jsonl, or any registered one) and gunzipping it when the name also ends
// in .gz. Close the returned Closer when done.
func Open(path string) (Reader, io.Closer, error) {
	name := strings.ToLower(filepath.Base(path))
	gz := strings.HasSuffix(name, ".gz")
	open, err := lookup(strings.TrimSuffix(name, ".gz"), gz)
	if err != nil {
		return nil, nil, err
	}
	return openWith(path, open, gz)
}

// OpenTracked is Open, and also returns read: the part of the file read
// so far, 0 to 1 (of the compressed bytes for a .gz file), for progress
// reports. Readers read ahead, so read runs a little ahead of the events
// returned. It may be called from any goroutine.
func OpenTracked(path string) (r Reader, c io.Closer, read func() float64, err error) {
	name := strings.ToLower(filepath.Base(path))
	gz := strings.HasSuffix(name, ".gz")
	open, err := lookup(strings.TrimSuffix(name, ".gz"), gz)
	if err != nil {
		return nil, nil, nil, err
	}
	var cr *countingReader
	r, c, err = openWrapped(path, open, gz, func(f *os.File) io.Reader {
		cr = &countingReader{r: f}
		if st, err := f.Stat(); err == nil {
			cr.size = st.Size()
		}
		return cr
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return r, c, cr.fraction, nil
}

// countingReader counts the bytes read from a file of a known size.
type countingReader struct {
	r    io.Reader
	size int64
	n    atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingReader) fraction() float64 {
	if c.size <= 0 {
		return 0
	}
	return min(1, float64(c.n.Load())/float64(c.size))
}

// OpenAs opens the trace file at path with the reader registered for ext
// (such as ".csv"), whatever the file's name; gz gunzips it.
func OpenAs(path, ext string, gz bool) (Reader, io.Closer, error) {
	formatsMu.RLock()
	open := formats[strings.ToLower(ext)]
	formatsMu.RUnlock()
	if open == nil {
		return nil, nil, fmt.Errorf("%w %s", ErrUnsupportedFormat, ext)
	}
	return openWith(path, open, gz)
}

func openWith(path string, open OpenFunc, gz bool) (Reader, io.Closer, error) {
	return openWrapped(path, open, gz, nil)
}

// openWrapped is openWith reading the file through wrap(f) when wrap is
// not nil.
func openWrapped(path string, open OpenFunc, gz bool, wrap func(*os.File) io.Reader) (Reader, io.Closer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	c := closers{f}
	var in io.Reader = f
	if wrap != nil {
		in = wrap(f)
	}
	if gz {
		z, err := newGzipReader(in, path)
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		in, c = z, closers{z, f}
	}
	r, err := open(in, path)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return r, c, nil
}

// lookup finds the format of the file name (without .gz), the longest
// matching extension first.
func lookup(name string, gz bool) (OpenFunc, error) {
	formatsMu.RLock()
	defer formatsMu.RUnlock()
	var best string
	for ext := range formats {
		if strings.HasSuffix(name, ext) && len(ext) > len(best) {
			best = ext
		}
	}
	if best != "" {
		return formats[best], nil
	}
	got := filepath.Ext(name)
	if gz {
		got += ".gz"
	}
	if got == "" {
		got = "(no extension)"
	}
	var want []string
	for _, ext := range slices.Sorted(maps.Keys(formats)) {
		want = append(want, ext, ext+".gz")
	}
	return nil, fmt.Errorf("%w %s: expected %s or %s", ErrUnsupportedFormat,
		got, strings.Join(want[:len(want)-1], ", "), want[len(want)-1])
}

// ErrUnsupportedFormat is wrapped by the error of a file whose extension
// no registered format has.
var ErrUnsupportedFormat = errors.New("unsupported trace format")

// closers closes each of its members in order and returns the first error.
type closers []io.Closer

func (cs closers) Close() error {
	var first error
	for _, c := range cs {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
