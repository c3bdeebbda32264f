package complete

import (
	"go/scanner"
	"go/token"
	"strings"
)

// IsComplete answers Jupyter's is_complete_request: status is "complete", "incomplete" or "invalid"; indent is
// the suggested indentation for the next line when incomplete (e.g. "\t" inside an open block).
//
// A cell mixes imports, declarations and statements, so it is not a Go file go/parser could check; the answer
// comes from the tokens: open brackets, a trailing operator, comma or keyword, or an unterminated raw string or
// block comment make the cell incomplete; a closing bracket that closes nothing, or any other scanning error,
// makes it invalid. Other syntax errors are left for execution to report.
func IsComplete(code string) (status, indent string) {
	fset := token.NewFileSet()
	file := fset.AddFile("", -1, len(code))
	var errs []string
	var sc scanner.Scanner
	sc.Init(file, []byte(code), func(_ token.Position, msg string) { errs = append(errs, msg) }, 0)
	type open struct {
		tok  token.Token
		line int
	}
	var stack []open
	last := token.ILLEGAL // the last token written in the code
	for {
		pos, tok, lit := sc.Scan()
		if tok == token.EOF {
			break
		}
		switch tok {
		case token.SEMICOLON:
			if lit == "\n" {
				continue // inserted at a line end, not written
			}
		case token.LPAREN, token.LBRACK, token.LBRACE:
			stack = append(stack, open{tok, file.Line(pos)})
		case token.RPAREN, token.RBRACK, token.RBRACE:
			if len(stack) == 0 || stack[len(stack)-1].tok != opener[tok] {
				return "invalid", ""
			}
			stack = stack[:len(stack)-1]
		}
		last = tok
	}
	for _, msg := range errs {
		// the only errors more lines can fix; the scanner reports them at the end of the code
		if msg != "raw string literal not terminated" && msg != "comment not terminated" {
			return "invalid", ""
		}
	}
	if len(errs) > 0 {
		return "incomplete", "" // inside a raw string, indentation would change its value
	}
	// gofmt indents once per line holding brackets still open (f(g( counts once), and once more for a
	// continued expression
	depth, prevLine := 0, 0
	for _, o := range stack {
		if o.line != prevLine {
			depth, prevLine = depth+1, o.line
		}
	}
	if cont, extra := continues(last); len(stack) > 0 || cont {
		if extra {
			depth++
		}
		return "incomplete", strings.Repeat("\t", depth)
	}
	return "complete", ""
}

var opener = map[token.Token]token.Token{token.RPAREN: token.LPAREN, token.RBRACK: token.LBRACK, token.RBRACE: token.LBRACE}

// continues tells whether a line ending with t needs more (a trailing operator, comma, or a keyword that
// starts a construct), and whether the next line is a continuation line gofmt indents once more.
func continues(t token.Token) (cont, extra bool) {
	switch t {
	case token.COMMA, token.COLON:
		return true, false
	case token.BREAK, token.CONTINUE, token.FALLTHROUGH, token.RETURN, // may end a statement
		token.RPAREN, token.RBRACK, token.RBRACE, token.SEMICOLON, token.INC, token.DEC, token.ELLIPSIS:
		return false, false
	case token.LPAREN, token.LBRACK, token.LBRACE: // operators too, but indented as open brackets
		return true, false
	}
	switch {
	case t.IsKeyword():
		return true, false
	case t.IsOperator(): // binary and unary operators, assignments, '.', "<-"
		return true, true
	}
	return false, false
}
