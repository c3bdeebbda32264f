package display

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/govalent/govalent/ct"
)

// Limits that keep a display of a huge dispatch usable (and the notebook small).
const (
	maxValueBytes   = 20000 // result value shown
	maxPreviewBytes = 80    // node output in the table
	maxNodeRows     = 500
	maxFailures     = ct.ProgressFailures // listed under a progress bar
)

// Colours are mid-tones: readable as text and as badge backgrounds (with white text) in light and dark themes.
var statusColour = map[ct.Status]string{
	ct.StatusNew:       "#757575",
	ct.StatusRunning:   "#1e88e5",
	ct.StatusCompleted: "#43a047",
	ct.StatusFailed:    "#e53935",
	ct.StatusCancelled: "#fb8c00",
}

// Styles inherit the theme's colours and only add translucent greys, so both themes work.
const (
	styleBox   = `font-family:var(--jp-ui-font-family,sans-serif);font-size:13px;line-height:1.45;color:inherit`
	stylePre   = `margin:4px 0;padding:6px 8px;background:rgba(128,128,128,.12);border-radius:4px;white-space:pre-wrap;word-break:break-word;max-height:24em;overflow:auto`
	styleError = `margin:4px 0;padding:6px 8px;border-left:3px solid #e53935;background:rgba(229,57,53,.08);white-space:pre-wrap;word-break:break-word`
	styleCell  = `padding:2px 10px 2px 0;border-bottom:1px solid rgba(128,128,128,.3);text-align:left;vertical-align:top`
	styleMuted = `opacity:.75`
)

var esc = html.EscapeString

func badge(s ct.Status) string {
	return fmt.Sprintf(`<span style="background:%s;color:#fff;border-radius:3px;padding:1px 6px;font-size:11px;font-weight:600">%s</span>`,
		colour(s), esc(string(s)))
}

func colour(s ct.Status) string {
	if c, ok := statusColour[s]; ok {
		return c
	}
	return "#757575"
}

// ResultHTML is an HTML block for a dispatch result: status, id, name, times, the result value, the error,
// notes and a table of nodes. guiURL, when it is an http(s) URL, is linked as the dispatch's page.
func ResultHTML(r *ct.Result, guiURL string) string {
	if r == nil {
		return "<pre>&lt;nil&gt;</pre>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<div style="%s">`, styleBox)
	writeHeader(&b, r.Status, r.Name, r.DispatchID, guiURL)
	fmt.Fprintf(&b, `<div style="%s">%s</div>`, styleMuted, esc(timesText(r.StartTime, r.EndTime, time.Now())))
	if v := valueText(r.RawResult, r.Result, true); v != "" {
		fmt.Fprintf(&b, `<div style="margin-top:6px">result</div><pre style="%s">%s</pre>`, stylePre, esc(v))
	}
	if r.Error != "" {
		fmt.Fprintf(&b, `<pre style="%s">%s</pre>`, styleError, esc(r.Error))
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, `<div style="%s">note: %s</div>`, styleMuted, esc(n))
	}
	if len(r.Nodes) > 0 {
		open := ""
		if len(r.Nodes) <= 20 || r.Status == ct.StatusFailed {
			open = " open"
		}
		fmt.Fprintf(&b, `<details%s style="margin-top:6px"><summary>%d nodes: %s</summary>`, open, len(r.Nodes), esc(countsText(counts(r))))
		writeNodeTable(&b, r)
		b.WriteString(`</details>`)
	}
	b.WriteString(`</div>`)
	return b.String()
}

func writeHeader(b *strings.Builder, status ct.Status, name, id, guiURL string) {
	fmt.Fprintf(b, `<div>%s <b>%s</b> <code style="%s">%s</code>`, badge(status), esc(name), styleMuted, esc(id))
	if u := safeURL(guiURL); u != "" {
		fmt.Fprintf(b, ` <a href="%s" target="_blank" rel="noopener">open in the GUI</a>`, esc(u))
	}
	b.WriteString(`</div>`)
}

func writeNodeTable(b *strings.Builder, r *ct.Result) {
	fmt.Fprintf(b, `<table style="border-collapse:collapse;margin-top:4px;font-size:12px"><tr>`)
	for _, h := range []string{"id", "name", "status", "duration", "executor", "output", "error"} {
		fmt.Fprintf(b, `<th style="%s">%s</th>`, styleCell, h)
	}
	b.WriteString(`</tr>`)
	now := time.Now()
	for i, n := range r.Nodes {
		if i == maxNodeRows {
			fmt.Fprintf(b, `<tr><td colspan="7" style="%s">… %d more nodes</td></tr>`, styleCell, len(r.Nodes)-i)
			break
		}
		fmt.Fprintf(b, `<tr><td style="%s">%d</td><td style="%s">%s</td>`, styleCell, n.NodeID, styleCell, esc(n.Name))
		fmt.Fprintf(b, `<td style="%s;color:%s;font-weight:600">%s</td>`, styleCell, colour(n.Status), esc(string(n.Status)))
		fmt.Fprintf(b, `<td style="%s">%s</td><td style="%s">%s</td>`, styleCell, esc(duration(n.StartTime, n.EndTime, now)), styleCell, esc(n.Executor))
		fmt.Fprintf(b, `<td style="%s"><code>%s</code></td>`, styleCell, esc(clip(valueText(n.RawOutput, n.Output, false), maxPreviewBytes)))
		fmt.Fprintf(b, `<td style="%s;color:#e53935">%s</td></tr>`, styleCell, esc(firstLine(n.Error)))
	}
	b.WriteString(`</table>`)
}

// ResultText is the plain-text form of a dispatch result, for consoles and text/plain.
func ResultText(r *ct.Result) string {
	if r == nil {
		return "<nil>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "dispatch %s (%s): %s\n", r.DispatchID, r.Name, r.Status)
	if t := timesText(r.StartTime, r.EndTime, time.Now()); t != "" {
		fmt.Fprintf(&b, "%s\n", t)
	}
	if v := valueText(r.RawResult, r.Result, false); v != "" {
		fmt.Fprintf(&b, "result: %s\n", clip(v, 2000))
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "error: %s\n", r.Error)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	if len(r.Nodes) > 0 {
		fmt.Fprintf(&b, "nodes (%s):\n", countsText(counts(r)))
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  ID\tNAME\tSTATUS\tDURATION\tEXECUTOR\tERROR")
		now := time.Now()
		for i, n := range r.Nodes {
			if i == maxNodeRows {
				fmt.Fprintf(tw, "  … %d more nodes\n", len(r.Nodes)-i)
				break
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\n", n.NodeID, n.Name, n.Status, duration(n.StartTime, n.EndTime, now), n.Executor, firstLine(n.Error))
		}
		tw.Flush()
	}
	return strings.TrimRight(b.String(), "\n")
}

// ProgressBundle is the live display of a running dispatch: a one-line text/plain summary and text/html with
// a progress bar, counts, the first failures and a link to guiURL. The kernel updates it with
// update_display_data as the dispatch advances.
func ProgressBundle(p *ct.Progress, guiURL string) Bundle {
	if p == nil {
		return Bundle{MIMEText: "<nil>"}
	}
	c := p.Nodes
	total := p.Total
	done := c[ct.StatusCompleted] + c[ct.StatusFailed] + c[ct.StatusCancelled]
	text := fmt.Sprintf("dispatch %s: %d/%d nodes done", p.DispatchID, done, total)
	if c[ct.StatusFailed] > 0 {
		text += fmt.Sprintf(", %d failed", c[ct.StatusFailed])
	}
	if c[ct.StatusCancelled] > 0 {
		text += fmt.Sprintf(", %d cancelled", c[ct.StatusCancelled])
	}
	text += " — " + string(p.Status)
	for _, n := range p.Notes {
		text += "\n" + n
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<div style="%s">`, styleBox)
	writeHeader(&b, p.Status, p.Name, p.DispatchID, guiURL)
	// The bar: one segment per final or running state, widths in percent of all nodes.
	b.WriteString(`<div style="margin:4px 0;width:100%;max-width:480px;height:10px;border-radius:5px;overflow:hidden;background:rgba(128,128,128,.25);white-space:nowrap;font-size:0">`)
	for _, s := range []ct.Status{ct.StatusCompleted, ct.StatusFailed, ct.StatusCancelled, ct.StatusRunning} {
		if c[s] > 0 && total > 0 {
			fmt.Fprintf(&b, `<span style="display:inline-block;height:100%%;width:%.2f%%;background:%s"></span>`, 100*float64(c[s])/float64(total), colour(s))
		}
	}
	b.WriteString(`</div>`)
	fmt.Fprintf(&b, `<div>%d/%d nodes done · %s`, done, total, esc(countsText(c)))
	if d := duration(p.StartTime, p.EndTime, time.Now()); d != "" {
		fmt.Fprintf(&b, ` · <span style="%s">%s</span>`, styleMuted, esc(d))
	}
	b.WriteString(`</div>`)
	for _, f := range p.Failures {
		fmt.Fprintf(&b, `<div style="%s">node %d <b>%s</b>: %s</div>`, styleError, f.NodeID, esc(f.Name), esc(firstLine(f.Error)))
	}
	if more := c[ct.StatusFailed] - maxFailures; more > 0 {
		fmt.Fprintf(&b, `<div style="%s">… %d more failed</div>`, styleMuted, more)
	}
	if p.Error != "" && c[ct.StatusFailed] == 0 {
		fmt.Fprintf(&b, `<div style="%s">%s</div>`, styleError, esc(firstLine(p.Error)))
	}
	for _, n := range p.Notes {
		fmt.Fprintf(&b, `<div style="%s">%s</div>`, styleMuted, esc(n))
	}
	b.WriteString(`</div>`)
	return Bundle{MIMEText: text, MIMEHTML: b.String()}
}

func counts(r *ct.Result) map[ct.Status]int {
	c := map[ct.Status]int{}
	for _, n := range r.Nodes {
		c[n.Status]++
	}
	return c
}

// countsText is e.g. "20 completed, 1 failed, 2 running", in a fixed order.
func countsText(c map[ct.Status]int) string {
	var parts []string
	for _, s := range []struct {
		status ct.Status
		word   string
	}{{ct.StatusCompleted, "completed"}, {ct.StatusFailed, "failed"}, {ct.StatusCancelled, "cancelled"}, {ct.StatusRunning, "running"}, {ct.StatusNew, "waiting"}} {
		if c[s.status] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c[s.status], s.word))
		}
	}
	return strings.Join(parts, ", ")
}

// valueText is a JSON value as text, indented or compact, or "" when there is none. raw is preferred; the
// decoded value is used for results built in memory.
func valueText(raw json.RawMessage, v any, indent bool) string {
	if len(raw) == 0 {
		if v == nil {
			return ""
		}
		var err error
		if raw, err = json.Marshal(v); err != nil {
			return fmt.Sprint(v)
		}
	}
	var buf bytes.Buffer
	var err error
	if indent {
		err = json.Indent(&buf, raw, "", "  ")
	} else {
		err = json.Compact(&buf, raw)
	}
	if err != nil {
		return string(raw)
	}
	return clip(buf.String(), maxValueBytes)
}

func timesText(start, end *time.Time, now time.Time) string {
	const layout = "2006-01-02 15:04:05"
	switch {
	case start == nil:
		return ""
	case end == nil:
		return fmt.Sprintf("started %s, running for %s", start.Local().Format(layout), duration(start, end, now))
	default:
		return fmt.Sprintf("started %s, ended %s (%s)", start.Local().Format(layout), end.Local().Format(layout), duration(start, end, now))
	}
}

// duration is end-start, or the time since start for something still running; "" if it has not started.
func duration(start, end *time.Time, now time.Time) string {
	if start == nil {
		return ""
	}
	stop := now
	if end != nil {
		stop = *end
	}
	d := stop.Sub(*start)
	switch {
	case d < 0:
		return ""
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// clip shortens s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("… (%d more bytes)", len(s)-cut)
}

// safeURL returns u if it is an absolute http(s) URL, else "": a link must not run script.
func safeURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return ""
	}
	return p.String()
}
