package display_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/kernel/display"
)

func sampleResult() *ct.Result {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	t1, t2 := t0.Add(1500*time.Millisecond), t0.Add(3*time.Second)
	return &ct.Result{
		DispatchID: "d-123",
		Name:       "pipe<line>",
		Status:     ct.StatusFailed,
		RawResult:  json.RawMessage(`{"html":"<b>bold</b>"}`),
		Error:      "node 1 (<script>) failed: boom & <i>bang</i>",
		StartTime:  &t0,
		EndTime:    &t2,
		Nodes: []ct.NodeResult{
			{NodeID: 0, Name: "add", Status: ct.StatusCompleted, RawOutput: json.RawMessage(`"<b>out</b>"`), StartTime: &t0, EndTime: &t1, Executor: "pool"},
			{NodeID: 1, Name: "<script>", Status: ct.StatusFailed, Error: "boom <i>bang</i>\nstack line", StartTime: &t1, EndTime: &t2, Executor: "local"},
			{NodeID: 2, Name: "square", Status: ct.StatusRunning, StartTime: &t1},
			{NodeID: 3, Name: "total", Status: ct.StatusNew},
		},
	}
}

// noRawMarkup fails if any user-controlled markup reached the HTML unescaped.
func noRawMarkup(t *testing.T, h string) {
	t.Helper()
	for _, bad := range []string{"<script", "<b>bold", "<b>out", "<i>", "<line>"} {
		if strings.Contains(h, bad) {
			t.Errorf("HTML contains unescaped %q:\n%s", bad, h)
		}
	}
}

func TestRenderResult(t *testing.T) {
	b := display.Render(reflect.ValueOf(sampleResult()))
	h, _ := b["text/html"].(string)
	txt, _ := b["text/plain"].(string)
	if h == "" || txt == "" {
		t.Fatalf("want text/html and text/plain, got %v", b)
	}
	noRawMarkup(t, h)
	for _, want := range []string{"&lt;script&gt;", "&lt;b&gt;bold&lt;/b&gt;", "&lt;b&gt;out&lt;/b&gt;", "d-123", "pipe&lt;line&gt;", "FAILED", "boom &amp; &lt;i&gt;bang&lt;/i&gt;", "1.5s", "pool"} {
		if !strings.Contains(h, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if strings.Contains(h, "stack line") {
		t.Errorf("node table should show only the error's first line")
	}
	for _, want := range []string{"dispatch d-123 (pipe<line>): FAILED", "<script>", `"html":"<b>bold</b>"`, "1 completed, 1 failed, 1 running, 1 waiting"} {
		if !strings.Contains(txt, want) {
			t.Errorf("text lacks %q:\n%s", want, txt)
		}
	}
	// A Result by value renders the same way.
	if b2 := display.Render(reflect.ValueOf(*sampleResult())); b2["text/html"] == nil {
		t.Errorf("ct.Result value: no HTML")
	}
}

func TestResultHTMLLink(t *testing.T) {
	h := display.ResultHTML(sampleResult(), "http://127.0.0.1:48008/ui/d-123?a=1&b=2")
	if !strings.Contains(h, `href="http://127.0.0.1:48008/ui/d-123?a=1&amp;b=2"`) {
		t.Errorf("no escaped link:\n%s", h)
	}
	if h := display.ResultHTML(sampleResult(), "javascript:alert(1)"); strings.Contains(h, "href") {
		t.Errorf("a javascript: URL was linked")
	}
}

func TestProgressBundle(t *testing.T) {
	r := sampleResult()
	r.Status = ct.StatusRunning
	b := display.ProgressBundle(ct.ProgressOf(r), "https://gui.example/d-123")
	if got, want := b["text/plain"], "dispatch d-123: 2/4 nodes done, 1 failed — RUNNING"; got != want {
		t.Errorf("text/plain = %q, want %q", got, want)
	}
	h := b["text/html"].(string)
	noRawMarkup(t, h)
	for _, want := range []string{`href="https://gui.example/d-123"`, "&lt;script&gt;", "boom &lt;i&gt;bang&lt;/i&gt;", "width:25.00%", "2/4 nodes done"} {
		if !strings.Contains(h, want) {
			t.Errorf("progress HTML lacks %q:\n%s", want, h)
		}
	}
}

// The first run of a program waits for its native build, and the progress display says so.
func TestProgressBundleShowsNotes(t *testing.T) {
	p := &ct.Progress{DispatchID: "d-1", Status: ct.StatusRunning, Total: 3, Nodes: map[ct.Status]int{ct.StatusNew: 3},
		Notes: []string{"building the native worker of this program <now>"}}
	b := display.ProgressBundle(p, "")
	if got, want := b["text/plain"], "dispatch d-1: 0/3 nodes done — RUNNING\nbuilding the native worker of this program <now>"; got != want {
		t.Errorf("text/plain = %q, want %q", got, want)
	}
	if h := b["text/html"].(string); !strings.Contains(h, "building the native worker of this program &lt;now&gt;") {
		t.Errorf("progress HTML lacks the note:\n%s", h)
	}
}

func TestRenderImage(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 3, 2))
	img.Set(1, 1, color.RGBA{R: 255, A: 255})
	b := display.Render(reflect.ValueOf(img))
	data, err := base64.StdEncoding.DecodeString(b["image/png"].(string))
	if err != nil {
		t.Fatal(err)
	}
	got, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if got.Bounds().Dx() != 3 || got.Bounds().Dy() != 2 {
		t.Errorf("bounds %v", got.Bounds())
	}
	if r, _, _, _ := got.At(1, 1).RGBA(); r != 0xffff {
		t.Errorf("pixel lost")
	}
	if b["text/plain"] == nil {
		t.Errorf("no text/plain")
	}
}

type card struct{ Title string }

func (c card) HTML() string      { return "<h3>" + c.Title + "</h3>" }
func (c card) String() string    { return "card " + c.Title }
func (c *card) Markdown() string { return "# " + c.Title } // pointer receiver: found on a value too

type panicky struct{}

func (panicky) HTML() string { panic("no") }

func TestRenderMethods(t *testing.T) {
	b := display.Render(reflect.ValueOf(card{"hi"}))
	want := display.Bundle{"text/plain": "card hi", "text/html": "<h3>hi</h3>", "text/markdown": "# hi"}
	if !reflect.DeepEqual(b, want) {
		t.Errorf("got %#v, want %#v", b, want)
	}
	if b := display.Render(reflect.ValueOf(panicky{})); b["text/html"] != nil || b["text/plain"] != "{}\n[display: HTML(): panic: no]" {
		t.Errorf("panicking HTML(): %#v", b)
	}
}

func TestRenderPlain(t *testing.T) {
	if b := display.Render(reflect.ValueOf(42)); !reflect.DeepEqual(b, display.Bundle{"text/plain": "42"}) {
		t.Errorf("int: %#v", b)
	}
	if b := display.Render(reflect.Value{}); b != nil {
		t.Errorf("zero Value: %#v", b)
	}
	var e error
	if b := display.Render(reflect.ValueOf(&e).Elem()); b["text/plain"] != "<nil>" {
		t.Errorf("nil interface: %#v", b)
	}
	var c *card
	if b := display.Render(reflect.ValueOf(c)); !reflect.DeepEqual(b, display.Bundle{"text/plain": "<nil>"}) {
		t.Errorf("nil pointer: %#v", b)
	}
	in := display.Bundle{"text/html": "<p>x</p>"}
	if b := display.Render(reflect.ValueOf(in)); !reflect.DeepEqual(b, in) {
		t.Errorf("a Bundle should pass through: %#v", b)
	}
}

type published struct {
	b      display.Bundle
	id     string
	update bool
}

func capture(t *testing.T) *[]published {
	var got []published
	display.SetPublisher(func(b display.Bundle, id string, update bool) { got = append(got, published{b, id, update}) })
	t.Cleanup(func() { display.SetPublisher(nil) })
	return &got
}

func TestPublisher(t *testing.T) {
	got := capture(t)
	display.HTML("<p>hi</p>")
	display.Markdown("*m*")
	display.DisplayWithID("bar", card{"a"})
	display.Update("bar", card{"b"})
	display.Display(nil) // nothing to show: nothing published
	display.JSON(map[string]int{"n": 1})
	display.SVG("<svg/>")
	display.PNG([]byte("not a png"))
	want := []published{
		{display.Bundle{"text/html": "<p>hi</p>", "text/plain": "<p>hi</p>"}, "", false},
		{display.Bundle{"text/markdown": "*m*", "text/plain": "*m*"}, "", false},
		{display.Bundle{"text/plain": "card a", "text/html": "<h3>a</h3>", "text/markdown": "# a"}, "bar", false},
		{display.Bundle{"text/plain": "card b", "text/html": "<h3>b</h3>", "text/markdown": "# b"}, "bar", true},
	}
	if len(*got) != 7 {
		t.Fatalf("published %d bundles, want 7: %v", len(*got), *got)
	}
	if !reflect.DeepEqual((*got)[:4], want) {
		t.Errorf("got %#v\nwant %#v", (*got)[:4], want)
	}
	if j, _ := json.Marshal((*got)[4].b["application/json"]); string(j) != `{"n":1}` {
		t.Errorf("application/json = %s", j)
	}
	if (*got)[5].b["image/svg+xml"] != "<svg/>" || (*got)[6].b["image/png"] != base64.StdEncoding.EncodeToString([]byte("not a png")) {
		t.Errorf("SVG/PNG: %v %v", (*got)[5], (*got)[6])
	}
}

func TestPublishAndClear(t *testing.T) {
	got := capture(t)
	var clears []bool
	display.SetClearer(func(wait bool) { clears = append(clears, wait) })
	t.Cleanup(func() { display.SetClearer(nil) })
	display.Publish(display.Bundle{"text/plain": "p"}, "id", true)
	display.Publish(nil, "id", true)
	display.ClearOutput(true)
	display.ClearOutput(false)
	if len(*got) != 1 || (*got)[0].id != "id" || !(*got)[0].update || !reflect.DeepEqual(clears, []bool{true, false}) {
		t.Errorf("published %v, cleared %v", *got, clears)
	}
	display.SetClearer(nil)
	display.ClearOutput(true) // no clearer: nothing happens
}

func TestDefaultPublisher(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	display.Markdown("to the console")
	os.Stdout = stdout
	w.Close()
	out, _ := io.ReadAll(r)
	if string(out) != "to the console\n" {
		t.Errorf("stdout got %q", out)
	}
}

func TestImageHelper(t *testing.T) {
	got := capture(t)
	display.Image(image.NewGray(image.Rect(0, 0, 4, 5)))
	display.Image(nil)
	if len(*got) != 2 || (*got)[0].b["text/plain"] != "<image 4x5>" || (*got)[0].b["image/png"] == nil {
		t.Fatalf("got %v", *got)
	}
	if (*got)[1].b["image/png"] != nil {
		t.Errorf("nil image: %v", (*got)[1])
	}
}

// length and fakePlot have the shape of gonum.org/v1/plot's vg.Length and *plot.Plot.
type length float64

type fakePlot struct{ fail bool }

type pngWriter struct{ w, h length }

func (p pngWriter) WriteTo(w io.Writer) (int64, error) {
	img := image.NewRGBA(image.Rect(0, 0, int(p.w/72*96), int(p.h/72*96)))
	return 0, png.Encode(w, img)
}

func (p *fakePlot) WriterTo(w, h length, format string) (io.WriterTo, error) {
	if p.fail || format != "png" {
		return nil, errors.New("no canvas for " + format)
	}
	return pngWriter{w, h}, nil
}

func TestRenderPlotsAndEncodedImages(t *testing.T) {
	decode := func(b display.Bundle) image.Image {
		t.Helper()
		s, _ := b["image/png"].(string)
		data, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("no PNG in %v: %v", b, err)
		}
		return img
	}
	if img := decode(display.Render(reflect.ValueOf(&fakePlot{}))); img.Bounds().Dx() != 576 || img.Bounds().Dy() != 384 {
		t.Errorf("a plot is drawn at 6x4 inches (576x384 px at 96 dpi), got %v", img.Bounds())
	}
	b := display.Render(reflect.ValueOf(&fakePlot{fail: true}))
	if b["image/png"] != nil || !strings.Contains(b["text/plain"].(string), "[display: drawing the plot: no canvas for png]") {
		t.Errorf("a plot that cannot be drawn says why: %#v", b)
	}
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 5, 7)))
	b = display.Render(reflect.ValueOf(buf.Bytes()))
	if img := decode(b); img.Bounds().Dy() != 7 || b["text/plain"] != fmt.Sprintf("<PNG image, %d bytes>", buf.Len()) {
		t.Errorf("encoded PNG bytes show as the image, got %v, %q", img.Bounds(), b["text/plain"])
	}
	if b := display.Render(reflect.ValueOf(&fakePlot{})); b["text/plain"] != "<*display_test.fakePlot drawn as a PNG image>" {
		t.Errorf("a plot's text: %q", b["text/plain"])
	}
	if b := display.Render(reflect.ValueOf([]byte("plain bytes"))); b["image/png"] != nil {
		t.Errorf("other bytes are not an image: %#v", b)
	}
}
