package interp

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"go/ast"
	"go/token"
	"reflect"
	"slices"
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
	// copies are ranges of the item's text written after text, with the edits inside them applied (an argument
	// evaluated before a go or defer statement), then suffix.
	copies []copied
	suffix string
}

// replace is the edit writing text in place of text[start:end].
func replace(start, end int, text string) edit { return edit{start: start, end: end, text: text} }

// copied is a range of an item's text an edit writes again, after before.
type copied struct {
	before     string
	start, end int
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
				replace(start, start, fmt.Sprintf("%s.Ship(%q, %q, ", rtAlias, ref, name)),
				replace(end, end, ")"))
		case *ast.GoStmt:
			edits = append(edits, s.goEdits(it, x, off)...)
		case *ast.StructType:
			edits = append(edits, hiddenFieldTags(it, x, off)...)
		}
		return true
	})
	return applyEdits(it.text, append(edits, it.extra...))
}

// hiddenFieldTags tags a struct's unexported fields `json:"-" xml:"-"`: yaegi builds the struct with reflect,
// which only takes exported fields, so it renames field x to Xx, and encoding/json and encoding/xml would then
// write and read it, where Go leaves unexported fields out. (An embedded field is left alone: Go promotes an
// unexported embedded struct's exported fields.)
func hiddenFieldTags(it *item, st *ast.StructType, off func(token.Pos) int) []edit {
	var edits []edit
	for _, f := range st.Fields.List {
		if len(f.Names) == 0 || slices.ContainsFunc(f.Names, func(n *ast.Ident) bool { return n.IsExported() || n.Name == "_" }) {
			continue
		}
		if f.Tag == nil {
			end := off(f.Type.End())
			edits = append(edits, replace(end, end, " `json:\"-\" xml:\"-\"`"))
			continue
		}
		old, err := strconv.Unquote(f.Tag.Value)
		if err != nil {
			continue
		}
		var kept []string
		for tag := reflect.StructTag(old); tag != ""; {
			key, value, rest, ok := nextTag(string(tag))
			if !ok {
				break
			}
			if key != "json" && key != "xml" {
				kept = append(kept, key+":"+value)
			}
			tag = reflect.StructTag(rest)
		}
		tag := strings.Join(append(kept, `json:"-"`, `xml:"-"`), " ")
		edits = append(edits, replace(off(f.Tag.Pos()), off(f.Tag.End()), strconv.Quote(tag)))
	}
	return edits
}

// nextTag splits the first key:"value" pair off a struct tag, as reflect.StructTag.Lookup reads them.
func nextTag(tag string) (key, value, rest string, ok bool) {
	tag = strings.TrimLeft(tag, " ")
	i := 0
	for i < len(tag) && tag[i] > ' ' && tag[i] != ':' && tag[i] != '"' && tag[i] != 0x7f {
		i++
	}
	if i == 0 || i+1 >= len(tag) || tag[i] != ':' || tag[i+1] != '"' {
		return "", "", "", false
	}
	key, tag = tag[:i], tag[i+1:]
	i = 1
	for i < len(tag) && tag[i] != '"' {
		if tag[i] == '\\' {
			i++
		}
		i++
	}
	if i >= len(tag) {
		return "", "", "", false
	}
	return key, tag[:i+1], tag[i+1:], true
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
		return []edit{replace(off(gd.Pos()), off(v.Pos()), vs.Names[0].Name+" := ")}
	}
	typ := it.text[off(vs.Type.Pos()):off(vs.Type.End())]
	return []edit{replace(off(gd.Pos()), off(v.Pos()), vs.Names[0].Name+" := ("+typ+")("), replace(off(v.End()), off(v.End()), ")")}
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
	var names []string
	var capture []copied
	var argEdits []edit
	take := func(name, amp string, e ast.Expr) {
		before := amp
		if len(names) > 0 {
			before = ", " + amp
		}
		names = append(names, name)
		capture = append(capture, copied{before, off(e.Pos()), off(e.End())})
		argEdits = append(argEdits, edit{start: off(e.Pos()), end: off(e.End()), text: name})
	}
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
			if !it.constArgs[off(a.Pos())] {
				take("govalentArg"+strconv.Itoa(i), "", a)
			}
		}
		if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
			if amp, ok := it.goRecvs[off(sel.X.Pos())]; ok {
				take("govalentRecv", amp, sel.X)
			}
		}
	}
	start := fmt.Sprintf("go func() { defer func() { %s.GoPanic(%q, recover()) }(); ", rtAlias, s.id)
	first := edit{start: off(g.Pos()), end: off(call.Pos()), text: "{ " + start}
	if len(names) > 0 {
		first = edit{start: off(g.Pos()), end: off(call.Pos()), text: "{ " + strings.Join(names, ", ") + " := ", copies: capture, suffix: "; " + start}
	}
	edits := []edit{first}
	edits = append(edits, argEdits...)
	return append(edits, replace(off(call.End()), off(call.End()), " }() }"))
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
		for _, c := range e.copies {
			b.WriteString(c.before)
			b.WriteString(applyEdits(text[c.start:c.end], editsWithin(edits, c.start, c.end)))
		}
		b.WriteString(e.suffix)
		pos = e.end
	}
	b.WriteString(text[pos:])
	return b.String()
}

// editsWithin returns the edits inside text[start:end] (except one replacing all of it), relative to start.
func editsWithin(edits []edit, start, end int) []edit {
	var out []edit
	for _, e := range edits {
		if e.start < start || e.end > end || e.start == start && e.end == end && start != end {
			continue
		}
		e.start, e.end = e.start-start, e.end-start
		for i := range e.copies {
			e.copies = append([]copied(nil), e.copies...)
			e.copies[i].start -= start
			e.copies[i].end -= start
		}
		out = append(out, e)
	}
	return out
}
