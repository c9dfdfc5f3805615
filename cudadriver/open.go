package cudadriver

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Selector is a device choice as users write it: "sim", "cuda" (device 0),
// "cuda:N", or "auto" (cuda when a driver and a device are present, sim
// otherwise).
type Selector struct {
	Kind  string // "sim", "cuda" or "auto"
	Index int    // CUDA ordinal for cuda and auto
}

// ParseSelector parses sim, cuda, cuda:N or auto.
func ParseSelector(s string) (Selector, error) {
	switch s {
	case "sim", "auto", "cuda":
		return Selector{Kind: s}, nil
	}
	if rest, ok := strings.CutPrefix(s, "cuda:"); ok {
		n, err := strconv.Atoi(rest)
		if err == nil && n >= 0 {
			return Selector{Kind: "cuda", Index: n}, nil
		}
	}
	return Selector{}, fmt.Errorf("device %q: expected sim, cuda, cuda:N (N ≥ 0) or auto", s)
}

// String is the selector as written: sim, auto, cuda:N.
func (s Selector) String() string {
	switch s.Kind {
	case "cuda":
		return "cuda:" + strconv.Itoa(s.Index)
	case "":
		return "sim"
	}
	return s.Kind
}

// OpenOptions configure Open.
type OpenOptions struct {
	// Capacity is the usable bytes: sim's capacity, cuda's cap. 0 means
	// unlimited on sim and the free memory on cuda.
	Capacity int64
	// Latency is the sim's latency profile; ignored on cuda, which
	// measures.
	Latency *LatencyProfile
}

// Open opens the selected device. note is a line for the user when the
// choice needs one (what auto picked and why, a latency profile ignored on
// cuda); empty otherwise. Without a driver, cuda fails with an error
// wrapping ErrNoDriver.
func Open(sel Selector, o OpenOptions) (dev Device, note string, err error) {
	switch sel.Kind {
	case "sim", "":
		return NewSim(SimOptions{Capacity: o.Capacity, Latency: o.Latency}), "", nil
	case "cuda", "auto":
		c, err := OpenCUDA(CUDAOptions{Index: sel.Index, Capacity: o.Capacity})
		if err != nil {
			if sel.Kind == "auto" && errors.Is(err, ErrNoDriver) {
				return NewSim(SimOptions{Capacity: o.Capacity, Latency: o.Latency}),
					fmt.Sprintf("device auto: sim (%v)", err), nil
			}
			return nil, "", err
		}
		if sel.Kind == "auto" {
			note = fmt.Sprintf("device auto: cuda:%d (%s)", sel.Index, c.Info().Name)
		}
		if o.Latency != nil {
			note = strings.TrimPrefix(note+"; latency profile ignored: cuda measures every call", "; ")
		}
		return c, note, nil
	}
	return nil, "", fmt.Errorf("device kind %q: expected sim, cuda or auto", sel.Kind)
}

// Description is what a run records about its device.
type Description struct {
	Selector    string `json:"selector"` // as asked: sim, cuda:0, auto
	Backend     string `json:"backend"`  // sim or cuda
	Name        string `json:"name"`
	Capacity    int64  `json:"capacity"` // bytes; -1 unlimited
	Granularity int64  `json:"granularity"`
	// CUDADriver is cuDriverGetVersion's answer (cuda only), e.g. 12040.
	CUDADriver int `json:"cuda_driver,omitempty"`
	// GPU is NVML's view of the GPU at the end of the run (cuda only);
	// NVMLError says why it is missing.
	GPU       *GPUInfo `json:"gpu,omitempty"`
	NVMLError string   `json:"nvml_error,omitempty"`
	// LatencyProfile names the GPU a sim's latency profile was measured
	// on ("example" for an example profile).
	LatencyProfile string `json:"latency_profile,omitempty"`
	Note           string `json:"note,omitempty"`
}

// Describe describes dev as opened from sel; on cuda it asks NVML for the
// GPU's name, driver, memory and this process's usage.
func Describe(dev Device, sel Selector, latency *LatencyProfile, note string) Description {
	info := dev.Info()
	d := Description{Selector: sel.String(), Backend: info.Backend, Name: info.Name, Capacity: info.Capacity,
		Granularity: info.Granularity, Note: note}
	if c, ok := dev.(*CUDA); ok {
		d.CUDADriver = c.DriverVersion()
		n := OpenNVML()
		defer n.Close()
		if g, err := n.GPU(c.Index()); err != nil {
			d.NVMLError = err.Error()
		} else {
			d.GPU = &g
		}
	} else if latency != nil {
		d.LatencyProfile = latency.Device
		if latency.Example {
			d.LatencyProfile = "example"
		}
	}
	return d
}
