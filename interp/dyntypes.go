package interp

import (
	"context"
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// A value whose static type is an interface carries, at run time, the reflect type yaegi made for its dynamic
// type, which for a type a cell declares has no name (see gotypes.go). The session keeps, for the reflect type
// of each type its cells declare, the names Go gives it; the rewrite passes such values through DynTypeName and
// DynValue, which look their dynamic type up there. A reflect type two declarations share (identical
// structures) has no one name: that is refused. A named basic type is its underlying type, which the predeclared
// type has too: that is not told apart (still printed as the underlying type).

// dynRegistries: session id -> dynRegistry.
var dynRegistries sync.Map

// dynRegistry maps the reflect types yaegi made for a session's types to what Go knows of them.
type dynRegistry map[reflect.Type]*dynType

type dynType struct {
	fields   []string // the Go names of a struct's fields (yaegi renames the unexported ones)
	embedded []bool   // which of them are embedded (yaegi marks one only in a struct of one field)
	names    []string // Go's names of the types sharing the reflect type
	method   string   // a String, Error, Format or GoString method of one of them, which compiled code cannot call
}

func init() {
	// DynTypeName is the name Go gives the dynamic type of an interface's value, for %T
	builtins[builtinPath+"/builtin"]["DynTypeName"] = reflect.ValueOf(func(x any, sid, pos string) string {
		var t reflect.Type
		if v := interpretedValue(reflect.ValueOf(unwrapInterpreted(x))); v.IsValid() {
			t = v.Type()
		}
		name, err := dynTypeName(t, registryOf(sid))
		refuse(pos, err)
		return name
	})
	// DynValue is a value whose static type holds an interface, printed with the names of its dynamic type
	builtins[builtinPath+"/builtin"]["DynValue"] = reflect.ValueOf(dynValue)
	// IfaceEqual is a == b for values of a cell's interface type: their dynamic types and values are equal (it
	// panics on values Go cannot compare, as == does)
	builtins[builtinPath+"/builtin"]["IfaceEqual"] = reflect.ValueOf(func(a, b any, sid, pos string) bool {
		va := interpretedValue(reflect.ValueOf(unwrapInterpreted(a)))
		vb := interpretedValue(reflect.ValueOf(unwrapInterpreted(b)))
		if !va.IsValid() || !vb.IsValid() {
			return va.IsValid() == vb.IsValid()
		}
		if va.Type() != vb.Type() {
			return false
		}
		if dt := registryOf(sid)[va.Type()]; dt != nil && len(dt.names) > 1 {
			// types of one structure share a reflect type: their values would compare equal
			_, err := dynTypeName(va.Type(), registryOf(sid))
			refuse(pos, err)
		}
		return va.Interface() == vb.Interface()
	})
	// DynValues is DynValue for each of the arguments a call spreads (fmt.Println(args...))
	builtins[builtinPath+"/builtin"]["DynValues"] = reflect.ValueOf(func(xs []any, sid string, sharp bool, pos string) []any {
		out := make([]any, len(xs))
		for i, x := range xs {
			out[i] = dynValue(x, sid, sharp, pos)
		}
		return out
	})
}

func dynValue(x any, sid string, sharp bool, pos string) any {
	if v := reflect.ValueOf(x); v.Kind() == reflect.Struct && v.NumField() > 0 && v.Type().Field(0).Name == "IValue" {
		if printMethods(v.Type()) {
			return x // yaegi kept the methods fmt calls
		}
		x = v.Field(0).Interface()
	}
	reg := registryOf(sid)
	v := interpretedValue(reflect.ValueOf(x))
	if !v.IsValid() {
		return x
	}
	table, err := dynTable(v.Type(), reg, sharp)
	if err == nil && table != nil {
		err = checkDyn(v, reg, sharp, 0)
	}
	refuse(pos, err)
	if table == nil {
		if v.CanInterface() {
			return v.Interface() // not yaegi's holder, if it was one
		}
		return x
	}
	return goValue{v: v, table: table, reg: reg}
}

// refuse panics, if err is not nil, with the error at pos (cell:line:col), which the session reports as the
// cell's error.
func refuse(pos string, err error) {
	if err == nil {
		return
	}
	ce := &CellError{Cell: pos, Msg: strings.TrimPrefix(err.Error(), "govalent: ")}
	if i := strings.LastIndexByte(pos, ':'); i > 0 {
		if j := strings.LastIndexByte(pos[:i], ':'); j > 0 {
			ce.Cell = pos[:j]
			ce.Line, _ = strconv.Atoi(pos[j+1 : i])
			ce.Col, _ = strconv.Atoi(pos[i+1:])
		}
	}
	panic(ce)
}

// printMethods reports whether t has a method fmt calls.
func printMethods(t reflect.Type) bool {
	for _, m := range []string{"String", "Error", "Format", "GoString"} {
		if _, ok := t.MethodByName(m); ok {
			return true
		}
	}
	return false
}

// checkDyn finds, before fmt prints v, what goValue would fail to print right in the dynamic values of the
// interfaces v holds (fmt would print a panic in Format as text).
func checkDyn(v reflect.Value, reg dynRegistry, sharp bool, depth int) error {
	if !v.IsValid() {
		return nil
	}
	switch v.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			return nil
		}
		e := interpretedValue(v.Elem())
		if _, err := dynTable(e.Type(), reg, sharp); err != nil {
			return err
		}
		return checkDyn(e, reg, sharp, depth+1)
	case reflect.Pointer:
		if depth == 0 && !v.IsNil() {
			return checkDyn(v.Elem(), reg, sharp, depth+1)
		}
	case reflect.Struct:
		if v.Type().Name() != "" {
			return nil
		}
		for i := 0; i < v.NumField(); i++ {
			if err := checkDyn(v.Field(i), reg, sharp, depth+1); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			if err := checkDyn(v.Index(i), reg, sharp, depth+1); err != nil {
				return err
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if err := checkDyn(it.Key(), reg, sharp, depth+1); err != nil {
				return err
			}
			if err := checkDyn(it.Value(), reg, sharp, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func registryOf(sid string) dynRegistry {
	if r, ok := dynRegistries.Load(sid); ok {
		return r.(dynRegistry)
	}
	return nil
}

// unwrapInterpreted returns the interpreted value inside a wrapper yaegi made to give it the methods of a
// compiled interface (fmt.Stringer, error).
func unwrapInterpreted(x any) any {
	if v := reflect.ValueOf(x); v.Kind() == reflect.Struct && v.NumField() > 0 && v.Type().Field(0).Name == "IValue" {
		return v.Field(0).Interface()
	}
	return x
}

// registerTypes records the reflect types of the types the session's cells declare (all of them: a rebuild
// makes new reflect types). Generic types and aliases are left out.
func (s *Session) registerTypes(ctx context.Context) {
	s.mu.Lock()
	var names []string
	fields := map[string][]string{}
	embedded := map[string][]bool{}
	for _, d := range s.store.all() {
		if d.tok != token.TYPE || d.src.file == nil || len(d.src.file.Decls) == 0 {
			continue
		}
		gd, ok := d.src.file.Decls[0].(*ast.GenDecl)
		if !ok {
			continue
		}
		for _, spec := range gd.Specs {
			if ts, ok := spec.(*ast.TypeSpec); ok && ts.TypeParams == nil && !ts.Assign.IsValid() && ts.Name.Name != "_" {
				names = append(names, ts.Name.Name)
				if st, ok := ts.Type.(*ast.StructType); ok {
					fields[ts.Name.Name] = structFieldNames(st)
					for _, f := range st.Fields.List {
						for range max(len(f.Names), 1) {
							embedded[ts.Name.Name] = append(embedded[ts.Name.Name], len(f.Names) == 0)
						}
					}
				}
			}
		}
	}
	methods := map[string]string{}
	for _, d := range s.store.all() {
		if d.tok == token.FUNC && d.recv != "" && slices.Contains([]string{"String", "Error", "Format", "GoString"}, d.names[0]) {
			methods[d.recv] = d.names[0]
		}
	}
	sid := s.id
	s.mu.Unlock()
	// Each name's type is looked up on its own when looking them up together fails (a name that is no longer
	// a type): what is not registered prints as before, or is refused when it has hidden fields.
	ptrs := make([]string, len(names))
	for i, n := range names {
		ptrs[i] = "(*" + n + ")(nil)"
	}
	typesOf := func(ptrs []string) []reflect.Type {
		v, err := s.eval(ctx, "prelude", "[]any{"+strings.Join(ptrs, ", ")+"}")
		if err != nil || v.Kind() != reflect.Slice || v.Len() != len(ptrs) {
			return nil
		}
		out := make([]reflect.Type, len(ptrs))
		for i := range out {
			e := v.Index(i)
			for e.Kind() == reflect.Interface {
				e = e.Elem()
			}
			e = interpretedValue(e) // a pointer with methods, which yaegi holds in its own struct
			if e.Kind() == reflect.Pointer {
				out[i] = e.Type().Elem()
			}
		}
		return out
	}
	found := typesOf(ptrs)
	if found == nil && len(ptrs) > 1 {
		found = make([]reflect.Type, len(ptrs))
		for i := range ptrs {
			if one := typesOf(ptrs[i : i+1]); one != nil {
				found[i] = one[0]
			}
		}
	}
	reg := dynRegistry{}
	for i, t := range found {
		if t == nil || t.Kind() == reflect.Interface || t.PkgPath() == yaegiPath {
			continue // an interface's values have dynamic types of their own
		}
		if reg[t] == nil {
			reg[t] = &dynType{fields: fields[names[i]], embedded: embedded[names[i]]}
		} else if !slices.Equal(reg[t].embedded, embedded[names[i]]) {
			reg[t].embedded = nil // types of one structure that embed differently: not told apart
		}
		reg[t].names = append(reg[t].names, "main."+names[i])
		if m := methods[names[i]]; m != "" {
			reg[t].method = m
		}
	}
	// Values made before a type was redefined keep their reflect type: it keeps its names, with those of the
	// new types sharing it (then ambiguous).
	for t, old := range registryOf(sid) {
		dt := reg[t]
		if dt == nil {
			reg[t] = old
			continue
		}
		for _, n := range old.names {
			if !slices.Contains(dt.names, n) {
				dt.names = append(dt.names, n)
			}
		}
		if dt.method == "" {
			dt.method = old.method
		}
	}
	dynRegistries.Store(sid, reg)
}

// dynTypeName is the name Go gives the type of which t is yaegi's reflect type, as %T prints it.
func dynTypeName(t reflect.Type, reg dynRegistry) (string, error) {
	if t == nil {
		return "<nil>", nil
	}
	// A named basic type of a cell is its underlying type, which the predeclared type has too: left as it is
	// (refusing would refuse every int printed through an interface once a cell declares a type of int).
	if dt, ok := reg[t]; ok && t.Name() == "" {
		names := dt.names
		if len(names) == 1 {
			return names[0], nil
		}
		return "", fmt.Errorf("govalent: the interpreter cannot tell which of %s this value is (it gives them one type): print it where its static type is known, or give the types different structures", strings.Join(names, ", "))
	}
	elem := func(prefix string, e reflect.Type) (string, error) {
		s, err := dynTypeName(e, reg)
		return prefix + s, err
	}
	switch t.Kind() {
	case reflect.Pointer:
		return elem("*", t.Elem())
	case reflect.Slice:
		return elem("[]", t.Elem())
	case reflect.Array:
		return elem(fmt.Sprintf("[%d]", t.Len()), t.Elem())
	case reflect.Chan:
		switch t.ChanDir() {
		case reflect.SendDir:
			return elem("chan<- ", t.Elem())
		case reflect.RecvDir:
			return elem("<-chan ", t.Elem())
		}
		return elem("chan ", t.Elem())
	case reflect.Map:
		k, err := dynTypeName(t.Key(), reg)
		if err != nil {
			return "", err
		}
		return elem("map["+k+"]", t.Elem())
	case reflect.Struct:
		if t.Name() == "" && hasHiddenFields(t) {
			return "", fmt.Errorf("govalent: the interpreter does not know the name of the type of this value (%s), declared inside a function: declare it at the top level of a cell", t)
		}
	}
	return t.String(), nil
}

// hasHiddenFields reports whether a struct has fields that were unexported in the cell (see hiddenFieldTags).
func hasHiddenFields(t reflect.Type) bool {
	for i := 0; i < t.NumField(); i++ {
		if hiddenField(t.Field(i)) {
			return true
		}
	}
	return false
}

func hiddenField(f reflect.StructField) bool {
	return strings.HasPrefix(f.Name, "X") && f.Tag.Get("json") == "-" && f.Tag.Get("xml") == "-"
}

// dynTable describes, for goValue, the type of which t is yaegi's reflect type, with Go's names; nil when the
// interpreter's names are Go's (no type of a cell is in it). Without sharp (%+v) the names of types are not
// printed, so a type with no one name is no error.
func dynTable(t reflect.Type, reg dynRegistry, sharp bool) ([]goType, error) {
	if t == nil {
		return nil, nil
	}
	var table []goType
	index := map[reflect.Type]int{}
	cells := false
	var add func(t reflect.Type) (int, error)
	add = func(t reflect.Type) (int, error) {
		if i, ok := index[t]; ok {
			return i, nil
		}
		name, err := dynTypeName(t, reg)
		if err != nil && sharp {
			return 0, err
		}
		i := len(table)
		index[t] = i
		table = append(table, goType{Name: name})
		if dt, ok := reg[t]; ok && t.Name() == "" { // a named basic type is its underlying type: not told apart
			if dt.method != "" {
				return 0, fmt.Errorf("govalent: fmt would not call the %s method of %s in this value (the interpreter loses it): call it yourself", dt.method, strings.Join(dt.names, " or "))
			}
			cells = true
		}
		g := goType{Name: name}
		var elems []reflect.Type
		switch t.Kind() {
		case reflect.Struct:
			if isHolder(t) {
				g.Kind = "iface" // yaegi's holder of a value of a cell's interface type
				cells = true
				break
			}
			if t.Name() != "" {
				return i, nil // compiled: fmt prints it
			}
			g.Kind = "struct"
			var goNames []string
			if dt := reg[t]; dt != nil && len(dt.fields) == t.NumField() {
				goNames = dt.fields
			}
			for j := 0; j < t.NumField(); j++ {
				f := t.Field(j)
				n := f.Name
				if goNames != nil {
					n = goNames[j]
				} else if hiddenField(f) {
					n = n[1:]
				}
				g.Fields = append(g.Fields, n)
				elems = append(elems, f.Type)
			}
		case reflect.Pointer:
			g.Kind, elems = "ptr", []reflect.Type{t.Elem()}
		case reflect.Slice:
			g.Kind, elems = "slice", []reflect.Type{t.Elem()}
		case reflect.Array:
			g.Kind, elems = "array", []reflect.Type{t.Elem()}
		case reflect.Map:
			g.Kind, elems = "map", []reflect.Type{t.Key(), t.Elem()}
		case reflect.Interface:
			g.Kind = "iface" // printed as its dynamic value, looked up when printed
			cells = true
		}
		if t.Name() != "" && t.Kind() != reflect.Struct {
			g.Kind, elems = "", nil // compiled, or a basic type: fmt prints it
		}
		for _, e := range elems {
			j, err := add(e)
			if err != nil {
				return 0, err
			}
			g.Types = append(g.Types, j)
		}
		table[i] = g
		return i, nil
	}
	if _, err := add(t); err != nil {
		return nil, err
	}
	if !cells {
		return nil, nil
	}
	return table, nil
}

func init() {
	// TypeString and TypeNameOf are a reflect.Type's String and Name, with Go's names for a cell's types.
	builtins[builtinPath+"/builtin"]["TypeString"] = reflect.ValueOf(func(t reflect.Type, sid, pos string) string {
		if t == nil {
			return "<nil>"
		}
		name, err := dynTypeName(t, registryOf(sid))
		refuse(pos, err)
		return name
	})
	builtins[builtinPath+"/builtin"]["TypeNameOf"] = reflect.ValueOf(func(t reflect.Type, sid, pos string) string {
		dt, ok := registryOf(sid)[t]
		if !ok || t.Name() != "" {
			return t.Name()
		}
		if len(dt.names) > 1 {
			_, err := dynTypeName(t, registryOf(sid))
			refuse(pos, err)
		}
		return strings.TrimPrefix(dt.names[0], "main.")
	})
}

// hasCellTypes reports whether the cells declared types whose values an interface may hold at run time: the
// session's earlier cells, or this one (at its top level or inside a function).
func (lw *languageWriter) hasCellTypes() bool {
	if len(registryOf(lw.s.id)) > 0 {
		return true
	}
	for _, obj := range lw.res.info.Defs {
		if tn, ok := obj.(*types.TypeName); ok && !tn.IsAlias() {
			return true
		}
	}
	return false
}

// isReflectType reports whether t is reflect.Type.
func isReflectType(t types.Type) bool {
	n, ok := types.Unalias(t).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "reflect" && n.Obj().Name() == "Type"
}

// dynArg wraps an argument in a call of a helper given the session's id.
func (lw *languageWriter) dynArg(a ast.Expr, helper string, extra string) {
	lw.add(a.Pos(), a.Pos(), builtinAlias+"."+helper+"(")
	lw.add(a.End(), a.End(), lw.dynArgs(a.Pos(), extra)+")")
}

// dynArgs are the arguments after the value of a dynamic lookup helper: the session's id, extra and the position
// its refusal names.
func (lw *languageWriter) dynArgs(pos token.Pos, extra string) string {
	p := lw.res.fset.Position(pos)
	return ", " + strconv.Quote(lw.s.id) + extra + ", " + strconv.Quote(fmt.Sprintf("%s:%d:%d", p.Filename, p.Line, p.Column))
}

// yaegiPath is the package of yaegi's own types, such as the one it holds interpreted interface values in.
const yaegiPath = "github.com/traefik/yaegi/interp"

// interpretedValue returns the value inside yaegi's holder of an interpreted interface value (a struct whose
// field value is a reflect.Value), which compiled code would otherwise print as the holder's fields.
func interpretedValue(v reflect.Value) reflect.Value {
	for v.IsValid() && v.Kind() == reflect.Struct && v.Type().Name() == "valueInterface" && v.Type().PkgPath() == yaegiPath {
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		f := c.FieldByName("value")
		if f.Type() != reflect.TypeOf(reflect.Value{}) {
			break
		}
		v = *(*reflect.Value)(unsafe.Pointer(f.UnsafeAddr()))
		for v.IsValid() && v.Kind() == reflect.Interface {
			v = v.Elem()
		}
	}
	return v
}

// holdsInterface reports whether a value of t is, or holds in its elements, an interface, whose dynamic value
// may be of a cell's type (the fields of compiled structs are printed by fmt: they hold no cell's values).
func holdsInterface(t types.Type) bool {
	switch x := types.Unalias(t).(type) {
	case *types.Named:
		return types.IsInterface(x)
	case *types.Interface, *types.TypeParam:
		return true
	case *types.Slice:
		return holdsInterface(x.Elem())
	case *types.Array:
		return holdsInterface(x.Elem())
	case *types.Map:
		return holdsInterface(x.Key()) || holdsInterface(x.Elem())
	case *types.Pointer:
		return holdsInterface(x.Elem())
	}
	return false
}

// structFieldNames lists the names of a struct's fields as Go gives them (an embedded field is named after
// its type).
func structFieldNames(st *ast.StructType) []string {
	var out []string
	for _, f := range st.Fields.List {
		if len(f.Names) == 0 {
			t := f.Type
			if star, ok := t.(*ast.StarExpr); ok {
				t = star.X
			}
			if sel, ok := t.(*ast.SelectorExpr); ok {
				t = sel.Sel
			}
			id, _ := t.(*ast.Ident)
			if id == nil {
				return nil // not a field list Go allows
			}
			out = append(out, id.Name)
		}
		for _, n := range f.Names {
			out = append(out, n.Name)
		}
	}
	return out
}
