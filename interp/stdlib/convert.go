package stdlib

import (
	"go/ast"
	"go/parser"
	"go/types"
	"slices"
)

// ConvertGenericArgs rewrites, in a cell type-checked by go/types (info needs Types, Uses and Defs of file, pkg
// is the cell's package), the calls to generic functions of SourcePackages that yaegi could not instantiate:
// yaegi infers type arguments only from the types of interpreted values, and a value of a compiled package's
// type (the []string of strings.Fields, the iter.Seq of strings.Lines, an http.Header) makes its compiler
// panic. Each argument whose type is a slice, map or func type becomes a conversion to that type's unnamed
// form, a no-op in Go: slices.Sort(words) becomes slices.Sort([]string(words)) (a cell's own []T converts to
// itself, harmlessly). Arguments that are literals, calls with explicit type arguments, and types that the
// cell cannot name (of a package it does not import) are left alone. The inserted nodes have no positions. It returns the number of arguments converted.
func ConvertGenericArgs(file *ast.File, info *types.Info, pkg *types.Package) int {
	names := map[string]string{} // import path -> the cell's name for it
	for _, spec := range file.Imports {
		if pn := info.PkgNameOf(spec); pn != nil {
			names[pn.Imported().Path()] = pn.Name()
		}
	}
	converted := 0
	ast.Inspect(file, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || !callsSourceGeneric(call, info) {
			return true
		}
		for i, arg := range call.Args {
			if conv := unnamedConversion(arg, info, pkg, names); conv != nil {
				call.Args[i] = conv
				converted++
			}
		}
		return true
	})
	return converted
}

// callsSourceGeneric reports whether call calls a generic function of SourcePackages with inferred type
// arguments.
func callsSourceGeneric(call *ast.CallExpr, info *types.Info) bool {
	var id *ast.Ident
	switch fun := call.Fun.(type) {
	case *ast.Ident:
		id = fun
	case *ast.SelectorExpr:
		id = fun.Sel
	default:
		return false // explicit type arguments (an index expression), or not a named function
	}
	fn, ok := info.Uses[id].(*types.Func)
	if !ok || fn.Pkg() == nil || !slices.Contains(SourcePackages, fn.Pkg().Path()) {
		return false
	}
	return fn.Type().(*types.Signature).TypeParams().Len() > 0
}

// unnamedConversion returns arg converted to the unnamed form of its slice, map or func type, or nil.
func unnamedConversion(arg ast.Expr, info *types.Info, pkg *types.Package, names map[string]string) ast.Expr {
	switch ast.Unparen(arg).(type) {
	case *ast.BasicLit, *ast.CompositeLit, *ast.FuncLit:
		return nil // interpreted values of types written in the cell
	}
	t := info.TypeOf(arg)
	if t == nil {
		return nil
	}
	switch t.Underlying().(type) {
	case *types.Slice, *types.Map, *types.Signature:
	default:
		return nil
	}
	nameable := true
	qualifier := func(p *types.Package) string {
		if p == pkg {
			return ""
		}
		name, ok := names[p.Path()]
		if !ok {
			nameable = false
		}
		return name
	}
	text := types.TypeString(t.Underlying(), qualifier)
	if !nameable {
		return nil
	}
	typ, err := parser.ParseExpr(text)
	if err != nil {
		return nil // a type go/types prints but Go cannot spell (a struct with embedded fields' tags, ...)
	}
	return &ast.CallExpr{Fun: &ast.ParenExpr{X: typ}, Args: []ast.Expr{arg}}
}
