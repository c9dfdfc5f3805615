package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/host"
	"github.com/fraglab/fraglab/host/wasm"
	"github.com/fraglab/fraglab/internal/atomicfile"
	"github.com/fraglab/fraglab/internal/oomreport"
	"github.com/fraglab/fraglab/internal/units"
	"github.com/fraglab/fraglab/policies"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/replay/setup"
	"github.com/fraglab/fraglab/trace"
)

func init() { addCommands(replayCmd) }

func replayCmd() *cobra.Command {
	var (
		tracePath, policy, capacity, driverLog string
		snapOut, tagRules                      string
		params                                 []string
		asJSON, check, canary                  bool
		device, latencyProfile, deviceInfo     string
		snapDevice                             int
		safe                                   bool
		onError                                string
		hangTimeout                            time.Duration
		memPages                               uint32
		oomReport                              string
		explainOOMs                            int
		mapOut, mapAt                          string
	)
	cmd := &cobra.Command{
		Use:   "replay --trace FILE [--policy NAME|PATH.wasm] [--param key=value ...]",
		Short: "Replay a workload through the allocator under one policy",
		Long: `Replay a workload trace through the allocator host on a device (the
simulated one by default, or a CUDA GPU with --device cuda), asking the
policy for every decision, and print the run's metrics. A trace of 1M
events or more shows a progress line (events, rate, ETA) on stderr when it
is a terminal.

SIZE takes bytes or a binary unit: 80GiB, 512MiB, 4KiB.`,
		Example: `  fraglab replay --trace examples/traces/devlog-small-then-large.jsonl --policy pytorch
  fraglab replay --trace run.jsonl --policy ./my-policy.wasm --param classes=4 --capacity 40GiB --json
  fraglab replay --trace run.pickle --device cuda:0 --capacity 8GiB --canary`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tracePath == "" {
				return fmt.Errorf("--trace is required")
			}
			ps, err := parseParams(params)
			if err != nil {
				return err
			}
			sel, oldSnapDev, err := parseDeviceFlag(device)
			if err != nil {
				return err
			}
			if oldSnapDev >= 0 && snapDevice >= 0 && oldSnapDev != snapDevice {
				return fmt.Errorf("--device %d and --snapshot-device %d disagree: give the snapshot's device once", oldSnapDev, snapDevice)
			}
			rules, err := loadTagRules(tagRules)
			if err != nil {
				return err
			}
			ws, err := workloadSpec(tracePath, max(snapDevice, oldSnapDev), capacity, rules)
			if err != nil {
				return err
			}
			at, err := parseMapAt(mapOut, mapAt)
			if err != nil {
				return err
			}
			if onError != "abort" && onError != "fallback" {
				return fmt.Errorf("--on-policy-error %q: expected abort or fallback", onError)
			}
			run, err := setup.New(cmd.Context(), setup.Spec{Workload: ws, Policy: policy, Params: ps,
				Device: setup.DeviceSpec{Selector: sel, LatencyProfile: latencyProfile}})
			if err != nil {
				return err
			}
			defer run.Close()
			in := run.Workload
			opts := replay.Options{PolicyLog: cmd.ErrOrStderr(), CheckInvariants: check,
				MemoryLimitPages: memPages, Safe: safe, Fallback: onError == "fallback", HangTimeout: hangTimeout,
				Canary: canary, ExplainOOMs: explainOOMs}
			if at != nil {
				opts.Maps = []replay.MapAt{at.first}
			}
			if snapOut != "" {
				f, err := os.Create(snapOut)
				if err != nil {
					return err
				}
				defer f.Close()
				opts.SnapshotOut = f
			}
			if driverLog != "" {
				f, err := os.Create(driverLog)
				if err != nil {
					return err
				}
				defer f.Close()
				opts.DriverLog = f
			}
			if note := run.Device.Note; note != "" {
				fmt.Fprintln(cmd.ErrOrStderr(), "fraglab:", note)
			}
			var endProgress func()
			opts.Progress, endProgress = replayProgress(cmd.ErrOrStderr(), "replay", in.Events, in.Read)
			res, err := run.Replay(cmd.Context(), opts)
			endProgress()
			if err != nil {
				return err
			}
			if at != nil {
				again := func(event int64) (*replay.Result, error) {
					o := opts
					o.SnapshotOut, o.DriverLog, o.PolicyLog = nil, nil, io.Discard
					o.Maps = []replay.MapAt{{Event: event}}
					return run.Again(cmd.Context(), o)
				}
				if err := writeMap(cmd, mapOut, at, res, again); err != nil {
					return err
				}
			}
			rep := run.Report(res)
			if deviceInfo != "" {
				if err := writeJSONFile(deviceInfo, rep); err != nil {
					return fmt.Errorf("--device-info: %w", err)
				}
			}
			if oomReport != "" {
				reports := res.OOMReports
				if reports == nil {
					reports = []host.OOMReport{} // [], not null, when nothing failed
				}
				if err := writeJSONFile(oomReport, reports); err != nil {
					return fmt.Errorf("--oom-report: %w", err)
				}
			}
			if f := res.PolicyFailure; f != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "fraglab: the policy failed, and the rest of the run used the host defaults (--on-policy-error fallback): %v\n", f)
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res.Metrics)
			}
			for _, n := range in.Notes {
				fmt.Fprintln(cmd.OutOrStdout(), n)
			}
			printResult(cmd.OutOrStdout(), tracePath, res)
			printDeviceReport(cmd.OutOrStdout(), rep)
			if len(res.OOMReports) > 0 {
				r := res.OOMReports[0]
				oomreport.Write(cmd.OutOrStdout(), r, res.Metrics.OOMs)
				if oomreport.Fragmented(r) && in.Snapshot != nil {
					dev := ""
					if d := max(snapDevice, oldSnapDev); d >= 0 {
						dev = fmt.Sprintf(" --device %d", d)
					}
					fmt.Fprintf(cmd.OutOrStdout(), "  next        fraglab tune %s%s --capacity %s searches for PYTORCH_CUDA_ALLOC_CONF settings without this OOM\n",
						tracePath, dev, capacity)
				}
			}
			if rr, ok := in.Reader.(*trace.RMMReader); ok && len(rr.Failures()) > 0 {
				f := rr.Failures()
				fmt.Fprintf(cmd.OutOrStdout(), "the RMM log recorded %d allocate failures (its own OOMs; the first before event %d, line %d); this replay had %d OOMs\n",
					len(f), f[0].Event, f[0].Line, res.Metrics.OOMs)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&tracePath, "trace", "", "workload: a trace (.jsonl, .fltr, RMM log .csv; each optionally .gz) or a PyTorch memory snapshot (.pickle)")
	f.StringVar(&tagRules, "tag-rules", "", "YAML rules mapping a snapshot's stack frames to tags (default: the built-in rules; see docs/tags.md)")
	f.StringVar(&policy, "policy", "pytorch", "built-in policy name ("+strings.Join(policies.Names(), ", ")+") or path to a .wasm module")
	f.StringArrayVar(&params, "param", nil, "policy parameter key=value (repeatable)")
	f.StringVar(&capacity, "capacity", "", "device capacity SIZE or unlimited, or from-trace for a PyTorch snapshot (default unlimited)")
	f.StringVar(&device, "device", "sim", "device to replay on: sim, cuda (cuda:0), cuda:N, or auto (cuda when a GPU is present, else sim); a bare integer N keeps its old meaning, --snapshot-device N")
	f.IntVar(&snapDevice, "snapshot-device", -1, "device of a PyTorch snapshot to replay (default: the first with events)")
	f.BoolVar(&canary, "canary", false, "fill every allocation with its own pattern on the device and check it on free: proves no two live blocks share bytes")
	f.StringVar(&latencyProfile, "latency-profile", "", "sim: estimate the time in the driver from this latency profile (from fraglab calibrate)")
	f.StringVar(&deviceInfo, "device-info", "", "write the device, its driver time and canary counts to FILE as JSON")
	f.BoolVar(&asJSON, "json", false, "print the metrics as one JSON object")
	f.StringVar(&driverLog, "driver-log", "", "write every device operation to FILE as JSON Lines")
	f.StringVar(&snapOut, "snapshot-out", "", "write the replayed run as a PyTorch memory snapshot (FILE.pickle) for PyTorch's memory viewer")
	f.BoolVar(&check, "check", false, "run the allocator's invariant checker after every event (slow)")
	f.BoolVar(&safe, "safe", false, "make the policy interruptible: a hung hook is stopped and reported with its arguments (costs ~0.5-1 µs per hook call)")
	f.StringVar(&onError, "on-policy-error", "abort", "when the policy traps, hangs (with --safe) or answers out of range: abort the run, or fallback to the host defaults for the rest of it")
	f.DurationVar(&hangTimeout, "hang-timeout", replay.DefaultHangTimeout, "how long one event may take before the policy counts as hung")
	f.Uint32Var(&memPages, "policy-memory-pages", 0, fmt.Sprintf("cap on the policy's linear memory in 64 KiB pages (default %d)", wasm.DefaultMemoryLimitPages))
	f.IntVar(&explainOOMs, "explain-ooms", 10, "how many OOMs, the first ones, are explained: where the reserved memory was and why it could not serve the request (the table shows the first; --oom-report writes them all)")
	f.StringVar(&oomReport, "oom-report", "", "write the explained OOMs (--explain-ooms) to FILE as a JSON array")
	f.StringVar(&mapOut, "map", "", "draw the device's segments and their blocks at one moment (--map-at) as an SVG picture in FILE (docs/oom.md)")
	f.StringVar(&mapAt, "map-at", "", "when --map draws: first-oom, peak (after the event of the most reserved bytes) or an event index (default: first-oom when the run has an OOM, else peak)")
	atLeast(f, "0", "snapshot-device")
	atLeast(f, "1", "policy-memory-pages")
	atLeast(f, "1ns", "hang-timeout")
	atLeast(f, "0", "explain-ooms")
	return cmd
}

func parseParams(kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--param %q: expected key=value", kv)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("--param %s given twice", k)
		}
		out[k] = v
	}
	return out, nil
}

func printResult(w io.Writer, tracePath string, res *replay.Result) {
	m := res.Metrics
	capacity := "unlimited"
	if res.Device.Capacity > 0 {
		capacity = units.Format(res.Device.Capacity)
	}
	hooks := strings.Join(res.Policy.Hooks, " ")
	if hooks == "" {
		hooks = "none (host defaults)"
	}
	fmt.Fprintf(w, "trace    %s (%d events)\n", tracePath, m.Events)
	fmt.Fprintf(w, "policy   %s  sha256:%.12s  hooks: %s\n", res.Policy.Name, res.Policy.Hash, hooks)
	name := res.Device.Name
	if res.Device.Backend != name {
		name += " (" + res.Device.Backend + ")"
	}
	fmt.Fprintf(w, "device   %s, capacity %s\n\n", name, capacity)
	width := len("segment_unmaps") + 1 // the longest name but for peak_private_reserved, shown only with private pools
	if m.PeakPrivateReserved > 0 {
		width = len("peak_private_reserved")
	}
	row := func(name, value, exact, what string) {
		fmt.Fprintf(w, "%-*s %11s %12s  %s\n", width, name, value, exact, what)
	}
	bytes := func(name string, v int64, what string) { row(name, units.Format(v), fmt.Sprint(v), what) }
	bytes("peak_reserved", m.PeakReserved, "max bytes held from the device")
	bytes("peak_allocated", m.PeakAllocated, "max bytes in allocated blocks")
	bytes("peak_requested", m.PeakRequested, "max live bytes requested")
	bytes("peak_rounded", m.PeakRounded, "the same, each rounded up to 512 B: no policy reserves less")
	if m.PeakPrivateReserved > 0 {
		bytes("peak_private_reserved", m.PeakPrivateReserved, "max bytes held by private pools (CUDA graphs, MemPools)")
	}
	bytes("waste", m.Waste, "peak_reserved - peak_allocated")
	row("frag_ratio", fmt.Sprintf("%.4f", m.FragRatio), "", "1 - peak_allocated/peak_reserved")
	row("ext_frag", fmt.Sprintf("%.4f", m.ExtFrag), "", "1 - largest free/free, at peak reserved")
	first := "no OOM"
	if m.FirstOOM >= 0 {
		first = fmt.Sprintf("first at event %d", m.FirstOOM)
	}
	row("ooms", fmt.Sprint(m.OOMs), "", first)
	row("segment_allocs", fmt.Sprint(m.SegmentAllocs), "", "classic segments allocated")
	row("segment_frees", fmt.Sprint(m.SegmentFrees), "", "classic segments freed")
	row("segment_maps", fmt.Sprint(m.SegmentMaps), "", "expandable-segment maps")
	row("segment_unmaps", fmt.Sprint(m.SegmentUnmaps), "", "expandable-segment unmaps")
	row("events", fmt.Sprint(m.Events), "", "trace events replayed")
	row("ns_per_event", fmt.Sprintf("%.1f", m.NsPerEvent), "", "host + policy, trace decoding excluded")
}

// printDeviceReport prints what the metrics table leaves out: the GPU as
// NVML sees it, the time in the driver, canary mode's work.
func printDeviceReport(w io.Writer, r *replay.DeviceReport) {
	d := r.Device
	if g := d.GPU; g != nil {
		fmt.Fprintf(w, "\ngpu      %s, NVIDIA driver %s, %s total, %s free, this process %s\n",
			g.Name, g.Driver, units.Format(g.TotalMemory), units.Format(g.FreeMemory), units.Format(g.ProcessUsed))
	} else if d.NVMLError != "" {
		fmt.Fprintf(w, "\ngpu      (no NVML: %s)\n", d.NVMLError)
	}
	by := func() string {
		var parts []string
		for _, k := range cudadriver.LatencyOps {
			if v := r.DriverByKind[k]; v > 0 {
				parts = append(parts, fmt.Sprintf("%s %.6f", k, v))
			}
		}
		return strings.Join(parts, ", ")
	}
	switch {
	case r.DriverSeconds != nil:
		fmt.Fprintf(w, "driver_seconds      %.6f  measured (%s)\n", *r.DriverSeconds, by())
	case r.DriverSecondsEst != nil:
		fmt.Fprintf(w, "driver_seconds_est  %.6f  estimated from the latency profile of %s (%s)\n", *r.DriverSecondsEst, d.LatencyProfile, by())
	}
	if c := r.Canary; c != nil {
		fmt.Fprintf(w, "canary   %d blocks filled (%s), %d checked (%s read, %d sampled): no block was overwritten while live\n",
			c.Fills, units.Format(c.FilledBytes), c.Checks, units.Format(c.ReadBytes), c.SampledChecks)
	}
}

// writeJSONFile writes v to path as indented JSON, atomically.
func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'))
}
