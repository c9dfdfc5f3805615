package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadHandwrittenProto2(t *testing.T) {
	s, err := ReadFile(filepath.Join("testdata", "proto2-handwritten.pickle"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Snapshot{
		Segments: []Segment{{
			Device: 0, Address: 0x7f0000000000, TotalSize: 2 * mib, AllocatedSize: 512, ActiveSize: 512, RequestedSize: 100,
			Pool: PoolSmall, Blocks: []Block{
				{Address: 0x7f0000000000, Size: 512, RequestedSize: 100, State: StateAllocated},
				{Address: 0x7f0000000200, Size: 2096640, State: StateInactive},
			},
		}},
		Traces: [][]TraceEntry{{
			{Action: ActSegmentAlloc, Addr: 0x7f0000000000, Size: 2 * mib, Frames: []Frame{{Filename: "train.py", Line: 3, Name: "forward"}}},
			{Action: ActAlloc, Addr: 0x7f0000000000, Size: 100, Frames: []Frame{{Filename: "train.py", Line: 3, Name: "forward"}}},
		}},
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("got %+v\nwant %+v", s, want)
	}
	// The frame list referenced twice through the memo is one list.
	if &s.Traces[0][0].Frames[0] != &s.Traces[0][1].Frames[0] {
		t.Error("the shared frame list was not kept shared")
	}
	w, err := s.Workload(-1)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Events) != 1 || w.Tags == nil {
		t.Fatalf("events %+v", w.Events)
	}
	if name, _ := w.Tags.Name(w.Events[0].Tag); name != "activation" {
		t.Errorf("tag %q, want activation", name)
	}
	if err := Verify(w, s); err != nil {
		t.Error(err)
	}
}

func TestReadSyntheticFixture(t *testing.T) {
	s, err := ReadFile(filepath.Join("testdata", "synthetic.pickle"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, syntheticSnapshot()) {
		t.Fatalf("got %+v\nwant %+v", s, syntheticSnapshot())
	}
}

// le64 is an 8-byte little-endian field.
func le64(n uint64) string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], n)
	return string(b[:])
}

func TestReadErrors(t *testing.T) {
	fixture := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name string
		data []byte
		want string // the whole message
	}{
		{"global, protocol 0", fixture("bad-global.pickle"),
			"x.pickle: refusing pickle global os.system: snapshots contain only plain data"},
		{"global, protocol 4 STACK_GLOBAL (Python's pickle.dumps of os.system('ls'))",
			[]byte("\x80\x04\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93\x94\x8c\x02ls\x94\x85\x94R\x94."),
			"x.pickle: refusing pickle global posix.system: snapshots contain only plain data"},
		{"global, protocol 2 (Python's pickle.dumps of os.system('ls'))",
			[]byte("\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03."),
			"x.pickle: refusing pickle global posix.system: snapshots contain only plain data"},
		{"global, STACK_GLOBAL with memoized names",
			[]byte("\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x940h\x00h\x01\x93."),
			"x.pickle: refusing pickle global os.system: snapshots contain only plain data"},
		{"global that gopickle would resolve itself", []byte("\x80\x02ccollections\nOrderedDict\nq\x00)R."),
			"x.pickle: refusing pickle global collections.OrderedDict: snapshots contain only plain data"},
		{"global popped at once", []byte("cos\nsystem\n0}."),
			"x.pickle: refusing pickle global os.system: snapshots contain only plain data"},
		{"INST", []byte("(ios\nsystem\nS'ls'\n."),
			"x.pickle: refusing pickle global os.system: snapshots contain only plain data"},
		{"bytes", []byte("\x80\x03C\x03abc."),
			"x.pickle: refusing pickle opcode SHORT_BINBYTES at byte 2 (bytes): snapshots contain only plain data"},
		{"set", []byte("\x80\x04\x8f\x94."),
			"x.pickle: refusing pickle opcode EMPTY_SET at byte 2 (a set): snapshots contain only plain data"},
		{"persistent id", []byte("\x80\x02X\x01\x00\x00\x00xQ."),
			"x.pickle: refusing pickle opcode BINPERSID at byte 8 (a persistent id): snapshots contain only plain data"},
		{"empty file", nil, "x.pickle: empty file, expected a pickle"},
		{"truncated", fixture("bad-truncated.pickle"), "x.pickle: truncated pickle: SHORT_BINUNICODE at byte 684 needs 14 bytes of data, 6 left"},
		{"no STOP", []byte("\x80\x04}"), "x.pickle: truncated pickle: ends after 3 bytes without STOP"},
		{"unknown opcode", []byte("\x80\x04\xff"), "x.pickle: corrupt pickle: unknown opcode 0xff at byte 2"},
		{"1 TiB frame", []byte("\x80\x04\x95" + le64(1<<40) + "}."),
			"x.pickle: truncated pickle: FRAME at byte 2 announces 1099511627776 bytes, 2 left"},
		{"1 TiB string", []byte("\x80\x04\x8d" + le64(1<<40) + "}."),
			"x.pickle: truncated pickle: BINUNICODE8 at byte 2 needs 1099511627776 bytes of data, 2 left"},
		{"4 GiB string", []byte("\x80\x02X\xff\xff\xff\xff."),
			"x.pickle: truncated pickle: BINUNICODE at byte 2 needs 4294967295 bytes of data, 1 left"},
		{"huge int", []byte("\x80\x02\x8b\x00\x01\x00\x00" + strings.Repeat("\x01", 256) + "."),
			"x.pickle: corrupt pickle: LONG4 at byte 2 holds a 256-byte integer; a memory snapshot has none wider than 64 bits"},
		{"int of 2**64 (LONG1, 9 bytes)", []byte("\x80\x02\x8a\x09" + strings.Repeat("\x00", 8) + "\x01."),
			"x.pickle: corrupt pickle: LONG1 at byte 2 holds an integer outside -2**63 … 2**64-1; a memory snapshot has none wider than 64 bits"},
		{"int below -2**63 (LONG1, 9 bytes)", []byte("\x80\x02\x8a\x09" + strings.Repeat("\x00", 8) + "\xff."),
			"x.pickle: corrupt pickle: LONG1 at byte 2 holds an integer outside -2**63 … 2**64-1; a memory snapshot has none wider than 64 bits"},
		{"int of 2**64 (LONG text)", []byte("L18446744073709551616L\n."),
			"x.pickle: corrupt pickle: LONG at byte 0 holds 18446744073709551616, outside -2**63 … 2**64-1; a memory snapshot has none wider than 64 bits"},
		{"LONG text not a number", []byte("L12x\n."), "x.pickle: corrupt pickle: LONG at byte 0: bad number \"12x\""},
		{"2**64-1 (LONG1, 9 bytes) passes the scanner", []byte("\x80\x02\x8a\x09" + strings.Repeat("\xff", 8) + "\x00."),
			"x.pickle: not a PyTorch memory snapshot: top-level is a int, expected a dict with segments and device_traces"},
		{"-1 in 9 bytes passes the scanner", []byte("\x80\x02\x8a\x09" + strings.Repeat("\xff", 9) + "."),
			"x.pickle: not a PyTorch memory snapshot: top-level is a int, expected a dict with segments and device_traces"},
		{"2**64-1 (LONG text, protocol 0) passes the scanner", []byte("L18446744073709551615L\n."),
			"x.pickle: not a PyTorch memory snapshot: top-level is a int, expected a dict with segments and device_traces"},
		{"-2**63 (LONG text) passes the scanner", []byte("L-9223372036854775808L\n."),
			"x.pickle: not a PyTorch memory snapshot: top-level is a int, expected a dict with segments and device_traces"},
		{"memo miss", []byte("\x80\x04h\x05."),
			"x.pickle: corrupt pickle: BINGET at byte 2 refers to memo entry 5, which was never stored"},
		{"protocol 6", []byte("\x80\x06}."), "x.pickle: unsupported pickle protocol 6 (at most 5)"},
		{"stack underflow", []byte("\x80\x04s."), "x.pickle: corrupt pickle: "},
		{"odd dict", []byte("\x80\x02(K\x01d."), "x.pickle: corrupt pickle: "},
		{"top-level list", fixture("bad-toplist.pickle"),
			"x.pickle: not a PyTorch memory snapshot: top-level is a list, expected a dict with segments and device_traces"},
		{"top-level int", []byte("\x80\x04K\x05."),
			"x.pickle: not a PyTorch memory snapshot: top-level is a int, expected a dict with segments and device_traces"},
		{"no device_traces", pickled(t, map[string]any{"segments": []any{}}),
			"x.pickle: not a PyTorch memory snapshot: top-level dict has no device_traces, expected a dict with segments and device_traces"},
		{"string size", fixture("bad-string-size.pickle"),
			"x.pickle: device_traces[1][57].size: expected an int, got str"},
		{"segment with a string size", pickled(t, map[string]any{"device_traces": []any{}, "segments": []any{
			map[string]any{"address": int64(0), "total_size": "2097152", "blocks": []any{}}}}),
			"x.pickle: segments[0].total_size: expected an int, got str"},
		{"block without size", pickled(t, map[string]any{"device_traces": []any{}, "segments": []any{
			map[string]any{"address": int64(0), "total_size": int64(512), "blocks": []any{map[string]any{"state": "inactive"}}}}}),
			"x.pickle: segments[0].blocks[0].size: missing, expected an int"},
		{"bad segment_type", pickled(t, map[string]any{"device_traces": []any{}, "segments": []any{
			map[string]any{"address": int64(0), "total_size": int64(512), "segment_type": "huge", "blocks": []any{}}}}),
			"x.pickle: segments[0].segment_type: expected \"large\" or \"small\", got \"huge\""},
		{"negative address", pickled(t, map[string]any{"segments": []any{}, "device_traces": []any{[]any{
			map[string]any{"action": "alloc", "addr": int64(-5), "size": int64(1)}}}}),
			"x.pickle: device_traces[0][0].addr: expected an address (an int from 0 to 2**64-1), got -5"},
		{"oom without device_free", pickled(t, map[string]any{"segments": []any{}, "device_traces": []any{[]any{
			map[string]any{"action": "oom", "size": int64(1)}}}}),
			"x.pickle: device_traces[0][0].device_free: missing, expected an int"},
		{"settings not a dict", pickled(t, map[string]any{"segments": []any{}, "device_traces": []any{}, "allocator_settings": []any{}}),
			"x.pickle: allocator_settings: expected a dict, got list"},
		{"bad roundup key", pickled(t, map[string]any{"segments": []any{}, "device_traces": []any{},
			"allocator_settings": map[string]any{"roundup_power2_divisions": map[string]any{"3": int64(4)}}}),
			"x.pickle: allocator_settings.roundup_power2_divisions: unexpected key \"3\", expected \"1\", \"2\", \"4\", … \"32768\""},
		{"device_traces of dicts", pickled(t, map[string]any{"segments": []any{}, "device_traces": []any{map[string]any{}}}),
			"x.pickle: device_traces[0]: expected a list, got dict"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Read(bytes.NewReader(c.data), "x.pickle")
			if err == nil {
				t.Fatalf("no error; got %+v", s)
			}
			var se *Error
			if !errors.As(err, &se) {
				t.Errorf("error %T, want *Error", err)
			}
			if strings.HasSuffix(c.want, " ") {
				if !strings.HasPrefix(err.Error(), c.want) {
					t.Errorf("got  %q\nwant %q…", err, c.want)
				}
			} else if err.Error() != c.want {
				t.Errorf("got  %q\nwant %q", err, c.want)
			}
		})
	}
}

func pickled(t testing.TB, v any) []byte {
	var b bytes.Buffer
	if err := writeValue(&b, v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestReadDefaults(t *testing.T) {
	// Only the required fields: everything else takes its default.
	s, err := Read(bytes.NewReader(pickled(t, map[string]any{
		"segments": []any{map[string]any{"address": int64(1 << 30), "total_size": int64(2 * mib), "blocks": []any{
			map[string]any{"size": int64(512), "state": "active_allocated", "requested_size": int64(3)},
			map[string]any{"size": int64(2*mib - 512), "state": "inactive"},
		}}},
		"device_traces": []any{[]any{map[string]any{"action": "alloc", "addr": int64(1 << 30), "size": int64(3)}}},
	})), "")
	if err != nil {
		t.Fatal(err)
	}
	want := &Snapshot{
		Segments: []Segment{{Address: 1 << 30, TotalSize: 2 * mib, AllocatedSize: 512, ActiveSize: 512, RequestedSize: 3, Pool: PoolSmall,
			Blocks: []Block{{Address: 1 << 30, Size: 512, RequestedSize: 3, State: StateAllocated}, {Address: 1<<30 + 512, Size: 2*mib - 512, State: StateInactive}}}},
		Traces: [][]TraceEntry{{{Action: ActAlloc, Addr: 1 << 30, Size: 3}}},
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("got %+v\nwant %+v", s, want)
	}
}

// TestReadSharedListsStaySmall feeds a pickle whose device_traces holds one
// memoized trace list 100,001 times (two bytes per reference). Converting it
// must share that list, not convert it again for every reference.
func TestReadSharedListsStaySmall(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("\x80\x04}(\x8c\x08segments]\x8c\x0ddevice_traces](") // {segments: [], device_traces: [
	b.WriteString("]\x94(}(\x8c\x06action\x8c\x08snapshotue")           //   T = [{action: snapshot}] (memo 0),
	for i := 0; i < 100000; i++ {
		b.WriteString("h\x00") // T again (BINGET 0)
	}
	b.WriteString("eu.") // ]}
	s, err := Read(bytes.NewReader(b.Bytes()), "laughs")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Traces) != 100001 {
		t.Fatalf("%d traces", len(s.Traces))
	}
	if &s.Traces[0][0] != &s.Traces[100000][0] {
		t.Error("a trace list referenced many times was converted many times")
	}
}

// TestReadProtocols reads {'segments': [], 'device_traces': [[{'action':
// 'snapshot', 'addr': 0, 'size': 5, 'stream': 0}]]} as Python 3 pickles it
// at protocols 0, 1 and 5.
func TestReadProtocols(t *testing.T) {
	want := &Snapshot{Segments: []Segment{}, Traces: [][]TraceEntry{{{Action: ActSnapshot, Size: 5}}}}
	for proto, data := range map[int]string{
		0: "(dp0\nVsegments\np1\n(lp2\nsVdevice_traces\np3\n(lp4\n(lp5\n(dp6\nVaction\np7\nVsnapshot\np8\nsVaddr\np9\nI0\nsVsize\np10\nI5\nsVstream\np11\nI0\nsaas.",
		1: "}q\x00(X\x08\x00\x00\x00segmentsq\x01]q\x02X\r\x00\x00\x00device_tracesq\x03]q\x04]q\x05}q\x06(X\x06\x00\x00\x00actionq\x07X\x08\x00\x00\x00snapshotq\x08X\x04\x00\x00\x00addrq\tK\x00X\x04\x00\x00\x00sizeq\nK\x05X\x06\x00\x00\x00streamq\x0bK\x00uaau.",
		5: "\x80\x05\x95]\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x08segments\x94]\x94\x8c\rdevice_traces\x94]\x94]\x94}\x94(\x8c\x06action\x94\x8c\x08snapshot\x94\x8c\x04addr\x94K\x00\x8c\x04size\x94K\x05\x8c\x06stream\x94K\x00uaau.",
	} {
		s, err := Read(strings.NewReader(data), "p")
		if err != nil {
			t.Errorf("protocol %d: %v", proto, err)
			continue
		}
		if !reflect.DeepEqual(s, want) {
			t.Errorf("protocol %d: got %+v, want %+v", proto, s, want)
		}
	}
}
