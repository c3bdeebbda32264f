package interp

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/govalent/govalent/interp/stdlib"
	"golang.org/x/tools/imports"
)

// autoImports finds the standard-library and compiled module packages a cell uses without importing them, as goimports does: the
// names the check reported undefined that the cell uses as `name.Member` and that name a package the
// interpreter can import. It returns import items for them, or none.
func autoImports(cell string, items []item, errs []checkError) ([]item, error) {
	undefined := map[string]bool{}
	for _, e := range errs {
		if name, ok := strings.CutPrefix(e.msg, "undefined: "); ok && e.pos.Filename == cell {
			undefined[name] = true
		}
	}
	if len(undefined) == 0 {
		return nil, nil
	}
	known := map[string]bool{}
	for _, p := range append(Packages(), stdlib.SourcePackages...) {
		known[packageName(p)] = true
	}
	refs := map[string]bool{}
	for _, it := range items {
		var root ast.Node = it.file
		if it.stmt != nil {
			root = it.stmt
		}
		ast.Inspect(root, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if x, ok := sel.X.(*ast.Ident); ok && undefined[x.Name] && known[x.Name] {
					refs[x.Name+"."+sel.Sel.Name] = true
				}
			}
			return true
		})
	}
	if len(refs) == 0 {
		return nil, nil
	}
	var src strings.Builder
	src.WriteString("package main\n")
	// goimports does not look in the session's module: a compiled module package a name fits alone is the one
	for name, paths := range modulePackages() {
		if undefined[name] && len(paths) == 1 {
			fmt.Fprintf(&src, "import %q\n", paths[0])
		}
	}
	for _, r := range sortedSet(refs) {
		fmt.Fprintf(&src, "var _ = %s\n", r)
	}
	out, err := imports.Process(cell+".go", []byte(src.String()), &imports.Options{TabIndent: true, TabWidth: 8})
	if err != nil {
		return nil, fmt.Errorf("auto-import: %w", err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "", out, parser.ImportsOnly)
	if err != nil {
		return nil, fmt.Errorf("auto-import: %w", err)
	}
	var added []item
	for _, spec := range f.Imports {
		path, _ := strconv.Unquote(spec.Path.Value)
		if PackageSymbols(path) == nil && !slices.Contains(stdlib.SourcePackages, path) {
			continue // only what the interpreter can import
		}
		it := item{kind: itemImport, text: "import " + spec.Path.Value, cell: cell, line: 1, col: 1, tok: token.IMPORT}
		if err := parseItem(&it); err != nil {
			return nil, err
		}
		added = append(added, it)
	}
	return added, nil
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// modulePackages lists the compiled packages of the session's modules (in Symbols, not the SDK) by name.
func modulePackages() map[string][]string {
	out := map[string][]string{}
	for k := range Symbols {
		i := strings.LastIndex(k, "/")
		if i < 0 || isSDKPackage(k[:i]) || !strings.Contains(strings.Split(k, "/")[0], ".") {
			continue
		}
		out[k[i+1:]] = append(out[k[i+1:]], k[:i])
	}
	return out
}
