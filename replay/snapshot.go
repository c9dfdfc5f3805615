package replay

import (
	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/internal/synth"
	"github.com/fraglab/fraglab/snapshot"
	"github.com/fraglab/fraglab/trace"
)

// SnapshotInput turns a snapshot workload into what Run replays: a reader
// over its events and the initial state to adopt, each segment in its
// recorded stream and private pool.
func SnapshotInput(w *snapshot.Workload) (trace.Reader, []host.InitialSegment) {
	initial := make([]host.InitialSegment, len(w.Initial))
	for i, s := range w.Initial {
		blocks := make([]host.AdoptedBlock, len(s.Blocks))
		for j, b := range s.Blocks {
			blocks[j] = host.AdoptedBlock{Size: b.Size, ID: b.ID, Requested: b.Requested}
		}
		initial[i] = host.InitialSegment{Addr: s.Address, Size: s.Size, Pool: s.Pool, Stream: s.Stream, PrivatePool: s.PrivatePool, Expandable: s.Expandable, Blocks: blocks}
	}
	return synth.NewReaderTags(w.Events, w.Tags), initial
}

// RecordedPlacement maps each event that recorded a new segment
// (segment_alloc, or the first map of an expandable segment) to its
// recorded address, for Options.Place.
func RecordedPlacement(w *snapshot.Workload) map[int64]uint64 {
	place := map[int64]uint64{}
	for _, t := range w.Truth {
		if t.Action == snapshot.ActSegmentAlloc || t.Action == snapshot.ActSegmentMap {
			if _, ok := place[t.Event]; !ok {
				place[t.Event] = t.Addr
			}
		}
	}
	return place
}
