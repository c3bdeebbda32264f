package interp

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"go/ast"
	"go/token"
	"sort"
	"strconv"
	"strings"
)

// shipRef is what a ct.Electron or ct.Lattice call was given, kept so Ship can rebuild it on a worker.
type shipRef struct {
	ident     string // a top-level name, resolved at dispatch (so a redefinition is picked up)
	expr      string // otherwise the expression's source (a func literal, a selector, ...)
	cell      string
	line, col int
}

// edit replaces text[start:end] of an item.
type edit struct {
	start, end int
	text       string
}

// rewrite returns the item's text with two changes that keep every line where it was:
//   - the first argument of ct.Electron and ct.Lattice is wrapped in ct.Ship with a reference to its source;
//   - go statements recover panics, which would otherwise kill the process.
func (s *Session) rewrite(it *item) string { return s.rewriteItem(it, false) }

// rewriteItem is rewrite, optionally also turning `var x [T] = v` into `x := [T(]v[)]`, which is how a var is
// evaluated after yaegi reports a false "definition loop" (it does so when the initializer, or a func literal
// in it, uses a global var from an earlier Eval).
func (s *Session) rewriteItem(it *item, varAsDefine bool) string {
	var root ast.Node = it.file
	if it.stmt != nil {
		root = it.stmt
	}
	if root == nil {
		return it.text
	}
	s.mu.Lock()
	aliases := s.sdkAliases()
	s.mu.Unlock()
	off := func(p token.Pos) int { return it.fset.File(p).Offset(p) - it.base }
	names := assignedNames(root)
	var edits []edit
	if varAsDefine {
		edits = append(edits, varDefineEdits(it, off)...)
	}
	ast.Inspect(root, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.CallExpr:
			sel, ok := x.Fun.(*ast.SelectorExpr)
			if !ok || len(x.Args) == 0 || (sel.Sel.Name != "Electron" && sel.Sel.Name != "Lattice") {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); !ok || !aliases[pkg.Name] {
				return true
			}
			arg := x.Args[0]
			start, end := off(arg.Pos()), off(arg.End())
			ref, name := s.addRef(it, arg, it.text[start:end], names[x])
			edits = append(edits,
				edit{start, start, fmt.Sprintf("%s.Ship(%q, %q, ", rtAlias, ref, name)},
				edit{end, end, ")"})
		case *ast.GoStmt:
			edits = append(edits, s.goEdits(it, x, off)...)
		}
		return true
	})
	return applyEdits(it.text, append(edits, it.extra...))
}

// varDefineEdits turns a single-name var declaration with a value into a define statement.
func varDefineEdits(it *item, off func(token.Pos) int) []edit {
	gd, ok := it.file.Decls[0].(*ast.GenDecl)
	if !ok || gd.Tok != token.VAR || gd.Lparen.IsValid() || len(gd.Specs) != 1 {
		return nil
	}
	vs := gd.Specs[0].(*ast.ValueSpec)
	if len(vs.Names) != 1 || len(vs.Values) != 1 {
		return nil
	}
	v := vs.Values[0]
	if vs.Type == nil {
		return []edit{{off(gd.Pos()), off(v.Pos()), vs.Names[0].Name + " := "}}
	}
	typ := it.text[off(vs.Type.Pos()):off(vs.Type.End())]
	return []edit{{off(gd.Pos()), off(v.Pos()), vs.Names[0].Name + " := (" + typ + ")("}, {off(v.End()), off(v.End()), ")"}}
}

// needsDefine reports whether the item is a var declaration that varDefineEdits can turn into a statement.
func needsDefine(it *item) bool {
	gd, ok := it.file.Decls[0].(*ast.GenDecl)
	if !ok || gd.Tok != token.VAR || gd.Lparen.IsValid() || len(gd.Specs) != 1 {
		return false
	}
	vs := gd.Specs[0].(*ast.ValueSpec)
	return len(vs.Names) == 1 && len(vs.Values) == 1
}

// assignedNames maps a call to the variable it initialises, so a func literal electron is named after it.
func assignedNames(root ast.Node) map[*ast.CallExpr]string {
	out := map[*ast.CallExpr]string{}
	pair := func(lhs []*ast.Ident, rhs []ast.Expr) {
		if len(lhs) != len(rhs) {
			return
		}
		for i, r := range rhs {
			if c, ok := r.(*ast.CallExpr); ok {
				out[c] = lhs[i].Name
			}
		}
	}
	ast.Inspect(root, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.ValueSpec:
			pair(x.Names, x.Values)
		case *ast.AssignStmt:
			var ids []*ast.Ident
			for _, l := range x.Lhs {
				if id, ok := l.(*ast.Ident); ok {
					ids = append(ids, id)
				}
			}
			pair(ids, x.Rhs)
		}
		return true
	})
	return out
}

// addRef registers the source of an electron or lattice function and returns its reference and display name.
func (s *Session) addRef(it *item, arg ast.Expr, text, varName string) (ref, name string) {
	r := &shipRef{cell: it.cell}
	p := it.fset.Position(arg.Pos())
	r.line, r.col = p.Line, p.Column
	var key string
	switch a := arg.(type) {
	case *ast.Ident:
		r.ident, key, name = a.Name, "name:"+a.Name, a.Name
	case *ast.SelectorExpr:
		r.expr, name = text, a.Sel.Name
	default:
		r.expr, name = text, varName
		if name == "" {
			name = "lambda"
		}
	}
	if key == "" {
		key = "expr:" + shortHash(text)
	}
	s.mu.Lock()
	s.refs[key] = r
	s.mu.Unlock()
	return s.id + "/" + key, name
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:6])
}

// goEdits turns `go f(a, b)` into
//
//	{ govalentArg0, govalentArg1 := a, b; go func() { defer func() { govalentrt.GoPanic("s1", recover()) }(); f(govalentArg0, govalentArg1) }() }
//
// so arguments (and a method's receiver, see markGoStatements) are still evaluated before the goroutine starts
// and a panic in it is recovered. Arguments that
// span lines are left in place (evaluated in the goroutine) so that line numbers stay right.
func (s *Session) goEdits(it *item, g *ast.GoStmt, off func(token.Pos) int) []edit {
	call := g.Call
	var capture, names []string
	var argEdits []edit
	multiline := false
	for _, a := range call.Args {
		if strings.Contains(it.text[off(a.Pos()):off(a.End())], "\n") {
			multiline = true
		}
	}
	if !multiline {
		for i, a := range call.Args {
			switch a.(type) {
			case *ast.BasicLit, *ast.FuncLit:
				continue // constants keep their untyped kind; literals have nothing to evaluate early
			}
			if it.constArgs[off(a.Pos())] {
				continue
			}
			name := "govalentArg" + strconv.Itoa(i)
			capture = append(capture, it.text[off(a.Pos()):off(a.End())])
			names = append(names, name)
			argEdits = append(argEdits, edit{off(a.Pos()), off(a.End()), name})
		}
	}
	if sel, ok := call.Fun.(*ast.SelectorExpr); ok && !multiline {
		if amp, ok := it.goRecvs[off(sel.X.Pos())]; ok {
			capture = append(capture, amp+it.text[off(sel.X.Pos()):off(sel.X.End())])
			names = append(names, "govalentRecv")
			argEdits = append(argEdits, edit{off(sel.X.Pos()), off(sel.X.End()), "govalentRecv"})
		}
	}
	prefix := "{ "
	if len(names) > 0 {
		prefix += strings.Join(names, ", ") + " := " + strings.Join(capture, ", ") + "; "
	}
	prefix += fmt.Sprintf("go func() { defer func() { %s.GoPanic(%q, recover()) }(); ", rtAlias, s.id)
	edits := []edit{{off(g.Pos()), off(call.Pos()), prefix}}
	edits = append(edits, argEdits...)
	return append(edits, edit{off(call.End()), off(call.End()), " }() }"})
}

// applyEdits applies non-overlapping edits; an edit inside a range another edit replaces is dropped.
func applyEdits(text string, edits []edit) string {
	if len(edits) == 0 {
		return text
	}
	sort.SliceStable(edits, func(i, j int) bool { return edits[i].start < edits[j].start })
	var b strings.Builder
	pos := 0
	for _, e := range edits {
		if e.start < pos {
			continue
		}
		b.WriteString(text[pos:e.start])
		b.WriteString(e.text)
		pos = e.end
	}
	b.WriteString(text[pos:])
	return b.String()
}
