package tune

import (
	"strings"
	"testing"

	"github.com/fraglab/fraglab/replay"
)

func TestGrowth(t *testing.T) {
	const M = mib
	tl := func(res, req []int64) *replay.Timeline {
		ev := make([]int64, len(res))
		for i := range ev {
			ev[i] = int64(i * 10)
		}
		return &replay.Timeline{Event: ev, Reserved: res, Requested: req, Allocated: req}
	}
	for _, tc := range []struct {
		name  string
		tl    *replay.Timeline
		grows bool
	}{
		{"steady cycles", tl([]int64{100 * M, 100 * M, 100 * M, 100 * M}, []int64{90 * M, 10 * M, 90 * M, 10 * M}), false},
		{"reserved creeps, demand does not", tl([]int64{100 * M, 100 * M, 130 * M, 160 * M}, []int64{90 * M, 10 * M, 90 * M, 10 * M}), true},
		{"demand grows too", tl([]int64{100 * M, 100 * M, 130 * M, 160 * M}, []int64{90 * M, 10 * M, 150 * M, 10 * M}), false},
		{"within 5%", tl([]int64{100 * M, 100 * M, 104 * M, 104 * M}, []int64{90 * M, 10 * M, 90 * M, 10 * M}), false},
		{"no timeline", nil, false},
	} {
		if g := growth(tc.tl); g.grows != tc.grows {
			t.Errorf("%s: grows %v (%+v), want %v", tc.name, g.grows, g, tc.grows)
		}
	}
}

// Flags come from the replays' numbers: two knobs that each help alone
// but hurt together, and a setting with twice the driver calls.
func TestFlags(t *testing.T) {
	const M = mib
	mk := func(name, stage string, changes map[string]string, peak, calls int64) *Setting {
		return &Setting{Name: name, Stage: stage, Changes: changes, Metrics: &replay.Metrics{PeakReserved: peak}, DriverCalls: &calls}
	}
	base := mk("baseline", StageBaseline, nil, 100*M, 100)
	a := mk("expandable_segments=true", StageSweep, map[string]string{"expandable_segments": "true"}, 80*M, 100)
	b := mk("max_split_size_mb=64", StageSweep, map[string]string{"max_split_size_mb": "64"}, 90*M, 100)
	both := mk("expandable_segments=true max_split_size_mb=64", StageCombination, map[string]string{"expandable_segments": "true", "max_split_size_mb": "64"}, 95*M, 250)
	fine := mk("expandable_segments=true large_segment_size_mb=64", StageCombination, map[string]string{"expandable_segments": "true", "large_segment_size_mb": "64"}, 79*M, 100)
	s := &search{all: []*Setting{base, a, b, both, fine}}
	s.flag(base)
	if len(both.Flags) != 2 || !strings.Contains(both.Flags[0], "driver calls, 2.5×") || !strings.Contains(both.Flags[1], "interact badly") ||
		!strings.Contains(both.Flags[1], "worse than expandable_segments=true") {
		t.Errorf("combination flags: %q", both.Flags)
	}
	for _, st := range []*Setting{base, a, b, fine} {
		if len(st.Flags) > 0 {
			t.Errorf("%s flagged: %q", st.Name, st.Flags)
		}
	}
}
