package redisq

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/executortest"
	"github.com/govalent/govalent/internal/testkit/wait"
	"github.com/govalent/govalent/internal/testkit/workerbin"
	"github.com/govalent/govalent/results"
)

// workerBinary is the govalent binary that workers start as their task processes.
var workerBinary string

func TestMain(m *testing.M) { workerbin.Main(m, &workerBinary) }

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// submit submits t and returns the channel its outcome arrives on.
func submit(e *Pool, t *executors.Task) chan executors.Outcome {
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

	first := NewPool("pool", q, quietLog())
	submit(first, task("finished-while-down", ""))
	wait.For(t, "the task to reach Redis", 10*time.Second, func() bool {
		depths, _, _ := q.Depths(ctx)
		return depths[DefaultQueue] == 1
	})
	first.Close()
	runOne(t, q, "7")

	second := NewPool("pool", q, quietLog())
	defer second.Close()
	if oc := outcomeOf(t, submit(second, task("finished-while-down", ""))); executortest.Text(oc.Output) != "7" {
		t.Fatalf("outcome %+v", oc)
	}
	if depths, leased, _ := q.Depths(ctx); depths[DefaultQueue] != 0 || leased != 0 {
		t.Fatalf("queued again: %v %d", depths, leased)
	}

	// Its completion read and acknowledged, then the dispatcher died before storing it: it must run again.
	read := submit(second, task("read-not-stored", ""))
	lease := runOne(t, q, "8")
	outcomeOf(t, read)
	cs, _, err := q.Results(ctx, "0", 10, 0) // acknowledged, as they are ackDelay after they were read
	if err != nil || len(cs) != 2 {
		t.Fatal(cs, err)
	}
	q.Ack(ctx, cs[0].StreamID, cs[1].StreamID)
	third := NewPool("pool", q, quietLog())
	defer third.Close()
	again := submit(third, task("read-not-stored", ""))
	if l := runOne(t, q, "9"); l.Task.ID != "read-not-stored" || l.Token == lease.Token {
		t.Fatalf("rerun lease %+v", l)
	}
	if oc := outcomeOf(t, again); executortest.Text(oc.Output) != "9" {
		t.Fatalf("outcome %+v", oc)
	}
}

const chunkProgram = `package main

import "time"

func Inc(i int) int { return i + 1 }
func Sleep(ms int) int { time.Sleep(time.Duration(ms) * time.Millisecond); return ms }
`

func chunkTask(id, entry, arg string) *executors.Task {
	return &executors.Task{ID: id, Kind: executors.KindElectron, Entry: entry, ProgramHash: results.ProgramHash(chunkProgram), Program: chunkProgram,
		Args: [][]byte{[]byte(arg)}}
}

// Tasks of an electron known to be quick travel in chunks: far fewer queued entries than tasks, each task still
// with its own outcome, and each one cancellable, queued or running.
func TestChunkedTasks(t *testing.T) {
	_, _, q := setup(t, Options{})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	e := NewPool("pool", q, quietLog())
	defer e.Close()
	e.mu.Lock()
	e.runs[executors.RunKey(chunkTask("", "Inc", ""))] = 10 * time.Microsecond // as if learnt from earlier runs
	e.runs[executors.RunKey(chunkTask("", "Sleep", ""))] = 10 * time.Microsecond
	e.mu.Unlock()

	const n = 300
	outs := make([]chan executors.Outcome, n)
	for i := range outs {
		outs[i] = submit(e, chunkTask(fmt.Sprintf("inc%d", i), "Inc", strconv.Itoa(i)))
	}
	queued := func() int64 { d, _, _ := q.Depths(ctx); return d[DefaultQueue] }
	wait.For(t, "tasks to reach Redis", 10*time.Second, func() bool { return queued() > 0 })
	if got := queued(); got*10 > n { // chunks of up to chunkMax, cut where a send took what had been submitted
		t.Fatalf("%d queued entries for %d tasks: not chunked", got, n)
	}
	// A member of a queued chunk is cancelled at once.
	e.Cancel("inc7")
	if oc := outcomeOf(t, outs[7]); !oc.Cancelled {
		t.Fatalf("queued member: %+v", oc)
	}

	w := NewWorker(q, WorkerConfig{Concurrency: 1, Command: []string{workerBinary, "worker", "--pipe"}, Logger: quietLog()})
	go w.Run(ctx)
	for i, ch := range outs {
		if i == 7 {
			continue
		}
		if oc := outcomeOf(t, ch); oc.Error != "" || executortest.Text(oc.Output) != strconv.Itoa(i+1) {
			t.Fatalf("task %d: %+v", i, oc)
		}
	}

	// A running member of a chunk stops when cancelled; the rest of its chunk completes.
	long, short := submit(e, chunkTask("long", "Sleep", "20000")), submit(e, chunkTask("short", "Sleep", "1"))
	wait.For(t, "the chunk to reach the worker", 10*time.Second, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		_, running := w.byTask["long"]
		return running
	})
	e.Cancel("long")
	if oc := outcomeOf(t, long); !oc.Cancelled {
		t.Fatalf("running member: %+v", oc)
	}
	if oc := outcomeOf(t, short); executortest.Text(oc.Output) != "1" {
		t.Fatalf("its chunk mate: %+v", oc)
	}
}

// The first burst of an electron never seen before is chunked too: a few tasks go alone, and once one of them
// shows the electron is quick the rest follow in chunks.
func TestFirstBurstIsChunkedAfterAProbe(t *testing.T) {
	_, rdb, q := setup(t, Options{})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	e := NewPool("pool", q, quietLog())
	defer e.Close()
	w := NewWorker(q, WorkerConfig{Concurrency: 1, Command: []string{workerBinary, "worker", "--pipe"}, Logger: quietLog()})
	go w.Run(ctx)
	// Warm the worker (its process started, the program built) with another electron, so that the probe's
	// time is Inc's own, well within probeWait even on a busy machine.
	if oc := outcomeOf(t, submit(e, chunkTask("warm", "Sleep", "0"))); oc.Error != "" {
		t.Fatalf("warm-up: %+v", oc)
	}
	const n = 400
	outs := make([]chan executors.Outcome, n)
	for i := range outs {
		outs[i] = submit(e, chunkTask(fmt.Sprintf("t%d", i), "Inc", strconv.Itoa(i)))
	}
	for i, ch := range outs {
		if oc := outcomeOf(t, ch); executortest.Text(oc.Output) != strconv.Itoa(i+1) {
			t.Fatalf("task %d: %+v", i, oc)
		}
	}
	keys, err := rdb.Keys(ctx, q.key("t", "*")).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) > n/4 {
		t.Fatalf("%d tasks went through Redis in %d entries: hardly chunked", n, len(keys))
	}
}

// A worker that dies holding a chunk loses none of it: the chunk's lease expires and another worker runs all of
// its tasks, each outcome delivered once.
func TestChunkOfADeadWorkerRunsElsewhere(t *testing.T) {
	_, _, q := setup(t, Options{Lease: 500 * time.Millisecond})
	e := NewPool("pool", q, quietLog())
	defer e.Close()
	e.mu.Lock()
	e.runs[executors.RunKey(chunkTask("", "Sleep", ""))] = 10 * time.Microsecond
	e.mu.Unlock()
	command := []string{workerBinary, "worker", "--pipe"}
	dies := NewWorker(q, WorkerConfig{ID: "dies", Concurrency: 1, Command: command, Logger: quietLog()})
	ctxDies, kill := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { dies.Run(ctxDies); close(stopped) }()

	args := []string{"300", "1", "2", "3"}
	outs := make([]chan executors.Outcome, len(args))
	for i, a := range args {
		outs[i] = submit(e, chunkTask("s"+a, "Sleep", a))
	}
	wait.For(t, "the chunk to reach the first worker", 10*time.Second, func() bool {
		dies.mu.Lock()
		defer dies.mu.Unlock()
		return len(dies.byTask) == len(args)
	})
	kill() // its processes are killed and it reports nothing more, like a worker that died
	<-stopped

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go NewWorker(q, WorkerConfig{ID: "lives", Concurrency: 1, Command: command, Logger: quietLog()}).Run(ctx)
	for i, a := range args {
		if oc := outcomeOf(t, outs[i]); oc.Error != "" || executortest.Text(oc.Output) != a {
			t.Fatalf("task %s: %+v", a, oc)
		}
	}
	if n := e.Stats().Recovered; n < 1 { // the chunk's lease: one entry in Redis
		t.Fatalf("recovered leases counted: %d", n)
	}
}

// A task that cannot be encoded fails alone, at once; the tasks queued with it are not held up.
func TestUnencodableTaskFailsAlone(t *testing.T) {
	_, _, q := setup(t, Options{})
	e := NewPool("pool", q, quietLog())
	defer e.Close()
	bad := task("bad", "")
	bad.Settings = map[string]json.RawMessage{"x": json.RawMessage(`{not json`)}
	badOut, goodOut := submit(e, bad), submit(e, task("good", ""))
	if oc := outcomeOf(t, badOut); !strings.Contains(oc.Error, "encoding task bad") {
		t.Fatalf("bad: %+v", oc)
	}
	runOne(t, q, "3")
	if oc := outcomeOf(t, goodOut); executortest.Text(oc.Output) != "3" {
		t.Fatalf("good: %+v", oc)
	}
}

// Cancelling many tasks: one held back in the outbox (behind a probe) is done at once and never queued; the
// queued ones are done by batched calls to Redis.
func TestCancelMany(t *testing.T) {
	_, _, q := setup(t, Options{})
	e := NewPool("pool", q, quietLog())
	defer e.Close()
	const n = 300
	outs := make([]chan executors.Outcome, n)
	for i := range outs { // a new electron and no worker: the probe's tasks go, the rest wait
		outs[i] = submit(e, chunkTask(fmt.Sprintf("c%d", i), "Inc", strconv.Itoa(i)))
	}
	e.mu.Lock()
	held := e.unsent["c299"]
	e.mu.Unlock()
	if !held {
		t.Fatal("the last task is not waiting in the outbox")
	}
	e.Cancel("c299")
	if oc := outcomeOf(t, outs[n-1]); !oc.Cancelled {
		t.Fatalf("held task: %+v", oc)
	}
	for i := 0; i < n-1; i++ {
		e.Cancel(fmt.Sprintf("c%d", i))
	}
	for i := 0; i < n-1; i++ {
		if oc := outcomeOf(t, outs[i]); !oc.Cancelled {
			t.Fatalf("task %d: %+v", i, oc)
		}
	}
	if done, _ := q.Enqueue(context.Background(), chunkTask("c299", "Inc", "1")); len(done) != 0 {
		t.Fatal("the held task reached Redis")
	}
}
