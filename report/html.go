package report

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"sort"
	"strings"

	"github.com/fraglab/fraglab/internal/runrecord"
	"github.com/fraglab/fraglab/internal/units"
)

// Palette is the series colours, assigned to policies in sorted order
// (cycling when there are more policies than colours).
var Palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
	"#bcbd22", "#7f7f7f", "#393b79", "#ad494a"}

// policyColors maps every policy label of recs to a palette colour.
func policyColors(recs []*runrecord.Record) map[string]string {
	set := map[string]bool{}
	for _, r := range recs {
		set[r.Policy] = true
	}
	var ps []string
	for p := range set {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	out := map[string]string{}
	for i, p := range ps {
		out[p] = Palette[i%len(Palette)]
	}
	return out
}

const (
	chartW, chartH                 = 960, 340
	padL, padR, padT, padB float64 = 90, 20, 20, 60
)

func esc(s string) string { return template.HTMLEscapeString(s) }

func f1(v float64) string { return fmt.Sprintf("%.1f", v) }

// niceMax rounds v up to 1, 2 or 5 times a power of ten (or of 1024 for bytes).
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// yAxis draws horizontal grid lines and labels for 0..max.
func yAxis(b *strings.Builder, max float64, label func(float64) string) {
	plotH := chartH - padT - padB
	for i := 0; i <= 4; i++ {
		v := max * float64(i) / 4
		y := padT + plotH - plotH*float64(i)/4
		fmt.Fprintf(b, `<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s" stroke="#ddd"/>`, f1(padL), f1(y), f1(chartW-padR), f1(y))
		fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="end" font-size="11" fill="#333">%s</text>`, f1(padL-6), f1(y+4), esc(label(v)))
	}
	fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333"/>`, f1(padL), f1(padT), f1(padL), f1(chartH-padB))
	fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333"/>`, f1(padL), f1(chartH-padB), f1(chartW-padR), f1(chartH-padB))
}

func bytesLabel(v float64) string { return units.Format(int64(math.Round(v))) }

// timelineChart draws reserved (solid) and allocated (dashed) bytes over
// event index, one pair of series per policy, from the first ok record of
// each policy (in Sorted order) that has a timeline. "" when none has one.
func timelineChart(workload string, recs []*runrecord.Record, colors map[string]string) string {
	type series struct {
		policy string
		tl     *runrecord.Timeline
		n      int
	}
	var ss []series
	seen := map[string]bool{}
	var maxX, maxY float64
	for _, r := range Sorted(recs) {
		if r.Workload != workload || r.Status != runrecord.StatusOK || r.Timeline == nil || seen[r.Policy] {
			continue
		}
		tl := r.Timeline
		n := min(len(tl.Event), len(tl.Reserved), len(tl.Allocated))
		if n == 0 {
			continue
		}
		seen[r.Policy] = true
		ss = append(ss, series{r.Policy, tl, n})
		for i := 0; i < n; i++ {
			maxX = math.Max(maxX, float64(tl.Event[i]))
			maxY = math.Max(maxY, float64(max(tl.Reserved[i], tl.Allocated[i])))
		}
	}
	if len(ss) == 0 {
		return ""
	}
	if maxX <= 0 {
		maxX = 1
	}
	maxY = niceMax(maxY)
	plotW, plotH := chartW-padL-padR, chartH-padT-padB
	// The legend wraps into rows below the plot; the chart grows with them.
	type entry struct{ x, y float64 }
	legend := make([]entry, len(ss))
	lx, ly := padL, float64(chartH-12)
	for i, s := range ss {
		w := 30 + 7*float64(len(s.policy))
		if lx > padL && lx+w > chartW-padR {
			lx, ly = padL, ly+18
		}
		legend[i] = entry{lx, ly}
		lx += w
	}
	height := int(ly) + 12
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart timeline" data-workload="%s" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		esc(workload), chartW, height, chartW, height, esc("bytes over event index: "+workload))
	yAxis(&b, maxY, bytesLabel)
	for i := 0; i <= 4; i++ {
		x := padL + plotW*float64(i)/4
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle" font-size="11" fill="#333">%d</text>`, f1(x), f1(chartH-padB+16), int64(math.Round(maxX*float64(i)/4)))
	}
	fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle" font-size="12" fill="#333">event index</text>`, f1(padL+plotW/2), f1(chartH-padB+32))
	for _, s := range ss {
		for _, kind := range []string{"reserved", "allocated"} {
			vals := s.tl.Reserved
			dash := ""
			if kind == "allocated" {
				vals, dash = s.tl.Allocated, ` stroke-dasharray="6 3"`
			}
			var d strings.Builder
			for i := 0; i < s.n; i++ {
				x := padL + plotW*float64(s.tl.Event[i])/maxX
				y := padT + plotH - plotH*float64(vals[i])/maxY
				cmd := "L"
				if i == 0 {
					cmd = "M"
				}
				fmt.Fprintf(&d, "%s%s %s ", cmd, f1(x), f1(y))
			}
			fmt.Fprintf(&b, `<path class="series" data-workload="%s" data-policy="%s" data-series="%s" d="%s" fill="none" stroke="%s" stroke-width="2.5"%s><title>%s %s</title></path>`,
				esc(workload), esc(s.policy), kind, strings.TrimSpace(d.String()), colors[s.policy], dash, esc(s.policy), kind)
		}
	}
	// Legend.
	for i, s := range ss {
		e := legend[i]
		fmt.Fprintf(&b, `<rect class="legend" x="%s" y="%s" width="14" height="4" fill="%s"/>`, f1(e.x), f1(e.y), colors[s.policy])
		fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="12" fill="#333">%s</text>`, f1(e.x+18), f1(e.y+6), esc(s.policy))
	}
	fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="end" font-size="11" fill="#555">solid: reserved · dashed: allocated</text>`, f1(chartW-padR), f1(padT-8))
	b.WriteString(`</svg>`)
	return b.String()
}

// barChart draws metric m grouped by table (workload and capacity), one bar
// per policy. "" when no row has the metric.
func barChart(m metric, ts []*table, colors map[string]string) string {
	type bar struct {
		policy string
		v      float64
	}
	type group struct {
		title string
		bars  []bar
	}
	var gs []group
	var maxV float64
	nbars := 0
	for _, t := range ts {
		j := -1
		for k, c := range t.Columns {
			if c.Key == m.Key {
				j = k
			}
		}
		if j < 0 {
			continue
		}
		g := group{title: t.Title()}
		for _, row := range t.Rows {
			if c := row.Cells[j]; c.Has {
				g.bars = append(g.bars, bar{row.Policy, c.V})
				maxV = math.Max(maxV, c.V)
			}
		}
		if len(g.bars) > 0 {
			gs = append(gs, g)
			nbars += len(g.bars)
		}
	}
	if len(gs) == 0 {
		return ""
	}
	label := func(v float64) string { return formatValue(m, v) }
	if m.Kind == kindBytes {
		label = bytesLabel
	}
	maxV = niceMax(maxV)
	plotW, plotH := chartW-padL-padR, chartH-padT-padB
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart bars" data-metric="%s" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		m.Key, chartW, chartH, chartW, chartH, esc(m.Key+" per workload"))
	yAxis(&b, maxV, label)
	slot := plotW / float64(nbars+len(gs))
	x := padL + slot/2
	for _, g := range gs {
		gx := x
		for _, br := range g.bars {
			h := plotH * br.v / maxV
			fmt.Fprintf(&b, `<rect class="bar" data-workload="%s" data-policy="%s" data-metric="%s" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s %s: %s</title></rect>`,
				esc(g.title), esc(br.policy), m.Key, f1(x), f1(padT+plotH-h), f1(slot*0.9), f1(h), colors[br.policy],
				esc(g.title), esc(br.policy), esc(label(br.v)))
			x += slot
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle" font-size="11" fill="#333">%s</text>`, f1((gx+x)/2), f1(chartH-padB+16), esc(g.title))
		x += slot
	}
	b.WriteString(`</svg>`)
	return b.String()
}

type htmlSection struct {
	Workload string
	Chart    template.HTML
	Tables   []*table
}

type htmlPage struct {
	Runs, OK, Failed int
	Baseline         string
	Sections         []htmlSection
	Bars             []template.HTML
	Bound            *boundTable // the distance to the bound; nil without min capacities
	BoundIntro       string
	HasMaps          bool // a table has segment maps (their stylesheet)
}

var pageTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"text":  func(c cell, m metric) string { return c.Text(m) },
	"ratio": func(c cell) string { return c.RatioText() },
	"cap":   capText,
	"line":  oneLine,
	"bytes": func(n int64) string { return units.Format(n) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>fraglab report</title>
<style>
body { font-family: sans-serif; margin: 24px; color: #222; background: #fff; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td .ratio { color: #666; font-size: 11px; }
svg.chart { display: block; margin: 8px 0; }
.failed { color: #a00; }{{if .HasMaps}}
.segmaps { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.segmaps figure { margin: 0; width: 660px; }
.segmaps figcaption { font-size: 12px; color: #333; margin-top: 4px; }{{end}}
</style>
</head>
<body>
<h1>fraglab report</h1>
<p>{{.Runs}} runs: {{.OK}} ok, {{.Failed}} failed. Bold: best value of the column (the lowest; the highest utilization); (×): ratio to the <code>{{.Baseline}}</code> row; values are means over repeats.</p>
{{range .Sections}}<section class="workload" data-workload="{{.Workload}}">
<h2>{{.Workload}}</h2>
{{if .Chart}}{{.Chart}}{{else}}<p>No timeline recorded.</p>{{end}}
{{range .Tables}}{{$t := .}}<h3>{{.Title}}</h3>
{{if .Bound.Known}}<p class="bound">{{.Bound.Text}}</p>
{{end}}{{if .Rows}}<table class="results">
<tr><th>policy</th><th>runs</th>{{range .Columns}}<th>{{.Key}}</th>{{end}}</tr>
{{range .Rows}}<tr data-policy="{{.Policy}}"><td>{{.Policy}}</td><td>{{.N}}</td>{{range $j, $c := .Cells}}{{$m := index $t.Columns $j}}<td>{{if $c.Best}}<strong>{{text $c $m}}</strong>{{else}}{{text $c $m}}{{end}}{{with ratio $c}} <span class="ratio">({{.}})</span>{{end}}</td>{{end}}</tr>
{{end}}</table>
{{end}}{{if .OOMs}}<p>First OOM of each run with one:</p><ul class="ooms">
{{range .OOMs}}<li>{{.Policy}} (repeat {{.Repeat}}): {{.Summary}}</li>
{{end}}</ul>
{{end}}{{with .Maps}}<p>The segments after event {{.Event}}, the first OOM of <code>{{$.Baseline}}</code>{{if gt (len .Maps) 1}}, beside those of the best other policy after the same event{{end}} (orange: cached free bytes, reserved but not allocated):</p>
<div class="segmaps" data-event="{{.Event}}">
{{range .Maps}}<figure class="segmap" data-policy="{{.Policy}}">{{.SVG}}<figcaption>{{.Line}}</figcaption></figure>
{{end}}</div>
{{end}}{{if .Failed}}<ul class="failed">
{{range .Failed}}<li>{{.Policy}} (repeat {{.Repeat}}, capacity {{cap .Capacity}}, id {{.ID}}): {{line .Error}}</li>
{{end}}</ul>
{{end}}{{end}}</section>
{{end}}{{with .Bound}}<section class="bound">
<h2>Distance to the bound</h2>
<p>{{$.BoundIntro}}</p>
<table class="bound">
<tr><th>workload</th><th>peak requested</th><th>least capacity</th>{{range .Policies}}<th>{{.Name}}{{if .Offline}} <em>(offline)</em>{{end}}</th>{{end}}</tr>
{{range .Rows}}<tr data-workload="{{.Workload}}"><td>{{.Workload}}</td><td>{{bytes .Bound.Requested}}</td><td>{{bytes .Bound.Capacity}}</td>{{range .Cells}}<td>{{if .Best}}<strong>{{.UtilText}}</strong>{{else}}{{.UtilText}}{{end}}</td>{{end}}</tr>
{{end}}<tr><td>mean</td><td></td><td></td>{{range .Policies}}<td>{{.MeanText}}</td>{{end}}</tr>
</table>
</section>
{{end}}<section class="overview">
<h2>Overview</h2>
{{range .Bars}}{{.}}
{{end}}</section>
</body>
</html>
`))

// HTML returns the bytes of report.html: a self-contained page (no
// external resources) with inline SVG charts and the result tables.
func HTML(recs []*runrecord.Record) ([]byte, error) {
	colors := policyColors(recs)
	ts := tables(recs)
	p := htmlPage{Runs: len(recs), Baseline: Baseline, Bound: boundsTable(recs), BoundIntro: boundIntro}
	for _, r := range recs {
		if r.Status == runrecord.StatusOK {
			p.OK++
		} else {
			p.Failed++
		}
	}
	for _, t := range ts {
		if n := len(p.Sections); n == 0 || p.Sections[n-1].Workload != t.Workload {
			p.Sections = append(p.Sections, htmlSection{Workload: t.Workload,
				Chart: template.HTML(timelineChart(t.Workload, recs, colors))})
		}
		s := &p.Sections[len(p.Sections)-1]
		t.Maps = mapsFor(t, recs)
		p.HasMaps = p.HasMaps || t.Maps != nil
		s.Tables = append(s.Tables, t)
	}
	for _, key := range []string{"peak_reserved", "frag_ratio", "min_capacity"} {
		m := minCapacity
		for _, mm := range metrics {
			if mm.Key == key {
				m = mm
			}
		}
		if svg := barChart(m, ts, colors); svg != "" {
			p.Bars = append(p.Bars, template.HTML(`<h3>`+esc(key)+`</h3>`+svg))
		}
	}
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, p); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
