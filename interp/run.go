package interp

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"reflect"
	"sort"
	"strings"
)

// evalCell type-checks and runs a cell, or runs it unchecked (statement by statement, as yaegi allows) where
// no Go toolchain is installed.
func (s *Session) evalCell(ctx context.Context, cell string, items []item) (Result, error) {
	imp, why := typeChecker(s.opts.ModuleDir)
	if why != nil {
		s.noteOnce.Do(func() { fmt.Fprintln(s.opts.Stderr, "govalent:", why) })
		return s.evalItems(ctx, items)
	}
	plan, err := s.check(imp, cell, items)
	var broken *toolchainError
	if errors.As(err, &broken) {
		s.noteOnce.Do(func() { fmt.Fprintln(s.opts.Stderr, "govalent:", broken) })
		return s.evalItems(ctx, items)
	}
	if err != nil {
		return Result{}, err
	}
	if plan == nil {
		return s.evalItems(ctx, items)
	}
	return s.runPlan(ctx, plan)
}

// runPlan runs a checked cell: its imports, the package-level variables its statements define (so that its
// declarations and later cells see them), its declarations, then its statements as the body of one function
// literal, called once, and its func main if it declares one.
func (s *Session) runPlan(ctx context.Context, plan *cellPlan) (Result, error) {
	var res Result
	if err := s.evalImports(ctx, plan.imports); err != nil {
		return res, err
	}
	// The statements' variables are declared after the cell's declarations (their types may be declared
	// there), unless a declaration uses one of them.
	if plan.globalsFirst {
		if err := s.declareGlobals(ctx, plan); err != nil {
			return res, err
		}
	}
	if len(plan.decls) > 0 {
		s.mu.Lock()
		yi := s.yi
		s.mu.Unlock()
		if err := s.evalDecls(ctx, plan.decls, &res); err != nil {
			return res, err
		}
		s.mu.Lock()
		rebuilt := s.yi != yi
		s.mu.Unlock()
		if rebuilt && plan.globalsFirst {
			if err := s.declareGlobals(ctx, plan); err != nil {
				return res, err
			}
		}
	}
	if !plan.globalsFirst {
		if err := s.declareGlobals(ctx, plan); err != nil {
			return res, err
		}
	}
	if len(plan.body) == 0 && !plan.hasMain {
		return res, nil
	}
	var b strings.Builder
	b.WriteString("{ ")
	// a return in the statements ends the cell: its func main then does not run
	ran, callMain := "", mainFunc+"()\n"
	if len(plan.body) > 0 && plan.hasMain {
		b.WriteString("var govalentRan bool; ")
		ran, callMain = "govalentRan = true\n", "if govalentRan { "+callMain+"}\n"
	}
	if len(plan.body) > 0 {
		b.WriteString("func() {\n")
		for i := range plan.body {
			it := &plan.body[i]
			b.WriteString(s.directive(it.cell, it.line, it.col))
			b.WriteString(s.rewrite(it))
			b.WriteString("\n")
		}
		b.WriteString(ran + "}()\n")
	}
	if plan.hasMain {
		b.WriteString(callMain)
	}
	b.WriteString("}")
	if _, err := s.eval(ctx, plan.cell, b.String()); err != nil {
		return res, err
	}
	if len(plan.consts) > 0 {
		if err := s.evalDecls(ctx, plan.consts, &res); err != nil {
			return res, err
		}
	}
	if plan.value {
		v, err := s.yi.Eval("govalentValue")
		if err == nil && v.IsValid() && v.Kind() == reflect.Interface {
			v = v.Elem() // before the reset below, which overwrites the variable v refers to
		}
		s.yi.Eval("govalentValue = nil")
		res.Value = v
	}
	return res, nil
}

// declareGlobals declares the variables the cell's statements define as package-level variables of their
// go/types types, with a getter Ship reads them by. A variable already declared with the same type is kept (the
// statements assign it).
func (s *Session) declareGlobals(ctx context.Context, plan *cellPlan) error {
	var imports []string
	var fresh []definedVar
	s.mu.Lock()
	for p, alias := range plan.hidden {
		if s.hidden[p] != alias {
			imports = append(imports, fmt.Sprintf("import %s %q", alias, p))
		}
	}
	for _, d := range plan.defines {
		if rv := s.runtimeVars[d.name]; rv != nil && rv.typ == d.typ {
			rv.cell, rv.line = plan.cell, d.line
			continue
		}
		fresh = append(fresh, d)
	}
	s.mu.Unlock()
	for _, imp := range imports {
		if _, err := s.eval(ctx, plan.cell, imp); err != nil {
			return err
		}
	}
	s.mu.Lock()
	for p, alias := range plan.hidden {
		s.hidden[p] = alias
	}
	s.mu.Unlock()
	if len(fresh) == 0 {
		return nil
	}
	vars := make([]string, len(fresh))
	names := make([]string, len(fresh))
	for i, d := range fresh {
		vars[i], names[i] = d.name+" "+d.typ, d.name
	}
	if _, err := s.eval(ctx, plan.cell, s.directive(plan.cell, 1, 1)+"var (\n"+strings.Join(vars, "\n")+"\n)"); err != nil {
		return err
	}
	getters, err := s.makeGetters(ctx, plan.cell, names)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range fresh {
		s.store.forget(d.name)
		delete(s.entries, d.name)
		s.runtimeVars[d.name] = &runtimeVar{cell: plan.cell, line: d.line, get: getters[d.name], typ: d.typ}
	}
	return nil
}

// planEdits records on the cell's items how they must be rewritten for the interpreter (see edit): the
// statements' top-level := become assignments of the package-level variables, the last expression is kept as
// the cell's value, func main is renamed, and what the interpreter lacks is rewritten.
func (s *Session) planEdits(plan *cellPlan, res *checkResult) error {
	offset := func(p token.Pos) int { return int(p - res.file.FileStart) }
	for i := range plan.body {
		it := &plan.body[i]
		base := res.src.starts[it]
		st := res.body.List[i]
		rel := func(p token.Pos) int { return offset(p) - base }
		switch x := st.(type) {
		case *ast.AssignStmt:
			if x.Tok == token.DEFINE {
				it.extra = append(it.extra, replace(rel(x.TokPos), rel(x.TokPos)+2, "= "))
			}
		case *ast.DeclStmt:
			if gd := x.Decl.(*ast.GenDecl); gd.Tok == token.CONST {
				if err := s.constEdits(plan, it, gd, rel, res); err != nil {
					return err
				}
			} else {
				it.extra = append(it.extra, varAssignEdits(gd, rel, res, s)...)
			}
		case *ast.ExprStmt:
			if plan.value && i == len(plan.body)-1 && plan.results > 1 {
				// several values, shown together
				vars, anys := make([]string, plan.results), make([]string, plan.results)
				for j := range vars {
					vars[j] = fmt.Sprintf("govalentV%d", j)
					anys[j] = "any(" + vars[j] + ")"
				}
				it.extra = append(it.extra,
					replace(rel(x.Pos()), rel(x.Pos()), strings.Join(vars, ", ")+" := "),
					replace(rel(x.End()), rel(x.End()), "; govalentValue = "+builtinAlias+".Values("+strings.Join(anys, ", ")+")"))
			} else if plan.value && i == len(plan.body)-1 {
				it.extra = append(it.extra,
					replace(rel(x.Pos()), rel(x.Pos()), "govalentTmp := "),
					replace(rel(x.End()), rel(x.End()), "; govalentValue = "+displayAlias+".Capture(govalentTmp, any(govalentTmp))"))
			}
		}
		edits, err := s.languageEdits(it, st, rel, res, plan)
		if err != nil {
			return err
		}
		it.extra = append(it.extra, edits...)
		markGoStatements(it, st, rel, res.info)
	}
	for i := range plan.decls {
		it := &plan.decls[i]
		base := res.src.starts[it]
		rel := func(p token.Pos) int { return offset(p) - base }
		for _, d := range res.file.Decls {
			if o := offset(d.Pos()); o < base || o >= base+len(it.text) {
				continue
			}
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Name.Name == "main" {
				it.extra = append(it.extra, replace(rel(fd.Name.Pos()), rel(fd.Name.End()), mainFunc))
			}
			if gd, ok := d.(*ast.GenDecl); ok && gd.Tok == token.VAR {
				// kept so that a rebuild can declare the var again without running its initializer
				it.varTypes = map[string]string{}
				for _, spec := range gd.Specs {
					for _, n := range spec.(*ast.ValueSpec).Names {
						if obj := res.info.Defs[n]; obj != nil && n.Name != "_" {
							it.varTypes[n.Name] = s.typeString(obj.Type(), res, res.src.imports)
						}
					}
				}
			}
			edits, err := s.languageEdits(it, d, rel, res, plan)
			if err != nil {
				return err
			}
			it.extra = append(it.extra, edits...)
			markGoStatements(it, d, rel, res.info)
		}
	}
	// the helpers the rewrites call are declarations of the cell, before its own
	var helpers []item
	for _, name := range sortedKeys(plan.helpers) {
		h := item{kind: itemDecl, text: plan.helpers[name], cell: plan.cell, line: 1, col: 1, tok: token.FUNC}
		if err := parseItem(&h); err != nil {
			return err
		}
		helpers = append(helpers, h)
	}
	plan.decls = append(helpers, plan.decls...)
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// varAssignEdits turns a var statement of the cell's top level (`var x, y T = a, b`, `var z T`) into the
// assignment of the package-level variables it declares.
func varAssignEdits(gd *ast.GenDecl, rel func(token.Pos) int, res *checkResult, s *Session) []edit {
	vs := gd.Specs[0].(*ast.ValueSpec)
	names := make([]string, len(vs.Names))
	for i, n := range vs.Names {
		names[i] = n.Name
	}
	if len(vs.Values) > 0 {
		return []edit{replace(rel(gd.Pos()), rel(vs.Values[0].Pos()), strings.Join(names, ", ")+" = ")}
	}
	zeros := make([]string, len(vs.Names))
	for i, n := range vs.Names {
		zeros[i] = "*new(" + s.typeString(res.info.Defs[n].Type(), res, res.src.imports) + ")"
	}
	return []edit{replace(rel(gd.Pos()), rel(gd.End()), strings.Join(names, ", ")+" = "+strings.Join(zeros, ", "))}
}

// constEdits writes a const declaration among a cell's statements (see blockScopedConsts) with the values the
// check found, which is how the interpreter declares them in the cell's function, and keeps the same
// declaration for the session, declared once the statements have run, so later cells see the constants. A
// constant named iota stays in its cell: declared for the session, it would change every later iota.
func (s *Session) constEdits(plan *cellPlan, it *item, gd *ast.GenDecl, rel func(token.Pos) int, res *checkResult) error {
	var local, session []string
	for _, spec := range gd.Specs {
		for _, n := range spec.(*ast.ValueSpec).Names {
			obj, ok := res.info.Defs[n].(*types.Const)
			if !ok {
				continue
			}
			v := n.Name + " = " + constSource(types.TypeAndValue{Type: obj.Type(), Value: obj.Val()}, func(t types.Type) string {
				return s.typeString(t, res, res.src.imports)
			})
			local = append(local, v)
			if n.Name != "iota" {
				session = append(session, v)
			}
		}
	}
	text := it.text[rel(gd.Pos()):rel(gd.End())]
	it.extra = append(it.extra, replace(rel(gd.Pos()), rel(gd.End()), "const ("+strings.Join(local, "; ")+")"+strings.Repeat("\n", strings.Count(text, "\n"))))
	if len(session) == 0 {
		return nil
	}
	decl := item{kind: itemDecl, text: "const (" + strings.Join(session, "; ") + ")", cell: it.cell, line: it.line, col: it.col, tok: token.CONST}
	if err := parseItem(&decl); err != nil {
		return err
	}
	plan.consts = append(plan.consts, decl)
	return nil
}

// markGoStatements records what the rewrite of go statements (goEdits) needs to know of their types: the
// constant and nil arguments, which captured in a variable before the goroutine starts would lose the type of
// the parameter they are passed to (`go f(nil)`, a constant to a float64), and the receivers of method calls,
// which Go evaluates at the go statement too ("&" when the method takes the address of the receiver).
func markGoStatements(it *item, root ast.Node, rel func(token.Pos) int, info *types.Info) {
	ast.Inspect(root, func(n ast.Node) bool {
		g, ok := n.(*ast.GoStmt)
		if !ok {
			return true
		}
		for _, a := range g.Call.Args {
			if tv, ok := info.Types[a]; ok && (tv.Value != nil || tv.IsNil()) {
				if it.constArgs == nil {
					it.constArgs = map[int]bool{}
				}
				it.constArgs[rel(a.Pos())] = true
			}
		}
		if sel, ok := g.Call.Fun.(*ast.SelectorExpr); ok {
			if amp, ok := receiverCapture(info, sel); ok {
				if it.goRecvs == nil {
					it.goRecvs = map[int]string{}
				}
				it.goRecvs[rel(sel.X.Pos())] = amp
			}
		}
		return true
	})
}

// receiverCapture reports whether sel is a method value (or call) whose receiver Go evaluates where the
// selector is, and "&" when the method has a pointer receiver the selector takes the address for.
func receiverCapture(info *types.Info, sel *ast.SelectorExpr) (string, bool) {
	s := info.Selections[sel]
	if s == nil || s.Kind() != types.MethodVal {
		return "", false
	}
	recv := s.Obj().Type().(*types.Signature).Recv()
	_, ptrRecv := recv.Type().Underlying().(*types.Pointer)
	_, ptrX := s.Recv().Underlying().(*types.Pointer)
	if ptrRecv && !ptrX && !types.IsInterface(s.Recv()) {
		return "&", true
	}
	return "", true
}
