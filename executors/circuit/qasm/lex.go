package qasm

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Pos is a place in the source: 1-based line and column (in characters).
type Pos struct{ Line, Col int }

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Error is a parse or binding error at a place in the program.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

func errorf(p Pos, format string, args ...any) *Error {
	return &Error{Pos: p, Msg: fmt.Sprintf(format, args...)}
}

type kind int

const (
	tEOF kind = iota
	tIdent
	tInt
	tFloat
	tString
	tPunct  // ; , [ ] ( ) { } @ = + - * / ** -> :
	tPragma // a whole #pragma line, text after "#pragma"
)

type token struct {
	kind kind
	text string
	pos  Pos
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of program"
	case tString:
		return "string " + t.text
	case tPragma:
		return "#pragma"
	}
	return fmt.Sprintf("%q", t.text)
}

// lex splits src into tokens, dropping comments and whitespace.
func lex(src string) ([]token, error) {
	var toks []token
	line, col := 1, 1
	i := 0
	advance := func(n int) {
		for _, r := range src[i : i+n] {
			if r == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
		}
		i += n
	}
	for i < len(src) {
		r, size := utf8.DecodeRuneInString(src[i:])
		pos := Pos{line, col}
		switch {
		case r == utf8.RuneError && size == 1:
			return nil, errorf(pos, "invalid UTF-8")
		case unicode.IsSpace(r):
			advance(size)
		case strings.HasPrefix(src[i:], "//"):
			n := strings.IndexByte(src[i:], '\n')
			if n < 0 {
				n = len(src) - i
			}
			advance(n)
		case strings.HasPrefix(src[i:], "/*"):
			n := strings.Index(src[i+2:], "*/")
			if n < 0 {
				return nil, errorf(pos, "comment not closed")
			}
			advance(n + 4)
		case r == '#':
			n := strings.IndexByte(src[i:], '\n')
			if n < 0 {
				n = len(src) - i
			}
			text := src[i : n+i]
			if !strings.HasPrefix(text, "#pragma") {
				return nil, errorf(pos, "unexpected %q (only #pragma lines start with #)", text)
			}
			toks = append(toks, token{tPragma, strings.TrimPrefix(text, "#pragma"), pos})
			advance(n)
		case r == '_' || unicode.IsLetter(r):
			n := size
			for n < len(src[i:]) {
				r2, s2 := utf8.DecodeRuneInString(src[i+n:])
				if r2 != '_' && !unicode.IsLetter(r2) && !unicode.IsDigit(r2) {
					break
				}
				n += s2
			}
			toks = append(toks, token{tIdent, src[i : i+n], pos})
			advance(n)
		case r >= '0' && r <= '9' || r == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
			n, float := number(src[i:])
			k := tInt
			if float {
				k = tFloat
			}
			toks = append(toks, token{k, src[i : i+n], pos})
			advance(n)
		case r == '"':
			n := strings.IndexAny(src[i+1:], "\"\n")
			if n < 0 || src[i+1+n] != '"' {
				return nil, errorf(pos, "string not closed")
			}
			toks = append(toks, token{tString, src[i : i+n+2], pos})
			advance(n + 2)
		default:
			n := 1
			if strings.HasPrefix(src[i:], "**") || strings.HasPrefix(src[i:], "->") {
				n = 2
			} else if !strings.ContainsRune(";,[](){}@=+-*/:", r) {
				return nil, errorf(pos, "unexpected character %q", r)
			}
			toks = append(toks, token{tPunct, src[i : i+n], pos})
			advance(n)
		}
	}
	return append(toks, token{tEOF, "", Pos{line, col}}), nil
}

// number measures the numeric literal at the start of s: digits, an optional fraction and exponent.
func number(s string) (n int, float bool) {
	digits := func() {
		for n < len(s) && (s[n] >= '0' && s[n] <= '9' || s[n] == '_') {
			n++
		}
	}
	digits()
	if n < len(s) && s[n] == '.' {
		float = true
		n++
		digits()
	}
	if n < len(s) && (s[n] == 'e' || s[n] == 'E') {
		m := n + 1
		if m < len(s) && (s[m] == '+' || s[m] == '-') {
			m++
		}
		if m < len(s) && s[m] >= '0' && s[m] <= '9' {
			float = true
			n = m
			digits()
		}
	}
	return n, float
}
