package trace

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/fraglab/fraglab/sdk/abi"
)

// BinaryWriter writes events in the compact binary format, version
// BinaryVersion. Call Close to write the end record and flush; Close does
// not close the underlying writer.
type BinaryWriter struct {
	w       *bufio.Writer
	buf     []byte
	defined map[int32]bool // custom tag ids already defined in the file
	events  int64
	closed  bool

	prevAlloc, prevFree int64
	stream              int64
	tag                 int32
	pool                int64
}

// NewBinaryWriter writes the header to w and returns a writer of events.
func NewBinaryWriter(w io.Writer) (*BinaryWriter, error) {
	bw := &BinaryWriter{w: bufio.NewWriterSize(w, 64<<10), buf: make([]byte, 0, 64),
		defined: map[int32]bool{}, prevAlloc: -1, prevFree: -1}
	if _, err := bw.w.WriteString(BinaryMagic); err != nil {
		return nil, err
	}
	if err := bw.w.WriteByte(BinaryVersion); err != nil {
		return nil, err
	}
	return bw, nil
}

// Write appends e. tags names e.Tag (nil: the well-known tags only); a
// custom tag is defined in the file before its first use. Events a reader
// would reject are refused, as by JSONLWriter.
func (w *BinaryWriter) Write(e Event, tags *Tags) error {
	if w.closed {
		return fmt.Errorf("trace: write after Close")
	}
	if e.ID < 0 {
		return unwritable(e)
	}
	b := w.buf[:0]
	switch e.Op {
	case OpAlloc:
		if e.Size <= 0 || e.Pool < 0 {
			return unwritable(e)
		}
		if e.Tag != w.tag && e.Tag >= abi.FirstCustomTag && !w.defined[e.Tag] {
			name, err := tagName(tags, e)
			if err != nil {
				return err
			}
			if len(name) > MaxTagNameBytes {
				return fmt.Errorf("trace: cannot write tag %.40q...: names are at most %d bytes", name, MaxTagNameBytes)
			}
			b = append(b, recTagDef)
			b = binary.AppendUvarint(b, uint64(e.Tag))
			b = binary.AppendUvarint(b, uint64(len(name)))
			b = append(b, name...)
			w.defined[e.Tag] = true
		} else if e.Tag != w.tag && e.Tag < abi.FirstCustomTag {
			if _, err := tagName(nil, e); err != nil {
				return err
			}
		}
		head := len(b)
		flags := byte(recAlloc)
		b = append(b, 0)
		if e.ID == w.prevAlloc+1 {
			flags |= flagNextID
		} else {
			b = binary.AppendVarint(b, e.ID-w.prevAlloc)
		}
		if e.Size%512 == 0 {
			flags |= flagSize512
			b = binary.AppendUvarint(b, uint64(e.Size/512))
		} else {
			b = binary.AppendUvarint(b, uint64(e.Size))
		}
		if e.Stream != w.stream {
			flags |= flagStream
			b = binary.AppendVarint(b, e.Stream)
		}
		if e.Tag != w.tag {
			flags |= flagTag
			b = binary.AppendUvarint(b, uint64(e.Tag))
		}
		if e.Pool != w.pool {
			flags |= flagPool
			b = binary.AppendUvarint(b, uint64(e.Pool))
		}
		b[head] = flags
		w.prevAlloc, w.stream, w.tag, w.pool = e.ID, e.Stream, e.Tag, e.Pool
	case OpFree, OpFreeRequested:
		rec := byte(recFree)
		if e.Op == OpFreeRequested {
			rec |= flagRequested
		}
		if e.ID == w.prevFree+1 {
			b = append(b, rec|flagNextID)
		} else {
			b = append(b, rec)
			b = binary.AppendVarint(b, e.ID-w.prevAlloc)
		}
		w.prevFree = e.ID
	case OpEmptyCache:
		switch {
		case e.Pool == 0:
			b = append(b, recEmpty)
		case e.Pool > 0:
			b = append(b, recEmptyPool)
			b = binary.AppendUvarint(b, uint64(e.Pool))
		default:
			return unwritable(e)
		}
	case OpReleasePool:
		if e.Pool < 1 {
			return unwritable(e)
		}
		b = append(b, recReleasePool)
		b = binary.AppendUvarint(b, uint64(e.Pool))
	default:
		return fmt.Errorf("trace: cannot write event with unknown %s", e.Op)
	}
	w.buf = b
	w.events++
	_, err := w.w.Write(b)
	return err
}

// Close writes the end record (with the event count) and flushes.
func (w *BinaryWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	b := append(w.buf[:0], recEnd)
	b = binary.AppendUvarint(b, uint64(w.events))
	if _, err := w.w.Write(b); err != nil {
		return err
	}
	return w.w.Flush()
}
