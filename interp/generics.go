package interp

import (
	"fmt"
	"go/ast"
	"go/token"
	"strings"

	"github.com/govalent/govalent/interp/stdlib"
)

// genericClash refuses what yaegi would get wrong: it keeps one instance of a generic func per name and type
// arguments, whatever the package, so a generic func of the session named like one of the generic standard
// library it imports (a cell's Max and slices.Max) would run in place of the other. A cell that declares such
// a func, or imports the package that makes it one, gets an error. imports are the session's and the cell's,
// name -> path.
func (s *Session) genericClash(plan *cellPlan, imports map[string]string) error {
	imported := map[string]bool{}
	for _, p := range imports {
		imported[p] = true
	}
	cellImports := map[string]*item{}
	for i := range plan.imports {
		for _, spec := range plan.imports[i].file.Imports {
			cellImports[strings.Trim(spec.Path.Value, `"`)] = &plan.imports[i]
		}
	}
	refuse := func(at *item, name, path string) error {
		return &CellError{Cell: at.cell, Line: at.line, Col: at.col, Msg: fmt.Sprintf(
			"a generic func called %s would be mixed up with %s.%s by the interpreter (it keeps one instance per name and type arguments, whatever the package): give the func another name",
			name, path[strings.LastIndex(path, "/")+1:], name)}
	}
	for i := range plan.decls {
		if name := genericFuncName(plan.decls[i].file); name != "" {
			for _, p := range stdlib.GenericFuncs()[name] {
				if imported[p] {
					return refuse(&plan.decls[i], name, p)
				}
			}
		}
	}
	if len(cellImports) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.store.byName {
		if d.tok != token.FUNC {
			continue
		}
		if name := genericFuncName(d.src.file); name != "" {
			for _, p := range stdlib.GenericFuncs()[name] {
				if at := cellImports[p]; at != nil {
					return refuse(at, name, p)
				}
			}
		}
	}
	return nil
}

// genericFuncName is the name of the generic func (not method) f declares, or "".
func genericFuncName(f *ast.File) string {
	if f == nil {
		return ""
	}
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Type.TypeParams != nil {
			return fd.Name.Name
		}
	}
	return ""
}
