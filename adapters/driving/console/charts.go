package console

import (
	"fmt"
	"html"
	"html/template"
	"strings"
	"time"
)

// Charts are inline SVG drawn on the server: no script, no library, and
// they scale with the page (viewBox, width 100%).

// Chart colours: adds, churn, deleted by staff, and the handover states.
const (
	colAdd   = "#2f6fde"
	colChurn = "#cf4242"
	colStaff = "#d99a1e"
)

var statusColors = map[string]string{
	"pending": "#2f6fde", "completed": "#2e9d5b", "refused": "#d99a1e", "failed": "#cf4242", "cancelled": "#8a96a3",
}

// dayChart draws adds above and churn (by customer, by staff stacked)
// below a middle line, one column per day of the last 30 days ending today.
func dayChart(w *words, rows []dayRow, today time.Time, title string) template.HTML {
	const days, width, height, mid = 30, 420, 180, 90
	byDay := map[string]dayRow{}
	max := 1
	for _, r := range rows {
		byDay[r.Day.Format(time.DateOnly)] = r
		if r.Added > max {
			max = r.Added
		}
		if c := r.DeletedByCustomer + r.DeletedByStaff; c > max {
			max = c
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s"><title>%s</title>`, width, height+20, html.EscapeString(title), html.EscapeString(title))
	fmt.Fprintf(&b, `<line x1="0" y1="%d" x2="%d" y2="%d" stroke="#9aa5b1" stroke-width="1"/>`, mid, width, mid)
	col := float64(width) / days
	scale := float64(mid-8) / float64(max)
	for i := range days {
		d := today.AddDate(0, 0, i-days+1)
		r := byDay[d.Format(time.DateOnly)]
		x := float64(i)*col + 2
		bw := col - 4
		label := fmt.Sprintf("%s: %s %s, %s %s, %s %s", w.Date(d), w.T("adds"), w.N(r.Added), w.T("churn"), w.N(r.DeletedByCustomer), w.T("deleted by staff"), w.N(r.DeletedByStaff))
		if h := float64(r.Added) * scale; h > 0 {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`, x, mid-h, bw, h, colAdd, html.EscapeString(label))
		}
		hc := float64(r.DeletedByCustomer) * scale
		if hc > 0 {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`, x, mid, bw, hc, colChurn, html.EscapeString(label))
		}
		if hs := float64(r.DeletedByStaff) * scale; hs > 0 {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`, x, mid+hc, bw, hs, colStaff, html.EscapeString(label))
		}
		if i == 0 || i == days-1 || i == days/2 {
			anchor := "middle"
			if i == 0 {
				anchor = "start"
			} else if i == days-1 {
				anchor = "end"
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="13" text-anchor="%s" fill="#52606d">%s</text>`, x+bw/2, height+16, anchor, html.EscapeString(w.Date(d)))
		}
	}
	fmt.Fprintf(&b, `<text x="2" y="12" font-size="13" fill="#52606d">▲ %s %s</text>`, html.EscapeString(w.T("adds")), w.N(max))
	fmt.Fprintf(&b, `<text x="2" y="%d" font-size="13" fill="#52606d">▼ %s</text>`, height-4, html.EscapeString(w.T("churn")))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// barItem is one row of a horizontal bar chart.
type barItem struct {
	Label, Value, Color string
	// Part is the bar's length, 0..1.
	Part float64
}

// barChart draws labelled horizontal bars.
func barChart(title string, items []barItem) template.HTML {
	const width, row = 420, 28
	var b strings.Builder
	h := row*len(items) + 2
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s"><title>%s</title>`, width, h, html.EscapeString(title), html.EscapeString(title))
	for i, it := range items {
		y := i*row + 2
		part := it.Part
		if part < 0 {
			part = 0
		} else if part > 1 {
			part = 1
		}
		color := it.Color
		if color == "" {
			color = colAdd
		}
		// Label above the bar, value at its end: readable from 360 px.
		fmt.Fprintf(&b, `<text x="0" y="%d" font-size="13" fill="#1f2933">%s</text>`, y+11, html.EscapeString(clip(it.Label, 30)))
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="13" text-anchor="end" fill="#1f2933">%s</text>`, width, y+11, html.EscapeString(it.Value))
		fmt.Fprintf(&b, `<rect x="0" y="%d" width="%d" height="10" fill="#eef1f4"/>`, y+15, width)
		if part > 0 {
			fmt.Fprintf(&b, `<rect x="0" y="%d" width="%.1f" height="10" fill="%s"><title>%s: %s</title></rect>`, y+15, float64(width)*part, color, html.EscapeString(it.Label), html.EscapeString(it.Value))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// clip shortens s to n characters with an ellipsis.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
