package segmap

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/fraglab/fraglab/internal/units"
	"github.com/fraglab/fraglab/sdk/abi"
)

// Options shape the picture.
type Options struct {
	// Width is the picture's width in pixels (default DefaultWidth).
	Width int
	// MaxRows is how many rows of segments are drawn (default
	// DefaultMaxRows); the segments that do not fit, and those narrower
	// than a few pixels, are drawn together as one bar of their sums.
	MaxRows int
	// Title replaces the first line of the header.
	Title string
	// Scale is the bytes per pixel (0: Scale(m, o), the picture's own);
	// pictures drawn side by side share one to compare.
	Scale float64
}

// Defaults of Options.
const (
	DefaultWidth   = 1400
	DefaultMaxRows = 40
)

// Layout constants, in pixels.
const (
	margin    = 10
	rowH      = 40 // a row of segments: label, bar, gap
	barH      = 22
	labelH    = 14
	segGap    = 8
	minSegPx  = 6    // narrower segments are drawn in the group bar
	minRunPx  = 2    // narrower runs are merged with their neighbours
	maxSegs   = 600  // segments drawn one by one, at most; the rest in the group bar
	groupRows = 4    // rows the group bar spans at most, to scale; past them it shrinks
	runBudget = 2500 // runs drawn, at most: past it, runs merge at a coarser resolution
	textPx    = 6.2
	labelFont = 11
)

// Colours of the kinds, of the size classes of untagged live blocks, and
// of tags (cycling).
var (
	kindFill = map[Kind]string{Pending: "#7f7f7f", Free: "#f28e2b", Lent: "#c5b0d5", Unmapped: "url(#segmap-hatch)"}
	// sizeClasses: live blocks by their mean size, when the trace has no tags.
	sizeClasses = []struct {
		below int64
		name  string
		fill  string
	}{
		{1 << 20, "< 1 MiB", "#9ecae1"},
		{32 << 20, "1-32 MiB", "#4292c6"},
		{512 << 20, "32-512 MiB", "#2171b5"},
		{1 << 62, ">= 512 MiB", "#08306b"},
	}
	tagFill = []string{"#4e79a7", "#59a14f", "#76b7b2", "#b07aa1", "#9c755f", "#ff9da7", "#5f6f7f", "#8cd17d", "#499894", "#1f3f77"}
)

// style is the picture's stylesheet; its selectors are scoped to
// svg.segmap, so that pictures inlined in one page share it.
const style = `svg.segmap text{font-family:sans-serif;fill:#222}` +
	`svg.segmap .box{fill:none;stroke:#444;stroke-width:1}` +
	`svg.segmap .priv{stroke:#9467bd;stroke-width:2.5}` +
	`svg.segmap .stitch{stroke-dasharray:4 2}` +
	`svg.segmap .req{fill:#fbd5d5;stroke:#d62728;stroke-width:2}` +
	`svg.segmap .in{font-size:10px}` +
	`svg.segmap .inw{font-size:10px;fill:#fff}`

// css is the stylesheet with the fills of the kinds, size classes and
// tags, as classes.
var css = func() string {
	var b strings.Builder
	b.WriteString(style)
	for _, k := range kinds[1:] {
		fmt.Fprintf(&b, "svg.segmap .%s{fill:%s}", k.Name(), kindFill[k])
	}
	for i, c := range sizeClasses {
		fmt.Fprintf(&b, "svg.segmap .s%d{fill:%s}", i, c.fill)
	}
	for i, c := range tagFill {
		fmt.Fprintf(&b, "svg.segmap .c%d{fill:%s}", i, c)
	}
	return b.String()
}()

// fillClass is the class giving run r its colour.
func fillClass(r Run, byTag bool) string {
	if r.Kind != Live {
		return r.Kind.Name()
	}
	if byTag {
		return fmt.Sprintf("c%d", int(r.Tag)%len(tagFill))
	}
	mean := r.Size / int64(max(r.Blocks, 1))
	for i, c := range sizeClasses {
		if mean < c.below {
			return fmt.Sprintf("s%d", i)
		}
	}
	return fmt.Sprintf("s%d", len(sizeClasses)-1)
}

// scale maps bytes to pixels.
type scale struct{ bpp float64 } // bytes per pixel

func (s scale) px(n int64) float64 { return float64(n) / s.bpp }

// placed is a segment on a row: from x on row row, w pixels wide; wider
// than a row, it starts a row and wraps onto the next ones.
type placed struct {
	seg  *Segment
	row  int
	x, w float64
	barW float64
	runs []Run // the segment's runs, merged for drawing
}

// rows is how many rows p spans.
func (p placed) rows() int {
	if p.w <= p.barW {
		return 1
	}
	return int(math.Ceil(p.w/p.barW - 1e-9))
}

// Rows the scale aims at: the device fills about targetRows rows, and a
// segment spans at most maxWrap.
const (
	targetRows = 16
	maxWrap    = 6
)

// Scale is the bytes per pixel of m's picture under o, when o.Scale does
// not set it: the largest segment spans at most a few rows, and all of
// them fill about targetRows rows.
func Scale(m *Map, o Options) float64 {
	o = o.withDefaults()
	return naturalScale(m.Segments, float64(o.Width-2*margin), o.MaxRows)
}

func naturalScale(segs []Segment, barW float64, maxRows int) float64 {
	var widest, total int64 = 1, 0
	for i := range segs {
		widest = max(widest, segs[i].DrawnSize())
		total += segs[i].DrawnSize()
	}
	wrap := float64(min(maxWrap, max(maxRows/4, 1)))
	return max(float64(widest)/(barW*wrap), float64(total)/(barW*float64(min(targetRows, maxRows))), float64(widest)/(barW*float64(maxRows)))
}

// withDefaults fills in the zero fields of o.
func (o Options) withDefaults() Options {
	if o.Width <= 0 {
		o.Width = DefaultWidth
	}
	o.Width = max(o.Width, 320)
	if o.MaxRows <= 0 {
		o.MaxRows = DefaultMaxRows
	}
	return o
}

// layout chooses the scale (bpp, unless 0) and places the segments, sorted largest first,
// in at most maxRows rows; the rest, and those too narrow to see, are
// returned as the group.
func layout(segs []Segment, barW float64, maxRows int, bpp float64) (scale, []placed, []*Segment) {
	sc := scale{bpp}
	if bpp <= 0 {
		sc.bpp = naturalScale(segs, barW, maxRows)
	}
	var out []placed
	var group []*Segment
	row, x := -1, barW+1 // the current row, and where on it the next segment goes
	for i := range segs {
		s := &segs[i]
		p := placed{seg: s, w: sc.px(s.DrawnSize()), barW: barW}
		if p.w < minSegPx {
			group = append(group, s)
			continue
		}
		if x+p.w > barW+0.01 { // a new row
			p.row = row + 1
		} else {
			p.row, p.x = row, x
		}
		if p.row+p.rows() > maxRows || len(out) == maxSegs {
			group = append(group, s)
			continue
		}
		out = append(out, p)
		row = p.row + p.rows() - 1
		x = p.x + p.w + segGap
		if p.w > barW {
			x = barW + 1 // nothing after a wrapped segment on its last row
		}
	}
	return sc, out, group
}

// Write draws m as an SVG picture. The same map and options always give
// the same bytes.
func Write(w io.Writer, m *Map, o Options) error {
	_, err := w.Write(SVG(m, o))
	return err
}

// SVG returns the picture of m (see Write).
func SVG(m *Map, o Options) []byte {
	o = o.withDefaults()
	barW := float64(o.Width - 2*margin)
	segs := make([]Segment, len(m.Segments))
	copy(segs, m.Segments)
	bySize(segs)
	sc, rows, group := layout(segs, barW, o.MaxRows, o.Scale)
	// Runs narrower than minRunPx merge; past the budget, at a coarser
	// resolution, until the picture's size is bounded.
	unit := int64(sc.bpp * minRunPx)
	for range 20 {
		n := 0
		for i := range rows {
			rows[i].runs = mergeTiny(rows[i].seg.Runs, unit)
			n += len(rows[i].runs)
		}
		if n <= runBudget {
			break
		}
		unit = unit*int64(n)/runBudget + 1
	}
	var b bytes.Buffer
	y := 0.0
	body := func() {
		// Header.
		title := o.Title
		if title == "" {
			title = fmt.Sprintf("segments after event %d", m.Event)
			switch m.At {
			case "first-oom":
				title += " (the first OOM)"
			case "peak":
				title += " (peak reserved)"
			}
			if m.Policy != "" {
				title += " — " + m.Policy
			}
		}
		y = 18
		text(&b, margin, y, "font-size:14px;font-weight:bold", title)
		capacity := "unlimited"
		if m.Capacity > 0 {
			capacity = units.Format(m.Capacity)
		}
		f := units.Format
		y += 18
		n := len(m.Segments)
		if m.Others != nil {
			n += m.Others.Segments
		}
		if m.Capacity > 0 {
			capacity += ", " + f(max(m.DeviceFree, 0)) + " free"
		}
		text(&b, margin, y, "font-size:12px", fmt.Sprintf("capacity %s; reserved %s = allocated %s + cached %s; %d segments",
			capacity, f(m.Reserved), f(m.Allocated), f(m.Reserved-m.Allocated), n))
		y += 10
		if r := m.Request; r != nil {
			y += labelH
			text(&b, margin, y-3, "font-size:11px", fmt.Sprintf("failed request %s (asked %s), %s, stream %d, id %d",
				f(r.Rounded), f(r.Requested), placeName(r.Pool, r.PrivatePool), r.Stream, r.ID))
			w := min(sc.px(r.Rounded), barW)
			fmt.Fprintf(&b, `<rect class="req" data-bytes="%d" x="%s" y="%s" width="%s" height="%d"><title>failed request %s</title></rect>`,
				r.Rounded, f1(margin), f1(y), f1(max(w, 2)), barH/2, f(r.Rounded))
			if sc.px(r.Rounded) > barW {
				text(&b, margin+barW-4, y+barH/2-2, "font-size:10px;text-anchor:end", "wider than the largest segment: not to scale")
			}
			y += barH/2 + 4
			lw := sc.px(r.LargestFree)
			fmt.Fprintf(&b, `<rect class="largest" data-bytes="%d" x="%s" y="%s" width="%s" height="%d" fill="%s"/>`,
				r.LargestFree, f1(margin), f1(y), f1(max(min(lw, barW), 1)), barH/2, kindFill[Free])
			text(&b, margin+min(lw, barW)+6, y+barH/2-2, "font-size:11px", "largest free block "+f(r.LargestFree))
			y += barH/2 + 4
		}
		y = legend(&b, m, y+6, barW)
		// Rows of segments.
		top := y
		for _, p := range rows {
			drawSegment(&b, m, p, top, barW, sc)
		}
		if n := len(rows); n > 0 {
			y = top + float64(rows[n-1].row+rows[n-1].rows())*rowH
		}
		if len(group) > 0 || m.Others != nil {
			y = drawGroup(&b, group, m.Others, y, barW, sc)
		}
	}
	body()
	height := int(y + 6)
	var out bytes.Buffer
	fmt.Fprintf(&out, `<svg class="segmap" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s" data-event="%d" data-segments="%d">`,
		o.Width, height, o.Width, height, esc(fmt.Sprintf("segment map after event %d", m.Event)), m.Event, len(m.Segments))
	out.WriteString(`<style>` + css + `</style>`)
	out.WriteString(`<defs><pattern id="segmap-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#f4f4f4"/><line x1="0" y1="0" x2="0" y2="6" stroke="#c8c8c8" stroke-width="2"/></pattern></defs>`)
	out.Write(b.Bytes())
	out.WriteString("</svg>\n")
	return out.Bytes()
}

// legend draws the kinds and colours m uses, from y; it returns the y
// below it.
func legend(b *bytes.Buffer, m *Map, y, barW float64) float64 {
	type entry struct{ fill, name, class string }
	var es []entry
	byTag := tagged(m)
	used := map[string]bool{}
	for _, s := range m.Segments {
		for _, r := range s.Runs {
			used[liveFill(r, byTag)] = true
		}
	}
	if byTag {
		var tags []int32
		seen := map[int32]bool{}
		for _, s := range m.Segments {
			for _, r := range s.Runs {
				if (r.Kind == Live) && !seen[r.Tag] {
					seen[r.Tag] = true
					tags = append(tags, r.Tag)
				}
			}
		}
		slices.Sort(tags)
		for _, t := range tags {
			es = append(es, entry{tagFill[int(t)%len(tagFill)], "live: " + tagName(m, t), "live"})
		}
	} else {
		for _, c := range sizeClasses {
			if used[c.fill] {
				es = append(es, entry{c.fill, "live " + c.name, "live"})
			}
		}
	}
	names := map[Kind]string{Pending: "pending free (record_stream)", Free: "cached free", Lent: "lent to a stitched range", Unmapped: "unmapped (expandable)"}
	for _, k := range kinds[1:] {
		es = append(es, entry{kindFill[k], names[k], k.Name()})
	}
	x := 0.0
	y += 12
	for _, e := range es {
		w := 18 + textPx*float64(len(e.name)) + 14
		if x > 0 && x+w > barW {
			x, y = 0, y+16
		}
		fmt.Fprintf(b, `<rect class="legend %s" x="%s" y="%s" width="12" height="10" fill="%s" stroke="#444" stroke-width="0.5"/>`, e.class, f1(margin+x), f1(y-9), e.fill)
		text(b, margin+x+16, y, "font-size:11px", e.name)
		x += w
	}
	x += 8
	if x+200 > barW {
		x, y = 0, y+16
	}
	fmt.Fprintf(b, `<rect x="%s" y="%s" width="12" height="10" class="box priv"/>`, f1(margin+x), f1(y-9))
	text(b, margin+x+16, y, "font-size:11px", "private pool")
	x += 100
	fmt.Fprintf(b, `<rect x="%s" y="%s" width="12" height="10" class="box stitch"/>`, f1(margin+x), f1(y-9))
	text(b, margin+x+16, y, "font-size:11px", "stitched range")
	return y + 8
}

// tagged reports whether live blocks are coloured by tag (more than one
// tag in use) rather than by size class.
func tagged(m *Map) bool {
	seen := map[int32]bool{}
	for _, s := range m.Segments {
		for _, r := range s.Runs {
			if r.Kind == Live {
				seen[r.Tag] = true
			}
		}
	}
	return len(seen) > 1
}

// liveFill is the colour of run r: by tag, or by size class.
func liveFill(r Run, byTag bool) string {
	if r.Kind != Live {
		return kindFill[r.Kind]
	}
	if byTag {
		return tagFill[int(r.Tag)%len(tagFill)]
	}
	mean := r.Size / int64(max(r.Blocks, 1))
	for _, c := range sizeClasses {
		if mean < c.below {
			return c.fill
		}
	}
	return sizeClasses[len(sizeClasses)-1].fill
}

// drawSegment draws one placed segment; its rows start at top.
func drawSegment(b *bytes.Buffer, m *Map, p placed, top, barW float64, sc scale) {
	s := p.seg
	rowY := func(r int) float64 { return top + float64(r)*rowH + labelH }
	al, ca := s.bytesOf()
	// The label above the bar: as much as fits.
	kind := "classic"
	if s.Expandable {
		kind = "expandable"
	}
	if s.Stitched {
		kind = "stitched"
	}
	place := placeName(s.Pool, s.PrivatePool)
	full := fmt.Sprintf("%#x %s %s, %s, stream %d: live %s, cached %s", s.Addr, kind, units.Format(s.Mapped), place, s.Stream, units.Format(al), units.Format(ca))
	if s.Expandable {
		full = fmt.Sprintf("%#x %s %s mapped of %s, %s, stream %d: live %s, cached %s", s.Addr, kind, units.Format(s.Mapped), units.Format(s.Size), place, s.Stream, units.Format(al), units.Format(ca))
	}
	room := min(p.w, barW)
	for _, l := range []string{
		full,
		fmt.Sprintf("%s %s, %s: cached %s", kind, units.Format(s.Mapped), place, units.Format(ca)),
		fmt.Sprintf("%s, cached %s", units.Format(s.Mapped), units.Format(ca)),
		units.Format(s.Mapped),
	} {
		if textPx*float64(len(l)) <= room {
			text(b, margin+p.x, rowY(p.row)-3, "font-size:11px", l)
			break
		}
	}
	fmt.Fprintf(b, `<g class="seg" data-addr="%#x" data-bytes="%d" data-drawn="%d" data-rows="%d">`, s.Addr, s.Size, s.DrawnSize(), p.rows())
	byTag := tagged(m)
	runs := p.runs
	at := p.x // where the next run starts, in pixels along the rows (row r starts at r*barW)
	at += float64(p.row) * barW
	drawn := s.DrawnSize()
	var done int64
	rect := func(from, w float64, attrs, inner string) { flowRect(b, rowY, barW, from, w, attrs, inner) }
	for i, r := range runs {
		size := r.Size
		if done+size > drawn { // the cut unmapped tail
			size = drawn - done
		}
		w := sc.px(size)
		fill := liveFill(r, byTag)
		title := ""
		attrs := fmt.Sprintf(`class="%s"`, fillClass(r, byTag))
		if w >= 24 {
			what := r.Kind.Name()
			if r.Kind == Live && byTag {
				what = "live " + tagName(m, r.Tag)
			}
			blocks := ""
			if r.Blocks > 1 {
				blocks = fmt.Sprintf(" (%d blocks, mostly %s)", r.Blocks, r.Kind.Name())
			}
			title = fmt.Sprintf(`<title>%s %s%s</title>`, esc(what), units.Format(r.Size), blocks)
		}
		rect(at, w, attrs, title)
		// A label inside the run, in its widest piece, when it fits.
		if r.Kind != Lent {
			l := units.Format(r.Size)
			if r.Kind == Free || r.Kind == Unmapped {
				l = r.Kind.Name() + " " + l
			}
			if i == len(runs)-1 && size < r.Size {
				l = "+" + units.Format(r.Size) + " unmapped"
			}
			row := int(math.Floor(at/barW + 1e-9))
			x0 := at - float64(row)*barW
			pw := min(w, barW-x0)
			if rest := w - pw; rest > pw { // the next row holds more of it
				row, x0, pw = row+1, 0, min(rest, barW)
			}
			if textPx*0.9*float64(len(l))+6 > pw {
				l = units.Format(r.Size)
			}
			if textPx*0.9*float64(len(l))+6 <= pw {
				class := "in"
				if r.Kind == Live && darkFill(fill) {
					class = "inw"
				}
				fmt.Fprintf(b, `<text class="%s" x="%s" y="%s" text-anchor="middle">%s</text>`, class, f1(margin+x0+pw/2), f1(rowY(row)+barH/2+3.5), esc(l))
			}
		}
		at += w
		done += size
	}
	class := "box"
	if s.PrivatePool != 0 {
		class += " priv"
	}
	if s.Stitched {
		class += " stitch"
	}
	title := ""
	if p.w >= 20 {
		title = "<title>" + esc(full) + "</title>"
	}
	rect(float64(p.row)*barW+p.x, p.w, fmt.Sprintf(`class="%s"`, class), title)
	b.WriteString(`</g>`)
}

// flowRect draws [from, from+w) along rows of barW pixels (row r starts at
// r*barW; rowY gives its bar's top), cut at the rows' ends.
func flowRect(b *bytes.Buffer, rowY func(int) float64, barW, from, w float64, attrs, inner string) {
	for w > 0.001 {
		r := int(math.Floor(from/barW + 1e-9))
		x := from - float64(r)*barW
		part := min(w, barW-x)
		if inner == "" {
			fmt.Fprintf(b, `<rect %s x="%s" y="%s" width="%s" height="%d"/>`, attrs, f1(margin+x), f1(rowY(r)), f1(part), barH)
		} else {
			fmt.Fprintf(b, `<rect %s x="%s" y="%s" width="%s" height="%d">%s</rect>`, attrs, f1(margin+x), f1(rowY(r)), f1(part), barH, inner)
		}
		from, w = from+part, w-part
	}
}

// drawGroup draws the segments too narrow or too many to draw one by one
// as one bar of their live, pending, cached and unmapped bytes, to scale
// (cut at the picture's width); it returns the y below it.
func drawGroup(b *bytes.Buffer, group []*Segment, others *Others, y, barW float64, sc scale) float64 {
	sums := map[Kind]int64{}
	n := 0
	var size int64
	for _, s := range group {
		n++
		size += s.Size
		for _, r := range s.Runs {
			sums[r.Kind] += r.Size
		}
	}
	if others != nil {
		n += others.Segments
		size += others.Size
		sums[Live] += others.Allocated
		sums[Free] += others.Cached
	}
	f := units.Format
	text(b, margin, y+labelH-3, "font-size:11px", fmt.Sprintf("%d more segments, each too small or too many to draw alone: %s, live %s, cached %s",
		n, f(size), f(sums[Live]+sums[Pending]), f(sums[Free])))
	rowY := func(r int) float64 { return y + float64(r)*rowH + labelH }
	total := sc.px(size)
	k := 1.0
	if total > barW*groupRows {
		k = barW * groupRows / total
	}
	fmt.Fprintf(b, `<g class="group" data-segments="%d" data-bytes="%d">`, n, size)
	at := 0.0
	for _, kd := range kinds {
		if sums[kd] == 0 {
			continue
		}
		w := sc.px(sums[kd]) * k
		class := kd.Name()
		if kd == Live {
			class = "s1"
		}
		flowRect(b, rowY, barW, at, w, fmt.Sprintf(`class="%s"`, class), fmt.Sprintf("<title>%s %s</title>", kd.Name(), f(sums[kd])))
		at += w
	}
	flowRect(b, rowY, barW, 0, at, `class="box"`, "")
	rows := int(math.Ceil(at/barW - 1e-9))
	y = rowY(max(rows, 1)-1) + barH
	if k < 1 {
		text(b, margin+barW-4, y+12, "font-size:10px;text-anchor:end", "shrunk to fit: not to scale")
		y += 12
	}
	b.WriteString(`</g>`)
	return y + 4
}

// darkFill reports whether a fill needs white text.
func darkFill(fill string) bool {
	return fill == "#2171b5" || fill == "#08306b" || fill == "#4e79a7" || fill == "#5f6f7f" || fill == "#1f3f77" || fill == "#499894" || fill == "#9c755f" || fill == "#4292c6"
}

// tagName names tag t: its name, "untagged" for 0, else "tag T".
func tagName(m *Map, t int32) string {
	if n, ok := m.Tags[t]; ok {
		return n
	}
	if t == 0 {
		return "untagged"
	}
	return fmt.Sprintf("tag %d", t)
}

func text(b *bytes.Buffer, x, y float64, style, s string) {
	fmt.Fprintf(b, `<text x="%s" y="%s" style="%s">%s</text>`, f1(x), f1(y), style, esc(s))
}

func esc(s string) string { return html.EscapeString(s) }

func f1(v float64) string { return trim(fmt.Sprintf("%.1f", v)) }
func f2(v float64) string { return trim(fmt.Sprintf("%.2f", v)) }

// trim drops a number's trailing zeros: "12.50" → "12.5", "3.00" → "3".
func trim(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		return "0"
	}
	return s
}

// placeName names a pool of the policy's and the private pool it is in.
func placeName(pool int32, private int64) string {
	name := fmt.Sprintf("pool %d", pool)
	switch pool {
	case abi.PoolSmall:
		name = "small pool"
	case abi.PoolLarge:
		name = "large pool"
	}
	if private != 0 {
		name += fmt.Sprintf(" of private pool %d", private)
	}
	return name
}
