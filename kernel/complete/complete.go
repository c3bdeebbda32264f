// Package complete answers the Jupyter kernel's complete, inspect and is_complete requests for Go cells evaluated
// by an interp.Session.
//
// Cursors and ranges count Unicode code points, as the Jupyter protocol (5.2+) does; byte offsets are used only
// inside the package.
package complete

import (
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"go/types"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/govalent/govalent/interp"
)

// Complete returns candidate completions for the code at cursor (cursor counts Unicode code points, as the
// Jupyter protocol 5.2+ does) and the code-point range [start, end) they replace.
//
// A plain identifier completes to keywords, predeclared names, the session's names and package names. A
// selector X.Prefix completes to full "X.Member" texts, start being the beginning of X. Matches with the typed
// prefix come first (sorted), then case-insensitive ones. end is always the cursor.
func Complete(s *interp.Session, code string, cursor int) (matches []string, start, end int) {
	b := byteOffset(code, cursor)
	cursor = utf8.RuneCountInString(code[:b]) // clamped
	r, ok := refEndingAt(code, b)
	if !ok || inLiteral(code[:b]) {
		return []string{}, cursor, cursor
	}
	var cands []string
	if r.x != "" {
		for _, m := range members(s, r.x) {
			cands = append(cands, r.x+"."+m)
		}
	} else {
		cands = identifiers(s)
	}
	matches = filter(cands, code[r.start:b])
	if matches == nil {
		matches = []string{} // a JSON list, not null
	}
	return matches, utf8.RuneCountInString(code[:r.start]), cursor
}

// byteOffset converts a cursor counted in code points to a byte offset in code, clamped to the code.
func byteOffset(code string, cursor int) int {
	n := 0
	for i := range code {
		if n >= cursor {
			return i
		}
		n++
	}
	return len(code)
}

func isIdentRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

// identStart returns where the identifier characters ending at byte offset end begin.
func identStart(code string, end int) int {
	for end > 0 {
		r, n := utf8.DecodeLastRuneInString(code[:end])
		if !isIdentRune(r) {
			break
		}
		end -= n
	}
	return end
}

// identEnd returns where the identifier characters starting at byte offset i end.
func identEnd(code string, i int) int {
	for i < len(code) {
		r, n := utf8.DecodeRuneInString(code[i:])
		if !isIdentRune(r) {
			break
		}
		i += n
	}
	return i
}

// isIdent tells an identifier from a number.
func isIdent(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return s != "" && !unicode.IsDigit(r)
}

// ref is an identifier (x empty) or a selector x.name found in a cell; name may be empty ("strings.").
type ref struct {
	x, name string
	start   int // byte offset of x, or of name when x is empty
}

// refEndingAt returns the identifier or selector ending at byte offset end. ok is false when there is nothing
// this package can resolve there: a number, or a selector on something other than a plain name (a.b.c, f().c).
func refEndingAt(code string, end int) (r ref, ok bool) {
	i := identStart(code, end)
	r = ref{name: code[i:end], start: i}
	if r.name != "" && !isIdent(r.name) {
		return r, false
	}
	if i > 0 && code[i-1] == '.' {
		j := identStart(code, i-1)
		r.x, r.start = code[j:i-1], j
		if !isIdent(r.x) || (j > 0 && code[j-1] == '.') {
			return r, false
		}
	}
	return r, true
}

// inLiteral tells whether the end of src is inside a string, rune literal or comment, where nothing completes.
// It is, exactly when the last token is one of them: identifier characters after it would be a token of their own.
func inLiteral(src string) bool {
	var sc scanner.Scanner
	fset := token.NewFileSet()
	sc.Init(fset.AddFile("", -1, len(src)), []byte(src), nil, scanner.ScanComments)
	last := token.ILLEGAL
	for {
		_, tok, lit := sc.Scan()
		if tok == token.EOF {
			break
		}
		if tok != token.SEMICOLON || lit != "\n" { // automatic semicolons are not in the text
			last = tok
		}
	}
	return last == token.STRING || last == token.CHAR || last == token.COMMENT
}

// filter returns the candidates starting with prefix, sorted and deduplicated, then those matching it only
// case-insensitively.
func filter(cands []string, prefix string) []string {
	sort.Strings(cands)
	cands = slices.Compact(cands)
	var exact, fold []string
	lower := strings.ToLower(prefix)
	for _, c := range cands {
		if strings.HasPrefix(c, prefix) {
			exact = append(exact, c)
		} else if strings.HasPrefix(strings.ToLower(c), lower) {
			fold = append(fold, c)
		}
	}
	return append(exact, fold...)
}

// identifiers lists what a plain identifier can complete to.
func identifiers(s *interp.Session) []string {
	var out []string
	for t := token.BREAK; t <= token.VAR; t++ { // the keywords, in go/token's order
		out = append(out, t.String())
	}
	out = append(out, types.Universe.Names()...)
	for base := range packagesByName() {
		out = append(out, base)
	}
	for _, n := range sessionNames(s) {
		if n.Kind != "method" {
			out = append(out, n.Name)
		}
	}
	return out
}

func sessionNames(s *interp.Session) []interp.Name {
	if s == nil {
		return nil
	}
	return s.Names()
}

// lookupName finds a top-level name (not a method) of the session.
func lookupName(s *interp.Session, name string) (interp.Name, bool) {
	for _, n := range sessionNames(s) {
		if n.Name == name && n.Kind != "method" {
			return n, true
		}
	}
	return interp.Name{}, false
}

// packagesByName maps a package name (its path's last element) to the import paths PackageSymbols knows under
// it, shortest first so that "math/rand" comes before "crypto/rand".
var packagesByName = sync.OnceValue(func() map[string][]string {
	out := map[string][]string{}
	for _, p := range interp.Packages() {
		if interp.PackageSymbols(p) == nil {
			continue // e.g. math/rand/v2, whose package name is not its last element
		}
		base := p[strings.LastIndex(p, "/")+1:]
		out[base] = append(out[base], p)
	}
	for _, paths := range out {
		sort.Slice(paths, func(i, j int) bool {
			if len(paths[i]) != len(paths[j]) {
				return len(paths[i]) < len(paths[j])
			}
			return paths[i] < paths[j]
		})
	}
	return out
})

// members lists what can follow "x.": a package's exported names, a session type's methods and fields, or what
// a session variable's value offers.
func members(s *interp.Session, x string) []string {
	if n, ok := lookupName(s, x); ok {
		switch n.Kind {
		case "import":
			return packageMembers(n.Source)
		case "type":
			return typeMembers(s, x)
		case "var":
			return varMembers(s, x)
		}
		return nil
	}
	// a package not imported yet: notebook users type strings.Repeat before adding the import
	var out []string
	for _, p := range packagesByName()[x] {
		out = append(out, packageMembers(p)...)
	}
	return out
}

func packageMembers(path string) []string {
	var out []string
	for name := range interp.PackageSymbols(path) {
		if !strings.HasPrefix(name, "_") { // yaegi's interface wrappers
			out = append(out, name)
		}
	}
	return out
}

// typeMembers lists a session type's methods and, for a struct, its fields.
func typeMembers(s *interp.Session, typ string) []string {
	var out []string
	for _, n := range sessionNames(s) {
		if m, ok := strings.CutPrefix(n.Name, typ+"."); ok && n.Kind == "method" {
			out = append(out, m)
		}
	}
	if n, ok := lookupName(s, typ); ok {
		for _, f := range structFields(n.Source, typ) {
			out = append(out, f.name)
		}
	}
	return out
}

// varMembers lists the methods and fields of a session variable's current value.
func varMembers(s *interp.Session, name string) []string {
	v, err := s.Lookup(name)
	if err != nil || !v.IsValid() {
		return nil
	}
	if typ := sessionTypeOf(s, v.Type()); typ != "" {
		return typeMembers(s, typ)
	}
	var out []string
	for _, t := range methodSets(v) {
		for i := range t.NumMethod() {
			out = append(out, t.Method(i).Name)
		}
	}
	if t := derefType(v.Type()); t.Kind() == reflect.Struct {
		for i := range t.NumField() {
			if t.Field(i).IsExported() {
				out = append(out, t.Field(i).Name)
			}
		}
	}
	return out
}

// methodSets are the types whose methods a variable holding v can call: an addressable variable of a
// non-pointer type also has the pointer's methods.
func methodSets(v reflect.Value) []reflect.Type {
	t := v.Type()
	if t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface {
		return []reflect.Type{t, reflect.PointerTo(t)}
	}
	return []reflect.Type{t}
}

func derefType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// sessionTypeOf names the session struct type a value's type stands for. yaegi builds interpreted structs with
// reflect.StructOf, so the reflect type has no name and no methods; it is matched to the session's struct
// declarations by field names (yaegi prefixes unexported ones with "X"). It returns "" unless exactly one matches.
func sessionTypeOf(s *interp.Session, t reflect.Type) string {
	t = derefType(t)
	if t.Kind() != reflect.Struct || t.Name() != "" {
		return ""
	}
	var want []string
	for i := range t.NumField() {
		want = append(want, t.Field(i).Name)
	}
	found := ""
	for _, n := range sessionNames(s) {
		if n.Kind != "type" {
			continue
		}
		fields := structFields(n.Source, n.Name)
		if fields == nil {
			continue
		}
		var got []string
		for _, f := range fields {
			if token.IsExported(f.name) {
				got = append(got, f.name)
			} else {
				got = append(got, "X"+f.name)
			}
		}
		if slices.Equal(got, want) {
			if found != "" {
				return "" // ambiguous
			}
			found = n.Name
		}
	}
	return found
}

// field is one field of a struct declared in the session.
type field struct {
	name, typ string // typ as written
}

// structFields parses a type declaration's source and returns the fields of the struct type typ, or nil.
func structFields(src, typ string) []field {
	const prefix = "package p;"
	f, err := parser.ParseFile(token.NewFileSet(), "", prefix+src, 0)
	if err != nil {
		return nil
	}
	text := func(n ast.Node) string { return (prefix + src)[n.Pos()-1 : n.End()-1] }
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok {
			continue
		}
		for _, spec := range gd.Specs {
			ts, ok := spec.(*ast.TypeSpec)
			if !ok || ts.Name.Name != typ {
				continue
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return nil
			}
			out := []field{}
			for _, fl := range st.Fields.List {
				if len(fl.Names) == 0 { // embedded: the field is named after the type
					out = append(out, field{embeddedName(fl.Type), text(fl.Type)})
				}
				for _, n := range fl.Names {
					out = append(out, field{n.Name, text(fl.Type)})
				}
			}
			return out
		}
	}
	return nil
}

func embeddedName(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.SelectorExpr:
			return x.Sel.Name
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return "?"
		}
	}
}
