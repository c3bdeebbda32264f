package redisq

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	"github.com/redis/go-redis/v9"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/executortest"
	"github.com/govalent/govalent/internal/testkit/wait"
	"github.com/govalent/govalent/results"
)

// markProgram's Mark appends i to the file at path before it sleeps ms: the file counts the body's starts.
const markProgram = `package main

import ("fmt"; "os"; "time")

func Mark(path string, i int, ms int) int {
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	fmt.Fprintln(f, i)
	f.Close()
	time.Sleep(time.Duration(ms) * time.Millisecond)
	return i
}
`

func markTask(id, path string, i, ms int) *executors.Task {
	return &executors.Task{ID: id, Kind: executors.KindElectron, Entry: "Mark", ProgramHash: results.ProgramHash(markProgram), Program: markProgram,
		Args: [][]byte{[]byte(strconv.Quote(path)), []byte(strconv.Itoa(i)), []byte(strconv.Itoa(ms))}}
}

// marks counts the starts of each Mark body recorded in path.
func marks(path string) map[int]int {
	b, _ := os.ReadFile(path)
	n := map[int]int{}
	for _, f := range strings.Fields(string(b)) {
		i, _ := strconv.Atoi(f)
		n[i]++
	}
	return n
}

func outcomeWithin(t *testing.T, ch chan executors.Outcome, limit time.Duration) executors.Outcome {
	t.Helper()
	select {
	case oc := <-ch:
		return oc
	case <-time.After(limit):
		t.Fatal("no outcome")
		return executors.Outcome{}
	}
}

func newWorker(q *Queue, id string) *Worker {
	return NewWorker(q, WorkerConfig{ID: id, Concurrency: 1, Command: []string{workerBinary, "worker", "--pipe"}, Logger: quietLog()})
}

// Item 6 of issue 11: tasks that went into chunks (queued, or running on a worker) when the dispatcher died are
// found inside their chunks when the restarted dispatcher submits them again: each body runs once.
func TestResubmittedChunkMembersRunOnce(t *testing.T) {
	_, _, q := setup(t, Options{Lease: time.Second})
	path := filepath.Join(t.TempDir(), "marks")
	const n = 200
	tasks := make([]*executors.Task, n)
	for i := range tasks {
		ms := 0
		if i == 0 {
			ms = 1500 // the worker is busy with the first chunk when the dispatcher dies
		}
		tasks[i] = markTask(fmt.Sprintf("d/%d/1", i), path, i, ms)
	}
	first := NewPool("pool", q, quietLog())
	first.mu.Lock()
	first.runs[executors.RunKey(tasks[0])] = 10 * time.Microsecond // quick so far: chunked
	first.mu.Unlock()
	for _, t := range tasks {
		first.Submit(t, func(executors.Outcome) {})
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go newWorker(q, "w").Run(ctx)
	wait.For(t, "the first chunk runs", 15*time.Second, func() bool { return marks(path)[0] == 1 })
	first.Close() // killed: what it queued stays in Redis

	second := NewPool("pool", q, quietLog())
	defer second.Close()
	outs := make([]chan executors.Outcome, n)
	for i, t := range tasks {
		outs[i] = submit(second, t)
	}
	for i, ch := range outs {
		if oc := outcomeWithin(t, ch, 20*time.Second); oc.Error != "" || executortest.Text(oc.Output) != strconv.Itoa(i) {
			t.Fatalf("task %d: %+v", i, oc)
		}
	}
	for i, c := range marks(path) {
		if c != 1 {
			t.Fatalf("task %d ran %d times", i, c)
		}
	}
	if len(marks(path)) != n {
		t.Fatalf("%d of %d tasks ran", len(marks(path)), n)
	}
}

// Item 7 of issue 11: a task that completes while the restarted dispatcher is still reading older completions
// is not taken for lost when it is submitted again: it waits for its completion and is not queued again.
func TestCompletionNotYetReadIsWaitedFor(t *testing.T) {
	_, rdb, q := setup(t, Options{})
	ctx := context.Background()
	first := NewPool("pool", q, quietLog())
	first.Submit(task("late", ""), func(executors.Outcome) {})
	wait.For(t, "the task is queued", 10*time.Second, func() bool { d, _, _ := q.Depths(ctx); return d[DefaultQueue] == 1 })
	first.Close()
	held, err := q.Dequeue(ctx, "w1", nil, 1) // a worker runs it across the restart
	if err != nil || len(held) != 1 {
		t.Fatal(held, err)
	}

	second := NewPool("pool", q, quietLog())
	defer second.Close()
	<-second.caughtUp
	// The reader has a backlog to get through (completions of other dispatchers' tasks) when the task completes
	// and is submitted again.
	_, err = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := 0; i < 20000; i++ {
			id, o := fmt.Sprint("other-", i), `{"output":1}`
			p.XAdd(ctx, &redis.XAddArgs{Stream: q.key("results"), Values: []any{"t1", id, "w1", "w", "k1", "k", "o1", o, "s1", q.mac("outcome", id, "k", o)}})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := q.Complete(ctx, held[0], okOutcome("5")); !ok || err != nil {
		t.Fatal(ok, err)
	}
	ch := submit(second, task("late", ""))
	if oc := outcomeWithin(t, ch, 20*time.Second); executortest.Text(oc.Output) != "5" {
		t.Fatalf("outcome %+v", oc)
	}
	if again, _ := q.Dequeue(ctx, "w2", nil, 10); len(again) != 0 {
		t.Fatalf("queued again although its completion was on the stream: %+v", again)
	}
}

// Item 8 of issue 11: a worker that lost the lease of a chunk (recovered and handed to another worker while it
// could not extend it) does not start the members still waiting, in its backlog or pipelined in its process,
// and reports nothing of it.
func TestWorkerDoesNotStartTasksOfALostLease(t *testing.T) {
	t.Run("waiting", func(t *testing.T) { testLostLease(t, false) })
	// Once Mark is known to be quick, the members are sent on to the process behind the first one.
	t.Run("pipelined", func(t *testing.T) { testLostLease(t, true) })
}

func testLostLease(t *testing.T, pipelined bool) {
	_, rdb, q := setup(t, Options{Lease: time.Second})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	w := newWorker(q, "slow")
	go w.Run(ctx)
	if pipelined {
		warm := filepath.Join(t.TempDir(), "warm")
		q.PutProgram(ctx, results.ProgramHash(markProgram), markProgram)
		for i := range 3 {
			if _, err := q.Enqueue(ctx, markTask(fmt.Sprint("warm", i), warm, i, 0)); err != nil {
				t.Fatal(err)
			}
		}
		wait.For(t, "quick tasks run", 30*time.Second, func() bool { cs, _, _ := q.Results(ctx, "0", 10, 0); return len(cs) == 3 })
	}
	path := filepath.Join(t.TempDir(), "marks")
	// Each member outlasts the test unless it is stopped, so once one runs (the first, or another if the worker
	// parked the first because the lease it took ran short under load), the others can start only if the worker
	// starts them after it gave up the lease, whatever the load on the machine.
	var members []*executors.Task
	for i := range 10 {
		members = append(members, markTask(fmt.Sprint("m", i), path, i, 60_000))
	}
	c, err := newChunk(members)
	if err != nil {
		t.Fatal(err)
	}
	q.PutProgram(ctx, c.ProgramHash, c.Program)
	if _, err := q.Enqueue(ctx, c); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "a member runs", 15*time.Second, func() bool { return len(marks(path)) > 0 })
	// Its lease expired (as if the worker were paused) and another worker took the chunk: what Recover and
	// Dequeue would leave, written at once so that this worker cannot take the chunk back first.
	if err := rdb.HSet(ctx, q.key("t", c.ID), "token", "the thief's", "worker", "thief").Err(); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "the worker gives up the lease", 15*time.Second, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.leases) == 0 && w.held == 0
	})
	time.Sleep(2 * time.Second) // members wrongly let loose would have started by now
	if m := marks(path); len(m) != 1 {
		t.Fatalf("members started after the lease was lost: %v", m)
	}
	if cs, _, _ := q.Results(ctx, "0", 10, 0); slices.ContainsFunc(cs, func(c Completion) bool { return !strings.HasPrefix(c.TaskID, "warm") }) {
		t.Fatalf("reported: %+v", cs)
	}
}

// Item 9 of issue 11: Redis restarted without persistence loses its queues; the executor notices, queues again
// what it had there, and every task completes; a task whose outcome was delivered before does not run again.
func TestRedisLosingItsDataLosesNoTask(t *testing.T) {
	r := startRedisWith(t, false)
	q := newQueue(t, newClient(t, r), Options{Lease: time.Second})
	e := NewPool("pool", q, quietLog())
	defer e.Close()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	for _, id := range []string{"w1", "w2"} {
		go newWorker(q, id).Run(ctx)
	}
	path := filepath.Join(t.TempDir(), "marks")
	const n = 8
	outs := make([]chan executors.Outcome, n)
	for i := range outs {
		outs[i] = submit(e, markTask(fmt.Sprint("d/", i, "/1"), path, i, 400))
	}
	first := outcomeWithin(t, outs[0], 20*time.Second)
	r.restart() // no AOF, no RDB: the queues, leases and stream are gone
	for i, ch := range outs[1:] {
		if oc := outcomeWithin(t, ch, 30*time.Second); executortest.Text(oc.Output) != strconv.Itoa(i+1) {
			t.Fatalf("task %d: %+v", i+1, oc)
		}
	}
	if executortest.Text(first.Output) != "0" || marks(path)[0] != 1 {
		t.Fatalf("the task delivered before the restart ran %d times (%+v)", marks(path)[0], first)
	}
}

// Item 10 of issue 11: whoever can write to Redis but has not the key cannot complete a task: a forged outcome
// or cancellation (unsigned, or signed with another key) is refused and counted, and the real one still counts.
func TestForgedOutcomesAreRefused(t *testing.T) {
	_, rdb, q := setup(t, Options{})
	ctx := context.Background()
	e := NewPool("pool", q, quietLog())
	defer e.Close()
	ch := submit(e, task("real", ""))
	wait.For(t, "the task is queued", 10*time.Second, func() bool { d, _, _ := q.Depths(ctx); return d[DefaultQueue] == 1 })
	other := newQueue(t, rdb, Options{Key: []byte("another key of 16 bytes or more")})
	o := `{"output":666}`
	for _, v := range [][]any{
		{"t1", "real", "w1", "evil", "o1", o},
		{"t1", "real", "w1", "evil", "k1", "x", "o1", o, "s1", other.mac("outcome", "real", "x", o)},
		{"task", "real", "worker", "", "cancel", other.mac("cancelled", "real")},
	} {
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: q.key("results"), Values: v}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	wait.For(t, "the forgeries are refused", 10*time.Second, func() bool { return q.Refused() == 3 })
	select {
	case oc := <-ch:
		t.Fatalf("a forged outcome was taken: %+v", oc)
	case <-time.After(200 * time.Millisecond):
	}
	runOne(t, q, "3")
	if oc := outcomeOf(t, ch); executortest.Text(oc.Output) != "3" {
		t.Fatalf("outcome %+v", oc)
	}
}

// Item 10 of issue 11: a worker runs no task that was not queued by a holder of the key, and no program that
// does not match the hash its signed task names; a forged cancellation does not stop a task.
func TestWorkerRunsOnlySignedTasks(t *testing.T) {
	_, rdb, q := setup(t, Options{})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	path := filepath.Join(t.TempDir(), "marks")
	// Pushed with redis-cli.
	evil, _ := json.Marshal(markTask("evil", path, 666, 0))
	rdb.HSet(ctx, q.key("t", "evil"), "state", "queued", "queue", DefaultQueue, "payload", evil, "attempt", 0)
	rdb.RPush(ctx, q.key("q", DefaultQueue), "evil")
	// Signed, but its program was replaced in Redis.
	swapped := markTask("swapped", path, 777, 0)
	swapped.Program += "// another program\n"
	swapped.ProgramHash = results.ProgramHash(swapped.Program)
	q.PutProgram(ctx, swapped.ProgramHash, swapped.Program)
	rdb.Set(ctx, q.key("prog", swapped.ProgramHash), strings.Replace(markProgram, "fmt.Fprintln(f, i)", "fmt.Fprintln(f, i+1)", 1), 0)
	good := markTask("good", path, 1, 1500)
	q.PutProgram(ctx, good.ProgramHash, good.Program)
	if _, err := q.Enqueue(ctx, swapped, good); err != nil {
		t.Fatal(err)
	}
	go newWorker(q, "w").Run(ctx)
	wait.For(t, "the good task runs", 15*time.Second, func() bool { return marks(path)[1] == 1 })
	rdb.Publish(ctx, q.CancelChannel(), "good")
	rdb.Publish(ctx, q.CancelChannel(), "good "+strings.Repeat("0", 64))
	var cs []Completion
	wait.For(t, "both signed tasks complete", 15*time.Second, func() bool {
		cs, _, _ = q.Results(ctx, "0", 10, 0)
		return len(cs) == 2
	})
	for _, c := range cs {
		switch c.TaskID {
		case "good":
			if executortest.Text(c.Outcome.Output) != "1" {
				t.Fatalf("stopped by a forged cancellation: %+v", c.Outcome)
			}
		case "swapped":
			if !strings.Contains(c.Outcome.Error, "does not match") {
				t.Fatalf("ran a swapped program: %+v", c.Outcome)
			}
		}
	}
	if m := marks(path); len(m) != 1 {
		t.Fatalf("bodies run: %v", m)
	}
	if pl, _ := q.Locate(ctx, []string{"evil"}); pl[0].State != "refused" {
		t.Fatalf("the pushed task: %+v", pl)
	}
	if q.Refused() != 4 {
		t.Fatalf("refused %d (want the pushed task, the program, two cancellations)", q.Refused())
	}
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, KeyFile)
	if _, err := LoadKey("", file, false); err == nil {
		t.Fatal("a worker made up a key")
	}
	k1, err := LoadKey("", file, true)
	if err != nil || len(k1) != 64 {
		t.Fatal(k1, err)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	if k2, err := LoadKey("", file, true); err != nil || string(k2) != string(k1) {
		t.Fatal("a second start made another key", err)
	}
	if k, err := LoadKey("from the environment", file, false); err != nil || string(k) != "from the environment" {
		t.Fatal(k, err)
	}
	if _, err := LoadKey("short", file, false); err == nil {
		t.Fatal("short key taken")
	}
	os.Chmod(file, 0o644)
	if _, err := LoadKey("", file, false); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a key readable by others: %v", err)
	}
}

func TestDialErrorsHideThePassword(t *testing.T) {
	_, err := Dial("redis://:S3cretPass@127.0.0.1:1/0", Options{Key: testKey})
	if err == nil || strings.Contains(err.Error(), "S3cretPass") {
		t.Fatalf("dial error shows the password: %v", err)
	}
}

// A worker keeps a bounded number of programs, however many a long day of edited notebooks sends it.
func TestWorkerProgramCacheIsBounded(t *testing.T) {
	_, _, q := setup(t, Options{})
	ctx := context.Background()
	w := newWorker(q, "w")
	for i := range 3 * maxCachedPrograms {
		src := fmt.Sprintf("package main\n\nfunc F() int { return %d }\n", i)
		hash := results.ProgramHash(src)
		if err := q.PutProgram(ctx, hash, src); err != nil {
			t.Fatal(err)
		}
		if got, err := w.program(ctx, hash); err != nil || got != src {
			t.Fatalf("program %d: %q %v", i, got, err)
		}
		if n := len(w.programs); n > maxCachedPrograms {
			t.Fatalf("%d programs kept", n)
		}
	}
}
