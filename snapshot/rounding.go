package snapshot

import (
	"math/bits"

	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/sdk/abi"
)

// PyTorch's caching-allocator constants (reference §1.1): the host's
// (host/defaults.go), the one home of PyTorch's size rules on the Go side.
const (
	mib          = 1 << 20
	minBlockSize = host.MinBlockSize // kMinBlockSize
	smallSize    = host.SmallSize    // kSmallSize: largest small-pool request
	smallBuffer  = host.SmallBuffer  // kSmallBuffer: small-pool segment and page size
	largeBuffer  = host.LargeBuffer  // kLargeBuffer: large segment for 1–10 MiB requests, large page size
	unlimited    = int64(-1)         // max_split_size when not set
)

// Pool names of segment_type.
const (
	PoolSmall = "small"
	PoolLarge = "large"
)

// Pool numbers of InitialSegment.Pool: the host's pool ids.
const (
	poolSmall int32 = abi.PoolSmall
	poolLarge int32 = abi.PoolLarge
)

func poolName(p int32) string {
	if p == poolSmall {
		return PoolSmall
	}
	return PoolLarge
}

func poolNumber(name string) int32 {
	if name == PoolSmall {
		return poolSmall
	}
	return poolLarge
}

// roundSize is PyTorch's round_size (reference §1.2): sizes below 512 become
// 512; with a roundup_power2_divisions entry d > 1 for n's interval and
// n > 512·d, n is rounded up to a multiple of (largest power of two ≤ n)/d;
// otherwise up to a multiple of 512. div may be nil (all entries off).
func roundSize(n int64, div *[Intervals]int64) int64 {
	if n < minBlockSize {
		return minBlockSize
	}
	if div != nil {
		k := 63 - bits.LeadingZeros64(uint64(n)) - 20
		k = max(0, min(k, Intervals-1))
		if d := div[k]; d > 1 && n > minBlockSize*d {
			return roundupPower2Division(n, d)
		}
	}
	return host.DefaultRoundSize(n)
}

// roundupPower2Division is roundup_power2_next_division: a power of two
// stays; otherwise n goes up to a multiple of floor2(n) >> log2(d).
func roundupPower2Division(n, d int64) int64 {
	if isPow2(n) {
		return n
	}
	floor := int64(1) << (63 - bits.LeadingZeros64(uint64(n)))
	step := floor >> (63 - bits.LeadingZeros64(uint64(d)))
	if step == 0 {
		return floor << 1
	}
	return roundUp(n, step)
}

func roundUp(n, m int64) int64 { return (n + m - 1) / m * m }

// inferPool guesses the pool of a segment known only by its size: classic
// small-pool segments are exactly 2 MiB and no large segment is; expandable
// runs are whole pages, 20 MiB in the large pool and 2 MiB in the small one,
// so a run that is not a multiple of 20 MiB is small.
func inferPool(size int64, expandable bool) int32 {
	if expandable {
		if size%largeBuffer == 0 {
			return poolLarge
		}
		return poolSmall
	}
	if size == smallBuffer {
		return poolSmall
	}
	return poolLarge
}

// splitRule holds what should_split needs (reference §3.1).
type splitRule struct {
	maxSplit   int64 // -1: unlimited
	expandable bool  // expandable_segments on: every pool splits at ≥ 512
}

func newSplitRule(s *Settings) splitRule {
	if s == nil {
		return splitRule{maxSplit: unlimited}
	}
	return splitRule{maxSplit: s.MaxSplitSize, expandable: s.ExpandableSegments}
}

// below reports whether rounded is below max_split_size.
func (r splitRule) below(rounded int64) bool { return r.maxSplit < 0 || rounded < r.maxSplit }

// split reports whether a free block of blockSize that serves rounded is
// split, leaving the remainder as a new free block.
func (r splitRule) split(blockSize, rounded int64, pool int32, expandableSeg bool) bool {
	rem := blockSize - rounded
	if pool == poolSmall || expandableSeg || r.expandable {
		return rem >= minBlockSize
	}
	return r.below(rounded) && rem > smallSize
}

// maxUnsplit is the largest remainder that stays with a large-pool block of
// a classic segment when it is not split: 1 MiB, or for a request at or above
// max_split_size anything below kLargeBuffer (such a block is never split and
// may be up to 20 MiB larger than the request, reference §2).
func (r splitRule) maxUnsplit(rounded int64) int64 {
	if r.expandable {
		return minBlockSize - 1
	}
	if !r.below(rounded) {
		return largeBuffer - 1
	}
	return smallSize
}

// usable reports whether get_free_block could hand a free block of blockSize
// to rounded, under the max_split_size rules (reference §2).
func (r splitRule) usable(blockSize, rounded int64) bool {
	if blockSize < rounded {
		return false
	}
	if r.maxSplit < 0 {
		return true
	}
	if rounded < r.maxSplit && blockSize >= r.maxSplit {
		return false
	}
	if rounded >= r.maxSplit && blockSize >= rounded+largeBuffer {
		return false
	}
	return true
}
