package snapshot

import (
	"fmt"
	"github.com/fraglab/fraglab/host"
	"sort"
	"strconv"
	"strings"

	"github.com/fraglab/fraglab/trace"
)

// Workload is one device's recorded trace as a fraglab workload, with the
// allocator state it starts from and the recorded facts a replay can be
// checked against.
type Workload struct {
	Device int
	// Events are the workload: alloc (the unrounded requested size and the
	// recorded stream), free (from free_completed) and empty_cache. A new id
	// is given to every alloc, in order, after the ids of the blocks that
	// are live at the first event (InitialBlock.ID).
	Events []trace.Event
	// Tags names the Tag ids of the alloc events (see TagRule).
	Tags *trace.Tags
	// Initial is the allocator state at the first event, in address order;
	// empty for a trace that starts clean.
	Initial []InitialSegment
	// Truth are the recorded segment_alloc, segment_free, segment_map and
	// segment_unmap entries, in trace order.
	Truth []SegmentEvent
	// OOMs are the recorded oom entries.
	OOMs []OOMEvent
	// AllocAddr holds, per event index, the recorded address of an alloc
	// event, and 0 for the others.
	AllocAddr []uint64
	// Settings are the snapshot's allocator settings (nil when absent).
	Settings *Settings
	// Capacity is what the trace tells about the device's usable memory.
	Capacity CapacityRange
}

// InitialSegment is a segment (or an expandable mapped run) that exists at
// the first event.
type InitialSegment struct {
	Address    uint64
	Size       int64
	Pool       int32 // 0: small, 1: large (abi.PoolSmall, abi.PoolLarge)
	Stream     int64
	Expandable bool
	Blocks     []InitialBlock // address order, tiling the segment
}

// InitialBlock is a block of an initial segment.
type InitialBlock struct {
	Size      int64
	ID        int64 // the allocation id of a live block; -1: free
	Requested int64 // requested bytes of a live block; 0 when free
}

// SegmentEvent is one recorded segment entry.
type SegmentEvent struct {
	// Event is the index in Workload.Events of the workload event the entry
	// belongs to: the next one after it in trace order (the segment_alloc
	// before an alloc belongs to that alloc, the segment_free entries of an
	// empty_cache burst to the empty_cache event). len(Events) when no
	// workload event follows.
	Event  int64
	Action string // segment_alloc, segment_free, segment_map or segment_unmap
	Addr   uint64
	Size   int64
	Stream int64
}

// OOMEvent is one recorded oom entry. The failed request is not an event of
// the workload (PyTorch raised instead of allocating).
type OOMEvent struct {
	Event      int64 // index of the next workload event, as for SegmentEvent
	Size       int64 // the rounded request that failed
	DeviceFree int64 // cudaMemGetInfo's free bytes at the time
	Reserved   int64 // bytes reserved just before, from the initial state and the recorded segment entries
}

// CapacityRange is the device's usable memory (the most the allocator could
// reserve) as far as the trace shows it.
type CapacityRange struct {
	Low      int64    // bytes
	High     int64    // bytes; -1: unknown
	Evidence []string // one line per fact used
}

// Devices returns the devices whose trace has entries, in order.
func (s *Snapshot) Devices() []int {
	var d []int
	for i, t := range s.Traces {
		if len(t) > 0 {
			d = append(d, i)
		}
	}
	return d
}

// Workload extracts device's workload; a negative device picks the first
// device with trace entries. It uses DefaultTagRules.
func (s *Snapshot) Workload(device int) (*Workload, error) {
	return s.WorkloadWithRules(device, DefaultTagRules())
}

// WorkloadWithRules is Workload with the tag rules given.
func (s *Snapshot) WorkloadWithRules(device int, rules []TagRule) (*Workload, error) {
	devs := s.Devices()
	if device < 0 {
		if len(devs) == 0 {
			return nil, fmt.Errorf("no device has trace entries (the snapshot holds allocator state only)")
		}
		device = devs[0]
	} else if device >= len(s.Traces) || len(s.Traces[device]) == 0 {
		return nil, fmt.Errorf("device %d has no trace entries; devices with entries: %s", device, listInts(devs))
	}
	b := &builder{s: s, dev: device, t: s.Traces[device], rules: rules}
	b.rule = newSplitRule(s.Settings)
	b.div = s.Settings.roundup()
	w, err := b.build()
	if err != nil {
		return nil, fmt.Errorf("device %d: %w", device, err)
	}
	return w, nil
}

func listInts(v []int) string {
	if len(v) == 0 {
		return "none"
	}
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}

// builder holds the work of one Workload call.
type builder struct {
	s     *Snapshot
	dev   int
	t     []TraceEntry
	rules []TagRule
	rule  splitRule
	div   *[Intervals]int64
	final []Segment // this device's final segments, address order
}

func (b *builder) errAt(i int, format string, args ...any) error {
	e := b.t[i]
	return fmt.Errorf("device_traces[%d][%d] (%s %d B at %#x): %s", b.dev, i, e.Action, e.Size, e.Addr, fmt.Sprintf(format, args...))
}

func isSegAction(a string) bool {
	switch a {
	case ActSegmentAlloc, ActSegmentFree, ActSegmentMap, ActSegmentUnmap:
		return true
	}
	return false
}

func isRelease(a string) bool { return a == ActSegmentFree || a == ActSegmentUnmap }

func (b *builder) build() (*Workload, error) {
	for _, sg := range b.s.Segments {
		if sg.Device == b.dev {
			b.final = append(b.final, sg)
		}
	}
	sort.SliceStable(b.final, func(i, j int) bool { return b.final[i].Address < b.final[j].Address })

	runs, err := b.rewind()
	if err != nil {
		return nil, err
	}
	initial, live, err := b.initialBlocks(runs)
	if err != nil {
		return nil, err
	}
	w := &Workload{Device: b.dev, Tags: trace.NewTags(), Initial: initial, Settings: b.s.Settings}
	if err := b.forward(w, live); err != nil {
		return nil, err
	}
	return w, nil
}

// rewind walks the trace backwards from the final segments to the segments
// (runs) that existed at the first entry, as torch.cuda._memory_viz does:
// segments allocated in the trace did not exist yet, segments freed in it
// did; mapped ranges were not mapped yet, unmapped ones were.
func (b *builder) rewind() (*state, error) {
	st := &state{}
	for _, sg := range b.final {
		if err := st.add(&seg{addr: sg.Address, size: sg.TotalSize, pool: poolNumber(sg.Pool), stream: sg.Stream, expandable: sg.Expandable}); err != nil {
			return nil, fmt.Errorf("final segments: %v", err)
		}
	}
	for i := len(b.t) - 1; i >= 0; i-- {
		e := b.t[i]
		var err error
		switch e.Action {
		case ActSegmentAlloc:
			_, err = st.remove(e.Addr, e.Size)
		case ActSegmentFree:
			err = st.add(&seg{addr: e.Addr, size: e.Size, pool: inferPool(e.Size, false), stream: e.Stream})
		case ActSegmentMap:
			err = st.unmapRange(e.Addr, e.Size)
		case ActSegmentUnmap:
			err = st.mapRange(e.Addr, e.Size, st.expandablePool(e.Addr, e.Size), e.Stream)
		}
		if err != nil {
			return nil, b.errAt(i, "rewinding from the final segments: %v", err)
		}
	}
	return st, nil
}

// liveAtStart is a block allocated at the first entry.
type liveAtStart struct {
	addr  uint64
	size  int64 // 0 until known
	req   int64
	freed bool // freed in the trace (size from round_size), else live to the end (size recorded)
	entry int  // the free_completed entry, when freed
}

// initialBlocks finds the blocks live at the first entry, sizes them, and
// tiles the initial runs with them and with free blocks.
func (b *builder) initialBlocks(st *state) ([]InitialSegment, map[uint64]int64, error) {
	seen := map[uint64]bool{}
	var blocks []liveAtStart
	for i, e := range b.t {
		if e.Action != ActAlloc && e.Action != ActFreeCompleted {
			continue
		}
		if seen[e.Addr] {
			continue
		}
		seen[e.Addr] = true
		if e.Action == ActFreeCompleted {
			// Freed before any alloc at this address: allocated at the start.
			blocks = append(blocks, liveAtStart{addr: e.Addr, req: e.Size, freed: true, entry: i})
		}
	}
	for _, sg := range b.final {
		for _, bl := range sg.Blocks {
			if bl.Live() && !seen[bl.Address] {
				blocks = append(blocks, liveAtStart{addr: bl.Address, size: bl.Size, req: bl.RequestedSize})
			}
		}
	}
	sort.Slice(blocks, func(i, j int) bool { return blocks[i].addr < blocks[j].addr })

	// Group by initial run.
	perRun := make([][]liveAtStart, len(st.segs))
	for _, lb := range blocks {
		k := st.find(lb.addr)
		if k < 0 {
			if lb.freed {
				return nil, nil, b.errAt(lb.entry, "frees a block allocated before the trace, but no segment holds %#x at the first entry", lb.addr)
			}
			return nil, nil, fmt.Errorf("the block live at %#x since before the trace lies in no segment of the first entry", lb.addr)
		}
		perRun[k] = append(perRun[k], lb)
	}

	initial := make([]InitialSegment, 0, len(st.segs))
	live := map[uint64]int64{}
	var nextID int64
	for k, r := range st.segs {
		in := InitialSegment{Address: r.addr, Size: r.size, Pool: r.pool, Stream: r.stream, Expandable: r.expandable}
		lbs := perRun[k]
		// Sizes of blocks freed in the trace: round_size of the request,
		// plus, in a large-pool classic segment, the unsplit remainder up
		// to the next live block (every free block there is > 1 MiB).
		for j := range lbs {
			if !lbs[j].freed {
				continue
			}
			rounded := roundSize(lbs[j].req, b.div)
			lbs[j].size = rounded
			next := r.end()
			if j+1 < len(lbs) {
				next = lbs[j+1].addr
			}
			if next < lbs[j].addr+uint64(rounded) {
				return nil, nil, b.errAt(lbs[j].entry, "the block freed here (rounded %d B) would overlap the block at %#x", rounded, next)
			}
			gap := int64(next - lbs[j].addr - uint64(rounded))
			if r.pool == poolLarge && !r.expandable && gap > 0 && gap <= b.rule.maxUnsplit(rounded) {
				lbs[j].size += gap
			}
		}
		at := r.addr
		for _, lb := range lbs {
			if lb.size <= 0 {
				return nil, nil, fmt.Errorf("the block live at %#x since before the trace has %d bytes", lb.addr, lb.size)
			}
			if lb.addr < at {
				return nil, nil, fmt.Errorf("blocks live at the first entry overlap at %#x", lb.addr)
			}
			if lb.addr > at {
				in.Blocks = append(in.Blocks, InitialBlock{Size: int64(lb.addr - at), ID: -1})
			}
			if lb.size > int64(r.end()-lb.addr) {
				return nil, nil, fmt.Errorf("the block live at %#x (%d B) runs past its segment [%#x, %#x)", lb.addr, lb.size, r.addr, r.end())
			}
			in.Blocks = append(in.Blocks, InitialBlock{Size: lb.size, ID: nextID, Requested: lb.req})
			live[lb.addr] = nextID
			nextID++
			at = lb.addr + uint64(lb.size)
		}
		if at < r.end() {
			in.Blocks = append(in.Blocks, InitialBlock{Size: int64(r.end() - at), ID: -1})
		}
		initial = append(initial, in)
	}
	return initial, live, nil
}

// forward walks the trace and emits the events, the segment truth, the OOMs,
// the empty_cache events and the capacity evidence.
func (b *builder) forward(w *Workload, live map[uint64]int64) error {
	var nextID int64 = int64(len(live))
	st := &state{}
	for _, in := range w.Initial {
		_ = st.add(&seg{addr: in.Address, size: in.Size, pool: in.Pool, stream: in.Stream, expandable: in.Expandable})
	}
	reserved := st.reserved()
	capc := capacityNotes{peak: reserved, peakEvent: 0}
	var pendingSeg, pendingOOM []int // indices into w.Truth / w.OOMs awaiting their event
	tags := newTagger(b.rules)
	burstEnd := -1           // index just past the current empty_cache burst; -1: none
	retryBefore := int64(-1) // reserved before the current OOM-retry burst
	retryStart := 0
	gcOn := b.s.Settings != nil && b.s.Settings.GarbageCollectionThreshold > 0

	emit := func(ev trace.Event, addr uint64) {
		idx := int64(len(w.Events))
		for _, k := range pendingSeg {
			w.Truth[k].Event = idx
		}
		for _, k := range pendingOOM {
			w.OOMs[k].Event = idx
		}
		pendingSeg, pendingOOM = pendingSeg[:0], pendingOOM[:0]
		w.Events = append(w.Events, ev)
		w.AllocAddr = append(w.AllocAddr, addr)
	}

	for i := 0; i < len(b.t); i++ {
		e := b.t[i]
		switch {
		case e.Action == ActAlloc:
			if _, ok := live[e.Addr]; ok {
				return b.errAt(i, "allocates an address that is already allocated")
			}
			if e.Size <= 0 {
				return b.errAt(i, "allocates %d bytes", e.Size)
			}
			id := nextID
			nextID++
			live[e.Addr] = id
			emit(trace.Event{Op: trace.OpAlloc, ID: id, Size: e.Size, Stream: e.Stream, Tag: w.Tags.ID(tags.tag(e.Frames))}, e.Addr)
		case e.Action == ActFreeCompleted:
			id, ok := live[e.Addr]
			if !ok {
				return b.errAt(i, "frees an address that is not allocated")
			}
			delete(live, e.Addr)
			emit(trace.Event{Op: trace.OpFree, ID: id}, 0)
		case isSegAction(e.Action):
			if isRelease(e.Action) && (i == 0 || !isRelease(b.t[i-1].Action)) {
				// The start of a burst of releases: an empty_cache call, or
				// the OOM path's release before it retries.
				j := i
				for j < len(b.t) && isRelease(b.t[j].Action) {
					j++
				}
				if b.classifyBurst(st, i, j) {
					retryBefore, retryStart = reserved, i
					if gcOn {
						capc.note("releases at entries %d–%d before a new segment: with garbage_collection_threshold set this may be garbage collection, so it gives no upper bound", i, j-1)
						retryBefore = -1
					}
				} else {
					burstEnd = j
				}
			}
			k := len(w.Truth)
			w.Truth = append(w.Truth, SegmentEvent{Event: -1, Action: e.Action, Addr: e.Addr, Size: e.Size, Stream: e.Stream})
			pendingSeg = append(pendingSeg, k)
			var err error
			switch e.Action {
			case ActSegmentAlloc:
				err = st.add(&seg{addr: e.Addr, size: e.Size, pool: inferPool(e.Size, false), stream: e.Stream})
				reserved += e.Size
			case ActSegmentMap:
				err = st.mapRange(e.Addr, e.Size, st.expandablePool(e.Addr, e.Size), e.Stream)
				reserved += e.Size
			case ActSegmentFree:
				_, err = st.remove(e.Addr, e.Size)
				reserved -= e.Size
			case ActSegmentUnmap:
				err = st.unmapRange(e.Addr, e.Size)
				reserved -= e.Size
			}
			if err != nil {
				return b.errAt(i, "%v", err)
			}
			if reserved > capc.peak {
				capc.peak, capc.peakEvent = reserved, len(w.Events)
			}
			if !isRelease(e.Action) && retryBefore >= 0 {
				capc.upper(retryBefore+e.Size-1, fmt.Sprintf("OOM retry at entries %d–%d: cached segments released, then %s reserved by the retry; the first attempt failed, so capacity < %s reserved before + %s = %s",
					retryStart, i, bytesText(e.Size), bytesText(retryBefore), bytesText(e.Size), bytesText(retryBefore+e.Size)))
				retryBefore = -1
			}
			if burstEnd == i+1 {
				burstEnd = -1
				emit(trace.Event{Op: trace.OpEmptyCache}, 0)
			}
		case e.Action == ActOOM:
			// The allocation that failed is part of the workload: PyTorch
			// recorded no alloc for it, so it becomes an alloc of the rounded
			// size here, with an id that is never freed (the program caught
			// the error). A replay that serves it keeps it to the end.
			w.OOMs = append(w.OOMs, OOMEvent{Event: int64(len(w.Events)), Size: e.Size, DeviceFree: e.DeviceFree, Reserved: reserved})
			capc.oom(reserved, e.DeviceFree, e.Size, i)
			retryBefore = -1
			id := nextID
			nextID++
			emit(trace.Event{Op: trace.OpAlloc, ID: id, Size: e.Size, Stream: e.Stream, Tag: w.Tags.ID(tags.tag(e.Frames))}, 0)
		}
	}
	end := int64(len(w.Events))
	for _, k := range pendingSeg {
		w.Truth[k].Event = end
	}
	for _, k := range pendingOOM {
		w.OOMs[k].Event = end
	}
	w.Capacity = capc.result()
	return nil
}

// classifyBurst decides whether the releases t[i:j] are the OOM path's
// release before a retry (true) or an empty_cache call (false). A retry is
// followed at once by the retried segment_alloc/segment_map and its alloc,
// or by the oom of a retry that failed too; and it happens only when no
// cached block could serve the request, so a released segment (or unmapped
// range) that could have served it means empty_cache.
func (b *builder) classifyBurst(st *state, i, j int) bool {
	var req, stream int64
	switch {
	case j+1 < len(b.t) && (b.t[j].Action == ActSegmentAlloc || b.t[j].Action == ActSegmentMap) && b.t[j+1].Action == ActAlloc:
		req, stream = roundSize(b.t[j+1].Size, b.div), b.t[j+1].Stream
	case j < len(b.t) && b.t[j].Action == ActOOM:
		req, stream = roundSize(b.t[j].Size, b.div), b.t[j].Stream
	default:
		return false // no retried allocation follows
	}
	pool := host.DefaultPool(req)
	for k := i; k < j; k++ {
		e := b.t[k]
		p := inferPool(e.Size, e.Action == ActSegmentUnmap)
		if x := st.find(e.Addr); x >= 0 {
			p = st.segs[x].pool
		}
		if p == pool && e.Stream == stream && b.rule.usable(e.Size, req) {
			return false // the released memory could have served the request
		}
	}
	return true
}

// capacityNotes collects capacity evidence during the forward walk.
type capacityNotes struct {
	peak      int64
	peakEvent int
	estimates []int64
	high      int64 // 0: none
	evidence  []string
}

func (c *capacityNotes) note(format string, args ...any) {
	c.evidence = append(c.evidence, fmt.Sprintf(format, args...))
}

func (c *capacityNotes) upper(bound int64, why string) {
	if c.high == 0 || bound < c.high {
		c.high = bound
	}
	c.evidence = append(c.evidence, why)
}

func (c *capacityNotes) oom(reserved, free, size int64, entry int) {
	est := reserved + free
	c.estimates = append(c.estimates, est)
	c.note("oom at entry %d (request %s): device_free %s + reserved %s = %s usable", entry, bytesText(size), bytesText(free), bytesText(reserved), bytesText(est))
}

func (c *capacityNotes) result() CapacityRange {
	r := CapacityRange{Low: c.peak, High: -1}
	c.note("peak reserved %s (before event %d): capacity is at least that", bytesText(c.peak), c.peakEvent)
	if len(c.estimates) > 0 {
		lo, hi := c.estimates[0], c.estimates[0]
		for _, e := range c.estimates[1:] {
			lo, hi = min(lo, e), max(hi, e)
		}
		r.Low, r.High = lo, hi
		c.note("estimate from the oom entries: %s (Low and High are the smallest and largest oom estimate)", rangeText(lo, hi))
		if lo < c.peak {
			c.note("the estimate is below the peak reserved %s: memory use outside the allocator changed", bytesText(c.peak))
		}
		if c.high != 0 && hi > c.high {
			c.note("the estimate is above the OOM-retry bound %s: memory use outside the allocator changed", bytesText(c.high+1))
		}
	} else if c.high != 0 {
		r.High = c.high
		if r.High < r.Low {
			c.note("conflicting bounds (upper %s < peak %s): memory use outside the allocator changed; High set to Low", bytesText(r.High), bytesText(r.Low))
			r.High = r.Low
		}
	}
	r.Evidence = c.evidence
	return r
}

func rangeText(lo, hi int64) string {
	if lo == hi {
		return bytesText(lo)
	}
	return bytesText(lo) + " – " + bytesText(hi)
}

// bytesText writes n as "1.50 GiB (1610612736 B)".
func bytesText(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f := float64(n)
	u := 0
	for u < len(units)-1 && (f >= 1024 || f <= -1024) {
		f /= 1024
		u++
	}
	if u == 0 {
		return strconv.FormatInt(n, 10) + " B"
	}
	return strconv.FormatFloat(f, 'f', 2, 64) + " " + units[u] + " (" + strconv.FormatInt(n, 10) + " B)"
}
