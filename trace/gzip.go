package trace

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
)

// gzipReader gunzips a trace; its read errors say what went wrong with the
// .gz file (a *gzipError) rather than gzip's terse "unexpected EOF".
type gzipReader struct{ z *gzip.Reader }

// newGzipReader reads the gzip header of file's data in r.
func newGzipReader(r io.Reader, file string) (gzipReader, error) {
	z, err := gzip.NewReader(r)
	switch {
	case err == nil:
		return gzipReader{z}, nil
	case errors.Is(err, io.EOF):
		return gzipReader{}, fmt.Errorf("%s: not a gzip file: the file is empty", file)
	case errors.Is(err, gzip.ErrHeader):
		return gzipReader{}, fmt.Errorf("%s: not a gzip file: %w", file, err)
	}
	return gzipReader{}, fmt.Errorf("%s: reading the gzip header: %w", file, &gzipError{err})
}

func (g gzipReader) Read(p []byte) (int, error) {
	n, err := g.z.Read(p)
	if err != nil && err != io.EOF {
		err = &gzipError{err}
	}
	return n, err
}

func (g gzipReader) Close() error { return g.z.Close() }

// gzipError is a failure of the gzip stream under a trace: the .gz file is
// truncated or corrupt. It unwraps to gzip's error.
type gzipError struct{ err error }

func (e *gzipError) Error() string {
	switch {
	case errors.Is(e.err, io.ErrUnexpectedEOF):
		return "truncated gzip stream: the file ends before its compressed data does (an incomplete copy or download?)"
	case errors.Is(e.err, gzip.ErrChecksum):
		return "corrupt gzip stream: the checksum or length recorded in it does not match the data"
	case errors.Is(e.err, gzip.ErrHeader):
		return "corrupt gzip stream: the compressed data is followed by bytes that are not gzip"
	}
	return "corrupt gzip stream: " + e.err.Error()
}

func (e *gzipError) Unwrap() error { return e.err }
