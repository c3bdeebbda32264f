package stdlib_test

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	yaegi "github.com/traefik/yaegi/interp"

	"github.com/govalent/govalent/interp/stdlib"
	"github.com/govalent/govalent/interp/stdlib/internal/adapt"
	"github.com/govalent/govalent/interp/stdlib/unrestricted"
)

// newInterpreter makes an interpreter as interp.Session does, with this package's tables and sources.
func newInterpreter(t *testing.T, out *bytes.Buffer) *yaegi.Interpreter {
	t.Helper()
	yi := yaegi.New(stdlib.Options(yaegi.Options{Stdout: out, Stderr: out, Env: os.Environ()}))
	if err := yi.Use(stdlib.Exports()); err != nil {
		t.Fatal(err)
	}
	return yi
}

// run evaluates src, declarations that include func f() string, and returns what f returns. Like
// interp.Session, it takes a panic of yaegi's compiler for an error.
func run(t *testing.T, src string) (_ string, err error) {
	t.Helper()
	var out bytes.Buffer
	yi := newInterpreter(t, &out)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	if _, err := yi.Eval(src); err != nil {
		return "", err
	}
	v, err := yi.Eval("f()")
	if err != nil {
		return "", err
	}
	return v.String(), nil
}

func TestGenericStdlib(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"slices.Sort ints", `
import ("fmt"; "slices")
func f() string { s := []int{3, 1, 2}; slices.Sort(s); return fmt.Sprint(s) }`, "[1 2 3]"},
		{"slices.Sort strings", `
import ("fmt"; "slices")
func f() string { s := []string{"pear", "apple", "fig"}; slices.Sort(s); return fmt.Sprint(s) }`, "[apple fig pear]"},
		{"slices.Sort of a declared type, in a declared slice type", `
import ("fmt"; "slices")
type Celsius float64
type Readings []Celsius
func f() string { r := Readings{21.5, -3, 7}; slices.Sort(r); return fmt.Sprint(r) }`, "[-3 7 21.5]"},
		{"slices.Sort puts NaN first", `
import ("fmt"; "math"; "slices")
func f() string { s := []float64{2, math.NaN(), 1}; slices.Sort(s); return fmt.Sprint(s) }`, "[NaN 1 2]"},
		{"slices.Sort and Max of a compiled package's named type", `
import ("fmt"; "slices"; "time")
func f() string { d := []time.Duration{3 * time.Second, time.Millisecond}; slices.Sort(d); return fmt.Sprint(d, slices.Max(d)) }`, "[1ms 3s] 3s"},
		{"slices.SortFunc with a func literal on structs", `
import ("fmt"; "slices"; "strings")
type T struct{ Name string; Age int }
func f() string {
	people := []T{{"Gopher", 13}, {"Alice", 55}, {"bob", 24}}
	slices.SortFunc(people, func(a, b T) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	return fmt.Sprint(people)
}`, "[{Alice 55} {bob 24} {Gopher 13}]"},
		{"slices.SortStableFunc keeps equal elements in order", `
import ("cmp"; "fmt"; "slices")
type E struct{ K, V int }
func f() string {
	s := []E{{2, 1}, {1, 2}, {2, 3}, {1, 4}}
	slices.SortStableFunc(s, func(a, b E) int { return cmp.Compare(a.K, b.K) })
	return fmt.Sprint(s)
}`, "[{1 2} {1 4} {2 1} {2 3}]"},
		{"slices.Index, Contains", `
import ("fmt"; "slices")
func f() string { s := []string{"a", "b"}; return fmt.Sprint(slices.Index(s, "b"), slices.Index(s, "z"), slices.Contains(s, "a"), slices.Contains(s, "z")) }`, "1 -1 true false"},
		{"slices.Reverse of a declared type", `
import ("fmt"; "slices")
type ID int
func f() string { s := []ID{1, 2, 3}; slices.Reverse(s); return fmt.Sprint(s) }`, "[3 2 1]"},
		{"slices.Max, Min, with NaN", `
import ("fmt"; "math"; "slices")
func f() string {
	return fmt.Sprintln(slices.Max([]int{4, 9, 2}), slices.Min([]string{"b", "a"}), slices.Max([]float64{1, math.NaN(), 3}), slices.Min([]float64{math.NaN(), 1}))
}`, "9 a NaN NaN\n"},
		{"slices.BinarySearch, Equal, Compare", `
import ("fmt"; "slices")
func f() string {
	i, found := slices.BinarySearch([]int{1, 3, 5}, 4)
	return fmt.Sprint(i, found, slices.Equal([]int{1}, []int{1}), slices.Compare([]int{1, 2}, []int{1, 3}))
}`, "2 false true -1"},
		{"slices.Insert, Delete, Compact, Concat, Repeat", `
import ("fmt"; "slices")
func f() string {
	s := slices.Insert([]int{1, 4}, 1, 2, 3)
	d := slices.Delete(slices.Clone(s), 0, 2)
	return fmt.Sprint(s, d, slices.Compact([]int{1, 1, 2, 2, 1}), slices.Concat([]int{1}, []int{2, 3}), slices.Repeat([]int{7}, 3))
}`, "[1 2 3 4] [3 4] [1 2 1] [1 2 3] [7 7 7]"},
		{"slices.Insert where the values alias the slice", `
import ("fmt"; "slices")
func f() string { s := make([]int, 4, 10); copy(s, []int{1, 2, 3, 4}); s = slices.Insert(s, 1, s[2:]...); return fmt.Sprint(s) }`, "[1 3 4 2 3 4]"},
		{"maps.Keys into slices.Sorted and slices.Collect", `
import ("fmt"; "maps"; "slices")
func f() string {
	m := map[string]int{"b": 2, "a": 1, "c": 3}
	vals := slices.Collect(maps.Values(m))
	slices.Sort(vals)
	return fmt.Sprint(slices.Sorted(maps.Keys(m)), vals)
}`, "[a b c] [1 2 3]"},
		{"maps.Clone, Equal, DeleteFunc, Collect of slices.All", `
import ("fmt"; "maps"; "slices")
func f() string {
	m := map[string]int{"a": 1, "b": 2}
	c := maps.Clone(m)
	maps.DeleteFunc(c, func(k string, v int) bool { return v > 1 })
	return fmt.Sprint(c, maps.Equal(m, c), maps.Collect(slices.All([]string{"x", "y"})))
}`, "map[a:1] false map[0:x 1:y]"},
		{"slices.Chunk", `
import ("fmt"; "slices")
func f() string { return fmt.Sprint(slices.Collect(slices.Chunk([]int{1, 2, 3, 4, 5}, 2))) }`, "[[1 2] [3 4] [5]]"},
		{"an iterator func declared in a cell", `
import ("fmt"; "iter"; "slices")
func upTo(n int) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := 0; i < n; i++ {
			if !yield(i) {
				return
			}
		}
	}
}
func f() string { return fmt.Sprint(slices.Collect(upTo(3))) }`, "[0 1 2]"},
		{"iter.Pull and Pull2", `
import ("fmt"; "iter"; "maps"; "slices")
func f() string {
	next, stop := iter.Pull(slices.Values([]int{10, 20}))
	defer stop()
	a, _ := next()
	b, _ := next()
	_, more := next()
	next2, stop2 := iter.Pull2(maps.All(map[string]int{"k": 1}))
	defer stop2()
	k, v, ok := next2()
	return fmt.Sprintln(a, b, more, k, v, ok)
}`, "10 20 false k 1 true\n"},
		{"iter.Pull passes a panic of the iterator to next", `
import ("fmt"; "iter")
func f() (msg string) {
	defer func() { msg = fmt.Sprint("recovered: ", recover()) }()
	next, _ := iter.Pull(func(yield func(int) bool) { panic("boom") })
	next()
	return "no panic"
}`, "recovered: boom"},
		{"cmp.Compare, Less, Or", `
import ("cmp"; "fmt"; "math")
type Level int
func f() string {
	return fmt.Sprintln(cmp.Compare(1, 2), cmp.Compare("b", "a"), cmp.Compare(Level(3), Level(3)), cmp.Less(math.NaN(), 0), cmp.Or("", "dflt"))
}`, "-1 1 0 true dflt\n"},
		{"a cell type named like a type parameter", `
import ("fmt"; "slices")
type E struct{ N int }
type S []E
func f() string { s := S{{2}, {1}}; slices.SortFunc(s, func(a, b E) int { return a.N - b.N }); return fmt.Sprint(s, slices.Index([]string{"x"}, "x")) }`, "[{1} {2}] 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := run(t, tc.src)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestGenericStdlibLimits pins what yaegi cannot do with the generic packages: each is an error, not a wrong
// answer.
func TestGenericStdlibLimits(t *testing.T) {
	for _, tc := range []struct{ name, src, wantErr string }{
		{"an iterator of a compiled package, type argument inferred", `
import ("fmt"; "slices"; "strings")
func f() string { return fmt.Sprint(slices.Collect(strings.Lines("a\nb"))) }`, "undefined type for E_"},
		{"a method of a declared slice type on a result", `
import ("fmt"; "slices")
type L []int
func (l L) Sum() (n int) { for _, v := range l { n += v }; return n }
func f() string { return fmt.Sprint(slices.Clone(L{1, 2}).Sum()) }`, "undefined selector: Sum"},
		{"slices.Sort of a type without <", `
import ("fmt"; "slices")
type P struct{ X int }
func f() string { s := []P{{2}, {1}}; slices.Sort(s); return fmt.Sprint(s) }`, "operator < not defined on main.P"},
		{"maps.EqualFunc of maps whose value types differ", `
import ("fmt"; "maps")
func f() string { return fmt.Sprint(maps.EqualFunc(map[string]int{"a": 1}, map[string]int{"a": 1}, func(a, b int) bool { return a == b })) }`, "cannot use type"},
		{"cmp.Compare and slices.Compare on the same element type (one instance per name)", `
import ("cmp"; "fmt"; "slices")
func f() string { x, y := 1, 2; return fmt.Sprint(cmp.Compare(x, y), slices.Compare([]int{x}, []int{y})) }`, "cannot use type"},
		{"cmp.Or spreading a slice", `
import ("cmp"; "fmt")
func f() string { return fmt.Sprint(cmp.Or([]int{0, 1}...)) }`, "CFG post-order panic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := run(t, tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %q, %v; want an error containing %q", got, err, tc.wantErr)
			}
		})
	}
}

func TestExplicitTypeArgumentForCompiledIterator(t *testing.T) {
	got, err := run(t, `
import ("fmt"; "slices"; "strings")
func f() string { return fmt.Sprintf("%q", slices.Collect[string](strings.SplitSeq("a,b", ","))) }`)
	if err != nil {
		t.Fatal(err)
	}
	if want := `["a" "b"]`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestNewerAPIs uses symbols newer than yaegi's go1.22 tables.
func TestNewerAPIs(t *testing.T) {
	got, err := run(t, `
import ("crypto/sha3"; "fmt"; "math/rand/v2"; "strings")
func f() string {
	n := 0
	strings.Lines("a\nb\nc")(func(string) bool { n++; return true })
	return fmt.Sprintf("%d %x %v", n, sha3.Sum256(nil)[:4], rand.IntN(1))
}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := "3 a7ffc6f8 0"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestRestrictedSymbolsKept checks that the generated tables did not bring back the os.Exit and log.Fatal that
// end the process (and this test): yaegi's replacements, which panic, are kept.
func TestRestrictedSymbolsKept(t *testing.T) {
	for call, want := range map[string]string{`os.Exit(3)`: "os.Exit(3)", `log.Fatal("x")`: "x", `log.New(os.Stderr, "", 0).Fatalf("y")`: "y"} {
		_, err := run(t, `
import ("log"; "os")
func f() string { `+call+`; return "not reached" }`)
		if err == nil || err.Error() != want {
			t.Errorf("%s: got %v, want the panic %q", call, err, want)
		}
	}
}

// TestComposedInterfaceWrappers checks that io.Copy sees the WriterTo of an interpreted Reader, through the
// wrappers yaegi composes for io.Reader.
func TestComposedInterfaceWrappers(t *testing.T) {
	got, err := run(t, `
import ("bytes"; "io")
type src struct{}
func (src) Read(p []byte) (int, error) { return 0, io.EOF }
func (src) WriteTo(w io.Writer) (int64, error) { n, err := io.WriteString(w, "via WriteTo"); return int64(n), err }
func f() string { var b bytes.Buffer; io.Copy(&b, src{}); return b.String() }`)
	if err != nil {
		t.Fatal(err)
	}
	if got != "via WriteTo" {
		t.Errorf("got %q", got)
	}
}

func TestUnrestrictedExec(t *testing.T) {
	var out bytes.Buffer
	yi := yaegi.New(stdlib.Options(yaegi.Options{Stdout: &out, Stderr: &out, Env: os.Environ(), Unrestricted: true}))
	for _, exports := range []yaegi.Exports{stdlib.Exports(), unrestricted.Exports()} {
		if err := yi.Use(exports); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := yi.Eval(`
import ("errors"; "os/exec")
func f() string {
	out, err := exec.Command("sh", "-c", "echo ran").Output()
	if err != nil { return err.Error() }
	if errors.Is(exec.ErrDot, exec.ErrNotFound) { return "ErrDot is ErrNotFound" }
	return string(out)
}`); err != nil {
		t.Fatal(err)
	}
	v, err := yi.Eval("f()")
	if err != nil {
		t.Fatal(err)
	}
	if v.String() != "ran\n" {
		t.Errorf("got %q", v.String())
	}
}

// TestTablesMatchToolchain fails when govalent is built with a Go release the tables were not generated for.
func TestTablesMatchToolchain(t *testing.T) {
	parts := strings.Split(runtime.Version(), ".")
	if len(parts) < 2 || !strings.HasPrefix(runtime.Version(), "go1.") {
		t.Skipf("not a Go release: %s", runtime.Version())
	}
	minor := strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' })
	if _, err := os.Stat("go1_" + minor + "_fmt.go"); err != nil {
		t.Fatalf("no tables for %s: run go generate ./interp/stdlib (%v)", runtime.Version(), err)
	}
}

// TestSourcesCoverGOROOT fails when the toolchain's generic packages export a function or type the ported
// sources lack, after a Go upgrade.
func TestSourcesCoverGOROOT(t *testing.T) {
	for _, path := range stdlib.SourcePackages {
		want := exportedNames(t, filepath.Join(runtime.GOROOT(), "src", path))
		got := exportedNames(t, filepath.Join("_yaegi", "src", path))
		for _, name := range want {
			if !slices.Contains(got, name) {
				t.Errorf("%s.%s is missing from the ported sources", path, name)
			}
		}
	}
}

func exportedNames(t *testing.T, dir string) []string {
	t.Helper()
	pkgs, err := parser.ParseDir(token.NewFileSet(), dir, func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, pkg := range pkgs {
		for _, file := range pkg.Files {
			for _, decl := range file.Decls {
				switch d := decl.(type) {
				case *ast.FuncDecl:
					if d.Recv == nil && d.Name.IsExported() {
						names = append(names, d.Name.Name)
					}
				case *ast.GenDecl:
					for _, spec := range d.Specs {
						if ts, ok := spec.(*ast.TypeSpec); ok && ts.Name.IsExported() {
							names = append(names, ts.Name.Name)
						}
					}
				}
			}
		}
	}
	if len(names) == 0 {
		t.Fatalf("no exported names in %s", dir)
	}
	return names
}

func TestGenericFuncs(t *testing.T) {
	funcs := stdlib.GenericFuncs()
	for name, want := range map[string][]string{"Contains": {"slices"}, "Compare": {"cmp", "slices"}, "Pull": {"iter"}} {
		if got := funcs[name]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v, want %v", name, got, want)
		}
	}
}

func TestExportsLeaveSourcePackagesToSources(t *testing.T) {
	exports := stdlib.Exports()
	for _, path := range stdlib.SourcePackages {
		if _, ok := exports[path+"/"+path]; ok {
			t.Errorf("%s has a symbol table, which would hide its sources", path)
		}
	}
	if _, ok := exports["strings/strings"]["Lines"]; !ok {
		t.Error("strings.Lines is missing")
	}
}

func TestGenericOnlyPackages(t *testing.T) {
	if !slices.Contains(stdlib.GenericOnly, "unique") || slices.Contains(stdlib.GenericOnly, "slices") {
		t.Errorf("GenericOnly = %v, want unique and not slices", stdlib.GenericOnly)
	}
	_, err := run(t, `
import "unique"
func f() string { return "" }`)
	if err == nil || !strings.Contains(err.Error(), "unable to find source") {
		t.Errorf("importing unique: got %v", err)
	}
}

// TestSourcesGenerated fails when goroot/src was changed without go generate: _yaegi/src, what the interpreter
// reads, must be the adapted goroot/src.
func TestSourcesGenerated(t *testing.T) {
	out := t.TempDir()
	for _, path := range stdlib.SourcePackages {
		if err := adapt.Package("goroot", out, path); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(filepath.Join("_yaegi", "src", path))
		if err != nil {
			t.Fatal(err)
		}
		fresh, err := os.ReadDir(filepath.Join(out, "src", path))
		if err != nil {
			t.Fatal(err)
		}
		if len(fresh) != len(entries) {
			t.Errorf("%s: %d files in _yaegi, %d adapted: run go generate ./interp/stdlib", path, len(entries), len(fresh))
		}
		for _, e := range fresh {
			want, err := os.ReadFile(filepath.Join(out, "src", path, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join("_yaegi", "src", path, e.Name()))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("_yaegi/src/%s/%s is not the adapted goroot source (%v): run go generate ./interp/stdlib", path, e.Name(), err)
			}
		}
	}
}
