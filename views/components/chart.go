package components

import (
	"context"
	"html"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/a-h/templ"
)

// ChartSeries is one series of a bar chart: a value per label.
type ChartSeries struct {
	Name   string // in the legend and in each bar's title
	Key    string // a CSS-safe word: the bars get class "bar bar-<Key>"
	Color  string // the bars' fill
	Values []int
}

// BarChart is a chart of grouped bars drawn on the server as inline SVG: no script, no
// library. The page's CSP allows no inline styles, so everything is drawn with SVG
// presentation attributes (fill, stroke, x, y, width, height) and classes.
type BarChart struct {
	ID     string   // prefix of the ids of its title and description, unique on the page
	Title  string   // the <title> screen readers announce
	Desc   string   // the <desc>: a summary of the figures
	Labels []string // one per point: the full label, used in each bar's title
	Ticks  []string // short axis labels, one per point; Labels when nil
	Series []ChartSeries
	Width  int // of the viewBox; 720 when zero
	Height int // of the viewBox; 260 when zero
}

// The margins around the plot: room for the legend above, the y labels on the left and the
// x labels below.
const (
	chartTop    = 30
	chartRight  = 12
	chartBottom = 34
	chartLeft   = 48
)

// Scale is the value at the top of the y axis and the step between its ticks: a round
// number at or above the largest value, 1 when there is no value at all.
func (c BarChart) Scale() (top, step int) {
	maxV := 0
	for _, s := range c.Series {
		for _, v := range s.Values {
			maxV = max(maxV, v)
		}
	}
	if maxV <= 0 {
		return 1, 1
	}
	step = niceStep(float64(maxV) / 4)
	top = (maxV + step - 1) / step * step
	return top, step
}

// niceStep is the smallest of 1, 2, 5 × 10^k at or above x, and at least 1.
func niceStep(x float64) int {
	if x <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return int(m * p)
		}
	}
	return int(10 * p)
}

func (c BarChart) size() (w, h int) {
	w, h = c.Width, c.Height
	if w <= 0 {
		w = 720
	}
	if h <= 0 {
		h = 260
	}
	return w, h
}

// empty reports whether there is nothing to draw but the axes.
func (c BarChart) empty() bool {
	for _, s := range c.Series {
		for _, v := range s.Values {
			if v > 0 {
				return false
			}
		}
	}
	return true
}

// SVG renders the chart.
func (c BarChart) SVG() string {
	w, h := c.size()
	plotW, plotH := float64(w-chartLeft-chartRight), float64(h-chartTop-chartBottom)
	x0, y0 := float64(chartLeft), float64(chartTop)+plotH // the origin
	top, step := c.Scale()
	n := len(c.Labels)
	ticks := c.Ticks
	if len(ticks) != n {
		ticks = c.Labels
	}

	var b strings.Builder
	attr := func(name string, v any) {
		b.WriteString(" " + name + `="`)
		switch v := v.(type) {
		case float64:
			b.WriteString(num(v))
		case int:
			b.WriteString(strconv.Itoa(v))
		default:
			b.WriteString(html.EscapeString(v.(string)))
		}
		b.WriteString(`"`)
	}
	text := func(s string) { b.WriteString(html.EscapeString(s)) }

	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg"`)
	attr("class", "chart")
	attr("viewBox", "0 0 "+strconv.Itoa(w)+" "+strconv.Itoa(h))
	attr("width", "100%")
	attr("role", "img")
	attr("aria-labelledby", c.ID+"-title "+c.ID+"-desc")
	attr("font-size", 11)
	b.WriteString(">")
	b.WriteString(`<title id="` + html.EscapeString(c.ID) + `-title">`)
	text(c.Title)
	b.WriteString(`</title><desc id="` + html.EscapeString(c.ID) + `-desc">`)
	text(c.Desc)
	b.WriteString(`</desc>`)

	// Grid lines and y labels.
	b.WriteString(`<g class="y-axis">`)
	for v := 0; v <= top; v += step {
		y := y0 - float64(v)/float64(top)*plotH
		if v > 0 {
			b.WriteString(`<line class="grid"`)
			attr("x1", x0)
			attr("x2", x0+plotW)
			attr("y1", y)
			attr("y2", y)
			attr("stroke", "currentColor")
			attr("stroke-opacity", "0.15")
			b.WriteString("/>")
		}
		b.WriteString(`<text class="tick"`)
		attr("x", x0-6)
		attr("y", y+4)
		attr("text-anchor", "end")
		attr("fill", "currentColor")
		b.WriteString(">" + strconv.Itoa(v) + "</text>")
	}
	b.WriteString(`</g>`)

	// Bars: a group per point, a bar per series in it.
	if n > 0 && !c.empty() && len(c.Series) > 0 {
		slot := plotW / float64(n)
		barW := slot * 0.8 / float64(len(c.Series))
		b.WriteString(`<g class="bars">`)
		for i := 0; i < n; i++ {
			for si, s := range c.Series {
				v := 0
				if i < len(s.Values) {
					v = s.Values[i]
				}
				bh := float64(v) / float64(top) * plotH
				b.WriteString(`<rect class="bar bar-` + html.EscapeString(s.Key) + `"`)
				attr("data-index", i)
				attr("data-value", v)
				attr("x", x0+float64(i)*slot+slot*0.1+float64(si)*barW)
				attr("y", y0-bh)
				attr("width", barW)
				attr("height", bh)
				attr("fill", s.Color)
				b.WriteString("><title>")
				text(c.Labels[i] + " — " + s.Name + ": " + strconv.Itoa(v))
				b.WriteString("</title></rect>")
			}
		}
		b.WriteString(`</g>`)
	}

	// X labels: as many as fit without overlapping.
	if n > 0 {
		slot := plotW / float64(n)
		every := max(1, int(math.Ceil(float64(n)*44/plotW)))
		b.WriteString(`<g class="x-axis">`)
		// Counted back from the last point, so the latest day always has its label.
		for i := (n - 1) % every; i < n; i += every {
			b.WriteString(`<text class="tick"`)
			attr("x", x0+float64(i)*slot+slot/2)
			attr("y", y0+16)
			attr("text-anchor", "middle")
			attr("fill", "currentColor")
			b.WriteString(">")
			text(ticks[i])
			b.WriteString("</text>")
		}
		b.WriteString(`</g>`)
	}

	// The axes, drawn last so bars do not cover them.
	b.WriteString(`<line class="axis axis-x"`)
	attr("x1", x0)
	attr("x2", x0+plotW)
	attr("y1", y0)
	attr("y2", y0)
	attr("stroke", "currentColor")
	b.WriteString("/>")
	b.WriteString(`<line class="axis axis-y"`)
	attr("x1", x0)
	attr("x2", x0)
	attr("y1", float64(chartTop))
	attr("y2", y0)
	attr("stroke", "currentColor")
	b.WriteString("/>")

	// Legend.
	b.WriteString(`<g class="legend">`)
	lx := x0
	for _, s := range c.Series {
		b.WriteString(`<rect class="legend-key"`)
		attr("x", lx)
		attr("y", 8)
		attr("width", 12)
		attr("height", 12)
		attr("fill", s.Color)
		b.WriteString("/>")
		b.WriteString(`<text`)
		attr("x", lx+16)
		attr("y", 18)
		attr("fill", "currentColor")
		b.WriteString(">")
		text(s.Name)
		b.WriteString("</text>")
		lx += 16 + float64(len([]rune(s.Name)))*7 + 20
	}
	b.WriteString(`</g></svg>`)
	return b.String()
}

// num writes a coordinate with at most two decimals.
func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

// Component renders the chart inside a templ page.
func (c BarChart) Component() templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		_, err := io.WriteString(w, c.SVG())
		return err
	})
}
