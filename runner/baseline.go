package runner

import (
	"context"
	"slices"
	"sync"

	"github.com/fraglab/fraglab/internal/runrecord"
)

// baselines lets the runs of other policies draw their segments at the
// baseline policy's first OOM event (Record.BaselineMap): the baseline
// runs go first, and a run of another policy waits for the baseline run
// of its workload, capacity and repeat before it starts. A worker takes a
// run only after every run before it in the order was taken, so the runs
// waited for are running or done: the wait cannot deadlock.
type baselines struct {
	mu    sync.Mutex
	event map[groupKey]int64         // the baseline's first OOM event, when it had one
	ready map[groupKey]chan struct{} // closed when the baseline run of this sweep ends
}

// groupKey is a workload, capacity and repeat: the runs compared.
type groupKey struct {
	workload string
	capacity int64
	repeat   int
}

func keyOf(s *Spec) groupKey { return groupKey{s.Workload, s.Capacity, s.Repeat} }

func isBaseline(s *Spec) bool { return s.Label == runrecord.Baseline }

// newBaselines finds, for each group, the baseline's first OOM: from the
// record of a baseline run already done (recs, or the runs directory for
// one outside this selection: another shard's, or left out by --only), or
// from the baseline run to come (in todo).
func newBaselines(runsDir string, all, specs []Spec, recs []*runrecord.Record, todo []int) *baselines {
	b := &baselines{event: map[groupKey]int64{}, ready: map[groupKey]chan struct{}{}}
	note := func(k groupKey, r *runrecord.Record) {
		if r != nil && r.Status == runrecord.StatusOK && r.Metrics != nil && r.Metrics.FirstOOM >= 0 {
			b.event[k] = r.Metrics.FirstOOM
		}
	}
	for _, i := range todo {
		if isBaseline(&specs[i]) {
			b.ready[keyOf(&specs[i])] = make(chan struct{})
		}
	}
	for i := range specs {
		if k := keyOf(&specs[i]); isBaseline(&specs[i]) && b.ready[k] == nil {
			note(k, recs[i])
		}
	}
	for i := range all {
		k := keyOf(&all[i])
		if _, ok := b.event[k]; ok || b.ready[k] != nil || !isBaseline(&all[i]) {
			continue
		}
		note(k, readRecord(runsDir, all[i].ID))
	}
	return b
}

// order puts the baseline runs of todo first, the others after them, each
// in matrix order.
func (b *baselines) order(specs []Spec, todo []int) []int {
	out := slices.Clone(todo)
	slices.SortStableFunc(out, func(x, y int) int {
		bx, by := isBaseline(&specs[x]), isBaseline(&specs[y])
		switch {
		case bx == by:
			return 0
		case bx:
			return -1
		}
		return 1
	})
	return out
}

// wait, for a run of another policy than the baseline, waits for its
// group's baseline run and sets s.MapEvent to the baseline's first OOM
// event, if it had one; false when ctx ended first.
func (b *baselines) wait(ctx context.Context, s *Spec) bool {
	if isBaseline(s) {
		return true
	}
	k := keyOf(s)
	b.mu.Lock()
	ch := b.ready[k]
	b.mu.Unlock()
	if ch != nil {
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if ev, ok := b.event[k]; ok {
		s.MapEvent = &ev
	}
	return true
}

// done notes the end of run s (rec nil when interrupted): a baseline
// run's first OOM, and that its group need not wait.
func (b *baselines) done(s *Spec, rec *runrecord.Record) {
	if !isBaseline(s) {
		return
	}
	k := keyOf(s)
	b.mu.Lock()
	defer b.mu.Unlock()
	if rec != nil && rec.Status == runrecord.StatusOK && rec.Metrics != nil && rec.Metrics.FirstOOM >= 0 {
		b.event[k] = rec.Metrics.FirstOOM
	}
	if ch := b.ready[k]; ch != nil {
		close(ch)
		b.ready[k] = nil // a second baseline run of the group (a duplicate label) must not close it again
	}
}
