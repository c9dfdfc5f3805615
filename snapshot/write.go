package snapshot

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/big"
	"sort"
	"strconv"
)

// Write encodes s as a pickle (protocol 4, plain data only: dict, list, str,
// int, float, bool, None and pool-id tuples) in the shape torch.cuda.memory's
// _snapshot() returns, so that Python's pickle.load, torch.cuda._memory_viz
// and pytorch.org/memory_viz read it:
//
//   - segments: device, address, total_size, allocated_size, active_size,
//     requested_size, stream, segment_type, segment_pool_id (a tuple),
//     is_expandable, frames ([]), blocks (address, size, requested_size,
//     state, frames ([]));
//   - device_traces: per entry action, addr (oom: device_free instead), size,
//     stream, time_us (when not 0), compile_context and user_metadata (when
//     not ""), pool_id (a tuple, when the entry has one), frames (filename,
//     line, name);
//   - allocator_settings when s.Settings is not nil.
//
// Strings, frame dicts and shared frame lists are memoized (written once and
// referenced after), and lists and dicts are filled in batches of 1000, as
// Python's pickler does.
func Write(w io.Writer, s *Snapshot) error {
	e := &encoder{
		w:          newBufWriter(w),
		strs:       map[string]uint32{},
		frames:     map[Frame]uint32{},
		frameLists: map[tagKey]uint32{},
	}
	e.raw(opProto, 4)
	e.snapshot(s)
	e.raw(opStop)
	if e.err != nil {
		return e.err
	}
	return e.w.Flush()
}

type encoder struct {
	w          *bufio.Writer
	err        error
	memo       uint32 // entries stored so far; the next MEMOIZE's index
	strs       map[string]uint32
	frames     map[Frame]uint32
	frameLists map[tagKey]uint32
	scratch    [16]byte
}

const batch = 1000 // items per APPENDS/SETITEMS, as Python's pickler

func (e *encoder) raw(b ...byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

func (e *encoder) memoize() uint32 {
	e.raw(opMemoize)
	e.memo++
	return e.memo - 1
}

func (e *encoder) get(i uint32) {
	if i < 256 {
		e.raw(opBinGet, byte(i))
		return
	}
	b := e.scratch[:5]
	b[0] = opLongBinGet
	binary.LittleEndian.PutUint32(b[1:], i)
	e.raw(b...)
}

func (e *encoder) str(s string) {
	if i, ok := e.strs[s]; ok {
		e.get(i)
		return
	}
	if len(s) < 256 {
		e.raw(opShortBinUni, byte(len(s)))
	} else {
		b := e.scratch[:5]
		b[0] = opBinUnicode
		binary.LittleEndian.PutUint32(b[1:], uint32(len(s)))
		e.raw(b...)
	}
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
	e.strs[s] = e.memoize()
}

func (e *encoder) int(n int64) {
	switch {
	case n >= 0 && n < 256:
		e.raw(opBinInt1, byte(n))
	case n >= 0 && n < 65536:
		e.raw(opBinInt2, byte(n), byte(n>>8))
	case n >= math.MinInt32 && n <= math.MaxInt32:
		b := e.scratch[:5]
		b[0] = opBinInt
		binary.LittleEndian.PutUint32(b[1:], uint32(int32(n)))
		e.raw(b...)
	default:
		e.long(big.NewInt(n))
	}
}

func (e *encoder) uint(n uint64) {
	if n <= math.MaxInt64 {
		e.int(int64(n))
		return
	}
	e.long(new(big.Int).SetUint64(n))
}

// long writes LONG1: the shortest little-endian two's complement bytes.
func (e *encoder) long(n *big.Int) {
	var le []byte
	if n.Sign() >= 0 {
		be := n.Bytes()
		for i := len(be) - 1; i >= 0; i-- {
			le = append(le, be[i])
		}
		if len(le) == 0 || le[len(le)-1]&0x80 != 0 {
			le = append(le, 0)
		}
	} else {
		// two's complement of |n| in just enough bytes
		nbytes := (n.BitLen() + 8) / 8
		mod := new(big.Int).Lsh(big.NewInt(1), uint(8*nbytes))
		be := new(big.Int).Add(mod, n).Bytes()
		for i := len(be) - 1; i >= 0; i-- {
			le = append(le, be[i])
		}
		for len(le) < nbytes {
			le = append(le, 0xff)
		}
	}
	e.raw(opLong1, byte(len(le)))
	e.raw(le...)
}

func (e *encoder) float(f float64) {
	b := e.scratch[:9]
	b[0] = opBinFloat
	binary.BigEndian.PutUint64(b[1:], math.Float64bits(f))
	e.raw(b...)
}

func (e *encoder) bool(b bool) {
	if b {
		e.raw(opNewTrue)
	} else {
		e.raw(opNewFalse)
	}
}

// dict writes a dict whose items fn writes as key, value pairs; n is the
// number of pairs (0 writes just EMPTY_DICT). Only objects written more than
// once (strings, frames, frame lists) are memoized, so that their memo
// indices stay small.
func (e *encoder) dict(n int, fn func(i int)) {
	e.raw(opEmptyDict)
	for i := 0; i < n; i += batch {
		e.raw(opMark)
		for k := i; k < min(n, i+batch); k++ {
			fn(k)
		}
		e.raw(opSetItems)
	}
}

// list writes a list of n items written by fn.
func (e *encoder) list(n int, fn func(i int)) {
	e.raw(opEmptyList)
	for i := 0; i < n; i += batch {
		e.raw(opMark)
		for k := i; k < min(n, i+batch); k++ {
			fn(k)
		}
		e.raw(opAppends)
	}
}

// fields writes a dict of named values in the order given.
type field struct {
	key string
	val func()
}

func (e *encoder) fields(fs []field) {
	e.dict(len(fs), func(i int) {
		e.str(fs[i].key)
		fs[i].val()
	})
}

func (e *encoder) snapshot(s *Snapshot) {
	fs := []field{
		{"segments", func() { e.list(len(s.Segments), func(i int) { e.segment(&s.Segments[i]) }) }},
		{"device_traces", func() {
			e.list(len(s.Traces), func(d int) {
				t := s.Traces[d]
				e.list(len(t), func(i int) { e.entry(&t[i]) })
			})
		}},
	}
	if s.Settings != nil {
		fs = append(fs, field{"allocator_settings", func() { e.settings(s.Settings) }})
	}
	e.fields(fs)
}

func (e *encoder) emptyList() { e.raw(opEmptyList) }

func (e *encoder) segment(sg *Segment) {
	var stitched []field
	if sg.Stitched {
		stitched = []field{{"is_stitched", func() { e.bool(true) }}}
	}
	e.fields(append([]field{
		{"device", func() { e.int(int64(sg.Device)) }},
		{"address", func() { e.uint(sg.Address) }},
		{"total_size", func() { e.int(sg.TotalSize) }},
		{"allocated_size", func() { e.int(sg.AllocatedSize) }},
		{"active_size", func() { e.int(sg.ActiveSize) }},
		{"requested_size", func() { e.int(sg.RequestedSize) }},
		{"stream", func() { e.int(sg.Stream) }},
		{"segment_type", func() { e.str(sg.Pool) }},
		{"segment_pool_id", func() { e.uint(sg.PoolID[0]); e.uint(sg.PoolID[1]); e.raw(opTuple2) }},
		{"is_expandable", func() { e.bool(sg.Expandable) }},
		{"frames", e.emptyList},
		{"blocks", func() {
			e.list(len(sg.Blocks), func(i int) {
				b := &sg.Blocks[i]
				e.fields([]field{
					{"address", func() { e.uint(b.Address) }},
					{"size", func() { e.int(b.Size) }},
					{"requested_size", func() { e.int(b.RequestedSize) }},
					{"state", func() { e.str(b.State) }},
					{"frames", e.emptyList},
				})
			})
		}},
	}, stitched...))
}

func (e *encoder) entry(t *TraceEntry) {
	fs := make([]field, 0, 10)
	fs = append(fs, field{"action", func() { e.str(t.Action) }})
	if t.Action == ActOOM {
		fs = append(fs, field{"device_free", func() { e.int(t.DeviceFree) }})
		if t.Addr != 0 {
			fs = append(fs, field{"addr", func() { e.uint(t.Addr) }})
		}
	} else {
		fs = append(fs, field{"addr", func() { e.uint(t.Addr) }})
		if t.DeviceFree != 0 {
			fs = append(fs, field{"device_free", func() { e.int(t.DeviceFree) }})
		}
	}
	fs = append(fs,
		field{"size", func() { e.int(t.Size) }},
		field{"stream", func() { e.int(t.Stream) }})
	if t.TimeUS != 0 {
		fs = append(fs, field{"time_us", func() { e.int(t.TimeUS) }})
	}
	if t.CompileContext != "" {
		fs = append(fs, field{"compile_context", func() { e.str(t.CompileContext) }})
	}
	if t.UserMetadata != "" {
		fs = append(fs, field{"user_metadata", func() { e.str(t.UserMetadata) }})
	}
	if t.HasPoolID {
		fs = append(fs, field{"pool_id", func() { e.uint(t.PoolID[0]); e.uint(t.PoolID[1]); e.raw(opTuple2) }})
	}
	fs = append(fs, field{"frames", func() { e.frameList(t.Frames) }})
	e.fields(fs)
}

func (e *encoder) frameList(fr []Frame) {
	if len(fr) == 0 {
		e.emptyList()
		return
	}
	k := tagKey{&fr[0], len(fr)}
	if i, ok := e.frameLists[k]; ok {
		e.get(i)
		return
	}
	e.raw(opEmptyList)
	e.frameLists[k] = e.memoize()
	for i := 0; i < len(fr); i += batch {
		e.raw(opMark)
		for j := i; j < min(len(fr), i+batch); j++ {
			e.frame(fr[j])
		}
		e.raw(opAppends)
	}
}

func (e *encoder) frame(f Frame) {
	if i, ok := e.frames[f]; ok {
		e.get(i)
		return
	}
	e.raw(opEmptyDict)
	e.frames[f] = e.memoize()
	e.raw(opMark)
	e.str("name")
	e.str(f.Name)
	e.str("filename")
	e.str(f.Filename)
	e.str("line")
	e.int(int64(f.Line))
	e.raw(opSetItems)
}

func (e *encoder) settings(s *Settings) {
	fs := []field{
		{keyAllocConf, func() { e.str(s.AllocConf) }},
		{keyMaxSplit, func() { e.int(s.MaxSplitSize) }},
		{keyGCThresh, func() { e.float(s.GarbageCollectionThreshold) }},
		{keyExpandable, func() { e.bool(s.ExpandableSegments) }},
	}
	for _, k := range s.otherKeys() {
		v := s.Other[k]
		fs = append(fs, field{k, func() { e.value(v) }})
	}
	fs = append(fs, field{keyRoundup, func() {
		e.dict(Intervals, func(i int) {
			e.str(strconv.Itoa(1 << i))
			e.int(s.RoundupPower2Divisions[i])
		})
	}})
	e.fields(fs)
}

// value writes a plain Go value: nil, bool, integers, floats, string, []any
// or map[string]any (keys sorted).
func (e *encoder) value(v any) {
	switch x := v.(type) {
	case nil:
		e.raw(opNone)
	case bool:
		e.bool(x)
	case int:
		e.int(int64(x))
	case int32:
		e.int(int64(x))
	case int64:
		e.int(x)
	case uint64:
		e.uint(x)
	case float32:
		e.float(float64(x))
	case float64:
		e.float(x)
	case string:
		e.str(x)
	case []any:
		e.list(len(x), func(i int) { e.value(x[i]) })
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		e.dict(len(keys), func(i int) { e.str(keys[i]); e.value(x[keys[i]]) })
	default:
		if e.err == nil {
			e.err = fmt.Errorf("snapshot: cannot write a setting of type %T", v)
		}
	}
}

func newBufWriter(w io.Writer) *bufio.Writer { return bufio.NewWriterSize(w, 1<<16) }
