package replay

import (
	"errors"
	"io"

	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/sdk/abi"
	"github.com/fraglab/fraglab/trace"
)

// Offline planning (ABI 1.5, sdk/ABI.md §3.8): a policy that implements
// policy_plan sees the whole workload before the first event. The replay
// reads every event into memory first (a planning run holds the trace:
// about 40 bytes per event), hands the allocations to the allocator's Plan
// with their lifetimes, then replays the events it holds.

// readAll reads the rest of r.
func readAll(r trace.Reader) ([]trace.Event, error) {
	var events []trace.Event
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return events, nil
		}
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
}

// planRecords returns one record per allocation of events, in event order:
// its id, requested size, the index of its event and of the event that
// frees it (the free's completion; abi.PlanNever when none does), its
// stream index as the allocator numbers it, its tag and private pool.
func planRecords(events []trace.Event, streamIndex func(int64) int32) []abi.PlanRecord {
	var recs []abi.PlanRecord
	live := map[int64]int{} // id -> its record
	for i, e := range events {
		switch e.Op {
		case trace.OpAlloc:
			live[e.ID] = len(recs)
			recs = append(recs, abi.PlanRecord{ID: uint64(e.ID), Size: uint64(e.Size), Alloc: uint64(i), Free: abi.PlanNever,
				Stream: uint32(streamIndex(e.Stream)), Tag: uint32(e.Tag), Pool: uint32(e.Pool)})
		case trace.OpFree:
			if k, ok := live[e.ID]; ok {
				recs[k].Free = uint64(i)
				delete(live, e.ID)
			}
		}
	}
	return recs
}

// sliceReader replays events held in memory, with the tags of the reader
// they were read from.
type sliceReader struct {
	events []trace.Event
	next   int
	tags   *trace.Tags
}

func (s *sliceReader) Next() (trace.Event, error) {
	if s.next == len(s.events) {
		return trace.Event{}, io.EOF
	}
	s.next++
	return s.events[s.next-1], nil
}

func (s *sliceReader) Tags() *trace.Tags { return s.tags }

// plan runs the planning step when the policy plans: it returns the
// reader to replay (the events read) or r itself.
func plan(r trace.Reader, a *host.Allocator, pol host.Policy) (trace.Reader, error) {
	if !pol.Implements(abi.HookPlan) {
		return r, nil
	}
	events, err := readAll(r)
	if err != nil {
		return nil, err
	}
	if err := a.Plan(planRecords(events, a.StreamIndex)); err != nil {
		return nil, err
	}
	return &sliceReader{events: events, tags: r.Tags()}, nil
}
