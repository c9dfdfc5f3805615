// Package runner executes an experiment's matrix: every run in its own
// worker process, a re-execution of the current binary started through
// hashicorp/go-plugin (net/rpc), a few at a time. Each run's
// runrecord.Record is written to OUT/runs/<id>.json as soon as the run
// ends, so an interrupted sweep loses nothing, and a second sweep skips the
// runs already recorded with status ok.
//
// A binary that uses Run must call Serve first thing in main when
// IsWorker reports true:
//
//	func main() {
//		if runner.IsWorker() {
//			runner.Serve(runner.WorkerOptions{})
//			return
//		}
//		...
//	}
package runner

import (
	"context"
	"fmt"
	"maps"
	"net/rpc"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/internal/runrecord"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/replay/setup"
	"github.com/fraglab/fraglab/segmap"
)

// The magic cookie go-plugin hands the worker in its environment. It is a
// guard against running the worker by mistake, not a security measure.
const (
	CookieKey   = "FRAGLAB_RUNNER_WORKER"
	CookieValue = "7c1f0d3e-fraglab-run-worker-v1"
)

// Handshake is the go-plugin handshake of host and worker.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   CookieKey,
	MagicCookieValue: CookieValue,
}

const pluginName = "run"

// IsWorker reports whether this process was started as a run worker.
func IsWorker() bool { return os.Getenv(CookieKey) == CookieValue }

// Spec is everything a worker needs to execute one run. It crosses the
// process boundary (gob over net/rpc) and is JSON-serialisable.
type Spec struct {
	ID         string `json:"id"`
	Experiment string `json:"experiment"`

	// Workload: a trace (Trace, with Device for a .pickle snapshot) or a
	// generator (Generator, GeneratorParams, Seed).
	Workload        string            `json:"workload"` // display name ("name#seed" for generators)
	Trace           string            `json:"trace,omitempty"`
	Device          *int              `json:"device,omitempty"`
	Generator       string            `json:"generator,omitempty"`
	GeneratorParams map[string]string `json:"generator_params,omitempty"`
	Seed            int64             `json:"seed,omitempty"`

	// Policy: a built-in name or a .wasm path (PolicyPath, resolved).
	Policy     string            `json:"policy"`
	PolicyPath string            `json:"policy_path,omitempty"`
	Label      string            `json:"label"`
	Params     map[string]string `json:"params"`

	Capacity int64 `json:"capacity"` // bytes; 0 unlimited
	Repeat   int   `json:"repeat"`

	MemoryLimitPages uint32        `json:"memory_limit_pages,omitempty"`
	HangTimeout      time.Duration `json:"hang_timeout,omitempty"` // 0: replay.DefaultHangTimeout
	Fallback         bool          `json:"fallback,omitempty"`     // on_policy_error: fallback
	MinCapacity      bool          `json:"min_capacity,omitempty"` // also find the smallest capacity with no OOM (searched on sim)
	// CheckEvery > 0 runs the allocator's invariant checker after every
	// CheckEvery-th event and after the last (tests; replay.Options).
	CheckEvery int64 `json:"check_every,omitempty"`

	// Device: sim (default), cuda:N or auto; a latency profile for sim;
	// canary mode.
	DeviceKind     string `json:"device_kind,omitempty"`
	LatencyProfile string `json:"latency_profile,omitempty"`
	Canary         bool   `json:"canary,omitempty"`

	// MapEvent, when set, is the event of the baseline policy's first OOM
	// on the same workload, capacity and repeat: the run records its
	// segments after it (Record.BaselineMap). The runner sets it.
	MapEvent *int64 `json:"map_event,omitempty"`
}

// deviceKind is the device as asked, "sim" by default.
func (s *Spec) deviceKind() string {
	if s.DeviceKind == "" {
		return "sim"
	}
	return s.DeviceKind
}

// timelinePoints is how many points of the reserved/allocated timeline a
// record keeps for charts.
const timelinePoints = 300

// Key is what --only filters match: "workload/policy-label".
func (s *Spec) Key() string { return s.Workload + "/" + s.Label }

// newRecord is the record of s without an outcome.
func (s *Spec) newRecord() *runrecord.Record {
	mod := s.Policy
	if s.PolicyPath != "" {
		mod = s.PolicyPath
	}
	return &runrecord.Record{ID: s.ID, Experiment: s.Experiment, Workload: s.Workload, Policy: s.Label,
		PolicyModule: mod, Params: maps.Clone(s.Params), Device: s.deviceKind(), Capacity: s.Capacity, Repeat: s.Repeat}
}

// failedRecord is s's record with status failed, the reason made from
// format and args, and the time elapsed since start.
func (s *Spec) failedRecord(start time.Time, format string, args ...any) *runrecord.Record {
	rec := s.newRecord()
	rec.Status, rec.Error = runrecord.StatusFailed, fmt.Sprintf(format, args...)
	rec.ElapsedSeconds = time.Since(start).Seconds()
	return rec
}

// Execute runs s in this process and returns its record: status ok with
// metrics, or failed with the reason. It is what a worker does.
func Execute(ctx context.Context, s *Spec) *runrecord.Record {
	start := time.Now()
	rec := s.newRecord()
	err := execute(ctx, s, rec)
	rec.ElapsedSeconds = time.Since(start).Seconds()
	if err != nil {
		rec.Status, rec.Error, rec.Metrics = runrecord.StatusFailed, err.Error(), nil
	} else {
		rec.Status = runrecord.StatusOK
	}
	return rec
}

func execute(ctx context.Context, s *Spec, rec *runrecord.Record) error {
	mod, err := setup.LoadPolicy(ctx, s.Policy, s.PolicyPath)
	if err != nil {
		return err
	}
	rec.PolicyHash = mod.Hash
	sel, err := cudadriver.ParseSelector(s.deviceKind())
	if err != nil {
		return err
	}
	// As `fraglab replay`: one setup (setup.New), so a snapshot's tag
	// rules and recorded allocator settings (the pytorch policy starts from
	// them, under the experiment's parameters) are the CLI's.
	ws := setup.WorkloadSpec{Trace: s.Trace, SnapshotDevice: s.Device, ReadSnapshot: readSnapshot, // cached: a pooled worker serves many runs
		Generator: s.Generator, GeneratorParams: s.GeneratorParams, Seed: s.Seed, Capacity: setup.Capacity{Bytes: s.Capacity}}
	run, err := setup.New(ctx, setup.Spec{Workload: ws, Policy: s.Policy, Module: mod, Params: s.Params,
		Device: setup.DeviceSpec{Selector: sel, LatencyProfile: s.LatencyProfile}})
	if err != nil {
		return err
	}
	defer run.Close()

	opts := replay.Options{MemoryLimitPages: s.MemoryLimitPages, HangTimeout: s.HangTimeout,
		Fallback: s.Fallback, PolicyLog: os.Stderr, Canary: s.Canary,
		CheckInvariants: s.CheckEvery > 0, CheckEvery: s.CheckEvery}
	opts.Timeline = timelinePoints
	opts.ExplainOOMs = 1
	opts.Maps = []replay.MapAt{{FirstOOM: true}}
	if s.MapEvent != nil {
		opts.Maps = append(opts.Maps, replay.MapAt{Event: *s.MapEvent})
	}
	dev := run.Device.Device
	if info := dev.Info(); info.Backend == "sim" {
		rec.Device = "sim"
	} else if c, ok := dev.(*cudadriver.CUDA); ok {
		rec.Device = fmt.Sprintf("cuda:%d", c.Index())
	}
	res, err := run.Replay(ctx, opts)
	if err != nil {
		return err
	}
	rec.DeviceInfo = run.Report(res)
	m := res.Metrics
	rec.Metrics = &m
	rec.Offline = res.Policy.Offline
	rec.Timeline = res.Timeline
	if len(res.OOMReports) > 0 {
		rec.FirstOOMReport = &res.OOMReports[0]
	}
	rec.SegmentMap = compactMap(res.Maps[0])
	if len(res.Maps) > 1 {
		rec.BaselineMap = compactMap(res.Maps[1])
	}
	if s.MinCapacity {
		opts.Timeline, opts.ExplainOOMs, opts.Maps = 0, 0, nil
		opts.Params, opts.Initial = run.Params, run.Workload.Initial
		mc, err := replay.MinCapacity(ctx, run.Reopener(), run.Module, opts)
		if err != nil {
			return fmt.Errorf("min_capacity: %w", err)
		}
		rec.MinCapacity = &mc
	}
	if f := res.PolicyFailure; f != nil {
		fmt.Fprintf(os.Stderr, "fraglab: the policy failed, and the rest of the run used the host defaults (on_policy_error: fallback): %v\n", f)
	}
	return nil
}

// compactMap bounds a segment map for a record; nil stays nil.
func compactMap(m *segmap.Map) *segmap.Map {
	if m == nil {
		return nil
	}
	m.Compact(runrecord.MapSegments, runrecord.MapResolution)
	return m
}

// WorkerOptions configure Serve.
type WorkerOptions struct {
	// BeforeRun, when set, is called with each spec before it runs (tests:
	// make the worker crash or hang for a given run).
	BeforeRun func(*Spec)
}

// Serve makes this process a run worker: it answers the host's requests
// until the host lets it go, then exits. Call it only when IsWorker.
func Serve(o WorkerOptions) {
	// go-plugin points os.Stderr at a stream that is lost when the process
	// ends abruptly; the watchdog's hang report must reach the real stderr.
	stderr := os.Stderr
	// The sweep's death ends the worker (see EnvLifeline).
	watchLifeline(stderr)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{pluginName: &workerPlugin{impl: &workerServer{opts: o, stderr: stderr}}},
		Logger:          hclog.New(&hclog.LoggerOptions{Output: stderr, Level: hclog.Off}),
	})
	os.Exit(0)
}

// workerPlugin is the go-plugin glue of the net/rpc worker.
type workerPlugin struct{ impl *workerServer }

func (p *workerPlugin) Server(*plugin.MuxBroker) (any, error) { return p.impl, nil }
func (p *workerPlugin) Client(_ *plugin.MuxBroker, c *rpc.Client) (any, error) {
	return &workerClient{c: c}, nil
}

// workerServer is the RPC receiver in the worker process.
type workerServer struct {
	opts   WorkerOptions
	stderr *os.File
}

// Run executes one spec.
func (w *workerServer) Run(s Spec, rec *runrecord.Record) error {
	os.Stderr = w.stderr
	if w.opts.BeforeRun != nil {
		w.opts.BeforeRun(&s)
	}
	*rec = *Execute(context.Background(), &s)
	return nil
}

type workerClient struct{ c *rpc.Client }

func (c *workerClient) run(s *Spec) (*runrecord.Record, error) {
	var rec runrecord.Record
	if err := c.c.Call("Plugin.Run", *s, &rec); err != nil {
		return nil, err
	}
	return &rec, nil
}
