package display

import (
	"reflect"
	"unsafe"
)

// The methods Render looks for. They are interfaces so that `yaegi extract` generates wrappers for them
// (_HTMLer, ...): yaegi needs a wrapper to give an interpreted value real methods when it reaches compiled code.
type (
	HTMLer     interface{ HTML() string }
	Markdowner interface{ Markdown() string }
	SVGer      interface{ SVG() string }
	PNGer      interface{ PNG() []byte }
)

// Capture returns the first of vs that yaegi wrapped (see MapTypes), else vs[0]. The kernel passes a cell's
// value v through it in interpreted code as Capture(v, any(v)), v being a variable: yaegi wraps a value of a
// concrete interpreted type in the first argument, and a value of an interpreted interface type only in the
// second. (It wraps neither when the argument is a call, hence the variable.)
func Capture(vs ...any) any {
	for _, v := range vs {
		if v != nil {
			if _, ok := wrapped(reflect.ValueOf(v)); ok {
				return v
			}
		}
	}
	if len(vs) == 0 {
		return nil
	}
	return vs[0]
}

// MapTypes returns yaegi's special interface mapping for this package; symbols is this package's entry in the
// exports produced by `yaegi extract` (it holds the generated wrappers). With it, an interpreted value passed
// to Capture, Display, DisplayWithID or Update is wrapped for the first of HTMLer, SVGer, PNGer, Markdowner or
// fmt.Stringer it implements, together with String when it has both. (yaegi does not match interpreted
// image.Image types here; display.Image takes them.) Install it with
//
//	yi.Use(yaegi.Exports{".": {"MapTypes": reflect.ValueOf(display.MapTypes(symbols))}})
func MapTypes(symbols map[string]reflect.Value) map[reflect.Value][]reflect.Type {
	ifaces := []reflect.Type{
		reflect.TypeOf((*HTMLer)(nil)).Elem(),
		reflect.TypeOf((*SVGer)(nil)).Elem(),
		reflect.TypeOf((*PNGer)(nil)).Elem(),
		reflect.TypeOf((*Markdowner)(nil)).Elem(),
		stringerType,
	}
	mt := map[reflect.Value][]reflect.Type{}
	for _, f := range []any{Capture, Display, DisplayWithID, Update} {
		mt[reflect.ValueOf(f)] = ifaces
	}
	// yaegi wraps one interface; these composed wrappers keep String (for text/plain) alongside the rich method.
	for name, w := range map[string]any{
		"_HTMLer":     htmlStringer{},
		"_SVGer":      svgStringer{},
		"_PNGer":      pngStringer{},
		"_Markdowner": markdownStringer{},
	} {
		if key, ok := symbols[name]; ok {
			mt[key] = []reflect.Type{reflect.TypeOf(w)}
		}
	}
	return mt
}

// Composed wrappers, laid out as yaegi expects: IValue, then one W<Method> func field per method.
type htmlStringer struct {
	IValue  any
	WHTML   func() string
	WString func() string
}

func (w htmlStringer) HTML() string   { return w.WHTML() }
func (w htmlStringer) String() string { return w.WString() }

type svgStringer struct {
	IValue  any
	WSVG    func() string
	WString func() string
}

func (w svgStringer) SVG() string    { return w.WSVG() }
func (w svgStringer) String() string { return w.WString() }

type pngStringer struct {
	IValue  any
	WPNG    func() []byte
	WString func() string
}

func (w pngStringer) PNG() []byte    { return w.WPNG() }
func (w pngStringer) String() string { return w.WString() }

type markdownStringer struct {
	IValue    any
	WMarkdown func() string
	WString   func() string
}

func (w markdownStringer) Markdown() string { return w.WMarkdown() }
func (w markdownStringer) String() string   { return w.WString() }

// isYaegiValueInterface reports whether t is yaegi's holder for a value of an interpreted interface type
// (struct{node *node; value reflect.Value}), which is what a cell ending in such a variable evaluates to.
func isYaegiValueInterface(t reflect.Type) bool {
	if t.Kind() != reflect.Struct || t.Name() != "valueInterface" || t.PkgPath() != "github.com/traefik/yaegi/interp" {
		return false
	}
	f, ok := t.FieldByName("value")
	return ok && f.Type == reflect.TypeOf(reflect.Value{})
}

// yaegiValueInterface returns the concrete value a valueInterface holds. Its fields are unexported, so the
// field is read through a pointer into an addressable copy.
func yaegiValueInterface(v reflect.Value) reflect.Value {
	c := reflect.New(v.Type()).Elem()
	c.Set(v)
	f, _ := v.Type().FieldByName("value")
	inner := *(*reflect.Value)(unsafe.Pointer(c.FieldByIndex(f.Index).UnsafeAddr()))
	if inner.IsValid() && inner.Type() == v.Type() {
		return reflect.Value{} // never loop
	}
	return inner
}
