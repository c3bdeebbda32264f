package redisq

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/govalent/govalent/executors"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// submit submits t and returns the channel its outcome arrives on.
func submit(e *Executor, t *executors.Task) chan executors.Outcome {
	ch := make(chan executors.Outcome, 1)
	e.Submit(t, func(oc executors.Outcome) { ch <- oc })
	return ch
}

func outcomeOf(t *testing.T, ch chan executors.Outcome) executors.Outcome {
	t.Helper()
	select {
	case oc := <-ch:
		return oc
	case <-time.After(10 * time.Second):
		t.Fatal("no outcome")
		return executors.Outcome{}
	}
}

// runOne plays a worker: it leases one task and completes it with out.
func runOne(t *testing.T, q *Queue, out string) Lease {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		ls, err := q.Dequeue(ctx, "w1", nil, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) == 1 {
			if ok, err := q.Complete(ctx, ls[0], okOutcome(out)); !ok || err != nil {
				t.Fatalf("complete: %v %v", ok, err)
			}
			return ls[0]
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing to lease")
		}
	}
}

// A dispatcher that restarts submits its unfinished tasks again under the same ids. One that finished while it
// was down is done at once from its completion, without running again; one whose completion the dead
// dispatcher read but never stored runs again.
func TestResubmittedTasksAfterARestart(t *testing.T) {
	_, _, q := setup(t, Options{})
	ctx := context.Background()

	first := NewExecutor("pool", q, quietLog())
	submit(first, task("finished-while-down", ""))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if depths, _, _ := q.Depths(ctx); depths[DefaultQueue] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the task never reached Redis")
		}
	}
	first.Close()
	runOne(t, q, "7")

	second := NewExecutor("pool", q, quietLog())
	defer second.Close()
	if oc := outcomeOf(t, submit(second, task("finished-while-down", ""))); string(oc.Output) != "7" {
		t.Fatalf("outcome %+v", oc)
	}
	if depths, leased, _ := q.Depths(ctx); depths[DefaultQueue] != 0 || leased != 0 {
		t.Fatalf("queued again: %v %d", depths, leased)
	}

	// Its completion read and acknowledged, then the dispatcher died before storing it: it must run again.
	read := submit(second, task("read-not-stored", ""))
	lease := runOne(t, q, "8")
	outcomeOf(t, read)
	third := NewExecutor("pool", q, quietLog())
	defer third.Close()
	again := submit(third, task("read-not-stored", ""))
	if l := runOne(t, q, "9"); l.Task.ID != "read-not-stored" || l.Token == lease.Token {
		t.Fatalf("rerun lease %+v", l)
	}
	if oc := outcomeOf(t, again); string(oc.Output) != "9" {
		t.Fatalf("outcome %+v", oc)
	}
}
