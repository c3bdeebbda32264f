// Package display turns notebook values into Jupyter MIME bundles and lets cells publish rich output
// (display_data and update_display_data) through the kernel.
//
// Values are inspected through reflection because they come from the interpreter (yaegi). Methods declared in
// interpreted code are not visible to reflect on a raw value; yaegi makes them visible when the value is passed
// to a compiled function listed in MapTypes (see interp.go), by wrapping it in a struct with real methods.
package display

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"reflect"
	"sync"

	"github.com/govalent/govalent/ct"
)

// Bundle is a Jupyter MIME bundle: MIME type -> data. Text types hold strings; image/png holds base64 text;
// application/json holds a JSON-marshalable value.
type Bundle map[string]any

// MIME types used in bundles.
const (
	MIMEText     = "text/plain"
	MIMEHTML     = "text/html"
	MIMEMarkdown = "text/markdown"
	MIMESVG      = "image/svg+xml"
	MIMEPNG      = "image/png"
	MIMEJSON     = "application/json"
)

// Render turns the value of a cell's last expression into a bundle for execute_result: always text/plain, plus
// text/html for a *ct.Result or a value with an HTML() string method, image/png for an image.Image or a
// PNG() []byte method, image/svg+xml for SVG() string and text/markdown for Markdown() string. A Bundle is
// returned as it is. A zero Value means there is nothing to show: Render returns nil.
func Render(v reflect.Value) Bundle {
	if !v.IsValid() {
		return nil
	}
	v = unwrapInterface(v)
	if !v.IsValid() {
		return Bundle{MIMEText: "<nil>"} // a nil value of an interpreted interface type
	}
	if !v.CanInterface() {
		return Bundle{MIMEText: fmt.Sprint(v)} // fmt prints what reflect may not hand out
	}
	x := v.Interface()
	switch r := x.(type) {
	case Bundle:
		return r
	case *ct.Result:
		if r != nil {
			return Bundle{MIMEText: ResultText(r), MIMEHTML: ResultHTML(r, "")}
		}
	case ct.Result:
		return Bundle{MIMEText: ResultText(&r), MIMEHTML: ResultHTML(&r, "")}
	}
	b := Bundle{MIMEText: plainText(v)}
	if v.Kind() == reflect.Pointer && v.IsNil() {
		return b // its methods would mostly panic
	}
	var failures []string // methods that panicked: said in text/plain, the only place the user will look
	for _, m := range []struct{ method, mime string }{{"HTML", MIMEHTML}, {"Markdown", MIMEMarkdown}, {"SVG", MIMESVG}} {
		r, err := call(v, m.method, reflect.TypeOf(""))
		if err != nil {
			failures = append(failures, err.Error())
		} else if r.IsValid() {
			b[m.mime] = r.String()
		}
	}
	if r, err := call(v, "PNG", reflect.TypeOf([]byte(nil))); err != nil {
		failures = append(failures, err.Error())
	} else if r.IsValid() && r.Len() > 0 {
		b[MIMEPNG] = base64.StdEncoding.EncodeToString(r.Bytes())
	} else if img, ok := x.(image.Image); ok {
		if s, err := encodePNG(img); err == nil {
			b[MIMEPNG] = s
		}
	} else if data, ok := x.([]byte); ok && bytes.HasPrefix(data, pngMagic) {
		// an encoded PNG (what a plotting electron returns): its bytes in decimal would be no text to read
		b[MIMEPNG], b[MIMEText] = base64.StdEncoding.EncodeToString(data), fmt.Sprintf("<PNG image, %d bytes>", len(data))
	} else if data, err := plotPNG(v); err != nil {
		failures = append(failures, err.Error())
	} else if data != nil {
		b[MIMEPNG], b[MIMEText] = base64.StdEncoding.EncodeToString(data), fmt.Sprintf("<%s drawn as a PNG image>", v.Type())
	}
	for _, f := range failures {
		b[MIMEText] = b[MIMEText].(string) + "\n[display: " + f + "]"
	}
	return b
}

// unwrapInterface strips interface values, including yaegi's holder for values of interpreted interface types.
func unwrapInterface(v reflect.Value) reflect.Value {
	for v.IsValid() {
		switch {
		case v.Kind() == reflect.Interface && !v.IsNil():
			v = v.Elem()
		case isYaegiValueInterface(v.Type()):
			v = yaegiValueInterface(v)
		default:
			return v
		}
	}
	return v
}

// plainText is the text/plain form: what fmt prints, but for a yaegi interface wrapper (a struct whose first
// field IValue holds the concrete value) the concrete value unless the wrapper has a String method.
func plainText(v reflect.Value) string {
	if inner, ok := wrapped(v); ok && !v.Type().Implements(stringerType) {
		if inner.IsValid() && inner.CanInterface() {
			return fmt.Sprint(inner.Interface())
		}
		return fmt.Sprint(inner)
	}
	var s string
	if err := protect(func() { s = fmt.Sprint(v.Interface()) }); err != nil {
		return fmt.Sprintf("<%v: %v>", v.Type(), err)
	}
	return s
}

var stringerType = reflect.TypeOf((*fmt.Stringer)(nil)).Elem()

// wrapped returns the value inside a yaegi interface wrapper (struct{IValue any; W<Method> func...}).
func wrapped(v reflect.Value) (reflect.Value, bool) {
	t := v.Type()
	if t.Kind() != reflect.Struct || t.NumField() == 0 || t.Field(0).Name != "IValue" {
		return reflect.Value{}, false
	}
	for i := 1; i < t.NumField(); i++ {
		if f := t.Field(i); f.Type.Kind() != reflect.Func || len(f.Name) < 2 || f.Name[0] != 'W' {
			return reflect.Value{}, false
		}
	}
	return unwrapInterface(v.Field(0)), true
}

// method finds a method by name on v, or on a pointer to a copy of v (for pointer receivers).
func method(v reflect.Value, name string) reflect.Value {
	if m := v.MethodByName(name); m.IsValid() {
		return m
	}
	if v.Kind() != reflect.Pointer && v.Kind() != reflect.Interface {
		p := reflect.New(v.Type())
		p.Elem().Set(v)
		return p.MethodByName(name)
	}
	return reflect.Value{}
}

// call runs the method name of v if it takes no arguments and returns one value of type want; it returns the
// zero Value if there is no such method, and an error if the method panicked.
func call(v reflect.Value, name string, want reflect.Type) (reflect.Value, error) {
	m := method(v, name)
	if !m.IsValid() || m.Type().NumIn() != 0 || m.Type().NumOut() != 1 || m.Type().Out(0) != want {
		return reflect.Value{}, nil
	}
	var out []reflect.Value
	if err := protect(func() { out = m.Call(nil) }); err != nil {
		return reflect.Value{}, fmt.Errorf("%s(): %v", name, err)
	}
	return out[0], nil
}

// pngMagic starts every PNG file.
var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// Plots are drawn at plotWidth x plotHeight points (1/72 inch).
const plotWidth, plotHeight = 6 * 72, 4 * 72

// plotPNG draws a plot as a PNG: a value with the method gonum.org/v1/plot's *plot.Plot has,
// WriterTo(width, height vg.Length, format string) (io.WriterTo, error), found by its shape so that this package
// needs no plotting library. It returns nil for any other value.
func plotPNG(v reflect.Value) ([]byte, error) {
	m := method(v, "WriterTo")
	if !m.IsValid() {
		return nil, nil
	}
	t := m.Type()
	if t.NumIn() != 3 || t.In(0).Kind() != reflect.Float64 || t.In(1) != t.In(0) || t.In(2).Kind() != reflect.String ||
		t.NumOut() != 2 || t.Out(0) != reflect.TypeFor[io.WriterTo]() || t.Out(1) != reflect.TypeFor[error]() {
		return nil, nil
	}
	var buf bytes.Buffer
	var err error
	if perr := protect(func() {
		out := m.Call([]reflect.Value{reflect.ValueOf(plotWidth).Convert(t.In(0)), reflect.ValueOf(plotHeight).Convert(t.In(0)), reflect.ValueOf("png").Convert(t.In(2))})
		if e, _ := out[1].Interface().(error); e != nil {
			err = e
		} else if w, _ := out[0].Interface().(io.WriterTo); w != nil {
			_, err = w.WriteTo(&buf)
		}
	}); perr != nil {
		err = perr
	}
	if err != nil {
		return nil, fmt.Errorf("drawing the plot: %v", err)
	}
	return buf.Bytes(), nil
}

// protect runs f and turns a panic into an error: rendering must never take the kernel down.
func protect(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	f()
	return nil
}

func encodePNG(img image.Image) (s string, err error) {
	var buf bytes.Buffer
	if perr := protect(func() { err = png.Encode(&buf, img) }); perr != nil {
		return "", perr // a nil pointer image, or an interpreted At that panics
	}
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// Publisher is what the kernel installs to send display_data (update false) or update_display_data (update
// true) on IOPub. displayID is empty for a display that cannot be updated.
type Publisher func(b Bundle, displayID string, update bool)

// Clearer is what the kernel installs to send clear_output (wait: clear when the next output arrives).
type Clearer func(wait bool)

var (
	hookMu    sync.RWMutex
	publisher Publisher
	clearer   Clearer
)

// SetPublisher installs p; nil restores the default, which prints text/plain to os.Stdout.
func SetPublisher(p Publisher) {
	hookMu.Lock()
	publisher = p
	hookMu.Unlock()
}

// SetClearer installs c; nil restores the default, which does nothing (a console has nothing to clear).
func SetClearer(c Clearer) {
	hookMu.Lock()
	clearer = c
	hookMu.Unlock()
}

// Publish sends b through the installed Publisher: display_data, or update_display_data when update is true.
// A nil b is not sent.
func Publish(b Bundle, displayID string, update bool) { publish(b, displayID, update) }

// ClearOutput clears the output of the running cell; with wait, only when the next output arrives (no flicker
// when redrawing).
func ClearOutput(wait bool) {
	hookMu.RLock()
	c := clearer
	hookMu.RUnlock()
	if c != nil {
		c(wait)
	}
}

func publish(b Bundle, displayID string, update bool) {
	if b == nil {
		return
	}
	hookMu.RLock()
	p := publisher
	hookMu.RUnlock()
	if p != nil {
		p(b, displayID, update)
		return
	}
	if s, ok := b[MIMEText].(string); ok {
		fmt.Fprintln(os.Stdout, s)
	}
}

// HTML displays an HTML fragment.
func HTML(s string) { publish(Bundle{MIMEHTML: s, MIMEText: s}, "", false) }

// Markdown displays Markdown text.
func Markdown(s string) { publish(Bundle{MIMEMarkdown: s, MIMEText: s}, "", false) }

// SVG displays an SVG image given as its XML text.
func SVG(s string) { publish(Bundle{MIMESVG: s, MIMEText: "<SVG image>"}, "", false) }

// PNG displays PNG-encoded image data.
func PNG(data []byte) { publish(pngBundle(data), "", false) }

func pngBundle(data []byte) Bundle {
	text := "<PNG image>"
	if cfg, err := png.DecodeConfig(bytes.NewReader(data)); err == nil {
		text = fmt.Sprintf("<PNG image %dx%d>", cfg.Width, cfg.Height)
	}
	return Bundle{MIMEPNG: base64.StdEncoding.EncodeToString(data), MIMEText: text}
}

// JSON displays v as application/json (JupyterLab shows a collapsible tree), with indented JSON as text.
func JSON(v any) {
	data, err := json.Marshal(v)
	if err != nil {
		publish(Bundle{MIMEText: "display.JSON: " + err.Error()}, "", false)
		return
	}
	var text bytes.Buffer
	json.Indent(&text, data, "", "  ")
	// RawMessage: marshalled once here, embedded as is by the kernel.
	publish(Bundle{MIMEJSON: json.RawMessage(data), MIMEText: text.String()}, "", false)
}

// Image displays img as a PNG.
func Image(img image.Image) {
	s, err := encodePNG(img)
	if err != nil {
		publish(Bundle{MIMEText: "display.Image: " + err.Error()}, "", false)
		return
	}
	b := img.Bounds()
	publish(Bundle{MIMEPNG: s, MIMEText: fmt.Sprintf("<image %dx%d>", b.Dx(), b.Dy())}, "", false)
}

// Display shows v as Render would show it as a cell's value.
func Display(v any) { publish(Render(reflect.ValueOf(v)), "", false) }

// DisplayWithID shows v in a display that a later Update with the same id replaces.
func DisplayWithID(displayID string, v any) { publish(Render(reflect.ValueOf(v)), displayID, false) }

// Update replaces the content of the display created by DisplayWithID(displayID, ...).
func Update(displayID string, v any) { publish(Render(reflect.ValueOf(v)), displayID, true) }
