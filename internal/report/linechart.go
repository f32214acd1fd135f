package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Line is one series of a LineChart: (x, y) points in x order.
type Line struct {
	Name   string
	Points [][2]float64
	Dashed bool
}

// LineChart is a line chart drawn by the HTML report's own plotting code, for
// figures that live outside a result document (bench/soak.sh's memory and
// goroutines over time). Axes start at 0 and are linear.
type LineChart struct {
	Title, XLabel, YLabel, Caption string
	Lines                          []Line
}

// standaloneCSS is the part of report.css that an SVG outside the page needs.
const standaloneCSS = `text { font: 11px -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; fill: #57606a; }
text.label, text.title, text.legend { fill: #1f2328; }
text.title { font-size: 14px; font-weight: 600; }
text.label { font-size: 12px; }
.grid line { stroke: #eaeef2; stroke-width: 1; }
.axis line { stroke: #8c959f; stroke-width: 1; }
path.series { fill: none; stroke-width: 1.8; stroke-linejoin: round; }`

// chartPalette is the Okabe–Ito palette the report's arms use.
var chartPalette = []string{"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#8c564b", "#7f7f00"}

// plot builds the report's plot for c.
func (c LineChart) plot() *plot {
	p := &plot{id: "line", title: c.Title, xLabel: c.XLabel, yLabel: c.YLabel}
	maxX, maxY := 0.0, 0.0
	for i, l := range c.Lines {
		pts := make([]point, len(l.Points))
		for j, xy := range l.Points {
			pts[j] = point{xy[0], xy[1]}
			maxX, maxY = math.Max(maxX, xy[0]), math.Max(maxY, xy[1])
		}
		color := chartPalette[i%len(chartPalette)]
		p.lines = append(p.lines, series{key: l.Name, color: color, dash: l.Dashed, title: l.Name, pts: lttb(pts, maxSeriesPoints)})
		p.legend = append(p.legend, legendItem{l.Name, l.Name, color})
	}
	label := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	p.xTicks = linearTicks(0, maxX, label)
	p.x = scale{0, p.xTicks[len(p.xTicks)-1].v, false}
	p.yTicks = linearTicks(0, maxY, label)
	p.y = scale{0, p.yTicks[len(p.yTicks)-1].v, false}
	return p
}

// ChartsSVG draws charts one above the other as one standalone SVG document:
// each with its title above, its legend and caption below, styled inline.
func ChartsSVG(charts ...LineChart) []byte {
	const titleH, legendRowH, captionH = 24, 18, 18
	var body strings.Builder
	y := 0
	for _, c := range charts {
		p := c.plot()
		fmt.Fprintf(&body, "<text class=\"title\" x=\"%d\" y=\"%d\">%s</text>\n", padLeft, y+17, esc(c.Title))
		y += titleH
		s := p.svg()
		inner := s[strings.Index(s, "<svg"):strings.Index(s, "</svg>")]
		// The plot's own <svg> becomes a nested one, placed at y.
		inner = strings.Replace(inner, "<svg ", fmt.Sprintf("<svg x=\"0\" y=\"%d\" width=\"%d\" height=\"%d\" ", y, plotW, plotH), 1)
		body.WriteString(inner + "</svg>\n")
		y += plotH
		x := padLeft
		for i, l := range p.legend {
			if i > 0 && x+160 > plotW {
				x, y = padLeft, y+legendRowH
			}
			dash := ""
			if c.Lines[i].Dashed {
				dash = " stroke-dasharray=\"5 3\""
			}
			fmt.Fprintf(&body, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"%s/>", x, y+10, x+18, y+10, l.color, dash)
			fmt.Fprintf(&body, "<text class=\"legend\" x=\"%d\" y=\"%d\">%s</text>\n", x+24, y+14, esc(l.name))
			x += 24 + 7*len(l.name) + 24
		}
		y += legendRowH
		if c.Caption != "" {
			fmt.Fprintf(&body, "<text x=\"%d\" y=\"%d\">%s</text>\n", padLeft, y+12, esc(c.Caption))
			y += captionH
		}
		y += 12
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n", plotW, y, plotW, y)
	fmt.Fprintf(&b, "<style>\n%s\n</style>\n<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n", standaloneCSS)
	b.WriteString(body.String())
	b.WriteString("</svg>\n")
	return []byte(b.String())
}
