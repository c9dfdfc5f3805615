package wasm_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/sdk/abi"
)

// logInit is what log.wat's policy_init logs.
var logInit = []string{
	"policy debug: debug line",
	"policy info: info line",
	"policy warn: warn line",
	"policy error: error line",
	"policy level 7: odd level",
	`policy info: "\xff\xfe"`,
}

// TestLog: fraglab.log lines reach Config.Log with their level; the host
// keeps the first 1000 lines of a run (ABI §5.1).
func TestLog(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spam  int64 // lines logged by policy_observe after the 6 of policy_init
		lines int   // lines expected in the log, the note included
		note  bool
	}{
		{"few", 3, 9, false},
		{"exactly 1000", 1000 - int64(len(logInit)), 1000, false},
		{"1001", 1001 - int64(len(logInit)), 1001, true},
		{"5000", 5000, 1001, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			in := instantiate(t, "log", wasm.Config{Log: &out})
			if _, err := in.Observe(0, tc.spam, 0, 0); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if len(lines) != tc.lines {
				t.Fatalf("%d lines, want %d", len(lines), tc.lines)
			}
			for i, want := range logInit {
				if lines[i] != want {
					t.Errorf("line %d = %q, want %q", i, lines[i], want)
				}
			}
			kept := lines
			if tc.note {
				kept = lines[:1000]
				if want := "policy: more than 1000 log lines; the rest are dropped"; lines[1000] != want {
					t.Errorf("last line %q, want %q", lines[1000], want)
				}
			}
			for i, l := range kept[len(logInit):] {
				if l != "policy info: spam" {
					t.Fatalf("line %d = %q, want %q", len(logInit)+i, l, "policy info: spam")
				}
			}
		})
	}
	t.Run("nil Log", func(t *testing.T) {
		in := instantiate(t, "log", wasm.Config{})
		if _, err := in.Observe(0, 2000, 0, 0); err != nil {
			t.Fatal(err)
		}
	})
}

// TestLogReplay: replay.Options.PolicyLog receives the policy's lines.
func TestLogReplay(t *testing.T) {
	var out strings.Builder
	_, err := replay.Run(context.Background(), jsonl(
		`{"op":"alloc","id":1,"size":1000}`,
		`{"op":"alloc","id":2,"size":1000}`,
	), compile(t, "log"), cudadriver.NewSim(cudadriver.SimOptions{}), replay.Options{PolicyLog: &out})
	if err != nil {
		t.Fatal(err)
	}
	// policy_observe(kind 0, id) logs id lines after each allocation.
	want := strings.Join(logInit, "\n") + strings.Repeat("\npolicy info: spam", 1+2) + "\n"
	if out.String() != want {
		t.Errorf("policy log\n%s\nwant\n%s", out.String(), want)
	}
}

// TestStat: fraglab.stat answers the allocator's state (ABI §5.3); before
// the allocator exists (policy_init) it answers the device's facts and zero
// counters. Unknown keys answer INT64_MIN.
func TestStat(t *testing.T) {
	const capacity = 1 << 30
	dev := cudadriver.NewSim(cudadriver.SimOptions{Capacity: capacity})
	in := instantiate(t, "stat", wasm.Config{Device: dev.Info()})
	for name, want := range map[string]int64{
		"g_init_event":       -1,
		"g_init_reserved":    0,
		"g_init_capacity":    capacity,
		"g_init_granularity": cudadriver.DefaultGranularity,
		"g_init_pool_free":   0,
		"g_init_bad_pool":    math.MinInt64,
		"g_init_unknown":     math.MinInt64,
	} {
		if got := global(t, in, name); got != want {
			t.Errorf("in policy_init: %s = %d, want %d", name, got, want)
		}
	}

	a := host.New(dev, in, host.Options{})
	in.AttachStats(a.Stat)
	for i, size := range []int64{1000, 50 * MiB} {
		a.SetEvent(int64(i))
		if err := a.Alloc(int64(i), size, 0, 0); err != nil {
			t.Fatal(err)
		}
		// policy_observe, asked after the allocation, saw the reserved bytes.
		if got, want := global(t, in, "g_observe_reserved"), a.Stats().Reserved; got != want {
			t.Errorf("after allocation %d: policy_observe saw stat(1, 0) = %d, want %d", i, got, want)
		}
	}
	s := a.Stats()
	if s.Reserved != 52*MiB {
		t.Fatalf("reserved %d, want 52 MiB (a 2 MiB and a 50 MiB segment)", s.Reserved)
	}
	// policy_expand_size(_, _, key, arg, _) answers stat(key, arg).
	for _, tc := range []struct {
		key, arg int32
		want     int64
	}{
		{abi.StatEventIndex, 0, 1},
		{abi.StatReserved, 0, 52 * MiB},
		{abi.StatAllocated, 0, 1024 + 50*MiB},
		{abi.StatRequested, 0, 1000 + 50*MiB},
		{abi.StatCapacity, 0, capacity},
		{abi.StatDeviceFree, 0, capacity - 52*MiB},
		{abi.StatSegments, 0, 2},
		{abi.StatPoolFree, abi.PoolSmall, 2*MiB - 1024},
		{abi.StatPoolFree, abi.PoolLarge, 0},
		{abi.StatPoolFree, 8, math.MinInt64},
		{abi.StatPoolLargest, abi.PoolSmall, 2*MiB - 1024},
		{abi.StatPoolReserved, abi.PoolLarge, 50 * MiB},
		{abi.StatPoolReserved, -1, math.MinInt64},
		{abi.StatGranularity, 0, cudadriver.DefaultGranularity},
		{abi.StatPeakReserved, 0, 52 * MiB},
		{abi.StatLiveBlocks, 0, 2},
		{abi.StatMergeBlockOffset, 0, -1}, // outside policy_merge
		{abi.StatMergeNeighbourOffset, 0, -1},
		{abi.StatRequestPrivatePool, 0, -1}, // outside an allocation (ABI 1.4)
		{abi.StatPrivateReserved, 0, 0},
		{abi.StatPendingFree, 0, 0},
		{20, 0, math.MinInt64},
		{-1, 0, math.MinInt64},
		{1 << 30, 0, math.MinInt64},
	} {
		got, err := in.ExpandSize(0, 0, tc.key, tc.arg, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("stat(%d, %d) = %d, want %d", tc.key, tc.arg, got, tc.want)
		}
	}
}

// TestConfig: fraglab.config in policy_init sets the candidate window;
// outside policy_init, and for unknown keys or values out of range, it
// answers -3 (ABI §5.5).
func TestConfig(t *testing.T) {
	in := instantiate(t, "config", wasm.Config{})
	for name, want := range map[string]int64{
		"g_unknown_key": abi.Error,
		"g_window_0":    abi.Error,
		"g_window_257":  abi.Error,
		"g_window_3":    3,
		"g_scratch_min": 3 * abi.RecordSize,
	} {
		if got := global(t, in, name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	if in.CandidateWindow() != 3 {
		t.Fatalf("CandidateWindow = %d, want 3", in.CandidateWindow())
	}

	// Ten 512-byte blocks in one segment; freeing the even ones leaves four
	// 512-byte free blocks between allocated ones, and the segment's rest.
	// Best fit offers them in address order, then the rest: with a window
	// of 3 the last candidate is the third small block (offset 2048); with
	// the default window it would be the rest.
	a, do := simAllocator(t, in)
	for id := range int64(10) {
		do(func() error { return a.Alloc(id, 512, 0, 0) })
	}
	b0, _ := a.Live(0)
	base := b0.Addr
	for id := int64(0); id < 8; id += 2 {
		do(func() error { return a.Free(id) })
	}
	do(func() error { return a.Alloc(10, 512, 0, 0) })
	b, _ := a.Live(10)
	if b.Addr != base+2048 || b.Size != 512 {
		t.Errorf("took %d bytes at base+%d, want 512 at base+2048", b.Size, b.Addr-base)
	}
	if got := global(t, in, "g_max_n"); got != 3 {
		t.Errorf("policy_pick_block got n up to %d, want 3", got)
	}
	if got := global(t, in, "g_late"); got != abi.Error {
		t.Errorf("config in policy_pick_block answered %d, want -3", got)
	}
	if in.CandidateWindow() != 3 {
		t.Errorf("CandidateWindow = %d after a late config, want 3", in.CandidateWindow())
	}
}

// recordGlobals is what records.wat keeps of a policy_pick_block call.
type recordGlobals struct {
	N, Rounded, Pool, Stream, Tag int64
	First                         abi.Candidate // record 0
	LastSize, LastStream          int64         // record n-1
	Pages                         int64
}

func readRecordGlobals(t *testing.T, in *wasm.Instance) recordGlobals {
	g := func(name string) int64 { return global(t, in, name) }
	return recordGlobals{
		N: g("g_n"), Rounded: g("g_rounded"), Pool: g("g_pool"), Stream: g("g_stream"), Tag: g("g_tag"),
		First: abi.Candidate{
			Size: g("g_size"), Addr: uint64(g("g_addr")), SegmentAddr: uint64(g("g_seg_addr")),
			SegmentSize: g("g_seg_size"), ExpandableSize: g("g_exp_size"),
			Flags: uint32(g("g_flags")), Stream: uint32(g("g_rec_stream")),
		},
		LastSize: g("g_last_size"), LastStream: g("g_last_stream"),
		Pages: g("g_pages"),
	}
}

// TestCandidateRecords: the guest reads the candidates at the scratch
// address with the layout of ABI §3.4 (48-byte little-endian records, back
// to back), also after it grew its memory.
func TestCandidateRecords(t *testing.T) {
	in := instantiate(t, "records", wasm.Config{})
	// Every field has distinct bytes, so a wrong offset, width or byte
	// order shows.
	c := []abi.Candidate{
		{Size: 0x0102030405060708, Addr: 0x1112131415161718, SegmentAddr: 0x2122232425262728,
			SegmentSize: 0x3132333435363738, ExpandableSize: 0x4142434445464748, Flags: 0x51525354, Stream: 0x61626364},
		{Size: 0x7172737475767778, Stream: 0x0a0b0c0d},
		{Size: 0x0807060504030201, Stream: 0xfffffffe},
	}
	for i, tc := range []struct {
		c    []abi.Candidate
		want recordGlobals
	}{
		{c, recordGlobals{N: 3, Rounded: 0x123400, Pool: 5, Stream: 6, Tag: 17, First: c[0],
			LastSize: 0x0807060504030201, LastStream: 0xfffffffe, Pages: 2}},
		// The memory grew in the first call: the host must write into the
		// memory as it is now.
		{c[1:2], recordGlobals{N: 1, Rounded: 0x123400, Pool: 5, Stream: 6, Tag: 17, First: c[1],
			LastSize: 0x7172737475767778, LastStream: 0x0a0b0c0d, Pages: 3}},
	} {
		ans, err := in.PickBlock(tc.c, 0x123400, 5, 6, 17)
		if err != nil {
			t.Fatal(err)
		}
		if ans != int64(len(tc.c)-1) {
			t.Errorf("call %d answered %d, want %d", i, ans, len(tc.c)-1)
		}
		if got := readRecordGlobals(t, in); got != tc.want {
			t.Errorf("call %d: the guest read\n%s\nwant\n%s", i, fmtRecord(got), fmtRecord(tc.want))
		}
	}
}

func fmtRecord(r recordGlobals) string { return fmt.Sprintf("%+#v", r) }

// TestCandidateRecordsFromAllocator: the records the allocator writes
// describe its free blocks.
func TestCandidateRecordsFromAllocator(t *testing.T) {
	in := instantiate(t, "records", wasm.Config{})
	a, do := simAllocator(t, in)
	alloc := func(id, size, stream int64, tag int32) {
		t.Helper()
		do(func() error { return a.Alloc(id, size, stream, tag) })
	}
	// Stream 7 is index 0, stream 42 index 1: its first allocation makes a
	// second 2 MiB segment, cut into 1024 (id 1), 1024 (id 2) and the rest.
	alloc(0, 1000, 7, 0)
	alloc(1, 1000, 42, 0)
	alloc(2, 1000, 42, 0)
	b1, _ := a.Live(1)
	base := b1.Addr
	do(func() error { return a.Free(1) }) // a 1024-byte free block below id 2: no merge
	// Best fit offers the 1024-byte block, then the rest of the segment;
	// records.wat takes the last.
	alloc(3, 700, 42, abi.TagKVCache)
	want := recordGlobals{
		N: 2, Rounded: 1024, Pool: abi.PoolSmall, Stream: 1, Tag: abi.TagKVCache,
		First:    abi.Candidate{Size: 1024, Addr: base, SegmentAddr: base, SegmentSize: 2 * MiB, ExpandableSize: 1024, Flags: 0, Stream: 1},
		LastSize: 2*MiB - 2048, LastStream: 1,
		// records.wat grows a page per policy_pick_block: ids 0 and 1
		// found no free block, ids 2 and 3 asked.
		Pages: 3,
	}
	got := readRecordGlobals(t, in)
	if got != want {
		t.Errorf("the guest read\n%s\nwant\n%s", fmtRecord(got), fmtRecord(want))
	}
	if b3, _ := a.Live(3); b3.Addr != base+2048 {
		t.Errorf("id 3 at base+%d, want base+2048 (the last candidate)", b3.Addr-base)
	}

	// A whole classic segment carries FlagWholeSegment.
	do(func() error { return a.Free(0) })
	alloc(4, 1000, 7, 0)
	got = readRecordGlobals(t, in)
	b4, _ := a.Live(4)
	wantFirst := abi.Candidate{Size: 2 * MiB, Addr: b4.Addr, SegmentAddr: b4.Addr, SegmentSize: 2 * MiB, ExpandableSize: 2 * MiB, Flags: abi.FlagWholeSegment, Stream: 0}
	if got.N != 1 || got.First != wantFirst {
		t.Errorf("n = %d, record 0 = %+v; want 1, %+v", got.N, got.First, wantFirst)
	}
}

// TestWASIDeterministic: the WASI a policy may import gives no real
// randomness or clock (ABI §7): two instances see the same values.
func TestWASIDeterministic(t *testing.T) {
	seq := func() []int64 {
		in := instantiate(t, "wasi", wasm.Config{})
		var out []int64
		for range 3 {
			for kind := int32(0); kind < 2; kind++ {
				v, err := in.Observe(kind, 0, 0, 0)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, v)
			}
		}
		return out
	}
	a, b := seq(), seq()
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("two instances differ:\n%v\n%v", a, b)
	}
}

// TestErrorSetLimit: the host keeps at most 4 KiB of error_set text (ABI
// §5.1).
func TestErrorSetLimit(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int64 // error_long.wat: 2 puts an 'é' across byte 4096
		want string
	}{
		{"ASCII", 1, strings.Repeat("x", 4096)},
		{"rune across the limit", 2, strings.Repeat("x", 4095)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := instantiate(t, "error_long", wasm.Config{})
			ans, err := in.RoundSize(tc.size, 0, 0)
			if ans != abi.Error || err != nil {
				t.Fatalf("answered %d, %v; want ERROR", ans, err)
			}
			if got := in.ErrorText(); got != tc.want {
				t.Errorf("ErrorText = %d bytes %.20q…, want %d bytes %.20q…", len(got), got, len(tc.want), tc.want)
			}
		})
	}
}

// TestHookMask: with ABI 1.1's config(2, mask) a module that exports every
// hook (as SDKs do) tells the host which ones are real; the others are
// never called.
func TestHookMask(t *testing.T) {
	in := instantiate(t, "hook_mask", wasm.Config{})
	if in.Implements(abi.HookRoundSize) || !in.Implements(abi.HookSplit) {
		t.Fatalf("Implements(round_size) = %v, Implements(split) = %v; want false, true",
			in.Implements(abi.HookRoundSize), in.Implements(abi.HookSplit))
	}
	res, err := replayJSONL(t, "hook_mask", 0, `{"op":"alloc","id":0,"size":1000}`)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.HookCalls[abi.HookRoundSize] != 0 || res.Stats.HookCalls[abi.HookSplit] == 0 {
		t.Errorf("hook calls: round_size %d, split %d", res.Stats.HookCalls[abi.HookRoundSize], res.Stats.HookCalls[abi.HookSplit])
	}
}

// TestMergeOffsets: ABI 1.2's stat keys 15 and 16 give the freed block's and
// the neighbour's offsets in their segment during policy_merge (-1
// elsewhere), and config key 3 turns on repeated merges for a module that
// declares 1.2 only.
func TestMergeOffsets(t *testing.T) {
	in := instantiate(t, "merge_offsets", wasm.Config{})
	for name, want := range map[string]int64{
		"g_repeat":   1,         // config(3, 1)
		"g_repeat_2": abi.Error, // config(3, 2): out of range
		"g_init_off": -1,        // stat(15) in policy_init
	} {
		if got := global(t, in, name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	if !in.MergeRepeat() {
		t.Error("MergeRepeat() = false after config(3, 1)")
	}
	a, do := simAllocator(t, in)
	// Three 512-byte blocks at offsets 0, 512 and 1024 of one 2 MiB
	// segment, the rest free above them.
	for id := range int64(3) {
		do(func() error { return a.Alloc(id, 512, 0, 0) })
	}
	offsets := func() [2]int64 { return [2]int64{global(t, in, "g_block_off"), global(t, in, "g_nb_off")} }
	do(func() error { return a.Free(1) }) // neighbours allocated: no merge asked
	if n := global(t, in, "g_calls"); n != 0 {
		t.Fatalf("%d merges asked for a block between allocated ones", n)
	}
	do(func() error { return a.Free(0) }) // block at 0, neighbour above at 512
	if got := offsets(); got != [2]int64{0, 512} {
		t.Errorf("freeing offset 0: offsets %v, want [0 512]", got)
	}
	do(func() error { return a.Free(2) }) // below: block 1024, neighbour 0; then above: block 0, neighbour 1536
	if got, n := offsets(), global(t, in, "g_calls"); got != [2]int64{0, 1536} || n != 3 {
		t.Errorf("freeing offset 1024: last offsets %v after %d merges, want [0 1536] after 3", got, n)
	}
	if a.Stat(abi.StatMergeBlockOffset, 0) != -1 || a.Stat(abi.StatMergeNeighbourOffset, 0) != -1 {
		t.Error("stat 15 or 16 is not -1 outside policy_merge")
	}

	// A module that declares 1.1 does not know key 3.
	old := instantiate(t, "merge_repeat_v1_1", wasm.Config{})
	if got := global(t, old, "g_repeat"); got != abi.Error || old.MergeRepeat() {
		t.Errorf("1.1 module: config(3, 1) = %d, MergeRepeat %v; want -3, false", got, old.MergeRepeat())
	}
}

// TestReserveLimit: ABI 1.3's config key 4 sets the limit on reserved
// bytes that the allocator enforces (host.ReserveLimiter), for a module
// that declares 1.3 only.
func TestReserveLimit(t *testing.T) {
	in := instantiate(t, "reserve_limit", wasm.Config{})
	for name, want := range map[string]int64{
		"g_limit":    40 << 20,
		"g_negative": abi.Error,
		"g_huge":     abi.Error,
	} {
		if got := global(t, in, name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	if in.ReserveLimit() != 40<<20 {
		t.Errorf("ReserveLimit() = %d, want 40 MiB", in.ReserveLimit())
	}
	// 20 MiB segments on a 1 GiB device: the third passes the limit.
	res, err := replayJSONL(t, "reserve_limit", 1<<30,
		`{"op":"alloc","id":0,"size":16777216}`, `{"op":"alloc","id":1,"size":16777216}`, `{"op":"alloc","id":2,"size":16777216}`)
	if err != nil {
		t.Fatal(err)
	}
	if res.Metrics.OOMs != 1 || res.Metrics.PeakReserved != 32<<20 {
		t.Errorf("OOMs %d, peak reserved %d; want 1 and 32 MiB (16 MiB segments, the third over 40 MiB)", res.Metrics.OOMs, res.Metrics.PeakReserved)
	}

	old := instantiate(t, "reserve_limit_v1_2", wasm.Config{})
	if got := global(t, old, "g_limit"); got != abi.Error || old.ReserveLimit() != 0 {
		t.Errorf("1.2 module: config(4, 40 MiB) = %d, ReserveLimit %d; want -3, 0", got, old.ReserveLimit())
	}
}
