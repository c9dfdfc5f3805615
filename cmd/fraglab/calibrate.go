package main

import (
	"fmt"
	"os"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/internal/units"
)

func init() { addCommands(calibrateCmd) }

func calibrateCmd() *cobra.Command {
	var (
		device, out, minSize, maxSize string
		reps, warmup                  int
	)
	cmd := &cobra.Command{
		Use:   "calibrate -o PROFILE.json",
		Short: "Measure a GPU's allocation, free, map and unmap latency by size into a latency profile",
		Long: `Measure, on a CUDA GPU, the latency of cuMemAlloc, cuMemFree,
cuMemAddressReserve, map (cuMemCreate + cuMemMap + cuMemSetAccess per
granule), unmap (cuMemUnmap + cuMemRelease per granule) and cuMemAddressFree,
at sizes from --min to --max (powers of two), --repetitions times each after
--warmup discarded rounds, and write the median and 90th percentile of each
as a latency profile (JSON, docs/gpu.md). The sim backend loads it with
replay --latency-profile (or latency_profile: in an experiment) to estimate
the time a run would spend in the driver. Without a GPU it fails with
"no CUDA driver: ...".`,
		Example: `  fraglab calibrate -o h100.json
  fraglab calibrate --device cuda:1 --min 2MiB --max 256MiB --repetitions 50 -o a100.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("-o PROFILE.json is required")
			}
			sel, err := cudadriver.ParseSelector(device)
			if err != nil {
				return err
			}
			if sel.Kind != "cuda" {
				return fmt.Errorf("--device %s: calibrate measures a GPU: give cuda or cuda:N", device)
			}
			lo, err := units.ParseSize(minSize)
			if err != nil {
				return fmt.Errorf("--min: %w", err)
			}
			hi, err := units.ParseSize(maxSize)
			if err != nil {
				return fmt.Errorf("--max: %w", err)
			}
			if lo <= 0 || hi < lo {
				return fmt.Errorf("--min %s --max %s: expected 0 < min ≤ max", minSize, maxSize)
			}
			if reps < 1 || warmup < 0 {
				return fmt.Errorf("--repetitions %d --warmup %d: expected at least 1 repetition and no negative warmup", reps, warmup)
			}
			c, err := cudadriver.OpenCUDA(cudadriver.CUDAOptions{Index: sel.Index})
			if err != nil {
				return err
			}
			defer c.Close()
			sizes := cudadriver.CalibrationSizes(lo, hi)
			opts := cudadriver.CalibrateOptions{Sizes: sizes, Repetitions: reps, Warmup: warmup}
			if warmup == 0 {
				opts.Warmup = -1 // none (0 would be Calibrate's default)
			}
			stderr := cmd.ErrOrStderr()
			if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				bar := progressbar.NewOptions(len(sizes), progressbar.OptionSetWriter(stderr), progressbar.OptionShowCount(),
					progressbar.OptionSetDescription("sizes"), progressbar.OptionClearOnFinish())
				opts.Progress = func(size int64) { bar.Describe("size " + units.Format(size)); _ = bar.Add(1) }
			}
			p, err := cudadriver.Calibrate(c, opts)
			if err != nil {
				return err
			}
			p.Driver = fmt.Sprintf("CUDA %d.%d", c.DriverVersion()/1000, c.DriverVersion()%1000/10)
			nv := cudadriver.OpenNVML()
			if g, err := nv.GPU(sel.Index); err == nil {
				p.Driver += ", NVIDIA " + g.Driver
			}
			nv.Close()
			if err := p.Write(out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s, %d sizes, %d repetitions\n", out, p.Device, len(p.Ops[cudadriver.OpAlloc]), reps)
			if p.Note != "" {
				fmt.Fprintln(cmd.OutOrStdout(), p.Note)
			}
			for _, op := range cudadriver.LatencyOps {
				pts := p.Ops[op]
				first, last := pts[0], pts[len(pts)-1]
				fmt.Fprintf(cmd.OutOrStdout(), "  %-8s %8s: %8.1f µs median (p90 %.1f)   %8s: %8.1f µs median (p90 %.1f)\n", op,
					units.Format(first.Size), float64(first.MedianNs)/1e3, float64(first.P90Ns)/1e3,
					units.Format(last.Size), float64(last.MedianNs)/1e3, float64(last.P90Ns)/1e3)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&device, "device", "cuda:0", "GPU to measure: cuda or cuda:N")
	f.StringVarP(&out, "output", "o", "", "write the profile to FILE")
	f.StringVar(&minSize, "min", "2MiB", "smallest size")
	f.StringVar(&maxSize, "max", "1GiB", "largest size (sizes double from --min)")
	f.IntVar(&reps, "repetitions", 20, "samples per size and operation")
	f.IntVar(&warmup, "warmup", 2, "rounds discarded before sampling each size")
	return cmd
}
