package dispatcher

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/ct/codec"
	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/results"
)

// countingExecutor runs tasks (returning their argument plus one) a little later, and records how many it held
// at most.
type countingExecutor struct {
	mu      sync.Mutex
	held    int
	maxHeld int
	gate    chan struct{} // when set, tasks finish only once it is closed
}

func (c *countingExecutor) Submit(t *executors.Task, done func(executors.Outcome)) {
	c.mu.Lock()
	c.held++
	c.maxHeld = max(c.maxHeld, c.held)
	gate := c.gate
	c.mu.Unlock()
	go func() {
		time.Sleep(time.Millisecond)
		if gate != nil {
			<-gate
		}
		var n int
		codec.Unmarshal(t.Args[0], &n)
		c.mu.Lock()
		c.held--
		c.mu.Unlock()
		now := time.Now()
		out, _ := codec.Marshal(n + 1)
		done(executors.Outcome{Output: out, Start: now, End: now})
	}()
}
func (c *countingExecutor) Cancel(string)          {}
func (c *countingExecutor) Stats() executors.Stats { return executors.Stats{} }
func (c *countingExecutor) Close() error           { return nil }

// A fan-out far wider than the executor's share hands out tasks only as others finish, and completes.
func TestBackpressure(t *testing.T) {
	st, err := results.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := results.NewManager(st, log)
	defer store.Close()
	ex := &countingExecutor{}
	e := NewEngine(store, map[string]executors.Executor{"pool": ex}, log)
	defer e.Close()
	e.do(t.Context(), func() { e.maxInFlight = 50 })

	const n = 2000
	g := ct.Graph{Name: "wide"}
	list := ct.Node{ID: n, Name: "all", Kind: ct.KindList}
	for i := 0; i < n; i++ {
		g.Nodes = append(g.Nodes, ct.Node{ID: i, Name: "inc", Kind: ct.KindElectron, Entry: "Inc",
			Args: []ct.Arg{{Name: "x", Value: json.RawMessage(strconv.Itoa(i))}}})
		list.Args = append(list.Args, ct.Arg{Node: &g.Nodes[i].ID})
	}
	g.Nodes = append(g.Nodes, list)
	g.Output = ct.Arg{Node: &list.ID}
	id, err := e.Submit(t.Context(), &ct.DispatchRequest{Graph: g, Program: ct.Program{Source: "package main"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e.Wait(ctx, id, time.Minute)
	res, err := e.Result(t.Context(), id)
	if err != nil || res.Status != ct.StatusCompleted {
		t.Fatalf("%+v %v", res, err)
	}
	var out []int
	if err := json.Unmarshal(res.RawResult, &out); err != nil || len(out) != n || out[0] != 1 || out[n-1] != n {
		t.Fatalf("result %s: %v", res.RawResult, err)
	}
	if ex.maxHeld > 50 {
		t.Fatalf("the executor held %d tasks at once, over the limit of 50", ex.maxHeld)
	}

	// Cancelled while most of its nodes wait for room: they end CANCELLED without ever being handed out.
	gate := make(chan struct{})
	ex.mu.Lock()
	ex.gate = gate
	ex.mu.Unlock()
	id, err = e.Submit(t.Context(), &ct.DispatchRequest{Graph: g, Program: ct.Program{Source: "package main"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Cancel(t.Context(), id, nil); err != nil {
		t.Fatal(err)
	}
	close(gate) // the 50 handed out finish (this executor cannot stop them)
	e.Wait(ctx, id, time.Minute)
	if res, err = e.Result(t.Context(), id); err != nil || res.Status != ct.StatusCancelled {
		t.Fatalf("%+v %v", res, err)
	}
	cancelled := 0
	for _, nr := range res.Nodes {
		if nr.Status == ct.StatusCancelled {
			cancelled++
		}
	}
	if cancelled < n-50 {
		t.Fatalf("only %d nodes cancelled", cancelled)
	}
}
