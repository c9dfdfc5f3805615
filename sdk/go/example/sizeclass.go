package main

import (
	"fmt"
	"math/bits"

	"github.com/fraglab/fraglab/sdk/go/fraglab"
)

// SizeClass is the sizeclass policy. It implements fraglab.Initer,
// fraglab.RoundSizer and fraglab.Splitter; the host applies its defaults
// to every other decision.
type SizeClass struct {
	classesPerDoubling int64 // size classes per power of two: 1, 2, 4, 8 or 16
	splitMin           int64 // bytes that must remain for a split in pools other than 0
}

// Init reads and checks the parameters.
func (p *SizeClass) Init() error {
	cpd := fraglab.ParamInt("classes_per_doubling", 4)
	splitMinMB := fraglab.ParamInt("split_min_mb", 4)
	switch cpd {
	case 1, 2, 4, 8, 16:
	default:
		return fmt.Errorf("classes_per_doubling=%d: must be 1, 2, 4, 8 or 16", cpd)
	}
	if splitMinMB < 1 {
		return fmt.Errorf("split_min_mb=%d: must be ≥ 1", splitMinMB)
	}
	p.classesPerDoubling = cpd
	// Any threshold above MaxSize means "never split" (no block is
	// larger); capping the megabytes keeps the product from overflowing.
	p.splitMin = min(splitMinMB, fraglab.MaxSize/fraglab.MiB+1) * fraglab.MiB
	return nil
}

// RoundSize rounds a request up to its size class: 512 for small requests,
// powers of two unchanged, otherwise a multiple of
// max(2^floor(log2 size) / classes_per_doubling, 512).
func (p *SizeClass) RoundSize(size int64, stream, tag int32) int64 {
	if size <= fraglab.BlockAlign {
		return fraglab.BlockAlign
	}
	if size&(size-1) == 0 {
		return size
	}
	k := 63 - bits.LeadingZeros64(uint64(size)) // floor(log2 size)
	step := max(int64(1)<<k/p.classesPerDoubling, fraglab.BlockAlign)
	return (size + step - 1) &^ (step - 1) // step is a power of two
}

// Split splits off the request when enough remains: 512 bytes in pool 0,
// split_min_mb MiB in the other pools.
func (p *SizeClass) Split(blockSize, rounded int64, pool, stream, flags, tag int32) int64 {
	rest := blockSize - rounded
	if pool == fraglab.PoolSmall {
		if rest >= fraglab.BlockAlign {
			return rounded
		}
		return blockSize
	}
	if rest >= p.splitMin {
		return rounded
	}
	return blockSize
}
