package main

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
		spellOutSeqParams(fn)
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
	out, err := parser.ParseExpr(buf.String())
	if err != nil {
		panic(err)
	}
	return out
}

// spellOutSeqParams writes parameters of type iter.Seq[X] and iter.Seq2[X, Y] as func(yield func(X) bool) and
// func(yield func(X, Y) bool).
func spellOutSeqParams(fn *ast.FuncDecl) {
	for _, field := range fn.Type.Params.List {
		var args []ast.Expr
		var sel *ast.SelectorExpr
		switch t := field.Type.(type) {
		case *ast.IndexExpr:
			sel, _ = t.X.(*ast.SelectorExpr)
			args = []ast.Expr{t.Index}
		case *ast.IndexListExpr:
			sel, _ = t.X.(*ast.SelectorExpr)
			args = t.Indices
		}
		if sel == nil {
			continue
		}
		if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "iter" || (sel.Sel.Name != "Seq" && sel.Sel.Name != "Seq2") {
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

// renameTypeParams appends an underscore to the names of fn's type parameters, everywhere in fn.
func renameTypeParams(fn *ast.FuncDecl) {
	renamed := map[string]bool{}
	for _, field := range fn.Type.TypeParams.List {
		for _, name := range field.Names {
			renamed[name.Name] = true
		}
	}
	ast.Inspect(fn, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			ast.Inspect(n.X, func(n ast.Node) bool { return rename(n, renamed) })
			return false
		case *ast.Ident:
			rename(n, renamed)
		}
		return true
	})
}

func rename(n ast.Node, renamed map[string]bool) bool {
	if id, ok := n.(*ast.Ident); ok && renamed[id.Name] {
		id.Name += "_"
	}
	return true
}

// writeSources writes the sources of pkg in from (GOPATH layout) to the same place in to, adapted for yaegi.
func writeSources(from, to, pkg string) error {
	dir := filepath.Join(from, "src", pkg)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	outDir := filepath.Join(to, "src", pkg)
	if err := os.RemoveAll(outDir); err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") {
			continue
		}
		src, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		// Comments are dropped (rewritten code would misplace them), except the copyright notice.
		fset := token.NewFileSet()
		file, err := parser.ParseFile(fset, e.Name(), src, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		adaptForYaegi(file)
		var buf bytes.Buffer
		fmt.Fprintf(&buf, "// Code generated by interp/stdlib/gen from %s/%s. DO NOT EDIT.\n\n%s\n", filepath.ToSlash(dir), e.Name(), leadingComment(src))
		// An empty file set: line breaks follow the printer, not the positions the rewrite left inconsistent.
		if err := format.Node(&buf, token.NewFileSet(), file); err != nil {
			return fmt.Errorf("%s: %w", e.Name(), err)
		}
		if err := os.WriteFile(filepath.Join(outDir, e.Name()), buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
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
