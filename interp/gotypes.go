package interp

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/token"
	"go/types"
	"reflect"
	"strconv"
	"strings"
)

// yaegi gives a type a cell declares a reflect type of its own making: a struct type is an unnamed struct whose
// unexported fields are exported with an X in front, a named basic type is its underlying type, and the
// methods of a value inside another value are lost. So fmt's %T, %+v and %#v, reflect's Name and String, and
// errors.As would answer wrongly about them. With the types the check found, printTypes rewrites what it can
// answer as Go does and refuses, with a clear error, what it cannot.

func init() {
	// typeName evaluates its argument (as Go would) and returns the name the check found for its type.
	builtins[builtinPath+"/builtin"]["TypeName"] = reflect.ValueOf(func(_ any, name string) string { return name })
	// asError is given an interpreted value as an error, which makes the interpreter wrap it with its Error
	// method; a nil pointer is returned as it is, which fmt prints as <nil> (as it prints a nil pointer whose
	// Error method panics)
	builtins[builtinPath+"/builtin"]["AsError"] = reflect.ValueOf(func(err error) any { return withMethods(err) })
	// AsStringer is AsError for a String method
	builtins[builtinPath+"/builtin"]["AsStringer"] = reflect.ValueOf(func(s fmt.Stringer) any { return withMethods(s) })
	// interpreted returns the interpreted value inside such a wrapper (an error that went through compiled code),
	// which a type assertion in interpreted code does not look into
	builtins[builtinPath+"/builtin"]["Interpreted"] = reflect.ValueOf(func(x any) any {
		if v := reflect.ValueOf(x); v.Kind() == reflect.Struct && v.NumField() > 0 && v.Type().Field(0).Name == "IValue" {
			return v.Field(0).Interface()
		}
		return x
	})
	// unwrap is what an error wraps (compiled code answers it: the interpreter's assertion to an interface with
	// an Unwrap method fails on compiled errors)
	builtins[builtinPath+"/builtin"]["Unwrap"] = reflect.ValueOf(func(err error) []error {
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			return []error{u.Unwrap()}
		case interface{ Unwrap() []error }:
			return u.Unwrap()
		}
		return nil
	})
}

// fmtFormats are the funcs of fmt and log with a format, by the index of the format argument; the others print
// their arguments as %v.
var fmtFormats = map[string]int{"fmt.Printf": 0, "fmt.Sprintf": 0, "fmt.Errorf": 0, "fmt.Fprintf": 1, "fmt.Appendf": 1,
	"log.Printf": 0, "log.Fatalf": 0, "log.Panicf": 0}

// fmtPrints are the funcs of fmt and log without a format, by the index of the first argument they print.
var fmtPrints = map[string]int{"fmt.Print": 0, "fmt.Println": 0, "fmt.Sprint": 0, "fmt.Sprintln": 0, "fmt.Fprint": 1,
	"fmt.Fprintln": 1, "fmt.Append": 1, "fmt.Appendln": 1,
	"log.Print": 0, "log.Println": 0, "log.Fatal": 0, "log.Fatalln": 0, "log.Panic": 0, "log.Panicln": 0}

// pkgFunc returns the package path and name of the package-level func a call calls (fmt.Printf), if it does.
func (lw *languageWriter) pkgFunc(call *ast.CallExpr) (string, string) {
	sel, ok := ast.Unparen(call.Fun).(*ast.SelectorExpr)
	if !ok {
		return "", ""
	}
	id, ok := sel.X.(*ast.Ident)
	if !ok {
		return "", ""
	}
	pn, ok := lw.res.info.Uses[id].(*types.PkgName)
	if !ok {
		return "", ""
	}
	return pn.Imported().Path(), sel.Sel.Name
}

// printTypes rewrites a call of fmt's printing funcs, of errors.As, and `reflect.TypeOf(x).Name()` or
// `.String()`, where a type of the cell's package is involved.
func (lw *languageWriter) printTypes(call *ast.CallExpr) {
	path, name := lw.pkgFunc(call)
	switch {
	case (path == "fmt" || path == "log") && call.Ellipsis.IsValid():
		// the arguments spread from a slice: each printed with the names of its dynamic type, as %v
		if _, ok := fmtPrints[path+"."+name]; !ok {
			if _, ok := fmtFormats[path+"."+name]; !ok {
				break
			}
		}
		a := call.Args[len(call.Args)-1]
		if !lw.hasCellTypes() || !holdsInterface(lw.res.info.Types[a].Type) || !lw.wrappable(a) {
			break
		}
		// a format's verbs are not known here: %d of a value given as a fmt.Stringer would print the wrapper
		if _, format := fmtFormats[path+"."+name]; format {
			lw.dynArg(a, "DynValues", ", false")
			break
		}
		if cases := lw.printMethodCases(a.Pos()); cases != "" {
			// each value of a type with a String method given as a fmt.Stringer first
			lw.add(a.Pos(), a.Pos(), builtinAlias+".DynValues(func(govalentXs []any) []any { govalentOut := make([]any, len(govalentXs)); "+
				"for govalentI, govalentX := range govalentXs { govalentOut[govalentI] = func(govalentX any) any { switch govalentX.(type) {"+cases+
				"}; return govalentX }(govalentX) }; return govalentOut }(")
			lw.add(a.End(), a.End(), ")"+lw.dynArgs(a.Pos(), ", false")+")")
			break
		}
		lw.dynArg(a, "DynValues", ", false")
	case path == "fmt" || path == "log":
		if i, ok := fmtFormats[path+"."+name]; ok && len(call.Args) > i {
			lw.fmtFormat(call.Args[i], call.Args[i+1:])
		} else if i, ok := fmtPrints[path+"."+name]; ok && len(call.Args) > i {
			for _, a := range call.Args[i:] {
				lw.fmtArg(a, 'v', "")
			}
		}
	case path == "errors" && name == "As" && len(call.Args) == 2:
		lw.errorsAs(call)
	}
	// reflect.TypeOf(x).Name() and .String()
	sel, ok := ast.Unparen(call.Fun).(*ast.SelectorExpr)
	if !ok || len(call.Args) != 0 || sel.Sel.Name != "Name" && sel.Sel.Name != "String" {
		return
	}
	inner, ok := ast.Unparen(sel.X).(*ast.CallExpr)
	var t types.Type
	if ok && len(inner.Args) == 1 {
		if p, n := lw.pkgFunc(inner); p == "reflect" && n == "TypeOf" {
			t = lw.res.info.Types[inner.Args[0]].Type
		}
	}
	if t != nil && !types.IsInterface(t) && !lw.involvesCell(t) {
		return // the interpreter's name is Go's
	}
	if t == nil || types.IsInterface(t) {
		// any other reflect.Type (of an interface's dynamic type, kept in a variable): looked up when it runs
		if isReflectType(lw.res.info.Types[sel.X].Type) && lw.res.info.Selections[sel] != nil && lw.hasCellTypes() {
			helper := map[string]string{"Name": "TypeNameOf", "String": "TypeString"}[sel.Sel.Name]
			lw.add(call.Pos(), sel.X.Pos(), builtinAlias+"."+helper+"(")
			lw.add(sel.X.End(), call.End(), lw.dynArgs(call.Pos(), "")+")")
		}
		return
	}
	text := reflectString(t)
	if sel.Sel.Name == "Name" {
		text = ""
		if n, ok := types.Unalias(t).(*types.Named); ok {
			text = n.Obj().Name()
		}
	}
	lw.add(call.Pos(), inner.Args[0].Pos(), builtinAlias+".TypeName(")
	lw.add(inner.Args[0].End(), call.End(), ", "+strconv.Quote(text)+")")
}

// fmtFormat checks the arguments of a format func against their verbs, and writes %T of a cell's type as the
// name Go gives it.
func (lw *languageWriter) fmtFormat(format ast.Expr, args []ast.Expr) {
	tv := lw.res.info.Types[format]
	if tv.Value == nil || tv.Value.Kind() != constant.String {
		return // the verbs are not known before it runs
	}
	verbs, ok := parseVerbs(constant.StringVal(tv.Value))
	if !ok {
		for _, a := range args {
			if t := lw.res.info.Types[a].Type; t != nil && !types.IsInterface(t) && lw.involvesCell(t) {
				lw.fail(a.Pos(), "a format with argument indexes ([n]) is not supported here for a value of %s, which the interpreter would print with its own names: write the verbs in order", reflectString(t))
				return
			}
		}
		return
	}
	rewritten := []byte(constant.StringVal(tv.Value))
	changed := false
	for _, v := range verbs {
		if v.arg >= len(args) {
			break
		}
		if v.verb == 'T' {
			t := lw.res.info.Types[args[v.arg]].Type
			a := args[v.arg]
			if !lw.wrappable(a) {
				continue
			}
			switch {
			case t != nil && !types.IsInterface(t) && lw.involvesCell(t):
				lw.add(a.Pos(), a.Pos(), builtinAlias+".TypeName(")
				lw.add(a.End(), a.End(), ", "+strconv.Quote(reflectString(t))+")")
			case t != nil && types.IsInterface(t) && lw.hasCellTypes():
				lw.dynArg(a, "DynTypeName", "") // its dynamic type, looked up when it runs
			default:
				continue
			}
			rewritten[v.at] = 's'
			changed = true
			continue
		}
		lw.fmtArg(args[v.arg], v.verb, v.flags)
	}
	if !changed {
		return
	}
	lit, ok := ast.Unparen(format).(*ast.BasicLit)
	if !ok || strings.Contains(lit.Value, "\n") {
		lw.fail(format.Pos(), "%%T of a type of the cell needs the format written as a one-line string literal here: the interpreter does not know its name")
		return
	}
	lw.add(lit.Pos(), lit.End(), strconv.Quote(string(rewritten)))
}

// withMethods returns x, the interpreter's wrapper of a value with its methods, or nil for a nil pointer.
func withMethods(x any) any {
	if v := reflect.ValueOf(x); v.Kind() == reflect.Struct && v.NumField() > 0 && v.Type().Field(0).Name == "IValue" {
		if in := v.Field(0).Elem(); in.Kind() == reflect.Pointer && in.IsNil() {
			return nil
		}
	}
	return x
}

// fmtArg rewrites or refuses an argument fmt would print wrongly with verb and flags: a value of a cell's type
// with an Error method is given as an error (the interpreter then keeps the method), %+v and %#v go through
// GoValue (Go's field and type names), and a String, Error, Format or GoString method fmt would call inside
// another value is refused (the interpreter loses methods there).
func (lw *languageWriter) fmtArg(a ast.Expr, verb rune, flags string) {
	if !lw.wrappable(a) {
		return
	}
	sharp, plus := strings.Contains(flags, "#"), strings.Contains(flags, "+")
	if call, ok := ast.Unparen(a).(*ast.CallExpr); ok && len(call.Args) == 1 && strings.ContainsRune("vsq", verb) {
		// reflect.TypeOf(x) printed: its String, the name Go gives x's type
		if p, n := lw.pkgFunc(call); p == "reflect" && n == "TypeOf" {
			if t := lw.res.info.Types[call.Args[0]].Type; t != nil && !types.IsInterface(t) {
				if lw.involvesCell(t) {
					lw.add(call.Pos(), call.Args[0].Pos(), builtinAlias+".TypeName(")
					lw.add(call.Args[0].End(), call.End(), ", "+strconv.Quote(reflectString(t))+")")
				}
				return
			}
		}
	}
	t := lw.res.info.Types[a].Type
	switch {
	case t == nil:
		return
	case isReflectType(t):
		// another reflect.Type printed (of an interface's dynamic type, or kept in a variable): looked up when
		// it runs
		if strings.ContainsRune("vsq", verb) && !sharp && lw.hasCellTypes() {
			lw.dynArg(a, "TypeString", "")
		}
		return
	case types.IsInterface(t) || !lw.involvesCell(t):
		// a cell's type held in an interface: printed with its dynamic type's names, looked up when it runs;
		// one with a String method given as a fmt.Stringer, keeping the method
		if !strings.ContainsRune("vsq", verb) || !holdsInterface(t) || !lw.hasCellTypes() {
			return
		}
		// (not one with methods: yaegi fails to pass it to a func literal)
		if iface, ok := t.Underlying().(*types.Interface); ok && iface.Empty() && !sharp {
			if cases := lw.printMethodCases(a.Pos()); cases != "" {
				lw.add(a.Pos(), a.Pos(), "func(govalentX any) any { switch govalentX.(type) {"+cases+
					"}; return "+builtinAlias+".DynValue(govalentX"+lw.dynArgs(a.Pos(), ", false")+") }(")
				lw.add(a.End(), a.End(), ")")
				return
			}
		}
		lw.dynArg(a, "DynValue", ", "+strconv.FormatBool(sharp))
		return
	}
	info := lw.printInfo(t)
	shown := "%" + flags + string(verb)
	methods := types.NewMethodSet(t)
	has := func(names ...string) bool {
		for _, n := range names {
			if methods.Lookup(lw.res.pkg, n) != nil {
				return true
			}
		}
		return false
	}
	nested := func(names ...string) string {
		for _, n := range names {
			if typ, ok := info.methods[n]; ok {
				return fmt.Sprintf("%s of %s would not call the %s method of the %s inside it (the interpreter loses methods there): print them one by one", shown, reflectString(t), n, typ)
			}
		}
		return ""
	}
	strs := strings.ContainsRune("vsqxX", verb) && !sharp
	switch {
	case (strs || verb == 'w') && info.named && types.Implements(t, errorType):
		// given as an error, the interpreter's value keeps its Error method for fmt (%w too)
		lw.add(a.Pos(), a.Pos(), builtinAlias+".AsError(")
		lw.add(a.End(), a.End(), ")")
	case strs && has("String", "Format"):
		// fmt calls the method, which the interpreter keeps on a value it gives to compiled code
	case strs && nested("Format", "Error", "String") != "":
		lw.fail(a.Pos(), "%s", nested("Format", "Error", "String"))
	case verb == 'v' && sharp && (has("GoString", "Format") || nested("GoString", "Format") != ""):
		lw.fail(a.Pos(), "%s of %s would not call its GoString or Format method or those of the values inside it (the interpreter loses them): use %%v, or print the fields", shown, reflectString(t))
	case verb == 'v' && (sharp || plus) && info.compiledHidden != "":
		lw.fail(a.Pos(), "%s of %s would call the methods of the %s in an unexported field, which Go does not: use %%v, or print the fields", shown, reflectString(t), info.compiledHidden)
	case verb == 'v' && (sharp || plus) || strs && info.cellInterface:
		lw.add(a.Pos(), a.Pos(), builtinAlias+".GoValue(")
		lw.add(a.End(), a.End(), ", "+lw.goTypeDesc(t)+", "+strconv.Quote(lw.s.id)+")")
	}
}

var (
	errorType    = types.Universe.Lookup("error").Type().Underlying().(*types.Interface)
	stringerType = types.NewInterfaceType([]*types.Func{types.NewFunc(token.NoPos, nil, "String",
		types.NewSignatureType(nil, nil, nil, nil, types.NewTuple(types.NewParam(token.NoPos, nil, "", types.Typ[types.String])), false))}, nil).Complete()
)

// printMethodCases are the clauses of a type switch on govalentX that give the value of each of the cells' types
// with a String method (and of its pointer) to AsStringer: fmt then calls the method, as it calls it in Go. The types are those of the package's top level that pos sees by their names. The switch
// declares no variable, and the value is asserted in the clause: see typeSwitch.
func (lw *languageWriter) printMethodCases(pos token.Pos) string {
	scope := lw.res.pkg.Scope()
	inner := scope.Innermost(pos)
	var cases strings.Builder
	for _, name := range scope.Names() {
		tn, ok := scope.Lookup(name).(*types.TypeName)
		if !ok || tn.IsAlias() {
			continue
		}
		named, ok := tn.Type().(*types.Named)
		if !ok || named.TypeParams().Len() > 0 || types.IsInterface(named) {
			continue
		}
		if inner != nil {
			if _, seen := inner.LookupParent(name, pos); seen != tn {
				continue // shadowed here
			}
		}
		for _, c := range []struct {
			typ  types.Type
			expr string
		}{{named, name}, {types.NewPointer(named), "*" + name}} {
			// not an error: yaegi's switch does not find it in an interface
			if !types.Implements(c.typ, errorType) && types.Implements(c.typ, stringerType) {
				fmt.Fprintf(&cases, " case %[1]s: return %[2]s.AsStringer(govalentX.(%[1]s));", c.expr, builtinAlias)
			}
		}
	}
	return cases.String()
}

// printInfo is what of a type the interpreter cannot print as Go does.
type printInfo struct {
	named bool // a named type of the cell's package is in it
	// an interface type of the cell's package is inside it, whose values yaegi holds in its own struct
	cellInterface bool
	// a struct of the cell's package with an embedded field beside others, which yaegi does not mark embedded
	embeds  bool
	hidden  bool              // a struct with unexported fields is in it
	methods map[string]string // Format, Error, String, GoString methods of values inside it -> a type having it
	// a compiled type with such a method in an unexported field (where fmt calls no method)
	compiledHidden string
}

func (lw *languageWriter) printInfo(t types.Type) printInfo {
	info := printInfo{methods: map[string]string{}}
	seen := map[*types.Named]bool{}
	printMethods := func(t types.Type, viaPointer bool) []string {
		ms := types.NewMethodSet(t)
		if viaPointer {
			ms = types.NewMethodSet(types.NewPointer(t))
		}
		var out []string
		for _, m := range []string{"Format", "Error", "String", "GoString"} {
			if ms.Lookup(nil, m) != nil {
				out = append(out, m)
			}
		}
		return out
	}
	var walk func(t types.Type, inside, viaPointer, hidden bool)
	walk = func(t types.Type, inside, viaPointer, hidden bool) {
		switch x := types.Unalias(t).(type) {
		case *types.Named:
			if x.Obj().Pkg() != lw.res.pkg {
				// a compiled type: its reflect type is Go's
				_, basic := x.Underlying().(*types.Basic) // printed without its methods by GoValue
				if hidden && !basic && info.compiledHidden == "" && len(printMethods(x, viaPointer)) > 0 {
					info.compiledHidden = reflectString(x)
				}
				return
			}
			info.named = true
			if _, iface := x.Underlying().(*types.Interface); iface && inside {
				info.cellInterface = true
			}
			if inside {
				for _, m := range printMethods(x, viaPointer) {
					if _, ok := info.methods[m]; !ok {
						info.methods[m] = reflectString(x)
					}
				}
			}
			if !seen[x] {
				seen[x] = true
				walk(x.Underlying(), inside, viaPointer, hidden)
			}
		case *types.Pointer:
			walk(x.Elem(), inside, true, hidden)
		case *types.Struct:
			for i := 0; i < x.NumFields(); i++ {
				f := x.Field(i)
				info.embeds = info.embeds || f.Embedded() && x.NumFields() > 1
				info.hidden = info.hidden || !f.Exported()
				walk(f.Type(), true, false, hidden || !f.Exported())
			}
		case *types.Slice:
			walk(x.Elem(), true, false, hidden)
		case *types.Array:
			walk(x.Elem(), true, false, hidden)
		case *types.Map:
			walk(x.Key(), true, false, hidden)
			walk(x.Elem(), true, false, hidden)
		}
	}
	walk(t, false, false, false)
	return info
}

// involvesCell reports whether the interpreter's reflect type of t differs from Go's: a named type of the cell's
// package, or a struct with unexported fields, is in it.
func (lw *languageWriter) involvesCell(t types.Type) bool {
	info := lw.printInfo(t)
	return info.named || info.hidden
}

// errorsAs rewrites errors.As(err, &target), for a target of a type of the cell, into a helper that walks the
// error's chain with type assertions, which the interpreter answers right (errors.As compares reflect types).
func (lw *languageWriter) errorsAs(call *ast.CallExpr) {
	pt, ok := types.Unalias(lw.res.info.Types[call.Args[1]].Type).(*types.Pointer)
	if !ok || types.IsInterface(pt.Elem()) || !lw.involvesCell(pt.Elem()) {
		return
	}
	if _, ok := types.Unalias(pt.Elem()).(*types.Pointer); !ok {
		lw.fail(call.Pos(), "errors.As with a target of type %s is not supported by the interpreter, which loses such values in compiled errors: give the type's Error method a pointer receiver and the target a pointer type", reflectString(pt.Elem()))
		return
	}
	for t := types.Type(pt); ; {
		p, ok := types.Unalias(t).(*types.Pointer)
		if !ok {
			break
		}
		t = p.Elem()
		if n, ok := types.Unalias(t).(*types.Named); ok && n.Obj().Parent() != lw.res.pkg.Scope() {
			// the helper is declared at package level, where the type is not known
			lw.fail(call.Pos(), "errors.As with a target of a type declared inside a function is not supported by the interpreter: declare the type at the top level of a cell")
			return
		}
	}
	typ := lw.typeString(pt.Elem())
	name := helperPrefix + "as_" + shortHash(typ)
	if lw.plan.helpers == nil {
		lw.plan.helpers = map[string]string{}
	}
	lw.plan.helpers[name] = "func " + name + "(err error, target *" + typ + ") bool {\n" +
		"\tif err == nil {\n\t\treturn false\n\t}\n" +
		"\tif t, ok := " + builtinAlias + ".Interpreted(err).(" + typ + "); ok {\n\t\t*target = t\n\t\treturn true\n\t}\n" +
		"\tif a, ok := err.(interface{ As(any) bool }); ok && a.As(target) {\n\t\treturn true\n\t}\n" +
		"\tfor _, e := range " + builtinAlias + ".Unwrap(err) {\n\t\tif " + name + "(e, target) {\n\t\t\treturn true\n\t\t}\n\t}\n" +
		"\treturn false\n}"
	lw.add(call.Fun.Pos(), call.Fun.End(), name)
}

// verbAt is a verb of a format: the argument it prints, the verb, its flags and the offset of the verb.
type verbAt struct {
	arg   int
	verb  rune
	flags string
	at    int
}

// parseVerbs lists the verbs of a format with the arguments they print, as fmt assigns them (a * width or
// precision takes an argument); false when the format uses explicit argument indexes.
func parseVerbs(format string) ([]verbAt, bool) {
	var out []verbAt
	arg := 0
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		i++
		start := i
		for i < len(format) && strings.IndexByte("+-# 0", format[i]) >= 0 {
			i++
		}
		flags := format[start:i]
		for i < len(format) && (format[i] >= '0' && format[i] <= '9' || format[i] == '.' || format[i] == '*' || format[i] == '[') {
			switch format[i] {
			case '*':
				arg++
			case '[':
				return nil, false
			}
			i++
		}
		if i >= len(format) {
			break
		}
		if format[i] == '%' {
			continue
		}
		out = append(out, verbAt{arg: arg, verb: rune(format[i]), flags: flags, at: i})
		arg++
	}
	return out, true
}

// reflectString writes a type as reflect's String does (and so fmt's %T): main.T, struct { x int }, []uint8,
// interface {}.
func reflectString(t types.Type) string {
	switch x := types.Unalias(t).(type) {
	case *types.Named:
		s := x.Obj().Name()
		if p := x.Obj().Pkg(); p != nil {
			s = p.Name() + "." + s
		}
		if args := x.TypeArgs(); args.Len() > 0 {
			var parts []string
			for i := 0; i < args.Len(); i++ {
				parts = append(parts, reflectString(args.At(i)))
			}
			s += "[" + strings.Join(parts, ",") + "]"
		}
		return s
	case *types.Basic:
		switch x.Kind() {
		case types.Byte:
			return "uint8"
		case types.Rune:
			return "int32"
		case types.UnsafePointer:
			return "unsafe.Pointer"
		}
		return x.Name()
	case *types.Pointer:
		return "*" + reflectString(x.Elem())
	case *types.Slice:
		return "[]" + reflectString(x.Elem())
	case *types.Array:
		return "[" + strconv.FormatInt(x.Len(), 10) + "]" + reflectString(x.Elem())
	case *types.Map:
		return "map[" + reflectString(x.Key()) + "]" + reflectString(x.Elem())
	case *types.Chan:
		switch x.Dir() {
		case types.SendOnly:
			return "chan<- " + reflectString(x.Elem())
		case types.RecvOnly:
			return "<-chan " + reflectString(x.Elem())
		}
		return "chan " + reflectString(x.Elem())
	case *types.Struct:
		if x.NumFields() == 0 {
			return "struct {}"
		}
		var fields []string
		for i := 0; i < x.NumFields(); i++ {
			f := x.Field(i)
			s := reflectString(f.Type())
			if !f.Embedded() {
				s = f.Name() + " " + s
			}
			if tag := x.Tag(i); tag != "" {
				s += " " + strconv.Quote(tag)
			}
			fields = append(fields, s)
		}
		return "struct { " + strings.Join(fields, "; ") + " }"
	case *types.Signature:
		return "func" + signatureString(x)
	case *types.Interface:
		if x.NumMethods() == 0 {
			return "interface {}"
		}
		var ms []string
		for i := 0; i < x.NumMethods(); i++ {
			m := x.Method(i)
			ms = append(ms, m.Name()+signatureString(m.Type().(*types.Signature)))
		}
		return "interface { " + strings.Join(ms, "; ") + " }"
	}
	return t.String()
}

func signatureString(sig *types.Signature) string {
	var params []string
	for i := 0; i < sig.Params().Len(); i++ {
		p := reflectString(sig.Params().At(i).Type())
		if sig.Variadic() && i == sig.Params().Len()-1 {
			p = "..." + strings.TrimPrefix(p, "[]")
		}
		params = append(params, p)
	}
	s := "(" + strings.Join(params, ", ") + ")"
	switch sig.Results().Len() {
	case 0:
	case 1:
		s += " " + reflectString(sig.Results().At(0).Type())
	default:
		var rs []string
		for i := 0; i < sig.Results().Len(); i++ {
			rs = append(rs, reflectString(sig.Results().At(i).Type()))
		}
		s += " (" + strings.Join(rs, ", ") + ")"
	}
	return s
}
