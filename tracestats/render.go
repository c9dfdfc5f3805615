package tracestats

import (
	"fmt"
	"html"
	"io"
	"strconv"
	"strings"

	"github.com/fraglab/fraglab/internal/units"
)

// WriteText renders s for a terminal; name is the trace's file name.
func WriteText(w io.Writer, s *Stats, name string) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("trace        %s\n", name)
	empty := count(s.EmptyCache)
	if s.EmptyCachePool > 0 {
		empty += " (" + count(s.EmptyCachePool) + " of a private pool)"
	}
	if s.FreeRequested > 0 || s.ReleasePool > 0 || s.EmptyCachePool > 0 {
		p("events       %s (alloc %s, free %s, empty_cache %s, free_requested %s, release_pool %s)\n", count(s.Events),
			count(s.Allocs), count(s.Frees), empty, count(s.FreeRequested), count(s.ReleasePool))
	} else {
		p("events       %s (alloc %s, free %s, empty_cache %s)\n", count(s.Events), count(s.Allocs), count(s.Frees), count(s.EmptyCache))
	}
	if s.InitialLive > 0 {
		p("initial      %s allocations live before the first event, %s\n", count(s.InitialLive), units.Format(s.InitialBytes))
	}
	p("allocated    %s in %s requests; 1-10 MiB band: %.1f%% of the bytes\n", units.Format(s.AllocatedBytes), count(s.Allocs), 100*s.BandShare)
	at := "before the first event"
	if s.PeakEvent >= 0 {
		at = "at event " + count(s.PeakEvent)
	}
	p("peak live    %s (%d bytes, %s allocations) %s\n", units.Format(s.PeakLiveBytes), s.PeakLiveBytes, count(s.PeakLiveCount), at)
	p("live at end  %s allocations, %s\n", count(s.LiveAtEnd), units.Format(s.LiveBytesAtEnd))
	if s.PrivatePools > 0 {
		p("pools        %s private pools; peak live in them %s (%d bytes) at event %s\n", count(s.PrivatePools),
			units.Format(s.PeakPrivateBytes), s.PeakPrivateBytes, count(s.PeakPrivateEvent))
	}
	if s.Failures > 0 {
		p("failures     %s failed allocations recorded by the trace (RMM allocate failure, snapshot oom):\n", count(s.Failures))
		for _, f := range s.FailureList {
			line := ""
			if f.Line > 0 {
				line = fmt.Sprintf(" (line %d)", f.Line)
			}
			p("               before event %s: %s on stream %#x%s\n", count(f.Event), units.Format(f.Size), uint64(f.Stream), line)
		}
		if n := s.Failures - int64(len(s.FailureList)); n > 0 {
			p("               and %s more\n", count(n))
		}
	}
	p("\nlive bytes over events (each column the largest in its span; peak %s)\n", units.Format(s.PeakLiveBytes))
	p("  %s\n", sparkline(s.Curve, 64))
	if n := len(s.Curve); n > 0 {
		p("  events 0 .. %s\n", count(s.Curve[n-1].Event))
	}

	p("\nrequest sizes (bins at powers of two and PyTorch's boundaries)\n")
	var most int64
	for _, bin := range s.Sizes {
		most = max(most, bin.Count)
	}
	bi := 0
	for _, bin := range s.Sizes {
		for bi < len(Boundaries) && Boundaries[bi].First <= bin.Lo {
			p("  %s %s\n", strings.Repeat("-", 22), Boundaries[bi].Name)
			bi++
		}
		lo, hi := rangeLabel(bin.Lo, bin.Hi)
		p("  %9s %-12s %10s  %10s  %s\n", lo, hi, count(bin.Count), units.Format(bin.Bytes), bar(bin.Count, most, 30))
	}

	p("\nlifetimes in events (alloc to free)\n")
	p("  %-14s %10s %11s %10s %10s %10s %10s %10s %12s\n", "", "allocs", "bytes", "freed", "p50", "p90", "p99", "max", "never freed")
	for _, g := range s.Classes {
		writeGroup(&b, "size "+g.Name, g)
	}
	for _, g := range s.Tags {
		writeGroup(&b, "tag "+g.Name, g)
	}

	p("\nstreams\n")
	for _, st := range s.Streams {
		p("  %-20s %10s allocs  %s\n", streamName(st.Stream), count(st.Allocs), units.Format(st.Bytes))
	}
	if len(s.Pools) > 0 {
		p("\nprivate pools\n")
		for _, pl := range s.Pools {
			emptied := ""
			if pl.Emptied > 0 {
				emptied = ", emptied " + times(pl.Emptied)
			}
			p("  %-20s %10s allocs  %10s  peak live %10s  released %s%s\n", "pool "+count(pl.Pool), count(pl.Allocs),
				units.Format(pl.Bytes), units.Format(pl.PeakLive), times(pl.Releases), emptied)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeGroup(b *strings.Builder, name string, g Group) {
	if g.Allocs == 0 {
		fmt.Fprintf(b, "  %-14s %10s\n", name, "0")
		return
	}
	l := g.Lifetime
	if l.Freed == 0 {
		fmt.Fprintf(b, "  %-14s %10s %11s %10s %10s %10s %10s %10s %12s\n", name, count(g.Allocs), units.Format(g.Bytes), "0", "-", "-", "-", "-", count(l.NeverFreed))
		return
	}
	fmt.Fprintf(b, "  %-14s %10s %11s %10s %10s %10s %10s %10s %12s\n", name, count(g.Allocs), units.Format(g.Bytes),
		count(l.Freed), count(l.P50), count(l.P90), count(l.P99), count(l.Max), count(l.NeverFreed))
}

// times says how many times: "never", "once", "2 times".
func times(n int64) string {
	switch n {
	case 0:
		return "never"
	case 1:
		return "once"
	}
	return count(n) + " times"
}

func streamName(s int64) string {
	if s == 0 {
		return "0 (default)"
	}
	return fmt.Sprintf("%d (%#x)", s, uint64(s))
}

// count formats n with thousands separators.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}

// short formats a bin edge: exact binary units when the edge is one.
// rangeLabel names a bin [lo, hi): "1 MiB", "exactly" for a one-size bin;
// ">1 MiB", ".. 2 MiB" for a bin that starts just past a boundary.
func rangeLabel(lo, hi int64) (string, string) {
	if hi == lo+1 {
		return short(lo), "exactly"
	}
	l := short(lo)
	for _, b := range Boundaries {
		if b.First == lo && b.First != b.Bytes {
			l = ">" + short(b.Bytes)
		}
	}
	return l, ".. " + short(hi)
}

func short(n int64) string {
	if n == 1<<63-1 {
		return "inf"
	}
	for _, u := range []struct {
		name  string
		shift uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + " " + u.name
		}
	}
	return units.Format(n)
}

func bar(n, most int64, width int) string {
	if most == 0 {
		return ""
	}
	k := int((n*int64(width) + most - 1) / most)
	return strings.Repeat("#", k)
}

// sparkline draws the curve in cols columns of eighth blocks, each column
// the largest value of the points it covers.
func sparkline(pts []Point, cols int) string {
	if len(pts) == 0 {
		return "(no events)"
	}
	cols = min(cols, len(pts))
	col := make([]int64, cols)
	var most int64
	for i, pt := range pts {
		c := i * cols / len(pts)
		col[c] = max(col[c], pt.Live)
		most = max(most, pt.Live)
	}
	levels := []rune(" ▁▂▃▄▅▆▇█")
	var b strings.Builder
	for _, v := range col {
		k := 0
		if most > 0 {
			k = int((v*8 + most - 1) / most)
		}
		b.WriteRune(levels[k])
	}
	return b.String()
}

// WriteSVG renders the live-bytes curve and the size histogram (with the
// boundaries marked) as a standalone SVG of about 3 KB plus the curve.
func WriteSVG(w io.Writer, s *Stats, title string) error {
	const (
		W, H   = 800, 560
		left   = 70
		right  = 20
		plotW  = W - left - right
		curveT = 50
		curveH = 190
		histT  = 320
		histH  = 190
	)
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", W, H, W, H)
	p(`<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	p(`<text x="%d" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(title))

	// Live bytes over events.
	p(`<text x="%d" y="%d">live requested bytes over events (peak %s at event %d)</text>`+"\n", left, curveT-8, units.Format(s.PeakLiveBytes), s.PeakEvent)
	p(`<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", left, curveT, plotW, curveH)
	var lastEvent int64 = 1
	if n := len(s.Curve); n > 0 && s.Curve[n-1].Event > 0 {
		lastEvent = s.Curve[n-1].Event
	}
	top := max(s.PeakLiveBytes, 1)
	xOf := func(e int64) float64 { return left + float64(plotW)*float64(e)/float64(lastEvent) }
	yOf := func(v int64) float64 { return curveT + curveH - float64(curveH)*float64(v)/float64(top) }
	if len(s.Curve) > 0 {
		var pts strings.Builder
		for _, pt := range s.Curve {
			fmt.Fprintf(&pts, "%.1f,%.1f ", xOf(pt.Event), yOf(pt.Live))
		}
		p(`<polyline fill="none" stroke="#1f77b4" stroke-width="1.2" points="%s"/>`+"\n", strings.TrimSpace(pts.String()))
	}
	if s.PeakEvent >= 0 {
		p(`<circle cx="%.1f" cy="%.1f" r="3" fill="#d62728"/>`+"\n", xOf(s.PeakEvent), yOf(s.PeakLiveBytes))
	}
	p(`<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-4, curveT+8, short(top))
	p(`<text x="%d" y="%d" text-anchor="end">0</text>`+"\n", left-4, curveT+curveH)
	p(`<text x="%d" y="%d" text-anchor="end">event %d</text>`+"\n", left+plotW, curveT+curveH+14, lastEvent)

	// Size histogram: one bar per non-empty bin, height by count.
	p(`<text x="%d" y="%d">request sizes (count; red lines: 512 B rounding, 1 MiB small/large pool, 10 MiB, 20 MiB segment; 1-10 MiB band %.1f%% of bytes)</text>`+"\n", left, histT-8, 100*s.BandShare)
	p(`<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", left, histT, plotW, histH)
	var most int64
	for _, bin := range s.Sizes {
		most = max(most, bin.Count)
	}
	// The x axis spans the bins from the smallest non-empty one to the
	// largest, and always the four boundaries.
	lo, hi := binOf(MinBlockSize), binOf(LargeBuffer)
	if len(s.Sizes) > 0 {
		lo, hi = min(lo, binOf(s.Sizes[0].Lo)), max(hi, binOf(s.Sizes[len(s.Sizes)-1].Lo))
	}
	slot := float64(plotW) / float64(hi-lo+1)
	for _, bin := range s.Sizes {
		k := binOf(bin.Lo)
		h := float64(histH) * float64(bin.Count) / float64(max(most, 1))
		x := left + slot*float64(k-lo)
		fill := "#7f7f7f"
		if bin.Lo > SmallSize && bin.Hi <= MinLargeAlloc { // the 1-10 MiB band
			fill = "#ff7f0e"
		}
		l, r := rangeLabel(bin.Lo, bin.Hi)
		p(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %d requests, %s</title></rect>`+"\n",
			x+1, histT+histH-h, slot-2, h, fill, l, r, bin.Count, units.Format(bin.Bytes))
	}
	for _, bd := range Boundaries {
		x := left + slot*float64(binOf(bd.First)-lo)
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#d62728" stroke-dasharray="3,2"/>`+"\n", x, histT, x, histT+histH+4)
		p(`<text x="%.1f" y="%d" text-anchor="middle" fill="#d62728">%s</text>`+"\n", x, histT+histH+16, short(bd.Bytes))
	}
	for k := lo; k <= hi; k++ {
		if e := binEdges[k]; e&(e-1) == 0 && (k-lo)%4 == 0 {
			p(`<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>`+"\n", left+slot*float64(k-lo), histT+histH+30, short(e))
		}
	}
	p(`<text x="%d" y="%d" text-anchor="end">%d</text>`+"\n", left-4, histT+8, most)
	p("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
