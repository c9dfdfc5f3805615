package tune

import (
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"github.com/fraglab/fraglab/host"
)

const mib = 1 << 20

// Knob is one group of the pytorch policy's parameters that the search
// varies together, with the values it tries.
type Knob struct {
	Name     string              // the parameter it is about, e.g. max_split_size_mb
	Variants []map[string]string // each: the parameters it sets
}

// Profile is what the search derives its values from: the workload's
// request sizes.
type Profile struct {
	Sizes []int64 // bytes of every alloc request, in trace order
}

// Knobs returns the values the one-knob sweeps try from base (the
// baseline's parameters), derived from the workload's sizes; variants equal
// to base's own value are left out. garbage_collection_threshold is tried
// only when a capacity is known (it measures against it).
func Knobs(p Profile, base map[string]string, capacity int64) []Knob {
	large := largeSizes(p.Sizes)
	var out []Knob
	add := func(name string, variants ...map[string]string) {
		var keep []map[string]string
		for _, v := range variants {
			if !sameAs(base, v) && !slices.ContainsFunc(keep, func(k map[string]string) bool { return maps.Equal(k, v) }) {
				keep = append(keep, v)
			}
		}
		if len(keep) > 0 {
			out = append(out, Knob{Name: name, Variants: keep})
		}
	}
	one := func(k, v string) map[string]string { return map[string]string{k: v} }

	if isTrue(base["expandable_segments"]) {
		add("expandable_segments", one("expandable_segments", "false"))
	} else {
		add("expandable_segments", one("expandable_segments", "true"))
	}

	var splits []map[string]string
	if v, ok := base["max_split_size_mb"]; ok && !strings.EqualFold(v, "unlimited") {
		splits = append(splits, one("max_split_size_mb", "unlimited"))
	}
	for _, mb := range splitCandidates(large) {
		splits = append(splits, one("max_split_size_mb", strconv.FormatInt(mb, 10)))
	}
	add("max_split_size_mb", splits...)

	var rounds []map[string]string
	for _, d := range []string{"0", "2", "4", "8", "16"} {
		rounds = append(rounds, one("roundup_power2_divisions", d))
	}
	rounds = append(rounds, one("roundup_power2_divisions", roundupList(large)))
	add("roundup_power2_divisions", rounds...)

	if capacity > 0 {
		var gcs []map[string]string
		for _, t := range []string{"0.5", "0.7", "0.9"} {
			gcs = append(gcs, one("garbage_collection_threshold", t))
		}
		// No per_process_memory_fraction below 1: it only caps reserved
		// memory below the capacity (the pytorch policy models the cap),
		// so it can add OOMs and never saves memory.
		add("garbage_collection_threshold", gcs...)
	}

	var segs []map[string]string
	for _, mb := range []string{"12", "40", "64"} {
		segs = append(segs, one("large_segment_size_mb", mb))
	}
	add("large_segment_size_mb", segs...)
	return out
}

// largeSizes are the requests above 1 MiB (the large pool), sorted.
func largeSizes(sizes []int64) []int64 {
	var out []int64
	for _, s := range sizes {
		if s > host.SmallSize {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// quantile of sorted values (0 ≤ q ≤ 1); 0 for none.
func quantile(sorted []int64, q float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(q*float64(len(sorted)-1))]
}

// splitCandidates are max_split_size_mb values from the large requests'
// distribution: just above the 25th, 50th, 75th, 90th and 99th percentile
// request (so that requests up to it still split blocks and larger ones
// get their own), at least 20 (PyTorch's minimum), without repeats.
func splitCandidates(large []int64) []int64 {
	var out []int64
	for _, q := range []float64{0.25, 0.5, 0.75, 0.9, 0.99} {
		v := quantile(large, q)
		if v == 0 {
			continue
		}
		mb := max(host.LargeBuffer/mib, v/mib+1)
		if !slices.Contains(out, mb) {
			out = append(out, mb)
		}
	}
	return out
}

// roundupList is a list-form roundup_power2_divisions anchored at the
// median large request: off up to its power-of-two interval, then 2, 4
// and 8 divisions for the intervals above (finer classes where requests
// are large and rare), as PyTorch's documentation example is shaped.
func roundupList(large []int64) string {
	m := quantile(large, 0.5) / mib
	k := int64(1)
	if m > 1 {
		k = int64(1) << (63 - bits.LeadingZeros64(uint64(m)))
	}
	k = min(k, 4096)
	return fmt.Sprintf("[%d:1,%d:2,%d:4,>:8]", k, 2*k, 4*k)
}

// sameAs reports whether every parameter of v already has that value in
// base (the variant would change nothing).
func sameAs(base, v map[string]string) bool {
	for k, val := range v {
		if !sameValue(k, base[k], val) {
			return false
		}
	}
	return true
}

// sameValue compares two spellings of one knob's value, treating a
// missing value as PyTorch's default.
func sameValue(knob, a, b string) bool {
	norm := func(s string) string {
		s = strings.ToLower(s)
		if s == "" {
			switch knob {
			case "expandable_segments":
				return "false"
			case "max_split_size_mb":
				return "unlimited"
			case "roundup_power2_divisions":
				return "0"
			case "large_segment_size_mb", "max_non_split_rounding_mb":
				return "20"
			case "per_process_memory_fraction":
				return "1"
			}
		}
		if knob == "expandable_segments" {
			return strconv.FormatBool(isTrue(s))
		}
		return s
	}
	return norm(a) == norm(b)
}

func isTrue(s string) bool {
	s = strings.ToLower(s)
	return s == "true" || s == "1"
}

// merge returns base with every variant's parameters over it.
func merge(base map[string]string, variants ...map[string]string) map[string]string {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]string{}
	}
	for _, v := range variants {
		maps.Copy(out, v)
	}
	return out
}
