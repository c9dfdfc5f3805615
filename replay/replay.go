// Package replay runs one workload through the allocator host under one
// policy on one device and measures the run: the unit every experiment is
// made of.
package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/sdk/abi"
	"github.com/fraglab/fraglab/segmap"
	"github.com/fraglab/fraglab/snapshot"
	"github.com/fraglab/fraglab/trace"
)

// Options configures a run.
type Options struct {
	Params          map[string]string // policy parameters
	DriverLog       io.Writer         // receives every device operation as JSON Lines
	PolicyLog       io.Writer         // receives the policy's log lines
	CheckInvariants bool              // run the allocator's invariant checker after every event
	// CheckEvery, with CheckInvariants, checks after every CheckEvery-th
	// event and after the last one instead (0 or 1: after every event):
	// the checker recounts everything, so long traces use a stride.
	CheckEvery       int64
	MemoryLimitPages uint32 // policy memory cap (0: default)

	// Initial is the allocator state before the first event (a trace that
	// starts mid-run); it appears in the driver log at event -1.
	Initial []host.InitialSegment
	// Place maps an event index to the address the device should give the
	// next segment created while serving it (recorded base addresses), when
	// the device can place allocations.
	Place map[int64]uint64
	// OnDriverOp and OnBlockOp observe every device operation and every
	// allocation, free and OOM.
	OnDriverOp func(host.DriverOp)
	OnBlockOp  func(host.BlockOp)
	// SnapshotOut, when set, receives the run as a PyTorch memory snapshot
	// (pickle) that torch.cuda._memory_viz and pytorch.org/memory_viz open.
	SnapshotOut io.Writer

	// Fallback keeps the run going when the policy fails: the rest of the
	// run uses the host defaults and Result.PolicyFailure says why.
	Fallback bool
	// HangTimeout is how long one event may take (0: DefaultHangTimeout;
	// negative: no watchdog).
	HangTimeout time.Duration
	// Safe makes the policy interruptible: a hung hook is stopped and
	// reported with its arguments (the run fails, or falls back), at a cost
	// on every hook call. Without it a hung hook ends the process.
	Safe bool
	// OnHang replaces the fast-mode report-and-exit (tests).
	OnHang func(msg string)
	// Timeline, when > 0, keeps about that many points of reserved,
	// allocated and requested bytes over event index (Result.Timeline).
	Timeline int
	// AfterEvent, when set, is called after each event with its index and
	// the allocator, to inspect its state (segments, blocks); it must not
	// change it.
	AfterEvent func(event int64, a *host.Allocator)
	// ExplainOOMs is how many OOMs, the first ones, get a report of where
	// the reserved memory was (Result.OOMReports); 0: none.
	ExplainOOMs int
	// Canary fills every allocation with its own pattern on the device and
	// checks it on free (cudadriver.Canary): a damaged pattern, two live
	// blocks on the same bytes, ends the run with a *cudadriver.CanaryError.
	// The device must implement cudadriver.PatternMemory (sim and cuda do).
	Canary bool
	// Progress, when set, is called with the number of events replayed so
	// far each time another ProgressEvery of them are done, between
	// batches and outside the timed part (ns_per_event does not count it).
	Progress func(events int64)
	// Maps asks for pictures of the segments (segmap.Map) after chosen
	// events: Result.Maps has one per MapAt, nil where the event never
	// came (past the trace's end, or no OOM).
	Maps []MapAt
}

// MapAt chooses the event after which a segment map is taken: the first
// OOM's, or Event.
type MapAt struct {
	FirstOOM bool
	Event    int64
}

// ProgressEvery is how many events pass between Options.Progress calls.
const ProgressEvery = 1 << 16

// Result is what a run produced.
type Result struct {
	Metrics  Metrics
	Stats    host.Stats
	Device   cudadriver.Info
	Counters cudadriver.Counters
	// Timings is the time spent in device calls: measured on cuda,
	// estimated from a latency profile on sim (zero without one).
	Timings cudadriver.Timings
	// Canary is what canary mode wrote and checked; nil without it.
	Canary *cudadriver.CanaryStats
	Policy PolicyInfo
	// PolicyFailure is the policy's first failure when Fallback kept the
	// run going; nil otherwise.
	PolicyFailure *host.PolicyError
	// Timeline is set when Options.Timeline asked for it.
	Timeline *Timeline
	// OOMReports explains the first Options.ExplainOOMs OOMs.
	OOMReports []host.OOMReport
	// Maps are the segment maps Options.Maps asked for, in its order.
	Maps []*segmap.Map
	// PeakEvent is the event after which the reserved bytes were highest
	// (the first such); set only when Options.Maps asks for a map.
	PeakEvent int64
}

// PolicyInfo identifies the policy of a run.
type PolicyInfo struct {
	Name   string
	Hash   string // sha256 of the module
	Hooks  []string
	Params map[string]string
	// Offline: the policy plans (implements policy_plan, ABI 1.5): it saw
	// the whole workload before the replay.
	Offline bool
}

// batch is how many events are decoded ahead: the allocator is timed per
// batch, so ns_per_event measures host and policy, not trace decoding.
const batch = 4096

// Run replays the workload of r through a fresh allocator on dev, asking an
// instance of mod for every decision. The trace's own errors, a policy's
// failure or invalid answer, and device failures end the run with an error
// naming the event; OOMs do not (they are counted).
func Run(ctx context.Context, r trace.Reader, mod *wasm.Module, dev cudadriver.Device, opts Options) (*Result, error) {
	inst, err := mod.Instantiate(ctx, wasm.Config{
		Params:           opts.Params,
		Device:           dev.Info(),
		TagName:          r.Tags().Name,
		Log:              opts.PolicyLog,
		MemoryLimitPages: opts.MemoryLimitPages,
		Interruptible:    opts.Safe,
	})
	if err != nil {
		return nil, err
	}
	defer inst.Close()
	info := PolicyInfo{Name: mod.Name, Hash: mod.Hash, Hooks: mod.HookNames(), Params: opts.Params, Offline: inst.Implements(abi.HookPlan)}
	hc := hookControl{running: inst.AppendRunning}
	if opts.Safe {
		hc.interrupt = inst.Interrupt
	}
	return replayWith(ctx, r, inst, inst.AttachStats, hc, info, dev, opts)
}

// RunPolicy replays r under a policy written in Go against the same
// host.Policy contract (reference policies, tests). No watchdog: Go code
// can be preempted.
func RunPolicy(ctx context.Context, r trace.Reader, pol host.Policy, dev cudadriver.Device, opts Options) (*Result, error) {
	opts.HangTimeout = -1
	return replayWith(ctx, r, pol, nil, hookControl{}, PolicyInfo{Name: fmt.Sprintf("%T", pol), Params: opts.Params, Offline: pol.Implements(abi.HookPlan)}, dev, opts)
}

// hookControl is what the hang watchdog may do with a Wasm policy's hooks.
type hookControl struct {
	interrupt func(why string) bool         // safe mode: stop the running hook
	running   func(b []byte) ([]byte, bool) // append the running hook and its arguments
}

func replayWith(ctx context.Context, r trace.Reader, pol host.Policy, attach func(func(key, arg int32) int64),
	hc hookControl, info PolicyInfo, dev cudadriver.Device, opts Options) (*Result, error) {
	var dl *driverLog
	var rec *recorder
	var driverOps []func(host.DriverOp)
	var blockOps []func(host.BlockOp)
	if opts.DriverLog != nil {
		dl = newDriverLog(opts.DriverLog)
		driverOps = append(driverOps, dl.write)
	}
	if opts.SnapshotOut != nil {
		rec = &recorder{free: func() int64 { f, _ := dev.MemInfo(); return f }}
		driverOps = append(driverOps, rec.driverOp)
		blockOps = append(blockOps, rec.blockOp)
	}
	if opts.OnDriverOp != nil {
		driverOps = append(driverOps, opts.OnDriverOp)
	}
	if opts.OnBlockOp != nil {
		blockOps = append(blockOps, opts.OnBlockOp)
	}
	var canary *cudadriver.Canary
	var canaryErr error // the first failure; the run stops after its event
	if opts.Canary {
		c, err := cudadriver.NewCanary(dev, cudadriver.CanaryOptions{})
		if err != nil {
			return nil, err
		}
		canary = c
		blockOps = append(blockOps, func(op host.BlockOp) {
			if canaryErr != nil {
				return
			}
			switch op.Action {
			case host.ActionAlloc:
				canaryErr = c.Alloc(op.ID, op.Addr, op.Size)
			case host.ActionFree:
				canaryErr = c.Free(op.ID)
			}
		})
	}
	hopts := host.Options{OnDriverOp: fanOut(driverOps), OnBlockOp: fanOut(blockOps), Fallback: opts.Fallback, ExplainOOMs: opts.ExplainOOMs}
	mapper := newMapper(opts.Maps, r.Tags().Name)
	if mapper != nil {
		hopts.ExplainOOMs = max(hopts.ExplainOOMs, 1) // the first OOM's request is drawn
	}
	a := host.New(dev, pol, hopts)
	if attach != nil {
		attach(a.Stat)
	}
	if len(opts.Initial) > 0 {
		if err := a.Adopt(opts.Initial); err != nil {
			return nil, fmt.Errorf("initial state: %w", err)
		}
		if canary != nil { // adopted live blocks get their patterns too
			for _, seg := range a.Segments() {
				for _, b := range seg.Blocks() {
					if b.Allocated {
						if err := canary.Alloc(b.ID, b.Addr, b.Size); err != nil {
							return nil, fmt.Errorf("initial state: %w", err)
						}
					}
				}
			}
		}
	}
	r, err := plan(r, a, pol)
	if err != nil {
		return nil, err
	}
	placer, _ := dev.(interface{ PlaceNext(uint64) })
	var tl *timeline
	if opts.Timeline > 0 {
		tl = newTimeline(opts.Timeline)
	}
	var wd *watchdog
	if opts.HangTimeout >= 0 && len(info.Hooks) > 0 {
		timeout := opts.HangTimeout
		if timeout == 0 {
			timeout = DefaultHangTimeout
		}
		wd = startWatchdog(timeout, opts.OnHang, hc)
		defer wd.close()
	}

	res := &Result{Device: dev.Info(), Policy: info}
	events := make([]trace.Event, 0, batch)
	var n, lastProgress int64
	var busy time.Duration
	for done := false; !done; {
		events = events[:0]
		for len(events) < batch {
			e, err := r.Next()
			if errors.Is(err, io.EOF) {
				done = true
				break
			}
			if err != nil {
				return nil, err
			}
			events = append(events, e)
		}
		if wd != nil {
			wd.serve(events, n)
		}
		start := time.Now()
		for _, e := range events {
			a.SetEvent(n)
			if wd != nil {
				wd.event.Store(n)
			}
			placed := false
			if addr, ok := opts.Place[n]; ok && placer != nil {
				placer.PlaceNext(addr)
				placed = true
			}
			var err error
			switch e.Op {
			case trace.OpAlloc:
				err = a.AllocIn(e.ID, e.Size, e.Stream, e.Pool, e.Tag)
			case trace.OpFree:
				err = a.Free(e.ID)
			case trace.OpFreeRequested:
				err = a.FreeRequested(e.ID)
			case trace.OpEmptyCache:
				if e.Pool != 0 {
					err = a.EmptyCachePool(e.Pool)
					if rec != nil {
						rec.emptiedPool(e.Pool)
					}
				} else {
					err = a.EmptyCache()
				}
			case trace.OpReleasePool:
				err = a.ReleasePool(e.Pool)
			default:
				err = fmt.Errorf("event %d: unknown op %v", n, e.Op)
			}
			if placed {
				placer.PlaceNext(0) // a placement the event did not use must not reach a later one
			}
			if tl != nil {
				r, al, rq := a.Bytes()
				tl.add(n, r, al, rq)
			}
			if opts.AfterEvent != nil {
				opts.AfterEvent(n, a)
			}
			if mapper != nil {
				mapper.after(n, a)
			}
			if err == nil && canaryErr != nil {
				err = fmt.Errorf("event %d: %w", n, canaryErr)
			}
			if err == nil && opts.CheckInvariants && (opts.CheckEvery <= 1 || (n+1)%opts.CheckEvery == 0) {
				if cerr := a.Check(); cerr != nil {
					err = fmt.Errorf("event %d: allocator invariant broken: %w", n, cerr)
				}
			}
			if err != nil {
				return nil, err
			}
			n++
		}
		busy += time.Since(start)
		if wd != nil {
			wd.idle()
		}
		if opts.Progress != nil && n-lastProgress >= ProgressEvery {
			lastProgress = n - n%ProgressEvery
			opts.Progress(n)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	if opts.CheckInvariants && opts.CheckEvery > 1 && n%opts.CheckEvery != 0 {
		if err := a.Check(); err != nil {
			return nil, fmt.Errorf("event %d: allocator invariant broken: %w", n-1, err)
		}
	}
	if canary != nil {
		if err := canary.CheckLive(); err != nil {
			return nil, fmt.Errorf("end of the run: %w", err)
		}
	}
	if dl != nil {
		if err := dl.flush(); err != nil {
			return nil, fmt.Errorf("writing the driver log: %w", err)
		}
	}
	if rec != nil {
		if err := snapshot.Write(opts.SnapshotOut, rec.snapshotOf(a)); err != nil {
			return nil, fmt.Errorf("writing the snapshot: %w", err)
		}
	}
	res.PolicyFailure = a.PolicyFailure()
	if tl != nil {
		res.Timeline = tl.result()
	}
	res.Stats = a.Stats()
	res.OOMReports = a.OOMReports()
	if len(res.OOMReports) > opts.ExplainOOMs {
		res.OOMReports = res.OOMReports[:opts.ExplainOOMs] // taken for a map only
	}
	if mapper != nil {
		res.Maps, res.PeakEvent = mapper.maps, mapper.peakEvent
	}
	res.Counters = dev.Counters()
	res.Timings = dev.Timings()
	if canary != nil {
		st := canary.Stats()
		res.Canary = &st
	}
	res.Metrics = metricsOf(res.Stats, n, busy)
	return res, nil
}

// fanOut calls every observer in order; nil when there is none, so the
// host skips building the op at all.
func fanOut[T any](fs []func(T)) func(T) {
	switch len(fs) {
	case 0:
		return nil
	case 1:
		return fs[0]
	}
	return func(v T) {
		for _, f := range fs {
			f(v)
		}
	}
}
