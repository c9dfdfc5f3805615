package snapshot

import (
	"math/bits"
	"sort"
	"strconv"
	"strings"
)

// Intervals is the number of roundup_power2_divisions entries: one per
// power-of-two MiB interval from 1 MiB ("1") to 32 GiB ("32768").
const Intervals = 16

// Settings is the snapshot's allocator_settings dict (PyTorch 2.4 and later).
// Keys a file lacks keep PyTorch's defaults.
type Settings struct {
	AllocConf                  string // PYTORCH_CUDA_ALLOC_CONF, raw
	MaxSplitSize               int64  // max_split_size in bytes; -1: unlimited
	GarbageCollectionThreshold float64
	ExpandableSegments         bool
	// RoundupPower2Divisions is the roundup_power2_divisions table:
	// entry k is the dict's key strconv.Itoa(1<<k) (MiB), i.e. the number
	// of divisions for sizes in [2^k MiB, 2^(k+1) MiB); 0 is off.
	RoundupPower2Divisions [Intervals]int64
	// Other holds every other key (pinned_num_register_threads,
	// release_lock_on_cudamalloc, graph_capture_record_stream_reuse, …)
	// as nil, bool, int64, float64, string, []any or map[string]any.
	Other map[string]any
}

// Keys of allocator_settings that Settings models.
const (
	keyAllocConf  = "PYTORCH_CUDA_ALLOC_CONF"
	keyMaxSplit   = "max_split_size"
	keyGCThresh   = "garbage_collection_threshold"
	keyExpandable = "expandable_segments"
	keyRoundup    = "roundup_power2_divisions"
)

// DefaultSettings returns PyTorch's defaults: no configuration string,
// unlimited max_split_size, everything else off.
func DefaultSettings() *Settings { return &Settings{MaxSplitSize: -1} }

func settingsFrom(v any) (*Settings, error) {
	f, err := asFields(v)
	if err != nil {
		return nil, err
	}
	s := DefaultSettings()
	if s.AllocConf, err = f.str(keyAllocConf, false, ""); err != nil {
		return nil, err
	}
	if s.MaxSplitSize, err = f.int(keyMaxSplit, false, -1); err != nil {
		return nil, err
	}
	if s.GarbageCollectionThreshold, err = f.float(keyGCThresh, 0); err != nil {
		return nil, err
	}
	if s.ExpandableSegments, err = f.bool(keyExpandable, false); err != nil {
		return nil, err
	}
	if rv, ok := f.get(keyRoundup); ok {
		rf, err := asFields(rv)
		if err != nil {
			return nil, under(err, "."+keyRoundup)
		}
		for _, e := range rf {
			k, dv := e.Key.(string), e.Value
			start, perr := strconv.ParseInt(k, 10, 64) // interval start in MiB
			if perr != nil || !isPow2(start) || start > 1<<(Intervals-1) {
				return nil, fieldErr("."+keyRoundup, "unexpected key %q, expected \"1\", \"2\", \"4\", … \"32768\"", k)
			}
			n, ok := toInt64(dv)
			if !ok {
				return nil, fieldErr("."+keyRoundup+"["+strconv.Quote(k)+"]", "expected an int, got %s", pyType(dv))
			}
			if n < 0 {
				return nil, fieldErr("."+keyRoundup+"["+strconv.Quote(k)+"]", "expected a non-negative int, got %d", n)
			}
			s.RoundupPower2Divisions[bits.TrailingZeros64(uint64(start))] = n
		}
	}
	for _, e := range f {
		k, ov := e.Key.(string), e.Value
		switch k {
		case keyAllocConf, keyMaxSplit, keyGCThresh, keyExpandable, keyRoundup:
			continue
		}
		pv, err := plain(ov, 0)
		if err != nil {
			return nil, under(err, "."+k)
		}
		if s.Other == nil {
			s.Other = map[string]any{}
		}
		s.Other[k] = pv
	}
	return s, nil
}

func isPow2(n int64) bool { return n > 0 && n&(n-1) == 0 }

// Params returns the settings that differ from PyTorch's defaults as the
// pytorch policy's parameters, named like PyTorch's PYTORCH_CUDA_ALLOC_CONF
// keys and written in its syntax:
//
//	max_split_size_mb             MaxSplitSize in MiB, when not unlimited
//	roundup_power2_divisions      one value when all 16 entries are equal,
//	                              else the list form "[1:4,2:4,…,32768:8]"
//	garbage_collection_threshold  when not 0
//	expandable_segments           "True" when on
//
// A nil Settings, or one at the defaults, gives an empty map. Knobs that
// allocator_settings does not report (max_non_split_rounding_mb,
// large_segment_size_mb, …) are not read from AllocConf.
func (s *Settings) Params() map[string]string {
	p := map[string]string{}
	if s == nil {
		return p
	}
	if s.MaxSplitSize >= 0 {
		if s.MaxSplitSize%mib == 0 {
			p["max_split_size_mb"] = strconv.FormatInt(s.MaxSplitSize/mib, 10)
		} else {
			p["max_split_size_mb"] = strconv.FormatFloat(float64(s.MaxSplitSize)/mib, 'f', -1, 64)
		}
	}
	allEqual, anySet := true, false
	for _, d := range s.RoundupPower2Divisions {
		if d != s.RoundupPower2Divisions[0] {
			allEqual = false
		}
		if d != 0 {
			anySet = true
		}
	}
	if anySet {
		if allEqual {
			p["roundup_power2_divisions"] = strconv.FormatInt(s.RoundupPower2Divisions[0], 10)
		} else {
			parts := make([]string, Intervals)
			for k, d := range s.RoundupPower2Divisions {
				parts[k] = strconv.Itoa(1<<k) + ":" + strconv.FormatInt(d, 10)
			}
			p["roundup_power2_divisions"] = "[" + strings.Join(parts, ",") + "]"
		}
	}
	if s.GarbageCollectionThreshold != 0 {
		p["garbage_collection_threshold"] = strconv.FormatFloat(s.GarbageCollectionThreshold, 'g', -1, 64)
	}
	if s.ExpandableSegments {
		p["expandable_segments"] = "True"
	}
	return p
}

// otherKeys returns the keys of Other in a stable order.
func (s *Settings) otherKeys() []string {
	keys := make([]string, 0, len(s.Other))
	for k := range s.Other {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// roundup returns the divisions table, or nil for a nil Settings.
func (s *Settings) roundup() *[Intervals]int64 {
	if s == nil {
		return nil
	}
	return &s.RoundupPower2Divisions
}
