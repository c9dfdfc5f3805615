package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/fraglab/fraglab/cudadriver"
	"github.com/fraglab/fraglab/internal/units"
)

func init() { addCommands(devicesCmd) }

// parseDeviceFlag reads replay's --device: sim, cuda, cuda:N or auto, or
// a bare integer, which keeps its old meaning (a snapshot's device, now
// --snapshot-device). snapDev is -1 unless an integer was given.
func parseDeviceFlag(s string) (sel cudadriver.Selector, snapDev int, err error) {
	sel, snapDev = cudadriver.Selector{Kind: "sim"}, -1
	if s == "" {
		return sel, snapDev, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 {
			return sel, -1, fmt.Errorf("--device %d: a snapshot's device is an integer ≥ 0 (or give sim, cuda, cuda:N or auto)", n)
		}
		return sel, n, nil
	}
	sel, err = cudadriver.ParseSelector(s)
	if err != nil {
		return sel, -1, fmt.Errorf("--device %q: expected sim, cuda, cuda:N or auto (a bare integer N is a snapshot's device, as --snapshot-device N)", s)
	}
	return sel, -1, nil
}

// deviceEntry is one line of `fraglab devices`.
type deviceEntry struct {
	Device      string              `json:"device"` // sim or cuda:N
	Name        string              `json:"name"`
	TotalMemory int64               `json:"total_memory,omitempty"`
	FreeMemory  int64               `json:"free_memory,omitempty"`
	Granularity int64               `json:"granularity"`
	CUDADriver  int                 `json:"cuda_driver,omitempty"`
	GPU         *cudadriver.GPUInfo `json:"nvml,omitempty"`
	Error       string              `json:"error,omitempty"`
}

// deviceList is what `fraglab devices` reports.
type deviceList struct {
	Devices []deviceEntry `json:"devices"`
	// NoCUDA says why no GPU is listed; NVML why NVML answered nothing.
	NoCUDA string `json:"no_cuda,omitempty"`
	NVML   string `json:"nvml_error,omitempty"`
}

func listDevices() deviceList {
	l := deviceList{Devices: []deviceEntry{{Device: "sim", Name: "simulated device (deterministic; capacity from --capacity)",
		Granularity: cudadriver.DefaultGranularity}}}
	n, err := cudadriver.CUDADeviceCount()
	if err != nil {
		l.NoCUDA = err.Error()
		return l
	}
	nv := cudadriver.OpenNVML()
	defer nv.Close()
	if err := nv.Err(); err != nil {
		l.NVML = err.Error()
	}
	for i := range n {
		e := deviceEntry{Device: fmt.Sprintf("cuda:%d", i)}
		c, err := cudadriver.OpenCUDA(cudadriver.CUDAOptions{Index: i})
		if err != nil {
			e.Error = err.Error()
			l.Devices = append(l.Devices, e)
			continue
		}
		e.Name, e.Granularity, e.CUDADriver = c.Info().Name, c.Info().Granularity, c.DriverVersion()
		if free, total, err := c.DriverMemInfo(); err != nil {
			e.Error = err.Error()
		} else {
			e.FreeMemory, e.TotalMemory = free, total
		}
		if nv.Err() == nil {
			if g, err := nv.GPU(i); err == nil {
				e.GPU = &g
			}
		}
		if err := c.Close(); err != nil && e.Error == "" {
			e.Error = err.Error()
		}
		l.Devices = append(l.Devices, e)
	}
	if n == 0 {
		l.NoCUDA = "the CUDA driver sees no device"
	}
	return l
}

func devicesCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List the devices a replay can use: sim, and each CUDA GPU with its memory",
		Long: `List the devices a replay can use: the simulated device, and every CUDA GPU
the driver sees with its name, total and free memory, allocation granularity
and driver version (NVML adds the driver's version string and this process's
usage). Without a GPU it says why none is listed: the loader's error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l := listDevices()
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(l)
			}
			printDevices(cmd.OutOrStdout(), l)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the list as JSON")
	return cmd
}

func printDevices(w io.Writer, l deviceList) {
	for _, d := range l.Devices {
		switch {
		case d.Device == "sim":
			fmt.Fprintf(w, "%-8s %s, granularity %s\n", d.Device, d.Name, units.Format(d.Granularity))
		case d.Name == "":
			fmt.Fprintf(w, "%-8s unusable: %s\n", d.Device, d.Error)
		default:
			fmt.Fprintf(w, "%-8s %s: %s total, %s free, granularity %s, CUDA driver %d.%d",
				d.Device, d.Name, units.Format(d.TotalMemory), units.Format(d.FreeMemory), units.Format(d.Granularity),
				d.CUDADriver/1000, d.CUDADriver%1000/10)
			if d.GPU != nil {
				fmt.Fprintf(w, ", NVIDIA driver %s", d.GPU.Driver)
			}
			fmt.Fprintln(w)
			if d.Error != "" {
				fmt.Fprintf(w, "%-8s   %s\n", "", d.Error)
			}
		}
	}
	if l.NoCUDA != "" {
		fmt.Fprintf(w, "no GPU listed: %s\n", l.NoCUDA)
	}
	if l.NVML != "" {
		fmt.Fprintf(w, "NVML: %s\n", l.NVML)
	}
}
