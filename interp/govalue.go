package interp

import (
	"encoding/json"
	"fmt"
	"go/token"
	"go/types"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// %+v and %#v of a cell's types print field and type names the interpreter's reflect types do not have. The
// rewrite (see fmtArg) passes such an argument through GoValue with a description of its type from the check,
// and fmt then prints it with goValue's Format, which walks the value as fmt's printValue does, with Go's names.

// goType describes a type for goValue: its name as %#v writes it, its kind, its fields' names, and the
// indexes in the table of its fields' types, or of its element's (a map: key and element).
type goType struct {
	Name   string   `json:"n"`
	Kind   string   `json:"k"` // struct, ptr, slice, array, map; "" for the rest, which fmt prints itself
	Fields []string `json:"f,omitempty"`
	Types  []int    `json:"t,omitempty"`
}

func init() {
	builtins[builtinPath+"/builtin"]["GoValue"] = reflect.ValueOf(newGoValue)
}

var goTypeTables sync.Map // description -> []goType

func newGoValue(x any, desc, sid string) any {
	table, ok := goTypeTables.Load(desc)
	if !ok {
		var t []goType
		if err := json.Unmarshal([]byte(desc), &t); err != nil {
			panic("govalent: bad type description: " + err.Error())
		}
		table, _ = goTypeTables.LoadOrStore(desc, t)
	}
	return goValue{v: reflect.ValueOf(x), table: table.([]goType), reg: registryOf(sid)}
}

// goValue is a value printed by %+v or %#v with the names of its Go type, table[0].
type goValue struct {
	v     reflect.Value
	table []goType
	reg   dynRegistry // the session's types, for the dynamic values of interfaces (kind "iface")
}

func (g goValue) Format(f fmt.State, verb rune) {
	p := &goPrinter{table: g.table, reg: g.reg, plus: f.Flag('+'), sharp: f.Flag('#')}
	p.leafFormat = fmt.FormatString(f, verb)
	p.value(g.v, 0, 0, false)
	f.Write([]byte(p.b.String()))
}

type goPrinter struct {
	b           strings.Builder
	table       []goType
	reg         dynRegistry
	plus, sharp bool
	leafFormat  string
}

// value prints v of type table[ti]; hidden: v is in an unexported field, where fmt calls no method.
func (p *goPrinter) value(v reflect.Value, ti, depth int, hidden bool) {
	t := &p.table[ti]
	if !v.IsValid() {
		p.b.WriteString("<nil>")
		return
	}
	switch t.Kind {
	case "struct":
		if p.sharp {
			p.b.WriteString(t.Name)
		}
		p.b.WriteByte('{')
		for i := 0; i < v.NumField() && i < len(t.Fields); i++ {
			if i > 0 {
				p.b.WriteString(map[bool]string{true: ", ", false: " "}[p.sharp])
			}
			if p.plus || p.sharp {
				p.b.WriteString(t.Fields[i] + ":")
			}
			p.value(v.Field(i), t.Types[i], depth+1, hidden || !token.IsExported(t.Fields[i]))
		}
		p.b.WriteByte('}')
	case "ptr":
		if v.IsNil() {
			if p.sharp {
				p.b.WriteString("(" + t.Name + ")(nil)")
			} else {
				p.b.WriteString("<nil>")
			}
			return
		}
		if elem := p.table[t.Types[0]].Kind; depth == 0 && elem != "ptr" && elem != "" {
			p.b.WriteByte('&')
			p.value(v.Elem(), t.Types[0], depth+1, hidden)
			return
		}
		if p.sharp {
			fmt.Fprintf(&p.b, "(%s)(%#x)", t.Name, v.Pointer())
		} else {
			fmt.Fprintf(&p.b, "%#x", v.Pointer())
		}
	case "slice", "array":
		if p.sharp {
			if t.Kind == "slice" && v.IsNil() {
				p.b.WriteString(t.Name + "(nil)")
				return
			}
			p.b.WriteString(t.Name + "{")
		} else {
			p.b.WriteByte('[')
		}
		for i := 0; i < v.Len(); i++ {
			if i > 0 {
				p.b.WriteString(map[bool]string{true: ", ", false: " "}[p.sharp])
			}
			p.value(v.Index(i), t.Types[0], depth+1, hidden)
		}
		p.b.WriteString(map[bool]string{true: "}", false: "]"}[p.sharp])
	case "map":
		if p.sharp {
			if v.IsNil() {
				p.b.WriteString(t.Name + "(nil)")
				return
			}
			p.b.WriteString(t.Name + "{")
		} else {
			p.b.WriteString("map[")
		}
		keys := v.MapKeys()
		sort.SliceStable(keys, func(i, j int) bool { return lessKey(keys[i], keys[j]) })
		for i, k := range keys {
			if i > 0 {
				p.b.WriteString(map[bool]string{true: ", ", false: " "}[p.sharp])
			}
			p.value(k, t.Types[0], depth+1, hidden)
			p.b.WriteByte(':')
			p.value(v.MapIndex(k), t.Types[1], depth+1, hidden)
		}
		p.b.WriteString(map[bool]string{true: "}", false: "]"}[p.sharp])
	case "iface":
		// a compiled interface, or yaegi's holder of a value of a cell's interface type
		e := v
		if v.Kind() == reflect.Interface && !v.IsNil() {
			e = v.Elem()
		}
		if e = interpretedValue(e); !e.IsValid() || e.Kind() == reflect.Interface {
			if p.sharp {
				p.b.WriteString(t.Name + "(nil)")
			} else {
				p.b.WriteString("<nil>")
			}
			return
		}
		table, err := dynTable(e.Type(), p.reg, p.sharp)
		if err != nil {
			panic(err)
		}
		if table == nil {
			fmt.Fprintf(&p.b, p.leafFormat, e.Interface())
			return
		}
		sub := &goPrinter{table: table, reg: p.reg, plus: p.plus, sharp: p.sharp, leafFormat: p.leafFormat}
		sub.value(e, 0, depth, hidden)
		p.b.WriteString(sub.b.String())
	default:
		if v.Kind() == reflect.Interface && v.IsNil() {
			if p.sharp {
				p.b.WriteString(t.Name + "(nil)")
			} else {
				p.b.WriteString("<nil>")
			}
			return
		}
		if !v.CanInterface() {
			p.b.WriteString("?")
			return
		}
		if k := v.Kind(); hidden && k >= reflect.Bool && k <= reflect.Complex128 || hidden && k == reflect.String {
			v = v.Convert(basicTypes[k]) // without the methods of its type, as fmt prints it there
		}
		fmt.Fprintf(&p.b, p.leafFormat, v.Interface())
	}
}

// basicTypes are the types of the basic kinds.
var basicTypes = func() map[reflect.Kind]reflect.Type {
	m := map[reflect.Kind]reflect.Type{}
	for _, x := range []any{false, 0, int8(0), int16(0), int32(0), int64(0), uint(0), uint8(0), uint16(0), uint32(0),
		uint64(0), uintptr(0), float32(0), float64(0), complex64(0), complex128(0), ""} {
		m[reflect.TypeOf(x).Kind()] = reflect.TypeOf(x)
	}
	return m
}()

// lessKey orders map keys as fmt does for the kinds a map of a cell's types has as keys most often (numbers,
// strings, booleans); other keys keep the map's order.
func lessKey(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() < b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return a.Uint() < b.Uint()
	case reflect.Float32, reflect.Float64:
		return a.Float() < b.Float()
	case reflect.String:
		return a.String() < b.String()
	case reflect.Bool:
		return !a.Bool() && b.Bool()
	}
	return false
}

// goTypeDesc describes t for GoValue (see goType). Compiled named types are printed by fmt itself.
func (lw *languageWriter) goTypeDesc(t types.Type) string {
	var table []goType
	index := map[types.Type]int{}
	var add func(t types.Type) int
	add = func(t types.Type) int {
		if i, ok := index[t]; ok {
			return i
		}
		i := len(table)
		index[t] = i
		table = append(table, goType{Name: reflectString(t)})
		g := goType{Name: table[i].Name}
		if n, ok := types.Unalias(t).(*types.Named); ok && n.Obj().Pkg() != lw.res.pkg {
			return i
		}
		switch u := types.Unalias(t).Underlying().(type) {
		case *types.Struct:
			g.Kind = "struct"
			for j := 0; j < u.NumFields(); j++ {
				g.Fields = append(g.Fields, u.Field(j).Name())
				g.Types = append(g.Types, add(u.Field(j).Type()))
			}
		case *types.Pointer:
			g.Kind, g.Types = "ptr", []int{add(u.Elem())}
		case *types.Slice:
			g.Kind, g.Types = "slice", []int{add(u.Elem())}
		case *types.Array:
			g.Kind, g.Types = "array", []int{add(u.Elem())}
		case *types.Map:
			k := add(u.Key())
			g.Kind, g.Types = "map", []int{k, add(u.Elem())}
		case *types.Interface:
			if _, named := types.Unalias(t).(*types.Named); named {
				g.Kind = "iface" // a cell's interface: its dynamic value, looked up when printed
			}
		}
		table[i] = g
		return i
	}
	add(t)
	b, _ := json.Marshal(table)
	return strconv.Quote(string(b))
}
