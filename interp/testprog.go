package interp

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/govalent/govalent/ct"
)

// TestPackage is the package name of a test program: a test file's package may not be main without a main.
const TestPackage = "govalenttest"

// TestProgram returns a program holding the session's test functions, by go test's rules (TestXxx(t *testing.T),
// BenchmarkXxx(b *testing.B), FuzzXxx(f *testing.F), ExampleXxx(), TestMain(m *testing.M)), and the declarations
// they use, as Ship builds programs; its source is a test file of package TestPackage. names are the test
// functions, sorted; none when the session declares no test.
func (s *Session) TestProgram() (prog ct.Program, names []string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := &programBuilder{s: s, included: map[*decl]bool{}, done: map[string]bool{}}
	for name, d := range s.store.byName {
		if d.tok == token.FUNC && isTestFunc(d.text, name) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return ct.Program{}, nil, nil
	}
	sort.Strings(names)
	for _, name := range names {
		d := s.store.byName[name]
		b.user, b.userCell, b.userLine = name, d.cell, d.line
		if err := b.need(name); err != nil {
			return ct.Program{}, nil, fmt.Errorf("%%test cannot take the session's tests to go test: %w", err)
		}
	}
	prog = b.program()
	prog.Source = "package " + TestPackage + strings.TrimPrefix(prog.Source, "package main")
	if err := s.shipModules(&prog); err != nil {
		return ct.Program{}, nil, err
	}
	return prog, names, nil
}

// testKinds maps go test's name prefixes to the type of their one parameter in package testing ("" for none).
var testKinds = map[string]string{"Test": "T", "Benchmark": "B", "Fuzz": "F", "Example": ""}

// isTestFunc tells whether the function declared by text is one go test runs, by its name and signature.
func isTestFunc(text, name string) bool {
	if name == "TestMain" {
		return hasSignature(text, "M")
	}
	for prefix, param := range testKinds {
		if rest, ok := strings.CutPrefix(name, prefix); ok {
			r, _ := utf8.DecodeRuneInString(rest)
			if rest == "" || !unicode.IsLower(r) { // go test's rule: Testing is not a test, Test_x and Test are
				return hasSignature(text, param)
			}
		}
	}
	return false
}

// hasSignature tells whether text declares a function without type parameters or results taking one
// *testing.<param> (the import may be renamed: any package qualifier counts), or nothing when param is "".
func hasSignature(text, param string) bool {
	f, err := parser.ParseFile(token.NewFileSet(), "", "package p\n"+text, parser.SkipObjectResolution)
	if err != nil || len(f.Decls) != 1 {
		return false
	}
	fd, ok := f.Decls[0].(*ast.FuncDecl)
	if !ok || fd.Recv != nil || fd.Type.TypeParams != nil || fd.Type.Results != nil {
		return false
	}
	params := fd.Type.Params.List
	if param == "" {
		return len(params) == 0
	}
	if len(params) != 1 || len(params[0].Names) > 1 {
		return false
	}
	star, ok := params[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == param
}
