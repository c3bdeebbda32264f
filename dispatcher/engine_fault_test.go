package dispatcher_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/dispatcher"
	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/internal/testkit/wait"
	"github.com/govalent/govalent/results"
)

// A selection that fails (index out of range, missing key or field) fails its node with a clear message, the
// dispatcher keeps working, and a restart does not replay anything that crashes it.
func TestFailingSelectionFailsItsNode(t *testing.T) {
	dir := t.TempDir()
	e, stop := startEnv(t, dispatcher.Config{DataDir: dir})
	e.cell(`
func Three() []int { return []int{1, 2, 3} }
func Ages() map[string]int { return map[string]int{"ann": 25} }
type Point struct{ X, Y int }
func Origin() Point { return Point{} }
func Show(v any) string { return fmt.Sprint(v) }
import "fmt"
var three = ct.Electron(Three)
var ages = ct.Electron(Ages)
var origin = ct.Electron(Origin)
var show = ct.Electron(Show)
var outOfRange = ct.Lattice(func() ct.Future { return show(three().Index(5)) })
var missingKey = ct.Lattice(func() ct.Future { return show(ages().Key("bob")) })
r1, err1 := ct.DispatchSync(outOfRange)
r2, err2 := ct.DispatchSync(missingKey)
`)
	for expr, want := range map[string]string{"r1": "index: codec: index 5 out of range of a typed array of 3", "r2": `key: codec: no key "bob" in a map of`} {
		r := e.result(expr)
		if r.Status != ct.StatusFailed || !strings.Contains(r.Error, want) {
			t.Fatalf("%s: want FAILED with %q, got %s: %s", expr, want, r.Status, r.Error)
		}
	}
	// The dispatcher still works, and after a restart on the same data the failed dispatches stay failed.
	e.cell(`ok, err := ct.DispatchSync(ct.Lattice(func() ct.Future { return show(three().Index(2)) }))`)
	if r := e.result("ok"); r.Status != ct.StatusCompleted || r.Result != "3" {
		t.Fatalf("after the failures: %s %v %s", r.Status, r.Result, r.Error)
	}
	id := e.result("r1").DispatchID
	stop()
	e2, _ := startEnv(t, dispatcher.Config{DataDir: dir})
	r, err := e2.client().GetResult(id, false)
	if err != nil || r.Status != ct.StatusFailed {
		t.Fatalf("after a restart: %v %v", r, err)
	}
}

// The graph check knows every node kind's arity: a selection node without its input is a bad request, not a
// scheduler crash.
func TestSelectionWithoutInputIsABadRequest(t *testing.T) {
	e := newEnv(t)
	for _, kind := range []string{"index", "key", "field"} {
		body := `{"graph":{"name":"x","nodes":[{"node_id":0,"name":"sel","kind":"` + kind + `","index":1,"key":"a"}],"output":{"node":0}}}`
		code, out := request(t, "POST", e.url+"/api/v1/dispatches", body)
		if code != 400 || !strings.Contains(out["error"].(string), "exactly one") {
			t.Fatalf("%s without input: %d %v", kind, code, out)
		}
	}
	code, out := request(t, "POST", e.url+"/api/v1/dispatches", `{"graph":{"name":"x","nodes":[{"node_id":0,"name":"e","kind":"electron","entry":"F","retries":-1}],"output":{"node":0}}}`)
	if code != 400 {
		t.Fatalf("negative retries: %d %v", code, out)
	}
}

// panicky is an executor with a bug: it panics when handed a task.
type panicky struct{}

func (panicky) Submit(*executors.Task, func(executors.Outcome)) { panic("executor bug") }
func (panicky) Cancel(string)                                   {}
func (panicky) Stats() executors.Stats                          { return executors.Stats{Name: "panicky"} }
func (panicky) Close() error                                    { return nil }

// echo completes every task at once with its first argument.
type echo struct{}

func (echo) Submit(t *executors.Task, done func(executors.Outcome)) {
	now := time.Now()
	go done(executors.Outcome{Output: t.Args[0], Start: now, End: now})
}
func (echo) Cancel(string)          {}
func (echo) Stats() executors.Stats { return executors.Stats{Name: "echo"} }
func (echo) Close() error           { return nil }

// A panic while the scheduler handles one dispatch fails that dispatch, with the panic and its stack, and
// nothing else: other dispatches run, and a restart that meets the same panic does not crash-loop.
func TestPanicFailsOnlyItsDispatch(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func() (*results.Manager, *dispatcher.Engine) {
		st, err := results.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		m := results.NewManager(st, log)
		return m, dispatcher.NewEngine(m, map[string]executors.Executor{"pool": echo{}, "buggy": panicky{}}, log)
	}
	graph := func(executor string) *ct.DispatchRequest {
		return &ct.DispatchRequest{Graph: ct.Graph{Name: executor, Nodes: []ct.Node{
			{ID: 0, Name: "a", Kind: ct.KindElectron, Entry: "F", Executor: executor, Args: []ct.Arg{{Value: []byte("7")}}},
		}, Output: ct.Arg{Node: ptr(0)}}}
	}
	wait := func(e *dispatcher.Engine, id string) *ct.Result {
		t.Helper()
		var r *ct.Result
		wait.For(t, "dispatch "+id+" to finish", 30*time.Second, func() bool {
			var err error
			r, err = e.Result(t.Context(), id)
			return err == nil && r.Status.Finished()
		})
		return r
	}
	m, e := open()
	bad, err := e.Submit(t.Context(), graph("buggy"))
	if err != nil {
		t.Fatal(err)
	}
	good, err := e.Submit(t.Context(), graph("pool"))
	if err != nil {
		t.Fatal(err)
	}
	if r := wait(e, bad); r.Status != ct.StatusFailed || !strings.Contains(r.Error, "executor bug") || !strings.Contains(r.Error, "goroutine") {
		t.Fatalf("the dispatch that met the panic: %s %q", r.Status, r.Error)
	}
	if r := wait(e, good); r.Status != ct.StatusCompleted || string(r.RawResult) != "7" {
		t.Fatalf("the other dispatch: %s %s %s", r.Status, r.RawResult, r.Error)
	}

	// A dispatch left unfinished in the store (as by a crash) meets the panic again when it is resumed.
	st, err := results.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := graph("buggy")
	rec := results.DispatchRecord{ID: "left-running", RootID: "left-running", ParentNode: -1, Status: ct.StatusRunning, Created: time.Now(), NodeCount: 1}
	if err := st.CreateDispatch(t.Context(), &rec, mustMarshal(t, &g.Graph), ct.Program{}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	e.Close()
	m.Close()
	for round := 0; round < 2; round++ {
		m, e = open()
		n, err := e.Resume(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			if r := wait(e, "left-running"); r.Status != ct.StatusFailed || !strings.Contains(r.Error, "executor bug") {
				t.Fatalf("resumed dispatch: %s %q", r.Status, r.Error)
			}
		} else if n != 0 {
			t.Fatalf("the failed dispatch was resumed again (%d)", n)
		}
		e.Close()
		m.Close()
	}
}

func ptr(i int) *int { return &i }

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
