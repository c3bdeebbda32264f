package dispatcher_test

// Covalent's functional workflow tests (tests/functional_tests), ported to Go cells run against a real
// dispatcher with real worker processes.

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/internal/testkit/wait"
)

func TestBasicChain(t *testing.T) {
	e := newEnv(t)
	e.cell(`
import "strings"

func JoinWords(a, b string) string { return strings.Join([]string{a, b}, ", ") }
func Excitement(s string) string { return s + "!" }

var joinWords = ct.Electron(JoinWords)
var excitement = ct.Electron(Excitement)

var basic = ct.Lattice(func(a, b string) ct.Future {
	return excitement(joinWords(a, b))
})
res, err := ct.DispatchSync(basic, "Hello", "World")
`)
	res := e.result("res")
	if res.Status != ct.StatusCompleted || res.Result != "Hello, World!" {
		t.Fatalf("got %s %v (%s)", res.Status, res.Result, res.Error)
	}
	if len(res.Nodes) != 2 || res.Nodes[0].Name != "JoinWords" || res.Nodes[1].Name != "Excitement" {
		t.Fatalf("nodes: %+v", res.Nodes)
	}
	if res.Nodes[0].Output != "Hello, World" || res.Nodes[0].Executor != "pool" || res.Nodes[0].StartTime == nil || res.Nodes[0].EndTime == nil {
		t.Fatalf("node 0: %+v", res.Nodes[0])
	}
	var s string
	if err := res.Decode(&s); err != nil || s != "Hello, World!" {
		t.Fatalf("Decode: %q %v", s, err)
	}
}

// The workflow exactly as the issue writes it: imports, declarations and statements mixed in one cell.
func TestPipelineFromTheIssue(t *testing.T) {
	e := newEnv(t)
	e.cell(`import ct "github.com/govalent/govalent/ct"

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

id, err := ct.Dispatch(pipeline, 10)
res, err := ct.GetResult(id, false) // at once: RUNNING, with whatever nodes have finished
early := res
res, err = ct.GetResult(id, true)   // blocks: COMPLETED, res.Result == 770
`)
	if early := e.result("early"); early.Status != ct.StatusRunning && early.Status != ct.StatusCompleted {
		t.Fatalf("early status %s", early.Status)
	}
	res := e.result("res")
	if res.Status != ct.StatusCompleted || len(res.Nodes) != 23 {
		t.Fatalf("%s, %d nodes", res.Status, len(res.Nodes))
	}
	if ok := e.value("res.Result == 770"); ok != true {
		t.Fatalf("res.Result == 770 is %v (result %v)", ok, res.Result)
	}
	for _, n := range res.Nodes {
		if n.Name == "Square" && n.Executor != "local" {
			t.Fatalf("Square ran on %q, want local", n.Executor)
		}
	}
}

func TestCollectionsAndNesting(t *testing.T) {
	e := newEnv(t)
	e.cell(`
func Identity(x int) int { return x }
func SumList(xs []int) int { s := 0; for _, x := range xs { s += x }; return s }
func SumMap(m map[string]int) int { s := 0; for _, v := range m { s += v }; return s }
func SumNested(xss [][]int) int { s := 0; for _, xs := range xss { for _, x := range xs { s += x } }; return s }

var identity = ct.Electron(Identity)
var sumList = ct.Electron(SumList)
var sumMap = ct.Electron(SumMap)
var sumNested = ct.Electron(SumNested)

var collections = ct.Lattice(func() ct.Future {
	a := sumList([]ct.Future{identity(1), identity(2), identity(3)})           // 6
	b := sumMap(map[string]ct.Future{"x": identity(10), "y": identity(20)})    // 30
	return sumList([]any{a, b})                                                // 36, a list mixing futures...
})
var nested = ct.Lattice(func() ct.Future {
	return sumNested([][]any{{identity(1), 2}, {identity(3), identity(4)}}) // ...and constants
})
res1, err := ct.DispatchSync(collections)
res2, err := ct.DispatchSync(nested)
`)
	if r := e.result("res1"); r.Result != 36 {
		t.Fatalf("collections: %v %s", r.Result, r.Error)
	}
	r := e.result("res2")
	if r.Result != 10 {
		t.Fatalf("nested: %v %s", r.Result, r.Error)
	}
	kinds := map[ct.NodeKind]int{}
	for _, n := range r.Nodes {
		kinds[n.Kind]++
		if n.Status != ct.StatusCompleted {
			t.Fatalf("node %d %s is %s", n.NodeID, n.Name, n.Status)
		}
	}
	if kinds[ct.KindList] != 3 || kinds[ct.KindElectron] != 4 {
		t.Fatalf("node kinds %v, want 3 list nodes and 4 electrons", kinds)
	}
}

func TestSelectionAndMultipleResults(t *testing.T) {
	e := newEnv(t)
	e.cell(`
type Person struct {
	Name string ` + "`json:\"full_name\"`" + `
	Age  int
}
func MakePerson(name string, age int) Person { return Person{Name: name, Age: age} }
func Pair() (int, string, error) { return 2, "two", nil }
func Squares(n int) []int { out := []int{}; for i := 0; i < n; i++ { out = append(out, i*i) }; return out }
func Ages() map[string]int { return map[string]int{"ann": 25} }
func Describe(name string, age, two int, word string, sq int) string {
	return fmt.Sprintf("%s %d %d %s %d", name, age, two, word, sq)
}
import "fmt"

var makePerson = ct.Electron(MakePerson)
var pair = ct.Electron(Pair)
var squares = ct.Electron(Squares)
var ages = ct.Electron(Ages)
var describe = ct.Electron(Describe)

var selecting = ct.Lattice(func() ct.Future {
	p := makePerson("Ann", 30)
	two := pair()
	return describe(p.Field("Name"), ages().Key("ann"), two.Index(0), two.Index(1), squares(6).Index(5))
})
res, err := ct.DispatchSync(selecting)
`)
	r := e.result("res")
	if r.Result != "Ann 25 2 two 25" {
		t.Fatalf("got %v (%s)", r.Result, r.Error)
	}
	if err := e.cellErr(`var bad = ct.Lattice(func() ct.Future { return makePerson("x", 1).Field("Height") })
_, err = ct.Dispatch(bad)
if err != nil { panic(err) }`); !strings.Contains(err.Error(), `Field("Height")`) {
		t.Fatalf("want an error naming the missing field, got %v", err)
	}
}

func TestSublattice(t *testing.T) {
	e := newEnv(t)
	e.cell(`
func Add(a, b int) int { return a + b }
func Identity(x int) int { return x }
var add = ct.Electron(Add)
var identity = ct.Electron(Identity)

var inner = ct.Lattice(func(a, b int) ct.Future { return add(a, b) })
var innerNode = ct.Electron(inner)
var outer = ct.Lattice(func(a int) ct.Future { return identity(innerNode(identity(a), 2)) })
res, err := ct.DispatchSync(outer, 1)
`)
	r := e.result("res")
	if r.Status != ct.StatusCompleted || r.Result != 3 {
		t.Fatalf("got %s %v (%s)", r.Status, r.Result, r.Error)
	}
	sub := r.Nodes[1]
	if sub.Kind != ct.KindSublattice || sub.SubDispatchID == "" || sub.Output != 3 {
		t.Fatalf("sublattice node: %+v", sub)
	}
	child, err := e.client().GetResult(sub.SubDispatchID, false)
	if err != nil || child.Status != ct.StatusCompleted || child.Result != 3 || child.ParentID != r.DispatchID {
		t.Fatalf("child: %+v %v", child, err)
	}
}

func TestWaitForOrdering(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(t.TempDir(), "log")
	e.cell(`
import ("os"; "time")
const logPath = "` + path + `"
func Write(word string, delay int) string {
	time.Sleep(time.Duration(delay) * time.Millisecond)
	f, _ := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	defer f.Close()
	f.WriteString(word + "\n")
	return word
}
func Read() string { b, _ := os.ReadFile(logPath); return string(b) }
var write = ct.Electron(Write)
var read = ct.Electron(Read)
var ordered = ct.Lattice(func() ct.Future {
	slow := write("first", 1500)
	fast := ct.WaitFor(write("second", 0), slow)
	return ct.WaitFor(read(), fast)
})
res, err := ct.DispatchSync(ordered)
`)
	r := e.result("res")
	if r.Result != "first\nsecond\n" {
		t.Fatalf("got %q (%s)", r.Result, r.Error)
	}
}

func TestStdoutStderrCapture(t *testing.T) {
	e := newEnv(t)
	e.cell(`
import ("fmt"; "os")
func Noisy(x int) int {
	fmt.Println("hello from", x)
	fmt.Fprintln(os.Stderr, "warning", x)
	os.Stdout.WriteString("direct\n")
	return x
}
var noisy = ct.Electron(Noisy)
var loud = ct.Lattice(func() ct.Future { noisy(1); return noisy(2) })
res, err := ct.DispatchSync(loud)
`)
	r := e.result("res")
	for i, n := range r.Nodes {
		wantOut := "hello from " + []string{"1", "2"}[i] + "\ndirect\n"
		wantErr := "warning " + []string{"1", "2"}[i] + "\n"
		if n.Stdout != wantOut || n.Stderr != wantErr {
			t.Fatalf("node %d: stdout %q stderr %q", i, n.Stdout, n.Stderr)
		}
	}
}

func TestFailuresKeepSiblingsRunning(t *testing.T) {
	e := newEnv(t)
	e.cell(`
import ("errors"; "fmt"; "time")
func Fail(x int) (int, error) { return 0, errors.New("leaf went wrong") }
func Boom(x int) int {
	if x > 1 {
		panic(fmt.Sprintf("boom %d", x))
	}
	return x
}
func Slow(x int) int { time.Sleep(300 * time.Millisecond); return x * 10 }
func Plus(x int) int { return x + 1 }
var fail = ct.Electron(Fail)
var boom = ct.Electron(Boom)
var slow = ct.Electron(Slow)
var plus = ct.Electron(Plus)
var failing = ct.Lattice(func() []ct.Future {
	return []ct.Future{fail(1), plus(boom(2)), plus(slow(3))}
})
res, err := ct.DispatchSync(failing)
`)
	r := e.result("res")
	if r.Status != ct.StatusFailed {
		t.Fatalf("status %s", r.Status)
	}
	byName := func(n string) *ct.NodeResult { return r.NodeByName(n) }
	if n := byName("Fail"); n.Status != ct.StatusFailed || n.Error != "leaf went wrong" {
		t.Fatalf("Fail: %+v", n)
	}
	b := byName("Boom")
	// yaegi reports a panic inside a block at the statement that holds the block (cell1:5, the if); the
	// compiler's line tables have the panic's own line
	at := map[bool]string{true: "cell1:6", false: "cell1:5:"}[native()]
	if b.Status != ct.StatusFailed || !strings.Contains(b.Error, "panic: boom 2") || !strings.Contains(b.Error, "(at "+at) || !strings.Contains(b.Stack, at) || !strings.Contains(b.Stack, "main.Boom") {
		t.Fatalf("Boom should fail with the message and its source line: %+v", b)
	}
	var plusStates []ct.Status
	for _, n := range r.Nodes {
		if n.Name == "Plus" {
			plusStates = append(plusStates, n.Status)
		}
	}
	// the Plus after Boom never runs; the Plus after Slow completes
	if len(plusStates) != 2 || plusStates[0] != ct.StatusNew || plusStates[1] != ct.StatusCompleted || byName("Slow").Output != 30 {
		t.Fatalf("siblings: %v", plusStates)
	}
	if !strings.Contains(r.Error, "2 node(s) failed") || !strings.Contains(r.Error, "(Fail)") || !strings.Contains(r.Error, "(Boom)") {
		t.Fatalf("dispatch error should name the failed nodes: %q", r.Error)
	}
}

func TestCancelWholeDispatchStopsRunningTasks(t *testing.T) {
	e := newEnv(t)
	e.cell(`
import "time"
func Sleep(s int) int { time.Sleep(time.Duration(s) * time.Second); return s }
func Spin() int { for { } }
var sleep = ct.Electron(Sleep)
var spin = ct.Electron(Spin)
var long = ct.Lattice(func() []ct.Future { return []ct.Future{sleep(30), spin(), sleep(sleep(1))} })
id, err := ct.Dispatch(long)
`)
	id := e.value("id").(string)
	wait.For(t, "tasks to run", 10*time.Second, func() bool {
		r, _ := e.client().GetResult(id, false)
		return r.Nodes[0].Status == ct.StatusRunning && r.Nodes[1].Status == ct.StatusRunning
	})
	start := time.Now()
	e.cell(`if err := ct.Cancel(id); err != nil { panic(err) }
res, err := ct.GetResult(id, true)`)
	r := e.result("res")
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("cancel took %s", took)
	}
	if r.Status != ct.StatusCancelled {
		t.Fatalf("status %s", r.Status)
	}
	for _, n := range r.Nodes {
		if n.Status != ct.StatusCancelled {
			t.Fatalf("node %d is %s", n.NodeID, n.Status)
		}
	}
	// the pool works again after its processes were killed
	e.cell(`func One() int { return 1 }
var one = ct.Electron(One)
after, err := ct.DispatchSync(ct.Lattice(func() ct.Future { return one() }))`)
	if r := e.result("after"); r.Result != 1 {
		t.Fatalf("after cancel: %v %s", r.Result, r.Error)
	}
}

func TestCancelOneNode(t *testing.T) {
	e := newEnv(t)
	e.cell(`
import "time"
func Sleep(s int) int { time.Sleep(time.Duration(s) * time.Millisecond); return s }
func Plus(x int) int { return x + 1 }
var sleep = ct.Electron(Sleep)
var plus = ct.Electron(Plus)
var two = ct.Lattice(func() []ct.Future { return []ct.Future{plus(sleep(30000)), plus(sleep(300))} })
id, err := ct.Dispatch(two)
`)
	id := e.value("id").(string)
	wait.For(t, "node 0 to run", 10*time.Second, func() bool {
		r, _ := e.client().GetResult(id, false)
		return r.Nodes[0].Status == ct.StatusRunning
	})
	if err := e.client().Cancel(id, 0); err != nil {
		t.Fatal(err)
	}
	r, err := e.client().GetResult(id, true)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != ct.StatusCancelled || r.Nodes[0].Status != ct.StatusCancelled || r.Nodes[1].Status != ct.StatusNew {
		t.Fatalf("%s %s %s", r.Status, r.Nodes[0].Status, r.Nodes[1].Status)
	}
	if r.Nodes[2].Status != ct.StatusCompleted || r.Nodes[3].Output != 301 {
		t.Fatalf("the other branch should complete: %+v %+v", r.Nodes[2], r.Nodes[3])
	}
}

func TestUnknownDispatchID(t *testing.T) {
	e := newEnv(t)
	err := e.cellErr(`_, err := ct.GetResult("no-such-id", false)
if err != nil { panic(err) }`)
	if !strings.Contains(err.Error(), "not found") || !strings.Contains(err.Error(), "404") {
		t.Fatalf("got %v", err)
	}
	if err := e.client().Cancel("no-such-id"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("cancel: %v", err)
	}
}

func TestEveryParameterShape(t *testing.T) {
	e := newEnv(t)
	e.cell(`
import ("errors"; "fmt"; "sort"; "strings")
type Point struct {
	X int ` + "`json:\"x\"`" + `
	Y int ` + "`json:\"y\"`" + `
	Label string ` + "`json:\"label,omitempty\"`" + `
}
func Variadic(prefix string, xs ...int) string { return fmt.Sprint(prefix, xs) }
func Mid(a, b Point) Point { return Point{X: (a.X + b.X) / 2, Y: (a.Y + b.Y) / 2, Label: a.Label + b.Label} }
func Keys(m map[string]float64) []string { var k []string; for x := range m { k = append(k, x) }; sort.Strings(k); return k }
func Join(xs []string) string { return strings.Join(xs, "+") }
func Deref(p *Point) int { if p == nil { return -1 }; return p.X }
func Ptr(x int) *Point { return &Point{X: x} }
func Checked(x int) (int, error) { if x < 0 { return 0, errors.New("negative") }; return x * 2, nil }
func Split(s string) (string, int) { n := len(s); return s, n } // yaegi miscompiles "return s, len(s)"
func Nothing() {}
func Describe(v string, p Point, keys string, d, d2, c int, s string, n int) string {
	return fmt.Sprintf("%s|%d,%d,%s|%s|%d|%d|%d|%s|%d", v, p.X, p.Y, p.Label, keys, d, d2, c, s, n)
}
var variadic = ct.Electron(Variadic)
var mid = ct.Electron(Mid)
var keys = ct.Electron(Keys)
var join = ct.Electron(Join)
var deref = ct.Electron(Deref)
var ptr = ct.Electron(Ptr)
var checked = ct.Electron(Checked)
var split = ct.Electron(Split)
var nothing = ct.Electron(Nothing)
var describe = ct.Electron(Describe)
var shapes = ct.Lattice(func() ct.Future {
	nothing()
	sp := split("hello")
	var nilPoint *Point
	return describe(
		variadic("v", 1, 2, 3),
		mid(Point{X: 0, Y: 0, Label: "a"}, Point{X: 4, Y: 8, Label: "b"}),
		join(keys(map[string]float64{"b": 1, "a": 2})),
		deref(ptr(7)), deref(nilPoint),
		checked(21),
		sp.Index(0), sp.Index(1))
})
res, err := ct.DispatchSync(shapes)
`)
	r := e.result("res")
	if r.Result != "v[1 2 3]|2,4,ab|a+b|7|-1|42|hello|5" {
		t.Fatalf("got %v (%s)", r.Result, r.Error)
	}
	var p struct{ X, Y int }
	n := r.NodeByName("Mid")
	if err := n.Decode(&p); err != nil || p.X != 2 || p.Y != 4 {
		t.Fatalf("Mid output %s: %v", n.RawOutput, err)
	}
	if r.NodeByName("Nothing").Status != ct.StatusCompleted {
		t.Fatal("a func without results completes")
	}
	e.cell(`var neg = ct.Lattice(func() ct.Future { return checked(-1) })
negRes, err := ct.DispatchSync(neg)`)
	if r := e.result("negRes"); r.Status != ct.StatusFailed || r.Nodes[0].Error != "negative" {
		t.Fatalf("error return: %s %+v", r.Status, r.Nodes[0])
	}
}

func TestRetriesAndTimeLimit(t *testing.T) {
	e := newEnv(t)
	counter := filepath.Join(t.TempDir(), "attempts")
	e.cell(`
import ("errors"; "os"; "time")
const counter = "` + counter + `"
func Flaky() (string, error) {
	b, _ := os.ReadFile(counter)
	os.WriteFile(counter, append(b, 'x'), 0o644)
	if len(b) < 2 { return "", errors.New("not yet") }
	return "ok after " + string(append(b, 'x')), nil
}
func Forever() int { for { time.Sleep(time.Millisecond) } }
var flaky = ct.Electron(Flaky, ct.Retries(2))
var forever = ct.Electron(Forever, ct.TimeLimit(500*time.Millisecond))
var retrying = ct.Lattice(func() []ct.Future { return []ct.Future{flaky(), forever()} })
res, err := ct.DispatchSync(retrying)
`)
	r := e.result("res")
	if n := r.Nodes[0]; n.Status != ct.StatusCompleted || n.Output != "ok after xxx" || n.Attempts != 3 {
		t.Fatalf("flaky: %+v", n)
	}
	if n := r.Nodes[1]; n.Status != ct.StatusFailed || !strings.Contains(n.Error, "time limit of 500ms exceeded") {
		t.Fatalf("forever: %+v", n)
	}
}

func TestUserCodeCannotTakeTheDispatcherDown(t *testing.T) {
	e := newEnv(t)
	e.cell(`
import ("os"; "time")
func Exit() int { os.Exit(3); return 0 }
func GoPanic() int {
	done := make(chan bool)
	go func() { panic("in a goroutine") }()
	time.Sleep(100 * time.Millisecond)
	close(done)
	return 1
}
func HostGoroutinePanic() int {
	time.AfterFunc(time.Millisecond, func() { panic("in a timer goroutine") })
	time.Sleep(2 * time.Second)
	return 1
}
func Fine() int { return 42 }
var exit = ct.Electron(Exit)
var goPanic = ct.Electron(GoPanic)
var hostPanic = ct.Electron(HostGoroutinePanic)
var fine = ct.Electron(Fine)
var hostile = ct.Lattice(func() []ct.Future { return []ct.Future{exit(), goPanic(), hostPanic(), fine()} })
res, err := ct.DispatchSync(hostile)
`)
	r := e.result("res")
	if r.Nodes[0].Status != ct.StatusFailed || !strings.Contains(r.Nodes[0].Error, "os.Exit(3)") {
		t.Fatalf("os.Exit: %+v", r.Nodes[0])
	}
	if r.Nodes[1].Status != ct.StatusFailed || !strings.Contains(r.Nodes[1].Error, "in a goroutine") {
		t.Fatalf("goroutine panic: %+v", r.Nodes[1])
	}
	// Interpreted, a goroutine the interpreter did not start (a timer's) takes the worker process down; native,
	// every panic ends the electron's own process, as it ends a Go program.
	died := map[bool]string{true: "panic in a goroutine of the electron", false: "worker process died"}[native()]
	if r.Nodes[2].Status != ct.StatusFailed || !strings.Contains(r.Nodes[2].Error, died) || !strings.Contains(r.Nodes[2].Error, "in a timer goroutine") {
		t.Fatalf("crashed worker: %+v", r.Nodes[2])
	}
	if r.Nodes[3].Output != 42 {
		t.Fatalf("fine: %+v", r.Nodes[3])
	}
	e.cell(`again, err := ct.DispatchSync(ct.Lattice(func() ct.Future { return fine() }))`)
	if r := e.result("again"); r.Result != 42 {
		t.Fatalf("dispatcher unusable after hostile code: %+v", r)
	}
}

func TestCapturedVariables(t *testing.T) {
	e := newEnv(t)
	e.cell(`scale := 3
ch := make(chan int)`)
	e.cell(`
func Scaled(x int) int { return x * scale }
var scaled = ct.Electron(Scaled)
var usesChan = ct.Electron(func() int { return cap(ch) })
var ok = ct.Lattice(func() ct.Future { return scaled(5) })
var notOK = ct.Lattice(func() ct.Future { return usesChan() })
res, err := ct.DispatchSync(ok)
`)
	if r := e.result("res"); r.Result != 15 || !strings.Contains(strings.Join(r.Notes, "\n"), "scale (set in cell1:1) was captured by value") {
		t.Fatalf("captured by value: %v %q (%s)", r.Result, r.Notes, r.Error)
	}
	err := e.cellErr(`_, err = ct.Dispatch(notOK)
if err != nil { panic(err) }`)
	if !strings.Contains(err.Error(), "uses ch, a variable set by a statement in cell1:2") || !strings.Contains(err.Error(), "chan int") {
		t.Fatalf("want a clear error naming ch and its cell, got %v", err)
	}
}

func TestRedefinitionChangesTheNextDispatch(t *testing.T) {
	e := newEnv(t)
	e.cell(`
func Greet(name string) string { return "hello " + name }
var greet = ct.Electron(Greet)
var hello = ct.Lattice(func(n string) ct.Future { return greet(n) })
first, err := ct.DispatchSync(hello, "ann")
`)
	e.cell(`func Greet(name string) string { return "goodbye " + name }`)
	e.cell(`second, err := ct.DispatchSync(hello, "ann")`)
	if a, b := e.result("first").Result, e.result("second").Result; a != "hello ann" || b != "goodbye ann" {
		t.Fatalf("first %v, second %v", a, b)
	}
}

func TestPartialResultsWhileRunning(t *testing.T) {
	e := newEnv(t)
	e.cell(`
import "time"
func Quick() int { return 1 }
func Slow() int { time.Sleep(2 * time.Second); return 2 }
var quick = ct.Electron(Quick)
var slow = ct.Electron(Slow)
var partial = ct.Lattice(func() []ct.Future { return []ct.Future{quick(), slow()} })
id, err := ct.Dispatch(partial)
`)
	id := e.value("id").(string)
	var r *ct.Result
	wait.For(t, "the quick node", 10*time.Second, func() bool {
		var err error
		r, err = e.client().GetResult(id, false)
		return err == nil && r.Nodes[0].Status == ct.StatusCompleted
	})
	if r.Status != ct.StatusRunning || r.Nodes[0].Output != 1 || r.Nodes[1].Status != ct.StatusRunning {
		t.Fatalf("partial: %s %+v", r.Status, r.Nodes)
	}
	final, err := e.client().GetResult(id, true)
	if err != nil || final.Status != ct.StatusCompleted || final.Result == nil {
		t.Fatalf("final %+v %v", final, err)
	}
	if got := final.Result.([]any); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("result %v", final.Result)
	}
}

func TestLatticeExecutorIsTheDefault(t *testing.T) {
	e := newEnv(t)
	e.cell(`
func One() int { return 1 }
var one = ct.Electron(One)
var onPool = ct.Electron(One, ct.Executor("pool"))
var local = ct.Lattice(func() []ct.Future { return []ct.Future{one(), onPool()} }, ct.Executor("local"))
var nowhere = ct.Lattice(func() ct.Future { return one() }, ct.Executor("mars"))
res, err := ct.DispatchSync(local)
res2, err := ct.DispatchSync(nowhere)
`)
	r := e.result("res")
	if r.Nodes[0].Executor != "local" || r.Nodes[1].Executor != "pool" || r.Status != ct.StatusCompleted {
		t.Fatalf("executors: %q %q", r.Nodes[0].Executor, r.Nodes[1].Executor)
	}
	if r := e.result("res2"); r.Status != ct.StatusFailed || !strings.Contains(r.Nodes[0].Error, `unknown executor "mars"`) {
		t.Fatalf("unknown executor: %+v", r.Nodes[0])
	}
}

func TestBranchingOnAFutureIsAClearError(t *testing.T) {
	e := newEnv(t)
	e.cell(`func One() int { return 1 }
var one = ct.Electron(One)`)
	err := e.cellErr(`var branchy = ct.Lattice(func() ct.Future {
	x := one()
	if x > 0 {
		return one()
	}
	return x
})`)
	if !strings.Contains(err.Error(), "cell2:3:") || !strings.Contains(err.Error(), "branch on values inside an electron") {
		t.Fatalf("got %v", err)
	}
	err = e.cellErr(`one()`)
	if !strings.Contains(err.Error(), "called outside a lattice") {
		t.Fatalf("got %v", err)
	}
}

func TestInputsAreKept(t *testing.T) {
	e := newEnv(t)
	e.cell(`func Echo(s string, n int) string { return s }
var echo = ct.Electron(Echo)
var inputs = ct.Lattice(func(s string, n int) ct.Future { return echo(s, n) })
res, err := ct.DispatchSync(inputs, "x", 4)`)
	r := e.result("res")
	var in []any
	if err := json.Unmarshal(r.RawInputs, &in); err != nil || len(in) != 2 || in[0] != "x" {
		t.Fatalf("inputs %s", r.RawInputs)
	}
}

func TestDeclarationsFromEarlierCellsAndStdlibFuncs(t *testing.T) {
	e := newEnv(t)
	e.cell(`import "math"
type Vec struct{ X, Y float64 }
const Scale = 2.0`)
	e.cell(`func (v Vec) Norm() float64 { return math.Hypot(v.X, v.Y) * Scale }`)
	e.cell(`import "strings"
var norm = ct.Electron(func(v Vec) float64 { return v.Norm() })
var upper = ct.Electron(strings.ToUpper)
var mixed = ct.Lattice(func() []ct.Future { return []ct.Future{norm(Vec{3, 4}), upper("go")} })
res, err := ct.DispatchSync(mixed)`)
	r := e.result("res")
	if r.Status != ct.StatusCompleted || r.Nodes[0].Output != 10.0 || r.Nodes[1].Output != "GO" || r.Nodes[1].Name != "ToUpper" || r.Nodes[0].Name != "norm" {
		t.Fatalf("%s %+v (%s)", r.Status, r.Nodes, r.Error)
	}
}

func TestCancelReachesARunningSublattice(t *testing.T) {
	e := newEnv(t)
	e.cell(`import "time"
func Sleep(ms int) int { time.Sleep(time.Duration(ms) * time.Millisecond); return ms }
var sleep = ct.Electron(Sleep)
var inner = ct.Lattice(func() ct.Future { return sleep(30000) })
var innerNode = ct.Electron(inner)
var outer = ct.Lattice(func() ct.Future { return innerNode() })
id, err := ct.Dispatch(outer)`)
	id := e.value("id").(string)
	var child string
	wait.For(t, "the child to run", 10*time.Second, func() bool {
		r, _ := e.client().GetResult(id, false)
		if child = r.Nodes[0].SubDispatchID; child == "" {
			return false
		}
		c, _ := e.client().GetResult(child, false)
		return c != nil && c.Nodes[0].Status == ct.StatusRunning
	})
	if err := e.client().Cancel(id); err != nil {
		t.Fatal(err)
	}
	r, err := e.client().GetResult(id, true)
	if err != nil || r.Status != ct.StatusCancelled || r.Nodes[0].Status != ct.StatusCancelled {
		t.Fatalf("parent %+v %v", r, err)
	}
	c, err := e.client().GetResult(child, true)
	if err != nil || c.Status != ct.StatusCancelled || c.Nodes[0].Status != ct.StatusCancelled {
		t.Fatalf("child %+v %v", c, err)
	}
}

// Every element of a large list selected by Index (the list is decoded once, not once per selection: at 5,000
// selections the quadratic version took over a minute).
func TestManySelectionsFromOneList(t *testing.T) {
	e := newEnv(t)
	e.cell(`func Range(n int) []int { out := make([]int, n); for i := range out { out[i] = i }; return out }
func Sum(xs []int) int { s := 0; for _, x := range xs { s += x }; return s }
var rangeE = ct.Electron(Range)
var sum = ct.Electron(Sum)
var spread = ct.Lattice(func(n int) ct.Future {
	xs := rangeE(n)
	var parts []ct.Future
	for i := 0; i < n; i++ { parts = append(parts, xs.Index(i)) }
	return sum(parts)
})
res, err := ct.DispatchSync(spread, 5000)`)
	if r := e.result("res"); r.Result != 5000*4999/2 {
		t.Fatalf("%v %s", r.Result, r.Error)
	}
}

// A node waiting out its retry backoff is held by no executor; cancelling must still end it.
func TestCancelDuringRetryBackoff(t *testing.T) {
	e := newEnv(t)
	e.cell(`import "errors"
func Never() (int, error) { return 0, errors.New("not yet") }
var never = ct.Electron(Never, ct.Retries(7))
id, err := ct.Dispatch(ct.Lattice(func() ct.Future { return never() }))`)
	id := e.value("id").(string)
	wait.For(t, "a retry", 10*time.Second, func() bool {
		r, _ := e.client().GetResult(id, false)
		return r.Nodes[0].Attempts >= 2
	})
	if err := e.client().Cancel(id); err != nil {
		t.Fatal(err)
	}
	r, err := e.client().GetResult(id, true)
	if err != nil || r.Status != ct.StatusCancelled || r.Nodes[0].Status != ct.StatusCancelled || r.Nodes[0].Attempts > 4 {
		t.Fatalf("%+v %v", r, err)
	}
}
