package interp

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/govalent/govalent/ct"
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
var square = ct.Electron(Square, ct.Executor("local"))
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
func runGraph(t *testing.T, g *ct.Graph, prog ct.Program) json.RawMessage {
	t.Helper()
	w, _, _ := newSession(t)
	if err := w.LoadProgram(context.Background(), prog.Source); err != nil {
		t.Fatalf("load program: %v\n%s", err, prog.Source)
	}
	outs := map[int]json.RawMessage{}
	argVal := func(a ct.Arg) json.RawMessage {
		if a.Node != nil {
			return outs[*a.Node]
		}
		return a.Value
	}
	for _, n := range g.Nodes { // nodes are recorded in dependency order
		var args []json.RawMessage
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
			b, _ := json.Marshal(args)
			outs[n.ID] = b
		default:
			t.Fatalf("kind %s not handled here", n.Kind)
		}
	}
	return argVal(g.Output)
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
	if got := string(runGraph(t, g, prog)); got != "770" {
		t.Fatalf("result = %s, want 770\n%s", got, prog.Source)
	}
	if g.Nodes[0].Name != "Add" || g.Nodes[22].Name != "double" || g.Nodes[1].Executor != "local" {
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
	if got := string(runGraph(t, g, prog)); got != "72" {
		t.Fatalf("result = %s, want 72\n%s", got, prog.Source)
	}
	if !strings.Contains(prog.Source, "x * x * x") {
		t.Fatal(prog.Source)
	}
}
