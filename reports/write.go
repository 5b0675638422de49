package reports

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/carrierbill/carrierbill/billing"
)

// FileName is a report's file name: report-<period>.<ext>.
func FileName(p Period, ext string) string { return "report-" + p.Label + "." + ext }

// WriteCSV writes the report as CSV: one section per table, each row
// "section,key,value[,value...]", money in yuan with two decimals.
func WriteCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	row := func(f ...string) { _ = cw.Write(f) }
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	row("section", "key", "value", "value2", "value3", "value4")
	row("period", r.Period.Label, r.Period.From.Format("2006-01-02T15:04:05Z07:00"), r.Period.To.Format("2006-01-02T15:04:05Z07:00"))
	row("volume", "mo_received", n(r.MOsReceived))
	row("volume", "mt_written", n(r.MTsWritten))
	row("volume", "mt_sent", n(r.MTsSent))
	row("revenue", "payments", n(r.Revenue.Payments), r.Revenue.Paid.String())
	row("revenue", "refunds", n(r.Revenue.Refunds), r.Revenue.Refunded.String())
	row("revenue", "net", "", r.Revenue.Net().String())
	row("funnel", "purchase", n(r.Purchases))
	row("funnel", "prompt", n(r.Prompted))
	row("funnel", "confirmation", n(r.Confirmed))
	row("funnel", "charge", n(r.Charged))
	row("funnel", "expired", n(r.Expired))
	for _, rc := range r.Rejections() {
		row("rejection", string(rc.Reason), n(rc.Count))
	}
	for _, rc := range r.LimitHits() {
		row("limit_hit", string(rc.Reason), n(rc.Count))
	}
	for _, m := range r.Merchants {
		row("merchant", m.Merchant, m.Name, n(m.Payments), m.Paid.String(), m.Net().String())
	}
	delivered, final, pm := r.DeliveryRate()
	row("receipts", "delivered", n(delivered))
	row("receipts", "final", n(final))
	row("receipts", "delivered_rate", fmt.Sprintf("%d.%d%%", pm/10, pm%10))
	for _, st := range []billing.DeliveryState{billing.DeliveryNone, billing.DeliveryEnroute, billing.DeliveryDelivered, billing.DeliveryUndeliv,
		billing.DeliveryExpired, billing.DeliveryRejected, billing.DeliveryDeleted, billing.DeliveryUnknown, billing.DeliveryAccepted} {
		name := string(st)
		if name == "" {
			name = "none"
		}
		row("receipt_state", name, n(r.Parts[st]))
	}
	for i, t := range r.Period.Buckets() {
		row("series", bucketLabel(r.Period, i, t.Format("2006-01-02T15:04")), n(r.PaymentsByBucket[i]), r.PaidByBucket[i].String(), n(r.MOsByBucket[i]))
	}
	cw.Flush()
	return cw.Error()
}

func bucketLabel(p Period, _ int, s string) string {
	if p.Monthly {
		return s[:10]
	}
	return s
}

// WriteHTML writes the report as one self-contained HTML page with SVG
// charts: no script, no style sheet or image fetched from anywhere.
func WriteHTML(w io.Writer, r *Report) error {
	delivered, final, pm := r.DeliveryRate()
	data := map[string]any{
		"R": r, "Rejections": r.Rejections(), "LimitHits": r.LimitHits(),
		"Delivered": delivered, "Final": final, "Rate": fmt.Sprintf("%d.%d%%", pm/10, pm%10),
		"RevenueChart": revenueChart(r), "FunnelChart": funnelChart(r), "RejectionChart": barChart(r.Rejections()),
		"Generated": r.Generated.In(r.Period.From.Location()).Format("2006-01-02 15:04:05 MST"),
		"Kind":      map[bool]string{true: "Monthly", false: "Daily"}[r.Period.Monthly],
	}
	return page.Execute(w, data)
}

// Write writes report-<period>.csv and .html into dir, each atomically (a
// temporary file renamed), and returns their paths.
func Write(dir string, r *Report) (csvPath, htmlPath string, err error) {
	if csvPath, err = writeFile(dir, FileName(r.Period, "csv"), func(w io.Writer) error { return WriteCSV(w, r) }); err != nil {
		return "", "", err
	}
	htmlPath, err = writeFile(dir, FileName(r.Period, "html"), func(w io.Writer) error { return WriteHTML(w, r) })
	return csvPath, htmlPath, err
}

// writeFile writes dir/name atomically (a temporary file renamed), making
// dir when missing, and returns its path.
func writeFile(dir, name string, fn func(io.Writer) error) (string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("creating the reports directory: %w", err)
	}
	var b bytes.Buffer
	if err := fn(&b); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o640); err != nil {
		return "", fmt.Errorf("writing %s: %w", name, err)
	}
	return path, os.Rename(tmp, path)
}

// Charts: plain SVG in the page, sized by viewBox, colours inline.

const (
	chartW, chartH = 720, 240
	padL, padB     = 64, 28
)

// revenueChart is the revenue per hour (day report) or per day (month
// report) as bars, with the payment count as a line.
func revenueChart(r *Report) template.HTML {
	n := len(r.PaidByBucket)
	var maxPaid billing.Money = 1
	var maxN int64 = 1
	for i := range n {
		maxPaid = max(maxPaid, r.PaidByBucket[i])
		maxN = max(maxN, r.PaymentsByBucket[i])
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" width="100%%" role="img" aria-label="revenue chart" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">`, chartW, chartH)
	plotW, plotH := float64(chartW-padL-8), float64(chartH-padB-12)
	bw := plotW / float64(max(n, 1))
	for k := 0; k <= 4; k++ {
		y := 12 + plotH - plotH*float64(k)/4
		v := billing.Money(int64(maxPaid) * int64(k) / 4)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end" fill="#555">%s</text>`,
			padL, chartW-8, y, y, padL-6, y+4, v.String())
	}
	var pts []string
	for i := range n {
		h := plotH * float64(r.PaidByBucket[i]) / float64(maxPaid)
		x := float64(padL) + bw*float64(i)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#3b7dd8"><title>%s: %s yuan, %d payments</title></rect>`,
			x+bw*0.1, 12+plotH-h, bw*0.8, h, label(r.Period, i), r.PaidByBucket[i], r.PaymentsByBucket[i])
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x+bw/2, 12+plotH-plotH*float64(r.PaymentsByBucket[i])/float64(maxN)))
		if step := max(n/12, 1); i%step == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>`, x+bw/2, chartH-10, label(r.Period, i))
		}
	}
	fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="#e07b24" stroke-width="2"/>`, strings.Join(pts, " "))
	fmt.Fprintf(&b, `<text x="%d" y="10" fill="#3b7dd8">■ revenue (yuan)</text><text x="%d" y="10" fill="#e07b24">— payments (max %d)</text></svg>`, padL, padL+130, maxN)
	return template.HTML(b.String()) //nolint:gosec // built here from numbers and fixed labels only
}

func label(p Period, i int) string {
	if p.Monthly {
		return strconv.Itoa(i + 1)
	}
	return fmt.Sprintf("%02d", i)
}

// funnelChart draws purchase → prompt → confirmation → charge as bars.
func funnelChart(r *Report) template.HTML {
	steps := []struct {
		name string
		n    int64
	}{{"purchase", r.Purchases}, {"prompt", r.Prompted}, {"confirmation", r.Confirmed}, {"charge", r.Charged}}
	top := max(r.Purchases, 1)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d 170" width="100%%" role="img" aria-label="funnel chart" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="12">`, chartW)
	for i, s := range steps {
		w := float64(chartW-260) * float64(s.n) / float64(top)
		y := 8 + i*40
		pct := ""
		if r.Purchases > 0 {
			pct = fmt.Sprintf(" (%d%%)", s.n*100/r.Purchases)
		}
		fmt.Fprintf(&b, `<text x="0" y="%d" fill="#333">%s</text><rect x="110" y="%d" width="%.1f" height="28" fill="#2e9e6a"/><text x="%.1f" y="%d" fill="#333">%d%s</text>`,
			y+18, s.name, y, w, 116+w, y+18, s.n, pct)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // numbers and fixed labels only
}

// barChart draws counts by reason as horizontal bars.
func barChart(rs []ReasonCount) template.HTML {
	if len(rs) == 0 {
		return template.HTML(`<p class="none">No rejections.</p>`)
	}
	top := int64(1)
	for _, r := range rs {
		top = max(top, r.Count)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" width="100%%" role="img" aria-label="rejections chart" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="12">`, chartW, 10+len(rs)*26)
	for i, r := range rs {
		w := float64(chartW-260) * float64(r.Count) / float64(top)
		y := 6 + i*26
		fmt.Fprintf(&b, `<text x="0" y="%d" fill="#333">%s</text><rect x="170" y="%d" width="%.1f" height="18" fill="#c9483c"/><text x="%.1f" y="%d" fill="#333">%d</text>`,
			y+14, template.HTMLEscapeString(string(r.Reason)), y, w, 176+w, y+14, r.Count)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // reasons are fixed codes, escaped anyway
}

var page = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>carrierbill {{.Kind}} report {{.R.Period.Label}}</title>
<style>
body{font-family:-apple-system,"Segoe UI",Roboto,"Noto Sans CJK SC",sans-serif;margin:24px auto;max-width:780px;color:#222}
h1{font-size:22px;margin-bottom:2px}h2{font-size:16px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;width:100%}td,th{padding:4px 8px;border-bottom:1px solid #eee;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#777}.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{flex:1;min-width:150px;border:1px solid #ddd;border-radius:6px;padding:10px}.card b{display:block;font-size:20px}
</style></head><body>
<h1>{{.Kind}} operator report — {{.R.Period.Label}}</h1>
<p class="muted">Period {{.R.Period.From.Format "2006-01-02 15:04"}} to {{.R.Period.To.Format "2006-01-02 15:04 MST"}}; generated {{.Generated}}. Money in yuan; revenue from the ledger.</p>
<div class="cards">
<div class="card">Revenue (net)<b id="net">{{.R.Revenue.Net}}</b>{{.R.Revenue.Payments}} payments, {{.R.Revenue.Refunds}} refunds</div>
<div class="card">MOs received<b>{{.R.MOsReceived}}</b>{{.R.MTsSent}} of {{.R.MTsWritten}} MTs sent</div>
<div class="card">Delivered<b>{{.Rate}}</b>{{.Delivered}} of {{.Final}} parts with a final receipt</div>
</div>
<h2>Revenue by {{if .R.Period.Monthly}}day{{else}}hour{{end}}</h2>
{{.RevenueChart}}
<table><tr><th>Revenue</th><th class="n">Count</th><th class="n">Yuan</th></tr>
<tr><td>Payments</td><td class="n">{{.R.Revenue.Payments}}</td><td class="n">{{.R.Revenue.Paid}}</td></tr>
<tr><td>Refunds</td><td class="n">{{.R.Revenue.Refunds}}</td><td class="n">{{.R.Revenue.Refunded}}</td></tr>
<tr><th>Net</th><td></td><th class="n">{{.R.Revenue.Net}}</th></tr></table>
<h2>Funnel: purchase → prompt → confirmation → charge</h2>
{{.FunnelChart}}
<p class="muted">Orders created in the period; {{.R.Expired}} expired unconfirmed.</p>
<h2>Top merchants</h2>
<table><tr><th>Merchant</th><th>Name</th><th class="n">Payments</th><th class="n">Paid</th><th class="n">Refunded</th><th class="n">Net</th></tr>
{{range .R.Merchants}}<tr><td>{{.Merchant}}</td><td>{{.Name}}</td><td class="n">{{.Payments}}</td><td class="n">{{.Paid}}</td><td class="n">{{.Refunded}}</td><td class="n">{{.Net}}</td></tr>
{{else}}<tr><td colspan="6" class="muted">No payments.</td></tr>{{end}}</table>
<h2>Rejections by reason</h2>
{{.RejectionChart}}
<h2>Limit hits</h2>
<table><tr><th>Limit</th><th class="n">Refusals</th></tr>
{{range .LimitHits}}<tr><td>{{.Reason}}</td><td class="n">{{.Count}}</td></tr>{{end}}</table>
<h2>Delivery receipts</h2>
<table><tr><th>State</th><th class="n">Parts</th></tr>
{{range $st, $n := .R.Parts}}<tr><td>{{if $st}}{{$st}}{{else}}no receipt yet{{end}}</td><td class="n">{{$n}}</td></tr>{{end}}</table>
</body></html>
`))
