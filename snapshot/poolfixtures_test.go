package snapshot

// Hand-built snapshots of private pools and cross-stream frees, written to
// testdata/ by TestFixtures (go test ./snapshot -run TestFixtures -update).
// Each is the snapshot a short PyTorch program would record, entry by
// entry, derived from CUDACachingAllocator's rules (the reference is
// shared/reference/pytorch-caching-allocator.md; the functions named are
// those of c10/cuda/CUDACachingAllocator.cpp). Addresses, stream handles
// and times are made up (the driver chooses them); everything else follows
// from the rules:
//
//   - round_size: multiples of 512; get_allocation_size: 2 MiB for ≤ 1 MiB,
//     20 MiB below 10 MiB, else rounded up to 2 MiB;
//   - get_free_block: the smallest free block of the request's pool (the
//     default pool or the private pool being allocated to) and stream that
//     is large enough, lowest address on ties;
//   - should_split: small pool when ≥ 512 B remain, large pool when more
//     than 1 MiB remains;
//   - free: free_requested, then free_block (free_completed, merging free
//     neighbours) at once, or, for a block used on other streams
//     (record_stream), when process_events at the start of a later malloc
//     finds the streams' events complete;
//   - release_cached_blocks (empty_cache): synchronise pending frees, then
//     release the whole free blocks of the default pool's large then small
//     blocks, each in (stream, size, address) order, then those of private
//     pools whose use count is 0, small then large; emptyCache(mempool_id)
//     (torch.cuda.MemPool's destructor, after releasePool) releases only
//     that pool's;
//   - snapshot(): one segment per cudaMalloc with segment_pool_id, blocks in
//     address order; it records a "snapshot" entry with the active bytes.
//
// Newer PyTorch (2.6 and later) writes pool_id on every entry: the pool of
// the block or segment, (0, 0) for the default pool; the first two
// fixtures and the last have it (their private segments are gone by the
// end, so only the entries name their pool), the third and fourth are in
// the older format without it.

// The capture stream of torch.cuda.graph and a side stream: cudaStream_t
// handles are pointers.
const (
	captureStream int64 = 0x55e4c2a8f0a0
	sideStream    int64 = 0x55d1f0e3b2a0
)

// fixtureTrace builds a device trace entry by entry: times 10 µs apart,
// frames on allocations, and, when pools is set, compile_context "N/A"
// and pool_id on every entry, as PyTorch 2.6+ writes them.
type fixtureTrace struct {
	pools   bool
	entries []TraceEntry
}

var fixtureFrames = []Frame{
	{Filename: "/usr/lib/python3/site-packages/torch/nn/modules/linear.py", Line: 125, Name: "forward"},
	{Filename: "train.py", Line: 41, Name: "step"},
	{Filename: "train.py", Line: 77, Name: "<module>"},
}

func (f *fixtureTrace) add(action string, addr uint64, size, stream int64, pool [2]uint64) {
	e := TraceEntry{Action: action, Addr: addr, Size: size, Stream: stream, TimeUS: 1760000000000000 + 10*int64(len(f.entries))}
	if action == ActAlloc {
		e.Frames = fixtureFrames
	}
	if f.pools {
		e.CompileContext, e.PoolID, e.HasPoolID = "N/A", pool, true
	}
	f.entries = append(f.entries, e)
}

// free adds the free of a block used on its own stream only: free_requested
// and, at once, free_completed (both with its requested size).
func (f *fixtureTrace) free(addr uint64, size, stream int64, pool [2]uint64) {
	f.add(ActFreeRequested, addr, size, stream, pool)
	f.add(ActFreeCompleted, addr, size, stream, pool)
}

// newestSettings are the allocator_settings of PyTorch 2.6+ with the
// default configuration.
func newestSettings() *Settings {
	return &Settings{
		MaxSplitSize: -1,
		Other: map[string]any{
			"pinned_num_register_threads":       int64(1),
			"release_lock_on_cudamalloc":        false,
			"pinned_use_cuda_host_register":     false,
			"graph_capture_record_stream_reuse": false,
		},
	}
}

var defaultPoolID = [2]uint64{0, 0}

// graphPoolSnapshot: a CUDA graph captured into its own private pool.
//
//	static_in = torch.empty(4 MiB)       # default pool
//	g = torch.cuda.CUDAGraph()
//	with torch.cuda.graph(g):            # capture on its own stream, pool (1, 0)
//	    h = torch.empty(12 MiB)
//	    t = torch.empty(6 MiB)
//	    del h
//	    out = torch.empty(2 MiB)         # static output, lives on
//	    del t
//	y = torch.empty(18 MiB)              # default pool again
//	g.replay()
//	torch.cuda.empty_cache()             # the graph holds its pool: nothing to release
//	del y, out
//	del g                                # releasePool: use count 0
//	torch.cuda.empty_cache()             # the default pool's and the graph pool's free segments
//	torch.cuda.memory._dump_snapshot(...)
//
// A graph captured without a pool gets MempoolId_t (n, 0): CUDAGraph's own
// counter in the first field (graph_pool_handle() and torch.cuda.MemPool()
// give (0, n)). torch.cuda.graph's __enter__ calls empty_cache(), and the
// first empty_cache() after the capture finds nothing to release, so
// neither records an entry: static_in's segment is split (4 MiB live), the
// graph pool's whole free segment is held while the graph lives (use
// count 1).
func graphPoolSnapshot() *Snapshot {
	const (
		a0 uint64 = 0x7f8a3c000000 // default pool, 20 MiB: static_in
		p1 uint64 = 0x7f8a3d400000 // graph pool, 12 MiB: h, then out
		p2 uint64 = 0x7f8a3e000000 // graph pool, 20 MiB: t
		a1 uint64 = 0x7f8a3f400000 // default pool, 18 MiB: y
	)
	graph := [2]uint64{1, 0}
	f := &fixtureTrace{pools: true}
	// static_in: 4 MiB rounds to 4 MiB; no free block; a 20 MiB segment
	// (1 MiB < 4 MiB < 10 MiB), split: 16 MiB remain.
	f.add(ActSegmentAlloc, a0, 20*mib, 0, defaultPoolID)
	f.add(ActAlloc, a0, 4*mib, 0, defaultPoolID)
	// h on the capture stream goes to the graph's pool, empty so far: a
	// 12 MiB segment (12 MiB ≥ 10 MiB, a multiple of 2 MiB), not split.
	f.add(ActSegmentAlloc, p1, 12*mib, captureStream, graph)
	f.add(ActAlloc, p1, 12*mib, captureStream, graph)
	// t: 6 MiB; the pool has no free block: a 20 MiB segment, split (14 MiB
	// remain). The default pool's 16 MiB free block is not the pool's.
	f.add(ActSegmentAlloc, p2, 20*mib, captureStream, graph)
	f.add(ActAlloc, p2, 6*mib, captureStream, graph)
	// del h: no other stream used it, the free completes at once; its
	// segment is one free 12 MiB block of the graph's pool.
	f.free(p1, 12*mib, captureStream, graph)
	// out: 2 MiB; free blocks of the pool on the capture stream: 12 MiB at
	// p1, 14 MiB at p2+6 MiB: best fit p1, split (10 MiB remain).
	f.add(ActAlloc, p1, 2*mib, captureStream, graph)
	// del t: merges with the 14 MiB behind it: p2 is whole and free again.
	f.free(p2, 6*mib, captureStream, graph)
	// y after the capture: the default pool's only free block (16 MiB) is
	// too small, the graph pool's are not the default pool's: an 18 MiB
	// segment, not split.
	f.add(ActSegmentAlloc, a1, 18*mib, 0, defaultPoolID)
	f.add(ActAlloc, a1, 18*mib, 0, defaultPoolID)
	f.free(a1, 18*mib, 0, defaultPoolID)
	// del out: merges with the 10 MiB behind it: p1 is whole and free.
	f.free(p1, 2*mib, captureStream, graph)
	// empty_cache after del g: the default pool's large blocks (a1; a0 is
	// split), its small ones (none), then the freeable graph pool's small
	// (none) and large blocks by (stream, size, address): p1, p2.
	f.add(ActSegmentFree, a1, 18*mib, 0, defaultPoolID)
	f.add(ActSegmentFree, p1, 12*mib, captureStream, graph)
	f.add(ActSegmentFree, p2, 20*mib, captureStream, graph)
	f.add(ActSnapshot, 0, 4*mib, 0, defaultPoolID)
	return &Snapshot{
		Segments: []Segment{{
			Address: a0, TotalSize: 20 * mib, AllocatedSize: 4 * mib, ActiveSize: 4 * mib, RequestedSize: 4 * mib,
			Stream: 0, Pool: PoolLarge, Blocks: []Block{
				{Address: a0, Size: 4 * mib, RequestedSize: 4 * mib, State: StateAllocated},
				{Address: a0 + 4*mib, Size: 16 * mib, State: StateInactive},
			},
		}},
		Traces:   [][]TraceEntry{f.entries},
		Settings: newestSettings(),
	}
}

// memPoolSnapshot: a torch.cuda.MemPool, used on the default stream.
//
//	pool = torch.cuda.MemPool()          # MempoolId_t (0, 1), use count 1
//	with torch.cuda.use_mem_pool(pool):
//	    a = torch.empty(8 MiB)
//	    b = torch.empty(4 MiB)
//	    s = torch.empty(512 KiB)
//	c = torch.empty(8 MiB)               # default pool
//	del a, b
//	d = torch.empty(8 MiB)
//	del pool                             # releasePool, then emptyCache(pool id)
//	del s, c, d
//	torch.cuda.empty_cache()
//	e = torch.empty(1 MiB)
//	torch.cuda.memory._dump_snapshot(...)
//
// MemPool's destructor lets go of the pool (use count 0) and releases that
// pool's free segments only (emptyCache(mempool_id)): the pool's large
// segment, whole and free, goes; its small one holds s. The default pool
// keeps its segment (c and d live in it). The last empty_cache() releases
// the default pool's free segment and then the released pool's small one.
func memPoolSnapshot() *Snapshot {
	const (
		m1 uint64 = 0x7f5e40000000 // MemPool, 20 MiB: a, b
		m2 uint64 = 0x7f5e41400000 // MemPool, small, 2 MiB: s
		d1 uint64 = 0x7f5e41600000 // default pool, 20 MiB: c, d
		e1 uint64 = 0x7f5e41400000 // default pool, small, 2 MiB: e (the driver hands m2's range out again)
	)
	mp := [2]uint64{0, 1}
	f := &fixtureTrace{pools: true}
	// a: 8 MiB in the empty MemPool: a 20 MiB segment, split (12 MiB remain).
	f.add(ActSegmentAlloc, m1, 20*mib, 0, mp)
	f.add(ActAlloc, m1, 8*mib, 0, mp)
	// b: 4 MiB from the 12 MiB free block, split (8 MiB remain).
	f.add(ActAlloc, m1+8*mib, 4*mib, 0, mp)
	// s: 512 KiB is a small-pool request: the MemPool's small blocks are
	// empty: a 2 MiB segment, split (1.5 MiB remain).
	f.add(ActSegmentAlloc, m2, 2*mib, 0, mp)
	f.add(ActAlloc, m2, 512*1024, 0, mp)
	// c, outside use_mem_pool: the default pool has no block: a 20 MiB
	// segment, split (12 MiB remain). The MemPool's 8 MiB block is not the
	// default pool's.
	f.add(ActSegmentAlloc, d1, 20*mib, 0, defaultPoolID)
	f.add(ActAlloc, d1, 8*mib, 0, defaultPoolID)
	// del a (b still live: no merge), del b: merges with a's block and the
	// 8 MiB behind it: m1 is whole and free.
	f.free(m1, 8*mib, 0, mp)
	f.free(m1+8*mib, 4*mib, 0, mp)
	// d: 8 MiB from the default pool's 12 MiB block, split (4 MiB remain).
	f.add(ActAlloc, d1+8*mib, 8*mib, 0, defaultPoolID)
	// del pool: emptyCache(pool id) releases the pool's whole free blocks:
	// small (m2 holds s: none), large: m1.
	f.add(ActSegmentFree, m1, 20*mib, 0, mp)
	// del s: m2 is whole and free, in a pool whose use count is 0.
	f.free(m2, 512*1024, 0, mp)
	// del c (d live: no merge), del d: merges both ways: d1 whole and free.
	f.free(d1, 8*mib, 0, defaultPoolID)
	f.free(d1+8*mib, 8*mib, 0, defaultPoolID)
	// empty_cache: default large (d1), default small (none), then the
	// released pool's small (m2) and large (none) blocks; the pool holds
	// no segment any more and is deleted.
	f.add(ActSegmentFree, d1, 20*mib, 0, defaultPoolID)
	f.add(ActSegmentFree, m2, 2*mib, 0, mp)
	// e: 1 MiB is still small (≤ 1 MiB): a 2 MiB segment, split (1 MiB
	// remain).
	f.add(ActSegmentAlloc, e1, 2*mib, 0, defaultPoolID)
	f.add(ActAlloc, e1, mib, 0, defaultPoolID)
	f.add(ActSnapshot, 0, mib, 0, defaultPoolID)
	return &Snapshot{
		Segments: []Segment{{
			Address: e1, TotalSize: 2 * mib, AllocatedSize: mib, ActiveSize: mib, RequestedSize: mib,
			Stream: 0, Pool: PoolSmall, Blocks: []Block{
				{Address: e1, Size: mib, RequestedSize: mib, State: StateAllocated},
				{Address: e1 + mib, Size: mib, State: StateInactive},
			},
		}},
		Traces:   [][]TraceEntry{f.entries},
		Settings: newestSettings(),
	}
}

// recordStreamSnapshot: a block used on a second stream (record_stream),
// whose free waits for that stream's work; older format (PyTorch 2.5: no
// pool_id, no compile_context).
//
//	side = torch.cuda.Stream()
//	x = torch.empty(16 MiB)              # default stream
//	with torch.cuda.stream(side):
//	    y = x * 2                        # allocated on side, reads x
//	x.record_stream(side)
//	del x                                # side still runs: the free waits
//	z = torch.empty(16 MiB)              # x's block is not free yet
//	torch.cuda.current_stream().wait_stream(side)   # … side's work completes
//	w = torch.empty(16 MiB)              # process_events frees x's block first
//	del y
//	v = torch.empty(8 MiB)               # y's free block is side's, not ours
//	del z, w, v
//	torch.cuda.empty_cache()
//	u = torch.empty(16 MiB)
//	u.record_stream(side); del u         # side busy again: u's free waits
//	torch.cuda.memory._dump_snapshot(...)
//
// At del x the block has a use on another stream, so free() records
// free_requested and inserts an event on side instead of freeing it. z's
// malloc runs process_events (the event is not complete), finds no free
// block on the default stream and allocates a segment. w's process_events
// finds the event complete: free_completed, then w takes that block.
// empty_cache synchronises (nothing is pending then) and releases every
// whole free block of the large pool by (stream, size, address): the
// default stream's (handle 0) first, then side's. The snapshot shows u's
// block active_pending_free: snapshot() does not process events.
func recordStreamSnapshot() *Snapshot {
	const (
		s1 uint64 = 0x7f2b80000000 // 16 MiB, default stream: x, then w
		s2 uint64 = 0x7f2b81000000 // 16 MiB, side stream: y
		s3 uint64 = 0x7f2b82000000 // 16 MiB, default stream: z
		s4 uint64 = 0x7f2b83000000 // 20 MiB, default stream: v
		s5 uint64 = 0x7f2b80000000 // 16 MiB, default stream: u (s1's range again)
	)
	f := &fixtureTrace{}
	// x: 16 MiB ≥ 10 MiB: a 16 MiB segment, not split.
	f.add(ActSegmentAlloc, s1, 16*mib, 0, defaultPoolID)
	f.add(ActAlloc, s1, 16*mib, 0, defaultPoolID)
	// y on the side stream: blocks never serve another stream: a segment.
	f.add(ActSegmentAlloc, s2, 16*mib, sideStream, defaultPoolID)
	f.add(ActAlloc, s2, 16*mib, sideStream, defaultPoolID)
	// del x: free_requested only (the entry carries the block's own stream).
	f.add(ActFreeRequested, s1, 16*mib, 0, defaultPoolID)
	// z: x's block is still in use by side: a new segment.
	f.add(ActSegmentAlloc, s3, 16*mib, 0, defaultPoolID)
	f.add(ActAlloc, s3, 16*mib, 0, defaultPoolID)
	// w: process_events completes x's free, then get_free_block finds it.
	f.add(ActFreeCompleted, s1, 16*mib, 0, defaultPoolID)
	f.add(ActAlloc, s1, 16*mib, 0, defaultPoolID)
	// del y: used on its own stream only: completes at once.
	f.free(s2, 16*mib, sideStream, defaultPoolID)
	// v: 8 MiB on the default stream: its blocks are all live; y's free
	// block is side's: a 20 MiB segment, split (12 MiB remain).
	f.add(ActSegmentAlloc, s4, 20*mib, 0, defaultPoolID)
	f.add(ActAlloc, s4, 8*mib, 0, defaultPoolID)
	f.free(s3, 16*mib, 0, defaultPoolID)
	f.free(s1, 16*mib, 0, defaultPoolID)
	f.free(s4, 8*mib, 0, defaultPoolID)
	// empty_cache: stream 0's blocks by size and address (s1, s3, s4), then
	// side's (s2).
	f.add(ActSegmentFree, s1, 16*mib, 0, defaultPoolID)
	f.add(ActSegmentFree, s3, 16*mib, 0, defaultPoolID)
	f.add(ActSegmentFree, s4, 20*mib, 0, defaultPoolID)
	f.add(ActSegmentFree, s2, 16*mib, sideStream, defaultPoolID)
	f.add(ActSegmentAlloc, s5, 16*mib, 0, defaultPoolID)
	f.add(ActAlloc, s5, 16*mib, 0, defaultPoolID)
	// del u with side busy: free_requested, and no free_completed before
	// the snapshot.
	f.add(ActFreeRequested, s5, 16*mib, 0, defaultPoolID)
	f.add(ActSnapshot, 0, 16*mib, 0, defaultPoolID)
	return &Snapshot{
		Segments: []Segment{{
			Address: s5, TotalSize: 16 * mib, AllocatedSize: 0, ActiveSize: 16 * mib, RequestedSize: 16 * mib,
			Stream: 0, Pool: PoolLarge, Blocks: []Block{
				{Address: s5, Size: 16 * mib, RequestedSize: 16 * mib, State: StatePendingFree},
			},
		}},
		Traces: [][]TraceEntry{f.entries},
		Settings: &Settings{
			MaxSplitSize: -1,
			Other: map[string]any{
				"pinned_num_register_threads":   int64(1),
				"release_lock_on_cudamalloc":    false,
				"pinned_use_cuda_host_register": false,
			},
		},
	}
}

// recordStreamOOMSnapshot: a free waiting for another stream when an
// allocation runs out of memory (older format). The device lets the
// allocator reserve between 28 and 44 MiB.
//
//	x = torch.empty(16 MiB)
//	x.record_stream(side); del x         # side busy: the free waits
//	w = torch.empty(12 MiB)
//	z = torch.empty(16 MiB)              # out of memory, then retried
//	del w
//	torch.cuda.memory._dump_snapshot(...)
//
// z's malloc: process_events (side's event not complete yet), no free block
// (x's is pending), cudaMalloc of 16 MiB fails (28 + 16 MiB > capacity); no
// max_split_size, so release_available_cached_blocks does nothing;
// release_cached_blocks synchronises first (free_completed of x: its
// segment is whole and free), releases it, and the retried cudaMalloc
// succeeds (the driver hands the same range out again). Had x's block been
// free before the search, z would have taken it.
func recordStreamOOMSnapshot() *Snapshot {
	const (
		s1 uint64 = 0x7f2b80000000 // 16 MiB: x, then z
		s2 uint64 = 0x7f2b81000000 // 12 MiB: w
	)
	f := &fixtureTrace{}
	f.add(ActSegmentAlloc, s1, 16*mib, 0, defaultPoolID)
	f.add(ActAlloc, s1, 16*mib, 0, defaultPoolID)
	f.add(ActFreeRequested, s1, 16*mib, 0, defaultPoolID)
	// w: 12 MiB, no free block (x's waits): a 12 MiB segment.
	f.add(ActSegmentAlloc, s2, 12*mib, 0, defaultPoolID)
	f.add(ActAlloc, s2, 12*mib, 0, defaultPoolID)
	// z: the OOM path's synchronisation completes x's free, its segment is
	// released, the retry allocates 16 MiB.
	f.add(ActFreeCompleted, s1, 16*mib, 0, defaultPoolID)
	f.add(ActSegmentFree, s1, 16*mib, 0, defaultPoolID)
	f.add(ActSegmentAlloc, s1, 16*mib, 0, defaultPoolID)
	f.add(ActAlloc, s1, 16*mib, 0, defaultPoolID)
	f.free(s2, 12*mib, 0, defaultPoolID)
	f.add(ActSnapshot, 0, 16*mib, 0, defaultPoolID)
	return &Snapshot{
		Segments: []Segment{
			{Address: s1, TotalSize: 16 * mib, AllocatedSize: 16 * mib, ActiveSize: 16 * mib, RequestedSize: 16 * mib,
				Stream: 0, Pool: PoolLarge, Blocks: []Block{{Address: s1, Size: 16 * mib, RequestedSize: 16 * mib, State: StateAllocated}}},
			{Address: s2, TotalSize: 12 * mib, Stream: 0, Pool: PoolLarge, Blocks: []Block{{Address: s2, Size: 12 * mib, State: StateInactive}}},
		},
		Traces:   [][]TraceEntry{f.entries},
		Settings: recordStreamSnapshot().Settings,
	}
}

// memPoolScopedSnapshot: a torch.cuda.MemPool deleted while the default
// pool caches a whole free segment and a block of the default pool waits
// for another stream.
//
//	side = torch.cuda.Stream()
//	pool = torch.cuda.MemPool()          # MempoolId_t (0, 1), use count 1
//	with torch.cuda.use_mem_pool(pool):
//	    a = torch.empty(8 MiB)
//	c = torch.empty(8 MiB)               # default pool
//	k = torch.empty(16 MiB)              # default pool
//	with torch.cuda.stream(side):
//	    ...                              # kernels reading a and k
//	a.record_stream(side); del a         # side busy: the free waits
//	k.record_stream(side); del k         # the same
//	del c
//	del pool                             # releasePool, then emptyCache(pool id)
//	x = torch.empty(8 MiB)               # side's work is done by now
//	torch.cuda.memory._dump_snapshot(...)
//
// emptyCache(mempool_id) runs release_cached_blocks for that id only: it
// synchronises the events of the pool's blocks only (a's free completes, k's
// keeps waiting), releases the pool's whole free blocks, small (none) then
// large (a's segment), and leaves the default pool alone: c's segment,
// whole and free, stays cached. A whole-cache empty_cache would have
// completed k's free and released c's and k's segments too. x's malloc
// runs process_events first (side's event is complete: k's free
// completes), then takes the best fit on the default stream: k's 16 MiB
// block rather than c's 20 MiB one.
func memPoolScopedSnapshot() *Snapshot {
	const (
		m1 uint64 = 0x7f6c20000000 // MemPool, 20 MiB: a
		d1 uint64 = 0x7f6c21400000 // default pool, 20 MiB: c
		d2 uint64 = 0x7f6c22800000 // default pool, 16 MiB: k, then x
	)
	mp := [2]uint64{0, 1}
	f := &fixtureTrace{pools: true}
	// a: 8 MiB in the empty MemPool: a 20 MiB segment, split (12 MiB remain).
	f.add(ActSegmentAlloc, m1, 20*mib, 0, mp)
	f.add(ActAlloc, m1, 8*mib, 0, mp)
	// c: the default pool has no block: a 20 MiB segment, split.
	f.add(ActSegmentAlloc, d1, 20*mib, 0, defaultPoolID)
	f.add(ActAlloc, d1, 8*mib, 0, defaultPoolID)
	// k: 16 MiB ≥ 10 MiB; c's 12 MiB remainder is too small: a 16 MiB
	// segment, not split.
	f.add(ActSegmentAlloc, d2, 16*mib, 0, defaultPoolID)
	f.add(ActAlloc, d2, 16*mib, 0, defaultPoolID)
	// del a, del k: used on side: free_requested only.
	f.add(ActFreeRequested, m1, 8*mib, 0, mp)
	f.add(ActFreeRequested, d2, 16*mib, 0, defaultPoolID)
	// del c: completes at once, merges with the 12 MiB behind it: d1 is
	// whole and free.
	f.free(d1, 8*mib, 0, defaultPoolID)
	// del pool: synchronise the pool's events (a's free completes and
	// merges: m1 is whole and free), release the pool's whole free blocks.
	f.add(ActFreeCompleted, m1, 8*mib, 0, mp)
	f.add(ActSegmentFree, m1, 20*mib, 0, mp)
	// x: process_events completes k's free; best fit of 8 MiB on the
	// default stream: d2 (16 MiB) before d1 (20 MiB), split (8 MiB remain).
	f.add(ActFreeCompleted, d2, 16*mib, 0, defaultPoolID)
	f.add(ActAlloc, d2, 8*mib, 0, defaultPoolID)
	f.add(ActSnapshot, 0, 8*mib, 0, defaultPoolID)
	return &Snapshot{
		Segments: []Segment{
			{Address: d1, TotalSize: 20 * mib, Stream: 0, Pool: PoolLarge, Blocks: []Block{{Address: d1, Size: 20 * mib, State: StateInactive}}},
			{Address: d2, TotalSize: 16 * mib, AllocatedSize: 8 * mib, ActiveSize: 8 * mib, RequestedSize: 8 * mib,
				Stream: 0, Pool: PoolLarge, Blocks: []Block{
					{Address: d2, Size: 8 * mib, RequestedSize: 8 * mib, State: StateAllocated},
					{Address: d2 + 8*mib, Size: 8 * mib, State: StateInactive},
				}},
		},
		Traces:   [][]TraceEntry{f.entries},
		Settings: newestSettings(),
	}
}

// poolFixtures are the fixture files made above.
func poolFixtures() map[string]*Snapshot {
	return map[string]*Snapshot{
		"pytorch-graph-pool.pickle":        graphPoolSnapshot(),
		"pytorch-mempool.pickle":           memPoolSnapshot(),
		"pytorch-record-stream.pickle":     recordStreamSnapshot(),
		"pytorch-record-stream-oom.pickle": recordStreamOOMSnapshot(),
		"pytorch-mempool-scoped.pickle":    memPoolScopedSnapshot(),
	}
}
