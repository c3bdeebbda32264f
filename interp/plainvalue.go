package interp

import (
	"go/ast"
	"go/types"
	"reflect"
	"sync"
)

// encoding/json cannot see into yaegi's holder of a value of a cell's interface type (a struct of unexported
// fields): json.Marshal of []Shape gave [{}]. The rewrite gives such values to Plain first, a copy in types
// where an interface value is an interface again.

func init() {
	builtins[builtinPath+"/builtin"]["Plain"] = reflect.ValueOf(func(x any) any {
		v := plainValue(interpretedValue(reflect.ValueOf(unwrapInterpreted(x))), 0)
		if !v.IsValid() {
			return nil
		}
		return v.Interface()
	})
}

var (
	plainTypes sync.Map // reflect.Type -> reflect.Type
	anyType    = reflect.TypeOf((*any)(nil)).Elem()
)

func isHolder(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t.Name() == "valueInterface" && t.PkgPath() == yaegiPath
}

// plainType is t with yaegi's holders of interface values replaced by any; a type that refers to itself (which
// yaegi makes with placeholders) is not made plain: ok is false.
func plainType(t reflect.Type, visiting map[reflect.Type]bool) (p reflect.Type, ok bool) {
	if p, ok := plainTypes.Load(t); ok {
		return p.(reflect.Type), true
	}
	if visiting[t] || t.PkgPath() == "github.com/traefik/yaegi/internal/unsafe2" {
		return t, false
	}
	visiting[t] = true
	defer delete(visiting, t)
	p, ok = t, true
	elem := func(e reflect.Type, make func(reflect.Type) reflect.Type) {
		pe, eok := plainType(e, visiting)
		if ok = eok; ok && pe != e {
			p = make(pe)
		}
	}
	switch t.Kind() {
	case reflect.Struct:
		if isHolder(t) {
			p = anyType
			break
		}
		if t.Name() != "" {
			break // compiled: no holders in it
		}
		fields := make([]reflect.StructField, t.NumField())
		changed := false
		for i := range fields {
			f := t.Field(i)
			pf, fok := plainType(f.Type, visiting)
			if !fok || f.PkgPath != "" { // StructOf takes no unexported field
				return t, false
			}
			changed = changed || pf != f.Type
			fields[i] = reflect.StructField{Name: f.Name, Type: pf, Tag: f.Tag, Anonymous: f.Anonymous}
		}
		if changed {
			p = reflect.StructOf(fields)
		}
	case reflect.Slice:
		elem(t.Elem(), reflect.SliceOf)
	case reflect.Array:
		elem(t.Elem(), func(e reflect.Type) reflect.Type { return reflect.ArrayOf(t.Len(), e) })
	case reflect.Pointer:
		elem(t.Elem(), reflect.PointerTo)
	case reflect.Map:
		k, kok := plainType(t.Key(), visiting)
		e, eok := plainType(t.Elem(), visiting)
		if ok = kok && eok; ok && (k != t.Key() || e != t.Elem()) {
			p = reflect.MapOf(k, e)
		}
	}
	if !ok {
		return t, false
	}
	plainTypes.Store(t, p)
	return p, true
}

// plainValue copies v into its plainType, the dynamic values of interfaces too; past a depth of 64 (a cycle of
// pointers), v stays as it is.
func plainValue(v reflect.Value, depth int) reflect.Value {
	if !v.IsValid() || depth > 64 {
		return v
	}
	if isHolder(v.Type()) {
		e := interpretedValue(v)
		out := reflect.New(anyType).Elem()
		if e.IsValid() {
			out.Set(plainValue(e, depth+1))
		}
		return out
	}
	if v.Kind() == reflect.Interface {
		out := reflect.New(v.Type()).Elem()
		if !v.IsNil() {
			if e := plainValue(interpretedValue(v.Elem()), depth+1); e.Type().AssignableTo(v.Type()) {
				out.Set(e)
			} else {
				out.Set(v.Elem())
			}
		}
		return out
	}
	pt, ok := plainType(v.Type(), map[reflect.Type]bool{})
	if !ok || pt == v.Type() {
		return v // no holders in it (an interface inside holds none either: yaegi holds those it has)
	}
	out := reflect.New(pt).Elem()
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := out.Field(i); f.CanSet() {
				f.Set(plainValue(v.Field(i), depth+1))
			}
		}
	case reflect.Slice:
		if v.IsNil() {
			return out
		}
		out.Set(reflect.MakeSlice(pt, v.Len(), v.Len()))
		for i := 0; i < v.Len(); i++ {
			out.Index(i).Set(plainValue(v.Index(i), depth+1))
		}
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			out.Index(i).Set(plainValue(v.Index(i), depth+1))
		}
	case reflect.Pointer:
		if v.IsNil() {
			return out
		}
		e := reflect.New(pt.Elem())
		e.Elem().Set(plainValue(v.Elem(), depth+1))
		out.Set(e)
	case reflect.Map:
		if v.IsNil() {
			return out
		}
		out.Set(reflect.MakeMapWithSize(pt, v.Len()))
		iter := v.MapRange()
		for iter.Next() {
			out.SetMapIndex(plainValue(iter.Key(), depth+1), plainValue(iter.Value(), depth+1))
		}
	default:
		return v
	}
	return out
}

// jsonEncodes are the funcs and methods of encoding/json whose argument the rewrite makes plain.
var jsonEncodes = map[string]bool{"encoding/json.Marshal": true, "encoding/json.MarshalIndent": true, "(*encoding/json.Encoder).Encode": true}

// plainJSON gives the value a call of jsonEncodes encodes to Plain, if a cell's interface type is in its type.
func (lw *languageWriter) plainJSON(call *ast.CallExpr) {
	if len(call.Args) == 0 {
		return
	}
	sel, ok := ast.Unparen(call.Fun).(*ast.SelectorExpr)
	if !ok {
		return
	}
	fn, ok := lw.res.info.Uses[sel.Sel].(*types.Func)
	if !ok || !jsonEncodes[fn.FullName()] {
		return
	}
	a := call.Args[0]
	t := lw.res.info.Types[a].Type
	if t == nil || !lw.cellInterface(a) && !lw.printInfo(t).cellInterface {
		return
	}
	lw.add(a.Pos(), a.Pos(), builtinAlias+".Plain(")
	lw.add(a.End(), a.End(), ")")
}
