package stdlib

import (
	"go/ast"
	"go/types"
	"slices"
)

// GenericCall reports whether call calls a generic function of SourcePackages with inferred type arguments.
// yaegi infers them itself from the interpreted source; written out, more than one makes it fail. It infers
// them only from the types of interpreted values, though: an argument of a compiled package's type (the
// []string of strings.Fields, the iter.Seq of strings.Lines, an http.Header) must first be converted to its
// unnamed type, which UnnamedArgType gives.
func GenericCall(call *ast.CallExpr, info *types.Info) bool {
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

// UnnamedArgType returns the type that arg, an argument of a GenericCall, is to be converted to: the unnamed
// form of its slice, map or func type (a no-op in Go: slices.Sort(words) becomes slices.Sort([]string(words)));
// nil when it needs no conversion (a literal, a value of another kind of type).
func UnnamedArgType(arg ast.Expr, info *types.Info) types.Type {
	switch ast.Unparen(arg).(type) {
	case *ast.BasicLit, *ast.CompositeLit, *ast.FuncLit:
		return nil // interpreted values of types written in the cell
	}
	t := info.TypeOf(arg)
	if t == nil {
		return nil
	}
	switch u := t.Underlying().(type) {
	case *types.Slice, *types.Map, *types.Signature:
		return u
	}
	return nil
}
