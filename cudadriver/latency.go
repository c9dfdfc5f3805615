package cudadriver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"
)

// LatencyFormat is the format tag of a latency profile file.
const LatencyFormat = "fraglab-latency-profile-1"

// Latency operation names: the keys of LatencyProfile.Ops.
const (
	OpAlloc   = "alloc"
	OpFree    = "free"
	OpReserve = "reserve"
	OpRelease = "release"
	OpMap     = "map"
	OpUnmap   = "unmap"
)

// LatencyOps are the operations a profile may hold, in file order.
var LatencyOps = []string{OpAlloc, OpFree, OpReserve, OpRelease, OpMap, OpUnmap}

// LatencyProfile is the latency of device calls by size, measured on a GPU by
// `fraglab calibrate`; the sim backend uses it to estimate the time a run
// would spend in the driver. Its JSON form is documented in docs/gpu.md.
type LatencyProfile struct {
	Format      string                    `json:"format"`
	Example     bool                      `json:"example,omitempty"` // an illustration, not a measurement
	Note        string                    `json:"note,omitempty"`
	Device      string                    `json:"device"`      // the GPU it was measured on
	Driver      string                    `json:"driver"`      // driver version
	Created     string                    `json:"created"`     // RFC 3339
	Granularity int64                     `json:"granularity"` // bytes
	Repetitions int                       `json:"repetitions"` // samples per point
	Warmup      int                       `json:"warmup"`      // calls discarded before sampling
	Ops         map[string][]LatencyPoint `json:"ops"`
}

// LatencyPoint is the latency of one operation at one size.
type LatencyPoint struct {
	Size     int64 `json:"size"`      // bytes
	MedianNs int64 `json:"median_ns"` // median of the samples
	P90Ns    int64 `json:"p90_ns"`    // 90th percentile
}

// LoadLatencyProfile reads and validates a profile file.
func LoadLatencyProfile(path string) (*LatencyProfile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("latency profile: %w", err)
	}
	p, err := ParseLatencyProfile(b)
	if err != nil {
		return nil, fmt.Errorf("latency profile %s: %w", path, err)
	}
	return p, nil
}

// ParseLatencyProfile decodes and validates a profile: known format, known
// operations, sizes positive and strictly increasing, latencies ≥ 0 with
// p90 ≥ median.
func ParseLatencyProfile(b []byte) (*LatencyProfile, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p LatencyProfile
	if err := dec.Decode(&p); err != nil {
		if se, ok := err.(*json.SyntaxError); ok {
			return nil, fmt.Errorf("byte %d: %v", se.Offset, err)
		}
		return nil, err
	}
	if p.Format != LatencyFormat {
		return nil, fmt.Errorf("format %q, expected %q", p.Format, LatencyFormat)
	}
	if len(p.Ops) == 0 {
		return nil, fmt.Errorf("ops: no operation measured")
	}
	for op, pts := range p.Ops {
		if !slices.Contains(LatencyOps, op) {
			return nil, fmt.Errorf("ops.%s: unknown operation, expected one of %v", op, LatencyOps)
		}
		if len(pts) == 0 {
			return nil, fmt.Errorf("ops.%s: no points", op)
		}
		for i, pt := range pts {
			switch {
			case pt.Size <= 0:
				return nil, fmt.Errorf("ops.%s[%d]: size %d, expected > 0", op, i, pt.Size)
			case i > 0 && pt.Size <= pts[i-1].Size:
				return nil, fmt.Errorf("ops.%s[%d]: size %d after %d, expected increasing sizes", op, i, pt.Size, pts[i-1].Size)
			case pt.MedianNs < 0 || pt.P90Ns < pt.MedianNs:
				return nil, fmt.Errorf("ops.%s[%d]: median_ns %d, p90_ns %d, expected 0 ≤ median ≤ p90", op, i, pt.MedianNs, pt.P90Ns)
			}
		}
	}
	return &p, nil
}

// Write stores p as indented JSON.
func (p *LatencyProfile) Write(path string) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Estimate is the median latency of op at size: interpolated linearly in
// size between the two measured points around it, the first point's value
// below the smallest size, and extrapolated along the last two points
// (never below the last value) above the largest. An operation the
// profile lacks costs 0.
func (p *LatencyProfile) Estimate(op string, size int64) time.Duration {
	if p == nil {
		return 0
	}
	pts := p.Ops[op]
	switch {
	case len(pts) == 0:
		return 0
	case size <= pts[0].Size:
		return time.Duration(pts[0].MedianNs)
	case len(pts) == 1:
		return time.Duration(pts[0].MedianNs)
	}
	i, _ := slices.BinarySearchFunc(pts, size, func(pt LatencyPoint, s int64) int {
		switch {
		case pt.Size < s:
			return -1
		case pt.Size > s:
			return 1
		}
		return 0
	})
	if i == len(pts) {
		a, b := pts[len(pts)-2], pts[len(pts)-1]
		return time.Duration(max(lerp(a, b, size), float64(b.MedianNs)))
	}
	if pts[i].Size == size {
		return time.Duration(pts[i].MedianNs)
	}
	return time.Duration(lerp(pts[i-1], pts[i], size))
}

// lerp is the median latency at size on the line through a and b.
func lerp(a, b LatencyPoint, size int64) float64 {
	f := float64(size-a.Size) / float64(b.Size-a.Size)
	return float64(a.MedianNs) + f*float64(b.MedianNs-a.MedianNs)
}
