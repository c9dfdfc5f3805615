package snapshot

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/trace"
)

// Workload is one device's recorded trace as a fraglab workload, with the
// allocator state it starts from and the recorded facts a replay can be
// checked against.
type Workload struct {
	Device int
	// Events are the workload: alloc (the unrounded requested size, the
	// recorded stream and the private pool), free (from free_completed),
	// free_requested (a free that waited for other streams), empty_cache
	// (of the whole cache, or of one torch.cuda.MemPool's pool) and
	// release_pool (inferred). A new id is given to every alloc, in
	// order, after the ids of the blocks that are live at the first event
	// (InitialBlock.ID).
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
	// PoolIDs are the recorded ids (MempoolId_t) of the private pools:
	// private pool number k (trace.Event.Pool, InitialSegment.PrivatePool)
	// is PoolIDs[k-1]. Numbers follow first appearance: the initial
	// segments in address order, then the trace entries in order, then the
	// final segments.
	PoolIDs [][2]uint64
	// Settings are the snapshot's allocator settings (nil when absent).
	Settings *Settings
	// Capacity is what the trace tells about the device's usable memory.
	Capacity CapacityRange
}

// InitialSegment is a segment (or an expandable mapped run) that exists at
// the first event.
type InitialSegment struct {
	Address     uint64
	Size        int64
	Pool        int32 // 0: small, 1: large (abi.PoolSmall, abi.PoolLarge)
	Stream      int64
	PrivatePool int64 // private pool number (Workload.PoolIDs); 0: the default pool
	Expandable  bool
	Blocks      []InitialBlock // address order, tiling the segment
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
	// workload event follows. Inferred release_pool events own no entry.
	Event  int64
	Action string // segment_alloc, segment_free, segment_map or segment_unmap
	Addr   uint64
	Size   int64
	Stream int64
	// PrivatePool is the segment's private pool number; 0: the default pool.
	PrivatePool int64
	// Sync: PyTorch completed every free still waiting for other streams
	// just before this release (synchronize_and_free_events in the OOM
	// path's release of cached blocks), recording their free_completed
	// entries, which the workload moves after the retried allocation.
	Sync bool
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

	role    []freeRole        // per entry: what a free_requested or free_completed becomes
	segPID  map[int][2]uint64 // per segment_alloc/segment_map entry: the pool id of the segment it makes
	poolNum map[[2]uint64]int64
	poolIDs [][2]uint64
}

// freeRole is what a free_requested or free_completed entry becomes.
type freeRole uint8

const (
	roleNone      freeRole = iota
	roleAdjacent           // a free_requested whose free_completed is the next entry: that entry makes the free
	roleRequested          // a free_requested completed later: a free_requested event
	roleCompleted          // the free_completed of a deferred free
)

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

	b.freeRoles()
	runs, err := b.rewind()
	if err != nil {
		return nil, err
	}
	b.numberPools(runs)
	initial, live, err := b.initialBlocks(runs)
	if err != nil {
		return nil, err
	}
	w := &Workload{Device: b.dev, Tags: trace.NewTags(), Initial: initial, Settings: b.s.Settings, PoolIDs: b.poolIDs}
	if err := b.forward(w, live); err != nil {
		return nil, err
	}
	return w, nil
}

// freeRoles decides what each free_requested and free_completed becomes.
// PyTorch records free_requested when the program frees a block and
// free_completed when the block returns to its pool: at once (the next
// entry) for a block used on its own stream only, later for one used on
// other streams (record_stream), whose free waits for events recorded on
// those streams. An adjacent pair is one free (nothing happened between
// the two, so the free event at free_completed is the same); a deferred
// one is a free_requested event, then the free at its free_completed.
func (b *builder) freeRoles() {
	b.role = make([]freeRole, len(b.t))
	waiting := map[uint64]bool{}
	for i, e := range b.t {
		switch e.Action {
		case ActFreeRequested:
			if i+1 < len(b.t) && b.t[i+1].Action == ActFreeCompleted && b.t[i+1].Addr == e.Addr {
				b.role[i] = roleAdjacent
			} else {
				b.role[i] = roleRequested
				waiting[e.Addr] = true
			}
		case ActFreeCompleted:
			if waiting[e.Addr] {
				b.role[i] = roleCompleted
				delete(waiting, e.Addr)
			}
		}
	}
}

// rewind walks the trace backwards from the final segments to the segments
// (runs) that existed at the first entry, as torch.cuda._memory_viz does:
// segments allocated in the trace did not exist yet, segments freed in it
// did; mapped ranges were not mapped yet, unmapped ones were. It also gives
// every segment_alloc and segment_map entry the pool id of the segment it
// makes: the final segment's segment_pool_id when the segment lives to the
// end, else the pool_id of the entry that freed it (newer PyTorch), else
// the entry's own pool_id; the default pool when none is recorded.
func (b *builder) rewind() (*state, error) {
	st := &state{}
	for _, sg := range b.final {
		if sg.Stitched {
			return nil, fmt.Errorf("final segments: segment %#x is a fraglab stitched range (is_stitched): a snapshot exported with stitching cannot be replayed", sg.Address)
		}
		if err := st.add(&seg{addr: sg.Address, size: sg.TotalSize, pool: poolNumber(sg.Pool), stream: sg.Stream, expandable: sg.Expandable, pid: sg.PoolID, pidKnown: true}); err != nil {
			return nil, fmt.Errorf("final segments: %v", err)
		}
	}
	b.segPID = map[int][2]uint64{}
	for i := len(b.t) - 1; i >= 0; i-- {
		e := b.t[i]
		var err error
		switch e.Action {
		case ActSegmentAlloc:
			var r *seg
			if r, err = st.remove(e.Addr, e.Size); err == nil {
				b.segPID[i], err = entryPID(r, e)
			}
		case ActSegmentFree:
			err = st.add(&seg{addr: e.Addr, size: e.Size, pool: inferPool(e.Size, false), stream: e.Stream, pid: e.PoolID, pidKnown: e.HasPoolID})
		case ActSegmentMap:
			if k := st.find(e.Addr); k >= 0 {
				b.segPID[i], err = entryPID(st.segs[k], e)
			}
			if err == nil {
				err = st.unmapRange(e.Addr, e.Size)
			}
		case ActSegmentUnmap:
			pid, known := e.PoolID, e.HasPoolID
			if n := st.expandableNeighbour(e.Addr, e.Size); !known && n != nil {
				pid, known = n.pid, n.pidKnown
			}
			err = st.mapRange(e.Addr, e.Size, st.expandablePool(e.Addr, e.Size), e.Stream, 0, pid, known)
		}
		if err != nil {
			return nil, b.errAt(i, "rewinding from the final segments: %v", err)
		}
	}
	return st, nil
}

// entryPID is the pool id of segment r that entry e makes.
func entryPID(r *seg, e TraceEntry) ([2]uint64, error) {
	if !e.HasPoolID {
		return r.pid, nil
	}
	if r.pidKnown && r.pid != e.PoolID {
		return r.pid, fmt.Errorf("the entry's pool_id is %s, but the segment it makes belongs to pool %s", pidText(e.PoolID), pidText(r.pid))
	}
	return e.PoolID, nil
}

func pidText(id [2]uint64) string { return fmt.Sprintf("(%d, %d)", id[0], id[1]) }

// numberPools maps every private pool id (not (0, 0)) to 1, 2, … in order
// of first appearance: the initial segments in address order, the trace
// entries in order (the pool of the segment a segment entry makes, an
// entry's pool_id), the final segments.
func (b *builder) numberPools(st *state) {
	b.poolNum = map[[2]uint64]int64{}
	add := func(id [2]uint64) {
		if id != ([2]uint64{}) && b.poolNum[id] == 0 {
			b.poolIDs = append(b.poolIDs, id)
			b.poolNum[id] = int64(len(b.poolIDs))
		}
	}
	for _, r := range st.segs {
		add(r.pid)
	}
	for i, e := range b.t {
		if pid, ok := b.segPID[i]; ok {
			add(pid)
		}
		if e.HasPoolID {
			add(e.PoolID)
		}
	}
	for _, sg := range b.final {
		add(sg.PoolID)
	}
	for _, r := range st.segs {
		r.private = b.poolNum[r.pid]
	}
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

	// Offsets from the segment's address: a segment may end at 2**64.
	initial := make([]InitialSegment, 0, len(st.segs))
	live := map[uint64]int64{}
	var nextID int64
	for k, r := range st.segs {
		in := InitialSegment{Address: r.addr, Size: r.size, Pool: r.pool, Stream: r.stream, PrivatePool: r.private, Expandable: r.expandable}
		lbs := perRun[k]
		size := uint64(r.size)
		// Sizes of blocks freed in the trace: round_size of the request,
		// plus, in a large-pool classic segment, the unsplit remainder up
		// to the next live block (every free block there is > 1 MiB).
		for j := range lbs {
			if !lbs[j].freed {
				continue
			}
			rounded := roundSize(lbs[j].req, b.div)
			lbs[j].size = rounded
			off, next := lbs[j].addr-r.addr, size
			if j+1 < len(lbs) {
				next = lbs[j+1].addr - r.addr
			}
			if next < off || next-off < uint64(rounded) {
				return nil, nil, b.errAt(lbs[j].entry, "the block freed here (rounded %d B) would overlap the block at %#x", rounded, r.addr+next)
			}
			gap := int64(next - off - uint64(rounded))
			if r.pool == poolLarge && !r.expandable && gap > 0 && gap <= b.rule.maxUnsplit(rounded) {
				lbs[j].size += gap
			}
		}
		var at uint64
		for _, lb := range lbs {
			off := lb.addr - r.addr
			if lb.size <= 0 {
				return nil, nil, fmt.Errorf("the block live at %#x since before the trace has %d bytes", lb.addr, lb.size)
			}
			if off < at {
				return nil, nil, fmt.Errorf("blocks live at the first entry overlap at %#x", lb.addr)
			}
			if off > at {
				in.Blocks = append(in.Blocks, InitialBlock{Size: int64(off - at), ID: -1})
			}
			if uint64(lb.size) > size-off {
				return nil, nil, fmt.Errorf("the block live at %#x (%d B) runs past its segment [%#x, %#x)", lb.addr, lb.size, r.addr, r.end())
			}
			in.Blocks = append(in.Blocks, InitialBlock{Size: lb.size, ID: nextID, Requested: lb.req})
			live[lb.addr] = nextID
			nextID++
			at = off + uint64(lb.size)
		}
		if at < size {
			in.Blocks = append(in.Blocks, InitialBlock{Size: int64(size - at), ID: -1})
		}
		initial = append(initial, in)
	}
	return initial, live, nil
}

// peakReserved is the most bytes reserved at any point of the trace: the
// initial state plus the recorded segment entries.
func (b *builder) peakReserved(initial int64) int64 {
	r, peak := initial, initial
	for _, e := range b.t {
		switch e.Action {
		case ActSegmentAlloc, ActSegmentMap:
			r += e.Size
		case ActSegmentFree, ActSegmentUnmap:
			r -= e.Size
		}
		peak = max(peak, r)
	}
	return peak
}

// Kinds of a run of release and deferred free_completed entries.
const (
	runPlain      = iota // deferred frees completed by process_events: free events where they are
	runEmptyCache        // empty_cache: its releases belong to the empty_cache event after the last one
	runRetry             // the OOM path's release before a retry: frees move after the retried allocation
	runBeforeOOM         // frees completed by the OOM path's synchronisation, with nothing to release, before an oom
)

// forward walks the trace and emits the events, the segment truth, the OOMs,
// the empty_cache and release_pool events and the capacity evidence.
func (b *builder) forward(w *Workload, live map[uint64]int64) error {
	var nextID int64 = int64(len(live))
	st := &state{}
	held := map[int64]int64{} // bytes each private pool holds
	for _, in := range w.Initial {
		_ = st.add(&seg{addr: in.Address, size: in.Size, pool: in.Pool, stream: in.Stream, private: in.PrivatePool, expandable: in.Expandable})
		held[in.PrivatePool] += in.Size
	}
	reserved := st.reserved()
	peakAll := b.peakReserved(reserved)
	capc := capacityNotes{peak: reserved, peakEvent: 0}
	var pendingSeg, pendingOOM []int // indices into w.Truth / w.OOMs awaiting their event
	tags := newTagger(b.rules)
	burstEnd := -1           // index just past the current empty_cache burst; -1: none
	burstPool := int64(0)    // the private pool that burst's empty_cache is scoped to; 0: the whole cache
	retryBefore := int64(-1) // reserved before the current OOM-retry burst
	retryStart := 0
	gcOn := b.s.Settings != nil && b.s.Settings.GarbageCollectionThreshold > 0
	released := map[int64]bool{} // private pools let go of (inferred) that still hold memory
	runEnd, runKind := 0, runPlain
	syncNext := false // the next release of a retry run follows the synchronisation
	var after []int64 // frees completed by the OOM path's synchronisation, emitted after the retried allocation

	// emit appends an event; claim: the segment entries and ooms waiting
	// for their event belong to it (release_pool and the frees of a
	// release burst own none).
	emit := func(ev trace.Event, addr uint64, claim bool) {
		idx := int64(len(w.Events))
		if claim {
			for _, k := range pendingSeg {
				w.Truth[k].Event = idx
			}
			for _, k := range pendingOOM {
				w.OOMs[k].Event = idx
			}
			pendingSeg, pendingOOM = pendingSeg[:0], pendingOOM[:0]
		}
		w.Events = append(w.Events, ev)
		w.AllocAddr = append(w.AllocAddr, addr)
	}
	flushAfter := func() {
		for _, id := range after {
			emit(trace.Event{Op: trace.OpFree, ID: id}, 0, false)
		}
		after = after[:0]
	}
	privateAt := func(addr uint64) int64 {
		if k := st.find(addr); k >= 0 {
			return st.segs[k].private
		}
		return 0
	}

	for i := 0; i < len(b.t); i++ {
		e := b.t[i]
		if i >= runEnd && (isRelease(e.Action) || b.role[i] == roleCompleted) {
			// A run of releases and deferred free_completed entries: an
			// empty_cache call, the OOM path's release before it retries,
			// or frees completed by process_events.
			j, lastRel := i, -1
			for j < len(b.t) && (isRelease(b.t[j].Action) || b.role[j] == roleCompleted) {
				if isRelease(b.t[j].Action) {
					lastRel = j
				}
				j++
			}
			switch {
			case lastRel >= 0:
				runEnd = lastRel + 1
				retry, reqPrivate := b.classifyBurst(st, i, runEnd, reserved, peakAll, gcOn)
				if retry {
					runKind = runRetry
					retryBefore, retryStart = reserved, i
					if gcOn {
						capc.note("releases at entries %d–%d before a new segment: with garbage_collection_threshold set this may be garbage collection, so it gives no upper bound", i, runEnd-1)
						retryBefore = -1
					}
				} else {
					runKind = runEmptyCache
					burstEnd = runEnd
					burstPool = b.scopedPool(st, i, runEnd, released)
				}
				// Pool releases are not recorded: a released segment of a
				// private pool means the pool's use count had reached 0
				// (release_cached_blocks frees private pools only then),
				// except on the OOM path of an allocation to that very pool
				// (release_available_cached_blocks frees oversize blocks of
				// the request's own pool).
				for k := i; k < runEnd; k++ {
					if !isRelease(b.t[k].Action) {
						continue
					}
					p := privateAt(b.t[k].Addr)
					if p != 0 && !released[p] && !(retry && p == reqPrivate) {
						released[p] = true
						emit(trace.Event{Op: trace.OpReleasePool, Pool: p}, 0, false)
					}
				}
			case j < len(b.t) && b.t[j].Action == ActOOM:
				runEnd, runKind = j, runBeforeOOM
			default:
				runEnd, runKind = j, runPlain
			}
		}
		inRun := i < runEnd
		switch {
		case e.Action == ActAlloc:
			if _, ok := live[e.Addr]; ok {
				return b.errAt(i, "allocates an address that is already allocated")
			}
			if e.Size <= 0 {
				return b.errAt(i, "allocates %d bytes", e.Size)
			}
			private := privateAt(e.Addr)
			if e.HasPoolID && b.poolNum[e.PoolID] != private {
				return b.errAt(i, "allocates from pool %s in a segment of %s", pidText(e.PoolID), privateName(private))
			}
			id := nextID
			nextID++
			live[e.Addr] = id
			emit(trace.Event{Op: trace.OpAlloc, ID: id, Size: e.Size, Stream: e.Stream, Pool: private, Tag: w.Tags.ID(tags.tag(e.Frames))}, e.Addr, true)
			flushAfter()
		case e.Action == ActFreeRequested:
			if b.role[i] != roleRequested {
				continue // the free_completed next makes the free
			}
			id, ok := live[e.Addr]
			if !ok {
				return b.errAt(i, "frees an address that is not allocated")
			}
			emit(trace.Event{Op: trace.OpFreeRequested, ID: id}, 0, true)
		case e.Action == ActFreeCompleted:
			id, ok := live[e.Addr]
			if !ok {
				return b.errAt(i, "frees an address that is not allocated")
			}
			delete(live, e.Addr)
			switch {
			case inRun && (runKind == runRetry || runKind == runBeforeOOM):
				// Completed by the OOM path's synchronisation, after the
				// allocation had found no block: the replay's own release
				// synchronises it; its free event follows the allocation.
				after = append(after, id)
				syncNext = true
			case inRun && runKind == runEmptyCache:
				emit(trace.Event{Op: trace.OpFree, ID: id}, 0, false)
			default:
				emit(trace.Event{Op: trace.OpFree, ID: id}, 0, true)
			}
		case isSegAction(e.Action):
			k := len(w.Truth)
			var private int64
			switch e.Action {
			case ActSegmentAlloc, ActSegmentMap:
				private = b.poolNum[b.segPID[i]]
			default:
				private = privateAt(e.Addr)
			}
			w.Truth = append(w.Truth, SegmentEvent{Event: -1, Action: e.Action, Addr: e.Addr, Size: e.Size, Stream: e.Stream, PrivatePool: private,
				Sync: isRelease(e.Action) && inRun && runKind == runRetry && syncNext})
			if isRelease(e.Action) {
				syncNext = false
			}
			pendingSeg = append(pendingSeg, k)
			var err error
			switch e.Action {
			case ActSegmentAlloc:
				err = st.add(&seg{addr: e.Addr, size: e.Size, pool: inferPool(e.Size, false), stream: e.Stream, private: private})
				reserved += e.Size
				held[private] += e.Size
			case ActSegmentMap:
				err = st.mapRange(e.Addr, e.Size, st.expandablePool(e.Addr, e.Size), e.Stream, private, [2]uint64{}, false)
				reserved += e.Size
				held[private] += e.Size
			case ActSegmentFree:
				_, err = st.remove(e.Addr, e.Size)
				reserved -= e.Size
				held[private] -= e.Size
			case ActSegmentUnmap:
				err = st.unmapRange(e.Addr, e.Size)
				reserved -= e.Size
				held[private] -= e.Size
			}
			if err != nil {
				return b.errAt(i, "%v", err)
			}
			if private != 0 && held[private] == 0 {
				delete(released, private) // the pool is gone; its id may name a new one
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
				emit(trace.Event{Op: trace.OpEmptyCache, Pool: burstPool}, 0, true)
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
			var private int64
			if e.HasPoolID {
				private = b.poolNum[e.PoolID]
			}
			emit(trace.Event{Op: trace.OpAlloc, ID: id, Size: e.Size, Stream: e.Stream, Pool: private, Tag: w.Tags.ID(tags.tag(e.Frames))}, 0, true)
			flushAfter()
		}
	}
	flushAfter()
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

// scopedPool decides whether the empty_cache burst t[i:j] was
// torch.cuda.MemPool's destructor: releasePool, then emptyCache(mempool_id),
// which synchronises the pending frees of that pool's blocks only and
// releases only that pool's whole free segments (release_cached_blocks
// with the pool's id). It returns the pool's number when every release of
// the burst is of one private pool P whose release is inferred at this
// burst (the pool's last use; not released before), every free the burst
// completed is of a block of P, and P's recorded id is a MemPool's (0, n):
// a CUDA graph's own pool, (n, 0), is let go of by releasePool alone, so
// its segments go only by a whole-cache empty_cache. Otherwise 0: the
// whole cache. Where both fit the recording (nothing else was releasable
// and nothing else pending) they replay alike; where the default pool or
// another released pool held a whole free segment, or another pool's free
// was pending, only the scoped one does.
func (b *builder) scopedPool(st *state, i, j int, released map[int64]bool) int64 {
	privateAt := func(addr uint64) int64 {
		if k := st.find(addr); k >= 0 {
			return st.segs[k].private
		}
		return 0
	}
	var pool int64
	for k := i; k < j; k++ {
		if !isRelease(b.t[k].Action) && b.role[k] != roleCompleted {
			continue
		}
		p := privateAt(b.t[k].Addr)
		if p == 0 || (pool != 0 && p != pool) {
			return 0
		}
		pool = p
	}
	if pool == 0 || released[pool] || b.poolIDs[pool-1][0] != 0 {
		return 0
	}
	return pool
}

// classifyBurst decides whether the releases among t[i:j] are the OOM
// path's release before a retry (true, with the private pool of the
// retried request) or an empty_cache call (false). A retry is followed at
// once by the retried segment_alloc/segment_map and its alloc, or by the
// oom of a retry that failed too; and it happens only when no cached block
// could serve the request, so a released segment (or unmapped range) that
// could have served it (same pool, stream and private pool, large enough,
// allowed by the max_split_size rules, and not holding a block whose free
// the burst's synchronisation completed: that block was still waiting when
// the search ran) means empty_cache. A retried segment
// that would have fitted anyway (reserved before the releases plus its size
// at most the peak reserved of the whole trace, a lower bound of the
// capacity) means empty_cache too, unless garbage collection is on (it
// releases before the first attempt).
func (b *builder) classifyBurst(st *state, i, j int, reserved, peak int64, gcOn bool) (bool, int64) {
	var req, stream, private int64
	switch {
	case j+1 < len(b.t) && (b.t[j].Action == ActSegmentAlloc || b.t[j].Action == ActSegmentMap) && b.t[j+1].Action == ActAlloc:
		req, stream, private = roundSize(b.t[j+1].Size, b.div), b.t[j+1].Stream, b.poolNum[b.segPID[j]]
		if !gcOn && reserved+b.t[j].Size <= peak {
			return false, 0 // the first attempt could not have failed
		}
	case j < len(b.t) && b.t[j].Action == ActOOM:
		req, stream = roundSize(b.t[j].Size, b.div), b.t[j].Stream
		if b.t[j].HasPoolID {
			private = b.poolNum[b.t[j].PoolID]
		}
	default:
		return false, 0 // no retried allocation follows
	}
	pool := host.DefaultPool(req)
	var synced []uint64 // blocks whose free the synchronisation completed: pending when the search ran
	for k := i; k < j; k++ {
		if b.role[k] == roleCompleted {
			synced = append(synced, b.t[k].Addr)
		}
	}
	for k := i; k < j; k++ {
		e := b.t[k]
		if !isRelease(e.Action) {
			continue
		}
		p, priv := inferPool(e.Size, e.Action == ActSegmentUnmap), int64(0)
		if x := st.find(e.Addr); x >= 0 {
			p, priv = st.segs[x].pool, st.segs[x].private
		}
		held := false
		for _, a := range synced {
			held = held || (a >= e.Addr && a-e.Addr < uint64(e.Size))
		}
		if p == pool && e.Stream == stream && priv == private && b.rule.usable(e.Size, req) && !held {
			return false, 0 // the released memory could have served the request
		}
	}
	return true, private
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
