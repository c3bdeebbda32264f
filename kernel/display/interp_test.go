package display_test

import (
	"reflect"
	"testing"

	govinterp "github.com/govalent/govalent/interp"
	"github.com/govalent/govalent/kernel/display"
	"github.com/traefik/yaegi/interp"
	"github.com/traefik/yaegi/stdlib"
)

func newInterp(t *testing.T) *interp.Interpreter {
	t.Helper()
	yi := interp.New(interp.Options{})
	// the symbols cells get from govalent's interpreter, with yaegi's interface mapping for display
	for _, e := range []interp.Exports{stdlib.Symbols, govinterp.Exports()} {
		if err := yi.Use(e); err != nil {
			t.Fatal(err)
		}
	}
	_, err := yi.Eval(`import (
	"fmt"
	"image"
	"image/color"
	"github.com/govalent/govalent/kernel/display"
)
var _ = fmt.Sprint
var _ color.Color
type Card struct{ Title string }
func (c Card) HTML() string { return "<h3>" + c.Title + "</h3>" }
func (c Card) String() string { return "card " + c.Title }
type Note string
func (n Note) Markdown() string { return "*" + string(n) + "*" }
type Pic struct{ N int }
func (p *Pic) SVG() string { return fmt.Sprintf("<svg n=\"%d\"/>", p.N) }
type Dot struct{}
func (Dot) ColorModel() color.Model { return color.RGBAModel }
func (Dot) Bounds() image.Rectangle { return image.Rect(0, 0, 2, 2) }
func (Dot) At(x, y int) color.Color { return color.RGBA{0, 0, 255, 255} }
type HTMLish interface{ HTML() string }
`)
	if err != nil {
		t.Fatal(err)
	}
	return yi
}

// cellValue evaluates expr the way the kernel should evaluate a cell's last expression: into a variable, then
// through Capture, so that the methods of interpreted types reach Render.
func cellValue(t *testing.T, yi *interp.Interpreter, expr string) reflect.Value {
	t.Helper()
	if _, err := yi.Eval("tmp := " + expr); err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	if _, err := yi.Eval("value = display.Capture(tmp, any(tmp))"); err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	v, err := yi.Eval("value")
	if err != nil {
		t.Fatal(err)
	}
	return v.Elem()
}

func TestInterpretedMethods(t *testing.T) {
	yi := newInterp(t)
	if _, err := yi.Eval(`var value any; var iface HTMLish = Card{"i"}; var nilIface HTMLish`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		expr string
		want display.Bundle
	}{
		{`Card{"a"}`, display.Bundle{"text/plain": "card a", "text/html": "<h3>a</h3>"}},
		{`func() Card { return Card{"f"} }()`, display.Bundle{"text/plain": "card f", "text/html": "<h3>f</h3>"}},
		{`Note("n")`, display.Bundle{"text/plain": "n", "text/markdown": "*n*"}},
		{`&Pic{7}`, display.Bundle{"text/plain": "&{7}", "image/svg+xml": `<svg n="7"/>`}},
		{`iface`, display.Bundle{"text/plain": "card i", "text/html": "<h3>i</h3>"}},
		{`fmt.Errorf("e")`, display.Bundle{"text/plain": "e"}},
		{`42`, display.Bundle{"text/plain": "42"}},
		{`nilIface`, nil},
	} {
		if got := display.Render(cellValue(t, yi, c.expr)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.expr, got, c.want)
		}
	}
}

func TestInterpretedHelpers(t *testing.T) {
	yi := newInterp(t)
	got := capture(t)
	if _, err := yi.Eval(`
display.DisplayWithID("c", Card{"x"})
display.Update("c", Card{"y"})
display.HTML("<i>h</i>")
display.Display(Note("z"))
display.Image(Dot{})`); err != nil {
		t.Fatal(err)
	}
	want := []published{
		{display.Bundle{"text/plain": "card x", "text/html": "<h3>x</h3>"}, "c", false},
		{display.Bundle{"text/plain": "card y", "text/html": "<h3>y</h3>"}, "c", true},
		{display.Bundle{"text/plain": "<i>h</i>", "text/html": "<i>h</i>"}, "", false},
		{display.Bundle{"text/plain": "z", "text/markdown": "*z*"}, "", false},
	}
	if len(*got) != 5 {
		t.Fatalf("published %d bundles, want 5: %v", len(*got), *got)
	}
	if !reflect.DeepEqual((*got)[:4], want) {
		t.Errorf("got %#v\nwant %#v", (*got)[:4], want)
	}
	if (*got)[4].b["image/png"] == nil || (*got)[4].b["text/plain"] != "<image 2x2>" {
		t.Errorf("interpreted image: %v", (*got)[4])
	}
}

// Straight from the interpreter (no Capture) a value has no methods, but its text must still be readable,
// including yaegi's holder for values of interpreted interface types.
func TestInterpretedRawValues(t *testing.T) {
	yi := newInterp(t)
	if _, err := yi.Eval(`var value any; var iface HTMLish = Card{"i"}; var nilIface HTMLish`); err != nil {
		t.Fatal(err)
	}
	for expr, want := range map[string]string{`Card{"r"}`: "{r}", `iface`: "{i}", `nilIface`: "<nil>"} {
		if _, err := yi.Eval("value = any(" + expr + ")"); err != nil {
			t.Fatal(err)
		}
		v, _ := yi.Eval("value")
		if got := display.Render(v.Elem())["text/plain"]; got != want {
			t.Errorf("%s: text/plain = %#v, want %#v", expr, got, want)
		}
	}
}
