package snapshot

import (
	"fmt"
	"sort"

	"github.com/fraglab/fraglab/trace"
)

// Verify checks a workload against the snapshot it came from. It replays the
// workload over w.Initial with the recorded facts, not with a policy: each
// alloc takes the free block that starts at its recorded address (which must
// exist, be large enough and be in the request's pool and private pool) and
// is split by PyTorch's should_split rule; a free_requested keeps its block
// occupied until its free (or a release that synchronises, SegmentEvent.Sync);
// frees merge free neighbours; the segment entries of w.Truth are applied
// before the event they belong to; after an empty_cache no classic segment of
// the default pool or of a released private pool may be left entirely free
// (after the empty_cache of one private pool, none of that pool's, once
// released).
// The result must equal the snapshot's final segments for w.Device, block by
// block (address, size, allocated, pending or free, requested size), with the
// same pool, private pool id, stream and expandable flag per segment.
func Verify(w *Workload, s *Snapshot) error {
	if len(w.AllocAddr) != len(w.Events) {
		return fmt.Errorf("verify: %d alloc addresses for %d events", len(w.AllocAddr), len(w.Events))
	}
	st := &state{track: true, rule: newSplitRule(w.Settings), div: w.Settings.roundup(), byID: map[int64]uint64{}}
	for _, in := range w.Initial {
		sg := &seg{addr: in.Address, size: in.Size, pool: in.Pool, stream: in.Stream, private: in.PrivatePool, expandable: in.Expandable}
		at := in.Address
		for _, b := range in.Blocks {
			if b.Size <= 0 {
				return fmt.Errorf("verify: initial segment %#x has a block of %d bytes", in.Address, b.Size)
			}
			sg.blocks = append(sg.blocks, blk{addr: at, size: b.Size, id: b.ID, req: b.Requested})
			if b.ID >= 0 {
				if _, dup := st.byID[b.ID]; dup {
					return fmt.Errorf("verify: initial id %d is used twice", b.ID)
				}
				st.byID[b.ID] = at
			}
			at += uint64(b.Size)
		}
		if at != sg.end() {
			return fmt.Errorf("verify: the blocks of initial segment %#x cover %d of %d bytes", in.Address, at-in.Address, in.Size)
		}
		if err := st.add(sg); err != nil {
			return fmt.Errorf("verify: initial state: %v", err)
		}
	}
	k := 0
	released := map[int64]bool{}
	applyTruth := func(upTo int64) error {
		for ; k < len(w.Truth) && w.Truth[k].Event <= upTo; k++ {
			t := w.Truth[k]
			if t.Sync {
				st.sync()
			}
			var err error
			switch t.Action {
			case ActSegmentAlloc:
				err = st.add(&seg{addr: t.Addr, size: t.Size, pool: inferPool(t.Size, false), stream: t.Stream, private: t.PrivatePool})
			case ActSegmentFree:
				_, err = st.remove(t.Addr, t.Size)
			case ActSegmentMap:
				err = st.mapRange(t.Addr, t.Size, st.expandablePool(t.Addr, t.Size), t.Stream, t.PrivatePool, [2]uint64{}, false)
			case ActSegmentUnmap:
				err = st.unmapRange(t.Addr, t.Size)
			default:
				err = fmt.Errorf("unknown segment action %q", t.Action)
			}
			if err != nil {
				return fmt.Errorf("verify: segment entry %d (%s %d B at %#x, before event %d): %v", k, t.Action, t.Size, t.Addr, t.Event, err)
			}
		}
		return nil
	}
	for i, ev := range w.Events {
		if err := applyTruth(int64(i)); err != nil {
			return err
		}
		var err error
		switch ev.Op {
		case trace.OpAlloc:
			if w.AllocAddr[i] == 0 {
				continue // a recorded OOM: PyTorch failed it, it holds no memory
			}
			err = st.alloc(w.AllocAddr[i], ev.Size, ev.ID, ev.Pool)
		case trace.OpFree:
			_, err = st.free(ev.ID)
		case trace.OpFreeRequested:
			err = st.freeRequested(ev.ID)
		case trace.OpReleasePool:
			released[ev.Pool] = true
		case trace.OpEmptyCache:
			for _, sg := range st.segs {
				inScope := sg.private == 0 || released[sg.private]
				if ev.Pool != 0 {
					inScope = sg.private == ev.Pool && released[ev.Pool]
				}
				if !sg.expandable && len(sg.blocks) == 1 && !sg.blocks[0].live() && inScope {
					err = fmt.Errorf("the %d B segment at %#x is still cached and entirely free", sg.size, sg.addr)
					break
				}
			}
		}
		if err != nil {
			return fmt.Errorf("verify: event %d (%s id %d): %v", i, ev.Op, ev.ID, err)
		}
	}
	if err := applyTruth(int64(len(w.Events))); err != nil {
		return err
	}
	if k != len(w.Truth) {
		return fmt.Errorf("verify: segment entry %d belongs to event %d, past the %d events", k, w.Truth[k].Event, len(w.Events))
	}
	return compareFinal(st, s, w.Device, w.PoolIDs)
}

// compareFinal compares the simulated segments with the snapshot's.
func compareFinal(st *state, s *Snapshot, device int, poolIDs [][2]uint64) error {
	var final []Segment
	for _, sg := range s.Segments {
		if sg.Device == device {
			final = append(final, sg)
		}
	}
	sort.SliceStable(final, func(i, j int) bool { return final[i].Address < final[j].Address })
	n := min(len(final), len(st.segs))
	for i := 0; i < n; i++ {
		f, g := final[i], st.segs[i]
		if f.Address != g.addr || f.TotalSize != g.size {
			return fmt.Errorf("verify: final segment %d: replay has [%#x, %#x), snapshot has [%#x, %#x)", i, g.addr, g.end(), f.Address, f.Address+uint64(f.TotalSize))
		}
		if f.Expandable != g.expandable || poolNumber(f.Pool) != g.pool || f.Stream != g.stream {
			return fmt.Errorf("verify: final segment at %#x: replay has pool %s, stream %d, expandable %v; snapshot has %s, %d, %v",
				f.Address, poolName(g.pool), g.stream, g.expandable, f.Pool, f.Stream, f.Expandable)
		}
		var pid [2]uint64
		if g.private > 0 && int(g.private) <= len(poolIDs) {
			pid = poolIDs[g.private-1]
		}
		if pid != f.PoolID {
			return fmt.Errorf("verify: final segment at %#x: replay has it in %s (pool id %s), snapshot in pool id %s", f.Address, privateName(g.private), pidText(pid), pidText(f.PoolID))
		}
		if len(f.Blocks) != len(g.blocks) {
			return fmt.Errorf("verify: final segment at %#x: replay has %d blocks %s, snapshot has %d %s", f.Address, len(g.blocks), blocksText(g.blocks), len(f.Blocks), finalBlocksText(f.Blocks))
		}
		for j, fb := range f.Blocks {
			gb := g.blocks[j]
			if fb.Address != gb.addr || fb.Size != gb.size || fb.Live() != gb.live() {
				return fmt.Errorf("verify: final segment at %#x, block %d: replay has %s, snapshot has %d B %s at %#x", f.Address, j, gb.describe(), fb.Size, fb.State, fb.Address)
			}
			if gb.live() && (fb.State == StatePendingFree) != gb.pending {
				return fmt.Errorf("verify: final segment at %#x, block %d at %#x: replay has it %s, snapshot %s", f.Address, j, fb.Address, pendingText(gb.pending), fb.State)
			}
			if gb.live() && fb.RequestedSize != gb.req {
				return fmt.Errorf("verify: final segment at %#x, block %d at %#x: replay requested %d B, snapshot %d B", f.Address, j, fb.Address, gb.req, fb.RequestedSize)
			}
		}
	}
	if len(final) != len(st.segs) {
		return fmt.Errorf("verify: replay ends with %d segments, snapshot has %d", len(st.segs), len(final))
	}
	return nil
}

func blocksText(bs []blk) string {
	return sizesText(len(bs), func(i int) (int64, bool) { return bs[i].size, bs[i].live() })
}

func finalBlocksText(bs []Block) string {
	return sizesText(len(bs), func(i int) (int64, bool) { return bs[i].Size, bs[i].Live() })
}

// sizesText lists up to 8 block sizes, live ones marked with *.
func sizesText(n int, block func(int) (int64, bool)) string {
	s := "["
	for i := 0; i < n; i++ {
		if i > 0 {
			s += " "
		}
		if i == 8 {
			s += "…"
			break
		}
		size, live := block(i)
		s += fmt.Sprint(size)
		if live {
			s += "*"
		}
	}
	return s + "]"
}

func pendingText(p bool) string {
	if p {
		return "waiting for its free to complete"
	}
	return "allocated"
}
