//go:build !wasip1

package main

import (
	"math/bits"
	"strconv"
	"strings"
	"testing"

	"github.com/fraglab/fraglab/sdk/go/fraglab"
)

const MiB = fraglab.MiB

// start makes a fake host with params and runs policy_init.
func start(t *testing.T, params ...string) *fraglab.FakeHost {
	t.Helper()
	h := fraglab.NewFakeHost(&SizeClass{})
	for i := 0; i < len(params); i += 2 {
		h.Params[params[i]] = params[i+1]
	}
	if err := h.Init(); err != nil {
		t.Fatalf("Init with %v: %v", params, err)
	}
	return h
}

func TestHookMask(t *testing.T) {
	h := start(t)
	want := int64(1<<fraglab.HookInit | 1<<fraglab.HookRoundSize | 1<<fraglab.HookSplit)
	if h.Mask != want {
		t.Errorf("hook mask %#x, want %#x (init, round_size, split)", h.Mask, want)
	}
	if h.Window != fraglab.DefaultCandidateWindow {
		t.Errorf("window %d, want the default", h.Window)
	}
	if h.ChoosePool(1<<20, 0, 0) != fraglab.Defer || h.Merge(512, 512, 0, 0) != fraglab.Defer {
		t.Errorf("hooks the policy lacks must answer DEFER")
	}
}

func TestRoundSize(t *testing.T) {
	cases := []struct {
		cpd        string
		size, want int64
	}{
		{"4", 0, 512}, {"4", 1, 512}, {"4", 511, 512}, {"4", 512, 512},
		{"4", 513, 1024}, {"4", 1000, 1024}, {"4", 1024, 1024}, {"4", 1025, 1536},
		{"4", 2049, 2560}, {"4", 3000, 3072}, {"4", 4097, 5120},
		{"4", 5 * MiB, 5 * MiB}, {"4", 5*MiB + 1, 6 * MiB}, {"4", 6*MiB + 1, 7 * MiB},
		{"4", 7*MiB + 1, 8 * MiB}, {"4", 8 * MiB, 8 * MiB}, {"4", 8*MiB + 1, 10 * MiB},
		{"1", 513, 1024}, {"1", 1025, 2048}, {"1", 3 * MiB, 4 * MiB}, {"1", 4*MiB + 1, 8 * MiB},
		{"2", 1025, 1536}, {"2", 1537, 2048}, {"2", 5 * MiB, 6 * MiB}, {"2", 6*MiB + 1, 8 * MiB},
		{"8", 9 * MiB, 9 * MiB}, {"8", 9*MiB + 1, 10 * MiB}, {"8", 4097, 4608},
		{"16", 4097, 4608}, {"16", 8193, 8704}, {"16", 16*MiB + 1, 17 * MiB},
		{"4", 1 << 40, 1 << 40}, {"4", 1<<40 + 1, 1<<40 + 1<<38},
	}
	for _, c := range cases {
		h := start(t, "classes_per_doubling", c.cpd)
		if got := h.RoundSize(c.size, 0, 0); got != c.want {
			t.Errorf("classes_per_doubling=%s: RoundSize(%d) = %d, want %d", c.cpd, c.size, got, c.want)
		}
	}
}

func TestSplit(t *testing.T) {
	cases := []struct {
		splitMin                     string
		block, rounded, pool, answer int64
	}{
		{"", 1024, 512, 0, 512},   // 512 left in pool 0: split
		{"", 1024, 1024, 0, 1024}, // nothing left
		{"", 2 * MiB, 1536, 0, 1536},
		{"", 20 * MiB, 16 * MiB, 1, 16 * MiB}, // 4 MiB left: split at the default 4
		{"", 20 * MiB, 16*MiB + 512, 1, 20 * MiB},
		{"", 20 * MiB, 17 * MiB, 3, 20 * MiB},
		{"1", 20 * MiB, 19 * MiB, 1, 19 * MiB},
		{"1", 20 * MiB, 19*MiB + 512, 1, 20 * MiB},
		{"16", 32 * MiB, 16 * MiB, 2, 16 * MiB},
		{"16", 32 * MiB, 16*MiB + 512, 2, 32 * MiB},
		{"268435457", 1 << 48, 512, 1, 1 << 48}, // a threshold above any block: never split
		{"9223372036854775807", 1 << 48, 512, 1, 1 << 48},
	}
	for _, c := range cases {
		var params []string
		if c.splitMin != "" {
			params = []string{"split_min_mb", c.splitMin}
		}
		h := start(t, params...)
		for _, flags := range []int32{0, fraglab.FlagExpandable, fraglab.FlagWholeSegment} {
			if got := h.Split(c.block, c.rounded, int32(c.pool), 0, flags, 0); got != c.answer {
				t.Errorf("split_min_mb=%q: Split(%d, %d, pool %d, flags %d) = %d, want %d",
					c.splitMin, c.block, c.rounded, c.pool, flags, got, c.answer)
			}
		}
	}
}

func TestParamErrors(t *testing.T) {
	cases := []struct{ key, value, want string }{
		{"classes_per_doubling", "3", "classes_per_doubling=3: must be 1, 2, 4, 8 or 16"},
		{"classes_per_doubling", "0", "classes_per_doubling=0: must be 1, 2, 4, 8 or 16"},
		{"classes_per_doubling", "32", "classes_per_doubling=32: must be 1, 2, 4, 8 or 16"},
		{"classes_per_doubling", "-4", "classes_per_doubling=-4: must be 1, 2, 4, 8 or 16"},
		{"split_min_mb", "0", "split_min_mb=0: must be ≥ 1"},
		{"split_min_mb", "-1", "split_min_mb=-1: must be ≥ 1"},
		{"classes_per_doubling", "four", `parameter classes_per_doubling="four" is not an integer`},
		{"split_min", "4", "unknown parameter split_min: the policy never reads it (it reads: classes_per_doubling, split_min_mb)"},
	}
	for _, c := range cases {
		h := fraglab.NewFakeHost(&SizeClass{})
		h.Params[c.key] = c.value
		err := h.Init()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%s: Init error %v, want one containing %q", c.key, c.value, err, c.want)
		}
	}
}

// reference is the sizeclass rounding rule written the slow way.
func reference(size, cpd int64) int64 {
	if size <= 512 {
		return 512
	}
	if size&(size-1) == 0 {
		return size
	}
	k := int64(bits.Len64(uint64(size))) - 1
	step := (int64(1) << k) / cpd
	if step < 512 {
		step = 512
	}
	return (size + step - 1) / step * step
}

func TestRoundSizeSweep(t *testing.T) {
	for _, cpd := range []int64{1, 2, 4, 8, 16} {
		h := start(t, "classes_per_doubling", strconv.FormatInt(cpd, 10))
		check := func(size int64) {
			got, want := h.RoundSize(size, 0, 0), reference(size, cpd)
			if got != want {
				t.Fatalf("classes_per_doubling=%d: RoundSize(%d) = %d, want %d", cpd, size, got, want)
			}
			if got < size || got%512 != 0 {
				t.Fatalf("classes_per_doubling=%d: RoundSize(%d) = %d: not a valid answer", cpd, size, got)
			}
		}
		for size := int64(0); size < 1<<16; size++ {
			check(size)
		}
		for k := 16; k < 48; k++ {
			for _, d := range []int64{-1, 0, 1, 511, 512, 513} {
				check(int64(1)<<k + d)
				check(int64(1)<<k*3/2 + d)
			}
		}
	}
}

func TestNoAllocation(t *testing.T) {
	h := start(t)
	allocs := testing.AllocsPerRun(1000, func() {
		h.RoundSize(3000, 0, 0)
		h.Split(20*MiB, 4*MiB, 1, 0, 0, 0)
	})
	if allocs != 0 {
		t.Errorf("hooks allocate %.1f times per call", allocs)
	}
}
