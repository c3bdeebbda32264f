package ct

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govalent/govalent/ct/codec"
)

// The lattices here are built from compiled Go funcs wrapped in Ship, as package interp does for notebook code,
// and shipped by fakeShipper: no interpreter and no dispatcher are involved.

type point struct {
	X      int `json:"x"`
	Y      int
	hidden int
	Skip   int `json:"-"`
}

type pair struct{ A, B Future }

type withHidden struct {
	N int
	f Future // unexported: JSON leaves it out, so it is not a future argument
}

// addInts is named: the default names of electrons and lattices come from Go func names.
func addInts(a, b int) int { return a + b }

// testSession is the interpreter session the test electrons come from; entries are "e:" + the ref's key.
const testSession = "t"

func shipped(key string, fn any, opts ...Option) ElectronFunc {
	return Electron(Ship(testSession+"/"+key, key, fn), opts...)
}

var (
	eAdd     = shipped("add", addInts)
	eSquare  = shipped("square", func(x int) int { return x * x })
	eTotal   = shipped("total", func(xs []int) int { return len(xs) })
	eDouble  = shipped("double", func(x int) int { return 2 * x })
	eWords   = shipped("words", func(n int) []string { return nil })
	eCounts  = shipped("counts", func(s string) map[string]int { return nil })
	eNames   = shipped("names", func() map[int]string { return nil })
	eSplit   = shipped("split", func(s string) (string, string) { return s, s })
	eDivmod  = shipped("divmod", func(a, b int) (int, int, error) { return a / b, a % b, nil })
	eMkPoint = shipped("mkPoint", func(x, y int) point { return point{X: x, Y: y} })
	eMkPtr   = shipped("mkPointPtr", func(x, y int) *point { return &point{X: x, Y: y} })
	ePoints  = shipped("points", func() ([]point, error) { return nil, nil })
	ePointsN = shipped("pointsN", func() ([]point, int) { return nil, 0 })
	eShow    = shipped("show", func(v any) string { return fmt.Sprint(v) })
	eSum     = shipped("sum", func(first int, rest ...int) int { return first })
	eTouch   = shipped("touch", func() {})
	// Electrons need a source reference to ship; one from compiled code has none, and runs in its program's
	// executable only when the program's main calls ct.Main (compiled_test.go), which this test's does not.
	eUnshipped = Electron(addInts)
)

// pipeline is the README's example.
var pipeline = lattice(func(n int) Future {
	var parts []Future
	for i := 0; i < n; i++ {
		parts = append(parts, eSquare(eAdd(i, 1)))
	}
	return eDouble(eTotal(parts))
})

type fakeShipper struct {
	mu   sync.Mutex
	refs [][]string // what each Ship call was asked for
	err  error
}

func (s *fakeShipper) Ship(refs []string) (Program, map[string]string, error) {
	s.mu.Lock()
	s.refs = append(s.refs, refs)
	s.mu.Unlock()
	if s.err != nil {
		return Program{}, nil, s.err
	}
	entries := map[string]string{}
	for _, r := range refs {
		_, key, _ := strings.Cut(r, "/")
		entries[r] = "e:" + key
	}
	return Program{Source: strings.Join(refs, "\n")}, entries, nil
}

func useShipper(t *testing.T) *fakeShipper {
	t.Helper()
	sh := &fakeShipper{}
	RegisterShipper(testSession, sh)
	t.Cleanup(func() { UnregisterShipper(testSession) })
	return sh
}

func lattice(fn any, opts ...Option) *Workflow {
	return Lattice(fn, append([]Option{Name("wf")}, opts...)...)
}

func ref(id int) Arg            { return Arg{Node: &id} }
func val(js string) Arg         { return Arg{Value: json.RawMessage(js)} }
func named(n string, a Arg) Arg { a.Name = n; return a }

// el is an electron node called key (its ref and its name), with args named arg0, arg1, ...
func el(id int, key string, args ...Arg) Node {
	for i := range args {
		args[i].Name = fmt.Sprintf("arg%d", i)
	}
	return Node{ID: id, Name: key, Kind: KindElectron, Entry: "e:" + key, Args: args}
}

func listNode(id int, args ...Arg) Node {
	return Node{ID: id, Name: "list", Kind: KindList, Args: args}
}
func dictNode(id int, args ...Arg) Node {
	return Node{ID: id, Name: "dict", Kind: KindDict, Args: args}
}
func indexNode(id, from, i int) Node {
	return Node{ID: id, Name: fmt.Sprintf("[%d]", i), Kind: KindIndex, Index: i, Args: []Arg{ref(from)}}
}
func keyNode(id, from int, k string) Node {
	return Node{ID: id, Name: fmt.Sprintf("[%q]", k), Kind: KindKey, Key: k, Args: []Arg{ref(from)}}
}
func fieldNode(id, from int, goName, jsonKey string) Node {
	return Node{ID: id, Name: "." + goName, Kind: KindField, Key: jsonKey, Args: []Arg{ref(from)}}
}

// checkShape asserts what the dispatcher's validate requires of a graph (ids 0..n-1 in order, known kinds,
// entries on electrons, one input on selections, no negative retries or time limits, references in range, no
// cycle), and that collection and selection inputs come before the node, as the builder makes them.
func checkShape(t *testing.T, g *Graph) {
	t.Helper()
	if err := g.Validate(); err != nil {
		t.Error(err)
	}
	// Stricter than the dispatcher: the builder makes each input before the node that takes it.
	for i, nd := range g.Nodes {
		for _, a := range nd.Args {
			if a.Node != nil && *a.Node >= i {
				t.Errorf("node %d takes node %d, which is not an earlier node", i, *a.Node)
			}
			if (a.Node == nil) == (len(a.Encoded) == 0) {
				t.Errorf("node %d has an argument that is neither a node nor a value: %+v", i, a)
			}
		}
		for _, d := range nd.WaitFor {
			if d == i {
				t.Errorf("node %d waits for itself", i)
			}
		}
	}
}

func assertGraph(t *testing.T, got *Graph, want Graph) {
	t.Helper()
	checkShape(t, got)
	asJSON := func(a *Arg) { // constants are encoded; the tests pin their JSON renderings
		if a.Encoded != nil {
			js, err := codec.ToJSON(a.Encoded)
			if err != nil {
				t.Fatal(err)
			}
			a.Value, a.Encoded = js, nil
		}
	}
	for i := range got.Nodes {
		for k := range got.Nodes[i].Args {
			asJSON(&got.Nodes[i].Args[k])
		}
	}
	asJSON(&got.Output)
	if !reflect.DeepEqual(*got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("graph:\n%s\nwant:\n%s", g, w)
	}
}

func build(t *testing.T, wf *Workflow, args ...any) *Graph {
	t.Helper()
	g, _, err := BuildGraph(wf, args...)
	if err != nil {
		t.Fatalf("BuildGraph: %v", err)
	}
	return g
}

func TestBuildGraph(t *testing.T) {
	useShipper(t)
	sub := Lattice(Ship(testSession+"/inner", "inner", func(x int) Future { return eSquare(x) }), Executor("local"))
	eSub := Electron(sub, Retries(1))
	eSubRenamed := Electron(Ship(testSession+"/innerVar", "innerVar", sub), Name("child"))

	tests := []struct {
		name string
		wf   *Workflow
		args []any
		want Graph
	}{
		{
			name: "single electron",
			wf:   lattice(func(a, b int) Future { return eAdd(a, b) }),
			args: []any{1, 2},
			want: Graph{Name: "wf", Nodes: []Node{el(0, "add", val("1"), val("2"))}, Output: ref(0)},
		},
		{
			name: "chain",
			wf:   lattice(func(x int) Future { return eDouble(eSquare(eAdd(x, x))) }),
			args: []any{3},
			want: Graph{Name: "wf", Nodes: []Node{
				el(0, "add", val("3"), val("3")),
				el(1, "square", ref(0)),
				el(2, "double", ref(1)),
			}, Output: ref(2)},
		},
		{
			name: "README pipeline",
			wf:   pipeline,
			args: []any{2},
			want: Graph{Name: "wf", Nodes: []Node{
				el(0, "add", val("0"), val("1")),
				el(1, "square", ref(0)),
				el(2, "add", val("1"), val("1")),
				el(3, "square", ref(2)),
				listNode(4, ref(1), ref(3)),
				el(5, "total", ref(4)),
				el(6, "double", ref(5)),
			}, Output: ref(6)},
		},
		{
			name: "README pipeline, no parts: a nil slice of futures is a constant",
			wf:   pipeline,
			args: []any{0},
			want: Graph{Name: "wf", Nodes: []Node{el(0, "total", val("null")), el(1, "double", ref(0))}, Output: ref(1)},
		},
		{
			name: "one future used twice is one node",
			wf: lattice(func() Future {
				a := eSquare(2)
				return eAdd(a, a)
			}),
			want: Graph{Name: "wf", Nodes: []Node{
				el(0, "square", val("2")),
				el(1, "add", ref(0), ref(0)),
			}, Output: ref(1)},
		},
		{
			name: "lattice arguments converted through JSON, nil as the zero value",
			wf:   lattice(func(a int, xs []int) Future { return eAdd(a, eTotal(xs)) }),
			args: []any{float64(4), nil},
			want: Graph{Name: "wf", Nodes: []Node{
				el(0, "total", val("null")),
				el(1, "add", val("4"), ref(0)),
			}, Output: ref(1)},
		},
		{
			name: "variadic lattice",
			wf:   lattice(func(first int, rest ...int) Future { return eTotal(append([]int{first}, rest...)) }),
			args: []any{1, 2, float64(3)},
			want: Graph{Name: "wf", Nodes: []Node{el(0, "total", val("[1,2,3]"))}, Output: ref(0)},
		},
		{
			name: "variadic electron",
			wf: lattice(func() Future {
				eSum(1)
				return eSum(1, 2, eSquare(3))
			}),
			want: Graph{Name: "wf", Nodes: []Node{
				el(0, "sum", val("1")),
				el(1, "square", val("3")),
				el(2, "sum", val("1"), val("2"), ref(1)),
			}, Output: ref(2)},
		},
		{
			name: "electron without results",
			wf:   lattice(func() Future { return eTouch() }),
			want: Graph{Name: "wf", Nodes: []Node{el(0, "touch")}, Output: ref(0)},
		},
		{
			name: "options",
			wf: lattice(func() Future {
				return shipped("square", func(x int) int { return x * x }, Executor("local"), Name("sq"), Retries(2),
					TimeLimit(1500*time.Millisecond), Queue("gpu"), With("vcpu", 2), With("mem", "4G"),
					With("vcpu", 4))(3)
			}, Executor("awsbatch")),
			want: Graph{Name: "wf", Executor: "awsbatch", Nodes: []Node{{
				ID: 0, Name: "sq", Kind: KindElectron, Entry: "e:square", Args: []Arg{named("arg0", val("3"))},
				Executor: "local", Queue: "gpu", Retries: 2, TimeLimit: Duration(1500 * time.Millisecond),
				Settings: map[string]json.RawMessage{"vcpu": json.RawMessage("4"), "mem": json.RawMessage(`"4G"`)},
			}}, Output: ref(0)},
		},
		{
			name: "lattice name defaults to the func name, executor to none",
			wf:   Lattice(func() Future { return eTouch() }),
			want: Graph{Name: "lambda", Nodes: []Node{el(0, "touch")}, Output: ref(0)},
		},
		{
			name: "lattice name from a shipped lattice",
			wf:   Lattice(Ship(testSession+"/pipe", "pipe", func() Future { return eTouch() })),
			want: Graph{Name: "pipe", Nodes: []Node{el(0, "touch")}, Output: ref(0)},
		},
		{
			name: "sublattice",
			wf: lattice(func() Future {
				a := eSub(eSquare(2))
				return eSubRenamed(a.Index(0))
			}),
			want: Graph{Name: "wf", Nodes: []Node{
				el(0, "square", val("2")),
				{ID: 1, Name: "inner", Kind: KindSublattice, Entry: "e:inner", Args: []Arg{named("arg0", ref(0))}, Retries: 1},
				indexNode(2, 1, 0), // a sublattice's output type is unknown: any selection is taken
				{ID: 3, Name: "child", Kind: KindSublattice, Entry: "e:innerVar", Args: []Arg{named("arg0", ref(2))}},
			}, Output: ref(3)},
		},
		{
			name: "WaitFor",
			wf: lattice(func() Future {
				a := eSquare(1)
				b := eSquare(2)
				c := eSquare(3)
				d := WaitFor(eAdd(a, 1), b, c)
				WaitFor(d, a)
				return WaitFor(c) // no others: no edge
			}),
			want: Graph{Name: "wf", Nodes: []Node{
				el(0, "square", val("1")),
				el(1, "square", val("2")),
				el(2, "square", val("3")),
				func() Node { n := el(3, "add", ref(0), val("1")); n.WaitFor = []int{1, 2, 0}; return n }(),
			}, Output: ref(2)},
		},
		{
			name: "WaitFor a later node",
			wf: lattice(func() Future {
				a := eSquare(1)
				WaitFor(a, eSquare(2))
				return a
			}),
			want: Graph{Name: "wf", Nodes: []Node{
				func() Node { n := el(0, "square", val("1")); n.WaitFor = []int{1}; return n }(),
				el(1, "square", val("2")),
			}, Output: ref(0)},
		},
		{
			name: "output: a constant",
			wf:   lattice(func(s string) string { return s + "!" }),
			args: []any{"hi"},
			want: Graph{Name: "wf", Output: val(`"hi!"`)},
		},
		{
			name: "output: nil",
			wf:   lattice(func() any { return nil }),
			want: Graph{Name: "wf", Output: val("null")},
		},
		{
			name: "output: none",
			wf:   lattice(func() { eTouch() }),
			want: Graph{Name: "wf", Nodes: []Node{el(0, "touch")}},
		},
		{
			name: "output: a collection of futures",
			wf: lattice(func() map[string]any {
				a := eSquare(1)
				return map[string]any{"a": a, "n": 1, "l": []Future{a, a}}
			}),
			want: Graph{Name: "wf", Nodes: []Node{
				el(0, "square", val("1")),
				listNode(1, ref(0), ref(0)),
				dictNode(2, named("a", ref(0)), named("l", ref(1)), named("n", val("1"))),
			}, Output: ref(2)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertGraph(t, build(t, tt.wf, tt.args...), tt.want)
		})
	}
}

// TestConstantArgs pins the JSON value each kind of constant argument becomes.
func TestConstantArgs(t *testing.T) {
	useShipper(t)
	seven := 7
	var anyNil any
	tests := []struct {
		name string
		arg  any
		want string
	}{
		{"int", 42, "42"},
		{"negative float", -1.5, "-1.5"},
		{"bool", true, "true"},
		{"string", `hi "there"`, `"hi \"there\""`},
		{"pointer to int", &seven, "7"},
		{"struct: json names, unexported and - fields left out", point{X: 1, Y: 2, hidden: 3, Skip: 4}, `{"x":1,"Y":2}`},
		{"pointer to struct", &point{X: 1}, `{"x":1,"Y":0}`},
		{"nil pointer", (*point)(nil), "null"},
		{"slice", []int{1, 2}, "[1,2]"},
		{"empty slice", []int{}, "[]"},
		{"nil slice", []int(nil), "null"},
		{"array", [2]string{"a", "b"}, `["a","b"]`},
		{"slice of any", []any{1, "a", nil}, `[1,"a",null]`},
		{"map with sorted keys", map[string]int{"b": 2, "a": 1}, `{"a":1,"b":2}`},
		{"map with int keys", map[int]bool{2: true, 1: false}, `{"1":false,"2":true}`},
		{"nested", map[string][]int{"x": {1}}, `{"x":[1]}`},
		{"nil", nil, "null"},
		{"nil interface", anyNil, "null"},
		{"NaN", math.NaN(), `"NaN"`},
		{"-Inf", math.Inf(-1), `"-Inf"`},
		{"complex", complex(1, -2), `{"real":1,"imag":-2}`},
		{"raw JSON is bytes", json.RawMessage(`{"raw":true}`), `"eyJyYXciOnRydWV9"`},
		{"future in an unexported field", withHidden{N: 1, f: Future{node: 3}}, `{"N":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arg := tt.arg
			g := build(t, lattice(func() Future { return eShow(arg) }))
			assertGraph(t, g, Graph{Name: "wf", Nodes: []Node{el(0, "show", val(tt.want))}, Output: ref(0)})
		})
	}
}

// TestCollections pins the list and dict nodes made for futures inside slices, arrays, maps and pointers. Every
// lattice starts with a := square(1) (node 0) and b := square(2) (node 1) and returns show(x).
func TestCollections(t *testing.T) {
	useShipper(t)
	tests := []struct {
		name  string
		x     func(a, b Future) any
		nodes []Node // from node 2; the last one is what show takes
	}{
		{"slice of futures", func(a, b Future) any { return []Future{a, b} }, []Node{listNode(2, ref(0), ref(1))}},
		{"slice of any mixing futures and constants", func(a, b Future) any { return []any{a, 3, "x", nil, point{X: 1}} },
			[]Node{listNode(2, ref(0), val("3"), val(`"x"`), val("null"), val(`{"x":1,"Y":0}`))}},
		{"array", func(a, b Future) any { return [2]Future{b, a} }, []Node{listNode(2, ref(1), ref(0))}},
		{"pointer to a slice", func(a, b Future) any { return &[]Future{a} }, []Node{listNode(2, ref(0))}},
		{"future behind a pointer", func(a, b Future) any { return &a }, nil},
		{"nested slices", func(a, b Future) any { return [][]Future{{a}, {b, a}} },
			[]Node{listNode(2, ref(0)), listNode(3, ref(1), ref(0)), listNode(4, ref(2), ref(3))}},
		{"map of futures, keys in order", func(a, b Future) any { return map[string]Future{"b": b, "a": a, "c": a} },
			[]Node{dictNode(2, named("a", ref(0)), named("b", ref(1)), named("c", ref(0)))}},
		{"map with int keys", func(a, b Future) any { return map[int]Future{10: a, 9: b} },
			[]Node{dictNode(2, named("10", ref(0)), named("9", ref(1)))}},
		{"map of slices", func(a, b Future) any { return map[string][]Future{"y": {b}, "x": {a}} },
			[]Node{listNode(2, ref(0)), listNode(3, ref(1)), dictNode(4, named("x", ref(2)), named("y", ref(3)))}},
		{"slice of maps", func(a, b Future) any { return []map[string]any{{"k": a}, {"k": 1}} },
			[]Node{dictNode(2, named("k", ref(0))), listNode(3, ref(2), val(`{"k":1}`))}},
		{"map of any mixing futures and constants", func(a, b Future) any { return map[string]any{"f": a, "n": 1, "l": []any{b}} },
			[]Node{listNode(2, ref(1)), dictNode(3, named("f", ref(0)), named("l", ref(2)), named("n", val("1")))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := build(t, lattice(func() Future {
				a, b := eSquare(1), eSquare(2)
				return eShow(tt.x(a, b))
			}))
			nodes := append([]Node{el(0, "square", val("1")), el(1, "square", val("2"))}, tt.nodes...)
			last := len(nodes) - 1
			if len(tt.nodes) == 0 {
				last = 0 // the pointer case passes node a itself
			}
			nodes = append(nodes, el(len(nodes), "show", ref(last)))
			assertGraph(t, g, Graph{Name: "wf", Nodes: nodes, Output: ref(len(nodes) - 1)})
		})
	}
}

// TestCollectionsDeterministic: the same lattice builds the same graph every time, whatever Go's map order.
func TestCollectionsDeterministic(t *testing.T) {
	useShipper(t)
	wf := lattice(func() Future {
		m := map[string]any{}
		for i := 0; i < 12; i++ {
			m[fmt.Sprint("k", i)] = []Future{eSquare(i)}
		}
		return eShow(m)
	})
	first, _ := json.Marshal(build(t, wf))
	for i := 0; i < 20; i++ {
		if again, _ := json.Marshal(build(t, wf)); string(again) != string(first) {
			t.Fatalf("build %d differs:\n%s\nfirst:\n%s", i, again, first)
		}
	}
}

// TestSelect pins Index, Key and Field nodes and the output types they carry on to the next selection.
func TestSelect(t *testing.T) {
	useShipper(t)
	tests := []struct {
		name  string
		sel   func() Future
		nodes []Node
	}{
		{"Index of a slice", func() Future { return eWords(2).Index(1) },
			[]Node{el(0, "words", val("2")), indexNode(1, 0, 1)}},
		{"Index of a result of several", func() Future { return eSplit("a").Index(1) },
			[]Node{el(0, "split", val(`"a"`)), indexNode(1, 0, 1)}},
		{"Index of results before an error", func() Future { return eDivmod(7, 2).Index(0) },
			[]Node{el(0, "divmod", val("7"), val("2")), indexNode(1, 0, 0)}},
		{"Key of a map", func() Future { return eCounts("x").Key("a") },
			[]Node{el(0, "counts", val(`"x"`)), keyNode(1, 0, "a")}},
		{"Key of a map with int keys", func() Future { return eNames().Key(3) },
			[]Node{el(0, "names"), keyNode(1, 0, "3")}},
		{"Field by JSON tag", func() Future { return eMkPoint(1, 2).Field("X") },
			[]Node{el(0, "mkPoint", val("1"), val("2")), fieldNode(1, 0, "X", "x")}},
		{"Field without a tag", func() Future { return eMkPoint(1, 2).Field("Y") },
			[]Node{el(0, "mkPoint", val("1"), val("2")), fieldNode(1, 0, "Y", "Y")}},
		{"Field through a pointer", func() Future { return eMkPtr(1, 2).Field("X") },
			[]Node{el(0, "mkPointPtr", val("1"), val("2")), fieldNode(1, 0, "X", "x")}},
		{"element of the result before an error", func() Future { return ePoints().Index(2).Field("X") },
			[]Node{el(0, "points"), indexNode(1, 0, 2), fieldNode(2, 1, "X", "x")}},
		{"chained: result, element, field", func() Future { return ePointsN().Index(0).Index(2).Field("X") },
			[]Node{el(0, "pointsN"), indexNode(1, 0, 0), indexNode(2, 1, 2), fieldNode(3, 2, "X", "x")}},
		{"selection passed on", func() Future { return eAdd(eDivmod(7, 2).Index(0), eDivmod(7, 2).Index(1)) },
			[]Node{el(0, "divmod", val("7"), val("2")), indexNode(1, 0, 0), el(2, "divmod", val("7"), val("2")), indexNode(3, 2, 1), el(4, "add", ref(1), ref(3))}},
		{"untyped output: anything goes", func() Future { return eTouch().Index(4).Key("k").Field("F") },
			[]Node{el(0, "touch"), indexNode(1, 0, 4), keyNode(2, 1, "k"), fieldNode(3, 2, "F", "F")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := build(t, lattice(tt.sel))
			assertGraph(t, g, Graph{Name: "wf", Nodes: tt.nodes, Output: ref(len(tt.nodes) - 1)})
		})
	}
}

// TestBuildErrors pins the error BuildGraph returns for each mistake the builder catches.
func TestBuildErrors(t *testing.T) {
	useShipper(t)
	var escaped Future
	keep := build(t, lattice(func() Future { escaped = eSquare(1); return escaped }))
	if escaped.NodeID() != 0 || len(keep.Nodes) != 1 {
		t.Fatalf("escaped future: node %d of %d", escaped.NodeID(), len(keep.Nodes))
	}
	RegisterShipper("other", &fakeShipper{})
	t.Cleanup(func() { UnregisterShipper("other") })
	RegisterShipper("broken", &fakeShipper{err: errors.New("cannot ship x: a channel")})
	t.Cleanup(func() { UnregisterShipper("broken") })

	tests := []struct {
		name string
		wf   *Workflow
		args []any
		want string
	}{
		{"nil workflow", nil, nil, "ct: nil workflow"},
		{"too many lattice arguments", lattice(func(a int) Future { return eSquare(a) }), []any{1, 2},
			"ct: lattice wf takes 1 arguments, got 2"},
		{"too few lattice arguments", lattice(func(a, b int) Future { return eAdd(a, b) }), []any{1},
			"ct: lattice wf takes 2 arguments, got 1"},
		{"too few variadic lattice arguments", lattice(func(a int, xs ...int) Future { return eSquare(a) }), nil,
			"ct: lattice wf takes at least 1 arguments, got 0"},
		{"lattice argument of the wrong type", lattice(func(a int) Future { return eSquare(a) }), []any{"x"},
			"ct: lattice wf argument 1: cannot use string as int: codec: cannot decode a text string into int"},
		{"variadic lattice argument of the wrong type", lattice(func(xs ...int) Future { return eTotal(xs) }), []any{1, "x"},
			"ct: lattice wf argument 2: cannot use string as int: codec: cannot decode a text string into int"},
		{"lattice argument that cannot be encoded", lattice(func(a int) Future { return eSquare(a) }), []any{make(chan int)},
			"ct: lattice wf argument 1: codec: cannot encode a value of type chan int (a chan)"},
		{"lattice returning two values", lattice(func() (Future, error) { return eSquare(1), nil }), nil,
			"ct: lattice wf must return one value"},
		{"output that cannot be encoded", lattice(func() chan int { return make(chan int) }), nil,
			"ct: lattice wf output: codec: cannot encode a value of type chan int (a chan)"},
		{"output with futures in a struct", lattice(func() pair { return pair{A: eSquare(1)} }), nil,
			"ct: lattice wf output: futures inside a ct.pair are not supported: pass them as separate arguments or in a slice or map"},
		{"panic", lattice(func() Future { panic("boom") }), nil, "ct: lattice wf: boom"},
		{"panic with an error", lattice(func() Future { panic(errors.New("bad")) }), nil, "ct: lattice wf: bad"},
		{"unshipped electron", lattice(func() Future { return eUnshipped(1, 2) }), nil,
			"ct: electron addInts has no shippable source: electrons must be declared in notebook cells or files run by govalent run, or be package-level values of a compiled program whose main calls ct.Main() first"},
		{"too few electron arguments", lattice(func() Future { return eAdd(1) }), nil, "ct: add takes 2 arguments, got 1"},
		{"too many electron arguments", lattice(func() Future { return eAdd(1, 2, 3) }), nil, "ct: add takes 2 arguments, got 3"},
		{"too few variadic electron arguments", lattice(func() Future { return eSum() }), nil, "ct: sum takes at least 1 arguments, got 0"},
		{"too many sublattice arguments", lattice(func() Future {
			return Electron(Lattice(Ship(testSession+"/in", "in", func(x int) Future { return eSquare(x) })))(1, 2)
		}), nil, "ct: in takes 1 arguments, got 2"},
		{"the first error wins", lattice(func() Future { eAdd(1); return eSquare(1, 2) }), nil, "ct: add takes 2 arguments, got 1"},
		{"electron argument that cannot be encoded", lattice(func() Future { return eAdd(1, make(chan int)) }), nil,
			"ct: add argument 2: codec: cannot encode a value of type chan int (a chan)"},
		{"electron argument that is a func", lattice(func() Future { return eShow(func() {}) }), nil,
			"ct: show argument 1: codec: cannot encode a value of type func() (a func)"},
		{"futures in a struct", lattice(func() Future { return eShow(pair{A: eSquare(1)}) }), nil,
			"ct: show argument 1: futures inside a ct.pair are not supported: pass them as separate arguments or in a slice or map"},
		{"futures in a struct in a slice", lattice(func() Future { return eShow([]any{pair{B: eSquare(1)}}) }), nil,
			"ct: show argument 1: futures inside a ct.pair are not supported: pass them as separate arguments or in a slice or map"},
		{"futures in a struct in a map", lattice(func() Future { return eShow(map[string]any{"p": pair{B: eSquare(1)}}) }), nil,
			"ct: show argument 1: futures inside a ct.pair are not supported: pass them as separate arguments or in a slice or map"},
		{"setting that is not JSON", lattice(func() Future {
			return shipped("square", func(x int) int { return x * x }, With("bad", make(chan int)))(1)
		}), nil,
			`ct: square setting "bad": json: unsupported type: chan int`},
		{"future of another lattice passed", lattice(func() Future { return eSquare(escaped) }), nil,
			"ct: lattice wf: ct: passing on a Future outside the lattice that made it"},
		{"future of another lattice in a slice", lattice(func() Future { return eTotal([]Future{escaped}) }), nil,
			"ct: lattice wf: ct: passing on a Future outside the lattice that made it"},
		{"future of another lattice returned", lattice(func() Future { return escaped }), nil,
			"ct: lattice wf: ct: passing on a Future outside the lattice that made it"},
		{"zero Future returned", lattice(func() Future { return Future{} }), nil,
			"ct: lattice wf: ct: passing on a Future outside the lattice that made it"},
		{"future of another lattice selected", lattice(func() Future { return escaped.Index(0) }), nil,
			"ct: lattice wf: ct: Index on a Future outside the lattice that made it"},
		{"future of another lattice waited for", lattice(func() Future { return WaitFor(eSquare(1), escaped) }), nil,
			"ct: lattice wf: ct: WaitFor on a Future outside the lattice that made it"},
		{"Index out of range of the results", lattice(func() Future { return eSplit("a").Index(2) }), nil,
			"ct: Index(2) out of range: the electron returns 2 values"},
		{"negative Index of the results", lattice(func() Future { return eDivmod(1, 2).Index(-1) }), nil,
			"ct: Index(-1) out of range: the electron returns 2 values"},
		{"Index on a struct", lattice(func() Future { return eMkPoint(1, 2).Index(0) }), nil, "ct: Index on a ct.point; use Field"},
		{"Index on an int", lattice(func() Future { return eSquare(1).Index(0) }), nil, "ct: Index on a int"},
		{"Index on a map", lattice(func() Future { return eCounts("x").Index(0) }), nil, "ct: Index on a map[string]int"},
		{"Index on a selected string", lattice(func() Future { return eSplit("a").Index(0).Index(0) }), nil, "ct: Index on a string"},
		{"Key on a slice", lattice(func() Future { return eWords(1).Key("a") }), nil, "ct: Key on a []string"},
		{"Key on a struct", lattice(func() Future { return eMkPoint(1, 2).Key("x") }), nil, "ct: Key on a ct.point"},
		{"Field that does not exist", lattice(func() Future { return eMkPoint(1, 2).Field("Z") }), nil,
			`ct: Field("Z"): ct.point has no such field`},
		{"Field by its JSON name", lattice(func() Future { return eMkPoint(1, 2).Field("x") }), nil,
			`ct: Field("x"): ct.point has no such field`},
		{"unexported Field", lattice(func() Future { return eMkPoint(1, 2).Field("hidden") }), nil,
			`ct: Field("hidden"): ct.point has no such field`},
		{"Field JSON leaves out", lattice(func() Future { return eMkPtr(1, 2).Field("Skip") }), nil,
			`ct: Field("Skip"): *ct.point has no such field`},
		{"Field on an int", lattice(func() Future { return eSquare(1).Field("X") }), nil,
			`ct: Field("X"): int has no such field`},
		{"Field of the results", lattice(func() Future { return eSplit("a").Field("R0") }), nil,
			`ct: Field("R0") on the 2 results of an electron; use Index`},
		{"electrons of two sessions", lattice(func() Future {
			return Electron(Ship("other/f", "f", addInts))(eSquare(1), 2)
		}), nil, "ct: electrons from different interpreter sessions in one lattice"},
		{"session gone", lattice(func() Future { return Electron(Ship("gone/f", "f", addInts))(1, 2) }), nil,
			"ct: the interpreter session that declared these electrons is gone"},
		{"shipper fails", lattice(func() Future { return Electron(Ship("broken/f", "f", addInts))(1, 2) }), nil,
			"cannot ship x: a channel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := BuildGraph(tt.wf, tt.args...)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
	// A failed build, even one that panicked, leaves the builder free for the next.
	assertGraph(t, build(t, lattice(func() Future { return eSquare(1) })),
		Graph{Name: "wf", Nodes: []Node{el(0, "square", val("1"))}, Output: ref(0)})
}

func panicMessage(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return "no panic"
}

// TestOutsideLattice: electrons and futures used outside a lattice panic, as do funcs that are not funcs.
func TestOutsideLattice(t *testing.T) {
	useShipper(t)
	var f Future
	build(t, lattice(func() Future { f = eSquare(1); return f }))
	tests := []struct {
		name string
		call func()
		want string
	}{
		{"electron", func() { eAdd(1, 2) },
			"ct: electron add called outside a lattice; call it inside ct.Lattice, or call the plain Go func"},
		{"renamed electron", func() { shipped("add", addInts, Name("plus"))(1, 2) },
			"ct: electron plus called outside a lattice; call it inside ct.Lattice, or call the plain Go func"},
		{"Index", func() { f.Index(0) }, "ct: Index on a Future outside the lattice that made it"},
		{"Key", func() { f.Key("a") }, "ct: Key on a Future outside the lattice that made it"},
		{"Field", func() { f.Field("A") }, "ct: Field on a Future outside the lattice that made it"},
		{"WaitFor", func() { WaitFor(f) }, "ct: WaitFor on a Future outside the lattice that made it"},
		{"electron of a non-func", func() { Electron(42) }, "ct: expected a func, got int"},
		{"shipped non-func", func() { Electron(Ship("t/x", "x", "str")) }, "ct: expected a func, got string"},
		{"lattice of a non-func", func() { Lattice(42) }, "ct: expected a func, got int"},
		{"lattice of nil", func() { Lattice(nil) }, "ct: expected a func, got <nil>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := panicMessage(tt.call); got != tt.want {
				t.Errorf("panic %q, want %q", got, tt.want)
			}
		})
	}
}

// TestShip: the shipper gets each electron's ref once, sorted, and its entries land on the nodes.
func TestShip(t *testing.T) {
	sh := useShipper(t)
	eSub2 := Electron(Lattice(Ship(testSession+"/inner2", "inner2", func(x int) Future { return eSquare(x) })))
	g, prog, err := BuildGraph(lattice(func() Future {
		return eAdd(eSquare(1), eSub2(eSquare(2)))
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"t/add", "t/inner2", "t/square"}
	if len(sh.refs) != 1 || !reflect.DeepEqual(sh.refs[0], want) {
		t.Errorf("shipped %v, want one call with %v", sh.refs, want)
	}
	if prog.Source != strings.Join(want, "\n") {
		t.Errorf("program %q", prog.Source)
	}
	var entries []string
	for _, n := range g.Nodes {
		entries = append(entries, n.Entry)
	}
	if !reflect.DeepEqual(entries, []string{"e:square", "e:square", "e:inner2", "e:add"}) {
		t.Errorf("entries %v", entries)
	}

	// A lattice without electrons ships nothing.
	sh.refs = nil
	g, prog, err = BuildGraph(lattice(func() int { return 1 }))
	if err != nil || len(g.Nodes) != 0 || prog.Source != "" || sh.refs != nil {
		t.Errorf("graph %+v, program %+v, err %v, shipped %v", g, prog, err, sh.refs)
	}
}

// TestConcurrentBuilds: builds from several goroutines are serialised, each getting its own graph.
func TestConcurrentBuilds(t *testing.T) {
	useShipper(t)
	var wg sync.WaitGroup
	graphs := make([]*Graph, 8)
	errs := make([]error, len(graphs))
	for i := range graphs {
		wg.Go(func() { graphs[i], _, errs[i] = BuildGraph(pipeline, i+1) })
	}
	wg.Wait()
	for i, g := range graphs {
		if errs[i] != nil {
			t.Fatalf("build %d: %v", i, errs[i])
		}
		checkShape(t, g)
		n := i + 1
		if len(g.Nodes) != 2*n+3 || g.Nodes[2*n].Kind != KindList || len(g.Nodes[2*n].Args) != n {
			t.Errorf("build of %d parts: %d nodes, node %d %+v", n, len(g.Nodes), 2*n, g.Nodes[min(2*n, len(g.Nodes)-1)])
		}
	}
}

func TestNames(t *testing.T) {
	if n := Lattice(addInts).Name(); n != "addInts" {
		t.Errorf("lattice of addInts is named %q", n)
	}
	if n := Lattice(func() {}).Name(); n != "lambda" {
		t.Errorf("lattice of a func literal is named %q", n)
	}
	if n := Lattice(Ship("s/k", "given", addInts), Name("opt")).Name(); n != "opt" {
		t.Errorf("Name option gives %q", n)
	}
	if ft := Lattice(addInts).FuncType(); ft != reflect.TypeOf(addInts) {
		t.Errorf("FuncType %v", ft)
	}
	tests := []struct {
		fn   any
		want string
	}{
		{addInts, "addInts"},
		{func() {}, "lambda"},
		{recv{}.get, "get"},
		{(*recv).get, "get"},
		{genericFunc[int], "genericFunc"},
		{genericFunc[[]string], "genericFunc"},
	}
	for _, tt := range tests {
		c, err := newCode(tt.fn)
		if err != nil || c.name != tt.want {
			t.Errorf("name of %T: %q, %v; want %q", tt.fn, c.name, err, tt.want)
		}
	}
}

type recv struct{}

func (recv) get() int { return 0 }

func genericFunc[T any](x T) T { return x }

func TestOutputTypes(t *testing.T) {
	intT, errT := reflect.TypeOf(0), reflect.TypeOf((*error)(nil)).Elem()
	tests := []struct {
		fn      any
		outs    []reflect.Type
		withErr bool
	}{
		{func() {}, nil, false},
		{func() error { return nil }, nil, true},
		{func() int { return 0 }, []reflect.Type{intT}, false},
		{func() (int, error) { return 0, nil }, []reflect.Type{intT}, true},
		{func() (int, int, error) { return 0, 0, nil }, []reflect.Type{intT, intT}, true},
		{func() (error, int) { return nil, 0 }, []reflect.Type{errT, intT}, false},
	}
	for _, tt := range tests {
		outs, withErr := OutputTypes(reflect.TypeOf(tt.fn))
		if !reflect.DeepEqual(outs, tt.outs) || withErr != tt.withErr {
			t.Errorf("%T: %v, %v; want %v, %v", tt.fn, outs, withErr, tt.outs, tt.withErr)
		}
	}
}

type shape struct{ Side float64 }

func (s shape) String() string { return fmt.Sprint("side ", s.Side) }

type unregistered struct{}

func (unregistered) String() string { return "?" }

// A parameter of an interface type decodes only into registered types: a notebook's electron cannot take one
// (its workers cannot register), a compiled program's can, for types it registered; any takes plain values.
func TestInterfaceParametersAreCheckedAtDispatch(t *testing.T) {
	useShipper(t)
	describe := Electron(Ship(testSession+"/describe", "describe", func(s fmt.Stringer) string { return s.String() }))
	_, _, err := BuildGraph(lattice(func() Future { return describe(shape{2}) }))
	if err == nil || !strings.Contains(err.Error(), "ct: describe argument 1: its parameter has the interface type fmt.Stringer") {
		t.Fatalf("a notebook electron with an interface parameter: %v", err)
	}
	stringer := reflect.TypeFor[func(fmt.Stringer) string]()
	Register(shape{})
	if err := checkInterfaceParam(stringer, 0, shape{3}, false); err != nil {
		t.Fatalf("a registered type: %v", err)
	}
	if err := checkInterfaceParam(stringer, 0, unregistered{}, false); err == nil || !strings.Contains(err.Error(), "ct.unregistered, which is not registered: call ct.Register(ct.unregistered{})") {
		t.Fatalf("an unregistered type: %v", err)
	}
	if err := checkInterfaceParam(reflect.TypeFor[func(any) string](), 0, unregistered{}, true); err != nil {
		t.Fatalf("any takes plain values: %v", err)
	}
}

func report(n int, label string) Future { return Future{} }

// A notebook cell ending in a lattice shows this, not the struct behind it.
func TestWorkflowShowsItsNameAndParameters(t *testing.T) {
	if got, want := Lattice(report).String(), "lattice report(int, string) ct.Future (run it with ct.Dispatch or ct.DispatchSync)"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}
