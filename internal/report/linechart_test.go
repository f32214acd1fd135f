package report

import (
	"encoding/xml"
	"strings"
	"testing"
)

// TestChartsSVGIsAStandaloneDocument: the charts are one well-formed SVG
// document with every line drawn, its legend and its title, and no HTML
// (figure, ul) from the page version of the plot.
func TestChartsSVGIsAStandaloneDocument(t *testing.T) {
	svg := ChartsSVG(
		LineChart{Title: "RSS", XLabel: "s", YLabel: "MiB", Caption: "flat", Lines: []Line{
			{Name: "generator", Points: [][2]float64{{0, 10}, {10, 12}, {20, 12}}},
			{Name: "sidecar", Points: [][2]float64{{0, 20}, {10, 21}, {20, 21}}, Dashed: true}}},
		LineChart{Title: "goroutines", XLabel: "s", YLabel: "count", Lines: []Line{
			{Name: "generator", Points: [][2]float64{{0, 30}, {20, 30}}}}},
	)
	d := xml.NewDecoder(strings.NewReader(string(svg)))
	paths, svgs := 0, 0
	for {
		tok, err := d.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("not well-formed: %v\n%s", err, svg)
			}
			break
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "path":
				paths++
			case "svg":
				svgs++
			case "figure", "ul", "li", "p":
				t.Errorf("HTML element %s in the standalone SVG", se.Name.Local)
			}
		}
	}
	if paths != 3 || svgs != 3 {
		t.Errorf("%d paths and %d svg elements, want 3 and 3 (one outer, one per chart)", paths, svgs)
	}
	for _, want := range []string{"RSS", "goroutines", "generator", "sidecar", "stroke-dasharray", "<style>", "flat"} {
		if !strings.Contains(string(svg), want) {
			t.Errorf("no %q in the SVG", want)
		}
	}
}
