package replay

import (
	"time"

	"github.com/fraglab/fraglab/host"
)

// Metrics are the numbers of one run (DESIGN.md "Metrics"). Their JSON form
// is what `fraglab replay --json` prints: exactly these snake_case keys,
// bytes as integers.
type Metrics struct {
	PeakReserved  int64 `json:"peak_reserved"`  // max bytes held from the device
	PeakAllocated int64 `json:"peak_allocated"` // max bytes in allocated blocks (after rounding)
	PeakRequested int64 `json:"peak_requested"` // max bytes the workload had live
	// PeakRounded is the most live bytes with each request rounded up to
	// 512 bytes, the grid every policy's blocks lie on: no policy can
	// reserve less at its peak (the lower bound of docs/metrics.md).
	PeakRounded int64 `json:"peak_rounded"`
	// PeakPrivateReserved is the most bytes private pools (CUDA graphs',
	// torch.cuda.MemPool's) held at once, part of peak_reserved's kind of
	// bytes; 0 when the run used none.
	PeakPrivateReserved int64   `json:"peak_private_reserved"`
	FragRatio           float64 `json:"frag_ratio"`     // 1 - peak_allocated / peak_reserved
	Waste               int64   `json:"waste"`          // peak_reserved - peak_allocated
	ExtFrag             float64 `json:"ext_frag"`       // 1 - largest free / free bytes, at peak reserved
	OOMs                int64   `json:"ooms"`           // allocations that failed
	FirstOOM            int64   `json:"first_oom"`      // event index of the first OOM; -1 if none
	SegmentAllocs       int64   `json:"segment_allocs"` // classic segments allocated
	SegmentFrees        int64   `json:"segment_frees"`  // classic segments freed
	SegmentMaps         int64   `json:"segment_maps"`   // expandable-segment map operations
	SegmentUnmaps       int64   `json:"segment_unmaps"` // expandable-segment unmap operations
	// Stitching (ABI 1.5, docs/stitching.md): stitched ranges mapped and
	// torn down, and the most bytes mapped in stitched ranges at once (the
	// source segments' bytes, not in peak_reserved twice); omitted when 0.
	Stitches        int64   `json:"stitches,omitempty"`
	StitchTeardowns int64   `json:"stitch_teardowns,omitempty"`
	PeakStitched    int64   `json:"peak_stitched,omitempty"`
	Events          int64   `json:"events"`       // trace events replayed
	NsPerEvent      float64 `json:"ns_per_event"` // host + policy time per event (trace decoding excluded)
	// Offline planning (ABI 1.5): allocations placed in the planned arena
	// and the arena's bytes; omitted (0) for policies that do not plan.
	Placed     int64 `json:"placed,omitempty"`
	ArenaBytes int64 `json:"arena_bytes,omitempty"`
}

func metricsOf(s host.Stats, events int64, busy time.Duration) Metrics {
	m := Metrics{
		PeakReserved:        s.PeakReserved,
		PeakAllocated:       s.PeakAllocated,
		PeakRequested:       s.PeakRequested,
		PeakRounded:         s.PeakRounded,
		PeakPrivateReserved: s.PeakPrivateReserved,
		Waste:               s.PeakReserved - s.PeakAllocated,
		ExtFrag:             s.ExtFragAtPeak,
		OOMs:                s.OOMs,
		FirstOOM:            s.FirstOOM,
		SegmentAllocs:       s.SegmentAllocs,
		SegmentFrees:        s.SegmentFrees,
		SegmentMaps:         s.SegmentMaps,
		SegmentUnmaps:       s.SegmentUnmaps,
		Stitches:            s.Stitches,
		StitchTeardowns:     s.StitchTeardowns,
		PeakStitched:        s.PeakStitched,
		Events:              events,
		Placed:              s.Placed,
		ArenaBytes:          s.ArenaBytes,
	}
	if s.PeakReserved > 0 {
		m.FragRatio = 1 - float64(s.PeakAllocated)/float64(s.PeakReserved)
	}
	if events > 0 {
		m.NsPerEvent = float64(busy.Nanoseconds()) / float64(events)
	}
	return m
}
