package interp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"testing"
)

// cellRun evaluates cells in one session and returns, per cell, its stdout and its value (or error) printed.
func cellRun(t *testing.T, cells ...string) []string {
	t.Helper()
	s, out, errb := newSession(t)
	var got []string
	for _, c := range cells {
		res, err := s.Eval(context.Background(), c)
		r := out.String()
		if err != nil {
			r += "error: " + err.Error()
		} else if res.Value.IsValid() {
			r += fmt.Sprintf("=> %v", res.Value)
		}
		if errb.Len() > 0 {
			r += "stderr: " + errb.String()
		}
		got = append(got, r)
		out.Reset()
		errb.Reset()
	}
	return got
}

func expectCells(t *testing.T, cells []string, want []string) {
	t.Helper()
	got := cellRun(t, cells...)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("cell %d %q:\n got %q\nwant %q", i+1, cells[i], got[i], want[i])
		}
	}
}

func TestCommaOkAtTheTopLevelOfACell(t *testing.T) {
	expectCells(t, []string{
		`import "fmt"
m := map[string]int{"a": 1}
v, ok := m["a"]
var x any = []any{1, "two"}
xs, isSlice := x.([]any)
ch := make(chan int, 1)
ch <- 7
r, open := <-ch
fmt.Println(v, ok, xs, isSlice, r, open)
close(ch)`,
		`_, open = <-ch
delete(m, "a")`,
		`fmt.Println(len(m), open)`,
	}, []string{"1 true [1 two] true 7 true\n", "", "0 false\n"})
}

func TestSeveralValuesDefinedInsideTopLevelLoops(t *testing.T) {
	expectCells(t, []string{`import ("fmt"; "strings")
r := strings.NewReader("hi")
for {
	b, err := r.ReadByte()
	if err != nil {
		fmt.Println("end:", err)
		break
	}
	fmt.Println(string(b))
}`}, []string{"h\ni\nend: EOF\n"})
}

func TestDeferRunsAtTheEndOfItsCellOnce(t *testing.T) {
	expectCells(t, []string{
		`import "fmt"
defer fmt.Println("deferred")
fmt.Println("body")`,
		`fmt.Println("next cell")`,
	}, []string{"body\ndeferred\n", "next cell\n"})
}

func TestMainRunsOnceInTheCellThatDeclaresIt(t *testing.T) {
	expectCells(t, []string{
		`package main

import "fmt"

func helper() string { return "main ran" }

func main() {
	fmt.Println(helper())
}`,
		`fmt.Println("later")`,
		`helper()`,
	}, []string{"main ran\n", "later\n", "=> main ran"})
}

func TestGoStatementsWithConstantAndNilArguments(t *testing.T) {
	expectCells(t, []string{`import ("fmt"; "sync")
var wg sync.WaitGroup
func f(x float64) { defer wg.Done(); fmt.Println("f", x) }
func g(p *int) { defer wg.Done(); fmt.Println("g", p == nil) }
wg.Add(1)
go f(3)
wg.Wait()
wg.Add(1)
go g(nil)
wg.Wait()`}, []string{"f 3\ng true\n"})
}

func TestErrorsAreGosOwnAtTheCellsLines(t *testing.T) {
	got := cellRun(t,
		"x := 1\nfmt.Println(x, y)",
		"z := 2\nfoo.Bar(z)",
		"a := 1\nif a > 0 {\n\tb := 2\n}",
		"func f() int {\n\tif true { return 1 }\n}",
		"type T struct{}\nfunc (t *T) M() {}\ntype I interface{ M() }\nvar i I = T{}",
		"for i := 0; i < 3; i++ {\n\tfmt.Println(i\n}",
		"x := 1\nx := 2",
		"var n int = \"s\"",
	)
	want := []string{
		"cell1:2:16: undefined: y",
		"cell2:2:1: undefined: foo",
		"cell3:3:2: declared and not used: b",
		"cell4:3:1: missing return",
		"cell5:4:11: cannot use T{} (value of struct type T) as I value in variable declaration: T does not implement I (method M has pointer receiver)",
		"cell6:2:15: missing ',' before newline in argument list",
		"cell7:2:3: no new variables on left side of :=",
		"cell8:1:13: cannot use \"s\" (untyped string constant) as int value in variable declaration",
	}
	for i, w := range want {
		if !strings.Contains(got[i], "error: "+w) {
			t.Errorf("cell %d: got %q, want %q", i+1, got[i], w)
		}
	}
}

func TestVariablesKeepTheirTypesAcrossCells(t *testing.T) {
	got := cellRun(t, "n := 2", "n * 1.5", "n = 3\nn * 2", "n := \"now a string\"\nn + \"!\"")
	if !strings.Contains(got[1], "cell2:1:5: 1.5 (untyped float constant) truncated to int") {
		t.Errorf("an int variable takes a float: %q", got[1])
	}
	if got[2] != "=> 6" || got[3] != "=> now a string!" {
		t.Errorf("got %q", got)
	}
}

func TestUnusedTopLevelVariablesAndImportsAreAllowed(t *testing.T) {
	expectCells(t, []string{"import \"strings\"\nunused := 1", "unused + 1", "strings.ToUpper(\"a\")"},
		[]string{"", "=> 2", "=> A"})
}

func TestDeclarationsOfACellUseItsStatementsVariables(t *testing.T) {
	expectCells(t, []string{
		"n := 5\nfunc times(k int) int { return n * k }\nvar doubled = times(2)\ndoubled",
		"n = 6\ntimes(2)",
	}, []string{"=> 10", "=> 12"})
}

func TestReturnLabelsAndGotoAtTheTopLevel(t *testing.T) {
	expectCells(t, []string{
		"import \"fmt\"\nfmt.Println(\"before\")\nif true {\n\treturn\n}\nfmt.Println(\"after\")",
		"i := 0\nloop:\nif i < 3 {\n\ti++\n\tgoto loop\n}\nouter:\nfor {\n\tfor {\n\t\tbreak outer\n\t}\n}\ni",
	}, []string{"before\n", "=> 3"})
}

// A return at the top level of a cell ends the cell: its defers run, the variables it set stay, a func main it
// declares does not run; a return with values is refused with a clear message.
func TestReturnEndsTheCell(t *testing.T) {
	expectCells(t, []string{
		"import \"fmt\"\nn := 1\ndefer fmt.Println(\"deferred\")\nfor i := range 10 {\n\tif i == 2 {\n\t\treturn\n\t}\n\tn += i\n}\nn = -1",
		"n",
		"func main() { fmt.Println(\"main\") }\nif n > 0 {\n\treturn\n}",
		"fmt.Println(\"x\")\nif n > 0 {\n\treturn 1\n}",
		"f := func() int { return 7 }\nreturn\nf()",
		"f()",
	}, []string{"deferred\n", "=> 2", "", "error: cell4:3:2: a return at the top level of a cell ends the cell and takes no values", "", "=> 7"})
}

// Unchecked (no Go toolchain), a bare return of its own ends the cell; one the interpreter cannot run is refused
// before anything runs.
func TestReturnInUncheckedCells(t *testing.T) {
	s, out, _ := newSession(t)
	for _, c := range []struct{ src, out, err string }{
		{"import \"fmt\"\nfmt.Println(\"a\")\nreturn\nfmt.Println(\"b\")", "a\n", ""},
		{"fmt.Println(\"c\")\nif true {\n\treturn\n}", "", "cell:3:2: a return inside a top-level statement needs the type check, which is off here"},
		{"return 1", "", "cell:1:1: a return at the top level of a cell ends the cell and takes no values"},
	} {
		items, err := splitCell("cell", c.src)
		if err != nil {
			t.Fatal(err)
		}
		out.Reset()
		_, err = s.evalItems(context.Background(), items)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if out.String() != c.out || !strings.HasPrefix(msg, c.err) || (c.err == "") != (err == nil) {
			t.Errorf("%q: output %q, error %v; want %q, %q", c.src, out.String(), err, c.out, c.err)
		}
	}
}

// A const declaration among a cell's statements is scoped as in a function body: a value that names what the
// declaration itself declares reads the outer name (an earlier cell's constant, iota), then later cells see the
// new constants; an untyped constant keeps its kind.
func TestConstsReadingTheNamesTheyRedeclare(t *testing.T) {
	expectCells(t, []string{
		"import \"fmt\"\nconst X = 2\nfunc double() int { return X * 2 }",
		"fmt.Println(X)\nconst (\n\tA    = iota\n\tiota = iota\n\tB\n)\nconst (\n\tX = X + X\n\tY\n\tZ = iota\n\tF = 2.0\n\tR = 'a'\n)\nfmt.Println(A, B, X, Y, Z)",
		"fmt.Printf(\"%v %v %v %T %T %d\\n\", X, Y, Z, F, R, double())",
		"const (\n\tP = iota\n\tQ\n)\nfmt.Println(P, Q)",
	}, []string{"", "2\n0 1 4 8 1\n", "4 8 1 float64 int32 8\n", "0 1\n"})
}

const printTypesDecls = `import ("errors"; "fmt"; "log"; "os"; "reflect"; "strings"; "time")
type T struct{ x, Y int }
type C float64
func (c C) String() string { return fmt.Sprintf("%.1fC", float64(c)) }
type E struct{ code int }
func (e *E) Error() string { return fmt.Sprint("E", e.code) }
type F struct{ code int }
func (f F) Error() string { return fmt.Sprint("F", f.code) }`

// %T, reflect's Name and String, errors.As and the Error methods of a cell's types answer as Go does.
func TestTypesOfTheCellPrintAsGoPrintsThem(t *testing.T) {
	expectCells(t, []string{
		printTypesDecls,
		"v := T{1, 2}\nfmt.Printf(\"%T|%-8T|%v|%T|%T|%T\\n\", v, C(1), v, &v, []T{v}, map[string]C{})",
		"fmt.Println(reflect.TypeOf(v).Name(), reflect.TypeOf(v).String(), reflect.TypeOf(C(1)).Name(), reflect.TypeOf(&v).Name() == \"\", reflect.TypeOf(&v))",
		"e := &E{3}\nf := F{4}\nvar none *E\nfmt.Println(e, f, none)\nerr := fmt.Errorf(\"wrapped: %w\", e)\nvar e2 *E\nfmt.Println(err, errors.As(err, &e2), e2 == e, errors.As(errors.New(\"x\"), &e2))",
		"var f2 F\nerrors.As(fmt.Errorf(\"%w\", f), &f2)",
	}, []string{"", "main.T|main.C  |{1 2}|*main.T|[]main.T|map[string]main.C\n", "T main.T C true *main.T\n", "E3 F4 <nil>\nwrapped: E3 true true false\n",
		"error: cell5:2:1: errors.As with a target of type main.F is not supported by the interpreter, which loses such values in compiled errors: give the type's Error method a pointer receiver and the target a pointer type"})
}

// %+v and %#v print Go's field and type names, and call no method in an unexported field, as fmt does.
func TestPlusAndSharpVerbsPrintGosNames(t *testing.T) {
	expectCells(t, []string{
		printTypesDecls + "\ntype P struct{ Name string; T T; p *int; bs []byte; m map[string]T }\ntype D struct{ d time.Duration; N int }\ntype W struct{ t time.Time }",
		"fmt.Printf(\"%+v|%#v|%#v|%+v|%#v\\n\", T{1, 2}, T{1, 2}, C(2), &T{3, 4}, []T{{5, 6}})",
		"p := P{Name: \"n\", T: T{1, 2}, m: map[string]T{\"b\": {1, 2}, \"a\": {3, 4}}}\nfmt.Printf(\"%+v\\n%#v\\n\", p, p)",
		"fmt.Printf(\"%+v\\n\", D{N: 1})\nvar lb strings.Builder\nlog.SetFlags(0)\nlog.SetOutput(&lb)\ndefer log.SetOutput(os.Stderr)\ndefer log.SetFlags(log.LstdFlags)\nlog.Printf(\"%T %+v\", T{1, 2}, T{1, 2})\nfmt.Print(lb.String())",
		"fmt.Printf(\"%+v\\n\", W{})",
	}, []string{"",
		"{x:1 Y:2}|main.T{x:1, Y:2}|2|&{x:3 Y:4}|[]main.T{main.T{x:5, Y:6}}\n",
		"{Name:n T:{x:1 Y:2} p:<nil> bs:[] m:map[a:{x:3 Y:4} b:{x:1 Y:2}]}\n" +
			"main.P{Name:\"n\", T:main.T{x:1, Y:2}, p:(*int)(nil), bs:[]uint8(nil), m:map[string]main.T{\"a\":main.T{x:3, Y:4}, \"b\":main.T{x:1, Y:2}}}\n",
		"{d:0 N:1}\nmain.T {x:1 Y:2}\n",
		"error: cell5:1:21: %+v of main.W would call the methods of the time.Time in an unexported field, which Go does not: use %v, or print the fields"})
}

// What the interpreter would print wrongly about a cell's types is refused with a clear error.
func TestPrintingTheInterpreterGetsWrongIsRefused(t *testing.T) {
	expectCells(t, []string{
		printTypesDecls,
		"type G struct{ n int }\nfunc (g G) GoString() string { return \"G!\" }\nfmt.Printf(\"%#v\\n\", G{1})",
		"fmt.Println([]C{1})",
		"fmt.Printf(\"%[1]T %[1]v\\n\", T{})",
		"type Q struct{ A, B int }\nfmt.Printf(\"%+v %v %d\\n\", Q{1, 2}, []T{{1, 2}}, []C{1})",
	}, []string{"",
		"error: cell2:3:21: %#v of main.G would not call its GoString or Format method or those of the values inside it (the interpreter loses them): use %v, or print the fields",
		"error: cell3:1:13: %v of []main.C would not call the String method of the main.C inside it (the interpreter loses methods there): print them one by one",
		"error: cell4:1:29: a format with argument indexes ([n]) is not supported here for a value of main.T, which the interpreter would print with its own names: write the verbs in order",
		"{A:1 B:2} [{1 2}] [%!d(float64=1)]\n"})
}

// A cell's statements that use an earlier cell's name which they redefine with another type are refused: the
// use would read the new variable, replaced before the statements run. With the same type the variable is kept.
func TestStatementsUsingANameTheyRedefine(t *testing.T) {
	expectCells(t, []string{
		"import \"fmt\"\nvar b [3]float32\nconst X = 2\nn := 1",
		"b[1] = 2\nfmt.Println(b)\nb := new([5]int)\nfmt.Println(len(b))",
		"X := X * 2",
		"n := n + 1\nfmt.Println(n)",
		"fmt.Println(b, X)",
	}, []string{"",
		"error: cell2:1:1: b here is the earlier b, which this cell redefines at line 3 before its statements run: give one of them another name",
		"error: cell3:1:6: X here is the earlier X, which this cell redefines at line 1 before its statements run: give one of them another name",
		"2\n", "[0 0 0] 2\n"})
}

// yaegi assigns nil to the first variable of `a, b = &T{}, U{}`; the rewrite keeps Go's answer, at the top level
// of a cell and inside blocks.
func TestParallelAssignmentOfAPointerToACompositeLiteral(t *testing.T) {
	expectCells(t, []string{
		"import \"fmt\"\ntype E struct{ code int }\ntype F struct{ code int }",
		"e, f := &E{3}, F{4}\nvar a *E\nvar b []int\nif true {\n\ta, b = &E{5}, []int{min(6, 7)}\n}\nswitch {\ndefault:\n\tx, y, z := &F{1}, 2.5, F{3}\n\tfmt.Println(e.code, f.code, a.code, b[0], x.code, y, z.code)\n}",
	}, []string{"", "3 4 5 6 1 2.5 3\n"})
}

// A var declared after statements that assign what its value reads is initialized in its place, as in a
// function body, not before the statements run.
func TestVarsReadWhatEarlierStatementsAssign(t *testing.T) {
	expectCells(t, []string{
		"import \"fmt\"\nvar i any\ni = 1\nvar v = i.(int)\nn := 0\nfor k := range 3 {\n\tn += k\n}\nvar w = n * 10\nfmt.Println(v, w)",
		"fmt.Println(v+1, w+1)",
	}, []string{"1 30\n", "2 31\n"})
}

func TestRedefinitionsInLaterCells(t *testing.T) {
	expectCells(t, []string{
		"func f() int { return 1 }\ntype P struct{ A int }\nx := P{A: f()}\nx.A",
		"func f() int { return 2 }\nf() + x.A",
		"type P struct{ A, B int }\np := P{1, 2}\np.B",
		"", "// only a comment",
		"func onlyDeclares() int { return 7 }",
		"onlyDeclares()",
	}, []string{"=> 1", "=> 3", "=> 2stderr: govalent: a type was redefined, so the interpreter was rebuilt from the declarations; variables whose type changed (or is not known: cells not type-checked) were reset: x\n", "", "", "", "=> 7"})
}

// (A goroutine still running when the next cell starts races, in yaegi, with that cell growing the globals.)
func TestClosuresAndGoroutinesSeeTheSessionsVariables(t *testing.T) {
	expectCells(t, []string{
		"import \"sync\"\ncount := 0\nvar mu sync.Mutex\ninc := func() { mu.Lock(); count++; mu.Unlock() }\ndone := make(chan bool)\ngo func() { inc(); inc(); done <- true }()\n<-done",
		"inc()\ncount",
		"count := \"shadowed by a string\"\ninc()\ncount",
	}, []string{"=> true", "=> 3", "=> shadowed by a string"})
}

func TestNewerGoIsRewritten(t *testing.T) {
	expectCells(t, []string{
		`import "fmt"
for i := range 3 { fmt.Print(i) }
for range 2 { fmt.Print("x") }
type Count int
func (c Count) Next() Count { return c + 1 }
for c := range Count(2) { fmt.Print(" ", c.Next()) }
fmt.Println()`,
		`seq := func(yield func(int, string) bool) {
	for i, s := range []string{"a", "b", "c", "d"} {
		if !yield(i, s) {
			return
		}
	}
}
for i, s := range seq {
	if i == 1 {
		continue
	}
	if s == "d" {
		break
	}
	fmt.Print(i, s, " ")
}
fmt.Println()`,
		`var prints []func()
for i := 0; i < 3; i++ {
	prints = append(prints, func() { fmt.Print(i) })
}
for _, s := range []string{"a", "b"} {
	prints = append(prints, func() { fmt.Print(s) })
}
for _, p := range prints { p() }
fmt.Println()`,
		`a, b := 3, 1.5
fmt.Println(min(a, 2, 7), max(b, 2.5), min("b", "a"), max(1, 2.0))
m := map[string]int{"k": 1}
s := []int{1, 2}
clear(m)
clear(s)
fmt.Println(len(m), s)`,
		`x := 1
defer fmt.Println("deferred with", x)
x = 2`,
	}, []string{"012xx 1 2\n", "0a 2c \n", "012ab\n", "2 2.5 a 2\n0 [0 0]\n", "deferred with 1\n"})
}

func TestReturnInsideARangeOverAnIteratorFunc(t *testing.T) {
	expectCells(t, []string{
		`seq := func(yield func(int) bool) {
	for i := 1; i <= 5; i++ {
		if !yield(i * i) {
			return
		}
	}
}
func firstAbove(n int) (int, bool) {
	for x := range seq {
		if x > n {
			return x, true
		}
	}
	return 0, false
}
func named(n int) (v int, err error) {
	for x := range seq {
		if x > n {
			v = x
			return
		}
	}
	return -1, nil
}
a, ok := firstAbove(5)
b, ok2 := firstAbove(100)
c, _ := named(10)
for x := range seq {
	if x > 3 {
		a += 100
		return
	}
}
a = -1`,
		"fmt.Println(a, ok, b, ok2, c)",
	}, []string{"", "109 true 0 false 16\nstderr: govalent: imported \"fmt\"\n"})
}

func TestRangeOverAnIteratorFuncRefusesWhatItCannotRewrite(t *testing.T) {
	got := cellRun(t, "seq := func(yield func(int) bool) { yield(1) }\nfor x := range seq {\n\tdefer println(x)\n}")
	if !strings.Contains(got[0], "cell1:3:2: a defer inside a loop over an iterator func is not supported by the interpreter") {
		t.Fatalf("got %q", got[0])
	}
}

func TestMissingStandardImportsAreAdded(t *testing.T) {
	expectCells(t, []string{"strings.Repeat(\"ab\", 2)", "fmt.Sprint(strconv.Itoa(4))",
		"s := []int{3, 1}\nslices.Sort(s)\nfmt.Println(s, slices.Sorted(maps.Keys(map[int]bool{2: true, 1: true})), cmp.Compare(1, 2))"},
		[]string{"=> abab" + "stderr: govalent: imported \"strings\"\n", "=> 4stderr: govalent: imported \"fmt\", \"strconv\"\n",
			"[1 3] [1 2] -1\nstderr: govalent: imported \"cmp\", \"maps\", \"slices\"\n"})
}

func TestOsExitEndsTheCellWithItsStatus(t *testing.T) {
	s, out, _ := newSession(t)
	_, err := s.Eval(context.Background(), "import (\"fmt\"; \"os\")\ndefer fmt.Println(\"deferred\")\nfunc main() {\n\tos.Exit(3)\n}")
	var exit *ExitError
	if !errors.As(err, &exit) || exit.Code != 3 || exit.Line != 4 {
		t.Fatalf("err %v", err)
	}
	if out.String() != "deferred\n" {
		t.Fatalf("out %q", out)
	}
}

// A top-level comma-ok define makes yaegi's compiler log "nil type" and panic (cells never reach it so since
// they are type-checked and run as a function body): the panic is an error at the cell's line, the log line is
// dropped.
func TestInterpreterCompilePanicsAreCellErrorsWithoutLogLines(t *testing.T) {
	s, _, _ := newSession(t)
	var buf bytes.Buffer
	prev := log.Writer()
	if _, ok := prev.(internalLogFilter); !ok {
		t.Fatal("New does not filter the standard logger")
	}
	log.SetOutput(internalLogFilter{&buf})
	defer log.SetOutput(prev)
	_, err := s.compile("cell9", s.directive("cell9", 3, 1)+`v, ok := map[string]int{}["a"]`)
	var ce *CellError
	if !errors.As(err, &ce) || ce.Cell != "cell9" || ce.Line != 3 || !strings.Contains(ce.Msg, "nil type") {
		t.Fatalf("%#v", err)
	}
	log.Print("a line of the program")
	if got := buf.String(); strings.Contains(got, "nil type") || !strings.Contains(got, "a line of the program") {
		t.Fatalf("log output %q", got)
	}
}

func TestGenericFuncsWithInferredTypeArguments(t *testing.T) {
	expectCells(t, []string{
		"func Map[T, U any](xs []T, f func(T) U) []U {\n\tvar out []U\n\tfor _, x := range xs {\n\t\tout = append(out, f(x))\n\t}\n\treturn out\n}",
		"Map([]int{1, 2}, func(i int) string { return strings.Repeat(\"a\", i) })",
	}, []string{"", "=> [a aa]stderr: govalent: imported \"strings\"\n"})
}

// A method with a pointer receiver called through a loop variable takes its address: each iteration's own.
func TestLoopVariablesWhoseAddressAMethodTakes(t *testing.T) {
	expectCells(t, []string{`type C struct{ n int }
func (c *C) Get() int { return c.n }
var gets []func() int
for _, c := range []C{{1}, {2}} {
	gets = append(gets, c.Get)
}
gets[0]() + 10*gets[1]()`}, []string{"=> 21"})
}

// Go evaluates a method value's receiver, and a go or defer statement's receiver, where they are written.
func TestReceiversAreEvaluatedWhereGoEvaluatesThem(t *testing.T) {
	expectCells(t, []string{`import ("fmt"; "sync")
type C struct{ n int }
func (c *C) Get() int { return c.n }
func (c C) Val() int { return c.n }
c := C{1}
get, val := c.Get, c.Val
defer fmt.Println("deferred", c.Val())
defer c.Print()
c.n = 2
fmt.Println(get(), val())
var wg sync.WaitGroup
func (c C) Print() { fmt.Println("print", c.n) }
func (c C) Add(m map[int]bool, mu *sync.Mutex) { defer wg.Done(); mu.Lock(); m[c.n] = true; mu.Unlock() }
seen := map[int]bool{}
var mu sync.Mutex
for _, c := range []C{{1}, {2}, {3}} {
	wg.Add(1)
	go c.Add(seen, &mu)
}
wg.Wait()
fmt.Println(len(seen))`}, []string{"2 1\n3\nprint 1\ndeferred 1\n"})
}

// Arguments evaluated before a go or defer statement keep the rewrites inside them.
func TestRewritesInsideArgumentsOfGoAndDefer(t *testing.T) {
	expectCells(t, []string{`import "fmt"
a, b := 3, 2
done := make(chan int)
go func(n int) { done <- n }(min(a, b))
defer fmt.Println("deferred", max(a, b))
fmt.Println(<-done)`}, []string{"2\ndeferred 3\n"})
}

// A program may declare a name the session pre-imports (ct, display): its own declaration wins, as in Go.
func TestCellsMayDeclareThePreImportedNames(t *testing.T) {
	expectCells(t, []string{"var ct = 3\nct + 1", "ct * 2"}, []string{"=> 4", "=> 6"})
}

func TestRangeWithAssignmentAndClearOfNaNKeys(t *testing.T) {
	expectCells(t, []string{`import ("fmt"; "math")
i, v := 0, ""
for i, v = range []string{"a", "b", "c"} {
}
m := map[float64]int{math.NaN(): 1, math.NaN(): 2, 1: 3}
clear(m)
fmt.Println(i, v, len(m), min(1.0, math.NaN(), 0), max(-0.0, 0.0))`}, []string{"2 c 0 NaN 0\n"})
}

// The generic standard library (interp/stdlib) works from type-checked cells, with values of compiled
// packages' types (strings.Fields, http.Header, time.Duration) and of the cell's own.
func TestGenericStandardLibraryInCells(t *testing.T) {
	expectCells(t, []string{`import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

type Celsius float64

words := strings.Fields("pear apple fig")
slices.Sort(words)
fmt.Println(words, slices.Index(words, "fig"))
h := http.Header{"B": {"1"}, "A": {"2"}}
fmt.Println(slices.Sorted(maps.Keys(h)))
temps := []Celsius{3, -1, 2}
slices.Sort(temps)
fmt.Println(temps, slices.Max(temps))
ds := []time.Duration{3 * time.Second, time.Millisecond}
slices.Sort(ds)
fmt.Println(ds)
i, found := slices.BinarySearch(words, "fig")
fmt.Println(i, found)`,
		`for k, v := range maps.All(map[string]int{"x": 1}) {
	fmt.Println(k, v)
}
slices.Contains(words, "fig")`,
	}, []string{
		"[apple fig pear] 1\n[A B]\n[-1 2 3] 3\n[1ms 3s]\n1 true\n",
		"x 1\n=> true",
	})
}

// What yaegi would get wrong is refused: a generic func named like one of the generic standard library that
// the session imports (either order), and the all-generic packages there is no interpreted copy of.
func TestGenericNamesYaegiWouldMixUpAreRefused(t *testing.T) {
	const refused = "would be mixed up with slices.Max by the interpreter"
	got := cellRun(t,
		"func Max[T int | float64](a, b T) T { if a > b { return a }; return b }",
		`import "slices"`,
		"Max(1, 2)",
		`import "maps"`,
		"func Keys[K comparable](m map[K]int) int { return len(m) }",
		"func Min(a, b int) int { return a }",
		`import "unique"`)
	for i, want := range []string{"", refused, "=> 2", "", "would be mixed up with maps.Keys", "", `package "unique" cannot be imported in a cell`} {
		if !strings.Contains(got[i], want) || (want == "" && got[i] != "") {
			t.Errorf("cell %d: %q, want %q", i+1, got[i], want)
		}
	}
}

// A long session: every executed cell is a source of its own in the interpreter's line space, which must not
// run out after a thousand cells.
func TestThousandsOfCells(t *testing.T) {
	s, _, _ := newSession(t)
	for i := 1; i <= 1500; i++ {
		if _, err := s.EvalNamed(context.Background(), fmt.Sprintf("cell%d", i), fmt.Sprintf("x%d := %d", i%7, i)); err != nil {
			t.Fatalf("cell %d: %v", i, err)
		}
	}
	if _, err := s.EvalNamed(context.Background(), "cell1501", "y := undefinedName"); err == nil || !strings.Contains(err.Error(), "cell1501:1:") {
		t.Fatalf("an error in cell 1501: %v", err)
	}
}

// unsafe is importable, as Go's own test programs and low-level code expect.
func TestUnsafeIsImportable(t *testing.T) {
	expectCells(t, []string{`import (
	"fmt"
	"unsafe"
)
var x int64
*(*int64)(unsafe.Pointer(&x)) = 5
fmt.Println(unsafe.Sizeof(x), x)`}, []string{"8 5\n"})
}

// A call of several results as a cell's last statement shows them all, as gophernotes does.
func TestACallOfSeveralResultsShowsThem(t *testing.T) {
	expectCells(t, []string{
		"import \"strconv\"\nstrconv.Atoi(\"3\")",
		"func two() (int, string) { return 1, \"a\" }\ntwo()",
		"strconv.Atoi(\"x\")",
	}, []string{"=> 3 <nil>", "=> 1 a", "=> 0 strconv.Atoi: parsing \"x\": invalid syntax"})
}
