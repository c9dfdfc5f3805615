package trace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/fraglab/fraglab/sdk/abi"
)

// The compact binary format (.fltr); docs/trace-format.md describes it.
const (
	// BinaryMagic starts every binary trace; the byte after it is the
	// format version.
	BinaryMagic = "FLTRACE"
	// BinaryVersion is the version this package writes. It reads it and
	// every earlier one: version 1 has no private pools and no pending
	// frees (no pool flag, free_requested, release_pool or pool
	// empty_cache records).
	BinaryVersion = 2
	// MaxTagNameBytes is the longest tag name a binary trace may define.
	MaxTagNameBytes = 1024
)

// Record kinds: the low two bits of a record's first byte, or the whole
// byte for the end record.
const (
	recAlloc       = 0x00
	recFree        = 0x01
	recEmpty       = 0x02 // the whole byte
	recEmptyPool   = 0x42 // the whole byte (recEmpty | flagPool); version 2: empty_cache of a private pool
	recTagDef      = 0x03 // the whole byte
	recReleasePool = 0x06 // the whole byte; version 2
	recEnd         = 0xff // the whole byte

	flagStream    = 0x04 // alloc: a stream field follows (else the previous alloc's stream)
	flagTag       = 0x08 // alloc: a tag field follows (else the previous alloc's tag)
	flagNextID    = 0x10 // alloc: id = previous alloc id + 1; free: id = previous free id + 1
	flagSize512   = 0x20 // alloc: the size field holds size/512
	flagPool      = 0x40 // alloc, version 2: a pool field follows (else the previous alloc's pool)
	flagRequested = 0x20 // free, version 2: the record is a free_requested
	allocFlags1   = flagStream | flagTag | flagNextID | flagSize512
	allocFlags    = allocFlags1 | flagPool
	freeFlags1    = flagNextID
	freeFlags     = freeFlags1 | flagRequested
)

// ByteError is a problem at a byte offset of a binary file.
type ByteError struct {
	File   string // file name; may be empty
	Offset int64  // offset of the record (or field) at fault, from the start of the file
	Msg    string // what is wrong and what was expected
}

// Error returns "FILE: byte OFFSET: MSG".
func (e *ByteError) Error() string {
	name := e.File
	if name == "" {
		name = "trace"
	}
	return name + ": byte " + strconv.FormatInt(e.Offset, 10) + ": " + e.Msg
}

// BinaryReader reads a trace in the compact binary format, of version 1 or
// 2. It validates every record as the JSONL reader validates lines (live
// ids, pending frees, positive sizes, pool ids) and reports problems with
// their byte offset.
type BinaryReader struct {
	in     io.Reader
	buf    []byte
	pos    int   // next byte of buf to decode
	end    int   // bytes of buf filled
	base   int64 // file offset of buf[0]
	rerr   error // the error that ended the input (io.EOF at its end)
	file   string
	off    int64 // bytes consumed: base + pos, kept for messages
	tags   *Tags
	fileID map[uint64]int32 // custom tag id in the file -> id in tags
	live   liveIDs          // live id -> offset of its alloc record
	events int64
	v1     bool // a version 1 file: no pool flag, free_requested or release_pool

	prevAlloc, prevFree int64
	stream              int64
	tag                 int32
	pool                int64
	err                 error
}

// NewBinaryReader checks the header of the binary trace in r and returns a
// reader of its events. file names the trace in error messages.
func NewBinaryReader(r io.Reader, file string) (*BinaryReader, error) {
	br := &BinaryReader{in: r, buf: make([]byte, 64<<10), file: file, tags: NewTags(),
		fileID: map[uint64]int32{}, live: newLiveIDs(), prevAlloc: -1, prevFree: -1}
	head := make([]byte, len(BinaryMagic)+1)
	n := 0
	for ; n < len(head); n++ {
		b, ok := br.readByte()
		if !ok {
			break
		}
		head[n] = b
	}
	if n < len(head) || string(head[:len(BinaryMagic)]) != BinaryMagic {
		if br.rerr != nil && br.rerr != io.EOF {
			return nil, fmt.Errorf("%s: reading the header: %w", br.name(), br.rerr)
		}
		return nil, &ByteError{File: file, Offset: 0, Msg: fmt.Sprintf("not a fraglab binary trace: expected the header %q and a version byte, got %q", BinaryMagic, head[:n])}
	}
	if v := head[len(BinaryMagic)]; v < 1 || v > BinaryVersion {
		return nil, &ByteError{File: file, Offset: int64(len(BinaryMagic)), Msg: fmt.Sprintf("binary trace version %d: this fraglab reads versions 1 and 2", v)}
	}
	br.v1 = head[len(BinaryMagic)] == 1
	return br, nil
}

// fill moves the undecoded bytes to the front of buf and reads more; it
// reports whether any byte is left to decode.
func (r *BinaryReader) fill() bool {
	if r.rerr != nil {
		return r.pos < r.end
	}
	n := copy(r.buf, r.buf[r.pos:r.end])
	r.base += int64(r.pos)
	r.pos, r.end = 0, n
	for r.end < len(r.buf) && r.rerr == nil {
		k, err := r.in.Read(r.buf[r.end:])
		r.end += k
		if err != nil {
			r.rerr = err
		} else if k == 0 {
			continue
		} else if r.end-r.pos >= binary.MaxVarintLen64 {
			break
		}
	}
	return r.pos < r.end
}

// readByte returns the next byte, and false at the end of the input or on
// a read error (in rerr).
func (r *BinaryReader) readByte() (byte, bool) {
	if r.pos == r.end && !r.fill() {
		return 0, false
	}
	b := r.buf[r.pos]
	r.pos++
	r.off = r.base + int64(r.pos)
	return b, true
}

// Tags returns the registry naming the Tag ids of the events read so far.
func (r *BinaryReader) Tags() *Tags { return r.tags }

// Offset returns the number of bytes read so far.
func (r *BinaryReader) Offset() int64 { return r.off }

// Next returns the next event, io.EOF after the end record, or a
// *ByteError. Errors are sticky.
func (r *BinaryReader) Next() (Event, error) {
	if r.err != nil {
		return Event{}, r.err
	}
	e, err := r.next()
	if err != nil {
		r.err = err
	}
	return e, err
}

func (r *BinaryReader) fail(at int64, format string, args ...any) error {
	return &ByteError{File: r.file, Offset: at, Msg: fmt.Sprintf(format, args...)}
}

func (r *BinaryReader) next() (Event, error) {
	for {
		at := r.off
		b, ok := r.readByte()
		if !ok {
			return Event{}, r.truncated(at, "a record")
		}
		switch {
		case b == recEnd:
			return Event{}, r.endRecord(at)
		case b == recEmpty:
			r.events++
			return Event{Op: OpEmptyCache}, nil
		case b == recTagDef:
			if err := r.tagDef(at); err != nil {
				return Event{}, err
			}
		case r.v1:
			switch {
			case b&0x03 == recAlloc && b&^allocFlags1 == 0:
				return r.alloc(at, b)
			case b&0x03 == recFree && b&^(freeFlags1|0x03) == 0:
				return r.free(at, b)
			}
			return Event{}, r.fail(at, "unknown record type 0x%02x: expected alloc, free, empty_cache, tag or end (version 1 has no pools or free_requested)", b)
		case b&0x03 == recAlloc && b&^allocFlags == 0:
			return r.alloc(at, b)
		case b&0x03 == recFree && b&^(freeFlags|0x03) == 0:
			return r.free(at, b)
		case b == recReleasePool:
			return r.releasePool(at)
		case b == recEmptyPool:
			return r.emptyPool(at)
		default:
			return Event{}, r.fail(at, "unknown record type 0x%02x: expected alloc, free, free_requested, empty_cache, release_pool, tag or end", b)
		}
	}
}

// truncated reports the end of the input (or a read error) at offset at,
// where what was expected.
func (r *BinaryReader) truncated(at int64, what string) error {
	var gz *gzipError
	if r.rerr == nil || errors.Is(r.rerr, io.EOF) || errors.Is(r.rerr, io.ErrUnexpectedEOF) && !errors.As(r.rerr, &gz) {
		return r.fail(at, "truncated file: expected %s, found the end of the file (a complete trace ends with an end record)", what)
	}
	return fmt.Errorf("%s: reading byte %d: %w", r.name(), r.base+int64(r.end), r.rerr)
}

func (r *BinaryReader) name() string {
	if r.file == "" {
		return "trace"
	}
	return r.file
}

func (r *BinaryReader) uvarint(what string) (uint64, error) {
	at := r.off
	if r.end-r.pos >= binary.MaxVarintLen64 { // fast path: the whole varint is buffered
		x, n := binary.Uvarint(r.buf[r.pos:r.end])
		if n > 0 {
			r.pos += n
			r.off = r.base + int64(r.pos)
			return x, nil
		}
		return 0, r.fail(at, "%s: varint overflows 64 bits", what)
	}
	var x uint64
	var s uint
	for i := 0; ; i++ {
		b, ok := r.readByte()
		if !ok {
			return 0, r.truncated(at, what)
		}
		if i == binary.MaxVarintLen64-1 && b > 1 {
			return 0, r.fail(at, "%s: varint overflows 64 bits", what)
		}
		if b < 0x80 {
			return x | uint64(b)<<s, nil
		}
		x |= uint64(b&0x7f) << s
		s += 7
	}
}

func (r *BinaryReader) varint(what string) (int64, error) {
	u, err := r.uvarint(what)
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x, err
}

func (r *BinaryReader) endRecord(at int64) error {
	n, err := r.uvarint("the event count of the end record")
	if err != nil {
		return err
	}
	if int64(n) != r.events {
		return r.fail(at, "end record counts %d events, but the file holds %d", n, r.events)
	}
	if _, ok := r.readByte(); ok {
		return r.fail(r.off-1, "data after the end record")
	}
	if r.rerr != nil && r.rerr != io.EOF {
		return fmt.Errorf("%s: reading byte %d: %w", r.name(), r.off, r.rerr)
	}
	return io.EOF
}

func (r *BinaryReader) tagDef(at int64) error {
	id, err := r.uvarint("a tag id")
	if err != nil {
		return err
	}
	if id < abi.FirstCustomTag || id > 1<<31-1 {
		return r.fail(at, "tag definition of id %d: custom tag ids are %d or more (ids below are the well-known tags)", id, abi.FirstCustomTag)
	}
	if _, dup := r.fileID[id]; dup {
		return r.fail(at, "tag id %d defined twice", id)
	}
	n, err := r.uvarint("a tag name length")
	if err != nil {
		return err
	}
	if n == 0 || n > MaxTagNameBytes {
		return r.fail(at, "tag name of %d bytes: expected 1 to %d", n, MaxTagNameBytes)
	}
	name := make([]byte, n)
	for i := range name {
		b, ok := r.readByte()
		if !ok {
			return r.truncated(r.off, fmt.Sprintf("a tag name of %d bytes", n))
		}
		name[i] = b
	}
	if !utf8.Valid(name) {
		return r.fail(at, "tag name %q is not UTF-8", name)
	}
	r.fileID[id] = r.tags.ID(string(name))
	return nil
}

func (r *BinaryReader) alloc(at int64, b byte) (Event, error) {
	id := r.prevAlloc + 1
	if b&flagNextID == 0 {
		d, err := r.varint("an alloc id")
		if err != nil {
			return Event{}, err
		}
		id = r.prevAlloc + d
	}
	if id < 0 {
		return Event{}, r.fail(at, "alloc of id %d: ids must be non-negative", id)
	}
	size, err := r.uvarint("an alloc size")
	if err != nil {
		return Event{}, err
	}
	if b&flagSize512 != 0 {
		if size > (1<<63-1)/512 {
			return Event{}, r.fail(at, "alloc of id %d: size %d×512 overflows int64", id, size)
		}
		size *= 512
	}
	if size == 0 || size > 1<<63-1 {
		return Event{}, r.fail(at, "alloc of id %d: size %d: %s", id, size, sizeRule)
	}
	if b&flagStream != 0 {
		if r.stream, err = r.varint("a stream"); err != nil {
			return Event{}, err
		}
	}
	if b&flagTag != 0 {
		t, err := r.uvarint("a tag id")
		if err != nil {
			return Event{}, err
		}
		switch {
		case t < abi.FirstCustomTag:
			if _, ok := wellKnown.Name(int32(t)); !ok && t != abi.TagUnknown {
				return Event{}, r.fail(at, "alloc of id %d: tag id %d is neither a well-known tag nor defined", id, t)
			}
			r.tag = int32(t)
		default:
			mapped, ok := r.fileID[t]
			if !ok {
				return Event{}, r.fail(at, "alloc of id %d: tag id %d is used before its definition", id, t)
			}
			r.tag = mapped
		}
	}
	if b&flagPool != 0 {
		p, err := r.uvarint("a pool")
		if err != nil {
			return Event{}, err
		}
		if p > 1<<63-1 {
			return Event{}, r.fail(at, "alloc of id %d: pool %d overflows int64", id, p)
		}
		r.pool = int64(p)
	}
	if prev, pending, dup := r.live.add(id, at); dup {
		if pending {
			return Event{}, r.fail(at, "alloc of id %d, whose free was requested at byte %d but has not completed: the id is live until its free", id, prev)
		}
		return Event{}, r.fail(at, "alloc of id %d, which is still live (allocated at byte %d)", id, prev)
	}
	r.prevAlloc = id
	r.events++
	return Event{Op: OpAlloc, ID: id, Size: int64(size), Stream: r.stream, Tag: r.tag, Pool: r.pool}, nil
}

// free reads a free or (flagRequested) free_requested record.
func (r *BinaryReader) free(at int64, b byte) (Event, error) {
	id := r.prevFree + 1
	if b&flagNextID == 0 {
		d, err := r.varint("a free id")
		if err != nil {
			return Event{}, err
		}
		id = r.prevAlloc + d
	}
	op := OpFree
	if b&flagRequested != 0 {
		op = OpFreeRequested
		prev, live, pending := r.live.request(id, at)
		switch {
		case !live:
			return Event{}, r.fail(at, "free_requested of unknown id %d: no live allocation has this id", id)
		case pending:
			return Event{}, r.fail(at, "free_requested of id %d, whose free was already requested at byte %d", id, prev)
		}
	} else if !r.live.remove(id) {
		return Event{}, r.fail(at, "free of unknown id %d: no live allocation has this id", id)
	}
	r.prevFree = id
	r.events++
	return Event{Op: op, ID: id}, nil
}

func (r *BinaryReader) releasePool(at int64) (Event, error) {
	p, err := r.uvarint("a release_pool pool")
	if err != nil {
		return Event{}, err
	}
	if p < 1 || p > 1<<63-1 {
		return Event{}, r.fail(at, "release_pool of pool %d: expected %s", p, releasePoolRule)
	}
	r.events++
	return Event{Op: OpReleasePool, Pool: int64(p)}, nil
}

// emptyPool reads the empty_cache record of a private pool.
func (r *BinaryReader) emptyPool(at int64) (Event, error) {
	p, err := r.uvarint("an empty_cache pool")
	if err != nil {
		return Event{}, err
	}
	if p < 1 || p > 1<<63-1 {
		return Event{}, r.fail(at, "empty_cache of pool %d: expected a private pool id, an integer of 1 or more (the whole-cache empty_cache is the record 0x02)", p)
	}
	r.events++
	return Event{Op: OpEmptyCache, Pool: int64(p)}, nil
}

func init() {
	Register(".fltr", func(r io.Reader, file string) (Reader, error) {
		return NewBinaryReader(r, file)
	})
}
