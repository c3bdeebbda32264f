package dispatcher

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/internal/testkit/s3test"
	"github.com/govalent/govalent/results"
	"github.com/jonboulle/clockwork"
)

// scripted runs each task as its function says, on a goroutine of its own.
type scripted func(t *executors.Task) executors.Outcome

func (s scripted) Submit(t *executors.Task, done func(executors.Outcome)) { go func() { done(s(t)) }() }
func (scripted) Cancel(string)                                            {}
func (scripted) Stats() executors.Stats                                   { return executors.Stats{Name: "scripted"} }
func (scripted) Close() error                                             { return nil }

// newTestEngine is an engine on a store opened with opts, running every task with ex; both close when the
// test ends.
func newTestEngine(t *testing.T, opts results.Options, ex executors.Executor) *Engine {
	t.Helper()
	st, err := results.OpenWith(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := results.NewManager(st, log)
	t.Cleanup(func() { m.Close() })
	e := NewEngine(m, map[string]executors.Executor{DefaultExecutor: ex}, log)
	t.Cleanup(e.Close)
	return e
}

// oneNode is a dispatch of one node of the given kind, whose output is the lattice's.
func oneNode(kind ct.NodeKind, retries int, arg json.RawMessage) *ct.DispatchRequest {
	return &ct.DispatchRequest{Graph: ct.Graph{Name: string(kind), Nodes: []ct.Node{
		{ID: 0, Name: "n", Kind: kind, Entry: "F", Retries: retries, Args: []ct.Arg{{Value: arg}}},
	}, Output: ct.Arg{Node: new(0)}}, Program: ct.Program{Source: "package main"}}
}

// finished waits for dispatch id to finish and returns its result.
func finished(t *testing.T, e *Engine, id string) *ct.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	e.Wait(ctx, id, time.Minute)
	res, err := e.Result(ctx, id)
	if err != nil || !res.Status.Finished() {
		t.Fatalf("dispatch %s did not finish: %+v %v", id, res, err)
	}
	return res
}

// A child dispatch whose graph is uploaded to a slow object store does not hold up the scheduler: another
// dispatch is scheduled and completes meanwhile, and the child runs once its upload is done.
func TestSlowUploadDoesNotStallOtherDispatches(t *testing.T) {
	srv := s3test.Start(t, "results")
	big := json.RawMessage(`"` + strings.Repeat("b", results.InlineLimit) + `"`) // over the limit once quoted
	ex := scripted(func(task *executors.Task) executors.Outcome {
		now := time.Now()
		if task.Kind == ct.KindSublattice { // its child graph carries big: it goes to the object store
			g := oneNode(ct.KindElectron, 0, big)
			return executors.Outcome{Graph: &g.Graph, Program: &g.Program, Start: now, End: now}
		}
		return executors.Outcome{Output: task.Args[0], Start: now, End: now}
	})
	e := newTestEngine(t, results.Options{ObjectStore: "s3://results/govalent"}, ex)
	arrived, release := srv.HoldPuts(t)

	parent, err := e.Submit(t.Context(), oneNode(ct.KindSublattice, 0, json.RawMessage(`1`)))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-arrived:
	case <-time.After(time.Minute):
		t.Fatal("the child's graph was never uploaded")
	}
	other := make(chan *ct.Result, 1)
	go func() {
		id, err := e.Submit(t.Context(), oneNode(ct.KindElectron, 0, json.RawMessage(`7`)))
		if err != nil {
			t.Error(err)
			other <- nil
			return
		}
		e.Wait(t.Context(), id, time.Minute)
		res, err := e.Result(t.Context(), id)
		if err != nil {
			t.Error(err)
		}
		other <- res
	}()
	select {
	case res := <-other:
		if res == nil || res.Status != ct.StatusCompleted || string(res.RawResult) != "7" {
			t.Fatalf("the other dispatch: %+v", res)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("another dispatch was not scheduled while a child dispatch's graph was being uploaded")
	}
	if res, err := e.Result(t.Context(), parent); err != nil || res.Status != ct.StatusRunning || res.Nodes[0].Status != ct.StatusRunning {
		t.Fatalf("the parent while its child is being stored: %+v %v", res, err)
	}
	release()
	res := finished(t, e, parent)
	if res.Status != ct.StatusCompleted || string(res.RawResult) != string(big) || res.Nodes[0].SubDispatchID == "" {
		t.Fatalf("the parent once the upload is done: %s %q (%d bytes)", res.Status, res.Error, len(res.RawResult))
	}
}

// A failed attempt waits out its backoff on the engine's clock: the next attempt starts when the clock has
// advanced by retryDelay, not before.
func TestRetryWaitsForItsBackoff(t *testing.T) {
	attempts := make(chan int, 3)
	var tried atomic.Int32
	ex := scripted(func(task *executors.Task) executors.Outcome {
		n := int(tried.Add(1))
		attempts <- n
		now := time.Now()
		if n < 3 {
			return executors.Outcome{Error: "flaky", Start: now, End: now}
		}
		return executors.Outcome{Output: task.Args[0], Start: now, End: now}
	})
	e := newTestEngine(t, results.Options{}, ex)
	clock := clockwork.NewFakeClock()
	e.do(t.Context(), func() { e.clock = clock })
	id, err := e.Submit(t.Context(), oneNode(ct.KindElectron, 2, json.RawMessage(`5`)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	done, stop := context.WithCancel(t.Context())
	stop()
	for attempt := 1; attempt <= 2; attempt++ {
		if n := <-attempts; n != attempt {
			t.Fatalf("attempt %d ran as %d", attempt, n)
		}
		if err := clock.BlockUntilContext(ctx, 1); err != nil { // the backoff has begun
			t.Fatalf("no backoff after attempt %d: %v", attempt, err)
		}
		res, err := e.Result(ctx, id)
		if err != nil || res.Nodes[0].Status != ct.StatusRunning || res.Nodes[0].Attempts != attempt {
			t.Fatalf("during the backoff after attempt %d: %+v %v", attempt, res, err)
		}
		clock.Advance(retryDelay(attempt) - time.Millisecond)
		if clock.BlockUntilContext(done, 1) != nil { // done is cancelled: this only looks
			t.Fatalf("attempt %d was retried before its backoff of %s", attempt, retryDelay(attempt))
		}
		clock.Advance(time.Millisecond)
	}
	if n := <-attempts; n != 3 {
		t.Fatalf("the last attempt ran as %d", n)
	}
	res := finished(t, e, id)
	if res.Status != ct.StatusCompleted || string(res.RawResult) != "5" || res.Nodes[0].Attempts != 3 {
		t.Fatalf("after the retries: %s %s attempts=%d %q", res.Status, res.RawResult, res.Nodes[0].Attempts, res.Nodes[0].Error)
	}
}
