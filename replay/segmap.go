package replay

import (
	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/segmap"
)

// mapper takes the segment maps of Options.Maps as the run passes their
// events, and follows the peak of the reserved bytes.
type mapper struct {
	at        []MapAt
	maps      []*segmap.Map
	left      int
	names     func(int32) (string, bool)
	peak      int64
	peakEvent int64
	ooms      int // OOM reports seen so far
}

func newMapper(at []MapAt, names func(int32) (string, bool)) *mapper {
	if len(at) == 0 {
		return nil
	}
	return &mapper{at: at, maps: make([]*segmap.Map, len(at)), left: len(at), names: names, peak: -1, peakEvent: -1}
}

// after is called after event n.
func (m *mapper) after(n int64, a *host.Allocator) {
	if r, _, _ := a.Bytes(); r > m.peak {
		m.peak, m.peakEvent = r, n
	}
	if m.left == 0 {
		return
	}
	reports := a.OOMReports()
	var oom *host.OOMReport // the OOM of this event, when explained
	if len(reports) > m.ooms {
		if r := &reports[len(reports)-1]; r.Event == n {
			oom = r
		}
		m.ooms = len(reports)
	}
	var taken *segmap.Map
	for i, at := range m.at {
		if m.maps[i] != nil || !(at.FirstOOM && len(reports) > 0 || !at.FirstOOM && at.Event == n) {
			continue
		}
		if taken == nil {
			taken = segmap.Capture(a, n, m.names)
			if oom != nil {
				taken.Request = segmap.RequestOf(*oom)
			}
		}
		mp := *taken
		if at.FirstOOM {
			mp.At = "first-oom"
		} else {
			mp.At = "event"
		}
		m.maps[i] = &mp
		m.left--
	}
}
