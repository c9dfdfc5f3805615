package snapshot

import (
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"strconv"

	"github.com/nlpodyssey/gopickle/types"
)

// Snapshot is a PyTorch CUDA memory snapshot: the allocator state when it
// was taken and the recorded trace of every device.
type Snapshot struct {
	Segments []Segment      // all devices, in file order (PyTorch sorts them by address)
	Traces   [][]TraceEntry // indexed by device ordinal; oldest entry first
	Settings *Settings      // allocator_settings; nil when the file has none
}

// Segment is one entry of the snapshot's segments list: a cudaMalloc'd
// segment or, for expandable segments, one contiguous mapped run.
type Segment struct {
	Device        int
	Address       uint64
	TotalSize     int64
	AllocatedSize int64
	ActiveSize    int64
	RequestedSize int64
	Stream        int64     // the raw cudaStream_t value (its 64 bits); 0 is the default stream
	Pool          string    // segment_type: "large" or "small"
	PoolID        [2]uint64 // segment_pool_id (a MempoolId_t); (0, 0) is the default pool
	Expandable    bool
	// Stitched: a fraglab stitched range (is_stitched, written only when
	// true; PyTorch has none): its bytes are those of the blocks it lends
	// from other segments, so it does not add to the reserved bytes.
	// Snapshots holding one are not replayed (their state is not PyTorch's).
	Stitched bool
	Blocks   []Block // address order
}

// Block is one block of a segment.
type Block struct {
	Address       uint64
	Size          int64
	RequestedSize int64
	State         string // "active_allocated", "active_pending_free" or "inactive"
}

// Live reports whether the block is allocated: any state but "inactive".
func (b Block) Live() bool { return b.State != StateInactive }

// Block states written by PyTorch.
const (
	StateAllocated   = "active_allocated"
	StatePendingFree = "active_pending_free"
	StateInactive    = "inactive"
)

// TraceEntry is one recorded allocator event.
type TraceEntry struct {
	Action         string // alloc, free_requested, free_completed, segment_alloc, segment_free, segment_map, segment_unmap, snapshot, oom, …
	Addr           uint64
	Size           int64
	Stream         int64 // the raw cudaStream_t value (its 64 bits), as Segment.Stream
	DeviceFree     int64 // oom only: cudaMemGetInfo's free bytes
	TimeUS         int64 // 0 when the file has no time_us or one that is not an int64
	Frames         []Frame
	CompileContext string    // "" when absent or not a str
	UserMetadata   string    // "" when absent or not a str
	PoolID         [2]uint64 // pool_id (a MempoolId_t, newer PyTorch); zero when absent
	HasPoolID      bool      // the entry has a pool_id
}

// Trace actions.
const (
	ActAlloc         = "alloc"
	ActFreeRequested = "free_requested"
	ActFreeCompleted = "free_completed"
	ActSegmentAlloc  = "segment_alloc"
	ActSegmentFree   = "segment_free"
	ActSegmentMap    = "segment_map"
	ActSegmentUnmap  = "segment_unmap"
	ActSnapshot      = "snapshot"
	ActOOM           = "oom"
)

// Frame is one stack frame of a trace entry (innermost first).
//
// Line is LineUnknown (-1) when the file gives no usable line. PyTorch
// writes the line from a size_t and stores 2**64-1 when Python reports none
// (CPython's -1, e.g. for an instruction without a line number); a negative
// line (the same -1 through an int64_t cast), one above the largest int, one
// that is not an int and a missing one are unknown too. Filename and Name
// are "" when absent or not a str, and a frame that is not a dict with str
// keys is {"", LineUnknown, ""}: frames only name tags, so no frame is ever
// a reason to refuse a snapshot.
type Frame struct {
	Filename string
	Line     int
	Name     string
}

// LineUnknown is Frame.Line when the snapshot records no usable line.
const LineUnknown = -1

// Error is a problem with a snapshot file: its pickle encoding, its shape, or
// one field's value.
type Error struct {
	File string // the file name given to Read; may be empty
	Path string // the field, e.g. "device_traces[1][57].size"; empty for the file as a whole
	Msg  string // what is wrong and what was expected
}

// Error returns "FILE: PATH: MSG", leaving out the parts that are empty.
func (e *Error) Error() string {
	s := e.Msg
	if e.Path != "" {
		s = e.Path + ": " + s
	}
	if e.File != "" {
		s = e.File + ": " + s
	}
	return s
}

// ReadFile reads the snapshot pickle at path; errors name path.
func ReadFile(path string) (*Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f, path)
}

// Read decodes a snapshot pickle (any protocol up to 5) from r. file names
// the input in errors. Only plain data is accepted: a pickle that holds any
// global, object, bytes or set is refused before anything is built.
func Read(r io.Reader, file string) (*Snapshot, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, &Error{File: file, Msg: err.Error()}
	}
	v, err := decodePickle(data)
	if err != nil {
		return nil, &Error{File: file, Msg: err.Error()}
	}
	c := newConverter()
	s, err := c.snapshot(v)
	if err != nil {
		if pe, ok := err.(*pathError); ok {
			return nil, &Error{File: file, Path: pe.path, Msg: pe.msg}
		}
		return nil, &Error{File: file, Msg: err.Error()}
	}
	return s, nil
}

// pathError is a problem at a field; path grows as it is passed up.
type pathError struct {
	path string
	msg  string
}

func (e *pathError) Error() string { return e.path + ": " + e.msg }

func fieldErr(key, format string, args ...any) error {
	return &pathError{path: key, msg: fmt.Sprintf(format, args...)}
}

// under prefixes err's path with prefix ("segments", "[3]", ".size").
func under(err error, prefix string) error {
	if pe, ok := err.(*pathError); ok {
		if pe.path == "" || pe.path[0] == '.' || pe.path[0] == '[' {
			pe.path = prefix + pe.path
		} else {
			pe.path = prefix + "." + pe.path
		}
		return pe
	}
	return err
}

func index(i int) string { return "[" + strconv.Itoa(i) + "]" }

// pyType names the Python type of a decoded value.
func pyType(v any) string {
	switch v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case *types.List:
		return "list"
	case *types.Tuple:
		return "tuple"
	case *types.Dict:
		return "dict"
	}
	return fmt.Sprintf("%T", v)
}

// converter turns decoded values into typed structs. Every container is
// converted once and the result shared: a pickle may reference one list many
// times through its memo (PyTorch's own files share frame lists), and a
// hostile one could nest such references to blow up exponentially.
type converter struct {
	frameLists map[*types.List][]Frame
	frames     map[*types.Dict]Frame
	traceLists map[*types.List][]TraceEntry
	entries    map[*types.Dict]TraceEntry
	blockLists map[*types.List][]Block
	segments   map[*types.Dict]bool
}

func newConverter() *converter {
	return &converter{
		frameLists: map[*types.List][]Frame{},
		frames:     map[*types.Dict]Frame{},
		traceLists: map[*types.List][]TraceEntry{},
		entries:    map[*types.Dict]TraceEntry{},
		blockLists: map[*types.List][]Block{},
		segments:   map[*types.Dict]bool{},
	}
}

// fields is a decoded dict whose keys are all str. Lookups scan it from the
// end, so the last of duplicate keys wins, as in Python; snapshot dicts have
// a dozen keys at most, and a map per dict would cost more than the scans.
type fields []types.DictEntry

func asFields(v any) (fields, error) {
	d, ok := v.(*types.Dict)
	if !ok {
		return nil, fieldErr("", "expected a dict, got %s", pyType(v))
	}
	for _, e := range *d {
		if _, ok := e.Key.(string); !ok {
			return nil, fieldErr("", "expected a dict with str keys, got a %s key", pyType(e.Key))
		}
	}
	return fields(*d), nil
}

// get returns the value of key.
func (f fields) get(key string) (any, bool) {
	for i := len(f) - 1; i >= 0; i-- {
		if f[i].Key.(string) == key {
			return f[i].Value, true
		}
	}
	return nil, false
}

// m returns the dict as a map.
func (f fields) m() map[string]any {
	m := make(map[string]any, len(f))
	for _, e := range f {
		m[e.Key.(string)] = e.Value
	}
	return m
}

func asList(v any) ([]any, error) {
	switch l := v.(type) {
	case *types.List:
		return *l, nil
	}
	return nil, fieldErr("", "expected a list, got %s", pyType(v))
}

func toInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case *big.Int:
		if n.IsInt64() {
			return n.Int64(), true
		}
	}
	return 0, false
}

func (f fields) int(key string, required bool, def int64) (int64, error) {
	v, ok := f.get(key)
	if !ok {
		if required {
			return 0, fieldErr("."+key, "missing, expected an int")
		}
		return def, nil
	}
	n, ok := toInt64(v)
	if !ok {
		if _, isInt := v.(*big.Int); isInt {
			return 0, fieldErr("."+key, "int %v does not fit 64 bits", v)
		}
		return 0, fieldErr("."+key, "expected an int, got %s", pyType(v))
	}
	return n, nil
}

// unsignedInt returns the value of an int that PyTorch writes from an
// unsigned 64-bit C++ type (size_t, a pointer, unsigned long long): 0 to
// 2**64-1. ok is false for any other value. Every field of such a type is
// read through it.
func unsignedInt(v any) (n uint64, ok bool) {
	switch x := v.(type) {
	case int:
		if x >= 0 {
			return uint64(x), true
		}
	case *big.Int:
		if x.IsUint64() {
			return x.Uint64(), true
		}
	}
	return 0, false
}

// What the unsigned fields must hold, for their errors.
const (
	wantAddress = "an address (an int from 0 to 2**64-1)"
	wantSize    = "a size in bytes (an int from 0 to 2**63-1; larger size_t values are not real sizes)"
	wantStream  = "a stream handle (an int from -2**63 to 2**64-1)"
	wantPoolID  = "a pool id (an int from 0 to 2**64-1)"
)

// intErr is the error for a value at path that is not want: an int outside
// its range, or not an int at all.
func intErr(path string, v any, want string) error {
	switch v.(type) {
	case int, *big.Int:
		return fieldErr(path, "expected %s, got %v", want, v)
	}
	return fieldErr(path, "expected an int, got %s", pyType(v))
}

// uint reads key, a field of an unsigned C++ type that the replay needs,
// through unsignedInt; want says what it must hold. has reports whether the
// key is present.
func (f fields) uint(key string, required bool, want string) (n uint64, has bool, err error) {
	v, ok := f.get(key)
	if !ok {
		if required {
			return 0, false, fieldErr("."+key, "missing, expected an int")
		}
		return 0, false, nil
	}
	if n, ok = unsignedInt(v); !ok {
		return 0, true, intErr("."+key, v, want)
	}
	return n, true, nil
}

// size reads key, a size_t size the replay needs: 0 to 2**63-1, def when
// absent.
func (f fields) size(key string, required bool, def int64) (int64, error) {
	n, has, err := f.uint(key, required, wantSize)
	if err != nil || !has {
		return def, err
	}
	if n > math.MaxInt64 {
		return 0, fieldErr("."+key, "expected %s, got %d", wantSize, n)
	}
	return int64(n), nil
}

// sizeOr reads key, a size_t size the replay does not need: its value when
// it is one (0 to 2**63-1), def when absent or not one. Never an error.
func (f fields) sizeOr(key string, def int64) int64 {
	v, _ := f.get(key)
	if n, ok := unsignedInt(v); ok && n <= math.MaxInt64 {
		return int64(n)
	}
	return def
}

// stream reads key, a cudaStream_t: PyTorch writes the pointer as an
// unsigned int (2**64-1 included) or as its int64_t cast, so both ranges are
// accepted and the 64 bits kept.
func (f fields) stream(key string) (int64, error) {
	v, ok := f.get(key)
	if !ok {
		return 0, nil
	}
	if n, ok := unsignedInt(v); ok {
		return int64(n), nil
	}
	if n, ok := toInt64(v); ok {
		return n, nil
	}
	return 0, intErr("."+key, v, wantStream)
}

// poolID reads key, a MempoolId_t (a pair of unsigned long long), written
// as a tuple (or a list) of two ints.
func (f fields) poolID(key string) (id [2]uint64, has bool, err error) {
	v, ok := f.get(key)
	if !ok {
		return id, false, nil
	}
	var items []any
	switch t := v.(type) {
	case *types.Tuple:
		items = *t
	case *types.List:
		items = *t
	default:
		return id, true, fieldErr("."+key, "expected a tuple of two ints, got %s", pyType(v))
	}
	if len(items) != 2 {
		return id, true, fieldErr("."+key, "expected a tuple of two ints, got %d items", len(items))
	}
	for k, it := range items {
		n, ok := unsignedInt(it)
		if !ok {
			return id, true, intErr("."+key+index(k), it, wantPoolID)
		}
		id[k] = n
	}
	return id, true, nil
}

// strOr reads key, a str the replay does not need: def when absent or not
// a str. Never an error.
func (f fields) strOr(key, def string) string {
	if s, ok := f.get(key); ok {
		if s, ok := s.(string); ok {
			return s
		}
	}
	return def
}

func (f fields) str(key string, required bool, def string) (string, error) {
	v, ok := f.get(key)
	if !ok {
		if required {
			return "", fieldErr("."+key, "missing, expected a str")
		}
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fieldErr("."+key, "expected a str, got %s", pyType(v))
	}
	return s, nil
}

func (f fields) bool(key string, def bool) (bool, error) {
	v, ok := f.get(key)
	if !ok {
		return def, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, fieldErr("."+key, "expected a bool, got %s", pyType(v))
	}
	return b, nil
}

func (f fields) float(key string, def float64) (float64, error) {
	v, ok := f.get(key)
	if !ok {
		return def, nil
	}
	switch x := v.(type) {
	case float64:
		return x, nil
	case int:
		return float64(x), nil
	}
	return 0, fieldErr("."+key, "expected a float, got %s", pyType(v))
}

// topShape is the message for a top level that is not a snapshot.
const topShape = "expected a dict with segments and device_traces"

func (c *converter) snapshot(v any) (*Snapshot, error) {
	d, ok := v.(*types.Dict)
	if !ok {
		return nil, fmt.Errorf("not a PyTorch memory snapshot: top-level is a %s, %s", pyType(v), topShape)
	}
	f, err := asFields(d)
	if err != nil {
		return nil, fmt.Errorf("not a PyTorch memory snapshot: top-level dict has a non-str key, %s", topShape)
	}
	for _, k := range []string{"segments", "device_traces"} {
		if _, ok := f.get(k); !ok {
			return nil, fmt.Errorf("not a PyTorch memory snapshot: top-level dict has no %s, %s", k, topShape)
		}
	}
	s := &Snapshot{}
	sv, _ := f.get("segments")
	segs, err := asList(sv)
	if err != nil {
		return nil, under(err, "segments")
	}
	s.Segments = make([]Segment, 0, len(segs))
	for i, sv := range segs {
		seg, err := c.segment(sv)
		if err != nil {
			return nil, under(under(err, index(i)), "segments")
		}
		s.Segments = append(s.Segments, seg)
	}
	tv, _ := f.get("device_traces")
	traces, err := asList(tv)
	if err != nil {
		return nil, under(err, "device_traces")
	}
	s.Traces = make([][]TraceEntry, len(traces))
	for dev, tv := range traces {
		t, err := c.traceList(tv)
		if err != nil {
			return nil, under(under(err, index(dev)), "device_traces")
		}
		s.Traces[dev] = t
	}
	if sv, ok := f.get("allocator_settings"); ok {
		st, err := settingsFrom(sv)
		if err != nil {
			return nil, under(err, "allocator_settings")
		}
		s.Settings = st
	}
	return s, nil
}

func (c *converter) segment(v any) (Segment, error) {
	if d, ok := v.(*types.Dict); ok {
		// A segment dict seen twice would describe the same memory twice;
		// converting it again is harmless but must not be unbounded work.
		if c.segments[d] {
			return Segment{}, fieldErr("", "the same segment dict appears twice")
		}
		c.segments[d] = true
	}
	f, err := asFields(v)
	if err != nil {
		return Segment{}, err
	}
	var s Segment
	dev, err := f.int("device", false, 0)
	if err != nil {
		return s, err
	}
	if dev < 0 || dev > 1<<20 {
		return s, fieldErr(".device", "expected a device ordinal, got %d", dev)
	}
	s.Device = int(dev)
	if s.Address, _, err = f.uint("address", true, wantAddress); err != nil {
		return s, err
	}
	if s.TotalSize, err = f.size("total_size", true, 0); err != nil {
		return s, err
	}
	if s.Stream, err = f.stream("stream"); err != nil {
		return s, err
	}
	if s.Expandable, err = f.bool("is_expandable", false); err != nil {
		return s, err
	}
	if s.Stitched, err = f.bool("is_stitched", false); err != nil {
		return s, err
	}
	if s.Pool, err = f.str("segment_type", false, ""); err != nil {
		return s, err
	}
	switch s.Pool {
	case PoolLarge, PoolSmall:
	case "":
		s.Pool = poolName(inferPool(s.TotalSize, s.Expandable))
	default:
		return s, fieldErr(".segment_type", "expected \"large\" or \"small\", got %q", s.Pool)
	}
	if s.PoolID, _, err = f.poolID("segment_pool_id"); err != nil {
		return s, err
	}
	bv, ok := f.get("blocks")
	if !ok {
		return s, fieldErr(".blocks", "missing, expected a list of blocks")
	}
	if s.Blocks, err = c.blockList(bv, s.Address); err != nil {
		return s, under(err, ".blocks")
	}
	var alloc, active, req int64
	for _, b := range s.Blocks {
		if b.State == StateAllocated {
			alloc += b.Size
		}
		if b.Live() {
			active += b.Size
			req += b.RequestedSize
		}
	}
	// The replay does not read these: a value that is not a size is
	// unknown, and the sum of the blocks takes its place.
	s.AllocatedSize = f.sizeOr("allocated_size", alloc)
	s.ActiveSize = f.sizeOr("active_size", active)
	s.RequestedSize = f.sizeOr("requested_size", req)
	return s, nil
}

func (c *converter) blockList(v any, base uint64) ([]Block, error) {
	l, ok := v.(*types.List)
	if !ok {
		return nil, fieldErr("", "expected a list, got %s", pyType(v))
	}
	if bl, ok := c.blockLists[l]; ok {
		return bl, nil
	}
	out := make([]Block, 0, len(*l))
	addr := base
	for i, bv := range *l {
		f, err := asFields(bv)
		if err != nil {
			return nil, under(err, index(i))
		}
		var b Block
		var has bool
		if b.Address, has, err = f.uint("address", false, wantAddress); err != nil {
			return nil, under(err, index(i))
		}
		if !has {
			b.Address = addr
		}
		if b.Size, err = f.size("size", true, 0); err != nil {
			return nil, under(err, index(i))
		}
		if b.RequestedSize, err = f.size("requested_size", false, 0); err != nil {
			return nil, under(err, index(i))
		}
		if b.State, err = f.str("state", true, ""); err != nil {
			return nil, under(err, index(i))
		}
		addr = b.Address + uint64(b.Size)
		out = append(out, b)
	}
	c.blockLists[l] = out
	return out, nil
}

func (c *converter) traceList(v any) ([]TraceEntry, error) {
	l, ok := v.(*types.List)
	if !ok {
		return nil, fieldErr("", "expected a list, got %s", pyType(v))
	}
	if t, ok := c.traceLists[l]; ok {
		return t, nil
	}
	out := make([]TraceEntry, len(*l))
	for i, ev := range *l {
		e, err := c.entry(ev)
		if err != nil {
			return nil, under(err, index(i))
		}
		out[i] = e
	}
	c.traceLists[l] = out
	return out, nil
}

// needsAddr reports whether an action's entry must have addr (and size).
func needsAddr(action string) bool {
	switch action {
	case ActAlloc, ActFreeRequested, ActFreeCompleted, ActSegmentAlloc, ActSegmentFree, ActSegmentMap, ActSegmentUnmap:
		return true
	}
	return false
}

func (c *converter) entry(v any) (TraceEntry, error) {
	d, isDict := v.(*types.Dict)
	if isDict {
		if e, ok := c.entries[d]; ok {
			return e, nil
		}
	}
	f, err := asFields(v)
	if err != nil {
		return TraceEntry{}, err
	}
	var e TraceEntry
	if e.Action, err = f.str("action", true, ""); err != nil {
		return e, err
	}
	addrNeeded := needsAddr(e.Action)
	if e.Addr, _, err = f.uint("addr", addrNeeded, wantAddress); err != nil {
		return e, err
	}
	if e.Size, err = f.size("size", addrNeeded || e.Action == ActOOM, 0); err != nil {
		return e, err
	}
	if e.Stream, err = f.stream("stream"); err != nil {
		return e, err
	}
	if e.DeviceFree, err = f.size("device_free", e.Action == ActOOM, 0); err != nil {
		return e, err
	}
	if e.PoolID, e.HasPoolID, err = f.poolID("pool_id"); err != nil {
		return e, err
	}
	// What the replay does not read is kept when it is what PyTorch
	// writes and unknown otherwise, never an error.
	if tv, ok := f.get("time_us"); ok {
		e.TimeUS, _ = toInt64(tv) // a time_t; 0 (unknown) when not an int64
	}
	e.CompileContext = f.strOr("compile_context", "")
	e.UserMetadata = f.strOr("user_metadata", "")
	if fv, ok := f.get("frames"); ok {
		e.Frames = c.frameList(fv)
	}
	if isDict {
		c.entries[d] = e
	}
	return e, nil
}

// frameList converts a frames list. Frames only name tags, so nothing in
// them is an error: a frames value that is not a list is no frames, and
// values that are not what PyTorch writes are unknown (see Frame).
func (c *converter) frameList(v any) []Frame {
	l, ok := v.(*types.List)
	if !ok || len(*l) == 0 {
		return nil
	}
	if fl, ok := c.frameLists[l]; ok {
		return fl
	}
	out := make([]Frame, len(*l))
	for i, fv := range *l {
		d, isDict := fv.(*types.Dict)
		if isDict {
			if fr, ok := c.frames[d]; ok {
				out[i] = fr
				continue
			}
		}
		fr := Frame{Line: LineUnknown}
		if f, err := asFields(fv); err == nil {
			fr.Filename = f.strOr("filename", "")
			fr.Name = f.strOr("name", "")
			if lv, ok := f.get("line"); ok {
				fr.Line = lineOf(lv)
			}
		}
		out[i] = fr
		if isDict {
			c.frames[d] = fr
		}
	}
	c.frameLists[l] = out
	return out
}

// lineOf is a frame's line, a size_t: LineUnknown unless it is an int from
// 0 to the largest int (2**64-1 is PyTorch's "none").
func lineOf(v any) int {
	if n, ok := unsignedInt(v); ok && n <= math.MaxInt {
		return int(n)
	}
	return LineUnknown
}

// plain converts a decoded value into nil, bool, int64, uint64 (an int
// above 2**63-1), float64, string, []any or map[string]any, for settings
// this package does not model. An int that fits neither is nil (unknown).
func plain(v any, depth int) (any, error) {
	if depth > 32 {
		return nil, fieldErr("", "nested too deeply")
	}
	switch x := v.(type) {
	case nil, bool, float64, string:
		return x, nil
	case int, *big.Int:
		// Settings PyTorch writes from a size_t may exceed int64.
		if n, ok := toInt64(x); ok {
			return n, nil
		}
		if n, ok := unsignedInt(x); ok {
			return n, nil
		}
		return nil, nil // unknown: no C++ setting is wider than 64 bits
	case *types.List:
		return plainSeq(*x, depth)
	case *types.Tuple:
		return plainSeq(*x, depth)
	case *types.Dict:
		f, err := asFields(x)
		if err != nil {
			return nil, err
		}
		fm := f.m()
		m := make(map[string]any, len(fm))
		for k, fv := range fm {
			pv, err := plain(fv, depth+1)
			if err != nil {
				return nil, under(err, "."+k)
			}
			m[k] = pv
		}
		return m, nil
	}
	return nil, fieldErr("", "unexpected %s", pyType(v))
}

func plainSeq(items []any, depth int) ([]any, error) {
	out := make([]any, len(items))
	for i, it := range items {
		pv, err := plain(it, depth+1)
		if err != nil {
			return nil, under(err, index(i))
		}
		out[i] = pv
	}
	return out, nil
}
