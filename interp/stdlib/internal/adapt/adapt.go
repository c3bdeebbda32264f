// Package adapt rewrites the ported generic packages' sources for yaegi v0.16.1 (see Package); gen writes its
// output to interp/stdlib/_yaegi, and a test of package stdlib checks that output is up to date.
package adapt

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/tools/go/ast/astutil"
)

// yaegi v0.16.1 infers a generic call's type arguments by walking the parameters in order and taking each
// type-parameter occurrence as the next type argument, with the parameter types looked up in the caller's
// scope. So Sort[S ~[]E, E cmp.Ordered](x S) gets S and never E ("undefined type for E"), a parameter of
// type iter.Seq[E] gives nothing, and a cell that declares a type named E or T breaks every call that has a
// type parameter of that name. adaptForYaegi rewrites the generic functions of a source file so that these
// rules infer them right:
//   - a type parameter constrained by a single ~T is replaced by T (S ~[]E becomes []E, M ~map[K]V becomes
//     map[K]V): callers' named slice and map types still pass, by assignability;
//   - a parameter of type iter.Seq[X] or iter.Seq2[X, Y] is written as the function type it names;
//   - a constraint cmp.Ordered becomes any: yaegi looks a constraint up in the caller's scope, and cannot check a
//     compiled named type (time.Duration) against a union; go/types has checked the call, and yaegi rejects a
//     type without < where the function uses it ("operator < not defined");
//   - a function whose only parameter is variadic, xs ...T, takes (xs0 T, xsRest ...T) instead (yaegi infers
//     nothing from a variadic parameter), so cmp.Or() and cmp.Or(xs...) are errors (yaegi's "CFG post-order panic");
//   - the remaining type parameters get a trailing underscore, a name no cell declares.
//
// The price, for a cell: a result of one of those functions has the unnamed type ([]E, not the cell's named
// slice type), so calling a method of the named type on it directly is an error (undefined selector).
func adaptForYaegi(file *ast.File) {
	for _, decl := range file.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Type.TypeParams == nil {
			continue
		}
		substituteCoreTypes(fn)
		spellOutSeqParams(fn, file.Name.Name == "iter")
		relaxOrdered(fn, file.Name.Name == "cmp")
		splitVariadic(fn)
		renameTypeParams(fn)
		if len(fn.Type.TypeParams.List) == 0 {
			fn.Type.TypeParams = nil
		}
	}
}

// substituteCoreTypes replaces each type parameter constrained by ~T with T, in order, so that one substituted
// into another's constraint (S ~[]E, E ~int) ends up fully substituted.
func substituteCoreTypes(fn *ast.FuncDecl) {
	var kept []*ast.Field
	for _, field := range fn.Type.TypeParams.List {
		tilde, ok := field.Type.(*ast.UnaryExpr)
		if !ok || tilde.Op != token.TILDE {
			kept = append(kept, field)
			continue
		}
		for _, name := range field.Names {
			replaceTypeName(fn, name.Name, tilde.X)
		}
	}
	fn.Type.TypeParams.List = kept
}

// replaceTypeName replaces the uses of the type name in fn (not the field names of selectors or keys) with a
// copy of typ.
func replaceTypeName(fn *ast.FuncDecl, name string, typ ast.Expr) {
	astutil.Apply(fn, func(c *astutil.Cursor) bool {
		id, ok := c.Node().(*ast.Ident)
		if !ok || id.Name != name {
			return true
		}
		if sel, ok := c.Parent().(*ast.SelectorExpr); ok && sel.Sel == id {
			return true
		}
		if c.Name() == "Names" { // the declaration in the type parameter list itself
			return true
		}
		c.Replace(copyExpr(typ))
		return true
	}, nil)
}

// copyExpr deep-copies a type expression by printing and parsing it; the positions of the copy are meaningless,
// which is fine for an expression only printed afterwards.
func copyExpr(e ast.Expr) ast.Expr {
	var buf bytes.Buffer
	if err := format.Node(&buf, token.NewFileSet(), e); err != nil {
		panic(err) // e came from a parsed file
	}
	return mustParseExpr(buf.String())
}

// spellOutSeqParams writes parameters of type iter.Seq[X] and iter.Seq2[X, Y] as func(yield func(X) bool) and
// func(yield func(X, Y) bool).
func spellOutSeqParams(fn *ast.FuncDecl, inIter bool) {
	for _, field := range fn.Type.Params.List {
		var args []ast.Expr
		var typeName ast.Expr
		switch t := field.Type.(type) {
		case *ast.IndexExpr:
			typeName, args = t.X, []ast.Expr{t.Index}
		case *ast.IndexListExpr:
			typeName, args = t.X, t.Indices
		}
		if !isSeqType(typeName, inIter) {
			continue
		}
		yieldParams := &ast.FieldList{}
		for _, a := range args {
			yieldParams.List = append(yieldParams.List, &ast.Field{Type: a})
		}
		yield := &ast.FuncType{Params: yieldParams, Results: &ast.FieldList{List: []*ast.Field{{Type: ast.NewIdent("bool")}}}}
		field.Type = &ast.FuncType{Params: &ast.FieldList{List: []*ast.Field{{Names: []*ast.Ident{ast.NewIdent("yield")}, Type: yield}}}}
	}
}

// isSeqType reports whether e names iter.Seq or iter.Seq2 (Seq or Seq2 in package iter itself).
func isSeqType(e ast.Expr, inIter bool) bool {
	var name string
	switch e := e.(type) {
	case *ast.SelectorExpr:
		if pkg, ok := e.X.(*ast.Ident); !ok || pkg.Name != "iter" {
			return false
		}
		name = e.Sel.Name
	case *ast.Ident:
		if !inIter {
			return false
		}
		name = e.Name
	}
	return name == "Seq" || name == "Seq2"
}

// ordered replaces cmp.Ordered in constraints.
const ordered = `any`

func relaxOrdered(fn *ast.FuncDecl, inCmp bool) {
	for _, field := range fn.Type.TypeParams.List {
		if isOrdered(field.Type, inCmp) {
			field.Type = mustParseExpr(ordered)
		}
	}
}

// isOrdered reports whether e names cmp.Ordered (Ordered in package cmp itself).
func isOrdered(e ast.Expr, inCmp bool) bool {
	switch e := e.(type) {
	case *ast.SelectorExpr:
		pkg, ok := e.X.(*ast.Ident)
		return ok && pkg.Name == "cmp" && e.Sel.Name == "Ordered"
	case *ast.Ident:
		return inCmp && e.Name == "Ordered"
	}
	return false
}

// splitVariadic turns func f[...](xs ...T) into func f[...](xs0 T, xsRest ...T) { xs := append([]T{xs0},
// xsRest...); ... }.
func splitVariadic(fn *ast.FuncDecl) {
	params := fn.Type.Params.List
	if len(params) != 1 || len(params[0].Names) != 1 {
		return
	}
	ellipsis, ok := params[0].Type.(*ast.Ellipsis)
	if !ok {
		return
	}
	name := params[0].Names[0].Name
	first, rest := ast.NewIdent(name+"0"), ast.NewIdent(name+"Rest")
	fn.Type.Params.List = []*ast.Field{
		{Names: []*ast.Ident{first}, Type: copyExpr(ellipsis.Elt)},
		{Names: []*ast.Ident{rest}, Type: &ast.Ellipsis{Elt: copyExpr(ellipsis.Elt)}},
	}
	join := mustParseExpr("append([]T{" + first.Name + "}, " + rest.Name + "...)").(*ast.CallExpr)
	join.Args[0].(*ast.CompositeLit).Type.(*ast.ArrayType).Elt = copyExpr(ellipsis.Elt)
	define := &ast.AssignStmt{Lhs: []ast.Expr{ast.NewIdent(name)}, Tok: token.DEFINE, Rhs: []ast.Expr{join}}
	fn.Body.List = append([]ast.Stmt{define}, fn.Body.List...)
}

func mustParseExpr(src string) ast.Expr {
	e, err := parser.ParseExpr(src)
	if err != nil {
		panic(err) // a constant of this file
	}
	return e
}

// renameTypeParams appends an underscore to the names of fn's type parameters, everywhere in fn.
func renameTypeParams(fn *ast.FuncDecl) {
	names := map[string]bool{}
	for _, field := range fn.Type.TypeParams.List {
		for _, name := range field.Names {
			names[name.Name] = true
		}
	}
	renameIdents(fn, names)
}

// Package writes the sources of pkg in from (GOPATH layout) to the same place in to, adapted for yaegi.
func Package(from, to, pkg string) error {
	dir := filepath.Join(from, "src", pkg)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	type source struct {
		name string
		text []byte
		file *ast.File
	}
	var files []source
	fset := token.NewFileSet()
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") {
			continue
		}
		text, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		// Comments are dropped (rewritten code would misplace them), except the copyright notice.
		file, err := parser.ParseFile(fset, e.Name(), text, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files = append(files, source{e.Name(), text, file})
	}
	helpers := map[string]bool{}
	for _, f := range files {
		for name := range unexportedGenericFuncs(f.file) {
			helpers[name] = true
		}
	}
	outDir := filepath.Join(to, "src", pkg)
	if err := os.RemoveAll(outDir); err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		adaptForYaegi(f.file)
		renameIdents(f.file, helpers)
		var buf bytes.Buffer
		fmt.Fprintf(&buf, "// Code generated by interp/stdlib/gen from %s/%s. DO NOT EDIT.\n\n%s\n", filepath.ToSlash(dir), f.name, leadingComment(f.text))
		// An empty file set: line breaks follow the printer, not the positions the rewrite left inconsistent.
		if err := format.Node(&buf, token.NewFileSet(), f.file); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		if err := os.WriteFile(filepath.Join(outDir, f.name), buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// unexportedGenericFuncs are the package's own generic helpers. yaegi keeps one instance of a generic function
// per name and type arguments, whatever its package: a cell declaring a generic func swap would have its swap
// called by slices, or the other way round. The helpers get a trailing underscore, a name no cell declares.
func unexportedGenericFuncs(file *ast.File) map[string]bool {
	names := map[string]bool{}
	for _, decl := range file.Decls {
		if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Type.TypeParams != nil && !fn.Name.IsExported() {
			names[fn.Name.Name] = true
		}
	}
	return names
}

// renameIdents appends an underscore to the identifiers in names, except selected fields and methods.
func renameIdents(node ast.Node, names map[string]bool) {
	ast.Inspect(node, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			renameIdents(n.X, names)
			return false
		case *ast.Ident:
			if names[n.Name] {
				n.Name += "_"
			}
		}
		return true
	})
}

// leadingComment is the comment lines at the top of a source file, its copyright notice.
func leadingComment(src []byte) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(string(src), "\n") {
		if !strings.HasPrefix(line, "//") {
			break
		}
		b.WriteString(line)
	}
	return b.String()
}
