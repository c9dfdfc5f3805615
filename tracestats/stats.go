// Package tracestats summarises a workload trace: event counts, the curve of
// live requested bytes (with its peak), a log-spaced size histogram with
// PyTorch's pool and segment boundaries, lifetimes (in events) per size
// class and per tag, the share of bytes in 1–10 MiB requests, streams, and
// private pools (CUDA graphs, torch.cuda.MemPool) with their peak.
// It renders the summary as text and as a small SVG. docs/trace-stats.md
// describes every number.
package tracestats

import (
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/trace"
)

// PyTorch's caching-allocator constants (c10/cuda/CUDACachingAllocator.cpp)
// that the histogram marks: the host's (host/defaults.go).
const (
	MinBlockSize  = host.MinBlockSize  // kMinBlockSize: every request is rounded up to 512 B
	SmallSize     = host.SmallSize     // kSmallSize: requests up to 1 MiB use the small pool (2 MiB segments)
	MinLargeAlloc = host.MinLargeAlloc // kMinLargeAlloc: requests from 10 MiB get their own segment
	LargeBuffer   = host.LargeBuffer   // kLargeBuffer: requests between 1 and 10 MiB share 20 MiB segments
)

// Boundary is a size PyTorch's allocator treats specially. First is the
// smallest request on its far side: Bytes+1 for the rules PyTorch writes
// with ≤ (a 512 B request is one 512 B block; a 1 MiB one is still small),
// Bytes for those written with < (10 MiB gets a segment of its own).
type Boundary struct {
	Bytes int64  `json:"bytes"`
	First int64  `json:"first"`
	Name  string `json:"name"`
}

// Boundaries are the sizes marked on the histogram, which splits its bins
// at each First.
var Boundaries = []Boundary{
	{MinBlockSize, MinBlockSize + 1, "512 B rounding"},
	{SmallSize, SmallSize + 1, "1 MiB small/large pool"},
	{MinLargeAlloc, MinLargeAlloc, "10 MiB own segment"},
	{LargeBuffer, LargeBuffer, "20 MiB segment"},
}

// Size classes of the lifetime table, by PyTorch's pool rules.
const (
	ClassSmall  = "<=1MiB"  // small pool
	ClassMedium = "1-10MiB" // large pool, carved out of shared 20 MiB segments
	ClassLarge  = ">=10MiB" // large pool, a segment of their own
	classCount  = 3
	maxCurve    = 1024 // most points kept of the live-bytes curve
	topFailures = 10   // failures listed in Stats (all are counted)
)

// SizeClass returns the size class of a request of n bytes.
func SizeClass(n int64) string { return classNames[classOf(n)] }

var classNames = [classCount]string{ClassSmall, ClassMedium, ClassLarge}

func classOf(n int64) int {
	switch {
	case n <= SmallSize:
		return 0
	case n < MinLargeAlloc:
		return 1
	}
	return 2
}

// Stats is the summary of a trace.
type Stats struct {
	Events     int64 `json:"events"`
	Allocs     int64 `json:"allocs"`
	Frees      int64 `json:"frees"`
	EmptyCache int64 `json:"empty_cache"`
	// FreeRequested counts frees that wait for other streams
	// (free_requested; the free that completes each is counted in Frees),
	// ReleasePool the release_pool events, EmptyCachePool those of the
	// EmptyCache events that name a private pool (emptyCache(mempool_id)).
	FreeRequested  int64 `json:"free_requested"`
	ReleasePool    int64 `json:"release_pool"`
	EmptyCachePool int64 `json:"empty_cache_pool"`
	// InitialLive and InitialBytes are the allocations live before the
	// first event (a snapshot that starts mid-run).
	InitialLive  int64 `json:"initial_live"`
	InitialBytes int64 `json:"initial_bytes"`
	// AllocatedBytes is the sum of all alloc sizes.
	AllocatedBytes int64 `json:"allocated_bytes"`
	// PeakLiveBytes is the most requested bytes live at once (initial
	// allocations included) and PeakEvent the index of the event that first
	// reached it (-1: before the first event).
	PeakLiveBytes int64 `json:"peak_live_bytes"`
	PeakEvent     int64 `json:"peak_event"`
	PeakLiveCount int64 `json:"peak_live_count"`
	// LiveAtEnd and LiveBytesAtEnd are what is never freed.
	LiveAtEnd      int64 `json:"live_at_end"`
	LiveBytesAtEnd int64 `json:"live_bytes_at_end"`
	// Curve is the live-bytes curve: at most about 1024 points, each the
	// largest live bytes over the events up to its Event since the previous
	// point.
	Curve []Point `json:"curve"`
	// Sizes is the histogram of request sizes: bins [Lo, Hi) from one
	// power of two to the next, also split at each Boundary's First (so
	// exactly 512 B and exactly 1 MiB have bins of their own, on the near
	// side of their boundary); empty bins are left out.
	Sizes      []SizeBin  `json:"sizes"`
	Boundaries []Boundary `json:"boundaries"`
	// BandShare is the share of AllocatedBytes in requests above 1 MiB and
	// below 10 MiB: the band that PyTorch carves out of 20 MiB segments.
	BandShare float64 `json:"band_1_10mib_share"`
	// Classes and Tags are the allocations and lifetimes per size class and
	// per tag name.
	Classes []Group `json:"size_classes"`
	Tags    []Group `json:"tags"`
	// Streams are the allocations per stream, by stream value.
	Streams []Stream `json:"streams"`
	// PrivatePools is the number of distinct private pool ids allocations
	// were made to; PeakPrivateBytes the most requested bytes live at once
	// in all of them together, first reached at event PeakPrivateEvent (-1:
	// never); Pools the allocations per private pool, by id.
	PrivatePools     int64  `json:"private_pools"`
	PeakPrivateBytes int64  `json:"peak_private_pool_bytes"`
	PeakPrivateEvent int64  `json:"peak_private_pool_event"`
	Pools            []Pool `json:"pools"`
	// Failures are the failed allocations the trace recorded itself (RMM
	// "allocate failure"); FailureList holds the first ten.
	Failures    int64     `json:"failures"`
	FailureList []Failure `json:"failure_list,omitempty"`
}

// Point is a point of the live-bytes curve.
type Point struct {
	Event int64 `json:"event"`
	Live  int64 `json:"live"`
}

// SizeBin counts requests of Lo ≤ size < Hi bytes.
type SizeBin struct {
	Lo    int64 `json:"lo"`
	Hi    int64 `json:"hi"`
	Count int64 `json:"count"`
	Bytes int64 `json:"bytes"`
}

// Group is the allocations of a size class or a tag.
type Group struct {
	Name     string   `json:"name"`
	Allocs   int64    `json:"allocs"`
	Bytes    int64    `json:"bytes"`
	Lifetime Lifetime `json:"lifetime"`
}

// Lifetime summarises lifetimes in events: a free's event index minus its
// alloc's. Allocations never freed are counted in NeverFreed, not in the
// percentiles.
type Lifetime struct {
	Freed      int64   `json:"freed"`
	NeverFreed int64   `json:"never_freed"`
	Min        int64   `json:"min"`
	P50        int64   `json:"p50"`
	P90        int64   `json:"p90"`
	P99        int64   `json:"p99"`
	Max        int64   `json:"max"`
	Mean       float64 `json:"mean"`
}

// Stream is the allocations on one stream.
type Stream struct {
	Stream int64 `json:"stream"`
	Allocs int64 `json:"allocs"`
	Bytes  int64 `json:"bytes"`
}

// Pool is the allocations to one private pool.
type Pool struct {
	Pool     int64 `json:"pool"`
	Allocs   int64 `json:"allocs"`
	Bytes    int64 `json:"bytes"`
	PeakLive int64 `json:"peak_live_bytes"` // most requested bytes live in it at once
	Releases int64 `json:"releases"`        // release_pool events naming it
	Emptied  int64 `json:"empty_caches"`    // empty_cache events naming it
}

// Failure is a failed allocation recorded by the trace: before event Event.
type Failure struct {
	Event  int64 `json:"event"`
	Line   int   `json:"line,omitempty"`
	Size   int64 `json:"size"`
	Stream int64 `json:"stream"`
}

// Collector builds Stats from events, streaming: its memory grows with the
// live allocations and the number of frees (for exact percentiles), not
// with the events.
type Collector struct {
	s       Stats
	live    map[int64]*liveAlloc
	pending map[int64]struct{} // ids whose free was requested, not completed nor synchronised
	liveB   int64
	privB   int64           // live bytes in private pools
	pools   map[int64]*pool // private pool id -> its allocations
	gone    map[int64]bool  // private pools released and not allocated to since
	sizes   []SizeBin       // one per edge of binEdges
	class   [classCount]groupAcc
	tags    map[int32]*groupAcc
	tagReg  *trace.Tags
	stream  map[int64]*Stream
	curve   curve
}

type liveAlloc struct {
	at      int64 // event index of the alloc; -1: live before the first event
	size    int64
	tag     int32
	pool    int64
	pending bool // free_requested, not completed yet
	synced  bool // an empty_cache completed its pending free: its bytes are gone, its free is a no-op
}

type pool struct {
	Pool
	live int64
}

type groupAcc struct {
	allocs, bytes int64
	lifetimes     []int64
	never         int64
}

// NewCollector returns an empty Collector.
func NewCollector() *Collector {
	c := &Collector{live: map[int64]*liveAlloc{}, pending: map[int64]struct{}{}, pools: map[int64]*pool{}, gone: map[int64]bool{},
		tags: map[int32]*groupAcc{}, stream: map[int64]*Stream{},
		curve: curve{width: 1}, s: Stats{PeakEvent: -1, PeakPrivateEvent: -1}, sizes: make([]SizeBin, len(binEdges))}
	for k, lo := range binEdges {
		c.sizes[k].Lo, c.sizes[k].Hi = lo, 1<<63-1
		if k+1 < len(binEdges) {
			c.sizes[k].Hi = binEdges[k+1]
		}
	}
	return c
}

// binEdges are the lower edges of the size bins: the powers of two and the
// Boundaries' First sizes.
var binEdges = func() []int64 {
	var e []int64
	for k := 0; k < 63; k++ {
		e = append(e, int64(1)<<k)
	}
	for _, b := range Boundaries {
		if !slices.Contains(e, b.First) {
			e = append(e, b.First)
		}
	}
	slices.Sort(e)
	return e
}()

// binOf returns the bin of a size n ≥ 1.
func binOf(n int64) int {
	return sort.Search(len(binEdges), func(i int) bool { return binEdges[i] > n }) - 1
}

// AddInitial records an allocation live before the first event (its free
// has no lifetime). Call it before Add.
func (c *Collector) AddInitial(id, size int64) {
	c.live[id] = &liveAlloc{at: -1, size: size}
	c.liveB += size
	c.s.InitialLive++
	c.s.InitialBytes += size
	if c.liveB > c.s.PeakLiveBytes {
		c.s.PeakLiveBytes, c.s.PeakLiveCount = c.liveB, int64(len(c.live))
	}
}

// AddFailure records a failed allocation the trace recorded before event
// index event.
func (c *Collector) AddFailure(f Failure) {
	c.s.Failures++
	if len(c.s.FailureList) < topFailures {
		c.s.FailureList = append(c.s.FailureList, f)
	}
}

// Add records the next event; tags names its tag. It fails on a free or
// free_requested of an id that is not live, and a second free_requested
// (readers have checked that already).
//
// An allocation counts as live from its alloc until its memory is free:
// its free, or, after a free_requested, the free that completes it or an
// earlier empty_cache, which synchronises the device and completes every
// pending free (as the replay does; the empty_cache of a private pool
// completes only those of that pool's allocations, and only once the pool
// was released); its lifetime ends there too.
func (c *Collector) Add(e trace.Event, tags *trace.Tags) error {
	i := c.s.Events
	c.s.Events++
	c.tagReg = tags
	switch e.Op {
	case trace.OpAlloc:
		c.s.Allocs++
		c.s.AllocatedBytes += e.Size
		c.live[e.ID] = &liveAlloc{at: i, size: e.Size, tag: e.Tag, pool: e.Pool}
		c.liveB += e.Size
		if e.Pool != 0 {
			delete(c.gone, e.Pool) // the pool is in use (again)
			p := c.pools[e.Pool]
			if p == nil {
				p = &pool{Pool: Pool{Pool: e.Pool}}
				c.pools[e.Pool] = p
			}
			p.Allocs++
			p.Bytes += e.Size
			p.live += e.Size
			p.PeakLive = max(p.PeakLive, p.live)
			c.privB += e.Size
			if c.privB > c.s.PeakPrivateBytes {
				c.s.PeakPrivateBytes, c.s.PeakPrivateEvent = c.privB, i
			}
		}
		k := binOf(e.Size)
		c.sizes[k].Count++
		c.sizes[k].Bytes += e.Size
		g := &c.class[classOf(e.Size)]
		g.allocs++
		g.bytes += e.Size
		t := c.tags[e.Tag]
		if t == nil {
			t = &groupAcc{}
			c.tags[e.Tag] = t
		}
		t.allocs++
		t.bytes += e.Size
		st := c.stream[e.Stream]
		if st == nil {
			st = &Stream{Stream: e.Stream}
			c.stream[e.Stream] = st
		}
		st.Allocs++
		st.Bytes += e.Size
		if c.liveB > c.s.PeakLiveBytes {
			c.s.PeakLiveBytes, c.s.PeakEvent, c.s.PeakLiveCount = c.liveB, i, int64(len(c.live))
		}
	case trace.OpFree:
		c.s.Frees++
		a, ok := c.live[e.ID]
		if !ok {
			return fmt.Errorf("event %d: free of id %d, which is not live", i, e.ID)
		}
		delete(c.live, e.ID)
		delete(c.pending, e.ID)
		if !a.synced {
			c.end(i, a)
		}
	case trace.OpFreeRequested:
		c.s.FreeRequested++
		a, ok := c.live[e.ID]
		switch {
		case !ok:
			return fmt.Errorf("event %d: free_requested of id %d, which is not live", i, e.ID)
		case a.pending || a.synced:
			return fmt.Errorf("event %d: free_requested of id %d, whose free was already requested", i, e.ID)
		}
		a.pending = true
		c.pending[e.ID] = struct{}{}
	case trace.OpEmptyCache:
		c.s.EmptyCache++
		if e.Pool != 0 {
			c.s.EmptyCachePool++
			if p := c.pools[e.Pool]; p != nil {
				p.Emptied++
			}
			if !c.gone[e.Pool] {
				break // a pool in use keeps everything, its pending frees too
			}
		}
		for id := range c.pending {
			a := c.live[id]
			if e.Pool != 0 && a.pool != e.Pool {
				continue
			}
			a.pending, a.synced = false, true
			c.end(i, a)
			delete(c.pending, id)
		}
	case trace.OpReleasePool:
		c.s.ReleasePool++
		c.gone[e.Pool] = true
		if p := c.pools[e.Pool]; p != nil {
			p.Releases++
		}
	default:
		return fmt.Errorf("event %d: unknown %s", i, e.Op)
	}
	c.curve.add(i, c.liveB)
	return nil
}

// end records that the memory of allocation a stopped being live at event
// i: its bytes and its lifetime.
func (c *Collector) end(i int64, a *liveAlloc) {
	c.liveB -= a.size
	if a.pool != 0 {
		c.pools[a.pool].live -= a.size
		c.privB -= a.size
	}
	if a.at >= 0 {
		life := i - a.at
		g := &c.class[classOf(a.size)]
		g.lifetimes = append(g.lifetimes, life)
		c.tags[a.tag].lifetimes = append(c.tags[a.tag].lifetimes, life)
	}
}

// Stats returns the summary of the events added so far.
func (c *Collector) Stats() *Stats {
	s := c.s
	s.LiveAtEnd, s.LiveBytesAtEnd = 0, 0
	never := map[int32]int64{}
	var neverClass [classCount]int64
	for _, a := range c.live {
		if a.synced {
			continue // its memory was freed; only its free is missing
		}
		s.LiveAtEnd++
		s.LiveBytesAtEnd += a.size
		if a.at >= 0 {
			never[a.tag]++
			neverClass[classOf(a.size)]++
		}
	}
	s.Curve = c.curve.points()
	s.Boundaries = Boundaries
	s.Sizes = nil
	for _, b := range c.sizes {
		if b.Count > 0 {
			s.Sizes = append(s.Sizes, b)
		}
	}
	if s.AllocatedBytes > 0 {
		s.BandShare = float64(c.class[1].bytes) / float64(s.AllocatedBytes)
	}
	s.Classes = nil
	for k := range c.class {
		g := c.class[k]
		g.never = neverClass[k]
		s.Classes = append(s.Classes, g.group(classNames[k]))
	}
	ids := make([]int32, 0, len(c.tags))
	for id := range c.tags {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	s.Tags = nil
	for _, id := range ids {
		g := *c.tags[id]
		g.never = never[id]
		name := fmt.Sprintf("tag#%d", id)
		if c.tagReg != nil {
			if n, ok := c.tagReg.Name(id); ok {
				name = n
			}
		}
		s.Tags = append(s.Tags, g.group(name))
	}
	s.Streams = nil
	for _, st := range c.stream {
		s.Streams = append(s.Streams, *st)
	}
	sort.Slice(s.Streams, func(i, j int) bool { return s.Streams[i].Stream < s.Streams[j].Stream })
	s.PrivatePools = int64(len(c.pools))
	s.Pools = nil
	for _, p := range c.pools {
		s.Pools = append(s.Pools, p.Pool)
	}
	sort.Slice(s.Pools, func(i, j int) bool { return s.Pools[i].Pool < s.Pools[j].Pool })
	s.FailureList = slices.Clone(c.s.FailureList)
	return &s
}

func (g *groupAcc) group(name string) Group {
	out := Group{Name: name, Allocs: g.allocs, Bytes: g.bytes}
	l := &out.Lifetime
	l.NeverFreed = g.never
	l.Freed = int64(len(g.lifetimes))
	if l.Freed == 0 {
		return out
	}
	v := slices.Clone(g.lifetimes)
	slices.Sort(v)
	var sum float64
	for _, x := range v {
		sum += float64(x)
	}
	pct := func(p int) int64 { return v[(len(v)-1)*p/100] }
	l.Min, l.P50, l.P90, l.P99, l.Max = v[0], pct(50), pct(90), pct(99), v[len(v)-1]
	l.Mean = sum / float64(len(v))
	return out
}

// curve keeps the live-bytes curve in at most maxCurve buckets of width
// events each, doubling the width (merging pairs) when full.
type curve struct {
	width int64
	pts   []Point // per bucket: the last event seen and the largest live bytes
}

func (c *curve) add(event, live int64) {
	b := event / c.width
	if n := int64(len(c.pts)); n > 0 && (n-1) == b {
		p := &c.pts[n-1]
		p.Event = event
		p.Live = max(p.Live, live)
		return
	}
	if len(c.pts) == maxCurve {
		for i := 0; i < maxCurve/2; i++ {
			a, z := c.pts[2*i], c.pts[2*i+1]
			c.pts[i] = Point{Event: z.Event, Live: max(a.Live, z.Live)}
		}
		c.pts = c.pts[:maxCurve/2]
		c.width *= 2
		c.add(event, live)
		return
	}
	c.pts = append(c.pts, Point{Event: event, Live: live})
}

func (c *curve) points() []Point { return slices.Clone(c.pts) }

// Read collects the stats of every event of r.
func Read(r trace.Reader) (*Stats, error) { return NewCollector().read(r) }

func (c *Collector) read(r trace.Reader) (*Stats, error) {
	for {
		e, err := r.Next()
		if err == io.EOF {
			return c.Stats(), nil
		}
		if err != nil {
			return nil, err
		}
		if err := c.Add(e, r.Tags()); err != nil {
			return nil, err
		}
	}
}
