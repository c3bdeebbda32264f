package codec

import (
	"reflect"
	"slices"
	"strings"
	"sync"
)

// field is a struct field as encoded: its name (from the json tag, else the Go name) and the
// path of field indexes that reaches it through embedded structs.
type field struct {
	name        string
	encodedName []byte // name as a CBOR text string
	index       []int
	typ         reflect.Type
	omitEmpty   bool
	omitZero    bool
}

type fieldTable struct {
	list   []field
	byName map[string]int
}

var fieldCache sync.Map // reflect.Type -> *fieldTable

// structFields lists the fields of struct type t that are encoded, by encoding/json's rules:
// exported fields, json tag names and options, "-" skipped, embedded structs' fields promoted
// unless a shallower or tagged field of the same name hides them.
func structFields(t reflect.Type) *fieldTable {
	if ft, ok := fieldCache.Load(t); ok {
		return ft.(*fieldTable)
	}
	type scan struct {
		typ   reflect.Type
		index []int
	}
	type candidate struct {
		field
		depth  int
		tagged bool
	}
	var found []candidate
	visited := map[reflect.Type]bool{}
	for depth, level := 0, []scan{{typ: t}}; len(level) > 0; depth++ {
		var next []scan
		for _, s := range level {
			if visited[s.typ] {
				continue
			}
			visited[s.typ] = true
			for i := range s.typ.NumField() {
				sf := s.typ.Field(i)
				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if sf.Anonymous {
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				index := append(slices.Clip(s.index), i)
				if name == "" && sf.Anonymous && ft.Kind() == reflect.Struct {
					next = append(next, scan{ft, index})
					continue
				}
				if !sf.IsExported() {
					continue // an unexported embedded struct only lends its fields
				}
				c := candidate{field: field{name: name, index: index, typ: sf.Type}, depth: depth, tagged: name != ""}
				if name == "" {
					c.name = sf.Name
				}
				for opt := range strings.SplitSeq(opts, ",") {
					c.omitEmpty = c.omitEmpty || opt == "omitempty"
					c.omitZero = c.omitZero || opt == "omitzero"
				}
				found = append(found, c)
			}
		}
		level = next
	}
	// Of the fields sharing a name, the shallowest wins, then the only tagged one; a tie hides all.
	slices.SortStableFunc(found, func(a, b candidate) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if a.depth != b.depth {
			return a.depth - b.depth
		}
		return b2i(b.tagged) - b2i(a.tagged)
	})
	table := &fieldTable{byName: map[string]int{}}
	for i := 0; i < len(found); {
		j := i + 1
		for j < len(found) && found[j].name == found[i].name {
			j++
		}
		if j == i+1 || found[i+1].depth > found[i].depth || found[i].tagged && !found[i+1].tagged {
			table.list = append(table.list, found[i].field)
		}
		i = j
	}
	slices.SortFunc(table.list, func(a, b field) int { return slices.Compare(a.index, b.index) })
	for i := range table.list {
		f := &table.list[i]
		f.encodedName = appendText(nil, f.name)
		table.byName[f.name] = i
	}
	actual, _ := fieldCache.LoadOrStore(t, table)
	return actual.(*fieldTable)
}

func b2i(b bool) int { return int(b2u(b)) }

// value returns the field's value in struct v, and whether it is encoded: not behind a nil
// embedded pointer, and not left out by omitempty or omitzero.
func (f *field) value(v reflect.Value) (reflect.Value, bool) {
	for _, i := range f.index[:len(f.index)-1] {
		v = v.Field(i)
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
	}
	v = v.Field(f.index[len(f.index)-1])
	if f.omitZero && v.IsZero() || f.omitEmpty && isEmptyValue(v) {
		return v, false
	}
	return v, true
}

// settable returns the field in struct v for decoding, allocating nil embedded pointers on the
// way; ok is false when the way passes through an unexported embedded pointer that is nil.
func (f *field) settable(v reflect.Value) (reflect.Value, bool) {
	for _, i := range f.index[:len(f.index)-1] {
		v = v.Field(i)
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if !v.CanSet() {
					return reflect.Value{}, false
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
	}
	return v.Field(f.index[len(f.index)-1]), true
}

func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}
