// Command buddy is policies/buddy (a binary buddy allocator, C) written
// with the Go SDK, to check the SDK's ABI 1.2 features: it asks for
// repeated merges (MergeRepeater) and merges only buddies, found from the
// merge offsets (MergeOffsets). It must make exactly the built-in's
// decisions.
package main

import (
	"math/bits"

	"github.com/fraglab/fraglab/sdk/go/fraglab"
)

type buddy struct{}

// pow2Ceil is the smallest power of two ≥ v.
func pow2Ceil(v int64) int64 {
	if v <= 1 {
		return 1
	}
	return 1 << bits.Len64(uint64(v-1))
}

func (buddy) RoundSize(size int64, stream, tag int32) int64 {
	if size <= fraglab.BlockAlign {
		return fraglab.BlockAlign
	}
	return pow2Ceil(size)
}

func (buddy) SegmentSize(rounded int64, pool, stream, tag int32) int64 {
	return max(pow2Ceil(rounded), 2*fraglab.MiB)
}

func (buddy) Split(blockSize, rounded int64, pool, stream, flags, tag int32) int64 {
	if half := blockSize / 2; half >= rounded && half%fraglab.BlockAlign == 0 {
		return half
	}
	return blockSize
}

func (buddy) MergeRepeat() bool { return true }

func (buddy) Merge(blockSize, neighbourSize int64, pool, side int32) int64 {
	if blockSize != neighbourSize {
		return 0
	}
	block, neighbour, ok := fraglab.MergeOffsets()
	if !ok {
		return fraglab.Fail("no merge offsets: buddy needs an ABI 1.2 host")
	}
	if min(block, neighbour)%(2*blockSize) == 0 {
		return 1
	}
	return 0
}

func init() { fraglab.Register(buddy{}) }

func main() {}
