package snapshot

import (
	"bytes"
	"encoding/binary"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the files in testdata/")

// syntheticSnapshot exercises every field Write writes: two devices (one
// without entries), a shared frame list, an oom, an expandable run, a private
// pool id of 2**64-1 (on a segment and on the oom entry; another entry has
// pool_id (0, 0), one has none), an address above 2**63, an unknown frame
// line, negative ints and non-default settings.
func syntheticSnapshot() *Snapshot {
	frames := []Frame{
		{Filename: "/x/torch/nn/modules/module.py", Line: 1520, Name: "_call_impl"},
		{Filename: "model.py", Line: 42, Name: "forward"},
		{Filename: "<frozen runpy>", Line: LineUnknown, Name: "_run_code"},
	}
	return &Snapshot{
		Segments: []Segment{
			{Device: 0, Address: 0x7f0000000000, TotalSize: 20 * mib, AllocatedSize: 4 * mib, ActiveSize: 4 * mib, RequestedSize: 4*mib - 100,
				Stream: 0, Pool: PoolLarge, Blocks: []Block{
					{Address: 0x7f0000000000, Size: 4 * mib, RequestedSize: 4*mib - 100, State: StateAllocated},
					{Address: 0x7f0000400000, Size: 16 * mib, State: StateInactive},
				}},
			{Device: 0, Address: 0x8000000000000000, TotalSize: 2 * mib, Pool: PoolSmall, PoolID: [2]uint64{math.MaxUint64, 7}, Expandable: true,
				Blocks: []Block{{Address: 0x8000000000000000, Size: 2 * mib, State: StateInactive}}},
		},
		Traces: [][]TraceEntry{
			{
				{Action: ActSegmentAlloc, Addr: 0x7f0000000000, Size: 20 * mib, TimeUS: 1748730219596671, Frames: frames, HasPoolID: true},
				{Action: ActAlloc, Addr: 0x7f0000000000, Size: 4*mib - 100, Stream: -1, TimeUS: 1748730219596672, Frames: frames, CompileContext: "N/A", UserMetadata: "step 1"},
				{Action: ActOOM, Size: 1 << 40, DeviceFree: 123 * mib, TimeUS: 1748730219596673, PoolID: [2]uint64{math.MaxUint64, 7}, HasPoolID: true},
				{Action: "user_defined", UserMetadata: "é ünïcode ✓"},
			},
			{},
		},
		Settings: &Settings{
			AllocConf:                  "expandable_segments:True,max_split_size_mb:128",
			MaxSplitSize:               128 * mib,
			GarbageCollectionThreshold: 0.6,
			ExpandableSegments:         true,
			RoundupPower2Divisions:     [Intervals]int64{4, 4, 4, 4, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8},
			Other: map[string]any{
				"pinned_num_register_threads":       int64(1),
				"release_lock_on_cudamalloc":        false,
				"graph_capture_record_stream_reuse": true,
			},
		},
	}
}

// Hand-written protocol-2 pickle, byte by byte, as the TorchScript pickler
// (torch::cuda::_memory_snapshot_pickled) writes them: BINUNICODE strings,
// BINPUT memo slots, LONG1 addresses. Its frame list is stored in the memo
// and referenced again by BINGET. Old format: no time_us, no settings.
func handwrittenProto2() []byte {
	var b bytes.Buffer
	op := func(s ...byte) { b.Write(s) }
	u := func(s string) { // BINUNICODE: 'X', 4-byte little-endian length, UTF-8
		op('X')
		binary.Write(&b, binary.LittleEndian, uint32(len(s)))
		b.WriteString(s)
	}
	put := func(i byte) { op('q', i) }                             // BINPUT i
	addr0 := []byte{0x8a, 6, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7f}   // LONG1 0x7f0000000000
	addr512 := []byte{0x8a, 6, 0x00, 0x02, 0x00, 0x00, 0x00, 0x7f} // LONG1 0x7f0000000200
	twoMiB := []byte{'J', 0x00, 0x00, 0x20, 0x00}                  // BININT 2097152
	zero := []byte{'K', 0}                                         // BININT1 0

	op(0x80, 2)     // PROTO 2
	op('}')         // EMPTY_DICT: the snapshot
	put(0)          //
	op('(')         // MARK
	u("segments")   //
	op(']')         // EMPTY_LIST
	op('}')         // EMPTY_DICT: segment 0
	op('(')         // MARK
	u("device")     //
	op(zero...)     //
	u("address")    //
	op(addr0...)    //
	u("total_size") //
	op(twoMiB...)   //
	u("allocated_size")
	op('M', 0x00, 0x02) // BININT2 512
	u("active_size")
	op('M', 0x00, 0x02)
	u("requested_size")
	op('K', 100)
	u("stream")
	op(zero...)
	u("segment_type")
	u("small")
	u("segment_pool_id")
	op(zero...)
	op(zero...)
	op(0x86) // TUPLE2
	u("is_expandable")
	op(0x89) // NEWFALSE
	u("frames")
	op(']')
	u("blocks")
	op(']') // the block list, filled by APPENDS
	op('(')
	op('}', '(')
	u("address")
	op(addr0...)
	u("size")
	op('M', 0x00, 0x02)
	u("requested_size")
	op('K', 100)
	u("state")
	u("active_allocated")
	u("frames")
	op(']')
	op('u') // SETITEMS: block 0
	op('}', '(')
	u("address")
	op(addr512...)
	u("size")
	op('J', 0x00, 0xfe, 0x1f, 0x00) // BININT 2096640
	u("requested_size")
	op(zero...)
	u("state")
	u("inactive")
	u("frames")
	op(']')
	op('u') // SETITEMS: block 1
	op('e') // APPENDS: blocks
	op('u') // SETITEMS: segment 0
	op('a') // APPEND: segments
	u("device_traces")
	op(']')      // device_traces
	op(']')      // device 0
	op('(')      // MARK
	op('}', '(') // entry 0
	u("action")
	u("segment_alloc")
	u("addr")
	op(addr0...)
	u("size")
	op(twoMiB...)
	u("stream")
	op(zero...)
	u("frames")
	op(']') // the shared frame list, stored before it is filled
	put(1)
	op('(')
	op('}', '(')
	u("filename")
	u("train.py")
	u("line")
	op('K', 3)
	u("name")
	u("forward")
	op('u')
	op('e')      // APPENDS: frames
	op('u')      // SETITEMS: entry 0
	op('}', '(') // entry 1
	u("action")
	u("alloc")
	u("addr")
	op(addr0...)
	u("size")
	op('K', 100)
	u("stream")
	op(zero...)
	u("frames")
	op('h', 1) // BINGET 1: the same frame list
	op('u')    // SETITEMS: entry 1
	op('e')    // APPENDS: device 0
	op('a')    // APPEND: device_traces
	op('u')    // SETITEMS: the snapshot
	op('.')    // STOP
	return b.Bytes()
}

// hostile fixtures: each must be refused with the documented error.
func fixtureGlobal() []byte { return []byte("cos\nsystem\n(S'echo pwned'\ntR.") }

func fixtureTopList() []byte {
	var b bytes.Buffer
	if err := writeValue(&b, []any{map[string]any{"segments": []any{}}}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func fixtureStringSize() []byte {
	entry := func(size any) any {
		return map[string]any{"action": "alloc", "addr": int64(4096), "size": size, "stream": int64(0), "frames": []any{}}
	}
	dev1 := make([]any, 58)
	for i := range dev1 {
		dev1[i] = entry(int64(512))
	}
	dev1[57] = entry("512")
	var b bytes.Buffer
	if err := writeValue(&b, map[string]any{"segments": []any{}, "device_traces": []any{[]any{}, dev1}}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func fixtureTruncated() []byte {
	var b bytes.Buffer
	if err := Write(&b, syntheticSnapshot()); err != nil {
		panic(err)
	}
	return b.Bytes()[:b.Len()/2]
}

// writeValue pickles a plain Go value (test helper for malformed snapshots).
func writeValue(w *bytes.Buffer, v any) error {
	e := &encoder{strs: map[string]uint32{}, frames: map[Frame]uint32{}, frameLists: map[tagKey]uint32{}}
	var out bytes.Buffer
	e.w = newBufWriter(&out)
	e.raw(opProto, 4)
	e.value(v)
	e.raw(opStop)
	if e.err != nil {
		return e.err
	}
	if err := e.w.Flush(); err != nil {
		return err
	}
	w.Write(out.Bytes())
	return nil
}

// fixtures are the files of testdata/, generated here.
func fixtures() map[string][]byte {
	var syn bytes.Buffer
	if err := Write(&syn, syntheticSnapshot()); err != nil {
		panic(err)
	}
	files := map[string][]byte{
		"synthetic.pickle":          syn.Bytes(),
		"proto2-handwritten.pickle": handwrittenProto2(),
		"bad-global.pickle":         fixtureGlobal(),
		"bad-toplist.pickle":        fixtureTopList(),
		"bad-string-size.pickle":    fixtureStringSize(),
		"bad-truncated.pickle":      fixtureTruncated(),
	}
	for name, s := range poolFixtures() {
		var b bytes.Buffer
		if err := Write(&b, s); err != nil {
			panic(err)
		}
		files[name] = b.Bytes()
	}
	return files
}

// TestFixtures checks that testdata/ holds exactly what this file generates
// (run "go test ./snapshot -run TestFixtures -update" to rewrite it).
func TestFixtures(t *testing.T) {
	for name, data := range fixtures() {
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./snapshot -run TestFixtures -update)", err)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("%s differs from what the test generates (run go test ./snapshot -run TestFixtures -update)", path)
		}
	}
}
