package components_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"math"
	"strconv"
	"strings"
	"testing"

	"mailer/views/components"
)

// node is any XML element, kept whole.
type node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Nodes   []node     `xml:",any"`
	Text    string     `xml:",chardata"`
}

func (n node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n node) hasClass(c string) bool {
	for _, f := range strings.Fields(n.attr("class")) {
		if f == c {
			return true
		}
	}
	return false
}

// find returns every element under n (n included) that keep accepts.
func (n node) find(keep func(node) bool) []node {
	var out []node
	if keep(n) {
		out = append(out, n)
	}
	for _, c := range n.Nodes {
		out = append(out, c.find(keep)...)
	}
	return out
}

// parse decodes the chart as XML, failing the test when it is not well formed.
func parse(t *testing.T, svg string) node {
	t.Helper()
	var root node
	d := xml.NewDecoder(strings.NewReader(svg))
	d.Strict = true
	if err := d.Decode(&root); err != nil {
		t.Fatalf("chart is not valid XML: %v\n%s", err, svg)
	}
	if root.XMLName.Local != "svg" || root.XMLName.Space != "http://www.w3.org/2000/svg" {
		t.Fatalf("root is %v, want svg in the SVG namespace", root.XMLName)
	}
	return root
}

func float(t *testing.T, n node, name string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(n.attr(name), 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, n.attr(name), err)
	}
	return v
}

func chart(success, failure []int) components.BarChart {
	labels := make([]string, len(success))
	for i := range labels {
		labels[i] = "2026-01-" + strconv.Itoa(10+i)
	}
	return components.BarChart{
		ID: "daily", Title: "Attempts by day <&>", Desc: "A summary",
		Labels: labels,
		Series: []components.ChartSeries{
			{Name: "Success", Key: "success", Color: "#2e9d5b", Values: success},
			{Name: "Failure", Key: "failure", Color: "#d64545", Values: failure},
		},
	}
}

func bars(root node, key string) []node {
	return root.find(func(n node) bool { return n.XMLName.Local == "rect" && n.hasClass("bar") && n.hasClass("bar-"+key) })
}

func TestChartHasABarPerDayAndSeriesWithProportionalHeights(t *testing.T) {
	success := []int{3, 0, 12, 7, 1, 40, 5}
	failure := []int{1, 2, 0, 0, 9, 4, 0}
	c := chart(success, failure)
	root := parse(t, c.SVG())

	top, _ := c.Scale()
	if top < 40 {
		t.Fatalf("scale top %d is below the largest value 40", top)
	}
	var perUnit float64
	for key, values := range map[string][]int{"success": success, "failure": failure} {
		got := bars(root, key)
		if len(got) != len(values) {
			t.Fatalf("%d %s bars, want one per day (%d)", len(got), key, len(values))
		}
		for i, b := range got {
			v := values[i]
			if b.attr("data-value") != strconv.Itoa(v) || b.attr("data-index") != strconv.Itoa(i) {
				t.Errorf("%s bar %d is for index %s value %s, want %d %d", key, i, b.attr("data-index"), b.attr("data-value"), i, v)
			}
			h, y := float(t, b, "height"), float(t, b, "y")
			if h < 0 {
				t.Errorf("%s bar %d has negative height %v", key, i, h)
			}
			if v == 0 {
				if h != 0 {
					t.Errorf("%s bar %d of 0 has height %v", key, i, h)
				}
				continue
			}
			if perUnit == 0 {
				perUnit = h / float64(v)
			}
			if math.Abs(h-perUnit*float64(v)) > 0.02 {
				t.Errorf("%s bar %d: height %v for %d is not proportional (%v per unit)", key, i, h, v, perUnit)
			}
			// Bars stand on the x axis.
			axis := root.find(func(n node) bool { return n.hasClass("axis-x") })[0]
			if math.Abs(y+h-float(t, axis, "y1")) > 0.02 {
				t.Errorf("%s bar %d does not stand on the x axis: y+h = %v", key, i, y+h)
			}
			if title := b.find(func(n node) bool { return n.XMLName.Local == "title" }); len(title) != 1 ||
				!strings.Contains(title[0].Text, c.Labels[i]) || !strings.Contains(title[0].Text, strconv.Itoa(v)) {
				t.Errorf("%s bar %d lacks a title naming its day and value", key, i)
			}
		}
	}
	// The tallest bar fills the plot in proportion to the scale's top.
	tallest := bars(root, "success")[5]
	if full := float(t, tallest, "height") * float64(top) / 40; full <= 0 {
		t.Error("no height for the largest value")
	}
	// The two series of a day sit side by side, days left to right.
	s, f := bars(root, "success"), bars(root, "failure")
	for i := range s {
		if float(t, s[i], "x") >= float(t, f[i], "x") {
			t.Errorf("day %d: the success bar is not left of the failure bar", i)
		}
		if i > 0 && float(t, s[i], "x") <= float(t, s[i-1], "x") {
			t.Errorf("day %d is not right of day %d", i, i-1)
		}
	}
}

func TestChartIsAccessibleAndStyleFree(t *testing.T) {
	c := chart([]int{1, 2}, []int{0, 1})
	svg := c.SVG()
	root := parse(t, svg)
	if root.attr("role") != "img" || root.attr("aria-labelledby") != "daily-title daily-desc" {
		t.Errorf("svg role/aria-labelledby = %q/%q", root.attr("role"), root.attr("aria-labelledby"))
	}
	titles := root.find(func(n node) bool { return n.XMLName.Local == "title" && n.attr("id") == "daily-title" })
	if len(titles) != 1 || titles[0].Text != "Attempts by day <&>" {
		t.Errorf("chart title = %v, want the escaped-and-decoded title", titles)
	}
	if len(root.Nodes) == 0 || root.Nodes[0].XMLName.Local != "title" {
		t.Error("the <title> is not the svg's first child")
	}
	// The CSP forbids inline styles: no style attribute, no <style>, no <script>.
	if bad := root.find(func(n node) bool {
		return n.attr("style") != "" || n.XMLName.Local == "style" || n.XMLName.Local == "script"
	}); len(bad) > 0 {
		t.Errorf("chart uses inline style or script: %v", bad[0].XMLName)
	}
	if strings.Contains(svg, "style=") {
		t.Error("chart has a style= attribute")
	}
	var buf bytes.Buffer
	if err := c.Component().Render(context.Background(), &buf); err != nil || buf.String() != svg {
		t.Errorf("Component renders %q (%v), want the SVG", buf.String(), err)
	}
}

func TestEmptyChartHasAxesAndNoBars(t *testing.T) {
	for name, c := range map[string]components.BarChart{
		"zeros":   chart(make([]int, 30), make([]int, 30)),
		"no days": chart(nil, nil),
	} {
		root := parse(t, c.SVG())
		if got := root.find(func(n node) bool { return n.hasClass("bar") }); len(got) != 0 {
			t.Errorf("%s: %d bars in an empty chart", name, len(got))
		}
		for _, axis := range []string{"axis-x", "axis-y"} {
			if got := root.find(func(n node) bool { return n.XMLName.Local == "line" && n.hasClass(axis) }); len(got) != 1 {
				t.Errorf("%s: %d %s lines, want 1", name, len(got), axis)
			}
		}
		if top, step := c.Scale(); top != 1 || step != 1 {
			t.Errorf("%s: scale %d/%d, want 1/1", name, top, step)
		}
	}
	// Thirty days of zeros still label the x axis, thinned so labels do not overlap.
	root := parse(t, chart(make([]int, 30), make([]int, 30)).SVG())
	labels := root.find(func(n node) bool { return n.XMLName.Local == "g" && n.hasClass("x-axis") })
	if len(labels) != 1 || len(labels[0].Nodes) == 0 || len(labels[0].Nodes) > 16 {
		t.Errorf("x labels: %v", labels)
	}
}

func TestChartScaleIsRound(t *testing.T) {
	for _, tc := range []struct{ max, top, step int }{
		{1, 1, 1}, {3, 3, 1}, {4, 4, 1}, {5, 6, 2}, {9, 10, 5}, {40, 40, 10}, {41, 60, 20}, {999, 1000, 500},
	} {
		c := components.BarChart{Labels: []string{"a"}, Series: []components.ChartSeries{{Values: []int{tc.max}}}}
		top, step := c.Scale()
		if top < tc.max || top%step != 0 {
			t.Errorf("max %d: scale %d/%d does not cover it in whole steps", tc.max, top, step)
		}
		if top != tc.top || step != tc.step {
			t.Errorf("max %d: scale %d/%d, want %d/%d", tc.max, top, step, tc.top, tc.step)
		}
	}
}
