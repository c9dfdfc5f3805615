package trace

import (
	"bufio"
	"fmt"
	"io"
	"strconv"

	"github.com/fraglab/fraglab/sdk/abi"
)

// wellKnown names the well-known tags for writers given no registry.
var wellKnown = NewTags()

// unwritable is the error of the writers for an event no reader accepts:
// one with a negative id, an alloc whose size is not positive or whose
// pool is negative, a release_pool of a pool below 1, or an empty_cache of
// a negative pool. (The writers test for those inline: a call per event
// costs.)
func unwritable(e Event) error {
	switch {
	case e.Op == OpReleasePool && e.Pool < 1:
		return fmt.Errorf("trace: cannot write release_pool of pool %d: expected %s", e.Pool, releasePoolRule)
	case e.Op == OpEmptyCache && e.Pool < 0:
		return fmt.Errorf("trace: cannot write empty_cache of pool %d: a pool must be %s", e.Pool, emptyCachePoolRule)
	case e.ID < 0:
		return fmt.Errorf("trace: cannot write %s of id %d: ids must be non-negative", e.Op, e.ID)
	case e.Op == OpAlloc && e.Pool < 0:
		return fmt.Errorf("trace: cannot write alloc of id %d: pool %d: a pool must be %s", e.ID, e.Pool, allocPoolRule)
	}
	return fmt.Errorf("trace: cannot write alloc of id %d: %s, got %d", e.ID, sizeRule, e.Size)
}

// tagName is the name that tags (nil: the well-known tags) gives e.Tag, or
// an error naming e when it has none.
func tagName(tags *Tags, e Event) (string, error) {
	if tags == nil {
		tags = wellKnown
	}
	name, ok := tags.Name(e.Tag)
	if !ok {
		return "", noTagName(e)
	}
	return name, nil
}

// noTagName is the error of tagName.
func noTagName(e Event) error {
	return fmt.Errorf("trace: cannot write alloc of id %d: tag id %d has no name", e.ID, e.Tag)
}

// JSONLWriter writes events in the JSON Lines format, buffered: call Flush
// when done.
type JSONLWriter struct {
	w   *bufio.Writer
	buf []byte
}

// NewJSONLWriter returns a writer of events to w.
func NewJSONLWriter(w io.Writer) *JSONLWriter {
	return &JSONLWriter{w: bufio.NewWriterSize(w, 64<<10), buf: make([]byte, 0, 128)}
}

// Write writes e as one line. tags names e.Tag; nil means the well-known
// tags only. Stream and the pool of an alloc or empty_cache are omitted
// when 0, the tag when it is abi.TagUnknown. Events a reader would reject
// (negative id, size ≤ 0, a negative alloc or empty_cache pool, a
// release_pool of a pool below 1, unknown op or tag) are refused; the
// writer does not check live ids.
func (w *JSONLWriter) Write(e Event, tags *Tags) error {
	if e.ID < 0 {
		return unwritable(e)
	}
	b := w.buf[:0]
	switch e.Op {
	case OpAlloc:
		if e.Size <= 0 || e.Pool < 0 {
			return unwritable(e)
		}
		b = append(b, `{"op":"alloc","id":`...)
		b = strconv.AppendInt(b, e.ID, 10)
		b = append(b, `,"size":`...)
		b = strconv.AppendInt(b, e.Size, 10)
		if e.Stream != 0 {
			b = append(b, `,"stream":`...)
			b = strconv.AppendInt(b, e.Stream, 10)
		}
		if e.Tag != abi.TagUnknown {
			name, err := tagName(tags, e)
			if err != nil {
				return err
			}
			b = append(b, `,"tag":`...)
			b = appendString(b, name)
		}
		if e.Pool != 0 {
			b = append(b, `,"pool":`...)
			b = strconv.AppendInt(b, e.Pool, 10)
		}
	case OpFree:
		b = append(b, `{"op":"free","id":`...)
		b = strconv.AppendInt(b, e.ID, 10)
	case OpFreeRequested:
		b = append(b, `{"op":"free_requested","id":`...)
		b = strconv.AppendInt(b, e.ID, 10)
	case OpEmptyCache:
		if e.Pool < 0 {
			return unwritable(e)
		}
		b = append(b, `{"op":"empty_cache"`...)
		if e.Pool != 0 {
			b = append(b, `,"pool":`...)
			b = strconv.AppendInt(b, e.Pool, 10)
		}
	case OpReleasePool:
		if e.Pool < 1 {
			return unwritable(e)
		}
		b = append(b, `{"op":"release_pool","pool":`...)
		b = strconv.AppendInt(b, e.Pool, 10)
	default:
		return fmt.Errorf("trace: cannot write event with unknown %s", e.Op)
	}
	b = append(b, "}\n"...)
	w.buf = b
	_, err := w.w.Write(b)
	return err
}

// Flush writes buffered lines to the underlying writer.
func (w *JSONLWriter) Flush() error { return w.w.Flush() }

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
