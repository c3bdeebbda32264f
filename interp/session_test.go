package interp

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/ct/codec"
)

func newSession(t *testing.T) (*Session, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	var out, errb bytes.Buffer
	s, err := New(Options{Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, &out, &errb
}

func eval(t *testing.T, s *Session, src string) Result {
	t.Helper()
	r, err := s.Eval(context.Background(), src)
	if err != nil {
		t.Fatalf("eval %q: %v", src, err)
	}
	return r
}

const pipelineCell = `import ct "github.com/govalent/govalent/ct"

func Add(a, b int) int { return a + b }
func Square(x int) int { return x * x }
func Total(xs []int) int { s := 0; for _, x := range xs { s += x }; return s }

var add = ct.Electron(Add)
var square = ct.Electron(Square, ct.Executor("local"), ct.With("vcpu", 2))
var total = ct.Electron(Total)
var double = ct.Electron(func(x int) int { return 2 * x }) // func literals are electrons too

var pipeline = ct.Lattice(func(n int) ct.Future {
	var parts []ct.Future
	for i := 0; i < n; i++ {
		parts = append(parts, square(add(i, 1)))
	}
	return double(total(parts))
})

g, prog, err := ct.BuildGraph(pipeline, 10)
`

// runGraph executes a graph in-process, in a second session built only from the shipped program, the way a
// worker does.
func runGraph(t *testing.T, g *ct.Graph, prog ct.Program) string {
	t.Helper()
	w, _, _ := newSession(t)
	if err := w.LoadProgram(context.Background(), prog.Source); err != nil {
		t.Fatalf("load program: %v\n%s", err, prog.Source)
	}
	outs := map[int][]byte{}
	argVal := func(a ct.Arg) []byte {
		if a.Node != nil {
			return outs[*a.Node]
		}
		return a.Encoded
	}
	for _, n := range g.Nodes { // nodes are recorded in dependency order
		var args [][]byte
		for _, a := range n.Args {
			args = append(args, argVal(a))
		}
		switch n.Kind {
		case ct.KindElectron:
			out, err := w.Call(n.Entry, args)
			if err != nil {
				t.Fatalf("node %d %s: %v", n.ID, n.Name, err)
			}
			outs[n.ID] = out
		case ct.KindList:
			outs[n.ID] = codec.List(args)
		default:
			t.Fatalf("kind %s not handled here", n.Kind)
		}
	}
	out, err := codec.ToJSON(argVal(g.Output))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestPipelineShipsAndRuns(t *testing.T) {
	s, _, _ := newSession(t)
	eval(t, s, pipelineCell)
	r := eval(t, s, "err")
	if r.Value.IsValid() && !r.Value.IsNil() {
		t.Fatalf("BuildGraph: %v", r.Value)
	}
	g := eval(t, s, "g").Value.Interface().(*ct.Graph)
	prog := eval(t, s, "prog").Value.Interface().(ct.Program)
	if len(g.Nodes) != 23 {
		t.Errorf("nodes = %d, want 23 (10 add, 10 square, list, total, double)", len(g.Nodes))
	}
	if got := runGraph(t, g, prog); got != "770" {
		t.Fatalf("result = %s, want 770\n%s", got, prog.Source)
	}
	if g.Nodes[0].Name != "Add" || g.Nodes[22].Name != "double" || g.Nodes[1].Executor != "local" ||
		string(g.Nodes[1].Settings["vcpu"]) != "2" || g.Nodes[0].Settings != nil {
		t.Errorf("names/executors: %+v %+v %+v", g.Nodes[0], g.Nodes[22], g.Nodes[1])
	}
}

func TestRedefinedFuncIsShipped(t *testing.T) {
	s, _, _ := newSession(t)
	eval(t, s, pipelineCell)
	eval(t, s, "func Square(x int) int { return x * x * x }")
	eval(t, s, "g, prog, err = ct.BuildGraph(pipeline, 3)")
	g := eval(t, s, "g").Value.Interface().(*ct.Graph)
	prog := eval(t, s, "prog").Value.Interface().(ct.Program)
	// 2 * (1 + 8 + 27)
	if got := runGraph(t, g, prog); got != "72" {
		t.Fatalf("result = %s, want 72\n%s", got, prog.Source)
	}
	if !strings.Contains(prog.Source, "x * x * x") {
		t.Fatal(prog.Source)
	}
}

func TestMixedCellOrderAndValue(t *testing.T) {
	s, out, _ := newSession(t)
	r := eval(t, s, `x := 2
import "fmt"
func Double(v int) int { return 2 * v }
fmt.Println("x is", x)
type Box struct{ N int }
var b = Box{N: Double(x)}
b.N + 1`)
	if !r.Value.IsValid() || r.Value.Interface() != 5 {
		t.Fatalf("value %v", r.Value)
	}
	if out.String() != "x is 2\n" {
		t.Fatalf("stdout %q", out.String())
	}
}

func TestStatementWithoutValueIsNotStale(t *testing.T) {
	s, _, _ := newSession(t)
	eval(t, s, `import "time"`)
	if r := eval(t, s, "41 + 1"); r.Value.Interface() != 42 {
		t.Fatal(r.Value)
	}
	// yaegi's Eval would hand back a stale value here
	if r := eval(t, s, "time.Sleep(time.Millisecond)"); r.Value.IsValid() {
		t.Fatalf("a call without results has no value, got %v", r.Value)
	}
	if r := eval(t, s, "func two() (int, string) { return 1, \"a\" }\ntwo()"); fmt.Sprint(r.Value) != "1 a" {
		t.Fatalf("a call with several results has them all as its value, got %v", r.Value)
	}
	if r := eval(t, s, `import "fmt"`+"\n"+`fmt.Sprint("x")`); r.Value.Interface() != "x" {
		t.Fatalf("a call with one result has a value, got %v", r.Value)
	}
	if r := eval(t, s, `fmt.Println("hi")`); r.Value.IsValid() {
		t.Fatalf("fmt.Println's byte count is not a cell value, got %v", r.Value)
	}
	if r := eval(t, s, "y := 3"); r.Value.IsValid() {
		t.Fatalf("an assignment has no value, got %v", r.Value)
	}
}

func TestTopLevelFuncLiteralRunsOnce(t *testing.T) {
	s, out, _ := newSession(t)
	eval(t, s, `import "fmt"`)
	eval(t, s, `func() { fmt.Println("once") }()`)
	eval(t, s, `z := 1`)
	eval(t, s, `fmt.Println("later", z)`)
	if out.String() != "once\nlater 1\n" {
		t.Fatalf("stdout %q", out.String())
	}
}

func TestGoroutinePanicDoesNotKillTheProcess(t *testing.T) {
	s, _, errb := newSession(t)
	eval(t, s, `import "time"
v := 7
go func(n int) { panic(n) }(v)
time.Sleep(50 * time.Millisecond)
go func() { panic("second") }()
time.Sleep(50 * time.Millisecond)`)
	if !strings.Contains(errb.String(), "panic in goroutine: 7") || !strings.Contains(errb.String(), "panic in goroutine: second") {
		t.Fatalf("stderr %q", errb.String())
	}
}

func TestGoStatementEvaluatesArgumentsFirst(t *testing.T) {
	s, _, _ := newSession(t)
	// The goroutines get their results out through a channel: yaegi's frames are not safe for the race
	// detector when goroutines touch variables of the code that started them.
	eval(t, s, `func Collect() []int {
	results := make(chan [2]int, 3)
	for i := 0; i < 3; i++ {
		n := i * 10
		go func(k, v int, out chan [2]int) { out <- [2]int{k, v} }(i, n, results)
		n = -1
	}
	got := make([]int, 3)
	for i := 0; i < 3; i++ {
		r := <-results
		got[r[0]] = r[1]
	}
	return got
}`)
	if r := eval(t, s, "Collect()"); !reflect.DeepEqual(r.Value.Interface(), []int{0, 10, 20}) {
		t.Fatalf("got %v", r.Value)
	}
}

func TestRedefinedTypeRebuildsTheInterpreter(t *testing.T) {
	s, _, errb := newSession(t)
	eval(t, s, `type P struct{ A int }
func Show(p P) int { return p.A }
keep := 1
old := P{A: 1}
import "bufio"
import "strings"
var r = bufio.NewReader(strings.NewReader("line"))
func Read() string { s, _ := r.ReadString('\n'); return s }`)
	r, err := s.Eval(context.Background(), `type P struct{ A, B int }
func Show(p P) int { return p.A + p.B }
Show(P{A: 1, B: 2})`)
	if err != nil {
		t.Fatal(err)
	}
	if r.Value.Interface() != 3 {
		t.Fatalf("value %v", r.Value)
	}
	// variables keep their values unless their type changed; a var's initializer is not run again
	if len(r.Warnings) != 1 || !strings.HasSuffix(r.Warnings[0], "were reset: old") || !strings.Contains(errb.String(), "reset: old") {
		t.Fatalf("warnings %q, stderr %q", r.Warnings, errb.String())
	}
	if v := eval(t, s, "keep + len(Read())").Value; v.Interface() != 5 {
		t.Fatalf("value %v", v)
	}
}

func TestRedefinedFuncReachesItsCallers(t *testing.T) {
	s, _, _ := newSession(t)
	eval(t, s, `func Inner() int { return 1 }
func Outer() int { return Inner() * 10 }
kept := 5`)
	eval(t, s, `func Inner() int { return 2 }`)
	if r := eval(t, s, "Outer() + kept"); r.Value.Interface() != 25 {
		t.Fatalf("Outer still calls the old Inner: %v", r.Value)
	}
}

func TestErrorsPointAtCellLines(t *testing.T) {
	s, _, _ := newSession(t)
	cases := []struct{ src, want string }{
		{"x := 1\n\nfunc F() int {\n\treturn undefinedThing\n}", "cell1:4:9: undefined: undefinedThing"},
		{"a := 1\nb := a +\n", "cell2:3:1: expected operand"},
		{"import \"fmt\"\nfunc G() {\n\tpanic(fmt.Sprint(\"bad \", 1))\n}\nG()", "cell3:3:8: panic: bad 1"},
	}
	for _, c := range cases {
		_, err := s.Eval(context.Background(), c.src)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.src, err, c.want)
		}
	}
	if _, err := s.Eval(context.Background(), "1 + 1"); err != nil {
		t.Fatalf("the session is still usable: %v", err)
	}
}

func TestShipRefusesLocalsOfEnclosingFuncs(t *testing.T) {
	s, _, _ := newSession(t)
	eval(t, s, `func Make(k int) *ct.Workflow {
	scaled := ct.Electron(func(x int) int { return x * k })
	return ct.Lattice(func() ct.Future { return scaled(2) })
}`)
	_, err := s.Eval(context.Background(), `_, _, err := ct.BuildGraph(Make(3))
if err != nil { panic(err) }`)
	if err == nil || !strings.Contains(err.Error(), "uses k, which is not declared at the top level") {
		t.Fatalf("got %v", err)
	}
}

func TestCellsSeeTheEnvironment(t *testing.T) {
	t.Setenv("GOVALENT_TEST_VAR", "visible")
	s, _, _ := newSession(t)
	eval(t, s, `import "os"`)
	if r := eval(t, s, `os.Getenv("GOVALENT_TEST_VAR")`); r.Value.Interface() != "visible" {
		t.Fatalf("got %v", r.Value)
	}
}

// Declarations re-evaluated after a redefinition never include dispatches or other side effects.
func TestRedefinitionsDoNotRepeatSideEffects(t *testing.T) {
	s, out, _ := newSession(t)
	eval(t, s, `import "fmt"
func Bump() int { fmt.Println("SIDE EFFECT"); return 1 }
var n = Bump()
type T struct{ A int }
func Add(a, b int) int { return a + b }
var add = ct.Electron(Add)
var wf = ct.Lattice(func() ct.Future { return add(1, 2) })
var id, _ = ct.Dispatch(wf)`) // fails (no dispatcher): what matters is that it is not run again
	if d, ok := s.store.byName["id"]; !ok || d.shippable {
		t.Fatal("a var holding ct.Dispatch's result is not a side-effect-free declaration")
	}
	eval(t, s, `func Add(a, b int) int { return a * b }`) // refreshes add and wf
	eval(t, s, `type T struct{ A, B int }`)               // rebuilds the interpreter
	if c := strings.Count(out.String(), "SIDE EFFECT"); c != 1 {
		t.Fatalf("Bump ran %d times", c)
	}
}
