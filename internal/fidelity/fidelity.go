// Package fidelity compares the device operations a replay made with the
// ones PyTorch recorded in a memory snapshot: the check that the pytorch
// policy is PyTorch's allocator.
package fidelity

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/fraglab/fraglab/internal/units"
)

// Op is one segment event: recorded by PyTorch or made by a replay.
type Op struct {
	Event  int64  // workload event it belongs to (-1: before the first)
	Action string // segment_alloc, segment_free, segment_map, segment_unmap
	Addr   uint64
	Size   int64
}

func (o Op) String() string {
	return fmt.Sprintf("event %d %s %s at %#x", o.Event, o.Action, units.Format(o.Size), o.Addr)
}

// same reports whether two ops are the same decision: same event, action
// and size. Addresses are compared separately: they depend on the driver.
func same(a, b Op) bool { return a.Event == b.Event && a.Action == b.Action && a.Size == b.Size }

// Report is the outcome of a comparison.
type Report struct {
	Recorded, Replayed []Op
	Prefix             int // longest common prefix of Recorded and Replayed
	AddrMatches        int // ops of the common prefix whose addresses also match

	RecordedPeak, ReplayedPeak int64 // peak reserved bytes

	AllocAddrs, AllocAddrMatches int // recorded alloc addresses, and how many the replay reproduced

	RecordedOOMs, ReplayedOOMs []int64 // event indexes of the allocations that failed

	// The allocator's state at each recorded OOM, and at the replay's
	// OOMs (as many as were recorded).
	RecordedOOMStates, ReplayedOOMStates []OOMState
}

// OOMState is the allocator at a failed allocation, as PyTorch's oom trace
// entry records it.
type OOMState struct {
	Event      int64 // the workload event that failed
	Size       int64 // the rounded request
	Reserved   int64 // bytes reserved, after the release-and-retry
	DeviceFree int64 // the device's free bytes
}

func (o OOMState) String() string {
	return fmt.Sprintf("event %d: %s asked, %s reserved, %s free on the device",
		o.Event, units.Format(o.Size), units.Format(o.Reserved), units.Format(o.DeviceFree))
}

// Match reports an exact reproduction: every segment event in order and the
// peak reserved to the byte.
func (r *Report) Match() bool {
	return r.Prefix == len(r.Recorded) && r.Prefix == len(r.Replayed) && r.RecordedPeak == r.ReplayedPeak &&
		slices.Equal(r.RecordedOOMs, r.ReplayedOOMs) && slices.Equal(r.RecordedOOMStates, r.ReplayedOOMStates)
}

// Compare fills the comparison of recorded and replayed segment events.
func Compare(recorded, replayed []Op) *Report {
	r := &Report{Recorded: recorded, Replayed: replayed}
	for r.Prefix < len(recorded) && r.Prefix < len(replayed) && same(recorded[r.Prefix], replayed[r.Prefix]) {
		if recorded[r.Prefix].Addr == replayed[r.Prefix].Addr {
			r.AddrMatches++
		}
		r.Prefix++
	}
	return r
}

// counts tallies ops per action.
func counts(ops []Op) map[string]int {
	m := map[string]int{}
	for _, o := range ops {
		m[o.Action]++
	}
	return m
}

// Actions is the order actions are printed in.
var Actions = []string{"segment_alloc", "segment_free", "segment_map", "segment_unmap"}

// Print writes the report for people: counts per action, the longest
// matching prefix, the first divergence with context, peaks and addresses.
func (r *Report) Print(w io.Writer, context int) {
	rc, pc := counts(r.Recorded), counts(r.Replayed)
	fmt.Fprintf(w, "%-15s %10s %10s\n", "action", "recorded", "replayed")
	for _, a := range Actions {
		if rc[a] == 0 && pc[a] == 0 {
			continue
		}
		mark := ""
		if rc[a] != pc[a] {
			mark = "  ≠"
		}
		fmt.Fprintf(w, "%-15s %10d %10d%s\n", a, rc[a], pc[a], mark)
	}
	fmt.Fprintf(w, "\nsegment events in order: %d of %d recorded match (longest common prefix)\n", r.Prefix, len(r.Recorded))
	if r.Prefix > 0 {
		fmt.Fprintf(w, "addresses of those:      %d of %d match\n", r.AddrMatches, r.Prefix)
	}
	if r.Prefix < len(r.Recorded) || r.Prefix < len(r.Replayed) {
		fmt.Fprintf(w, "\nfirst divergence at segment event %d:\n", r.Prefix)
		from := max(0, r.Prefix-context)
		show := func(name string, ops []Op) {
			fmt.Fprintf(w, "  %s:\n", name)
			for i := from; i < min(len(ops), r.Prefix+context+1); i++ {
				mark := "   "
				if i == r.Prefix {
					mark = ">> "
				}
				fmt.Fprintf(w, "    %s#%d %s\n", mark, i, ops[i])
			}
			if r.Prefix >= len(ops) {
				fmt.Fprintf(w, "    >> (no more events)\n")
			}
		}
		show("recorded", r.Recorded)
		show("replayed", r.Replayed)
	}
	peak := "match"
	if r.RecordedPeak != r.ReplayedPeak {
		peak = fmt.Sprintf("differ by %s", units.Format(r.ReplayedPeak-r.RecordedPeak))
	}
	fmt.Fprintf(w, "\npeak reserved: recorded %s (%d), replayed %s (%d): %s\n",
		units.Format(r.RecordedPeak), r.RecordedPeak, units.Format(r.ReplayedPeak), r.ReplayedPeak, peak)
	if r.AllocAddrs > 0 {
		fmt.Fprintf(w, "alloc addresses (segment bases from the trace): %d of %d match\n", r.AllocAddrMatches, r.AllocAddrs)
	}
	if len(r.RecordedOOMs)+len(r.ReplayedOOMs) > 0 {
		oom := "match"
		if !slices.Equal(r.RecordedOOMs, r.ReplayedOOMs) {
			oom = "differ"
		}
		fmt.Fprintf(w, "OOMs at events: recorded %v, replayed %v: %s\n", r.RecordedOOMs, r.ReplayedOOMs, oom)
	}
	for i, rec := range r.RecordedOOMStates {
		if i < len(r.ReplayedOOMStates) && r.ReplayedOOMStates[i] == rec {
			fmt.Fprintf(w, "OOM state at %s: match\n", rec)
			continue
		}
		got := "no OOM"
		if i < len(r.ReplayedOOMStates) {
			got = r.ReplayedOOMStates[i].String()
		}
		fmt.Fprintf(w, "OOM state: recorded %s; replayed %s: differ\n", rec, got)
	}
	verdict := "EXACT MATCH"
	if !r.Match() {
		verdict = "DIVERGES"
	}
	fmt.Fprintln(w, "\n"+verdict)
}

// Summary is one line for tables.
func (r *Report) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d/%d segment events, peak %d/%d", r.Prefix, len(r.Recorded), r.ReplayedPeak, r.RecordedPeak)
	if r.AllocAddrs > 0 {
		fmt.Fprintf(&b, ", alloc addrs %d/%d", r.AllocAddrMatches, r.AllocAddrs)
	}
	return b.String()
}
