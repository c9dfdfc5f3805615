package host

import (
	"fmt"
	"strings"

	"github.com/fraglab/fraglab/sdk/abi"
)

// Policy answers the allocator's decisions. Each method is one hook of ABI v1
// (sdk/ABI.md §3) and returns the hook's raw answer: a non-negative decision
// or a negative status (abi.Defer, abi.None, abi.Error). The host validates
// every answer the same way whatever implements Policy: the Wasm runtime
// (host/wasm) or a Go policy in a test. An error return means the policy
// itself failed (a trap); the run stops.
//
// The host calls a method only when Implements reports its hook.
type Policy interface {
	Implements(h abi.Hook) bool
	RoundSize(size int64, stream, tag int32) (int64, error)
	ChoosePool(rounded int64, stream, tag int32) (int64, error)
	SearchOrder(rounded int64, pool, stream, tag int32) (int64, error)
	// PickBlock gets the candidates in search order; len(c) >= 1.
	PickBlock(c []abi.Candidate, rounded int64, pool, stream, tag int32) (int64, error)
	Split(blockSize, rounded int64, pool, stream, flags, tag int32) (int64, error)
	Merge(blockSize, neighbourSize int64, pool, side int32) (int64, error)
	SegmentMode(pool, stream int32) (int64, error)
	SegmentSize(rounded int64, pool, stream, tag int32) (int64, error)
	ExpandSize(missing, rounded int64, pool, stream int32, page int64) (int64, error)
	Release(phase int32, rounded int64, pool, stream, attempt int32) (int64, error)
	Observe(kind int32, id, size int64, tag int32) (int64, error)
	// CandidateWindow is the most candidates PickBlock wants (>= 1).
	CandidateWindow() int
	// ErrorText is the text the policy gave error_set, if any.
	ErrorText() string
}

// MergeRepeater is implemented by a Policy that can ask (ABI 1.2, config
// key 3) for repeated merges: after a free merged the block with a
// neighbour, policy_merge is asked again about its new neighbours, below
// then above, until a round merges nothing. The allocator reads it once,
// in New.
type MergeRepeater interface {
	MergeRepeat() bool
}

// ReserveLimiter is implemented by a Policy that can limit the bytes the
// allocator holds from the device (ABI 1.3, config key 4; PyTorch's
// per_process_memory_fraction): a growth that would take reserved bytes
// past the limit fails without a device call, as if the device were full,
// and the release-and-retry path runs as usual. The growth counted is the
// policy_segment_size answer for the request, asked in expandable mode too
// (PyTorch checks its allocation size, not the pages it maps). The
// allocator reads it once, in New; 0 means no limit.
type ReserveLimiter interface {
	ReserveLimit() int64
}

// Versioned is implemented by a Policy that declares an ABI minor version
// (a Wasm module's marker). The host keeps the semantics of the version a
// policy declares. Since 1.3, as in PyTorch: a *release oversize* that
// freed less than it aimed at is not followed by a retry of the growth
// (release_available_cached_blocks returns false then), where 1.0 to 1.2
// retry after any release that freed bytes; and when the policy declined
// the free block just below an expandable segment's unmapped range and
// that block holds the request, growth serves the request from it with
// nothing mapped (try_allocate_expandable_block), where 1.0 to 1.2 map at
// least one page. A Policy that does not implement Versioned gets the
// newest semantics.
type Versioned interface {
	ABIMinor() int
}

// NoHooks is a Policy that implements no hook: every decision is the host
// default. Embed it in a Go policy and override the hooks you implement
// (and Implements).
type NoHooks struct{}

// Implements reports no hook.
func (NoHooks) Implements(abi.Hook) bool { return false }

// RoundSize defers.
func (NoHooks) RoundSize(int64, int32, int32) (int64, error) { return abi.Defer, nil }

// ChoosePool defers.
func (NoHooks) ChoosePool(int64, int32, int32) (int64, error) { return abi.Defer, nil }

// SearchOrder defers.
func (NoHooks) SearchOrder(int64, int32, int32, int32) (int64, error) { return abi.Defer, nil }

// PickBlock defers.
func (NoHooks) PickBlock([]abi.Candidate, int64, int32, int32, int32) (int64, error) {
	return abi.Defer, nil
}

// Split defers.
func (NoHooks) Split(int64, int64, int32, int32, int32, int32) (int64, error) { return abi.Defer, nil }

// Merge defers.
func (NoHooks) Merge(int64, int64, int32, int32) (int64, error) { return abi.Defer, nil }

// SegmentMode defers.
func (NoHooks) SegmentMode(int32, int32) (int64, error) { return abi.Defer, nil }

// SegmentSize defers.
func (NoHooks) SegmentSize(int64, int32, int32, int32) (int64, error) { return abi.Defer, nil }

// ExpandSize defers.
func (NoHooks) ExpandSize(int64, int64, int32, int32, int64) (int64, error) { return abi.Defer, nil }

// Release defers.
func (NoHooks) Release(int32, int64, int32, int32, int32) (int64, error) { return abi.Defer, nil }

// Observe does nothing.
func (NoHooks) Observe(int32, int64, int64, int32) (int64, error) { return 0, nil }

// CandidateWindow is the default window.
func (NoHooks) CandidateWindow() int { return abi.DefaultCandidateWindow }

// ErrorText is empty.
func (NoHooks) ErrorText() string { return "" }

// PolicyError reports a policy that failed or answered out of range. It
// names the trace event, the hook with its arguments and the answer.
type PolicyError struct {
	Event  int64    // index of the trace event being served
	Hook   abi.Hook // the hook asked
	Args   []int64  // its arguments, in ABI order
	Answer int64    // the answer, when there was one
	Trap   error    // the trap, when the policy failed instead of answering
	Reason string   // what was expected, or the policy's error_set text
}

func (e *PolicyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "event %d: %s(", e.Event, e.Hook)
	names := abi.Hooks[e.Hook].Params
	for i, a := range e.Args {
		if i > 0 {
			b.WriteString(", ")
		}
		if i < len(names) {
			b.WriteString(names[i])
			b.WriteByte('=')
		}
		fmt.Fprint(&b, a)
	}
	b.WriteByte(')')
	switch {
	case e.Trap != nil:
		fmt.Fprintf(&b, " failed: %v", e.Trap)
		if e.Reason != "" {
			fmt.Fprintf(&b, " (policy said: %s)", e.Reason)
		}
	case e.Answer == abi.Error:
		fmt.Fprintf(&b, " answered ERROR: %s", orDefault(e.Reason, "the policy gave no reason (error_set)"))
	default:
		fmt.Fprintf(&b, " answered %d: %s", e.Answer, e.Reason)
	}
	return b.String()
}

// Unwrap returns the trap, if any.
func (e *PolicyError) Unwrap() error { return e.Trap }

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
