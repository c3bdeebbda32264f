package stdlib_test

import (
	"bytes"
	"go/ast"
	"go/format"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"testing"

	"github.com/govalent/govalent/interp/stdlib"
)

// TestConvertGenericArgs type-checks cells that pass values of compiled packages' types to the generic
// packages, converts their arguments and runs them; each fails without the conversion.
func TestConvertGenericArgs(t *testing.T) {
	imp := importer.Default()
	for _, tc := range []struct {
		name, src, want string
		conversions     int
		needed          bool // the cell fails without them
	}{
		{"slices.Sort of strings.Fields", `
import ("fmt"; "slices"; "strings")
func f() string { words := strings.Fields("pear apple fig"); slices.Sort(words); return fmt.Sprint(words, slices.Index(words, "fig")) }`, "[apple fig pear] 1", 2, true},
		{"maps.Keys of an http.Header, sorted", `
import ("fmt"; "maps"; "net/http"; "slices")
func f() string { h := http.Header{"B": {"1"}, "A": {"2"}}; return fmt.Sprint(slices.Sorted(maps.Keys(h))) }`, "[A B]", 2, true},
		{"slices.Collect of strings.Lines", `
import ("fmt"; "slices"; "strings")
func f() string { return fmt.Sprintf("%q", slices.Collect(strings.Lines("a\nb"))) }`, `["a\n" "b"]`, 1, true},
		{"slices.Sort of a sort.StringSlice, under another import name", `
import ("fmt"; "slices"; srt "sort")
func f() string { s := srt.StringSlice{"b", "a"}; slices.Sort(s); return fmt.Sprint(s) }`, "[a b]", 1, true},
		{"a cell's own slice type converts to itself, literals are left alone", `
import ("fmt"; "slices")
type Celsius float64
func f() string { r := []Celsius{3, -1}; slices.Sort(r); return fmt.Sprint(r, slices.Contains([]string{"x"}, "x")) }`, "[-1 3] true", 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, conversions := convertCell(t, imp, tc.src)
			if conversions != tc.conversions {
				t.Errorf("%d conversions, want %d", conversions, tc.conversions)
			}
			if _, err := run(t, tc.src); tc.needed && err == nil {
				t.Errorf("runs without the conversion")
			}
			got, err := run(t, src)
			if err != nil {
				t.Fatalf("%v\n%s", err, src)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q\n%s", got, tc.want, src)
			}
		})
	}
}

// convertCell type-checks src as package main and returns it with the arguments of its GenericCalls converted
// to their UnnamedArgType, as the interpreter's cells do, and how many it converted.
func convertCell(t *testing.T, imp types.Importer, src string) (string, int) {
	t.Helper()
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "cell.go", "package main\n"+src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Uses: map[*ast.Ident]types.Object{}, Defs: map[*ast.Ident]types.Object{}}
	conf := types.Config{Importer: imp}
	pkg, err := conf.Check("main", fset, []*ast.File{file}, info)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{} // import path -> the cell's name for it
	for _, spec := range file.Imports {
		if pn := info.PkgNameOf(spec); pn != nil {
			names[pn.Imported().Path()] = pn.Name()
		}
	}
	qualifier := func(p *types.Package) string {
		if p == pkg {
			return ""
		}
		return names[p.Path()]
	}
	conversions := 0
	ast.Inspect(file, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || !stdlib.GenericCall(call, info) {
			return true
		}
		for i, arg := range call.Args {
			if typ := stdlib.UnnamedArgType(arg, info); typ != nil {
				conv, err := parser.ParseExpr(types.TypeString(typ, qualifier))
				if err != nil {
					t.Fatal(err)
				}
				call.Args[i] = &ast.CallExpr{Fun: &ast.ParenExpr{X: conv}, Args: []ast.Expr{arg}}
				conversions++
			}
		}
		return true
	})
	var buf bytes.Buffer
	if err := format.Node(&buf, fset, file); err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimPrefix(buf.Bytes(), []byte("package main\n"))), conversions
}
