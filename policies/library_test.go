package policies

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/generate"
	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/internal/synth"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/sdk/abi"
	"github.com/fraglab/fraglab/trace"
)

// The library: the built-ins past default and pytorch, with their source
// language (build.sh builds <name>/<name>.c, <name>.wat or <name>.rs).
var library = []struct{ name, lang string }{
	{"pytorch-expandable", "c"},
	{"first-fit", "wat"},
	{"best-fit-nosplit-large", "wat"},
	{"buddy", "c"},
	{"size-class", "c"},
	{"lifetime-aware", "c"},
	{"rmm-pool", "c"},
	{"prealloc-arena", "c"},
	{"tlsf", "rust"},
	{"bfc", "c"},
	{"planner", "c"},
	{"gmlake", "c"},
}

// libRun is one replay of a built-in through the real host: its result
// and every allocation's block, by id.
type libRun struct {
	res    *replay.Result
	blocks map[int64]host.BlockOp
	ops    []host.BlockOp
}

// replayBuiltin replays r under built-in name with params on an unlimited
// sim device, checking the allocator's invariants after every event.
func replayBuiltin(t *testing.T, name string, r trace.Reader, params map[string]string) libRun {
	t.Helper()
	ctx := context.Background()
	bin, ok := Builtin(name)
	if !ok {
		t.Fatalf("no built-in %q", name)
	}
	mod, err := wasm.Compile(ctx, name, bin)
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	run := libRun{blocks: map[int64]host.BlockOp{}}
	res, err := replay.Run(ctx, r, mod, cudadriver.NewSim(cudadriver.SimOptions{}), replay.Options{
		Params:          params,
		CheckInvariants: true,
		OnBlockOp: func(op host.BlockOp) {
			run.ops = append(run.ops, op)
			if op.Action == host.ActionAlloc {
				run.blocks[op.ID] = op
			}
		},
	})
	if err != nil {
		t.Fatalf("replay under %s with %v: %v", name, params, err)
	}
	run.res = res
	return run
}

func jsonl(lines ...string) trace.Reader {
	return trace.NewJSONLReader(strings.NewReader(strings.Join(lines, "\n")+"\n"), "test.jsonl")
}

func devlogReader(t *testing.T, file string) trace.Reader {
	return synth.NewReader(readTrace(t, filepath.Join("..", "examples", "traces", file)))
}

// metricsOnly drops the timing, the one metric that is not deterministic.
func metricsOnly(m replay.Metrics) replay.Metrics {
	m.NsPerEvent = 0
	return m
}

// TestLibraryRebuildIsIdentical rebuilds each library policy with the
// commands of build.sh and compares with the committed, embedded module.
func TestLibraryRebuildIsIdentical(t *testing.T) {
	for _, p := range library {
		t.Run(p.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), p.name+".wasm")
			if p.lang == "rust" {
				buildRust(t, p.name, out)
				if !compareBuilt(t, p.name, out) {
					t.Fatalf("%s/%s.wasm is not what %s.rs builds to with rustc 1.63: run policies/build.sh", p.name, p.name, p.name)
				}
				return
			}
			if p.lang == "wat" {
				if _, err := exec.LookPath("wat2wasm"); err != nil {
					t.Skip("wat2wasm not found; to rebuild the WAT policies: apt-get install wabt")
				}
				run(t, p.name, "wat2wasm", p.name+".wat", "-o", out)
				if !compareBuilt(t, p.name, out) {
					t.Fatalf("%s/%s.wasm is not what %s.wat builds to: run policies/build.sh", p.name, p.name, p.name)
				}
				return
			}
			for _, tool := range []string{"clang", "wasm-ld"} {
				if _, err := exec.LookPath(tool); err != nil {
					t.Skipf("%s not found; to rebuild the C policies: apt-get install clang lld", tool)
				}
			}
			args := clangArgs(out)
			args[len(args)-1] = p.name + ".c" // clangArgs names pytorch.c last
			run(t, p.name, "clang", args...)
			if !compareBuilt(t, p.name, out) {
				if v := clangMajor(t); v != committedClangMajor {
					t.Skipf("%s.wasm differs, but the committed module was built with clang %s and this is clang %s",
						p.name, committedClangMajor, v)
				}
				t.Fatalf("%s/%s.wasm is not what %s.c builds to: run policies/build.sh", p.name, p.name, p.name)
			}
		})
	}
}

// buildRust builds the Rust policy name into out with the commands of
// build.sh: the Rust SDK as an rlib, then the policy against it. It skips
// when rustc (RUSTC, else /usr/bin/rustc) lacks the wasm32 target, and
// when it is not the rustc 1.63 the committed module was built with.
func buildRust(t *testing.T, name, out string) {
	t.Helper()
	rustc := os.Getenv("RUSTC")
	if rustc == "" {
		rustc = "/usr/bin/rustc"
	}
	v, err := exec.Command(rustc, "--version").Output()
	if err != nil {
		t.Skipf("%s not found; to rebuild the Rust policies: apt-get install rustc libstd-rust-dev-wasm32", rustc)
	}
	if f := strings.Fields(string(v)); len(f) < 2 || f[1] != committedRustc {
		t.Skipf("the committed %s.wasm was built with rustc %s; this is %s", name, committedRustc, strings.TrimSpace(string(v)))
	}
	sysroot, err := exec.Command(rustc, "--print", "sysroot").Output()
	if err != nil {
		t.Fatalf("%s --print sysroot: %v", rustc, err)
	}
	if _, err := os.Stat(filepath.Join(strings.TrimSpace(string(sysroot)), "lib", "rustlib", "wasm32-unknown-unknown")); err != nil {
		t.Skipf("%s has no wasm32-unknown-unknown standard library: apt-get install libstd-rust-dev-wasm32", rustc)
	}
	dir, err := filepath.Abs(name)
	if err != nil {
		t.Fatal(err)
	}
	remap := "--remap-path-prefix=" + dir + "=policies/" + name
	rlib := filepath.Join(t.TempDir(), "libfraglab.rlib")
	target := []string{"--target", "wasm32-unknown-unknown", "-C", "opt-level=3", "-C", "panic=abort", remap}
	run(t, name, rustc, slices.Concat([]string{"--edition", "2021", "--crate-type", "rlib"}, target,
		[]string{"--crate-name", "fraglab", "../../sdk/rust/fraglab/src/lib.rs", "-o", rlib})...)
	run(t, name, rustc, slices.Concat([]string{"--edition", "2021", "--crate-type", "cdylib"}, target,
		[]string{"-C", "link-arg=-zstack-size=65536", "-C", "strip=symbols", "--extern", "fraglab=" + rlib,
			"-o", out, name + ".rs"})...)
}

// The rustc the committed Rust modules were built with (see build.sh).
const committedRustc = "1.63.0"

// TestLibraryMixed runs every library policy on a mixed synthetic workload
// with the invariant checker on.
func TestLibraryMixed(t *testing.T) {
	events := synth.Mixed(1, 5000, 200)
	for _, p := range library {
		t.Run(p.name, func(t *testing.T) {
			r := replayBuiltin(t, p.name, synth.NewReader(events), nil)
			if m := r.res.Metrics; m.Events != int64(len(events)) || m.OOMs != 0 || m.PeakReserved < m.PeakAllocated {
				t.Errorf("events %d of %d, %d OOMs, peak reserved %d < peak allocated %d?",
					m.Events, len(events), m.OOMs, m.PeakReserved, m.PeakAllocated)
			}
		})
	}
}

// TestPytorchExpandablePreset checks that the preset runs exactly as the
// pytorch built-in with expandable_segments=true: same metrics, same blocks.
func TestPytorchExpandablePreset(t *testing.T) {
	for _, c := range []struct {
		name   string
		reader func() trace.Reader
	}{
		{"devlog small then large", func() trace.Reader { return devlogReader(t, "devlog-small-then-large.jsonl") }},
		{"devlog large then small", func() trace.Reader { return devlogReader(t, "devlog-large-then-small.jsonl") }},
		{"mixed", func() trace.Reader { return synth.NewReader(synth.Mixed(2, 3000, 150)) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := replayBuiltin(t, "pytorch-expandable", c.reader(), nil)
			want := replayBuiltin(t, "pytorch", c.reader(), map[string]string{"expandable_segments": "true"})
			if g, w := metricsOnly(got.res.Metrics), metricsOnly(want.res.Metrics); g != w {
				t.Errorf("metrics\n got %+v\nwant %+v", g, w)
			}
			if len(got.ops) != len(want.ops) {
				t.Fatalf("%d block operations, pytorch has %d", len(got.ops), len(want.ops))
			}
			for i := range got.ops {
				if got.ops[i] != want.ops[i] {
					t.Fatalf("block operation %d: %+v, pytorch: %+v", i, got.ops[i], want.ops[i])
				}
			}
		})
	}
	// The devlog walkthrough: one expandable segment of seven 20 MiB pages.
	m := replayBuiltin(t, "pytorch-expandable", devlogReader(t, "devlog-small-then-large.jsonl"), nil).res.Metrics
	if m.PeakReserved != 140*mib || m.SegmentMaps != 7 || m.SegmentAllocs != 0 {
		t.Errorf("small then large: peak reserved %d MiB, %d maps, %d segment allocs; want 140 MiB, 7, 0",
			m.PeakReserved/mib, m.SegmentMaps, m.SegmentAllocs)
	}
}

// A hand-made trace for the placement tests: in one 2 MiB small-pool
// segment, a 1 KiB hole at the lowest address (id 0) and a 512-byte hole
// above it (id 2); then a 512-byte request (id 4). Best fit takes the
// 512-byte hole, first fit the lower one.
var holesTrace = []string{
	`{"op":"alloc","id":0,"size":1024}`,
	`{"op":"alloc","id":1,"size":1024}`,
	`{"op":"alloc","id":2,"size":512}`,
	`{"op":"alloc","id":3,"size":1024}`,
	`{"op":"free","id":0}`,
	`{"op":"free","id":2}`,
	`{"op":"alloc","id":4,"size":512}`,
}

func TestFirstFit(t *testing.T) {
	for _, c := range []struct {
		policy string
		landOn int64 // the id whose former address id 4 takes
	}{
		{"first-fit", 0},
		{"default", 2},
	} {
		t.Run(c.policy, func(t *testing.T) {
			r := replayBuiltin(t, c.policy, jsonl(holesTrace...), nil)
			got, want := r.blocks[4], r.blocks[c.landOn]
			if got.Addr != want.Addr || got.Size != 512 {
				t.Errorf("512 bytes landed at %#x (%d bytes); want id %d's address %#x (ids: 0 at %#x, 2 at %#x)",
					got.Addr, got.Size, c.landOn, want.Addr, r.blocks[0].Addr, r.blocks[2].Addr)
			}
			if r.blocks[0].Addr >= r.blocks[2].Addr {
				t.Fatalf("id 0 at %#x is not below id 2 at %#x", r.blocks[0].Addr, r.blocks[2].Addr)
			}
		})
	}
}

func TestBestFitNoSplitLarge(t *testing.T) {
	for _, c := range []struct {
		policy    string
		largeSize int64 // block of 2 MiB served from the free 20 MiB block
		smallSize int64 // block of 512 bytes served from a 2 MiB segment
	}{
		{"best-fit-nosplit-large", 20 * mib, 512},
		{"default", 2 * mib, 512},
	} {
		t.Run(c.policy, func(t *testing.T) {
			r := replayBuiltin(t, c.policy, jsonl(
				`{"op":"alloc","id":0,"size":20971520}`,
				`{"op":"free","id":0}`,
				`{"op":"alloc","id":1,"size":2097152}`,
				`{"op":"alloc","id":2,"size":512}`,
				`{"op":"alloc","id":3,"size":512}`,
			), nil)
			if b := r.blocks[1]; b.Size != c.largeSize || b.Addr != r.blocks[0].Addr {
				t.Errorf("2 MiB request: block of %d bytes at %#x; want %d at %#x", b.Size, b.Addr, c.largeSize, r.blocks[0].Addr)
			}
			// Pool 0 still splits: both 512-byte requests share a segment.
			if b2, b3 := r.blocks[2], r.blocks[3]; b2.Size != c.smallSize || b3.Addr != b2.Addr+512 {
				t.Errorf("small pool: blocks %d at %#x and %d at %#x; want 512 bytes, adjacent", b2.Size, b2.Addr, b3.Size, b3.Addr)
			}
			if m := r.res.Metrics; m.PeakReserved != 22*mib {
				t.Errorf("peak reserved %d MiB, want 22", m.PeakReserved/mib)
			}
		})
	}
}

func TestBuddy(t *testing.T) {
	const kib = 1 << 10
	r := replayBuiltin(t, "buddy", jsonl(
		`{"op":"alloc","id":0,"size":3072}`,    // 3 KiB -> 4 KiB, halving a 2 MiB segment down to 4 KiB
		`{"op":"alloc","id":1,"size":4096}`,    // its buddy, the 4 KiB left beside it
		`{"op":"alloc","id":2,"size":5000}`,    // -> 8 KiB, the 8 KiB buddy above
		`{"op":"free","id":2}`,                 // 8 KiB: neighbours 4 KiB (id 1, allocated) and 16 KiB free: no merge
		`{"op":"free","id":0}`,                 // 4 KiB: neighbour id 1 allocated: no merge
		`{"op":"free","id":1}`,                 // 4 KiB + its buddy below -> 8 KiB, + its buddy above -> 16 KiB, ... -> the whole 2 MiB
		`{"op":"alloc","id":3,"size":16384}`,   // halved again from the segment's base
		`{"op":"alloc","id":4,"size":3145728}`, // 3 MiB -> 4 MiB, in a 4 MiB segment of its own
	), nil)
	b := r.blocks
	base := b[0].Addr
	for _, c := range []struct {
		id         int64
		size, offs int64
	}{
		{0, 4 * kib, 0},
		{1, 4 * kib, 4 * kib},
		{2, 8 * kib, 8 * kib},
		{3, 16 * kib, 0},
	} {
		if b[c.id].Size != c.size || b[c.id].Addr != base+uint64(c.offs) {
			t.Errorf("id %d: %d bytes at base+%d; want %d at base+%d",
				c.id, b[c.id].Size, int64(b[c.id].Addr-base), c.size, c.offs)
		}
	}
	if b[4].Size != 4*mib {
		t.Errorf("3 MiB request: block of %d bytes, want 4 MiB", b[4].Size)
	}
	if m := r.res.Metrics; m.PeakReserved != 6*mib || m.SegmentAllocs != 2 {
		t.Errorf("peak reserved %d MiB in %d segments; want 6 MiB in 2 (2 MiB + 4 MiB)", m.PeakReserved/mib, m.SegmentAllocs)
	}
}

// TestBuddyExactMerges: equal-size free neighbours merge only when they
// are buddies (the lower one's offset in the segment is a multiple of
// twice the size, ABI 1.2's merge offsets), and merges repeat up to the
// whole segment (ABI 1.2's config key 3).
func TestBuddyExactMerges(t *testing.T) {
	const kib = 1 << 10
	lines := []string{
		`{"op":"alloc","id":0,"size":4096}`, // offset 0 (a 2 MiB segment halved down)
		`{"op":"alloc","id":1,"size":4096}`, // 4 KiB, id 0's buddy
		`{"op":"alloc","id":2,"size":4096}`, // 8 KiB (the 8 KiB buddy halved)
		`{"op":"alloc","id":3,"size":4096}`, // 12 KiB, id 2's buddy
		`{"op":"free","id":1}`,              // neighbours allocated
		`{"op":"free","id":2}`,              // 4 KiB at 8 KiB beside 4 KiB at 4 KiB: not buddies, kept apart
		`{"op":"alloc","id":4,"size":8192}`, // so no 8 KiB block at 4 KiB: 8 KiB at 16 KiB
		`{"op":"free","id":0}`,              // buddies 0 + 4 KiB -> 8 KiB at 0
		`{"op":"free","id":3}`,              // buddies 8 + 12 KiB -> 8 KiB at 8 KiB, then + 8 KiB at 0 -> 16 KiB at 0
		`{"op":"alloc","id":5,"size":16384}`,
		`{"op":"free","id":5}`,
		`{"op":"free","id":4}`, // up to the whole segment
		`{"op":"empty_cache"}`, // releases it: it is one block again
	}
	r, _, err := replayDevice(t, "buddy", jsonl(lines...), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := r.blocks
	base := b[0].Addr
	for _, c := range []struct{ id, offs, size int64 }{
		{0, 0, 4 * kib},
		{1, 4 * kib, 4 * kib},
		{2, 8 * kib, 4 * kib},
		{3, 12 * kib, 4 * kib},
		{4, 16 * kib, 8 * kib}, // the non-buddies at 4 and 8 KiB did not merge into an 8 KiB block at 4 KiB
		{5, 0, 16 * kib},       // the buddies merged twice in one free
	} {
		if b[c.id].Size != c.size || b[c.id].Addr != base+uint64(c.offs) {
			t.Errorf("id %d: %d bytes at base+%d; want %d at base+%d",
				c.id, b[c.id].Size, int64(b[c.id].Addr-base), c.size, c.offs)
		}
	}
	if m := r.res.Metrics; m.SegmentAllocs != 1 || m.SegmentFrees != 1 {
		t.Errorf("%d segments allocated, %d freed by empty_cache; want 1, 1 (the segment coalesced whole)",
			m.SegmentAllocs, m.SegmentFrees)
	}
}

func TestSizeClass(t *testing.T) {
	for _, c := range []struct {
		name   string
		params map[string]string
		size   int64 // request
		prior  int64 // size of a block allocated and freed first (0: none)
		want   int64 // block size served
	}{
		{"1000 bytes", nil, 1000, 0, 1024},
		{"3 KiB is a class", nil, 3 << 10, 0, 3 << 10},
		{"power of two", nil, 4 * mib, 0, 4 * mib},
		{"2 MiB + 1: quarter steps", nil, 2*mib + 1, 0, 2*mib + mib/2},
		{"5 MiB + 1: quarter steps", nil, 5*mib + 1, 0, 6 * mib},
		{"5 MiB + 1, 1 class", map[string]string{"classes_per_doubling": "1"}, 5*mib + 1, 0, 8 * mib},
		{"5 MiB + 1, 16 classes", map[string]string{"classes_per_doubling": "16"}, 5*mib + 1, 0, 5*mib + mib/4},
		{"remainder 4 MiB splits", nil, 14*mib + 1, 20 * mib, 16 * mib},
		{"remainder 4 MiB < split_min_mb 5", map[string]string{"split_min_mb": "5"}, 14*mib + 1, 20 * mib, 20 * mib},
	} {
		t.Run(c.name, func(t *testing.T) {
			var lines []string
			if c.prior > 0 {
				lines = append(lines, `{"op":"alloc","id":0,"size":`+itoa(c.prior)+`}`, `{"op":"free","id":0}`)
			}
			lines = append(lines, `{"op":"alloc","id":1,"size":`+itoa(c.size)+`}`)
			r := replayBuiltin(t, "size-class", jsonl(lines...), c.params)
			if got := r.blocks[1].Size; got != c.want {
				t.Errorf("request %d: block of %d bytes, want %d", c.size, got, c.want)
			}
		})
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// replayDevice replays r under built-in name with params on a sim device of
// capacity bytes (0: unlimited), with the invariant checker on, and returns
// the run with every device operation.
func replayDevice(t *testing.T, name string, r trace.Reader, params map[string]string, capacity int64) (libRun, []host.DriverOp, error) {
	t.Helper()
	ctx := context.Background()
	bin, ok := Builtin(name)
	if !ok {
		t.Fatalf("no built-in %q", name)
	}
	mod, err := wasm.Compile(ctx, name, bin)
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	run := libRun{blocks: map[int64]host.BlockOp{}}
	var dev []host.DriverOp
	res, err := replay.Run(ctx, r, mod, cudadriver.NewSim(cudadriver.SimOptions{Capacity: capacity}), replay.Options{
		Params:          params,
		CheckInvariants: true,
		OnDriverOp:      func(op host.DriverOp) { dev = append(dev, op) },
		OnBlockOp: func(op host.BlockOp) {
			run.ops = append(run.ops, op)
			if op.Action == host.ActionAlloc {
				run.blocks[op.ID] = op
			}
		},
	})
	run.res = res
	return run, dev, err
}

// segmentAllocs returns the sizes and pools of the segment_alloc operations.
func segmentAllocs(dev []host.DriverOp) (sizes []int64, pools []int32) {
	for _, op := range dev {
		if op.Action == host.ActionSegmentAlloc {
			sizes = append(sizes, op.Size)
			pools = append(pools, op.Pool)
		}
	}
	return sizes, pools
}

func TestLifetimeAware(t *testing.T) {
	lines := []string{
		`{"op":"alloc","id":0,"size":3145728,"tag":"activation"}`, // 3 MiB: a 20 MiB segment of pool 1
		`{"op":"alloc","id":1,"size":3145728,"tag":"weight"}`,     // pytorch: beside id 0; lifetime-aware: pool 2
		`{"op":"alloc","id":2,"size":2097152,"tag":"optimizer"}`,  // pool 2, beside the weight
		`{"op":"alloc","id":3,"size":2097152,"tag":"kv_cache"}`,   // pool 2
		`{"op":"alloc","id":4,"size":2097152,"tag":"gradient"}`,   // pool 1, beside id 0
		`{"op":"alloc","id":5,"size":1000,"tag":"weight"}`,        // small: pool 0 under both
		`{"op":"free","id":0}`,
		`{"op":"free","id":4}`,
	}
	for _, c := range []struct {
		policy   string
		pools    []int32 // pool of ids 0..5
		segments []int32 // pools of the segment_allocs, in order
	}{
		{"pytorch", []int32{1, 1, 1, 1, 1, 0}, []int32{1, 0}},
		{"lifetime-aware", []int32{1, 2, 2, 2, 1, 0}, []int32{1, 2, 0}},
	} {
		t.Run(c.policy, func(t *testing.T) {
			r, dev, err := replayDevice(t, c.policy, jsonl(lines...), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for id, want := range c.pools {
				if got := r.blocks[int64(id)].Pool; got != want {
					t.Errorf("id %d in pool %d, want %d", id, got, want)
				}
			}
			if _, pools := segmentAllocs(dev); !slices.Equal(pools, c.segments) {
				t.Errorf("segments allocated in pools %v, want %v", pools, c.segments)
			}
			// The weight shares id 0's segment under pytorch only.
			w, a := r.blocks[1], r.blocks[0]
			shared := w.Addr >= a.Addr && w.Addr < a.Addr+20*mib
			if want := c.policy == "pytorch"; shared != want {
				t.Errorf("weight at %#x, activation at %#x: shared segment %v, want %v", w.Addr, a.Addr, shared, want)
			}
		})
	}
}

func TestRMMPool(t *testing.T) {
	// Segment sizes double: max(rounded, reserved) rounded up to 2 MiB.
	const five = `5242880`
	r, dev, err := replayDevice(t, "rmm-pool", jsonl(
		`{"op":"alloc","id":0,"size":`+five+`}`, // reserved 0: 6 MiB, remainder 1 MiB kept whole
		`{"op":"alloc","id":1,"size":`+five+`}`, // reserved 6 MiB: 6 MiB
		`{"op":"alloc","id":2,"size":`+five+`}`, // reserved 12 MiB: 12 MiB, split, 7 MiB free
		`{"op":"alloc","id":3,"size":`+five+`}`, // from the 7 MiB free: 2 MiB left
		`{"op":"alloc","id":4,"size":`+five+`}`, // reserved 24 MiB: 24 MiB
	), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if sizes, _ := segmentAllocs(dev); !slices.Equal(sizes, []int64{6 * mib, 6 * mib, 12 * mib, 24 * mib}) {
		t.Errorf("segment sizes %v, want 6, 6, 12, 24 MiB", sizes)
	}
	if m := r.res.Metrics; m.PeakReserved != 48*mib {
		t.Errorf("peak reserved %d MiB, want 48", m.PeakReserved/mib)
	}

	// On a full device nothing is released: where pytorch releases the free
	// 20 MiB segment and serves 30 MiB, rmm-pool counts an OOM.
	oomTrace := []string{
		`{"op":"alloc","id":0,"size":20971520}`,
		`{"op":"free","id":0}`,
		`{"op":"alloc","id":1,"size":31457280}`,
	}
	for _, c := range []struct {
		policy      string
		ooms, frees int64
	}{
		{"pytorch", 0, 1},
		{"rmm-pool", 1, 0},
	} {
		r, _, err := replayDevice(t, c.policy, jsonl(oomTrace...), nil, 40*mib)
		if err != nil {
			t.Fatalf("%s: %v", c.policy, err)
		}
		if m := r.res.Metrics; m.OOMs != c.ooms || m.SegmentFrees != c.frees {
			t.Errorf("%s: %d OOMs, %d segment frees; want %d, %d", c.policy, m.OOMs, m.SegmentFrees, c.ooms, c.frees)
		}
	}

	// The trace's empty_cache is the host's, not a policy decision: it
	// still releases the free segment.
	r, _, err = replayDevice(t, "rmm-pool", jsonl(append(oomTrace[:2:2], `{"op":"empty_cache"}`, oomTrace[2])...), nil, 40*mib)
	if err != nil {
		t.Fatal(err)
	}
	if m := r.res.Metrics; m.OOMs != 0 || m.SegmentFrees != 1 {
		t.Errorf("with empty_cache: %d OOMs, %d segment frees; want 0, 1", m.OOMs, m.SegmentFrees)
	}
}

func TestPreallocArena(t *testing.T) {
	lines := []string{
		`{"op":"alloc","id":0,"size":1000}`,
		`{"op":"alloc","id":1,"size":5242880}`,
		`{"op":"alloc","id":2,"size":31457280}`,
		`{"op":"free","id":1}`,
		`{"op":"alloc","id":3,"size":104857600}`,
	}
	// The default arena (4 GiB) holds everything, small requests included.
	r, dev, err := replayDevice(t, "prealloc-arena", jsonl(lines...), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if sizes, _ := segmentAllocs(dev); r.res.Metrics.SegmentAllocs != 1 || !slices.Equal(sizes, []int64{4096 * mib}) {
		t.Errorf("%d segment allocs %v, want 1 of 4 GiB", r.res.Metrics.SegmentAllocs, sizes)
	}
	for id, b := range r.blocks {
		if b.Pool != 1 {
			t.Errorf("id %d in pool %d, want 1", id, b.Pool)
		}
	}
	if b0, b1 := r.blocks[0], r.blocks[1]; b0.Size != 1024 || b1.Addr != b0.Addr+1024 {
		t.Errorf("1000 bytes: %d bytes at %#x, then 5 MiB at %#x; want 1024 bytes, adjacent", b0.Size, b0.Addr, b1.Addr)
	}

	// A 64 MiB arena: later growths take the request's own size, rounded
	// up to 2 MiB.
	r, dev, err = replayDevice(t, "prealloc-arena", jsonl(lines...), map[string]string{"arena_mb": "64"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if sizes, _ := segmentAllocs(dev); !slices.Equal(sizes, []int64{64 * mib, 100 * mib}) {
		t.Errorf("segment sizes %v, want 64 MiB then 100 MiB", sizes)
	}

	// On a device with a capacity the arena is utilization × capacity,
	// rounded down to 2 MiB (vLLM's gpu_memory_utilization): 0.9 × 1 GiB
	// = 921.6 MiB → 920 MiB; 0.5 → 512 MiB. arena_mb still wins.
	for _, c := range []struct {
		params map[string]string
		want   int64
	}{
		{nil, 920 * mib},
		{map[string]string{"utilization": "0.5"}, 512 * mib},
		{map[string]string{"utilization": "0.5", "arena_mb": "64"}, 64 * mib},
	} {
		_, dev, err := replayDevice(t, "prealloc-arena", jsonl(lines...), c.params, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		if sizes, _ := segmentAllocs(dev); len(sizes) == 0 || sizes[0] != c.want {
			t.Errorf("capacity 1 GiB, %v: segment sizes %v, want the first %d MiB", c.params, sizes, c.want/mib)
		}
	}

	for _, bad := range []struct{ key, value string }{
		{"arena_mb", "0"}, {"arena_mb", "268435457"}, {"utilization", "0"}, {"utilization", "1.5"},
	} {
		_, _, err := replayDevice(t, "prealloc-arena", jsonl(lines...), map[string]string{bad.key: bad.value}, 0)
		if err == nil || !strings.Contains(err.Error(), bad.key) {
			t.Errorf("%s=%s: error %v, want one naming %s", bad.key, bad.value, err, bad.key)
		}
	}
}

// TestTLSFRounding checks tlsf's good-fit rounding through the real host:
// below 2^(9+sli) bytes the lists are 512 bytes wide; above, a request is
// rounded up to the next of the 2^sli lists of its power of two.
func TestTLSFRounding(t *testing.T) {
	const kib = 1 << 10
	for _, c := range []struct {
		name string
		sli  string // "" for the default, 5
		size int64
		want int64
	}{
		{"tiny", "", 1, 512},
		{"below the two-level range: 512 steps", "", 8000, 8192},
		{"last 512-byte list", "", 16*kib - 511, 16 * kib},
		{"2^14: lists 512 wide", "", 16*kib + 1, 16*kib + 512},
		{"2^16: lists 2 KiB wide", "", 100000, 49 * 2 * kib},
		{"list boundary stays", "", mib + 32*kib, mib + 32*kib},
		{"3 MiB + 1, 32 lists: 64 KiB steps", "", 3*mib + 1, 3*mib + 64*kib},
		{"3 MiB + 1, 16 lists: 128 KiB steps", "4", 3*mib + 1, 3*mib + 128*kib},
		{"3 MiB + 1, 2 lists: 1 MiB steps", "1", 3*mib + 1, 4 * mib},
		{"rounds into the next power of two", "", 2*mib - 1, 2 * mib},
		{"power of two stays", "", 64 * mib, 64 * mib},
	} {
		t.Run(c.name, func(t *testing.T) {
			var params map[string]string
			if c.sli != "" {
				params = map[string]string{"sli": c.sli}
			}
			r := replayBuiltin(t, "tlsf", jsonl(`{"op":"alloc","id":1,"size":`+itoa(c.size)+`}`), params)
			if got := r.blocks[1].Size; got != c.want {
				t.Errorf("request %d: block of %d bytes, want %d", c.size, got, c.want)
			}
		})
	}
}

// TestTLSFGoodFit builds, in one 16 MiB area, free blocks in the lists of
// 1 MiB + 32 KiB ([1M+32K, 1M+64K), "list k") and 1 MiB + 64 KiB (list
// k+1), and checks that each 1 MiB + 1 request (rounded to 1 MiB + 32 KiB,
// list k) is served from the first non-empty list at or above list k, by
// its lowest-addressed block, not by the best fit.
func TestTLSFGoodFit(t *testing.T) {
	const kib = 1 << 10
	lines := []string{
		`{"op":"alloc","id":100,"size":16777216}`, // one 16 MiB area, then free: later blocks are cut from its front
		`{"op":"free","id":100}`,
		`{"op":"alloc","id":1,"size":` + itoa(mib+64*kib) + `}`, // E: list k+1, lowest address
		`{"op":"alloc","id":2,"size":512}`,
		`{"op":"alloc","id":3,"size":` + itoa(mib+32*kib) + `}`, // D = ids 3+4 after coalescing: 1M+48K, list k
		`{"op":"alloc","id":4,"size":` + itoa(16*kib) + `}`,
		`{"op":"alloc","id":5,"size":512}`,
		`{"op":"alloc","id":6,"size":` + itoa(mib+32*kib) + `}`, // C: 1M+32K, list k, the best fit
		`{"op":"alloc","id":7,"size":512}`,
		`{"op":"free","id":1}`,
		`{"op":"free","id":3}`,
		`{"op":"free","id":4}`, // coalesces with id 3 below it
		`{"op":"free","id":6}`,
		`{"op":"alloc","id":8,"size":` + itoa(mib+1) + `}`,  // list k: D (lower than C)
		`{"op":"alloc","id":9,"size":` + itoa(mib+1) + `}`,  // list k: C
		`{"op":"alloc","id":10,"size":` + itoa(mib+1) + `}`, // list k empty (D's 16 KiB rest is small): E
	}
	r := replayBuiltin(t, "tlsf", jsonl(lines...), nil)
	b := r.blocks
	for _, c := range []struct {
		id, at int64
		why    string
	}{
		{8, 3, "the lowest-addressed block of list k (the coalesced ids 3 and 4), not the best fit id 6"},
		{9, 6, "the other block of list k"},
		{10, 1, "the block of list k+1, list k being empty"},
	} {
		if b[c.id].Addr != b[c.at].Addr || b[c.id].Size != mib+32*kib {
			t.Errorf("id %d: %d bytes at %#x; want %d at %#x (id %d's address): %s",
				c.id, b[c.id].Size, b[c.id].Addr, mib+32*kib, b[c.at].Addr, c.at, c.why)
		}
	}
	// Immediate coalescing: once everything is freed the area is one block
	// again, and 16 MiB fits without a new area.
	var more []string
	for _, id := range []int{2, 5, 7, 8, 9, 10} {
		more = append(more, `{"op":"free","id":`+strconv.Itoa(id)+`}`)
	}
	more = append(more, `{"op":"alloc","id":11,"size":16777216}`)
	r = replayBuiltin(t, "tlsf", jsonl(append(lines[:len(lines):len(lines)], more...)...), nil)
	if m := r.res.Metrics; m.SegmentAllocs != 1 || r.blocks[11].Addr != r.blocks[100].Addr {
		t.Errorf("16 MiB after freeing everything: at %#x with %d areas; want the area's base %#x, 1 area",
			r.blocks[11].Addr, m.SegmentAllocs, r.blocks[100].Addr)
	}
}

// TestTLSFAreas checks tlsf's growth (an area of max(request, area_mb),
// rounded up to 2 MiB), its single pool, and that it never releases an
// area: where pytorch empties its cache and serves, tlsf counts an OOM.
func TestTLSFAreas(t *testing.T) {
	lines := []string{
		`{"op":"alloc","id":0,"size":1000}`,
		`{"op":"alloc","id":1,"size":` + itoa(5*mib+1) + `}`, // -> 5 MiB + 64 KiB: a 6 MiB area
	}
	for _, c := range []struct {
		params map[string]string
		sizes  []int64
	}{
		{nil, []int64{2 * mib, 6 * mib}},
		{map[string]string{"area_mb": "64"}, []int64{64 * mib}},
	} {
		r, dev, err := replayDevice(t, "tlsf", jsonl(lines...), c.params, 0)
		if err != nil {
			t.Fatal(err)
		}
		if sizes, pools := segmentAllocs(dev); !slices.Equal(sizes, c.sizes) || slices.ContainsFunc(pools, func(p int32) bool { return p != 1 }) {
			t.Errorf("%v: areas %v in pools %v; want %v, all pool 1", c.params, sizes, pools, c.sizes)
		}
		if b := r.blocks[0]; b.Pool != 1 || b.Size != 1024 {
			t.Errorf("%v: 1000 bytes: %d bytes in pool %d, want 1024 in pool 1", c.params, b.Size, b.Pool)
		}
	}

	oom := jsonl(`{"op":"alloc","id":0,"size":20971520}`, `{"op":"free","id":0}`, `{"op":"alloc","id":1,"size":31457280}`)
	r, _, err := replayDevice(t, "tlsf", oom, nil, 40*mib)
	if err != nil {
		t.Fatal(err)
	}
	if m := r.res.Metrics; m.OOMs != 1 || m.SegmentFrees != 0 {
		t.Errorf("full device: %d OOMs, %d areas freed; want 1, 0", m.OOMs, m.SegmentFrees)
	}

	for _, bad := range []map[string]string{{"sli": "0"}, {"sli": "9"}, {"area_mb": "0"}} {
		_, _, err := replayDevice(t, "tlsf", jsonl(lines...), bad, 0)
		for k, v := range bad {
			if err == nil || !strings.Contains(err.Error(), k+"="+v) {
				t.Errorf("%s=%s: error %v, want one naming %s=%s", k, v, err, k, v)
			}
		}
	}
}

// TestTLSFHookMask checks that the Rust SDK's hook mask leaves tlsf's
// unimplemented hooks to the host, although the module exports them all.
func TestTLSFHookMask(t *testing.T) {
	ctx := context.Background()
	bin, _ := Builtin("tlsf")
	mod, err := wasm.Compile(ctx, "tlsf", bin)
	if err != nil {
		t.Fatal(err)
	}
	in, err := mod.Instantiate(ctx, wasm.Config{Device: cudadriver.NewSim(cudadriver.SimOptions{}).Info()})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	want := map[abi.Hook]bool{abi.HookRoundSize: true, abi.HookChoosePool: true, abi.HookPickBlock: true,
		abi.HookSplit: true, abi.HookSegmentSize: true, abi.HookRelease: true}
	for h := abi.HookRoundSize; h < abi.NumHooks; h++ {
		if got := in.Implements(h); got != want[h] {
			t.Errorf("Implements(%s) = %v, want %v", h, got, want[h])
		}
	}
	if w := in.CandidateWindow(); w != abi.MaxCandidates {
		t.Errorf("candidate window %d, want %d", w, abi.MaxCandidates)
	}
}

// TestBFCSplitRule checks BFC's split rule on a first region of
// initial_region_mb MiB: split when the chunk is at least twice the
// request or the remainder at least 128 MiB; else the whole chunk.
func TestBFCSplitRule(t *testing.T) {
	for _, c := range []struct {
		name            string
		region, request int64
		want            int64
	}{
		{"exactly twice: split", 2 * mib, mib, mib},
		{"less than twice: whole chunk", 2 * mib, mib + 512, 2 * mib},
		{"remainder 130 MiB: split", 330 * mib, 200 * mib, 200 * mib},
		{"remainder 128 MiB: split", 328 * mib, 200 * mib, 200 * mib},
		{"remainder 100 MiB: whole chunk", 300 * mib, 200 * mib, 300 * mib},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, dev, err := replayDevice(t, "bfc", jsonl(`{"op":"alloc","id":1,"size":`+itoa(c.request)+`}`),
				map[string]string{"initial_region_mb": itoa(c.region / mib)}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if sizes, _ := segmentAllocs(dev); !slices.Equal(sizes, []int64{c.region}) {
				t.Fatalf("regions %v, want one of %d MiB", sizes, c.region/mib)
			}
			if got := r.blocks[1].Size; got != c.want {
				t.Errorf("request %d in a %d chunk: block of %d bytes, want %d", c.request, c.region, got, c.want)
			}
		})
	}
}

// TestBFCBestFit checks the bins' search: among free chunks of one region
// the smallest that fits, then the lowest address, whatever the order they
// were freed in.
func TestBFCBestFit(t *testing.T) {
	const kib = 1 << 10
	r, dev, err := replayDevice(t, "bfc", jsonl(
		`{"op":"alloc","id":100,"size":16777216}`, // a 16 MiB region, then free
		`{"op":"free","id":100}`,
		`{"op":"alloc","id":1,"size":3145728}`, // 3 MiB, lowest address
		`{"op":"alloc","id":2,"size":512}`,
		`{"op":"alloc","id":3,"size":`+itoa(1536*kib)+`}`, // 1.5 MiB
		`{"op":"alloc","id":4,"size":512}`,
		`{"op":"alloc","id":5,"size":2097152}`, // 2 MiB
		`{"op":"alloc","id":6,"size":512}`,
		`{"op":"free","id":1}`,
		`{"op":"free","id":5}`,
		`{"op":"free","id":3}`,
		`{"op":"alloc","id":7,"size":1048576}`,            // best fit 1.5 MiB: < 2x, kept whole
		`{"op":"alloc","id":8,"size":1048576}`,            // best fit 2 MiB: split
		`{"op":"alloc","id":9,"size":`+itoa(1280*kib)+`}`, // 1 MiB rest too small: 3 MiB, split
	), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := r.blocks
	for _, c := range []struct{ id, at, size int64 }{
		{7, 3, 1536 * kib},
		{8, 5, mib},
		{9, 1, 1280 * kib},
	} {
		if b[c.id].Addr != b[c.at].Addr || b[c.id].Size != c.size {
			t.Errorf("id %d: %d bytes at %#x; want %d at id %d's address %#x", c.id, b[c.id].Size, b[c.id].Addr, c.size, c.at, b[c.at].Addr)
		}
	}
	if sizes, _ := segmentAllocs(dev); len(sizes) != 1 {
		t.Errorf("regions %v, want the one 16 MiB region", sizes)
	}
}

// TestBFCRegions checks Extend: regions of 1x, 2x, 4x, 8x the initial
// size, then doubling until the request fits (and no doubling after that
// region), and coalescing with both neighbours on free.
func TestBFCRegions(t *testing.T) {
	lines := []string{
		`{"op":"alloc","id":1,"size":1048576}`,  // region 2 MiB (next: 4), split: 1 MiB rest
		`{"op":"alloc","id":2,"size":3145728}`,  // region 4 (next: 8), kept whole
		`{"op":"alloc","id":3,"size":5242880}`,  // region 8 (next: 16)
		`{"op":"alloc","id":4,"size":7340032}`,  // region 16 (next: 32), split: 9 MiB rest
		`{"op":"alloc","id":5,"size":41943040}`, // 40 MiB: 32 doubles to 64; region 64 (next: 64)
		`{"op":"alloc","id":6,"size":52428800}`, // 50 MiB: region 64 (next: 128)
	}
	for _, c := range []struct {
		params map[string]string
		want   []int64
	}{
		{nil, []int64{2 * mib, 4 * mib, 8 * mib, 16 * mib, 64 * mib, 64 * mib}},
		// 3, 6, 12 (7 MiB takes the 7 MiB rest of it), then 24 doubles to
		// 48 for 40 MiB and 48 to 96 for 50 MiB.
		{map[string]string{"initial_region_mb": "3"}, []int64{3 * mib, 6 * mib, 12 * mib, 48 * mib, 96 * mib}},
	} {
		_, dev, err := replayDevice(t, "bfc", jsonl(lines...), c.params, 0)
		if err != nil {
			t.Fatal(err)
		}
		if sizes, _ := segmentAllocs(dev); !slices.Equal(sizes, c.want) {
			t.Errorf("%v: regions %v MiB, want %v MiB", c.params, mibs(sizes), mibs(c.want))
		}
	}

	// Coalescing: freeing the middle chunk last merges it with both free
	// neighbours, so the region is one chunk again.
	r, dev, err := replayDevice(t, "bfc", jsonl(
		`{"op":"alloc","id":100,"size":16777216}`,
		`{"op":"free","id":100}`,
		`{"op":"alloc","id":1,"size":4194304}`,
		`{"op":"alloc","id":2,"size":4194304}`,
		`{"op":"alloc","id":3,"size":4194304}`,
		`{"op":"free","id":1}`,
		`{"op":"free","id":3}`,
		`{"op":"free","id":2}`,
		`{"op":"alloc","id":4,"size":16777216}`,
	), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if sizes, _ := segmentAllocs(dev); len(sizes) != 1 || r.blocks[4].Addr != r.blocks[100].Addr {
		t.Errorf("16 MiB after freeing the middle chunk last: at %#x, regions %v; want the base %#x, one region",
			r.blocks[4].Addr, mibs(sizes), r.blocks[100].Addr)
	}
}

func mibs(sizes []int64) []int64 {
	out := make([]int64, len(sizes))
	for i, s := range sizes {
		out[i] = s / mib
	}
	return out
}

// TestBFCGarbageCollection checks the retry path on a full device: free
// regions are released and the growth retried (garbage_collection, the
// default), or the allocation fails (garbage_collection=false).
func TestBFCGarbageCollection(t *testing.T) {
	lines := []string{
		`{"op":"alloc","id":0,"size":1572864}`, // region 2 MiB
		`{"op":"alloc","id":1,"size":3145728}`, // region 4 MiB
		`{"op":"free","id":0}`,
		`{"op":"free","id":1}`,
		`{"op":"alloc","id":2,"size":12582912}`, // 12 MiB: 10 MiB free on the device
	}
	for _, c := range []struct {
		gc          string
		ooms, frees int64
		regions     []int64
	}{
		{"true", 0, 2, []int64{2 * mib, 4 * mib, 12 * mib}},
		{"false", 1, 0, []int64{2 * mib, 4 * mib}},
	} {
		r, dev, err := replayDevice(t, "bfc", jsonl(lines...), map[string]string{"garbage_collection": c.gc}, 16*mib)
		if err != nil {
			t.Fatal(err)
		}
		m := r.res.Metrics
		if sizes, _ := segmentAllocs(dev); m.OOMs != c.ooms || m.SegmentFrees != c.frees || !slices.Equal(sizes, c.regions) {
			t.Errorf("garbage_collection=%s: %d OOMs, %d regions freed, regions %v MiB; want %d, %d, %v MiB",
				c.gc, m.OOMs, m.SegmentFrees, mibs(sizes), c.ooms, c.frees, mibs(c.regions))
		}
	}
}

// TestBFCHooks drives bfc's hooks directly: the region size is capped by
// the device's free bytes, and a growth that failed does not double the
// next region (BFC doubles only after adding a region).
func TestBFCHooks(t *testing.T) {
	gib := func() map[int32]int64 {
		return map[int32]int64{abi.StatCapacity: 1 << 30, abi.StatDeviceFree: 1 << 30, abi.StatGranularity: 2 * mib}
	}
	p, got := startBuiltin(t, "bfc", nil, gib())
	if got != 0 {
		t.Fatalf("policy_init() = %d (%q)", got, p.host.errorSet)
	}
	seg := func(rounded int64) int64 { return p.call("policy_segment_size", i64(rounded), i32(1), i32(0), i32(0)) }
	release := func(attempt int32) int64 {
		return p.call("policy_release", i32(abi.PhaseGrowFailed), i64(mib), i32(1), i32(0), i32(attempt))
	}
	if s := seg(mib); s != 2*mib {
		t.Fatalf("first region %d, want 2 MiB", s)
	}
	if s := seg(mib); s != 4*mib {
		t.Fatalf("second region %d, want 4 MiB", s)
	}
	// The third growth fails: the release path answers release-cached,
	// then (the retry failed too) nothing; the next region is 8 MiB again.
	if s := seg(mib); s != 8*mib {
		t.Fatalf("third region %d, want 8 MiB", s)
	}
	if a := release(0); a != releaseAnswer(abi.ActReleaseCached, 0) {
		t.Errorf("release attempt 0 = %d, want release cached", a)
	}
	if a := release(1); a != abi.ActNothing {
		t.Errorf("release attempt 1 = %d, want nothing", a)
	}
	if s := seg(mib); s != 8*mib {
		t.Errorf("region after a failed growth %d, want 8 MiB (not doubled)", s)
	}
	// Capped by the device's free bytes, but never below the request.
	p.host.stats[abi.StatDeviceFree] = 10 * mib
	if s := seg(mib); s != 10*mib {
		t.Errorf("region with 10 MiB free %d, want 10 MiB", s)
	}
	p.host.stats[abi.StatDeviceFree] = 0
	if s := seg(3 * mib); s != 3*mib {
		t.Errorf("region with nothing free %d, want the request, 3 MiB", s)
	}

	for _, c := range []struct {
		params map[string]string
		stats  map[int32]int64
		want   string
	}{
		{map[string]string{"initial_region_mb": "0"}, gib(), "initial_region_mb=0"},
		{map[string]string{"allow_growth": "2"}, gib(), "allow_growth=2"},
		{map[string]string{"garbage_collection": "-1"}, gib(), "garbage_collection=-1"},
		{map[string]string{"allow_growth": "false"}, map[int32]int64{abi.StatCapacity: -1}, "needs a device capacity"},
	} {
		p, got := startBuiltin(t, "bfc", c.params, c.stats)
		if got != abi.Error || !strings.Contains(p.host.errorSet, c.want) {
			t.Errorf("%v: policy_init() = %d, error %q; want ERROR naming %q", c.params, got, p.host.errorSet, c.want)
		}
	}
	// allow_growth=false: the first region is the whole device.
	p, _ = startBuiltin(t, "bfc", map[string]string{"allow_growth": "false"}, gib())
	if s := seg(mib); s != 1<<30 {
		t.Errorf("allow_growth=false: first region %d, want the 1 GiB device", s)
	}
}

// TestEveryPolicyEveryWorkload replays every built-in on every generator's
// workload (small settings) and a mixed two-stream one, on an unlimited
// device and on a 256 MiB one, with the invariant checker on after every
// event: no policy may break the allocator's invariants or fail.
func TestEveryPolicyEveryWorkload(t *testing.T) {
	workloads := map[string]map[string]string{
		"devlog":      nil,
		"random":      {"num_allocations": "400", "max_size": "8MiB"},
		"adversarial": {"min_size": "2MiB", "max_size": "16MiB", "live_bytes": "128MiB"},
		"llm-serving": {"requests": "20"},
		"training":    {"steps": "3"},
	}
	type load struct {
		events []trace.Event
		tags   *trace.Tags
	}
	loads := map[string]load{"mixed": {events: synth.Mixed(3, 2000, 100)}}
	for name, params := range workloads {
		evs, tags, err := generate.Generate(name, params, 1)
		if err != nil {
			t.Fatalf("generate %s: %v", name, err)
		}
		loads[name] = load{evs, tags}
	}
	for _, policy := range Names() {
		for wname, w := range loads {
			for _, capacity := range []int64{0, 256 * mib} {
				r := func() trace.Reader {
					if w.tags != nil {
						return synth.NewReaderTags(w.events, w.tags)
					}
					return synth.NewReader(w.events)
				}
				params := map[string]string(nil)
				if policy == "prealloc-arena" && capacity > 0 {
					params = map[string]string{"arena_mb": "128"} // the default 4 GiB does not fit
				}
				run, _, err := replayDevice(t, policy, r(), params, capacity)
				if err != nil {
					t.Errorf("%s on %s, capacity %d MiB: %v", policy, wname, capacity/mib, err)
					continue
				}
				if m := run.res.Metrics; m.Events != int64(len(w.events)) {
					t.Errorf("%s on %s, capacity %d MiB: %d events of %d", policy, wname, capacity/mib, m.Events, len(w.events))
				}
			}
		}
	}
}
