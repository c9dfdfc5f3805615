package host

import "github.com/fraglab/fraglab/sdk/abi"

// PyTorch's constants (reference/pytorch-caching-allocator.md §1.1).
const (
	MinBlockSize  = 512      // every size is a multiple of this
	SmallSize     = 1 << 20  // largest small-pool request
	SmallBuffer   = 2 << 20  // small-pool segment size
	LargeBuffer   = 20 << 20 // segment size for 1 MiB < size < 10 MiB
	MinLargeAlloc = 10 << 20 // requests from here get their own segment
	RoundLarge    = 2 << 20  // large segments are rounded up to this
	MaxSize       = 1 << 48  // largest size a policy may answer
)

// The host defaults: PyTorch's rules at default settings (sdk/ABI.md §4).

// DefaultRoundSize rounds a request up to a multiple of 512 (at least 512).
func DefaultRoundSize(size int64) int64 {
	if size < MinBlockSize {
		return MinBlockSize
	}
	return roundUp(size, MinBlockSize)
}

// DefaultPool puts sizes up to 1 MiB in the small pool, others in the large.
func DefaultPool(rounded int64) int32 {
	if rounded <= SmallSize {
		return abi.PoolSmall
	}
	return abi.PoolLarge
}

// DefaultSplit answers the front piece size: the request when the remainder
// is worth a block of its own, else the whole block.
func DefaultSplit(blockSize, rounded int64, pool int32, flags int32) int64 {
	r := blockSize - rounded
	if pool == abi.PoolSmall || flags&abi.FlagExpandable != 0 {
		if r >= MinBlockSize {
			return rounded
		}
		return blockSize
	}
	if r > SmallSize {
		return rounded
	}
	return blockSize
}

// DefaultSegmentSize is PyTorch's get_allocation_size.
func DefaultSegmentSize(rounded int64) int64 {
	switch {
	case rounded <= SmallSize:
		return SmallBuffer
	case rounded < MinLargeAlloc:
		return LargeBuffer
	default:
		return roundUp(rounded, RoundLarge)
	}
}

// DefaultPage is the page size of an expandable segment of a pool.
func DefaultPage(pool int32) int64 {
	if pool == abi.PoolSmall {
		return SmallBuffer
	}
	return LargeBuffer
}

// DefaultRelease releases every cached segment once after a failed growth.
func DefaultRelease(phase, attempt int32) int64 {
	if phase == abi.PhaseGrowFailed && attempt == 0 {
		return abi.ActReleaseCached
	}
	return abi.ActNothing
}

func roundUp(n, m int64) int64 { return (n + m - 1) / m * m }
