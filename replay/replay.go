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
	"github.com/fraglab/fraglab/trace"
)

// Options configures a run.
type Options struct {
	Params           map[string]string // policy parameters
	DriverLog        io.Writer         // receives every device operation as JSON Lines
	PolicyLog        io.Writer         // receives the policy's log lines
	CheckInvariants  bool              // run the allocator's invariant checker after every event
	MemoryLimitPages uint32            // policy memory cap (0: default)

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
}

// Result is what a run produced.
type Result struct {
	Metrics  Metrics
	Stats    host.Stats
	Device   cudadriver.Info
	Counters cudadriver.Counters
	Policy   PolicyInfo
}

// PolicyInfo identifies the policy of a run.
type PolicyInfo struct {
	Name   string
	Hash   string // sha256 of the module
	Hooks  []string
	Params map[string]string
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
	})
	if err != nil {
		return nil, err
	}
	defer inst.Close()
	var dl *driverLog
	hopts := host.Options{OnDriverOp: opts.OnDriverOp, OnBlockOp: opts.OnBlockOp}
	if opts.DriverLog != nil {
		dl = newDriverLog(opts.DriverLog)
		hopts.OnDriverOp = dl.write
		if f := opts.OnDriverOp; f != nil {
			hopts.OnDriverOp = func(op host.DriverOp) { dl.write(op); f(op) }
		}
	}
	a := host.New(dev, inst, hopts)
	inst.AttachStats(a.Stat)
	if len(opts.Initial) > 0 {
		if err := a.Adopt(opts.Initial); err != nil {
			return nil, fmt.Errorf("initial state: %w", err)
		}
	}
	placer, _ := dev.(interface{ PlaceNext(uint64) })

	res := &Result{Device: dev.Info(), Policy: PolicyInfo{Name: mod.Name, Hash: mod.Hash, Hooks: mod.HookNames(), Params: opts.Params}}
	events := make([]trace.Event, 0, batch)
	var n int64
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
		start := time.Now()
		for _, e := range events {
			a.SetEvent(n)
			if addr, ok := opts.Place[n]; ok && placer != nil {
				placer.PlaceNext(addr)
			}
			switch e.Op {
			case trace.OpAlloc:
				err = a.Alloc(e.ID, e.Size, e.Stream, e.Tag)
			case trace.OpFree:
				err = a.Free(e.ID)
			case trace.OpEmptyCache:
				err = a.EmptyCache()
			default:
				err = fmt.Errorf("event %d: unknown op %v", n, e.Op)
			}
			if err == nil && opts.CheckInvariants {
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
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	if dl != nil {
		if err := dl.flush(); err != nil {
			return nil, fmt.Errorf("writing the driver log: %w", err)
		}
	}
	res.Stats = a.Stats()
	res.Counters = dev.Counters()
	res.Metrics = metricsOf(res.Stats, n, busy)
	return res, nil
}
