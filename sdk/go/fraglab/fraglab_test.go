//go:build !wasip1

package fraglab

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"github.com/fraglab/fraglab/sdk/abi"
)

// everything implements every hook interface and records what it saw.
type everything struct {
	initErr error
	window  int32
	lastN   int
	params  struct {
		i   int64
		b   bool
		f   float64
		s   string
		tag string
	}
}

func (p *everything) Init() error {
	p.params.i = ParamInt("i", 7)
	p.params.b = ParamBool("b", true)
	p.params.f = ParamFloat("f", 0.5)
	p.params.s = ParamString("s", "dflt")
	p.params.tag, _ = TagName(TagKVCache)
	Log(LogInfo, "init")
	return p.initErr
}
func (p *everything) CandidateWindow() int32                        { return p.window }
func (p *everything) RoundSize(size int64, stream, tag int32) int64 { return 1 }
func (p *everything) ChoosePool(rounded int64, stream, tag int32) int64 {
	return 2
}
func (p *everything) SearchOrder(rounded int64, pool, stream, tag int32) int64 { return 3 }
func (p *everything) PickBlock(c []Candidate, rounded int64, pool, stream, tag int32) int64 {
	p.lastN = len(c)
	best := int64(None)
	for i := range c {
		if c[i].Size >= rounded && (best < 0 || c[i].Size < c[best].Size) {
			best = int64(i)
		}
	}
	return best
}
func (p *everything) Split(blockSize, rounded int64, pool, stream, flags, tag int32) int64 {
	return 5
}
func (p *everything) Merge(blockSize, neighbourSize int64, pool, side int32) int64 { return 6 }
func (p *everything) SegmentMode(pool, stream int32) int64                         { return 7 }
func (p *everything) SegmentSize(rounded int64, pool, stream, tag int32) int64     { return 8 }
func (p *everything) ExpandSize(missing, rounded int64, pool, stream int32, page int64) int64 {
	return 9
}
func (p *everything) Release(phase int32, rounded int64, pool, stream, attempt int32) int64 {
	return ReleaseAnswer(ActReleaseOversize, 10)
}
func (p *everything) Observe(kind int32, id, size int64, tag int32) int64 { return 11 }

// buddyMerge merges only binary buddies, from the merge offsets, and asks
// for repeated merges when repeat is set.
type buddyMerge struct{ repeat bool }

func (b buddyMerge) MergeRepeat() bool { return b.repeat }
func (buddyMerge) Merge(blockSize, neighbourSize int64, pool, side int32) int64 {
	block, neighbour, ok := MergeOffsets()
	if !ok {
		return Fail("merge offsets unavailable")
	}
	if blockSize == neighbourSize && min(block, neighbour)%(2*blockSize) == 0 {
		return 1
	}
	return 0
}

// limited caps the reserved bytes at the limit its parameter "limit" says
// (default def), read in Init: the SDK asks ReserveLimit after Init.
type limited struct{ def, limit int64 }

func (l *limited) Init() error {
	l.limit = ParamInt("limit", l.def)
	return nil
}
func (l *limited) ReserveLimit() int64 { return l.limit }

type roundOnly struct{}

func (roundOnly) RoundSize(size int64, stream, tag int32) int64 { return (size + 4095) &^ 4095 }

// wrongSig looks like a RoundSizer but takes an int: it implements nothing.
type wrongSig struct{}

func (wrongSig) RoundSize(size int, stream, tag int32) int64 { return 0 }

func TestHookMask(t *testing.T) {
	all := int64(1)<<NumHooks - 1
	online := all &^ (1<<HookPlan | 1<<HookPlace)
	cases := []struct {
		name string
		p    Policy
		want int64
	}{
		{"everything", &everything{}, online},
		{"planner", &planRecorder{}, 1<<HookInit | 1<<HookScratch | 1<<HookPlan | 1<<HookPlace},
		{"everything and a planner", struct {
			*everything
			*planRecorder
		}{&everything{}, &planRecorder{}}, all},
		{"round only", roundOnly{}, 1<<HookInit | 1<<HookRoundSize},
		{"wrong signature", wrongSig{}, 1 << HookInit},
		{"nothing", struct{}{}, 1 << HookInit},
	}
	for _, c := range cases {
		if got := HookMask(c.p); got != c.want {
			t.Errorf("%s: HookMask = %#x, want %#x", c.name, got, c.want)
		}
	}
	if HookScratch != 1 || HookPickBlock != 5 || HookObserve != 12 || HookPlan != 13 || HookPlace != 14 || NumHooks != 15 {
		t.Fatal("hook numbers differ from sdk/ABI.md §5.5")
	}
}

func TestInitDeclaresMaskAndWindow(t *testing.T) {
	p := &everything{window: 32}
	h := NewFakeHost(p)
	h.Params["i"] = "0x10"
	h.Params["b"] = "false"
	h.Params["f"] = "2.5"
	h.Params["s"] = "hello"
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	if h.Mask != int64(1)<<HookPlan-1 || h.Window != 32 {
		t.Errorf("mask %#x window %d, want every hook but planning's and 32", h.Mask, h.Window)
	}
	if p.params.i != 16 || p.params.b || p.params.f != 2.5 || p.params.s != "hello" || p.params.tag != "kv_cache" {
		t.Errorf("params read %+v", p.params)
	}
	if len(h.Logs) != 1 || h.Logs[0] != (LogLine{LogInfo, "init"}) {
		t.Errorf("logs %v", h.Logs)
	}
	if Config(ConfigCandidateWindow, 4) != Error {
		t.Error("config outside policy_init must answer ERROR")
	}

	// Defaults when the run sets nothing.
	p = &everything{window: 8}
	h = NewFakeHost(p)
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	if p.params.i != 7 || !p.params.b || p.params.f != 0.5 || p.params.s != "dflt" {
		t.Errorf("defaults read %+v", p.params)
	}
}

func TestInitErrors(t *testing.T) {
	h := NewFakeHost(&everything{initErr: errors.New("knob=3: must be even"), window: 8})
	if err := h.Init(); err == nil || h.ErrorText != "knob=3: must be even" {
		t.Errorf("Init error %v, error text %q", err, h.ErrorText)
	}
	h = NewFakeHost(&everything{window: 300})
	if err := h.Init(); err == nil || !strings.Contains(h.ErrorText, "candidate window 300: must be 1..256") {
		t.Errorf("Init error %v, error text %q", err, h.ErrorText)
	}
	h = NewFakeHost(&everything{window: 8})
	h.Params["i"] = "seven"
	h.Params["typo"] = "1"
	err := h.Init()
	if err == nil || !strings.Contains(err.Error(), `parameter i="seven" is not an integer`) {
		t.Errorf("Init error %v", err)
	}

	saved := registered
	registered = nil
	defer bind(saved)
	h = NewFakeHost(nil)
	if err := h.Init(); err == nil || !strings.Contains(h.ErrorText, "no policy registered") {
		t.Errorf("Init without a policy: %v", err)
	}
}

func TestABIVersion(t *testing.T) {
	// The SDK exports the marker of the newest minor the host implements
	// (exports_wasip1.go), so every key of the newest minor works from Go.
	if ABIMajor != abi.Major || ABIMinor != abi.Minor {
		t.Errorf("SDK declares ABI %d.%d, the host implements %d.%d", ABIMajor, ABIMinor, abi.Major, abi.Minor)
	}
}

func TestMergeRepeatConfig(t *testing.T) {
	cases := []struct {
		name string
		p    Policy
		want bool
	}{
		{"repeat", buddyMerge{repeat: true}, true},
		{"once per side", buddyMerge{}, false},
		{"no MergeRepeater", roundOnly{}, false},
	}
	for _, c := range cases {
		h := NewFakeHost(c.p)
		if err := h.Init(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if h.MergeRepeat != c.want {
			t.Errorf("%s: merge repeat %v, want %v", c.name, h.MergeRepeat, c.want)
		}
	}
	NewFakeHost(roundOnly{})
	if got := Config(ConfigMergeRepeat, 1); got != Error {
		t.Errorf("config(merge repeat) outside policy_init answered %d, want ERROR", got)
	}

	// A host that refuses the key (the fake answers ERROR outside
	// h.Init): policy_init fails and says why.
	h := NewFakeHost(buddyMerge{repeat: true})
	if got := policyInit(); got != Error || !strings.Contains(h.ErrorText, "does not accept repeated merges (ABI 1.2 needed)") {
		t.Errorf("policy_init on a refusing host answered %d, error text %q", got, h.ErrorText)
	}
}

func TestFakeHostConfigMergeRepeat(t *testing.T) {
	h := NewFakeHost(roundOnly{})
	h.inInit = true
	defer func() { h.inInit = false }()
	for _, c := range []struct {
		value, want int64
		repeat      bool
	}{
		{1, 1, true}, {0, 0, false}, {2, Error, false}, {-1, Error, false},
	} {
		if got := Config(ConfigMergeRepeat, c.value); got != c.want || h.MergeRepeat != c.repeat {
			t.Errorf("config(%d, %d) = %d with repeat %v, want %d with %v",
				ConfigMergeRepeat, c.value, got, h.MergeRepeat, c.want, c.repeat)
		}
	}
}

func TestReserveLimitConfig(t *testing.T) {
	cases := []struct {
		name  string
		p     Policy
		param string
		want  int64
	}{
		{"40 MiB", &limited{def: 40 * MiB}, "", 40 * MiB},
		{"from the parameter", &limited{def: 40 * MiB}, "8589934592", 8 << 30},
		{"at most MaxSize", &limited{def: MaxSize}, "", MaxSize},
		{"0: no limit", &limited{}, "", 0},
		{"negative: no limit", &limited{def: -1}, "", 0},
		{"no ReserveLimiter", roundOnly{}, "", 0},
	}
	for _, c := range cases {
		h := NewFakeHost(c.p)
		if c.param != "" {
			h.Params["limit"] = c.param
		}
		if err := h.Init(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if h.ReserveLimit != c.want {
			t.Errorf("%s: reserve limit %d, want %d", c.name, h.ReserveLimit, c.want)
		}
	}

	// A limit the host refuses fails policy_init, naming the key, the
	// value and the host's answer.
	h := NewFakeHost(&limited{def: MaxSize + 1})
	want := fmt.Sprintf("config(%d, %d) answered %d: the host does not accept the reserve limit (ABI 1.3 needed",
		ConfigReserveLimit, MaxSize+1, Error)
	if err := h.Init(); err == nil || !strings.Contains(h.ErrorText, want) || h.ReserveLimit != 0 {
		t.Errorf("limit past MaxSize: Init error %v, error text %q, limit %d", err, h.ErrorText, h.ReserveLimit)
	}
	// So does a host that refuses the key (the fake answers ERROR outside
	// h.Init).
	h = NewFakeHost(&limited{def: 40 * MiB})
	want = fmt.Sprintf("config(%d, %d) answered %d: the host does not accept the reserve limit (ABI 1.3 needed",
		ConfigReserveLimit, 40*MiB, Error)
	if got := policyInit(); got != Error || !strings.Contains(h.ErrorText, want) {
		t.Errorf("policy_init on a refusing host answered %d, error text %q", got, h.ErrorText)
	}
}

func TestFakeHostConfigReserveLimit(t *testing.T) {
	h := NewFakeHost(roundOnly{})
	h.inInit = true
	defer func() { h.inInit = false }()
	for _, c := range []struct {
		value, want, limit int64
	}{
		{40 * MiB, 40 * MiB, 40 * MiB},
		{-1, Error, 40 * MiB},
		{MaxSize + 1, Error, 40 * MiB},
		{MaxSize, MaxSize, MaxSize},
		{0, 0, 0},
	} {
		if got := Config(ConfigReserveLimit, c.value); got != c.want || h.ReserveLimit != c.limit {
			t.Errorf("config(%d, %d) = %d with limit %d, want %d with %d",
				ConfigReserveLimit, c.value, got, h.ReserveLimit, c.want, c.limit)
		}
	}
}

func TestMergeOffsets(t *testing.T) {
	h := NewFakeHost(buddyMerge{repeat: true})
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := MergeOffsets(); ok {
		t.Error("merge offsets outside a merge")
	}
	cases := []struct {
		size, neighbour, off, nOff int64
		side                       int32
		want                       int64
	}{
		{4096, 4096, 0, 4096, SideNext, 1},     // buddies at 0
		{4096, 4096, 12288, 8192, SidePrev, 1}, // buddies at 8192
		{4096, 4096, 4096, 8192, SideNext, 0},  // neighbours, not buddies
		{8192, 4096, 0, 8192, SideNext, 0},     // sizes differ
		{1 << 20, 1 << 20, 3 << 20, 2 << 20, SidePrev, 1},
	}
	for _, c := range cases {
		if got := h.MergeAt(c.size, c.neighbour, 1, c.side, c.off, c.nOff); got != c.want {
			t.Errorf("MergeAt(%d, %d, offsets %d, %d) = %d, want %d", c.size, c.neighbour, c.off, c.nOff, got, c.want)
		}
	}
	if b, n := Stat(StatMergeBlockOffset, 0), Stat(StatMergeNeighbourOffset, 0); b != -1 || n != -1 {
		t.Errorf("after a merge the offsets answer %d, %d, want -1", b, n)
	}
	if got := h.Merge(4096, 4096, 1, SideNext); got != Error || h.ErrorText != "merge offsets unavailable" {
		t.Errorf("Merge without offsets = %d (%q), want ERROR", got, h.ErrorText)
	}
	h.StatFunc = func(key, arg int32) int64 { return 7 }
	if got := h.MergeAt(512, 512, 0, SideNext, 1024, 1536); got != 1 {
		t.Errorf("with a StatFunc, MergeAt answered %d, want 1 (offsets 1024, 1536)", got)
	}
}

// TestRequestPrivatePool: the ABI 1.4 keys have the host's values, and
// RequestPrivatePool reads key 17 as the fake host (an empty allocator,
// outside an allocation) and a test set it.
func TestRequestPrivatePool(t *testing.T) {
	if StatRequestPrivatePool != 17 || StatPrivateReserved != 18 || StatPendingFree != 19 {
		t.Errorf("ABI 1.4 stat keys %d, %d, %d; want 17, 18, 19", StatRequestPrivatePool, StatPrivateReserved, StatPendingFree)
	}
	h := NewFakeHost(nil)
	if pool, ok := RequestPrivatePool(); ok || pool != -1 {
		t.Errorf("outside an allocation: RequestPrivatePool() = %d, %v; want -1, false", pool, ok)
	}
	if r, p := Stat(StatPrivateReserved, 0), Stat(StatPendingFree, 0); r != 0 || p != 0 {
		t.Errorf("an empty allocator's private reserved and pending free bytes: %d, %d; want 0, 0", r, p)
	}
	for _, want := range []int64{0, 3} {
		h.SetStat(StatRequestPrivatePool, 0, want)
		if pool, ok := RequestPrivatePool(); !ok || pool != want {
			t.Errorf("in an allocation to pool %d: RequestPrivatePool() = %d, %v", want, pool, ok)
		}
	}
	h.StatFunc = func(key, arg int32) int64 { return StatUnknown } // a host older than 1.4
	if pool, ok := RequestPrivatePool(); ok || pool != -1 {
		t.Errorf("on a 1.3 host: RequestPrivatePool() = %d, %v; want -1, false", pool, ok)
	}
}

func TestRegister(t *testing.T) {
	saved := registered
	defer func() { registered = saved }()
	registered = nil
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: no panic", name)
			}
		}()
		f()
	}
	mustPanic("nil", func() { Register(nil) })
	Register(roundOnly{})
	mustPanic("twice", func() { Register(roundOnly{}) })
}

func TestHooksForward(t *testing.T) {
	h := NewFakeHost(&everything{window: 8})
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	got := []int64{
		h.RoundSize(1, 0, 0), h.ChoosePool(1, 0, 0), h.SearchOrder(1, 0, 0, 0),
		h.Split(1, 1, 0, 0, 0, 0), h.Merge(1, 1, 0, 0), h.SegmentMode(0, 0), h.SegmentSize(1, 0, 0, 0),
		h.ExpandSize(1, 1, 0, 0, 1), h.Release(1, 1, 0, 0, 0), h.Observe(0, 1, 1, 0),
	}
	want := []int64{1, 2, 3, 5, 6, 7, 8, 9, 10<<4 | 2, 11}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("hook %d answered %d, want %d", i, got[i], want[i])
		}
	}

	h = NewFakeHost(roundOnly{})
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	if !h.Implements(HookRoundSize) || h.Implements(HookSplit) || h.Implements(HookPickBlock) {
		t.Errorf("mask %#x", h.Mask)
	}
	for _, a := range []int64{h.ChoosePool(1, 0, 0), h.SearchOrder(1, 0, 0, 0), h.Split(1, 1, 0, 0, 0, 0),
		h.Merge(1, 1, 0, 0), h.SegmentMode(0, 0), h.SegmentSize(1, 0, 0, 0), h.ExpandSize(1, 1, 0, 0, 1),
		h.Release(0, 1, 0, 0, 0), h.Observe(0, 0, 0, 0)} {
		if a != Defer {
			t.Errorf("a hook roundOnly lacks answered %d, want DEFER", a)
		}
	}
	if got := h.RoundSize(5000, 0, 0); got != 8192 {
		t.Errorf("RoundSize(5000) = %d", got)
	}
}

func TestPickBlockView(t *testing.T) {
	p := &everything{window: 4}
	h := NewFakeHost(p)
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	if !h.Scratch(4*RecordSize) || !h.Scratch(MaxCandidates*RecordSize) || h.Scratch(MaxCandidates*RecordSize+1) {
		t.Error("scratch must hold exactly MaxCandidates records")
	}
	cands := []Candidate{{Size: 4096}, {Size: 1024}, {Size: 2048, Flags: FlagExpandable}}
	if got := h.PickBlock(cands, 1500, 1, 0, 0); got != 2 || p.lastN != 3 {
		t.Errorf("PickBlock = %d with n = %d, want 2 with 3", got, p.lastN)
	}
	if got := h.PickBlock(cands, 5000, 1, 0, 0); got != None {
		t.Errorf("PickBlock = %d, want NONE", got)
	}
	if got := policyPickBlock(0, 1, 0, 0, 0); got != Error {
		t.Errorf("n = 0 answered %d", got)
	}

	// The records the host writes (sdk/abi) read back through the view.
	want := abi.Candidate{Size: 1 << 21, Addr: 0xdead_b000, SegmentAddr: 0xdead_0000, SegmentSize: 1 << 22,
		ExpandableSize: 3 << 20, Flags: abi.FlagExpandable | abi.FlagWholeSegment, Stream: 3}
	buf := unsafe.Slice((*byte)(unsafe.Pointer(&scratch[0])), RecordSize)
	want.Put(buf)
	c := scratch[0]
	if c.Size != want.Size || c.Addr != want.Addr || c.SegmentAddr != want.SegmentAddr || c.SegmentSize != want.SegmentSize ||
		c.ExpandableSize != want.ExpandableSize || c.Flags != want.Flags || c.Stream != want.Stream ||
		!c.Expandable() || !c.WholeSegment() {
		t.Errorf("view %+v, host wrote %+v", c, want)
	}
}

func TestHelpers(t *testing.T) {
	h := NewFakeHost(roundOnly{})
	if Errorf("pool %d: bad", 9) != Error || h.ErrorText != "pool 9: bad" {
		t.Errorf("Errorf: %q", h.ErrorText)
	}
	if Fail("plain") != Error || h.ErrorText != "plain" {
		t.Errorf("Fail: %q", h.ErrorText)
	}
	Fail(strings.Repeat("é", 3000))
	if len(h.ErrorText) > 4096 || !strings.HasPrefix(h.ErrorText, "é") || strings.ContainsRune(h.ErrorText, '\uFFFD') {
		t.Errorf("long error text kept %d bytes", len(h.ErrorText))
	}
	h.SetStat(StatPoolFree, 3, 4096)
	h.SetStat(StatReserved, 99, 1<<30)
	if Stat(StatPoolFree, 3) != 4096 || Stat(StatPoolFree, 2) != 0 || Stat(StatReserved, 0) != 1<<30 ||
		Stat(StatGranularity, 0) != 2*MiB || Stat(99, 0) != StatUnknown {
		t.Error("Stat answers")
	}
	h.StatFunc = func(key, arg int32) int64 { return int64(key)*100 + int64(arg) }
	if Stat(8, 2) != 802 {
		t.Error("StatFunc")
	}
	if name, ok := TagName(TagWeight); !ok || name != "weight" {
		t.Errorf("TagName(weight) = %q, %v", name, ok)
	}
	h.Tags[16] = "my_tag"
	if name, ok := TagName(16); !ok || name != "my_tag" {
		t.Errorf("TagName(16) = %q, %v", name, ok)
	}
	if _, ok := TagName(99); ok {
		t.Error("TagName(99) found")
	}
	Logf(LogWarn, "x=%d", 3)
	if h.Logs[len(h.Logs)-1] != (LogLine{LogWarn, "x=3"}) {
		t.Errorf("Logf: %v", h.Logs)
	}
	if ReleaseAnswer(ActReleaseAged, 1<<20) != 1<<24|3 {
		t.Error("ReleaseAnswer")
	}
	h.Params["empty"] = ""
	if ParamString("empty", "x") != "" {
		t.Error("an empty parameter must read as empty, not the default")
	}
}

func TestHooksDoNotAllocate(t *testing.T) {
	p := &everything{window: 8}
	h := NewFakeHost(p)
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	cands := []Candidate{{Size: 4096}, {Size: 1024}}
	copy(scratch[:], cands)
	h.Logs = make([]LogLine, fakeMaxLogLines) // the fake's log is full: Log keeps nothing more
	allocs := testing.AllocsPerRun(1000, func() {
		policyRoundSize(1000, 0, 0)
		policyChoosePool(1000, 0, 0)
		policyPickBlock(2, 512, 0, 0, 0)
		policySplit(4096, 512, 0, 0, 0, 0)
		policyRelease(1, 512, 0, 0, 0)
		policyObserve(0, 1, 512, 0)
		Stat(StatReserved, 0)
		MergeOffsets()
		RequestPrivatePool()
		Log(LogDebug, "constant")
		Fail("constant")
	})
	if allocs != 0 {
		t.Errorf("the hook glue allocates %.1f times per round", allocs)
	}
}
