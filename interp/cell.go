package interp

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"strings"
	"sync"
	"unicode"

	"github.com/govalent/govalent/interp/stdlib"
	"github.com/govalent/govalent/interp/stdlib/unrestricted"
	yaegi "github.com/traefik/yaegi/interp"
)

// itemKind classifies one top-level piece of a cell.
type itemKind int

const (
	itemImport itemKind = iota
	itemDecl            // func, type, const, var
	itemStmt            // anything else: statements and expressions
)

// item is one top-level declaration or statement of a cell, with its place in the cell.
type item struct {
	kind      itemKind
	text      string
	cell      string // the cell's name, used in positions
	line      int    // 1-based line of the first character in the cell
	col       int
	tok       token.Token // first token
	isExpr    bool        // a lone expression statement: its value is the cell's value when last
	defines   []string    // top-level names a := / var statement defines
	declNames []string    // names a declaration declares (methods: "Type.Method")
	recv      string      // receiver type name of a method
	file      *ast.File   // parsed declaration (items of kind itemDecl and itemImport)
	stmt      ast.Stmt    // parsed statement (itemStmt)
	fset      *token.FileSet
	base      int // offset of text in what was parsed
	// extra are the edits the type check found the interpreter needs (see planEdits); constArgs and goRecvs
	// are what goEdits needs of go statements (see markGoStatements), by offset in text.
	extra     []edit
	constArgs map[int]bool
	goRecvs   map[int]string
	varTypes  map[string]string // the types of the vars a declaration declares, as Go source in the session
}

// CellError is an error in a cell, located at the cell's own line and column.
type CellError struct {
	Cell string
	Line int
	Col  int
	Msg  string
	// Stack is the interpreter's panic stack, for panics.
	Stack string
}

func (e *CellError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", e.Cell, e.Line, e.Col, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Cell, e.Msg)
}

// splitCell cuts a cell into top-level items. Go's parser refuses a statement after a declaration outside a
// function, and yaegi's Eval does too, so cells are tokenised and split at top-level semicolons (newlines).
func splitCell(cell, src string) ([]item, error) {
	fset := token.NewFileSet()
	file := fset.AddFile("cell", -1, len(src))
	var s scanner.Scanner
	var firstErr error
	s.Init(file, []byte(src), func(pos token.Position, msg string) {
		if firstErr == nil {
			firstErr = &CellError{Cell: cell, Line: pos.Line, Col: pos.Column, Msg: msg}
		}
	}, 0)

	var items []item
	var toks []cellToken
	depth := 0
	inHeader := false // between if/for/switch and its block, where ';' does not end a statement
	flush := func(end int) {
		if len(toks) == 0 {
			return
		}
		if toks[0].tok == token.PACKAGE {
			// a whole Go file: its package clause says nothing a cell needs
			toks = toks[:0]
			return
		}
		start := file.Offset(toks[0].pos)
		p := file.Position(toks[0].pos)
		it := item{text: src[start:end], cell: cell, line: p.Line, col: p.Column, tok: toks[0].tok}
		switch toks[0].tok {
		case token.IMPORT:
			it.kind = itemImport
		case token.TYPE, token.CONST, token.VAR:
			it.kind = itemDecl
		case token.FUNC:
			it.kind = itemStmt
			if len(toks) > 1 && toks[1].tok == token.IDENT {
				it.kind = itemDecl
			} else if len(toks) > 1 && toks[1].tok == token.LPAREN && isMethod(toks[1:]) {
				it.kind = itemDecl
			}
		default:
			it.kind = itemStmt
		}
		if it.kind == itemDecl {
			// its doc comment goes with it, for Shift-Tab and the declaration store
			if doc := docStart(src, start); doc < start {
				it.text, it.line = src[doc:end], p.Line-strings.Count(src[doc:start], "\n")
				it.col = doc - strings.LastIndexByte(src[:doc], '\n')
			}
		}
		items = append(items, it)
		toks = toks[:0]
	}
	for {
		pos, t, lit := s.Scan()
		if t == token.EOF {
			flush(len(src))
			break
		}
		switch t {
		case token.IF, token.FOR, token.SWITCH:
			if depth <= 0 {
				inHeader = true
			}
		case token.LBRACE:
			if depth <= 0 {
				inHeader = false
			}
			depth++
		case token.LPAREN, token.LBRACK:
			depth++
		case token.RPAREN, token.RBRACE, token.RBRACK:
			depth--
		}
		if t == token.SEMICOLON && depth <= 0 && (!inHeader || lit == "\n") {
			flush(file.Offset(pos))
			continue
		}
		toks = append(toks, cellToken{pos, t, lit})
	}
	if firstErr != nil {
		return nil, firstErr
	}
	for i := range items {
		if err := parseItem(&items[i]); err != nil {
			return nil, err
		}
	}
	return items, nil
}

// docStart returns where the doc comment of the declaration at offset start begins: the // lines right above
// it, when the declaration begins its line; else start.
func docStart(src string, start int) int {
	lineStart := strings.LastIndexByte(src[:start], '\n') + 1
	if strings.TrimSpace(src[lineStart:start]) != "" {
		return start
	}
	doc := start
	for lineStart > 0 {
		prev := strings.LastIndexByte(src[:lineStart-1], '\n') + 1
		if !strings.HasPrefix(strings.TrimSpace(src[prev:lineStart]), "//") {
			break
		}
		doc, lineStart = prev, prev
	}
	if doc == start {
		return start
	}
	return doc + len(src[doc:]) - len(strings.TrimLeft(src[doc:], " \t"))
}

// cellToken is a token of a cell as the scanner returned it.
type cellToken struct {
	pos token.Pos
	tok token.Token
	lit string
}

// isMethod tells `func (r T) Name(` (a method declaration) from `func(x T) R {` (a literal).
func isMethod(toks []cellToken) bool {
	depth := 0
	for i, t := range toks {
		switch t.tok {
		case token.LPAREN, token.LBRACK:
			depth++
		case token.RPAREN, token.RBRACK:
			depth--
			if depth == 0 {
				return i+2 < len(toks) && toks[i+1].tok == token.IDENT && toks[i+2].tok == token.LPAREN
			}
		}
	}
	return false
}

// linePrefix makes positions in the text that follows it report the cell's name, line and column.
func linePrefix(cell string, line, col int) string {
	return fmt.Sprintf("/*line %s:%d:%d*/", cell, line, col)
}

// parseItem parses one item on its own, keeping the cell's line numbers in the positions it reports.
func parseItem(it *item) error {
	fset := token.NewFileSet()
	prefix := "package p;" + linePrefix(it.cell, it.line, it.col)
	if it.kind == itemStmt {
		prefix = "package p;func _(){" + linePrefix(it.cell, it.line, it.col)
	}
	suffix := ""
	if it.kind == itemStmt {
		suffix = "\n}"
	}
	f, err := parser.ParseFile(fset, "", prefix+it.text+suffix, parser.AllErrors)
	if err != nil {
		if list, ok := err.(scanner.ErrorList); ok && len(list) > 0 {
			line, col := list[0].Pos.Line, list[0].Pos.Column
			// an error at the closing brace added above is at the end of the statement's last line
			if last := it.line + strings.Count(it.text, "\n"); line > last {
				lastLine := it.text[strings.LastIndex(it.text, "\n")+1:]
				line, col = last, len(lastLine)+1
				if last == it.line {
					col += it.col - 1
				}
			}
			return &CellError{Cell: it.cell, Line: line, Col: col, Msg: list[0].Msg}
		}
		return &CellError{Cell: it.cell, Line: it.line, Col: it.col, Msg: err.Error()}
	}
	it.fset, it.base = fset, len(prefix)
	if it.kind != itemStmt {
		it.file = f
		for _, d := range f.Decls {
			it.declNames = append(it.declNames, declNames(d)...)
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv != nil {
				it.recv = recvTypeName(fd)
			}
		}
		return nil
	}
	body := f.Decls[0].(*ast.FuncDecl).Body.List
	if len(body) != 1 {
		return &CellError{Cell: it.cell, Line: it.line, Col: it.col, Msg: "expected one statement"}
	}
	it.stmt = body[0]
	switch st := body[0].(type) {
	case *ast.ExprStmt:
		it.isExpr = true
	case *ast.AssignStmt:
		if st.Tok == token.DEFINE {
			for _, l := range st.Lhs {
				if id, ok := l.(*ast.Ident); ok && id.Name != "_" {
					it.defines = append(it.defines, id.Name)
				}
			}
		}
	}
	return nil
}

func declNames(d ast.Decl) []string {
	switch d := d.(type) {
	case *ast.FuncDecl:
		if d.Recv != nil {
			return []string{recvTypeName(d) + "." + d.Name.Name}
		}
		return []string{d.Name.Name}
	case *ast.GenDecl:
		var names []string
		for _, s := range d.Specs {
			switch s := s.(type) {
			case *ast.TypeSpec:
				names = append(names, s.Name.Name)
			case *ast.ValueSpec:
				for _, n := range s.Names {
					names = append(names, n.Name)
				}
			case *ast.ImportSpec:
				names = append(names, importName(s))
			}
		}
		return names
	}
	return nil
}

func recvTypeName(fd *ast.FuncDecl) string {
	t := fd.Recv.List[0].Type
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
		case *ast.IndexExpr:
			t = x.X
		case *ast.IndexListExpr:
			t = x.X
		case *ast.Ident:
			return x.Name
		default:
			return "?"
		}
	}
}

func importName(s *ast.ImportSpec) string {
	if s.Name != nil {
		return s.Name.Name
	}
	return packageName(strings.Trim(s.Path.Value, `"`))
}

// packageName is the name a package is imported under by default: the name it declares when the interpreter
// has its symbols (a module's package may be named otherwise than its path: github.com/dustin/go-humanize is
// humanize, gopkg.in/yaml.v3 is yaml), else the name goimports assumes from the path.
func packageName(path string) string {
	if name, ok := stdlibPackageNames()[path]; ok {
		return name
	}
	for key := range Symbols { // the SDK's and the evaluator's modules': a few, and tests add to them
		if name, ok := strings.CutPrefix(key, path+"/"); ok && !strings.Contains(name, "/") {
			return name
		}
	}
	return AssumedPackageName(path)
}

// stdlibPackageNames maps the standard library's import paths to their names: its symbol tables are keyed
// "PATH/NAME".
var stdlibPackageNames = sync.OnceValue(func() map[string]string {
	out := map[string]string{}
	for _, exports := range []yaegi.Exports{stdlib.Exports(), unrestricted.Exports()} {
		for key := range exports {
			if i := strings.LastIndex(key, "/"); i > 0 {
				out[key[:i]] = key[i+1:]
			}
		}
	}
	return out
})

// StandardPackageNames is the set of the standard library's package names (errors, cmp, rand...).
var StandardPackageNames = sync.OnceValue(func() map[string]bool {
	out := map[string]bool{}
	for _, name := range stdlibPackageNames() {
		out[name] = true
	}
	return out
})

// AssumedPackageName is goimports' guess of the name of the package at path: the last path element, or the one
// before a major version suffix ("math/rand/v2" is rand), without a "go-" prefix and from its first character
// that cannot be in a name on ("yaml.v3" is yaml).
func AssumedPackageName(path string) string {
	parts := strings.Split(path, "/")
	last := parts[len(parts)-1]
	if len(parts) > 1 && len(last) > 1 && last[0] == 'v' && strings.Trim(last[1:], "0123456789") == "" {
		last = parts[len(parts)-2]
	}
	last = strings.TrimPrefix(last, "go-")
	if i := strings.IndexFunc(last, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' }); i >= 0 {
		last = last[:i]
	}
	return last
}

// cellReturns lists the return statements in n that return from the cell itself, not from a func literal in it.
// A cell's statements are the body of one function, so such a return ends the cell; it takes no values.
func cellReturns(n ast.Node) []*ast.ReturnStmt {
	var out []*ast.ReturnStmt
	ast.Inspect(n, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.FuncLit:
			return false
		case *ast.ReturnStmt:
			out = append(out, x)
		}
		return true
	})
	return out
}

// returnError refuses a return with values at the top level of a cell, or (unchecked) one the interpreter
// cannot run; nil when the item has neither.
func returnError(it *item, checked bool) error {
	if it.stmt == nil {
		return nil
	}
	for _, r := range cellReturns(it.stmt) {
		msg := ""
		switch {
		case len(r.Results) > 0:
			msg = "a return at the top level of a cell ends the cell and takes no values"
		case !checked && r != it.stmt:
			msg = "a return inside a top-level statement needs the type check, which is off here: write it as a bare return of its own, or in a func"
		default:
			continue
		}
		p := it.fset.Position(r.Pos())
		return &CellError{Cell: it.cell, Line: p.Line, Col: p.Column, Msg: msg}
	}
	return nil
}
