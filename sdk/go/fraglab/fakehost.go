//go:build !wasip1

package fraglab

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fraglab/fraglab/sdk/abi"
)

// FakeHost stands in for an ABI 1.5 fraglab host when a policy is built for the
// machine running go test rather than for WebAssembly: it answers the host
// imports (parameters, stats, tag names, config, log, error_set) and calls
// the SDK's hook glue the way the host calls the module's exports. A test
// makes one with NewFakeHost, sets Params, calls Init, then the hooks:
//
//	h := fraglab.NewFakeHost(&SizeClass{})
//	h.Params["classes_per_doubling"] = "2"
//	if err := h.Init(); err != nil { t.Fatal(err) }
//	got := h.RoundSize(1000, 0, fraglab.TagActivation)
//
// There is one current FakeHost per process (the imports are package
// functions), so tests that use it must not run in parallel.
type FakeHost struct {
	// Params are the run's parameters, as --param key=value gives them.
	Params map[string]string
	// Tags maps tag ids to names for TagName; NewFakeHost fills in the
	// well-known tags.
	Tags map[int32]string
	// StatFunc, when set, answers Stat; otherwise the values set with
	// SetStat answer, and StatUnknown for the others. During MergeAt the
	// merge offsets answer MergeAt's arguments either way.
	StatFunc func(key, arg int32) int64

	// ErrorText is the last error_set text (at most 4 KiB, as the host).
	ErrorText string
	// Logs are the lines the policy logged (the first 1000, as the host).
	Logs []LogLine
	// Window is the candidate window in force (config key 1).
	Window int64
	// Mask is the hook mask the policy declared (config key 2), or -1 if
	// it declared none (every exported hook is then called).
	Mask int64
	// MergeRepeat is whether the policy asked for repeated merges (config
	// key 3, ABI 1.2).
	MergeRepeat bool
	// ReserveLimit is the limit on reserved bytes the policy set (config
	// key 4, ABI 1.3), or 0 if none. The fake records it; it runs no
	// allocator, so nothing enforces it.
	ReserveLimit int64
	// StitchKeep is whether the policy asked that freed stitched blocks
	// stay cached (config key 5, ABI 1.5). The fake runs no allocator.
	StitchKeep bool

	stats    map[[2]int32]int64
	read     map[string]bool
	paramErr []string
	inInit   bool
	// merging is set during MergeAt, whose offsets mergeOffsets holds:
	// Stat answers them for StatMergeBlockOffset and
	// StatMergeNeighbourOffset.
	merging      bool
	mergeOffsets [2]int64
}

// LogLine is one line a policy logged.
type LogLine struct {
	Level int32
	Text  string
}

const (
	fakeMaxLogLines  = 1000
	fakeMaxErrorText = 4096
)

var current *FakeHost

// fake returns the current FakeHost, making an empty one if there is none,
// so the helpers work (answering defaults) even without NewFakeHost.
func fake() *FakeHost {
	if current == nil {
		current = NewFakeHost(nil)
	}
	return current
}

// NewFakeHost makes a fake host with no parameters, the well-known tag
// names and the stats of an empty allocator on an unlimited device with a
// 2 MiB granularity, and makes it the current one: the host imports answer
// from it. If p is not nil it becomes the policy the hooks call, in place
// of the registered one (each test can then start from a fresh value).
func NewFakeHost(p Policy) *FakeHost {
	h := &FakeHost{
		Params: map[string]string{},
		Tags:   map[int32]string{},
		Window: DefaultCandidateWindow,
		Mask:   -1,
		stats:  map[[2]int32]int64{},
		read:   map[string]bool{},
	}
	for name, id := range abi.WellKnownTags {
		h.Tags[id] = name
	}
	for _, k := range []int32{StatReserved, StatAllocated, StatRequested, StatActive, StatSegments,
		StatOOMs, StatPeakReserved, StatLiveBlocks} {
		h.SetStat(k, 0, 0)
	}
	h.SetStat(StatEventIndex, 0, -1)
	h.SetStat(StatMergeBlockOffset, 0, -1)
	h.SetStat(StatMergeNeighbourOffset, 0, -1)
	h.SetStat(StatRequestPrivatePool, 0, -1)
	h.SetStat(StatPrivateReserved, 0, 0)
	h.SetStat(StatPendingFree, 0, 0)
	h.SetStat(StatStitched, 0, 0)
	h.SetStat(StatStitchedFree, 0, 0)
	h.SetStat(StatCapacity, 0, -1)
	h.SetStat(StatDeviceFree, 0, -1)
	h.SetStat(StatGranularity, 0, 2*MiB)
	for pool := int32(0); pool < MaxPools; pool++ {
		h.SetStat(StatPoolFree, pool, 0)
		h.SetStat(StatPoolLargest, pool, 0)
		h.SetStat(StatPoolReserved, pool, 0)
	}
	current = h
	if p != nil {
		bind(p)
	}
	return h
}

// perPool reports whether stat key takes a pool argument.
func perPool(key int32) bool {
	return key == StatPoolFree || key == StatPoolLargest || key == StatPoolReserved
}

// SetStat makes Stat(key, arg) answer v. arg matters only for the
// per-pool keys (StatPoolFree, StatPoolLargest, StatPoolReserved).
func (h *FakeHost) SetStat(key, arg int32, v int64) {
	if !perPool(key) {
		arg = 0
	}
	h.stats[[2]int32{key, arg}] = v
}

// Init calls policy_init as the host does, and reports whether the host
// would refuse the module: the policy's error (with its error_set text), a
// parameter that does not parse, or a parameter the policy never read.
func (h *FakeHost) Init() error {
	h.inInit = true
	ans := policyInit()
	h.inInit = false
	if ans < 0 {
		if h.ErrorText != "" {
			return fmt.Errorf("policy_init answered %d (policy said: %s)", ans, h.ErrorText)
		}
		return fmt.Errorf("policy_init answered %d", ans)
	}
	if len(h.paramErr) > 0 {
		return fmt.Errorf("%s", strings.Join(h.paramErr, "; "))
	}
	var unread, read []string
	for k := range h.Params {
		if !h.read[k] {
			unread = append(unread, k)
		}
	}
	if len(unread) > 0 {
		for k := range h.read {
			read = append(read, k)
		}
		sort.Strings(unread)
		sort.Strings(read)
		return fmt.Errorf("unknown parameter %s: the policy never reads it (it reads: %s)",
			strings.Join(unread, ", "), strings.Join(read, ", "))
	}
	return nil
}

// Implements reports whether the host would call hook h: the policy
// declared it in its hook mask (policy_init and policy_scratch are the
// SDK's own and not reported).
func (h *FakeHost) Implements(hook Hook) bool {
	return hook > HookScratch && hook < NumHooks && (h.Mask < 0 || h.Mask&(1<<hook) != 0)
}

// Scratch calls policy_scratch: whether the SDK's scratch buffer holds
// minBytes (the real export answers its address).
func (h *FakeHost) Scratch(minBytes int32) bool { return scratchFits(minBytes) }

// RoundSize calls policy_round_size.
func (h *FakeHost) RoundSize(size int64, stream, tag int32) int64 {
	return policyRoundSize(size, stream, tag)
}

// ChoosePool calls policy_choose_pool.
func (h *FakeHost) ChoosePool(rounded int64, stream, tag int32) int64 {
	return policyChoosePool(rounded, stream, tag)
}

// SearchOrder calls policy_search_order.
func (h *FakeHost) SearchOrder(rounded int64, pool, stream, tag int32) int64 {
	return policySearchOrder(rounded, pool, stream, tag)
}

// PickBlock writes cands into the scratch buffer, as the host writes the
// candidate records, and calls policy_pick_block with n = len(cands). It
// panics if cands is empty or longer than the candidate window, which the
// host never does.
func (h *FakeHost) PickBlock(cands []Candidate, rounded int64, pool, stream, tag int32) int64 {
	if len(cands) == 0 || int64(len(cands)) > h.Window {
		panic(fmt.Sprintf("FakeHost.PickBlock: %d candidates, the host writes 1..%d (the window)", len(cands), h.Window))
	}
	copy(scratch[:], cands)
	return policyPickBlock(int32(len(cands)), rounded, pool, stream, tag)
}

// Split calls policy_split.
func (h *FakeHost) Split(blockSize, rounded int64, pool, stream, flags, tag int32) int64 {
	return policySplit(blockSize, rounded, pool, stream, flags, tag)
}

// Merge calls policy_merge. The merge offsets (MergeOffsets) answer -1, as
// outside a merge; MergeAt gives them.
func (h *FakeHost) Merge(blockSize, neighbourSize int64, pool, side int32) int64 {
	return policyMerge(blockSize, neighbourSize, pool, side)
}

// MergeAt calls policy_merge as an ABI 1.2 host does: during the call,
// StatMergeBlockOffset and StatMergeNeighbourOffset (MergeOffsets) answer
// blockOffset and neighbourOffset, the two blocks' offsets in their
// segment; before and after, -1.
func (h *FakeHost) MergeAt(blockSize, neighbourSize int64, pool, side int32, blockOffset, neighbourOffset int64) int64 {
	h.merging, h.mergeOffsets = true, [2]int64{blockOffset, neighbourOffset}
	defer func() { h.merging = false }()
	return policyMerge(blockSize, neighbourSize, pool, side)
}

// SegmentMode calls policy_segment_mode.
func (h *FakeHost) SegmentMode(pool, stream int32) int64 { return policySegmentMode(pool, stream) }

// SegmentSize calls policy_segment_size.
func (h *FakeHost) SegmentSize(rounded int64, pool, stream, tag int32) int64 {
	return policySegmentSize(rounded, pool, stream, tag)
}

// ExpandSize calls policy_expand_size.
func (h *FakeHost) ExpandSize(missing, rounded int64, pool, stream int32, page int64) int64 {
	return policyExpandSize(missing, rounded, pool, stream, page)
}

// Release calls policy_release.
func (h *FakeHost) Release(phase int32, rounded int64, pool, stream, attempt int32) int64 {
	return policyRelease(phase, rounded, pool, stream, attempt)
}

// Observe calls policy_observe.
func (h *FakeHost) Observe(kind int32, id, size int64, tag int32) int64 {
	return policyObserve(kind, id, size, tag)
}

// Plan hands records to policy_plan as the host does (ABI 1.5,
// sdk/ABI.md §3.8): in calls of at most PlanBatch records through the
// scratch buffer, the last one (the one with the last record, or the only
// one, with no records, when records is empty) with done = 1. It returns the last
// call's answer, the arena size, or the first negative answer, which ends
// the calls as it ends the host's.
func (h *FakeHost) Plan(records []PlanRecord) int64 {
	for {
		n := min(len(records), PlanBatch)
		copy(planRecords[:], records[:n])
		records = records[n:]
		done := int32(0)
		if len(records) == 0 {
			done = 1
		}
		ans := policyPlan(int32(n), done)
		if ans < 0 || done == 1 {
			return ans
		}
	}
}

// Place calls policy_place.
func (h *FakeHost) Place(id, rounded int64, pool, stream, tag int32) int64 {
	return policyPlace(id, rounded, pool, stream, tag)
}

// The imports, with the host's semantics (host/wasm/instance.go).

func (h *FakeHost) log(level int32, text string) {
	if len(h.Logs) < fakeMaxLogLines {
		h.Logs = append(h.Logs, LogLine{level, text})
	}
}

func (h *FakeHost) errorSet(text string) {
	if len(text) > fakeMaxErrorText {
		cut := fakeMaxErrorText
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut]
	}
	h.ErrorText = text
}

func (h *FakeHost) param(name string) (string, bool) {
	h.read[name] = true
	v, ok := h.Params[name]
	return v, ok
}

func (h *FakeHost) paramI64(name string, def int64) int64 {
	v, ok := h.param(name)
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "true":
		return 1
	case "false":
		return 0
	}
	n, err := strconv.ParseInt(v, 0, 64)
	if err != nil {
		h.paramErr = append(h.paramErr, fmt.Sprintf("parameter %s=%q is not an integer", name, v))
		return def
	}
	return n
}

func (h *FakeHost) paramF64(name string, def float64) float64 {
	v, ok := h.param(name)
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) {
		h.paramErr = append(h.paramErr, fmt.Sprintf("parameter %s=%q is not a number", name, v))
		return def
	}
	return f
}

func (h *FakeHost) paramStr(name string, buf []byte) int32 {
	v, ok := h.param(name)
	if !ok {
		return -1
	}
	if len(v) <= len(buf) {
		copy(buf, v)
	}
	return int32(len(v))
}

func (h *FakeHost) stat(key, arg int32) int64 {
	if h.merging && (key == StatMergeBlockOffset || key == StatMergeNeighbourOffset) {
		return h.mergeOffsets[key-StatMergeBlockOffset]
	}
	if h.StatFunc != nil {
		return h.StatFunc(key, arg)
	}
	if !perPool(key) {
		arg = 0
	}
	if v, ok := h.stats[[2]int32{key, arg}]; ok {
		return v
	}
	return StatUnknown
}

func (h *FakeHost) tagName(tag int32, buf []byte) int32 {
	name, ok := h.Tags[tag]
	if !ok {
		return -1
	}
	if len(name) <= len(buf) {
		copy(buf, name)
	}
	return int32(len(name))
}

func (h *FakeHost) config(key int32, value int64) int64 {
	if !h.inInit {
		return Error
	}
	switch key {
	case ConfigCandidateWindow:
		if value >= 1 && value <= MaxCandidates {
			h.Window = value
			return value
		}
	case ConfigHooks:
		if value >= 0 && value < 1<<NumHooks {
			h.Mask = value
			return value
		}
	case ConfigMergeRepeat:
		if value == 0 || value == 1 {
			h.MergeRepeat = value == 1
			return value
		}
	case ConfigReserveLimit:
		if value >= 0 && value <= MaxSize {
			h.ReserveLimit = value
			return value
		}
	case ConfigStitchKeep:
		if value == 0 || value == 1 {
			h.StitchKeep = value == 1
			return value
		}
	}
	return Error
}
