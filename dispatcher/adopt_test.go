package dispatcher_test

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/dispatcher"
	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/internal/testkit/wait"
	"github.com/govalent/govalent/results"
)

// adopting is an executor whose tasks outlive the dispatcher: it has an earlier task of node 1 "still running",
// whose output it reports when adopted; any other task echoes its argument.
type adopting struct {
	mu        sync.Mutex
	submitted []int // node ids
	adopted   []int
}

func (a *adopting) Submit(t *executors.Task, done func(executors.Outcome)) {
	a.mu.Lock()
	a.submitted = append(a.submitted, t.NodeID)
	a.mu.Unlock()
	echo{}.Submit(t, done)
}

func (a *adopting) Adopt(t *executors.Task, done func(executors.Outcome)) {
	if t.NodeID != 1 {
		a.Submit(t, done)
		return
	}
	a.mu.Lock()
	a.adopted = append(a.adopted, t.NodeID)
	a.mu.Unlock()
	now := time.Now()
	go done(executors.Outcome{Output: []byte(`"from before"`), Start: now, End: now})
}
func (*adopting) Cancel(string)          {}
func (*adopting) Stats() executors.Stats { return executors.Stats{Name: "adopting"} }
func (*adopting) Close() error           { return nil }

// After a restart, the unfinished nodes of a resumed dispatch go to an executors.Adopter through Adopt, which
// may report the outcome of a task from before the restart; nodes stored as completed do not run again, and
// new dispatches go through Submit.
func TestResumedNodesAreOfferedForAdoption(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := results.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Left by a dispatcher that stopped: node 0 completed and stored, node 1 (no row: a first attempt) running,
	// node 2 waiting for it.
	g := ct.Graph{Name: "left", Nodes: []ct.Node{
		{ID: 0, Name: "a", Kind: ct.KindElectron, Entry: "F", Args: []ct.Arg{{Value: []byte(`"a"`)}}},
		{ID: 1, Name: "b", Kind: ct.KindElectron, Entry: "F", Args: []ct.Arg{{Node: ptr(0)}}},
		{ID: 2, Name: "c", Kind: ct.KindElectron, Entry: "F", Args: []ct.Arg{{Node: ptr(1)}}},
	}, Output: ct.Arg{Node: ptr(2)}}
	rec := results.DispatchRecord{ID: "left-running", RootID: "left-running", ParentNode: -1, Status: ct.StatusRunning, Created: time.Now(), NodeCount: 3}
	if err := st.CreateDispatch(t.Context(), &rec, mustMarshal(t, &g), ct.Program{}); err != nil {
		t.Fatal(err)
	}
	done := results.NodeState{Status: ct.StatusCompleted, Output: []byte(`"a"`), Attempts: 1, Started: time.Now(), Ended: time.Now()}
	if err := st.Commit(t.Context(), results.Batch{Nodes: []results.NodeRecord{{DispatchID: rec.ID, NodeID: 0, NodeState: done}}}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	st, err = results.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := results.NewManager(st, log)
	defer m.Close()
	ex := &adopting{}
	e := dispatcher.NewEngine(m, map[string]executors.Executor{dispatcher.DefaultExecutor: ex}, log)
	defer e.Close()
	if n, err := e.Resume(t.Context()); err != nil || n != 1 {
		t.Fatalf("resume: %d %v", n, err)
	}
	var r *ct.Result
	wait.For(t, "the resumed dispatch to finish", 30*time.Second, func() bool {
		r, err = e.Result(t.Context(), rec.ID)
		return err == nil && r.Status.Finished()
	})
	if r.Status != ct.StatusCompleted || string(r.RawResult) != `"from before"` {
		t.Fatalf("resumed dispatch: %s %s %s", r.Status, r.RawResult, r.Error)
	}
	fresh, err := e.Submit(t.Context(), &ct.DispatchRequest{Graph: g})
	if err != nil {
		t.Fatal(err)
	}
	wait.For(t, "the new dispatch to finish", 30*time.Second, func() bool {
		r, err = e.Result(t.Context(), fresh)
		return err == nil && r.Status.Finished()
	})
	if r.Status != ct.StatusCompleted || string(r.RawResult) != `"a"` {
		t.Fatalf("new dispatch: %s %s %s", r.Status, r.RawResult, r.Error)
	}
	ex.mu.Lock()
	adopted, submitted := ex.adopted, ex.submitted
	ex.mu.Unlock()
	// Node 2 was unfinished too, so it was offered (and, unknown to the executor, submitted); the new
	// dispatch's three nodes were submitted.
	if len(adopted) != 1 || adopted[0] != 1 || len(submitted) != 4 || submitted[0] != 2 {
		t.Fatalf("adopted %v, submitted %v; want node 1 adopted, then nodes 2, 0, 1, 2 submitted", adopted, submitted)
	}
}
