package dispatcher

import (
	"context"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/results"
)

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func resultFromRecord(rec *results.DispatchRecord) *ct.Result {
	return &ct.Result{
		DispatchID: rec.ID, RootID: rec.RootID, ParentID: rec.ParentID, Name: rec.Name, Status: rec.Status,
		EncodedResult: rec.Result, Error: rec.Error, StartTime: timePtr(rec.Started), EndTime: timePtr(rec.Ended),
		EncodedInputs: rec.Inputs, Notes: rec.Notes,
	}
}

// nodeResult is node nd, in state st, as the API shows it: the one conversion of a node's state to the SDK's.
func nodeResult(nd *ct.Node, st *results.NodeState) ct.NodeResult {
	return ct.NodeResult{
		NodeID: nd.ID, Name: nd.Name, Kind: nd.Kind, Deps: nd.Deps(),
		Status: st.Status, EncodedOutput: st.Output, Error: st.Error, Stack: st.Stack, Stdout: st.Stdout, Stderr: st.Stderr,
		StartTime: timePtr(st.Started), EndTime: timePtr(st.Ended), Executor: st.Executor,
		SubDispatchID: st.SubDispatchID, Attempts: st.Attempts,
	}
}

// snapshot is the run's state as a result; called on the scheduler goroutine.
func (r *run) snapshot() *ct.Result {
	res := resultFromRecord(&r.rec)
	if r.finishing { // the final state is not stored yet: do not show it
		res.Status, res.EncodedResult, res.Error, res.EndTime = ct.StatusRunning, nil, "", nil
	}
	res.Nodes = make([]ct.NodeResult, len(r.nodes))
	for i := range r.nodes {
		st := r.shown(i)
		res.Nodes[i] = nodeResult(&r.graph.Nodes[i], &st)
	}
	return res
}

// shown is node i's state as the outside may see it: what is stored, or about to be.
func (r *run) shown(i int) results.NodeState {
	st := r.nodes[i].NodeState
	if r.nodes[i].busy { // settled but not yet stored: still RUNNING to the outside
		st.Status, st.Ended, st.Error, st.Stack = ct.StatusRunning, time.Time{}, "", ""
	}
	if st.Status != ct.StatusCompleted {
		st.Output = nil
	}
	return st
}

// Result returns a dispatch's state, its values rendered as JSON: from memory while it runs, from the store
// once it has finished.
func (e *Engine) Result(ctx context.Context, id string) (*ct.Result, error) {
	res, err := e.result(ctx, id)
	if err == nil {
		showValues(res, false)
	}
	return res, err
}

// result is Result with the values as they are kept, encoded (the Encoded fields), for showValues.
func (e *Engine) result(ctx context.Context, id string) (*ct.Result, error) {
	var res *ct.Result
	if err := e.do(ctx, func() {
		if r := e.runs[id]; r != nil {
			res = r.snapshot()
		} else if r := e.recent.get(id); r != nil {
			res = r.snapshot()
		}
	}); err != nil {
		return nil, err
	}
	if res != nil {
		return res, nil
	}
	return e.storedResult(ctx, id)
}

// recentNodes bounds the nodes of finished runs kept in memory.
const recentNodes = 200_000

// recentRuns is a FIFO of finished runs, owned by the scheduler goroutine.
type recentRuns struct {
	order []*run
	byID  map[string]*run
	nodes int
}

func (c *recentRuns) add(r *run) {
	if c.byID == nil {
		c.byID = map[string]*run{}
	}
	c.order = append(c.order, r)
	c.byID[r.rec.ID] = r
	c.nodes += len(r.nodes)
	for c.nodes > recentNodes && len(c.order) > 0 {
		c.forget(c.order[0].rec.ID)
	}
}

func (c *recentRuns) get(id string) *run { return c.byID[id] }

func (c *recentRuns) forget(id string) {
	r := c.byID[id]
	if r == nil {
		return
	}
	delete(c.byID, id)
	c.nodes -= len(r.nodes)
	for i, o := range c.order {
		if o == r {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
}

// Forget drops a deleted dispatch from memory.
func (e *Engine) Forget(id string) { e.do(context.Background(), func() { e.recent.forget(id) }) }

func (e *Engine) storedResult(ctx context.Context, id string) (*ct.Result, error) {
	rec, err := e.store.Dispatch(ctx, id)
	if err != nil {
		return nil, err
	}
	g, err := e.store.Graph(ctx, id)
	if err != nil {
		return nil, err
	}
	rows, err := e.store.Nodes(ctx, id)
	if err != nil {
		return nil, err
	}
	states := make([]results.NodeState, len(g.Nodes)) // a node without a row has not started
	for i := range states {
		states[i].Status = ct.StatusNew
	}
	for _, n := range rows {
		if n.NodeID >= 0 && n.NodeID < len(states) {
			states[n.NodeID] = n.NodeState
		}
	}
	res := resultFromRecord(rec)
	res.Nodes = make([]ct.NodeResult, len(g.Nodes))
	for i := range g.Nodes {
		res.Nodes[i] = nodeResult(&g.Nodes[i], &states[i])
	}
	return res, nil
}

// Wait blocks until the dispatch has finished, ctx is done, or timeout passes.
func (e *Engine) Wait(ctx context.Context, id string, timeout time.Duration) {
	var ch chan struct{}
	if e.do(ctx, func() {
		if r := e.runs[id]; r != nil {
			ch = make(chan struct{})
			r.waiters = append(r.waiters, ch)
		}
	}) != nil || ch == nil {
		return
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
	}
}

// Running counts dispatches in progress.
func (e *Engine) Running() int {
	n := 0
	e.do(context.Background(), func() { n = len(e.runs) })
	return n
}

// IsRunning reports whether a dispatch is in progress.
func (e *Engine) IsRunning(id string) bool {
	running := false
	e.do(context.Background(), func() { _, running = e.runs[id] })
	return running
}
