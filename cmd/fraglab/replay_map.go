package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/fraglab/fraglab/internal/atomicfile"
	"github.com/fraglab/fraglab/internal/units"
	"github.com/fraglab/fraglab/replay"
	"github.com/fraglab/fraglab/segmap"
)

// mapChoice is what --map-at asked for.
type mapChoice struct {
	flag  string       // as given ("" for the default)
	first replay.MapAt // what the replay takes
	peak  bool         // peak, or the default's fallback when there is no OOM
}

// parseMapAt reads --map and --map-at; nil when no map is asked for.
func parseMapAt(out, at string) (*mapChoice, error) {
	if out == "" {
		if at != "" {
			return nil, fmt.Errorf("--map-at %s needs --map FILE.svg to say where the picture goes", at)
		}
		return nil, nil
	}
	c := &mapChoice{flag: at}
	switch at {
	case "":
		c.first, c.peak = replay.MapAt{FirstOOM: true}, true
	case "first-oom":
		c.first = replay.MapAt{FirstOOM: true}
	case "peak":
		c.first, c.peak = replay.MapAt{Event: -1}, true // no map on the first pass: it finds the peak
	default:
		n, err := strconv.ParseInt(at, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("--map-at %q: expected first-oom, peak or an event index (0 or more)", at)
		}
		c.first = replay.MapAt{Event: n}
	}
	return c, nil
}

// writeMap draws the map the replay took, or replays again (again) to take
// the map at the peak, and writes it to path.
func writeMap(cmd *cobra.Command, path string, c *mapChoice, res *replay.Result, again func(event int64) (*replay.Result, error)) error {
	m := res.Maps[0]
	events := res.Metrics.Events
	switch {
	case m != nil:
	case c.flag == "first-oom":
		return fmt.Errorf("--map-at first-oom: the run had no OOM (%d events); try --map-at peak or an event index", events)
	case c.peak:
		if res.PeakEvent < 0 {
			return fmt.Errorf("--map: the trace has no events, nothing to draw")
		}
		r2, err := again(res.PeakEvent)
		if err != nil {
			return fmt.Errorf("--map: replaying again to draw the peak: %w", err)
		}
		if m = r2.Maps[0]; m == nil {
			return fmt.Errorf("--map: the second replay did not reach event %d, the peak of the first: the replay is not deterministic", res.PeakEvent)
		}
		m.At = "peak"
	default:
		return fmt.Errorf("--map-at %s: past the trace's end: it has %d events (0 to %d)", c.flag, events, events-1)
	}
	m.Policy = res.Policy.Name
	svg := segmap.SVG(m, segmap.Options{})
	if err := atomicfile.Write(path, svg); err != nil {
		return fmt.Errorf("--map: %w", err)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "fraglab: segment map after event %d (%s) written to %s: %d segments, %s\n",
		m.Event, m.At, path, len(m.Segments), units.Format(int64(len(svg))))
	return nil
}
