package report

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// The charts are SVG written here, on the server side: the page needs no script to show
// them, nothing is fetched, and the same document gives the same bytes (the golden test).

// scale maps data values onto a pixel range, linearly or logarithmically.
type scale struct {
	min, max float64
	log      bool
}

func (s scale) norm(v float64) float64 {
	if s.log {
		v = math.Max(v, s.min)
		return (math.Log10(v) - math.Log10(s.min)) / (math.Log10(s.max) - math.Log10(s.min))
	}
	return (v - s.min) / (s.max - s.min)
}

type tick struct {
	v     float64
	label string
}

// series is one line of a plot.
type series struct {
	key   string // legend entry it belongs to (toggled together)
	color string
	dash  bool
	title string // tooltip
	pts   []point
}

type legendItem struct{ key, name, color string }

// plot is a line chart.
type plot struct {
	id, title, caption string
	xLabel, yLabel     string
	x, y               scale
	xTicks, yTicks     []tick
	lines              []series
	legend             []legendItem
}

const (
	plotW, plotH                         = 640, 360
	padLeft, padRight, padTop, padBottom = 64, 32, 16, 48
)

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func esc(s string) string { return html.EscapeString(s) }

func (p *plot) px(v float64) float64 {
	return padLeft + p.x.norm(v)*float64(plotW-padLeft-padRight)
}

func (p *plot) py(v float64) float64 {
	return float64(plotH-padBottom) - p.y.norm(v)*float64(plotH-padTop-padBottom)
}

// svg writes the plot as a figure: the chart, its legend and its caption.
func (p *plot) svg() string {
	var b strings.Builder
	fmt.Fprintf(&b, "<figure class=\"chart\" id=\"chart-%s\">\n<figcaption>%s</figcaption>\n", p.id, esc(p.title))
	fmt.Fprintf(&b, "<svg class=\"plot\" data-chart=\"%s\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%s\" xmlns=\"http://www.w3.org/2000/svg\">\n",
		p.id, plotW, plotH, esc(p.title))
	x0, x1 := float64(padLeft), float64(plotW-padRight)
	y0, y1 := float64(plotH-padBottom), float64(padTop)
	b.WriteString("<g class=\"grid\">")
	for _, t := range p.yTicks {
		y := p.py(t.v)
		fmt.Fprintf(&b, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>", f1(x0), f1(y), f1(x1), f1(y))
	}
	for _, t := range p.xTicks {
		x := p.px(t.v)
		fmt.Fprintf(&b, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>", f1(x), f1(y0), f1(x), f1(y1))
	}
	b.WriteString("</g>\n<g class=\"axis\">")
	fmt.Fprintf(&b, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>", f1(x0), f1(y0), f1(x1), f1(y0))
	fmt.Fprintf(&b, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>", f1(x0), f1(y0), f1(x0), f1(y1))
	for _, t := range p.yTicks {
		fmt.Fprintf(&b, "<text x=\"%s\" y=\"%s\" text-anchor=\"end\">%s</text>", f1(x0-6), f1(p.py(t.v)+4), esc(t.label))
	}
	for _, t := range p.xTicks {
		fmt.Fprintf(&b, "<text x=\"%s\" y=\"%s\" text-anchor=\"middle\">%s</text>", f1(p.px(t.v)), f1(y0+18), esc(t.label))
	}
	fmt.Fprintf(&b, "<text class=\"label\" x=\"%s\" y=\"%d\" text-anchor=\"middle\">%s</text>", f1((x0+x1)/2), plotH-8, esc(p.xLabel))
	fmt.Fprintf(&b, "<text class=\"label\" transform=\"translate(14 %s) rotate(-90)\" text-anchor=\"middle\">%s</text>", f1((y0+y1)/2), esc(p.yLabel))
	b.WriteString("</g>\n<g class=\"data\">\n")
	for _, s := range p.lines {
		if len(s.pts) == 0 {
			continue
		}
		var d strings.Builder
		for i, pt := range s.pts {
			if i == 0 {
				d.WriteString("M")
			} else {
				d.WriteString(" L")
			}
			d.WriteString(f1(p.px(pt.x)) + " " + f1(p.py(pt.y)))
		}
		dash := ""
		if s.dash {
			dash = " stroke-dasharray=\"5 3\""
		}
		fmt.Fprintf(&b, "<path class=\"series\" data-series=\"%s\" d=\"%s\" stroke=\"%s\"%s><title>%s</title></path>\n",
			esc(s.key), d.String(), s.color, dash, esc(s.title))
	}
	b.WriteString("</g>\n</svg>\n")
	writeLegend(&b, p.legend)
	if p.caption != "" {
		fmt.Fprintf(&b, "<p class=\"caption\">%s</p>\n", esc(p.caption))
	}
	b.WriteString("</figure>\n")
	return b.String()
}

func writeLegend(b *strings.Builder, items []legendItem) {
	if len(items) == 0 {
		return
	}
	b.WriteString("<ul class=\"legend\">")
	for _, l := range items {
		fmt.Fprintf(b, "<li data-series=\"%s\"><span class=\"swatch\" style=\"background:%s\"></span>%s</li>", esc(l.key), l.color, esc(l.name))
	}
	b.WriteString("</ul>\n")
}

// segment is one part of a bar.
type segment struct {
	key, color, title string
	value             float64
}

// barRow is one bar of a bar chart: its segments stacked left to right.
type barRow struct {
	label string
	segs  []segment
	// text is shown after the bar (its value).
	text string
}

// bars is a horizontal bar chart.
type bars struct {
	id, title, caption string
	max                float64 // the axis' end (0: the longest bar)
	unit               string
	rows               []barRow
	legend             []legendItem
	ticks              []tick
}

const (
	barH, barGap, barLabelW, barTextW = 18, 8, 220, 150
)

func (c *bars) svg() string {
	max := c.max
	for _, r := range c.rows {
		var sum float64
		for _, s := range r.segs {
			sum += s.value
		}
		max = math.Max(max, sum)
	}
	if max <= 0 {
		max = 1
	}
	if c.ticks == nil {
		c.ticks = linearTicks(0, max, func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) })
		max = math.Max(max, c.ticks[len(c.ticks)-1].v)
	}
	height := padTop + len(c.rows)*(barH+barGap) + 28
	width := float64(plotW - barLabelW - barTextW)
	xOf := func(v float64) float64 { return barLabelW + v/max*width }
	var b strings.Builder
	fmt.Fprintf(&b, "<figure class=\"chart\" id=\"chart-%s\">\n<figcaption>%s</figcaption>\n", c.id, esc(c.title))
	fmt.Fprintf(&b, "<svg class=\"bars\" data-chart=\"%s\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%s\" xmlns=\"http://www.w3.org/2000/svg\">\n",
		c.id, plotW, height, esc(c.title))
	bottom := float64(padTop + len(c.rows)*(barH+barGap))
	b.WriteString("<g class=\"grid\">")
	for _, t := range c.ticks {
		fmt.Fprintf(&b, "<line x1=\"%s\" y1=\"%d\" x2=\"%s\" y2=\"%s\"/>", f1(xOf(t.v)), padTop-4, f1(xOf(t.v)), f1(bottom))
	}
	b.WriteString("</g>\n<g class=\"axis\">")
	for _, t := range c.ticks {
		fmt.Fprintf(&b, "<text x=\"%s\" y=\"%s\" text-anchor=\"middle\">%s</text>", f1(xOf(t.v)), f1(bottom+14), esc(t.label))
	}
	if c.unit != "" {
		fmt.Fprintf(&b, "<text class=\"label\" x=\"%s\" y=\"%s\" text-anchor=\"middle\">%s</text>", f1(barLabelW+width/2), f1(bottom+26), esc(c.unit))
	}
	b.WriteString("</g>\n<g class=\"data\">\n")
	for i, r := range c.rows {
		y := float64(padTop + i*(barH+barGap))
		fmt.Fprintf(&b, "<text class=\"bar-label\" x=\"%d\" y=\"%s\" text-anchor=\"end\">%s</text>", barLabelW-6, f1(y+barH-5), esc(r.label))
		x := 0.0
		for _, s := range r.segs {
			if s.value <= 0 {
				continue
			}
			fmt.Fprintf(&b, "<rect class=\"series\" data-series=\"%s\" x=\"%s\" y=\"%s\" width=\"%s\" height=\"%d\" fill=\"%s\"><title>%s</title></rect>",
				esc(s.key), f1(xOf(x)), f1(y), f1(math.Max(xOf(x+s.value)-xOf(x), 0.5)), barH, s.color, esc(s.title))
			x += s.value
		}
		fmt.Fprintf(&b, "<text class=\"bar-value\" x=\"%s\" y=\"%s\">%s</text>\n", f1(xOf(x)+4), f1(y+barH-5), esc(r.text))
	}
	b.WriteString("</g>\n</svg>\n")
	writeLegend(&b, c.legend)
	if c.caption != "" {
		fmt.Fprintf(&b, "<p class=\"caption\">%s</p>\n", esc(c.caption))
	}
	b.WriteString("</figure>\n")
	return b.String()
}

// niceStep is 1, 2 or 5 × 10ⁿ, about span/n.
func niceStep(span float64, n int) float64 {
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

// linearTicks are about five round ticks from lo up to at least hi.
func linearTicks(lo, hi float64, label func(float64) string) []tick {
	if !(hi > lo) {
		hi = lo + 1
	}
	step := niceStep(hi-lo, 5)
	dec := max(0, int(-math.Floor(math.Log10(step))))
	var out []tick
	start := math.Floor(lo/step) * step
	for i := 0; ; i++ {
		// Rounded to the step's decimals, so that labels read 0.3, not 0.30000000000000004.
		v, _ := strconv.ParseFloat(strconv.FormatFloat(start+float64(i)*step, 'f', dec, 64), 64)
		out = append(out, tick{v, label(v)})
		if v >= hi || i > 50 {
			break
		}
	}
	return out
}

// logTicks are the powers of ten from lo to hi (widened to whole decades).
func logTicks(lo, hi float64, label func(float64) string) (float64, float64, []tick) {
	a, z := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if z <= a {
		z = a + 1
	}
	var out []tick
	for e := a; e <= z; e++ {
		v := math.Pow(10, e)
		out = append(out, tick{v, label(v)})
	}
	return math.Pow(10, a), math.Pow(10, z), out
}

// msLabel labels a latency tick: 0.01, 0.5, 20, 1000.
func msLabel(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
