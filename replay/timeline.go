package replay

// timeline samples reserved, allocated and requested bytes over event
// index with bounded memory: it keeps every stride-th event, and when it
// holds 2·max points it drops every other one and doubles the stride. The
// events where reserved and allocated peaked are always kept, so a chart
// shows the true peaks.
type timeline struct {
	max    int
	stride int64
	event  []int64
	res    []int64
	alloc  []int64
	req    []int64
	peakR  [4]int64 // event, reserved, allocated, requested at peak reserved
	peakA  [4]int64 // the same at peak allocated
}

func newTimeline(max int) *timeline {
	return &timeline{max: max, stride: 1, peakR: [4]int64{-1}, peakA: [4]int64{-1}}
}

func (t *timeline) add(e int64, reserved, allocated, requested int64) {
	if t.peakR[0] < 0 || reserved > t.peakR[1] {
		t.peakR = [4]int64{e, reserved, allocated, requested}
	}
	if t.peakA[0] < 0 || allocated > t.peakA[2] {
		t.peakA = [4]int64{e, reserved, allocated, requested}
	}
	if e%t.stride != 0 {
		return
	}
	t.event = append(t.event, e)
	t.res = append(t.res, reserved)
	t.alloc = append(t.alloc, allocated)
	t.req = append(t.req, requested)
	if len(t.event) >= 2*t.max {
		keep := 0
		for i := range t.event {
			if t.event[i]%(2*t.stride) == 0 {
				t.event[keep], t.res[keep], t.alloc[keep], t.req[keep] = t.event[i], t.res[i], t.alloc[i], t.req[i]
				keep++
			}
		}
		t.event, t.res, t.alloc, t.req = t.event[:keep], t.res[:keep], t.alloc[:keep], t.req[:keep]
		t.stride *= 2
	}
}

// Timeline is a run's downsampled byte counts over event index.
type Timeline struct {
	Event     []int64 `json:"event"`
	Reserved  []int64 `json:"reserved"`
	Allocated []int64 `json:"allocated"`
	Requested []int64 `json:"requested"`
}

// result merges the peaks into the samples, in event order.
func (t *timeline) result() *Timeline {
	out := &Timeline{}
	extra := [][4]int64{t.peakR, t.peakA}
	if extra[1][0] < extra[0][0] {
		extra[0], extra[1] = extra[1], extra[0]
	}
	j := 0
	push := func(p [4]int64) {
		if n := len(out.Event); n > 0 && out.Event[n-1] == p[0] {
			return
		}
		out.Event = append(out.Event, p[0])
		out.Reserved = append(out.Reserved, p[1])
		out.Allocated = append(out.Allocated, p[2])
		out.Requested = append(out.Requested, p[3])
	}
	for i := range t.event {
		for j < len(extra) && extra[j][0] >= 0 && extra[j][0] <= t.event[i] {
			push(extra[j])
			j++
		}
		push([4]int64{t.event[i], t.res[i], t.alloc[i], t.req[i]})
	}
	for ; j < len(extra); j++ {
		if extra[j][0] >= 0 {
			push(extra[j])
		}
	}
	return out
}
