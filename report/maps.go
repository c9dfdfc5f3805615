package report

import (
	"cmp"
	"fmt"
	"html/template"

	"github.com/fraglab/fraglab/internal/oomreport"
	"github.com/fraglab/fraglab/internal/runrecord"
	"github.com/fraglab/fraglab/segmap"
)

// mapWidth is the width of one segment map in report.html: two side by
// side fit a 1400 px window.
const mapWidth = 660

// mapPair is the segments of the baseline and of the best other policy
// after the baseline's first OOM event, for one table (workload and
// capacity), drawn side by side.
type mapPair struct {
	Event int64
	Maps  []mapPanel
}

// mapPanel is one policy's map and the line beneath it.
type mapPanel struct {
	Policy string
	SVG    template.HTML
	Line   string
}

// mapsFor finds the pair of table t in recs: the baseline's ok run with an
// OOM and a recorded map (the first repeat), and of the other policies'
// runs of the same repeat with a map at that event, the best: the fewest
// OOMs, then the lowest peak reserved, then the label. nil when there is
// no baseline OOM with a map.
func mapsFor(t *table, recs []*runrecord.Record) *mapPair {
	var base *runrecord.Record
	var others []*runrecord.Record
	for _, r := range Sorted(recs) {
		if r.Workload != t.Workload || r.Capacity != t.Capacity || r.Status != runrecord.StatusOK || r.Metrics == nil {
			continue
		}
		if r.Policy == Baseline {
			if base == nil && r.SegmentMap != nil && r.FirstOOMReport != nil {
				base = r
			}
			continue
		}
		others = append(others, r)
	}
	if base == nil {
		return nil
	}
	ev := base.SegmentMap.Event
	var best *runrecord.Record
	for _, r := range others {
		if r.Repeat != base.Repeat || r.BaselineMap == nil || r.BaselineMap.Event != ev {
			continue
		}
		if best == nil || better(r, best) {
			best = r
		}
	}
	p := &mapPair{Event: ev}
	bm := *base.SegmentMap
	bm.Policy = base.Policy
	// One scale for both, to compare.
	o := segmap.Options{Width: mapWidth}
	o.Scale = segmap.Scale(&bm, o)
	if best != nil {
		o.Scale = max(o.Scale, segmap.Scale(best.BaselineMap, o))
	}
	p.Maps = append(p.Maps, mapPanel{base.Policy, template.HTML(segmap.SVG(&bm, o)),
		fmt.Sprintf("%s: %s (%d OOMs in the run)", base.Policy, oomreport.Summary(*base.FirstOOMReport), base.Metrics.OOMs)})
	if best != nil {
		m := *best.BaselineMap
		m.Policy = best.Policy
		m.At = ""
		line := fmt.Sprintf("%s: no OOM in the run", best.Policy)
		switch o := best.FirstOOMReport; {
		case m.Request != nil && o != nil && o.Event == ev:
			line = fmt.Sprintf("%s: %s (%d OOMs in the run)", best.Policy, oomreport.Summary(*o), best.Metrics.OOMs)
		case o != nil:
			line = fmt.Sprintf("%s: served event %d; its first OOM: %s (%d OOMs in the run)", best.Policy, ev, oomreport.Summary(*o), best.Metrics.OOMs)
		default:
			line = fmt.Sprintf("%s: served event %d; no OOM in the run", best.Policy, ev)
		}
		o.Title = fmt.Sprintf("segments after event %d (%s's first OOM) — %s", ev, Baseline, best.Policy)
		p.Maps = append(p.Maps, mapPanel{best.Policy, template.HTML(segmap.SVG(&m, o)), line})
	}
	return p
}

// better reports whether run a did better than run b: fewer OOMs, then a
// lower peak reserved, then the label first in order.
func better(a, b *runrecord.Record) bool {
	if c := cmp.Compare(a.Metrics.OOMs, b.Metrics.OOMs); c != 0 {
		return c < 0
	}
	if c := cmp.Compare(a.Metrics.PeakReserved, b.Metrics.PeakReserved); c != 0 {
		return c < 0
	}
	return a.Policy < b.Policy
}
