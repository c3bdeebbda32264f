package complete

import (
	"bytes"
	"context"
	"fmt"
	"go/ast"
	"go/build"
	"go/constant"
	"go/doc"
	"go/parser"
	"go/printer"
	"go/scanner"
	"go/token"
	"go/types"
	"io/fs"
	"os"
	"os/exec"
	pathpkg "path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/govalent/govalent"
	"github.com/govalent/govalent/interp"
)

// Inspect describes the identifier or selector at or just before the cursor: found=false when nothing is known.
// text is plain text for text/plain: the signature (e.g. "func strings.Repeat(s string, count int) string") and,
// when available, the doc comment.
//
// When the cursor is on no identifier but inside a call's parentheses, the called function is described.
func Inspect(s *interp.Session, code string, cursor int) (found bool, text string) {
	b := identEnd(code, byteOffset(code, cursor)) // the whole identifier under the cursor
	if r, ok := refEndingAt(code, b); ok {
		text = describe(s, r)
	}
	if text == "" { // e.g. strings.Repeat("ab", |): the call
		if open := openParen(code[:b]); open >= 0 {
			if r, ok := refEndingAt(code, open); ok {
				text = describe(s, r)
			}
		}
	}
	return text != "", text
}

func describe(s *interp.Session, r ref) string {
	switch {
	case r.name == "":
		return ""
	case r.x != "":
		return describeMember(s, r.x, r.name)
	}
	return describeName(s, r.name)
}

// openParen returns the byte offset of the innermost bracket left open in src if it is a parenthesis, else -1.
func openParen(src string) int {
	var sc scanner.Scanner
	fset := token.NewFileSet()
	file := fset.AddFile("", -1, len(src))
	sc.Init(file, []byte(src), nil, 0)
	type open struct {
		tok token.Token
		off int
	}
	var stack []open
	for {
		pos, tok, _ := sc.Scan()
		switch tok {
		case token.EOF:
			if len(stack) > 0 && stack[len(stack)-1].tok == token.LPAREN {
				return stack[len(stack)-1].off
			}
			return -1
		case token.LPAREN, token.LBRACK, token.LBRACE:
			stack = append(stack, open{tok, file.Offset(pos)})
		case token.RPAREN, token.RBRACK, token.RBRACE:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
}

// describeName describes a plain identifier: a session name, a package, or a predeclared identifier.
func describeName(s *interp.Session, name string) string {
	if n, ok := lookupName(s, name); ok {
		switch {
		case n.Kind == "import":
			return describePackage(n.Source)
		case n.Source != "":
			return declText(n.Source, name)
		}
		// a variable set by a statement: only its value knows its type
		v, err := s.Lookup(name)
		if err != nil || !v.IsValid() {
			return "var " + name
		}
		typ := v.Type().String()
		if st := sessionTypeOf(s, v.Type()); st != "" { // yaegi's reflect type spells out the struct
			typ = st
			for t := v.Type(); t.Kind() == reflect.Pointer; t = t.Elem() {
				typ = "*" + typ
			}
		}
		return "var " + name + " " + typ
	}
	if paths := packagesByName()[name]; len(paths) > 0 {
		return describePackage(paths[0])
	}
	if obj := types.Universe.Lookup(name); obj != nil {
		if p := goDoc("builtin"); p != nil {
			if text := docDecl(p, name, name); text != "" {
				return text
			}
		}
		return obj.String()
	}
	return ""
}

// describeMember describes x.name: a package member, a session type's method or field, or a member of a
// session variable's value.
func describeMember(s *interp.Session, x, name string) string {
	if n, ok := lookupName(s, x); ok {
		switch n.Kind {
		case "import":
			return describePackageMember(n.Source, x, name)
		case "type":
			return describeTypeMember(s, x, name)
		case "var":
			return describeVarMember(s, x, name)
		}
		return ""
	}
	for _, p := range packagesByName()[x] {
		if text := describePackageMember(p, x, name); text != "" {
			return text
		}
	}
	return ""
}

func describePackage(path string) string {
	name := path[strings.LastIndex(path, "/")+1:]
	text := fmt.Sprintf("package %s // import %q", name, path)
	if p := goDoc(path); p != nil && p.Doc != "" {
		text += "\n\n" + string(p.Text(p.Doc))
	}
	return text
}

// describePackageMember describes x.name where x is the package at path: from its source in GOROOT when it is
// there (signature and doc comment), else from the reflect value the interpreter has (signature only).
func describePackageMember(path, x, name string) string {
	v, ok := interp.PackageSymbols(path)[name]
	if !ok || strings.HasPrefix(name, "_") {
		return ""
	}
	if p := goDoc(path); p != nil {
		if text := docDecl(p, name, x+"."+name); text != "" {
			return text
		}
	}
	return reflectDecl(x+"."+name, v)
}

// describeTypeMember describes a session type's method (its signature and doc) or field.
func describeTypeMember(s *interp.Session, typ, name string) string {
	for _, n := range sessionNames(s) {
		if n.Kind == "method" && n.Name == typ+"."+name {
			return declText(n.Source, name)
		}
	}
	if n, ok := lookupName(s, typ); ok {
		for _, f := range structFields(n.Source, typ) {
			if f.name == name {
				return "field " + typ + "." + name + " " + f.typ
			}
		}
	}
	return ""
}

// describeVarMember describes a method or field of a session variable's value.
func describeVarMember(s *interp.Session, x, name string) string {
	v, err := s.Lookup(x)
	if err != nil || !v.IsValid() {
		return ""
	}
	if typ := sessionTypeOf(s, v.Type()); typ != "" {
		return describeTypeMember(s, typ, name)
	}
	for _, t := range methodSets(v) {
		if m, ok := t.MethodByName(name); ok {
			return fmt.Sprintf("func (%s) %s%s", t, name, methodSig(t, m.Index))
		}
	}
	if t := derefType(v.Type()); t.Kind() == reflect.Struct {
		if f, ok := t.FieldByName(name); ok && f.IsExported() {
			return "field " + x + "." + name + " " + f.Type.String()
		}
	}
	return ""
}

// declText shows a session declaration: a func or method by its signature and doc comment, a name declared in
// a group by its own spec, anything else as written.
func declText(src, name string) string {
	const prefix = "package p\n"
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "", prefix+src, parser.ParseComments)
	if err != nil || len(f.Decls) == 0 {
		return src
	}
	text := func(from, to token.Pos) string { return strings.TrimSpace((prefix + src)[from-1 : to-1]) }
	switch d := f.Decls[0].(type) {
	case *ast.FuncDecl:
		end := d.End()
		if d.Body != nil {
			end = d.Body.Lbrace
		}
		return withDoc(text(d.Pos(), end), d.Doc.Text())
	case *ast.GenDecl:
		if !d.Lparen.IsValid() || len(d.Specs) == 1 {
			return withDoc(text(d.Pos(), d.End()), d.Doc.Text())
		}
		for _, spec := range d.Specs {
			if specDeclares(spec, name) {
				return withDoc(d.Tok.String()+" "+text(spec.Pos(), spec.End()), specDoc(spec))
			}
		}
	}
	return src
}

func withDoc(sig, doc string) string {
	if doc = strings.TrimSpace(doc); doc != "" {
		return sig + "\n\n" + doc
	}
	return sig
}

func specDeclares(spec ast.Spec, name string) bool {
	switch sp := spec.(type) {
	case *ast.TypeSpec:
		return sp.Name.Name == name
	case *ast.ValueSpec:
		for _, n := range sp.Names {
			if n.Name == name {
				return true
			}
		}
	}
	return false
}

func specDoc(spec ast.Spec) string {
	switch sp := spec.(type) {
	case *ast.TypeSpec:
		return sp.Doc.Text()
	case *ast.ValueSpec:
		return sp.Doc.Text()
	}
	return ""
}

// docDecl finds name among a documented package's declarations and prints it under the name shown (e.g.
// "strings.Repeat"), followed by its doc comment.
func docDecl(p *docPackage, name, shown string) string {
	// new slices: p is cached and shared
	funcs, values := slices.Clone(p.Funcs), slices.Concat(p.Consts, p.Vars)
	for _, t := range p.Types {
		if t.Name == name {
			for _, spec := range t.Decl.Specs {
				if ts, ok := spec.(*ast.TypeSpec); ok && ts.Name.Name == name {
					c := *ts
					c.Name, c.Doc, c.Comment = rename(ts.Name, shown), nil, nil
					return withDoc("type "+p.print(&c), string(p.Text(t.Doc))) + methodList(p, t)
				}
			}
		}
		funcs = append(funcs, t.Funcs...) // constructors and values are listed under their type
		values = append(values, t.Consts...)
		values = append(values, t.Vars...)
	}
	for _, f := range funcs {
		if f.Name == name {
			c := *f.Decl
			c.Name, c.Doc, c.Body = rename(f.Decl.Name, shown), nil, nil
			return withDoc(p.print(&c), string(p.Text(f.Doc)))
		}
	}
	for _, v := range values {
		for _, spec := range v.Decl.Specs {
			vs, ok := spec.(*ast.ValueSpec)
			if !ok || !specDeclares(vs, name) {
				continue
			}
			c := *vs
			c.Names, c.Doc, c.Comment = nil, nil, nil
			for _, n := range vs.Names {
				if n.Name == name {
					n = rename(n, shown)
				}
				c.Names = append(c.Names, n)
			}
			d := vs.Doc.Text()
			if d == "" {
				d = v.Doc
			}
			return withDoc(v.Decl.Tok.String()+" "+p.print(&c), string(p.Text(d)))
		}
	}
	return ""
}

// methodList lists the signatures of t's exported methods, as go doc does below a type.
func methodList(p *docPackage, t *doc.Type) string {
	var b strings.Builder
	for _, m := range t.Methods {
		if !ast.IsExported(m.Name) {
			continue
		}
		c := *m.Decl
		c.Doc, c.Body = nil, nil
		b.WriteString("\n" + p.print(&c))
	}
	if b.Len() == 0 {
		return ""
	}
	return "\n\nMethods:" + b.String()
}

// rename returns a copy of id named name, at the same position so that comments print in their places.
func rename(id *ast.Ident, name string) *ast.Ident {
	return &ast.Ident{NamePos: id.NamePos, Name: name}
}

func (p *docPackage) print(n ast.Node) string {
	var buf bytes.Buffer
	cfg := printer.Config{Mode: printer.UseSpaces | printer.TabIndent, Tabwidth: 8} // as gofmt
	if err := cfg.Fprint(&buf, p.fset, n); err != nil {
		return ""
	}
	return buf.String()
}

// reflectDecl describes a compiled package member from the reflect value yaegi's symbol table holds for it:
// types are stored as nil pointers to the type, variables as addressable values, untyped constants as
// constant.Value.
func reflectDecl(shown string, v reflect.Value) string {
	switch {
	case !v.IsValid():
		return ""
	case v.Kind() == reflect.Pointer && !v.CanAddr() && v.IsNil():
		return "type " + shown + " " + reflectTypeText(v.Type().Elem())
	case v.CanAddr():
		return "var " + shown + " " + v.Type().String()
	case v.Kind() == reflect.Func:
		return "func " + shown + strings.TrimPrefix(v.Type().String(), "func")
	}
	if c, ok := v.Interface().(constant.Value); ok {
		return "const " + shown + " = " + c.ExactString()
	}
	return fmt.Sprintf("const %s %s = %#v", shown, v.Type(), v.Interface())
}

// reflectTypeText prints a compiled type's underlying type as far as reflect knows it, then its methods.
func reflectTypeText(t reflect.Type) string {
	var b strings.Builder
	switch t.Kind() {
	case reflect.Struct:
		b.WriteString("struct {")
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() {
				fmt.Fprintf(&b, "\n\t%s %s", f.Name, f.Type)
			}
		}
		b.WriteString("\n}")
	case reflect.Interface:
		b.WriteString("interface {")
		for i := range t.NumMethod() {
			fmt.Fprintf(&b, "\n\t%s%s", t.Method(i).Name, methodSig(t, i))
		}
		b.WriteString("\n}")
		return b.String()
	default:
		b.WriteString(t.Kind().String())
	}
	pt := reflect.PointerTo(t)
	for i := range pt.NumMethod() {
		fmt.Fprintf(&b, "\n\nfunc (%s) %s%s", pt, pt.Method(i).Name, methodSig(pt, i))
	}
	return b.String()
}

// methodSig prints the parameters and results of t's i-th method, without the receiver.
func methodSig(t reflect.Type, i int) string {
	m := t.Method(i).Type
	if t.Kind() != reflect.Interface { // the receiver is the first parameter
		in := make([]reflect.Type, m.NumIn()-1)
		for j := range in {
			in[j] = m.In(j + 1)
		}
		out := make([]reflect.Type, m.NumOut())
		for j := range out {
			out[j] = m.Out(j)
		}
		m = reflect.FuncOf(in, out, m.IsVariadic())
	}
	return strings.TrimPrefix(m.String(), "func")
}

// goroot is the Go installation whose sources document the standard library, asked of the go command once,
// when first needed. Not runtime.GOROOT: that is where the binary was built, wrong once it is copied to
// another machine.
var goroot = sync.OnceValue(goEnvGOROOT)

// goEnvGOROOT returns what `go env GOROOT` prints, or "" when there is no go command: standard-library members
// are then described from the interpreter's symbols alone, by their signatures without doc comments.
func goEnvGOROOT() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// GOTOOLCHAIN=local, away from the notebook's folder: a go.mod there must not make an inspect request
	// download a toolchain.
	cmd := exec.CommandContext(ctx, "go", "env", "GOROOT")
	cmd.Env, cmd.Dir = append(os.Environ(), "GOTOOLCHAIN=local"), os.TempDir()
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

var (
	docMu    sync.Mutex
	docCache = map[string]*docPackage{} // by import path; nil when the source is not there
)

// docPackage is a standard-library package's documentation and the file set its declarations' positions are in.
type docPackage struct {
	*doc.Package
	fset *token.FileSet
}

// goDoc parses a package's source once: a standard-library package's from GOROOT, govalent's own (the SDK) from
// the source embedded in the binary. nil when it is neither or its source is missing.
func goDoc(path string) *docPackage {
	docMu.Lock()
	defer docMu.Unlock()
	if p, ok := docCache[path]; ok {
		return p
	}
	var p *docPackage
	first, _, _ := strings.Cut(path, "/")
	switch {
	case strings.HasPrefix(path, modulePath+"/"):
		dir := strings.TrimPrefix(path, modulePath+"/")
		if names, err := govalent.GoFiles(dir); err == nil {
			p = parseDoc(govalent.Source, dir, names, path)
		}
	case !strings.Contains(first, ".") && goroot() != "":
		dir := filepath.Join(goroot(), "src", filepath.FromSlash(path))
		if bp, err := build.Default.ImportDir(dir, 0); err == nil { // the files built for this GOOS/GOARCH
			p = parseDoc(os.DirFS(dir), ".", append(bp.GoFiles, bp.CgoFiles...), path)
		}
	}
	docCache[path] = p
	return p
}

// modulePath is govalent's module, whose SDK packages are documented from govalent.Source.
const modulePath = "github.com/govalent/govalent"

// parseDoc parses the files names of dir in fsys, those of the package at import path path.
func parseDoc(fsys fs.FS, dir string, names []string, path string) *docPackage {
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range names {
		src, err := fs.ReadFile(fsys, pathpkg.Join(dir, name))
		if err != nil {
			return nil
		}
		f, err := parser.ParseFile(fset, pathpkg.Join(dir, name), src, parser.ParseComments)
		if err != nil {
			return nil
		}
		files = append(files, f)
	}
	mode := doc.Mode(0)
	if path == "builtin" {
		mode = doc.AllDecls // its declarations are all unexported
	}
	p, err := doc.NewFromFiles(fset, files, path, mode)
	if err != nil {
		return nil
	}
	return &docPackage{p, fset}
}
