package interp

import (
	"reflect"
	"sync"
)

// hiddenFieldTag is the tag yaegi gives a struct field that a cell declares unexported: it renames the field
// (n becomes Xn) to make it settable through reflect, and tags it so that encoding/json, and so the codec,
// leave it out as Go does.
const hiddenFieldTag = `json:"-" xml:"-"`

var carriedTypes sync.Map // reflect.Type -> reflect.Type

// carriedType is t with the tags of the cells' unexported fields cleared, so that a session's values keep those
// fields when the kernel carries them into a new evaluator. Values convert between the two types, since
// conversions ignore tags. Named types are compiled ones, whose tags are their own, and stay as they are.
func carriedType(t reflect.Type) reflect.Type {
	if ct, ok := carriedTypes.Load(t); ok {
		return ct.(reflect.Type)
	}
	ct := t
	func() {
		defer func() {
			if recover() != nil { // reflect.StructOf refuses some embedded fields: keep t
				ct = t
			}
		}()
		ct = buildCarriedType(t, map[reflect.Type]bool{})
	}()
	if !t.ConvertibleTo(ct) || !ct.ConvertibleTo(t) {
		ct = t
	}
	carriedTypes.Store(t, ct)
	return ct
}

func buildCarriedType(t reflect.Type, building map[reflect.Type]bool) reflect.Type {
	if t.Name() != "" || building[t] {
		return t
	}
	building[t] = true
	defer delete(building, t)
	switch t.Kind() {
	case reflect.Pointer:
		if e := buildCarriedType(t.Elem(), building); e != t.Elem() {
			return reflect.PointerTo(e)
		}
	case reflect.Slice:
		if e := buildCarriedType(t.Elem(), building); e != t.Elem() {
			return reflect.SliceOf(e)
		}
	case reflect.Array:
		if e := buildCarriedType(t.Elem(), building); e != t.Elem() {
			return reflect.ArrayOf(t.Len(), e)
		}
	case reflect.Map:
		k, e := buildCarriedType(t.Key(), building), buildCarriedType(t.Elem(), building)
		if k != t.Key() || e != t.Elem() {
			return reflect.MapOf(k, e)
		}
	case reflect.Struct:
		fields := make([]reflect.StructField, t.NumField())
		changed := false
		for i := range fields {
			f := t.Field(i)
			if ft := buildCarriedType(f.Type, building); ft != f.Type {
				f.Type, changed = ft, true
			}
			if f.Tag == hiddenFieldTag {
				f.Tag, changed = "", true
			}
			fields[i] = f
		}
		if changed {
			return reflect.StructOf(fields)
		}
	}
	return t
}

// Carried is v as the kernel carries it to a new evaluator: with the fields its cells declared unexported.
func Carried(v reflect.Value) reflect.Value {
	if ct := carriedType(v.Type()); ct != v.Type() {
		return v.Convert(ct)
	}
	return v
}
