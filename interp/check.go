package interp

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"sort"
	"strconv"
	"strings"
)

// A checked cell is type-checked as one Go file holding the session (imports, the declarations still live, and
// the variables earlier cells' statements set, with their types), the cell's declarations, and the cell's
// statements as the body of one function:
//
//	package main
//	import (...)
//	/*line cell2:1:1*/ func f() ...          // earlier cells
//	/*line cell3:1:1*/ var x int              // set by cell3's statements
//	/*line cell4:1:1*/ type T struct{...}     // this cell's declarations
//	func govalentCell() {
//	/*line cell4:2:1*/ y, ok := m["a"]        // this cell's statements
//	}
//
// Line directives make Go's messages point at cells. What Go reports inside a function body but a notebook
// allows at its top level is dropped: a variable the statements define and do not use (a later cell may), an
// import not used yet, and a last expression not used (it is the cell's value).

// cellFunc is the name of the function a cell's statements become.
const cellFunc = "govalentCell"

// mainFunc is what a cell's func main is called in the interpreter, which would otherwise run main on every
// later evaluation; the cell calls it once, after its statements.
const mainFunc = "govalentMain"

// cellPlan is a type-checked cell, ready to run.
type cellPlan struct {
	cell    string
	imports []item
	decls   []item
	body    []item // statements, and var declarations that use what the statements set, in order
	hasMain bool
	consts  []item // constants the statements declare, declared for the session after them (see constEdits)
	// globalsFirst: a declaration of the cell uses a variable its statements define
	globalsFirst bool
	defines      []definedVar      // variables the statements define at their top level, kept in the session
	value        bool              // the last statement is an expression with one value: the cell's value
	results      int               // or with this many (more than one), shown together
	hidden       map[string]string // import path -> hidden name, for the types of defines and rewrites
	helpers      map[string]string // name -> source of the funcs the rewrites of min, max and clear call
	names        int               // hidden identifiers made for the rewrites
}

// definedVar is a variable a cell's statements define, with its type as Go source in the session.
type definedVar struct {
	name, typ string
	line      int
}

// checkSource is the file a cell is type-checked as, with where each piece of the cell starts in it.
type checkSource struct {
	text    strings.Builder
	starts  map[*item]int // offset of an item's text
	imports map[string]string
}

func (c *checkSource) add(it *item) {
	c.text.WriteString(linePrefix(it.cell, it.line, it.col))
	c.starts[it] = c.text.Len()
	c.text.WriteString(it.text)
	c.text.WriteString("\n")
}

// check type-checks a cell; a nil plan (and no error) means it must run unchecked, because it imports a
// package only the interpreter knows.
func (s *Session) check(imp *typeImporter, cell string, items []item) (*cellPlan, error) {
	plan := &cellPlan{cell: cell}
	moved, err := moveVarsIntoBody(items)
	if err != nil {
		return nil, err
	}
	for i := range items {
		it := &items[i]
		switch {
		case it.kind == itemImport:
			plan.imports = append(plan.imports, *it)
		case it.kind == itemStmt || moved[it] || blockScopedConsts(it):
			if err := returnError(it, true); err != nil {
				return nil, err
			}
			plan.body = append(plan.body, *it)
		default:
			if it.tok == token.FUNC && it.recv == "" && it.declNames[0] == "main" {
				plan.hasMain = true
			}
			plan.decls = append(plan.decls, *it)
		}
	}

	paths := map[string]bool{}
	s.mu.Lock()
	for _, d := range s.store.byName {
		if d.tok == token.IMPORT {
			paths[d.path] = true
		}
	}
	s.mu.Unlock()
	list := importPaths(plan.imports)
	for p := range paths {
		list = append(list, p)
	}
	if err := imp.prepare(list); err != nil {
		return nil, &toolchainError{err}
	}
	imp.mu.Lock()
	for _, it := range plan.imports {
		for _, spec := range it.file.Imports {
			p := strings.Trim(spec.Path.Value, `"`)
			if _, ok := imp.failed[p]; ok && PackageSymbols(p) != nil {
				imp.mu.Unlock()
				return nil, nil
			}
		}
	}
	imp.mu.Unlock()

	// the check files leave the shared file set once the cell's edits are made
	var checked []*checkResult
	defer func() {
		for _, r := range checked {
			imp.fset.RemoveFile(imp.fset.File(r.file.Pos()))
		}
	}()
	typeCheck := func(globals []definedVar) (*checkResult, error) {
		res, err := s.typeCheck(imp, plan, globals)
		if err == nil {
			checked = append(checked, res)
		}
		return res, err
	}
	res, err := typeCheck(nil)
	if err != nil {
		return nil, err
	}
	var imported []string
	if len(res.errs) > 0 {
		added, err := autoImports(cell, items, res.errs)
		if err != nil {
			return nil, err
		}
		if len(added) > 0 {
			for _, a := range added {
				imported = append(imported, strings.TrimPrefix(a.text, "import "))
			}
			if err := imp.prepare(importPaths(added)); err != nil {
				return nil, &toolchainError{err}
			}
			plan.imports = append(plan.imports, added...)
			if res, err = typeCheck(nil); err != nil {
				return nil, err
			}
		}
	}
	if res.needsGlobals {
		// a declaration of this cell uses a variable its statements set: check again with the variables global
		if res, err = typeCheck(res.defines); err != nil {
			return nil, err
		}
		plan.globalsFirst = true
	}
	if len(res.errs) > 0 {
		return nil, res.cellError(cell)
	}
	if err := moduleGenerics(imp.fset, res.info); err != nil {
		return nil, err
	}
	if err := s.replacedWhileUsed(res); err != nil {
		return nil, err
	}
	if err := s.genericClash(plan, res.src.imports); err != nil {
		return nil, err
	}
	if len(imported) > 0 {
		fmt.Fprintf(s.opts.Stderr, "govalent: imported %s\n", strings.Join(imported, ", "))
	}
	plan.defines = res.defines
	plan.hidden = res.hidden
	plan.value, plan.results = res.value, res.results
	if err := s.planEdits(plan, res); err != nil {
		return nil, err
	}
	return plan, nil
}

// importPaths lists the paths import items import.
func importPaths(items []item) []string {
	var out []string
	for _, it := range items {
		for _, spec := range it.file.Imports {
			out = append(out, strings.Trim(spec.Path.Value, `"`))
		}
	}
	return out
}

// toolchainError is a failure of the Go toolchain itself (not of the cell): the cell runs unchecked.
type toolchainError struct{ err error }

func (e *toolchainError) Error() string {
	return "cells are not type-checked: the Go toolchain failed: " + e.err.Error()
}

// moveVarsIntoBody picks the var declarations that use (directly, or through a func of the cell or another such
// var) a name the cell's statements define or assign: they are statements of the cell, run in their place, not
// package-level vars initialized before the statements run.
func moveVarsIntoBody(items []item) (map[*item]bool, error) {
	defined := map[string]bool{}
	for _, it := range items {
		if it.kind != itemStmt {
			continue
		}
		for _, n := range it.defines {
			defined[n] = true
		}
		ast.Inspect(it.stmt, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.AssignStmt:
				if x.Tok != token.DEFINE {
					for _, l := range x.Lhs {
						if id, ok := ast.Unparen(l).(*ast.Ident); ok {
							defined[id.Name] = true
						}
					}
				}
			case *ast.IncDecStmt:
				if id, ok := ast.Unparen(x.X).(*ast.Ident); ok {
					defined[id.Name] = true
				}
			}
			return true
		})
	}
	moved := map[*item]bool{}
	usesStatements := map[string]bool{} // funcs of the cell that use what the statements define
	for grew := true; grew; {
		grew = false
		for i := range items {
			it := &items[i]
			if it.kind != itemDecl || moved[it] || it.tok != token.VAR && it.tok != token.FUNC {
				continue
			}
			for _, f := range freeIdents(it.file) {
				if !defined[f] && !usesStatements[f] {
					continue
				}
				if it.tok == token.FUNC {
					if it.recv == "" && !usesStatements[it.declNames[0]] {
						usesStatements[it.declNames[0]] = true
						grew = true
					}
					break
				}
				gd := it.file.Decls[0].(*ast.GenDecl)
				if gd.Lparen.IsValid() || len(it.file.Decls) != 1 {
					return nil, &CellError{Cell: it.cell, Line: it.line, Col: it.col, Msg: fmt.Sprintf("this var block uses %s, which the cell's statements set: write it as single var declarations or := statements after them", f)}
				}
				moved[it] = true
				for _, n := range it.declNames {
					defined[n] = true
				}
				grew = true
				break
			}
		}
	}
	return moved, nil
}

// blockScopedConsts reports whether a const declaration of a cell reads, in the value of one of its specs
// (written or repeated), a name that this spec or a later one declares: `X = X + X` redefining an earlier X,
// `iota = iota`. In a function body, which a cell's statements are, that name is still the outer one, since a
// constant's scope begins after its spec; at package level it would be a cycle. Such a declaration is checked
// and run as a statement of the cell, and the constants are then declared for later cells (see constEdits).
func blockScopedConsts(it *item) bool {
	if it.kind != itemDecl || it.tok != token.CONST || len(it.file.Decls) != 1 {
		return false
	}
	gd, ok := it.file.Decls[0].(*ast.GenDecl)
	if !ok {
		return false
	}
	declaredAt := map[string]int{}
	for i, spec := range gd.Specs {
		for _, n := range spec.(*ast.ValueSpec).Names {
			if _, ok := declaredAt[n.Name]; !ok && n.Name != "_" {
				declaredAt[n.Name] = i
			}
		}
	}
	var values []ast.Expr
	for i, spec := range gd.Specs {
		if vs := spec.(*ast.ValueSpec); len(vs.Values) > 0 {
			values = vs.Values
		}
		reads := false
		var visit func(n ast.Node) bool
		visit = func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.SelectorExpr: // in pkg.X or v.f, only the left is a name of this scope
				ast.Inspect(x.X, visit)
				return false
			case *ast.Ident:
				if at, ok := declaredAt[x.Name]; ok && at >= i {
					reads = true
				}
			}
			return !reads
		}
		for _, v := range values {
			ast.Inspect(v, visit)
		}
		if reads {
			return true
		}
	}
	return false
}

// checkResult is what one type check found.
type checkResult struct {
	errs         []checkError
	needsGlobals bool
	defines      []definedVar
	value        bool
	results      int
	hidden       map[string]string
	src          *checkSource
	fset         *token.FileSet
	file         *ast.File
	info         *types.Info
	pkg          *types.Package
	body         *ast.BlockStmt
}

type checkError struct {
	pos token.Position
	msg string
}

func (r *checkResult) cellError(cell string) error {
	first := r.errs[0]
	ce := &CellError{Cell: first.pos.Filename, Line: first.pos.Line, Col: first.pos.Column, Msg: futureHint(first.msg)}
	if ce.Cell == "" {
		ce.Cell = cell
	}
	const most = 10
	for i, e := range r.errs[1:] {
		if i == most-1 {
			ce.Msg += fmt.Sprintf("\n\t(and %d more errors)", len(r.errs)-most)
			break
		}
		ce.Msg += fmt.Sprintf("\n\t%s:%d:%d: %s", e.pos.Filename, e.pos.Line, e.pos.Column, e.msg)
	}
	return ce
}

// typeCheck builds the check file for plan and runs go/types over it. globals are variables of the statements
// to declare at package level too (see check).
func (s *Session) typeCheck(imp *typeImporter, plan *cellPlan, globals []definedVar) (*checkResult, error) {
	src := &checkSource{starts: map[*item]int{}, imports: map[string]string{}}
	cellNames := map[string]bool{}
	for _, d := range plan.decls {
		for _, n := range d.declNames {
			cellNames[n] = true
		}
	}
	for _, g := range globals {
		cellNames[g.name] = true
	}
	for _, it := range plan.imports {
		for _, spec := range it.file.Imports {
			src.imports[importName(spec)] = strings.Trim(spec.Path.Value, `"`)
		}
	}
	s.mu.Lock()
	for n, d := range s.store.byName {
		// a name the cell declares replaces an import (ct, display) as it replaces any earlier declaration
		if _, ok := src.imports[n]; !ok && d.tok == token.IMPORT && !cellNames[n] {
			src.imports[n] = d.path
		}
	}
	hidden := map[string]string{}
	for p, alias := range s.hidden {
		hidden[p] = alias
	}
	relevant := s.relevantNames(plan, cellNames)
	var sessionDecls []*decl
	for _, d := range s.store.all() {
		if d.tok == token.IMPORT {
			continue
		}
		key := d.names[0]
		if d.recv != "" {
			key = d.recv + "." + key
		}
		redefined, used := false, relevant[d.recv]
		for _, n := range d.names {
			if d.recv == "" && cellNames[n] {
				redefined = true
			}
			used = used || d.recv == "" && relevant[n]
		}
		if used && !redefined && !cellNames[key] {
			sessionDecls = append(sessionDecls, d)
		}
	}
	var vars []string
	for n, rv := range s.runtimeVars {
		if relevant[n] && !cellNames[n] && rv.typ != "" {
			vars = append(vars, linePrefix(rv.cell, rv.line, 1)+"var "+n+" "+rv.typ+"\n")
		}
	}
	s.mu.Unlock()
	sort.Strings(vars)

	b := &src.text
	b.WriteString("package main\n\nimport (\n")
	names := make([]string, 0, len(src.imports))
	for n := range src.imports {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(b, "\t%s %q\n", n, src.imports[n])
	}
	for p, alias := range hidden {
		fmt.Fprintf(b, "\t%s %q\n", alias, p)
	}
	b.WriteString(")\n")
	for _, d := range sessionDecls {
		it := d.src
		if it.text == "" { // a declaration from the prelude or a shipped program's import
			continue
		}
		fmt.Fprintf(b, "%s%s\n", linePrefix(d.cell, d.line, d.col), d.text)
	}
	for _, v := range vars {
		b.WriteString(v)
	}
	for _, g := range globals {
		fmt.Fprintf(b, "%svar %s %s\n", linePrefix(plan.cell, g.line, 1), g.name, g.typ)
	}
	for i := range plan.decls {
		src.add(&plan.decls[i])
	}
	b.WriteString("func " + cellFunc + "() {\n")
	for i := range plan.body {
		src.add(&plan.body[i])
	}
	b.WriteString("}\n")

	res := &checkResult{src: src, fset: imp.fset, hidden: hidden}
	file, err := parser.ParseFile(imp.fset, "", b.String(), parser.SkipObjectResolution)
	if err != nil {
		return nil, &CellError{Cell: plan.cell, Msg: "type check: " + err.Error()}
	}
	res.file = file
	fn := file.Decls[len(file.Decls)-1].(*ast.FuncDecl)
	res.body = fn.Body
	res.info = &types.Info{
		Types:      map[ast.Expr]types.TypeAndValue{},
		Defs:       map[*ast.Ident]types.Object{},
		Uses:       map[*ast.Ident]types.Object{},
		Scopes:     map[ast.Node]*types.Scope{},
		Selections: map[*ast.SelectorExpr]*types.Selection{},
		Instances:  map[*ast.Ident]types.Instance{},
	}
	var raw []types.Error
	conf := types.Config{Importer: imp, Error: func(err error) { raw = append(raw, err.(types.Error)) }}
	imp.mu.Lock()
	res.pkg, _ = conf.Check("main", imp.fset, []*ast.File{file}, res.info)
	imp.mu.Unlock()

	// the variables the statements define at their top level
	top := map[types.Object]bool{}
	statementNames := map[string]bool{}
	for _, st := range res.body.List {
		for _, id := range definedIdents(st) {
			statementNames[id.Name] = true
			if obj := res.info.Defs[id]; obj != nil && id.Name != "_" {
				top[obj] = true
				p := imp.fset.Position(id.Pos())
				res.defines = append(res.defines, definedVar{name: id.Name, typ: s.typeString(obj.Type(), res, src.imports), line: p.Line})
			}
		}
	}
	var last *ast.ExprStmt
	if n := len(res.body.List); n > 0 {
		last, _ = res.body.List[n-1].(*ast.ExprStmt)
	}
	if last != nil {
		tv := res.info.Types[last.X]
		tuple, isTuple := tv.Type.(*types.Tuple)
		if isTuple && !writes(res.info, last.X) {
			res.results = tuple.Len()
		}
		res.value = tv.IsValue() && !isTuple && tv.Type != nil && !tv.IsBuiltin() || res.results > 1
	}
	for _, e := range raw {
		msg := e.Msg
		switch {
		case strings.Contains(msg, "imported and not used") || strings.Contains(msg, "imported as ") && strings.HasSuffix(msg, "and not used"):
			continue
		case strings.HasPrefix(msg, "declared and not used"):
			if obj := objectAt(res.info, e.Pos); obj != nil && top[obj] {
				continue
			}
		case strings.HasSuffix(msg, "is not used") && last != nil && e.Pos >= last.Pos() && e.Pos < last.End():
			continue
		case strings.HasPrefix(msg, "undefined: "):
			name := strings.TrimPrefix(msg, "undefined: ")
			if statementNames[name] && (e.Pos < fn.Pos() || e.Pos > fn.End()) {
				res.needsGlobals = globals == nil
			}
		}
		res.errs = append(res.errs, checkError{pos: imp.fset.Position(e.Pos), msg: msg})
	}
	return res, nil
}

// replacedWhileUsed refuses a cell whose statements use a package-level name (an earlier cell's variable,
// constant or func) that a top-level := or var of the same statements redefines with another type or kind: in Go
// the use reads the outer one, but the session's variable is replaced before the statements run, so the use
// would read the new one, a value of another type. (A variable of the same type is replaced by a variable of
// that type, which the statements then share, as the body of a main they were written from did.)
func (s *Session) replacedWhileUsed(res *checkResult) error {
	defined := map[string]definedVar{}
	s.mu.Lock()
	for _, d := range res.defines {
		if rv := s.runtimeVars[d.name]; rv == nil || rv.typ != d.typ {
			defined[d.name] = d
		}
	}
	s.mu.Unlock()
	if len(defined) == 0 {
		return nil
	}
	var first *ast.Ident
	ast.Inspect(res.body, func(n ast.Node) bool {
		id, ok := n.(*ast.Ident)
		if !ok || first != nil {
			return first == nil
		}
		if d, ok := defined[id.Name]; ok {
			obj := res.info.Uses[id]
			if v, isVar := obj.(*types.Var); obj != nil && obj.Parent() == res.pkg.Scope() && (!isVar || s.typeString(v.Type(), res, res.src.imports) != d.typ) {
				first = id
			}
		}
		return true
	})
	if first == nil {
		return nil
	}
	p := res.fset.Position(first.Pos())
	return &CellError{Cell: p.Filename, Line: p.Line, Col: p.Column, Msg: fmt.Sprintf("%s here is the earlier %s, which this cell redefines at line %d before its statements run: give one of them another name", first.Name, first.Name, defined[first.Name].line)}
}

// definedIdents lists the identifiers a top-level statement of a cell defines: the left of :=, the names of a
// var statement.
func definedIdents(st ast.Stmt) []*ast.Ident {
	var out []*ast.Ident
	switch x := st.(type) {
	case *ast.AssignStmt:
		if x.Tok == token.DEFINE {
			for _, l := range x.Lhs {
				if id, ok := l.(*ast.Ident); ok {
					out = append(out, id)
				}
			}
		}
	case *ast.DeclStmt:
		if gd, ok := x.Decl.(*ast.GenDecl); ok && gd.Tok == token.VAR {
			for _, spec := range gd.Specs {
				out = append(out, spec.(*ast.ValueSpec).Names...)
			}
		}
	}
	return out
}

func objectAt(info *types.Info, pos token.Pos) types.Object {
	for id, obj := range info.Defs {
		if id.Pos() == pos {
			return obj
		}
	}
	return nil
}

// typeString writes t as Go source in the session: packages by the names the session imports them under, or
// under a hidden name imported for the purpose.
func (s *Session) typeString(t types.Type, res *checkResult, imports map[string]string) string {
	return types.TypeString(t, func(p *types.Package) string {
		if p == res.pkg {
			return ""
		}
		for n, path := range imports {
			if path == p.Path() && n != "_" && n != "." {
				return n
			}
		}
		alias, ok := res.hidden[p.Path()]
		if !ok {
			alias = "govalentpkg" + strconv.Itoa(len(res.hidden)) + "_" + p.Name()
			res.hidden[p.Path()] = alias
		}
		return alias
	})
}

// relevantNames are the session's names a cell's check needs: those the cell uses, what their declarations (and
// the methods of the types among them) use in turn, and the declarations that use a name the cell redefines
// (so that Go reports what a redefinition breaks). The rest cannot change the check's outcome and is left out,
// so a cell's check costs what it uses, not the size of the session. The caller holds s.mu.
func (s *Session) relevantNames(plan *cellPlan, cellNames map[string]bool) map[string]bool {
	relevant := map[string]bool{}
	var queue []string
	want := func(n string) {
		if !relevant[n] {
			relevant[n] = true
			queue = append(queue, n)
		}
	}
	for _, items := range [][]item{plan.decls, plan.body} {
		for _, it := range items {
			var root ast.Node = it.file
			if it.stmt != nil {
				root = it.stmt
			}
			ast.Inspect(root, func(n ast.Node) bool {
				if id, ok := n.(*ast.Ident); ok {
					want(id.Name)
				}
				return true
			})
		}
	}
	for _, d := range s.store.all() {
		for _, f := range d.free {
			if cellNames[f] {
				for _, n := range d.names {
					want(n)
				}
				if d.recv != "" {
					want(d.recv)
				}
			}
		}
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if d := s.store.byName[n]; d != nil {
			for _, f := range d.free {
				want(f)
			}
		}
		for _, m := range s.store.methods[n] {
			for _, f := range m.free {
				want(f)
			}
		}
		if rv := s.runtimeVars[n]; rv != nil && rv.typ != "" {
			if e, err := parser.ParseExpr(rv.typ); err == nil {
				ast.Inspect(e, func(x ast.Node) bool {
					if id, ok := x.(*ast.Ident); ok {
						want(id.Name)
					}
					return true
				})
			}
		}
	}
	return relevant
}

// writes reports whether e calls a func or method that prints, writes or scans, whose results (a count and an
// error) a notebook does not show: fmt.Println("x") shows no `2 <nil>`.
func writes(info *types.Info, e ast.Expr) bool {
	call, ok := ast.Unparen(e).(*ast.CallExpr)
	if !ok {
		return false
	}
	var id *ast.Ident
	switch f := ast.Unparen(call.Fun).(type) {
	case *ast.Ident:
		id = f
	case *ast.SelectorExpr:
		id = f.Sel
	default:
		return false
	}
	fn, ok := info.Uses[id].(*types.Func)
	if !ok {
		return false
	}
	if fn.Pkg() != nil && fn.Pkg().Path() == "fmt" {
		return true
	}
	for _, prefix := range []string{"Write", "Print", "Fprint", "Scan", "Sscan", "Fscan", "Copy", "ReadFrom"} {
		if strings.HasPrefix(fn.Name(), prefix) {
			return true
		}
	}
	return false
}
