package interp

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/token"
	"go/types"
	"strconv"
	"strings"

	"github.com/govalent/govalent/interp/stdlib"
	"golang.org/x/tools/go/ast/astutil"
)

// languageEdits rewrites, in root, the Go yaegi v0.16.1 lacks into Go it runs, using the types the check
// found. Each edit keeps the lines where they are, so positions in errors and panics stay right.
//   - `for i := range n` over an integer becomes a three-clause loop over a hidden counter;
//   - `for x := range seq` over an iterator func becomes a call of seq with the body as the yield func;
//   - `for k, v = range xs` assigns k and v in the body (yaegi leaves them one step behind);
//   - a loop variable a func literal captures (or whose address is taken) is copied per iteration (Go 1.22);
//   - min and max become calls of helpers declared for their types, clear a call of a compiled func;
//   - a defer's arguments are evaluated at the defer statement;
//   - a method value evaluates its receiver where it is written (yaegi reads it when the value is called);
//   - a generic func called with inferred type arguments gets them written out (yaegi's inference fails on
//     func literal arguments);
//   - == and != of values of a cell's interface type compare their dynamic values (yaegi compared its holders);
func (s *Session) languageEdits(it *item, root ast.Node, rel func(token.Pos) int, res *checkResult, plan *cellPlan) ([]edit, error) {
	lw := &languageWriter{s: s, res: res, rel: rel, plan: plan, text: it.text, explicit: map[*ast.Ident]bool{}, called: map[*ast.SelectorExpr]bool{},
		statementExprs: map[ast.Expr]bool{}}
	ast.Inspect(root, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.IndexExpr:
			lw.explicit[funcIdent(x.X)] = true
		case *ast.IndexListExpr:
			lw.explicit[funcIdent(x.X)] = true
		case *ast.DeferStmt:
			lw.copiedArgs(x.Call)
		case *ast.GoStmt:
			lw.copiedArgs(x.Call)
		case *ast.ExprStmt:
			lw.statementExprs[ast.Unparen(x.X)] = true
		}
		return true
	})
	if st, ok := root.(ast.Stmt); ok {
		lw.parallelAssign(st)
	}
	ast.Inspect(root, lw.visit)
	return lw.edits, lw.err
}

type languageWriter struct {
	s     *Session
	res   *checkResult
	rel   func(token.Pos) int
	plan  *cellPlan
	text  string // the item's source, which rel maps positions into
	edits []edit
	// explicit are the generic funcs given their type arguments in the source
	explicit map[*ast.Ident]bool
	called   map[*ast.SelectorExpr]bool // selectors that are called, not method values
	err      error
	seq      int
	// what wrappers (a prefix and a suffix) stay out of: the arguments of go and defer statements, which are
	// copied before the statement (a suffix at a copy's end would be written twice), and expression
	// statements, whose value the cell may show (its own suffix comes first)
	copied         [][2]token.Pos
	statementExprs map[ast.Expr]bool
}

// copiedArgs records the arguments of a go or defer statement's call, which are evaluated before it.
func (lw *languageWriter) copiedArgs(call *ast.CallExpr) {
	for _, a := range call.Args {
		lw.copied = append(lw.copied, [2]token.Pos{a.Pos(), a.End()})
	}
	if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
		lw.copied = append(lw.copied, [2]token.Pos{sel.X.Pos(), sel.X.End()})
	}
}

// wrappable reports whether a wrapper may go around e (see languageWriter.copied).
func (lw *languageWriter) wrappable(e ast.Expr) bool {
	if lw.statementExprs[ast.Unparen(e)] {
		return false
	}
	for _, r := range lw.copied {
		if e.Pos() >= r[0] && e.End() <= r[1] {
			return false
		}
	}
	return true
}

func (lw *languageWriter) add(start, end token.Pos, text string) {
	lw.edits = append(lw.edits, edit{start: lw.rel(start), end: lw.rel(end), text: text})
}

func (lw *languageWriter) fail(pos token.Pos, format string, args ...any) {
	if lw.err == nil {
		p := lw.res.fset.Position(pos)
		lw.err = &CellError{Cell: p.Filename, Line: p.Line, Col: p.Column, Msg: fmt.Sprintf(format, args...)}
	}
}

func (lw *languageWriter) typeString(t types.Type) string {
	return lw.s.typeString(t, lw.res, lw.res.src.imports)
}

// name makes a hidden identifier unique within the cell.
func (lw *languageWriter) name(base string) string {
	lw.plan.names++
	return fmt.Sprintf("govalent%s%d", base, lw.plan.names)
}

func (lw *languageWriter) visit(n ast.Node) bool {
	if lw.err != nil {
		return false
	}
	switch x := n.(type) {
	case *ast.RangeStmt:
		t := lw.res.info.Types[x.X].Type
		if t == nil {
			return true
		}
		switch u := t.Underlying().(type) {
		case *types.Basic:
			if u.Info()&types.IsInteger != 0 {
				lw.rangeInt(x, t)
			}
		case *types.Signature:
			lw.rangeFunc(x, u)
		default:
			if x.Tok == token.ASSIGN {
				lw.rangeAssign(x)
			}
			lw.loopVars(x.Body, x, rangeVars(x))
		}
	case *ast.ForStmt:
		if init, ok := x.Init.(*ast.AssignStmt); ok && init.Tok == token.DEFINE {
			var ids []*ast.Ident
			for _, l := range init.Lhs {
				ids = append(ids, l.(*ast.Ident))
			}
			lw.loopVars(x.Body, x, ids)
		}
	case *ast.CallExpr:
		lw.builtin(x)
		lw.typeArgs(x)
		lw.printTypes(x)
		lw.plainJSON(x)
		if sel, ok := x.Fun.(*ast.SelectorExpr); ok {
			lw.called[sel] = true
		}
	case *ast.BinaryExpr:
		lw.interfaceEquality(x)
	case *ast.DeferStmt:
		lw.deferArgs(x)
	case *ast.BlockStmt:
		for _, st := range x.List {
			lw.parallelAssign(st)
		}
	case *ast.CaseClause:
		for _, st := range x.Body {
			lw.parallelAssign(st)
		}
	case *ast.CommClause:
		for _, st := range x.Body {
			lw.parallelAssign(st)
		}
	case *ast.SelectorExpr:
		lw.methodValue(x)
	}
	return true
}

func rangeVars(r *ast.RangeStmt) []*ast.Ident {
	if r.Tok != token.DEFINE {
		return nil
	}
	var ids []*ast.Ident
	for _, e := range []ast.Expr{r.Key, r.Value} {
		if id, ok := e.(*ast.Ident); ok && id.Name != "_" {
			ids = append(ids, id)
		}
	}
	return ids
}

// rangeInt: `for i := range n {` becomes `for govalentI1, govalentN1 := T(0), n; govalentI1 < govalentN1;
// govalentI1++ { i := govalentI1;`, which evaluates n once and gives each iteration its own i.
func (lw *languageWriter) rangeInt(r *ast.RangeStmt, t types.Type) {
	typ := "int"
	if b, ok := t.(*types.Basic); !ok || b.Info()&types.IsUntyped == 0 {
		typ = lw.typeString(t)
	}
	i, n := lw.name("I"), lw.name("N")
	lw.add(r.For, r.X.Pos(), fmt.Sprintf("for %s, %s := (%s)(0), ", i, n, typ))
	lw.add(r.X.End(), r.X.End(), fmt.Sprintf("; %s < %s; %s++", i, n, i))
	switch {
	case r.Key == nil || isBlank(r.Key):
	case r.Tok == token.DEFINE:
		lw.add(r.Body.Lbrace+1, r.Body.Lbrace+1, fmt.Sprintf(" %s := %s; _ = %s;", r.Key.(*ast.Ident).Name, i, r.Key.(*ast.Ident).Name))
	default:
		lw.add(r.Body.Lbrace+1, r.Body.Lbrace+1, fmt.Sprintf(" %s = %s;", lw.source(r.Key), i))
	}
}

func isBlank(e ast.Expr) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == "_"
}

// source returns the item's text of a node.
func (lw *languageWriter) source(n ast.Node) string { return lw.text[lw.rel(n.Pos()):lw.rel(n.End())] }

// rangeFunc: `for k, v := range seq { body }` becomes `seq(func(k K, v V) bool { body; return true })`, with
// break and continue of the loop turned into returns of the yield func, and a return into setting the results
// and a flag the code after the call returns on. A defer, a goto, a break or continue to an outer label, and a
// return inside nested such loops cannot leave the yield func: those are refused with a clear error.
func (lw *languageWriter) rangeFunc(r *ast.RangeStmt, sig *types.Signature) {
	if sig.Params().Len() != 1 || sig.Results().Len() != 0 {
		return // go/types accepted it, so it is an iterator; anything else cannot be here
	}
	yield, ok := sig.Params().At(0).Type().Underlying().(*types.Signature)
	if !ok {
		return
	}
	var params, assigns []string
	vars := []ast.Expr{r.Key, r.Value}
	for i := 0; i < yield.Params().Len(); i++ {
		name := "_"
		if i < len(vars) && vars[i] != nil && !isBlank(vars[i]) {
			if r.Tok == token.DEFINE {
				name = vars[i].(*ast.Ident).Name
			} else {
				name = lw.name("Y")
				assigns = append(assigns, lw.source(vars[i])+" = "+name+";")
			}
		}
		params = append(params, name+" "+lw.typeString(yield.Params().At(i).Type()))
	}
	label := lw.labelOf(r)
	ok = true
	var returns []*ast.ReturnStmt
	inIterator := false // inside a loop over an iterator func nested in this one
	var walk func(n ast.Node, loops int) bool
	walk = func(n ast.Node, loops int) bool {
		if !ok {
			return false
		}
		switch x := n.(type) {
		case *ast.FuncLit:
			return false
		case *ast.ReturnStmt:
			if inIterator {
				lw.fail(x.Pos(), "a return inside nested loops over iterator funcs is not supported by the interpreter: set a variable and break instead")
				ok = false
			}
			returns = append(returns, x)
		case *ast.DeferStmt:
			lw.fail(x.Pos(), "a defer inside a loop over an iterator func is not supported by the interpreter")
			ok = false
		case *ast.BranchStmt:
			switch {
			case x.Tok == token.GOTO || x.Tok == token.FALLTHROUGH:
				if x.Tok == token.GOTO {
					lw.fail(x.Pos(), "a goto inside a loop over an iterator func is not supported by the interpreter")
					ok = false
				}
			case x.Label != nil && x.Label.Name == label:
				lw.branchReturn(x)
			case x.Label != nil:
				// a label inside the body is fine; one outside it is not reachable from the yield func
				if !labelInside(r.Body, x.Label.Name) {
					lw.fail(x.Pos(), "%s to a label outside a loop over an iterator func is not supported by the interpreter", x.Tok)
					ok = false
				}
			case loops == 0 && (x.Tok == token.CONTINUE || x.Tok == token.BREAK):
				lw.branchReturn(x)
			}
		case *ast.ForStmt, *ast.RangeStmt:
			was := inIterator
			if rs, isRange := x.(*ast.RangeStmt); isRange {
				if t := lw.res.info.Types[rs.X].Type; t != nil {
					_, isFunc := t.Underlying().(*types.Signature)
					inIterator = inIterator || isFunc
				}
			}
			ast.Inspect(loopBody(x), func(m ast.Node) bool { return m == loopBody(x) || walk(m, loops+1) })
			inIterator = was
			return false
		case *ast.SwitchStmt, *ast.TypeSwitchStmt, *ast.SelectStmt:
			// break in them is theirs; continue still leaves our body
			ast.Inspect(x, func(m ast.Node) bool {
				if m == x {
					return true
				}
				if b, isBranch := m.(*ast.BranchStmt); isBranch && b.Tok == token.BREAK && b.Label == nil {
					return false
				}
				return walk(m, loops)
			})
			return false
		}
		return true
	}
	ast.Inspect(r.Body, func(n ast.Node) bool { return n == r.Body || walk(n, 0) })
	if !ok {
		return
	}
	open, after := "", ""
	if len(returns) > 0 {
		// a return sets the results and a flag and stops the iteration; the flag returns after the call
		results, found := lw.enclosingResults(r)
		if !found {
			lw.fail(r.Pos(), "a return inside a loop over an iterator func is not supported here by the interpreter")
			return
		}
		flag := lw.name("Ret")
		open = "{ var " + flag + " bool; "
		var names []string
		named := results.Len() > 0 && results.At(0).Name() != ""
		if !named {
			for i := 0; i < results.Len(); i++ {
				n := lw.name("R")
				names = append(names, n)
				open += "var " + n + " " + lw.typeString(results.At(i).Type()) + "; "
			}
		}
		after = "; if " + flag + " { return " + strings.Join(names, ", ") + " } }"
		for _, ret := range returns {
			if len(ret.Results) == 0 {
				lw.add(ret.Pos(), ret.End(), "{ "+flag+" = true; return false }")
				continue
			}
			lhs := names
			if named {
				lhs = nil
				for i := 0; i < results.Len(); i++ {
					lhs = append(lhs, results.At(i).Name())
				}
			}
			var values []copied
			for i, e := range ret.Results {
				before := ""
				if i > 0 {
					before = ", "
				}
				values = append(values, copied{before, lw.rel(e.Pos()), lw.rel(e.End())})
			}
			lw.edits = append(lw.edits, edit{start: lw.rel(ret.Pos()), end: lw.rel(ret.End()), text: "{ " + strings.Join(lhs, ", ") + " = ", copies: values, suffix: "; " + flag + " = true; return false }"})
		}
	}
	lw.add(r.For, r.X.Pos(), open)
	lw.add(r.X.End(), r.Body.Lbrace+1, fmt.Sprintf("(func(%s) bool {%s", strings.Join(params, ", "), strings.Join(assigns, "")))
	lw.add(r.Body.Rbrace, r.Body.Rbrace+1, "; return true })"+after)
}

// enclosingResults returns the results of the function a statement is in (a cell's statements have none; an
// empty tuple is nil), and whether the function was found.
func (lw *languageWriter) enclosingResults(stmt ast.Stmt) (*types.Tuple, bool) {
	path, _ := astutil.PathEnclosingInterval(lw.res.file, stmt.Pos(), stmt.End())
	for _, n := range path {
		switch f := n.(type) {
		case *ast.FuncLit:
			sig, ok := lw.res.info.Types[f].Type.(*types.Signature)
			if !ok {
				return nil, false
			}
			return sig.Results(), true
		case *ast.FuncDecl:
			obj := lw.res.info.Defs[f.Name]
			if obj == nil {
				return nil, false
			}
			return obj.Type().(*types.Signature).Results(), true
		}
	}
	return nil, false
}

func loopBody(n ast.Node) *ast.BlockStmt {
	if f, ok := n.(*ast.ForStmt); ok {
		return f.Body
	}
	return n.(*ast.RangeStmt).Body
}

func (lw *languageWriter) branchReturn(b *ast.BranchStmt) {
	if b.Tok == token.BREAK {
		lw.add(b.Pos(), b.End(), "return false")
	} else {
		lw.add(b.Pos(), b.End(), "return true")
	}
}

// labelOf returns the label of a statement, found among the labeled statements of the check's file.
func (lw *languageWriter) labelOf(stmt ast.Stmt) string {
	label := ""
	ast.Inspect(lw.res.file, func(n ast.Node) bool {
		if l, ok := n.(*ast.LabeledStmt); ok && l.Stmt == stmt {
			label = l.Label.Name
		}
		return label == ""
	})
	return label
}

func labelInside(body *ast.BlockStmt, name string) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		if l, ok := n.(*ast.LabeledStmt); ok && l.Label.Name == name {
			found = true
		}
		return !found
	})
	return found
}

// loopVars gives each iteration its own copy of the loop variables that a func literal in the body captures or
// whose address the body takes (Go 1.22 semantics; yaegi shares one variable across iterations). For a
// three-clause loop whose body also assigns the variable, the copy is written back before the next iteration.
func (lw *languageWriter) loopVars(body *ast.BlockStmt, loop ast.Stmt, ids []*ast.Ident) {
	objs := map[types.Object]*ast.Ident{}
	for _, id := range ids {
		if obj := lw.res.info.Defs[id]; obj != nil {
			objs[obj] = id
		}
	}
	if len(objs) == 0 {
		return
	}
	captured := map[types.Object]bool{}
	assigned := map[types.Object]bool{}
	var inLit func(n ast.Node, lit bool) bool
	inLit = func(n ast.Node, lit bool) bool {
		switch x := n.(type) {
		case *ast.FuncLit:
			ast.Inspect(x.Body, func(m ast.Node) bool { return m == x.Body || inLit(m, true) })
			return false
		case *ast.Ident:
			if obj := lw.res.info.Uses[x]; obj != nil && objs[obj] != nil && lit {
				captured[obj] = true
			}
		case *ast.UnaryExpr:
			if id, ok := x.X.(*ast.Ident); ok && x.Op == token.AND {
				if obj := lw.res.info.Uses[id]; obj != nil && objs[obj] != nil {
					captured[obj] = true
				}
			}
		case *ast.SelectorExpr:
			// a method with a pointer receiver called on the variable takes its address
			id, ok := x.X.(*ast.Ident)
			sel := lw.res.info.Selections[x]
			if ok && sel != nil && sel.Kind() == types.MethodVal {
				if obj := lw.res.info.Uses[id]; obj != nil && objs[obj] != nil {
					_, ptrRecv := sel.Obj().Type().(*types.Signature).Recv().Type().(*types.Pointer)
					_, ptrVar := obj.Type().Underlying().(*types.Pointer)
					if ptrRecv && !ptrVar {
						captured[obj] = true
					}
				}
			}
		case *ast.AssignStmt:
			for _, l := range x.Lhs {
				if id, ok := l.(*ast.Ident); ok {
					if obj := lw.res.info.Uses[id]; obj != nil {
						assigned[obj] = true
					}
				}
			}
		case *ast.IncDecStmt:
			if id, ok := x.X.(*ast.Ident); ok {
				if obj := lw.res.info.Uses[id]; obj != nil {
					assigned[obj] = true
				}
			}
		}
		return true
	}
	ast.Inspect(body, func(n ast.Node) bool { return n == body || inLit(n, false) })
	var copies, back []string
	for _, id := range ids {
		obj := lw.res.info.Defs[id]
		if obj == nil || !captured[obj] {
			continue
		}
		if _, isFor := loop.(*ast.ForStmt); isFor && assigned[obj] {
			p := lw.name("P")
			copies = append(copies, fmt.Sprintf("%s := &%s; %s := %s; _ = %s;", p, id.Name, id.Name, id.Name, id.Name))
			back = append(back, fmt.Sprintf("*%s = %s;", p, id.Name))
		} else {
			copies = append(copies, fmt.Sprintf("%s := %s; _ = %s;", id.Name, id.Name, id.Name))
		}
	}
	if len(copies) == 0 {
		return
	}
	lw.add(body.Lbrace+1, body.Lbrace+1, " "+strings.Join(copies, " "))
	if len(back) == 0 {
		return
	}
	writeBack := strings.Join(back, " ")
	lw.add(body.Rbrace, body.Rbrace, "; "+writeBack)
	label := lw.labelOf(loop)
	var walk func(n ast.Node, loops int) bool
	walk = func(n ast.Node, loops int) bool {
		switch x := n.(type) {
		case *ast.FuncLit:
			return false
		case *ast.ForStmt, *ast.RangeStmt:
			ast.Inspect(loopBody(x), func(m ast.Node) bool { return m == loopBody(x) || walk(m, loops+1) })
			return false
		case *ast.BranchStmt:
			if x.Tok == token.CONTINUE && (x.Label == nil && loops == 0 || x.Label != nil && x.Label.Name == label) {
				lw.add(x.Pos(), x.Pos(), "{ "+writeBack+" ")
				lw.add(x.End(), x.End(), " }")
			}
		}
		return true
	}
	ast.Inspect(body, func(n ast.Node) bool { return n == body || walk(n, 0) })
}

// builtin rewrites calls of min, max and clear, which yaegi does not know.
func (lw *languageWriter) builtin(call *ast.CallExpr) {
	id, ok := ast.Unparen(call.Fun).(*ast.Ident)
	if !ok {
		return
	}
	b, ok := lw.res.info.Uses[id].(*types.Builtin)
	if !ok {
		return
	}
	switch b.Name() {
	case "min", "max":
		tv := lw.res.info.Types[call]
		if tv.Value != nil {
			lw.add(call.Pos(), call.End(), lw.constant(tv))
			return
		}
		lw.add(id.Pos(), id.End(), lw.helper(b.Name(), tv.Type))
	case "clear":
		lw.add(id.Pos(), id.End(), builtinAlias+".Clear")
	}
}

// constant writes a constant value as Go source of its type.
func (lw *languageWriter) constant(tv types.TypeAndValue) string {
	return constSource(tv, lw.typeString)
}

// constSource writes a constant value as Go source of its type; an untyped constant keeps its kind (2.0 stays
// a float, 'a' a rune), which says what type it takes in a variable or an interface.
func constSource(tv types.TypeAndValue, typeString func(types.Type) string) string {
	lit := constLiteral(tv.Value)
	if b, ok := tv.Type.(*types.Basic); ok && b.Info()&types.IsUntyped != 0 {
		if b.Kind() == types.UntypedRune {
			return "('\\x00' + " + lit + ")"
		}
		return "(" + lit + ")"
	}
	return "(" + typeString(tv.Type) + ")(" + lit + ")"
}

// constLiteral writes an exact constant as an untyped Go expression of its kind.
func constLiteral(v constant.Value) string {
	switch v.Kind() {
	case constant.Float:
		if f, exact := constant.Float64Val(v); exact {
			lit := strconv.FormatFloat(f, 'g', -1, 64)
			if !strings.ContainsAny(lit, ".e") {
				lit += ".0"
			}
			return lit
		}
		return "(" + constant.Num(v).ExactString() + ".0/" + constant.Denom(v).ExactString() + ")"
	case constant.Complex:
		return "complex(" + constLiteral(constant.ToFloat(constant.Real(v))) + ", " + constLiteral(constant.ToFloat(constant.Imag(v))) + ")"
	}
	return v.ExactString()
}

// helperPrefix starts the names of the helper funcs the rewrites declare, which Names leaves out.
const helperPrefix = "govalent_"

// helper returns the name of the helper func doing op (min or max) for type t, declared for the cell.
func (lw *languageWriter) helper(op string, t types.Type) string {
	typ := lw.typeString(t)
	name := helperPrefix + op + "_" + shortHash(typ)
	if lw.plan.helpers == nil {
		lw.plan.helpers = map[string]string{}
	}
	if _, ok := lw.plan.helpers[name]; ok {
		return name
	}
	less := "y < x"
	if op == "max" {
		less = "y > x"
	}
	if b, ok := t.Underlying().(*types.Basic); ok && b.Info()&types.IsFloat != 0 {
		// a NaN wins; -0 is less than +0
		zero := "1/y < 0"
		if op == "max" {
			zero = "1/x < 0"
		}
		less = fmt.Sprintf("x == x && (y != y || %s || y == 0 && x == 0 && %s)", less, zero)
	}
	src := fmt.Sprintf("func %s(x %s, ys ...%s) %s { for _, y := range ys { if %s { x = y } }; return x }", name, typ, typ, typ, less)
	lw.plan.helpers[name] = src
	return name
}

// parallelAssign: yaegi assigns nil to the first variable of `a, b = &T{...}, U{...}` (a pointer to a composite
// literal followed by another), so the values of such an assignment go through variables of their own first,
// `govalentT1 := &T{...}; govalentT2 := U{...}; a, b = govalentT1, govalentT2`, which keeps Go's order of
// evaluation. Constants stay in place (they keep their untyped kind); values that span lines are left as they
// are, so that line numbers stay right.
func (lw *languageWriter) parallelAssign(st ast.Stmt) {
	as, ok := st.(*ast.AssignStmt)
	if !ok || len(as.Lhs) < 2 || len(as.Lhs) != len(as.Rhs) {
		return
	}
	risky := false
	for i, r := range as.Rhs {
		if strings.Contains(lw.source(r), "\n") {
			return
		}
		if u, ok := ast.Unparen(r).(*ast.UnaryExpr); ok && u.Op == token.AND && i < len(as.Rhs)-1 {
			if _, ok := ast.Unparen(u.X).(*ast.CompositeLit); ok {
				risky = true
			}
		}
	}
	if !risky {
		return
	}
	first := edit{start: lw.rel(as.Pos()), end: lw.rel(as.Pos()), suffix: "; "}
	var values []edit
	for _, r := range as.Rhs {
		if tv := lw.res.info.Types[r]; tv.Value != nil || tv.IsNil() {
			continue
		}
		name := lw.name("T")
		before := name + " := "
		if len(first.copies) > 0 {
			before = "; " + before
		}
		first.copies = append(first.copies, copied{before, lw.rel(r.Pos()), lw.rel(r.End())})
		values = append(values, edit{start: lw.rel(r.Pos()), end: lw.rel(r.End()), text: name})
	}
	lw.edits = append(append(lw.edits, first), values...)
}

// deferArgs evaluates a deferred call's arguments and receiver at the defer statement, as Go does (yaegi
// evaluates them when the call runs): `defer f(a, b)` becomes
// `govalentD1, govalentD2 := a, b; defer f(govalentD1, govalentD2)`.
// Constants and func literals have nothing to evaluate and stay where they are.
func (lw *languageWriter) deferArgs(d *ast.DeferStmt) {
	var names []string
	var values []copied
	var argEdits []edit
	take := func(amp string, e ast.Expr) {
		n := lw.name("D")
		before := amp
		if len(names) > 0 {
			before = ", " + amp
		}
		names = append(names, n)
		values = append(values, copied{before, lw.rel(e.Pos()), lw.rel(e.End())})
		argEdits = append(argEdits, edit{start: lw.rel(e.Pos()), end: lw.rel(e.End()), text: n})
	}
	for _, a := range d.Call.Args {
		if _, lit := a.(*ast.FuncLit); lit {
			continue
		}
		if tv, ok := lw.res.info.Types[a]; !ok || tv.Value != nil || tv.IsNil() || tv.IsType() {
			continue
		}
		take("", a)
	}
	if sel, ok := d.Call.Fun.(*ast.SelectorExpr); ok {
		if amp, ok := receiverCapture(lw.res.info, sel); ok {
			take(amp, sel.X)
		}
	}
	if len(names) == 0 {
		return
	}
	lw.edits = append(lw.edits, edit{start: lw.rel(d.Pos()), end: lw.rel(d.Pos()), text: strings.Join(names, ", ") + " := ", copies: values, suffix: "; "})
	lw.edits = append(lw.edits, argEdits...)
}

// funcIdent is the identifier naming a func in an expression (f, pkg.F), or nil.
func funcIdent(e ast.Expr) *ast.Ident {
	switch x := e.(type) {
	case *ast.Ident:
		return x
	case *ast.SelectorExpr:
		return x.Sel
	}
	return nil
}

// typeArgs writes out the type arguments go/types inferred for a call of a generic func: `Map(xs, f)` becomes
// `Map[int, string](xs, f)`; a call into the generic standard library gets its arguments converted instead
// (interp/stdlib).
func (lw *languageWriter) typeArgs(call *ast.CallExpr) {
	id := funcIdent(call.Fun)
	if id == nil || lw.explicit[id] {
		return
	}
	inst, ok := lw.res.info.Instances[id]
	if !ok || inst.TypeArgs.Len() == 0 {
		return
	}
	if stdlib.GenericCall(call, lw.res.info) { // interpreted from source: yaegi infers from unnamed types
		for _, arg := range call.Args {
			if typ := stdlib.UnnamedArgType(arg, lw.res.info); typ != nil {
				lw.add(arg.Pos(), arg.Pos(), "("+lw.typeString(typ)+")(")
				lw.add(arg.End(), arg.End(), ")")
			}
		}
		return
	}
	args := make([]string, inst.TypeArgs.Len())
	for i := range args {
		args[i] = lw.typeString(inst.TypeArgs.At(i))
	}
	lw.add(call.Fun.End(), call.Fun.End(), "["+strings.Join(args, ", ")+"]")
}

// methodValue: a method value `x.M` (not called) becomes `func(r T) F { return r.M }(x)` (or `(&x)` for a
// pointer method), which evaluates the receiver where Go does.
func (lw *languageWriter) methodValue(sel *ast.SelectorExpr) {
	if lw.called[sel] {
		return
	}
	amp, ok := receiverCapture(lw.res.info, sel)
	if !ok {
		return
	}
	recv := lw.res.info.Types[sel.X].Type
	if recv == nil {
		return
	}
	recvType := lw.typeString(recv)
	if amp == "&" {
		recvType = "*" + recvType
	}
	fn := lw.typeString(lw.res.info.Types[sel].Type)
	r := lw.name("M")
	lw.add(sel.X.Pos(), sel.X.Pos(), fmt.Sprintf("func(%s %s) %s { return %s.%s }(%s", r, recvType, fn, r, sel.Sel.Name, amp))
	lw.add(sel.X.End(), sel.End(), ")")
}

// rangeAssign: `for k, v = range xs {` becomes `for govalentK1, govalentV2 := range xs { k, v = govalentK1,
// govalentV2;`.
func (lw *languageWriter) rangeAssign(r *ast.RangeStmt) {
	var lhs, tmps []string
	for _, e := range []ast.Expr{r.Key, r.Value} {
		if e == nil {
			break
		}
		if isBlank(e) {
			tmps = append(tmps, "_")
			continue
		}
		t := lw.name("K")
		tmps = append(tmps, t)
		lhs = append(lhs, lw.source(e)+" = "+t+";")
	}
	if len(lhs) == 0 {
		return
	}
	lw.add(r.Key.Pos(), r.TokPos+1, strings.Join(tmps, ", ")+" :=")
	lw.add(r.Body.Lbrace+1, r.Body.Lbrace+1, " "+strings.Join(lhs, " "))
}

// interfaceEquality rewrites a == b, where a or b is of an interface type of the cells, into a call of
// IfaceEqual, which compares the dynamic values as Go does.
func (lw *languageWriter) interfaceEquality(x *ast.BinaryExpr) {
	if x.Op != token.EQL && x.Op != token.NEQ || !lw.cellInterface(x.X) && !lw.cellInterface(x.Y) || !lw.wrappable(x) {
		return
	}
	not := map[token.Token]string{token.EQL: "", token.NEQ: "!"}[x.Op]
	lw.add(x.Pos(), x.Pos(), not+builtinAlias+".IfaceEqual(")
	lw.add(x.OpPos, x.OpPos+token.Pos(len(x.Op.String())), ",")
	lw.add(x.End(), x.End(), lw.dynArgs(x.OpPos, "")+")")
}

// cellInterface reports whether e is of an interface type the cells declare.
func (lw *languageWriter) cellInterface(e ast.Expr) bool {
	n, ok := types.Unalias(lw.res.info.Types[e].Type).(*types.Named)
	return ok && n.Obj().Pkg() == lw.res.pkg && types.IsInterface(n)
}
