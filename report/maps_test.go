package report

import (
	"strings"
	"testing"

	"github.com/fraglab/fraglab/segmap"
)

// testMap is a small segment map after event: three segments with live
// blocks and holes; with the failed request when failed.
func testMap(event int64, failed bool) *segmap.Map {
	m := &segmap.Map{Event: event, Capacity: 50 * mib, DeviceFree: 2 * mib, Reserved: 48 * mib, Allocated: 30 * mib,
		Segments: []segmap.Segment{
			{Addr: 0x1000_0000, Size: 20 * mib, Mapped: 20 * mib, Pool: 1, Runs: []segmap.Run{
				{Kind: segmap.Live, Size: 10 * mib, Blocks: 1}, {Kind: segmap.Free, Size: 6 * mib, Blocks: 1}, {Kind: segmap.Live, Size: 4 * mib, Blocks: 1}}},
			{Addr: 0x2000_0000, Size: 20 * mib, Mapped: 20 * mib, Pool: 1, Runs: []segmap.Run{
				{Kind: segmap.Free, Size: 6 * mib, Blocks: 1}, {Kind: segmap.Live, Size: 14 * mib, Blocks: 1}}},
			{Addr: 0x3000_0000, Size: 8 * mib, Mapped: 8 * mib, Pool: 1, Runs: []segmap.Run{
				{Kind: segmap.Live, Size: 2 * mib, Blocks: 1}, {Kind: segmap.Free, Size: 6 * mib, Blocks: 1}}},
		}}
	if failed {
		m.At = "first-oom"
		m.Request = &segmap.Request{ID: 3, Requested: 20 * mib, Rounded: 20 * mib, Pool: 1, LargestFree: 6 * mib}
	} else {
		m.At = "event"
	}
	return m
}

func TestHTMLMaps(t *testing.T) {
	h := string(must(HTML(testRecords())))
	if n := strings.Count(h, `<div class="segmaps" data-event="7">`); n != 1 {
		t.Fatalf("%d pairs of segment maps at event 7, want 1 (wl-b: pytorch OOMs)", n)
	}
	for _, want := range []string{
		`<figure class="segmap" data-policy="pytorch"><svg class="segmap"`,
		`<figure class="segmap" data-policy="expandable"><svg class="segmap"`,
		"segments after event 7 (pytorch&#39;s first OOM) — expandable",
		"<figcaption>pytorch: event 7, 20.0 MiB asked",
		"<figcaption>expandable: served event 7; no OOM in the run</figcaption>",
		`width="660"`,
	} {
		if !strings.Contains(h, want) {
			t.Errorf("report.html lacks %s", want)
		}
	}
	// Without maps, the pair is gone and the tables are the same.
	plain := testRecords()
	for _, r := range plain {
		r.SegmentMap, r.BaselineMap = nil, nil
	}
	if h := string(must(HTML(plain))); strings.Contains(h, `class="segmaps"`) || strings.Contains(h, ".segmaps") {
		t.Error("maps, or their stylesheet, in a report from records without any")
	}
	if Markdown(plain) != Markdown(testRecords()) || string(must(JSON(plain))) != string(must(JSON(testRecords()))) {
		t.Error("the segment maps changed results.md or results.json")
	}
}

func TestBestForMaps(t *testing.T) {
	recs := testRecords()
	// A second other policy with a map at the event and fewer OOMs wins.
	extra := *recs[4]
	extra.ID, extra.Policy, extra.Metrics = "b3", "first-fit", met(70*mib, 25*mib, 0)
	recs = append(recs, &extra)
	// One whose map is at another event is never picked.
	other := *recs[4]
	other.ID, other.Policy, other.Metrics, other.BaselineMap = "b4", "aaa", met(10*mib, 5*mib, 0), testMap(8, false)
	recs = append(recs, &other)
	h := string(must(HTML(recs)))
	if !strings.Contains(h, `data-policy="first-fit"><svg`) || strings.Contains(h, `data-policy="expandable"><svg`) || strings.Contains(h, `data-policy="aaa"><svg`) {
		t.Error("the best policy at the event is not first-fit (0 OOMs)")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
