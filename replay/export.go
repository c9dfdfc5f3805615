package replay

import (
	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/snapshot"
)

// recorder collects a run as a PyTorch memory snapshot: the trace entries
// PyTorch would have recorded (alloc, free_requested, free_completed,
// segment_*, oom), each with the pool_id of its pool as PyTorch 2.6 and
// later write it (a private pool P as (P, 0), a CUDA graph's own pool, or,
// when the workload emptied P's cache on its own, as (0, P), a
// torch.cuda.MemPool's, whose destructor does that; the default pool (0,
// 0); a pool release is not recorded, as in PyTorch), and, at the end, the
// segments with their blocks.
type recorder struct {
	entries   []snapshot.TraceEntry
	free      func() int64       // device bytes free, for oom entries
	requested map[int64]struct{} // ids whose free_requested is recorded, awaiting free_completed
	memPools  map[int64]bool     // private pools an empty_cache of their own named: MemPools
}

// emptiedPool notes the workload's empty_cache of private pool p alone
// (emptyCache(mempool_id)): the export names p as a MemPool, (0, p), so
// that reading it back infers the same scoped empty_cache.
func (r *recorder) emptiedPool(p int64) {
	if r.memPools == nil {
		r.memPools = map[int64]bool{}
	}
	r.memPools[p] = true
}

// memPoolID renames, in ids recorded as (p, 0), the pools emptiedPool
// named to (0, p).
func (r *recorder) memPoolID(id [2]uint64) [2]uint64 {
	if id[1] == 0 && id[0] != 0 && r.memPools[int64(id[0])] {
		return [2]uint64{0, id[0]}
	}
	return id
}

func (r *recorder) driverOp(op host.DriverOp) {
	if op.Event < 0 {
		return // state before the first event is in the segments, not the trace
	}
	r.entries = append(r.entries, snapshot.TraceEntry{Action: op.Action, Addr: op.Addr, Size: op.Size, Stream: op.Stream, PoolID: poolID(op.PrivatePool), HasPoolID: true})
}

// poolID is the MempoolId_t the export gives private pool p: (p, 0), the
// form of a CUDA graph's own pool; (0, 0) is the default pool.
func poolID(p int64) [2]uint64 { return [2]uint64{uint64(p), 0} }

func (r *recorder) blockOp(op host.BlockOp) {
	switch op.Action {
	case host.ActionAlloc:
		r.entries = append(r.entries, snapshot.TraceEntry{Action: snapshot.ActAlloc, Addr: op.Addr, Size: op.Requested, Stream: op.Stream, PoolID: poolID(op.PrivatePool), HasPoolID: true})
	case host.ActionFreeRequested:
		if r.requested == nil {
			r.requested = map[int64]struct{}{}
		}
		r.requested[op.ID] = struct{}{}
		r.entries = append(r.entries, snapshot.TraceEntry{Action: snapshot.ActFreeRequested, Addr: op.Addr, Size: op.Requested, Stream: op.Stream, PoolID: poolID(op.PrivatePool), HasPoolID: true})
	case host.ActionFree:
		e := snapshot.TraceEntry{Addr: op.Addr, Size: op.Requested, Stream: op.Stream, PoolID: poolID(op.PrivatePool), HasPoolID: true}
		if _, ok := r.requested[op.ID]; ok {
			delete(r.requested, op.ID)
		} else {
			e.Action = snapshot.ActFreeRequested
			r.entries = append(r.entries, e)
		}
		e.Action = snapshot.ActFreeCompleted
		r.entries = append(r.entries, e)
	case host.ActionOOM:
		r.entries = append(r.entries, snapshot.TraceEntry{Action: snapshot.ActOOM, Size: op.Size, Stream: op.Stream, DeviceFree: r.free(), PoolID: poolID(op.PrivatePool), HasPoolID: true})
	}
}

// snapshotOf is the allocator's final state plus the recorded trace, as
// device 0 of a snapshot. Each mapped run of an expandable segment is a
// segment of its own, as PyTorch reports them.
func (r *recorder) snapshotOf(a *host.Allocator) *snapshot.Snapshot {
	if len(r.memPools) > 0 {
		for k := range r.entries {
			r.entries[k].PoolID = r.memPoolID(r.entries[k].PoolID)
		}
	}
	s := &snapshot.Snapshot{Traces: [][]snapshot.TraceEntry{r.entries}}
	for _, seg := range a.Segments() {
		var cur *snapshot.Segment
		for _, b := range seg.Blocks() {
			if !b.Mapped {
				cur = nil
				continue
			}
			if cur == nil {
				s.Segments = append(s.Segments, snapshot.Segment{
					Address: b.Addr, Stream: a.StreamValue(seg.Stream), Pool: poolType(seg.Pool), Expandable: seg.Expandable(), Stitched: seg.Stitched,
					PoolID: r.memPoolID(poolID(seg.PrivatePool)),
				})
				cur = &s.Segments[len(s.Segments)-1]
			}
			sb := snapshot.Block{Address: b.Addr, Size: b.Size, State: snapshot.StateInactive}
			cur.TotalSize += b.Size
			if b.Lent { // backs a block of a stitched range: active, nothing requested here
				sb.State = snapshot.StateAllocated
				cur.ActiveSize += b.Size
			}
			if b.Allocated {
				sb.State, sb.RequestedSize = snapshot.StateAllocated, b.Requested
				if b.Pending {
					sb.State = snapshot.StatePendingFree
				} else {
					cur.AllocatedSize += b.Size
				}
				cur.ActiveSize += b.Size
				cur.RequestedSize += b.Requested
			}
			cur.Blocks = append(cur.Blocks, sb)
		}
	}
	return s
}

// poolType is a snapshot's segment_type: the small pool is "small", every
// other pool behaves like the large pool.
func poolType(pool int32) string {
	if pool == 0 {
		return "small"
	}
	return "large"
}
