package interp

import (
	"errors"
	"go/ast"
	"go/types"
	"reflect"
	"strconv"
)

// encoding/json cannot see into yaegi's holder of a value of a cell's interface type (a struct of unexported
// fields): json.Marshal of []Shape gave [{}]. Nor does it inline a cell's embedded struct, which yaegi marks as
// embedded only in a struct of one field. The rewrite gives the values json encodes to Plain, a copy in types
// where an interface value is an interface again and an embedded field is embedded; and the pointer json decodes
// into to PlainPointer, the same memory seen with embedded fields embedded (interfaces it cannot decode into).

func init() {
	builtins[builtinPath+"/builtin"]["Plain"] = reflect.ValueOf(func(x any, sid string) any {
		v := (&plainer{reg: registryOf(sid)}).value(interpretedValue(reflect.ValueOf(unwrapInterpreted(x))), 0)
		if !v.IsValid() {
			return nil
		}
		return v.Interface()
	})
	builtins[builtinPath+"/builtin"]["PlainPointer"] = reflect.ValueOf(func(p any, sid string) any {
		v := reflect.ValueOf(p)
		if v.Kind() != reflect.Pointer || v.IsNil() {
			return p
		}
		pt, ok := (&plainer{reg: registryOf(sid)}).typ(v.Type().Elem(), map[reflect.Type]bool{})
		if !ok || pt.holders || pt.t == v.Type().Elem() {
			return p
		}
		return reflect.NewAt(pt.t, v.UnsafePointer()).Interface()
	})
}

var anyType = reflect.TypeOf((*any)(nil)).Elem()

func isHolder(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t.Name() == "valueInterface" && t.PkgPath() == yaegiPath
}

// plainer makes values plain for a session, whose registry says which fields are embedded.
type plainer struct {
	reg   dynRegistry
	types map[reflect.Type]plainType // made plain already, for this value
}

// plainType is a type made plain; holders: yaegi's holders were replaced in it (its memory is not the same).
type plainType struct {
	t       reflect.Type
	holders bool
}

// typ is t with yaegi's holders of interface values replaced by any and the cells' embedded fields embedded; a
// type that refers to itself (which yaegi makes with placeholders) is not made plain: ok is false.
func (pl *plainer) typ(t reflect.Type, visiting map[reflect.Type]bool) (p plainType, ok bool) {
	if p, ok := pl.types[t]; ok {
		return p, true
	}
	if visiting[t] || t.PkgPath() == "github.com/traefik/yaegi/internal/unsafe2" {
		return plainType{t: t}, false
	}
	visiting[t] = true
	defer delete(visiting, t)
	p, ok = plainType{t: t}, true
	elem := func(e reflect.Type, make func(reflect.Type) reflect.Type) {
		pe, eok := pl.typ(e, visiting)
		if ok = eok; ok && pe.t != e {
			p = plainType{make(pe.t), pe.holders}
		}
	}
	switch t.Kind() {
	case reflect.Struct:
		if isHolder(t) {
			p = plainType{anyType, true}
			break
		}
		if t.Name() != "" {
			break // compiled: no holders in it
		}
		var embedded []bool
		if dt := pl.reg[t]; dt != nil && len(dt.embedded) == t.NumField() {
			embedded = dt.embedded
		}
		fields := make([]reflect.StructField, t.NumField())
		changed := false
		for i := range fields {
			f := t.Field(i)
			pf, fok := pl.typ(f.Type, visiting)
			if !fok || f.PkgPath != "" { // StructOf takes no unexported field
				return plainType{t: t}, false
			}
			// not an interface: StructOf gives an embedded one methods that panic (json would call MarshalJSON)
			embed := f.Anonymous || embedded != nil && embedded[i] && pf.t.Kind() != reflect.Interface
			fields[i] = reflect.StructField{Name: f.Name, Type: pf.t, Tag: f.Tag, Anonymous: embed}
			changed = changed || pf.t != f.Type || fields[i].Anonymous != f.Anonymous
			p.holders = p.holders || pf.holders
		}
		if changed {
			var err error
			if p.t, err = structOf(fields, t); err != nil {
				return plainType{t: t}, false
			}
		}
	case reflect.Slice:
		elem(t.Elem(), reflect.SliceOf)
	case reflect.Array:
		elem(t.Elem(), func(e reflect.Type) reflect.Type { return reflect.ArrayOf(t.Len(), e) })
	case reflect.Pointer:
		elem(t.Elem(), reflect.PointerTo)
	case reflect.Map:
		k, kok := pl.typ(t.Key(), visiting)
		e, eok := pl.typ(t.Elem(), visiting)
		if ok = kok && eok; ok && (k.t != t.Key() || e.t != t.Elem()) {
			p = plainType{reflect.MapOf(k.t, e.t), k.holders || e.holders}
		}
	}
	if !ok {
		return plainType{t: t}, false
	}
	if pl.types == nil {
		pl.types = map[reflect.Type]plainType{}
	}
	pl.types[t] = p
	return p, true
}

// structOf is reflect.StructOf, but for embedded fields it cannot make (a compiled type with methods not first,
// a pointer-shaped named type beside other fields): then with the fields embedded as in yaegi's type orig, and
// if that fails too, an error.
func structOf(fields []reflect.StructField, orig reflect.Type) (t reflect.Type, err error) {
	defer func() {
		if recover() != nil {
			t, err = nil, errors.New("reflect.StructOf refused the fields")
		}
	}()
	if t, err := tryStructOf(fields); err == nil {
		return t, nil
	}
	for i := range fields {
		fields[i].Anonymous = orig.Field(i).Anonymous
	}
	return reflect.StructOf(fields), nil
}

func tryStructOf(fields []reflect.StructField) (t reflect.Type, err error) {
	defer func() {
		if recover() != nil {
			err = errors.New("reflect.StructOf refused the fields")
		}
	}()
	return reflect.StructOf(fields), nil
}

// value copies v into its plain type, the dynamic values of interfaces too; past a depth of 64 (a cycle of
// pointers), v stays as it is.
func (pl *plainer) value(v reflect.Value, depth int) reflect.Value {
	if !v.IsValid() || depth > 64 {
		return v
	}
	if isHolder(v.Type()) {
		e := interpretedValue(v)
		out := reflect.New(anyType).Elem()
		if e.IsValid() {
			assign(out, pl.value(e, depth+1))
		}
		return out
	}
	if v.Kind() == reflect.Interface {
		out := reflect.New(v.Type()).Elem()
		if !v.IsNil() {
			if e := pl.value(interpretedValue(v.Elem()), depth+1); e.Type().AssignableTo(v.Type()) {
				out.Set(e)
			} else {
				out.Set(v.Elem())
			}
		}
		return out
	}
	p, ok := pl.typ(v.Type(), map[reflect.Type]bool{})
	pt := p.t
	if !ok || pt == v.Type() {
		return v // no holders in it (an interface inside holds none either: yaegi holds those it has)
	}
	out := reflect.New(pt).Elem()
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := out.Field(i); f.CanSet() {
				assign(f, pl.value(v.Field(i), depth+1))
			}
		}
	case reflect.Slice:
		if v.IsNil() {
			return out
		}
		out.Set(reflect.MakeSlice(pt, v.Len(), v.Len()))
		for i := 0; i < v.Len(); i++ {
			assign(out.Index(i), pl.value(v.Index(i), depth+1))
		}
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			assign(out.Index(i), pl.value(v.Index(i), depth+1))
		}
	case reflect.Pointer:
		if v.IsNil() {
			return out
		}
		e := reflect.New(pt.Elem())
		assign(e.Elem(), pl.value(v.Elem(), depth+1))
		out.Set(e)
	case reflect.Map:
		if v.IsNil() {
			return out
		}
		out.Set(reflect.MakeMapWithSize(pt, v.Len()))
		iter := v.MapRange()
		for iter.Next() {
			k, e := reflect.New(pt.Key()).Elem(), reflect.New(pt.Elem()).Elem()
			assign(k, pl.value(iter.Key(), depth+1))
			assign(e, pl.value(iter.Value(), depth+1))
			out.SetMapIndex(k, e)
		}
	default:
		return v
	}
	return out
}

// assign sets dst to v if it can hold it (past the depth limit, v is not plain): else dst stays zero.
func assign(dst, v reflect.Value) {
	if v.IsValid() && v.Type().AssignableTo(dst.Type()) {
		dst.Set(v)
	}
}

// jsonCalls are the funcs and methods of encoding/json the rewrite gives plain values: by the index of the
// argument, and whether they decode into it.
var jsonCalls = map[string]struct {
	arg    int
	decode bool
}{
	"encoding/json.Marshal": {0, false}, "encoding/json.MarshalIndent": {0, false}, "(*encoding/json.Encoder).Encode": {0, false},
	"encoding/json.Unmarshal": {1, true}, "(*encoding/json.Decoder).Decode": {0, true},
}

// plainJSON gives the value a call of jsonCalls encodes to Plain, if a cell's interface type or embedded struct
// is in its type, and the pointer it decodes into to PlainPointer, if a cell's embedded struct is.
func (lw *languageWriter) plainJSON(call *ast.CallExpr) {
	sel, ok := ast.Unparen(call.Fun).(*ast.SelectorExpr)
	if !ok {
		return
	}
	fn, ok := lw.res.info.Uses[sel.Sel].(*types.Func)
	if !ok {
		return
	}
	c, ok := jsonCalls[fn.FullName()]
	if !ok || len(call.Args) <= c.arg {
		return
	}
	a := call.Args[c.arg]
	t := lw.res.info.Types[a].Type
	if t == nil {
		return
	}
	info := lw.printInfo(t)
	helper := "Plain"
	switch {
	case c.decode && info.embeds:
		helper = "PlainPointer"
	case c.decode || !lw.cellInterface(a) && !info.cellInterface && !info.embeds:
		return
	}
	lw.add(a.Pos(), a.Pos(), builtinAlias+"."+helper+"(")
	lw.add(a.End(), a.End(), ", "+strconv.Quote(lw.s.id)+")")
}
