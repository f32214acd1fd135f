package report

import "math"

// point is one point of a chart series, in data units.
type point struct{ x, y float64 }

// lttb downsamples a series to at most threshold points with Steinarsson's
// Largest-Triangle-Three-Buckets ("Downsampling Time Series for Visual Representation",
// University of Iceland, 2013), the method vegeta's plot uses: the first and last points
// are kept; the points between are split into threshold−2 buckets, and from each bucket
// the point that forms the largest triangle with the point kept before it and the mean
// of the next bucket is kept. Peaks and dips survive, which is what a latency chart must
// show. A series that already fits, or a threshold below 3, is returned as a copy. The
// xs are assumed ascending.
func lttb(data []point, threshold int) []point {
	if threshold >= len(data) || threshold < 3 {
		return append([]point(nil), data...)
	}
	out := make([]point, 0, threshold)
	out = append(out, data[0])
	every := float64(len(data)-2) / float64(threshold-2)
	a := 0
	for i := 0; i < threshold-2; i++ {
		// The next bucket's mean is the third corner.
		nextStart := int(math.Floor(float64(i+1)*every)) + 1
		nextEnd := min(int(math.Floor(float64(i+2)*every))+1, len(data))
		var avgX, avgY float64
		for j := nextStart; j < nextEnd; j++ {
			avgX += data[j].x
			avgY += data[j].y
		}
		if n := nextEnd - nextStart; n > 0 {
			avgX /= float64(n)
			avgY /= float64(n)
		} else {
			avgX, avgY = data[len(data)-1].x, data[len(data)-1].y
		}
		start := int(math.Floor(float64(i)*every)) + 1
		end := int(math.Floor(float64(i+1)*every)) + 1
		best, bestArea := start, -1.0
		for j := start; j < end; j++ {
			area := math.Abs((data[a].x-avgX)*(data[j].y-data[a].y) - (data[a].x-data[j].x)*(avgY-data[a].y))
			if area > bestArea {
				best, bestArea = j, area
			}
		}
		out = append(out, data[best])
		a = best
	}
	return append(out, data[len(data)-1])
}
