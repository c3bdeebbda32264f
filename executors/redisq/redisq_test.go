package redisq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/executortest"
	"github.com/govalent/govalent/results"
)

const redisServer = "/usr/bin/redis-server"

// testRedis is a private redis-server on a free port with its own dir; it can be killed and restarted.
type testRedis struct {
	tb   testing.TB
	port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	// persist: with an append-only file (else Redis loses everything when it restarts)
	persist bool
}

func freePort(tb testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startRedis(tb testing.TB) *testRedis { return startRedisWith(tb, true) }

// startRedisWith starts a Redis with an append-only file, or with no persistence at all.
func startRedisWith(tb testing.TB, persist bool) *testRedis {
	tb.Helper()
	if _, err := os.Stat(redisServer); err != nil {
		tb.Fatalf("%s is missing (%v): install/test-deps.sh installs it", redisServer, err)
	}
	r := &testRedis{tb: tb, port: freePort(tb), dir: tb.TempDir(), persist: persist}
	r.start()
	tb.Cleanup(r.kill)
	return r
}

func (r *testRedis) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func (r *testRedis) start() {
	r.tb.Helper()
	aof := "no"
	if r.persist {
		aof = "yes"
	}
	r.cmd = exec.Command(redisServer, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--appendonly", aof, "--save", "")
	r.cmd.Stdout = nil
	r.cmd.Stderr = nil
	if err := r.cmd.Start(); err != nil {
		r.tb.Fatal(err)
	}
	r.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(r.cmd, r.done)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", r.addr(), 200*time.Millisecond)
		if err == nil {
			fmt.Fprintf(c, "PING\r\n")
			buf := make([]byte, 16)
			c.SetReadDeadline(time.Now().Add(time.Second))
			n, _ := c.Read(buf)
			c.Close()
			if string(buf[:n]) == "+PONG\r\n" {
				return
			}
		}
		select {
		case <-r.done:
			r.tb.Fatalf("redis-server exited at start")
		default:
		}
		if time.Now().After(deadline) {
			r.tb.Fatalf("redis-server on %s did not come up: %v", r.addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill stops the server with SIGKILL (with appendonly yes, every acknowledged write is already in the AOF in
// the OS page cache, so nothing is lost when only the process dies).
func (r *testRedis) kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
	r.cmd = nil
}

func (r *testRedis) restart() {
	r.kill()
	r.start()
}

func newClient(tb testing.TB, r *testRedis) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: r.addr(), DialTimeout: time.Second, MaxRetries: 5})
	tb.Cleanup(func() { rdb.Close() })
	return rdb
}

// testKey is the key of the tests' dispatchers and workers.
var testKey = []byte("0123456789abcdef-test-key")

// newQueue is a Queue on rdb with the test key unless opts has one.
func newQueue(tb testing.TB, rdb *redis.Client, opts Options) *Queue {
	tb.Helper()
	if opts.Key == nil {
		opts.Key = testKey
	}
	q, err := New(rdb, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return q
}

// setup starts a Redis with the test program stored (see task).
func setup(tb testing.TB, opts Options) (*testRedis, *redis.Client, *Queue) {
	r := startRedis(tb)
	rdb := newClient(tb, r)
	q := newQueue(tb, rdb, opts)
	if err := q.PutProgram(context.Background(), h1, testProgram); err != nil {
		tb.Fatal(err)
	}
	return r, rdb, q
}

// testProgram is the program of task's tasks; h1 is its hash.
const testProgram = "package main // not stored with the task"

var h1 = results.ProgramHash(testProgram)

func task(id string, queue string) *executors.Task {
	return &executors.Task{ID: id, DispatchID: "d1", NodeID: 1, Entry: "Add", ProgramHash: h1,
		Program: testProgram, Args: [][]byte{[]byte(`1`), []byte(`2`)},
		TimeLimit: time.Minute, Queue: queue}
}

// held extends leases and counts those still held.
func held(q *Queue, worker string, leases []Lease) (int, error) {
	h, err := q.Extend(context.Background(), worker, leases)
	return len(slices.DeleteFunc(h, func(b bool) bool { return !b })), err
}

func okOutcome(out string) executors.Outcome {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return executors.Outcome{Output: json.RawMessage(out), Stdout: "hi\n", Start: now, End: now.Add(time.Millisecond)}
}

func streamLen(t testing.TB, rdb *redis.Client, q *Queue) int64 {
	n, err := rdb.XLen(context.Background(), q.key("results")).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	_, rdb, q := setup(t, Options{})
	if _, err := q.Enqueue(ctx, task("t1", "")); err != nil {
		t.Fatal(err)
	}
	// The payload never holds the program.
	payload, _ := rdb.HGet(ctx, q.key("t", "t1"), "payload").Result()
	var raw map[string]any
	json.Unmarshal([]byte(payload), &raw)
	if _, ok := raw["Program"]; ok || len(raw) == 0 {
		t.Fatalf("payload %s", payload)
	}
	ls, err := q.Dequeue(ctx, "w1", nil, 10)
	if err != nil || len(ls) != 1 {
		t.Fatalf("dequeue: %v %v", ls, err)
	}
	l := ls[0]
	if l.Task.ID != "t1" || l.Task.Entry != "Add" || l.Task.Program != "" || l.Task.TimeLimit != time.Minute ||
		string(l.Task.Args[1]) != "2" || l.Attempt != 1 || l.Token == "" {
		t.Fatalf("lease %+v", l)
	}
	if src, err := q.Program(ctx, l.Task.ProgramHash); err != nil || src != testProgram {
		t.Fatalf("program %q %v", src, err)
	}
	if more, _ := q.Dequeue(ctx, "w2", nil, 10); len(more) != 0 {
		t.Fatalf("leased task dequeued again: %v", more)
	}
	oc := okOutcome(`3`)
	if ok, err := q.Complete(ctx, l, oc); !ok || err != nil {
		t.Fatalf("complete: %v %v", ok, err)
	}
	cs, last, err := q.Results(ctx, "", 10, 0)
	if err != nil || len(cs) != 1 {
		t.Fatalf("results: %v %v", cs, err)
	}
	c := cs[0]
	if c.TaskID != "t1" || c.Worker != "w1" || executortest.Text(c.Outcome.Output) != "3" || c.Outcome.Stdout != "hi\n" ||
		!c.Outcome.Start.Equal(oc.Start) || !c.Outcome.End.Equal(oc.End) || last != c.StreamID {
		t.Fatalf("completion %+v last %s", c, last)
	}
	// Payload gone, tombstone expiring, lease gone.
	h, _ := rdb.HGetAll(ctx, q.key("t", "t1")).Result()
	if _, ok := h["payload"]; ok || h["state"] != "done" {
		t.Fatalf("task hash after completion: %v", h)
	}
	if ttl := rdb.PTTL(ctx, q.key("t", "t1")).Val(); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("tombstone ttl %v", ttl)
	}
	if _, leased, _ := q.Depths(ctx); leased != 0 {
		t.Fatalf("leased %d", leased)
	}
	// Completing twice and re-enqueueing a done task change nothing.
	if ok, _ := q.Complete(ctx, l, oc); ok {
		t.Fatal("second completion accepted")
	}
	if done, err := q.Enqueue(ctx, task("t1", "")); err != nil || len(done) != 1 || done[0] != "t1" {
		t.Fatalf("re-enqueueing a done task: %v %v", done, err)
	}
	if ls, _ := q.Dequeue(ctx, "w1", nil, 10); len(ls) != 0 {
		t.Fatal("done task re-enqueued")
	}
	if n := streamLen(t, rdb, q); n != 1 {
		t.Fatalf("stream len %d", n)
	}
	// Rerun queues it again as new, for a dispatcher that lost its outcome.
	if err := q.Rerun(ctx, task("t1", "")); err != nil {
		t.Fatal(err)
	}
	if ls, _ := q.Dequeue(ctx, "w1", nil, 10); len(ls) != 1 || ls[0].Attempt != 1 || ls[0].Token == l.Token {
		t.Fatalf("rerun: %+v", ls)
	}
	// Nothing more: Results with a block returns empty after the block.
	start := time.Now()
	cs, last2, err := q.Results(ctx, last, 10, 100*time.Millisecond)
	if err != nil || len(cs) != 0 || last2 != last || time.Since(start) < 90*time.Millisecond {
		t.Fatalf("empty results: %v %s %v", cs, last2, err)
	}
}

// advanceRecoverClock makes Recover judge leases d later than the server's clock says, as if d had passed.
func advanceRecoverClock(q *Queue, d time.Duration) { q.recoverAhead.Add(d.Milliseconds()) }

func TestExactlyOnceAfterLeaseExpiry(t *testing.T) {
	ctx := context.Background()
	_, rdb, q := setup(t, Options{Lease: 300 * time.Millisecond})
	q.Enqueue(ctx, task("a", ""), task("b", ""))
	l1, _ := q.Dequeue(ctx, "w1", nil, 1)
	if len(l1) != 1 || l1[0].Task.ID != "a" {
		t.Fatalf("w1 got %v", l1)
	}
	if n, err := q.Recover(ctx); n != 0 || err != nil {
		t.Fatalf("recover before expiry: %d %v", n, err)
	}
	advanceRecoverClock(q, 400*time.Millisecond)
	if n, err := q.Recover(ctx); n != 1 || err != nil {
		t.Fatalf("recover: %d %v", n, err)
	}
	// Requeued at the head: w2 gets "a" before "b", with a new token and attempt 2.
	l2, _ := q.Dequeue(ctx, "w2", nil, 1)
	if len(l2) != 1 || l2[0].Task.ID != "a" || l2[0].Token == l1[0].Token || l2[0].Attempt != 2 {
		t.Fatalf("w2 got %+v", l2)
	}
	// w1 can no longer extend it.
	if n, _ := held(q, "w1", l1); n != 0 {
		t.Fatal("stale lease extended")
	}
	if ok, err := q.Complete(ctx, l2[0], okOutcome(`"w2"`)); !ok || err != nil {
		t.Fatalf("w2 complete %v %v", ok, err)
	}
	if ok, err := q.Complete(ctx, l1[0], okOutcome(`"w1"`)); ok || err != nil {
		t.Fatalf("late w1 complete %v %v", ok, err)
	}
	cs, _, _ := q.Results(ctx, "0", 100, 0)
	if len(cs) != 1 || cs[0].TaskID != "a" || executortest.Text(cs[0].Outcome.Output) != `"w2"` || cs[0].Worker != "w2" {
		t.Fatalf("results %+v", cs)
	}
	if n := streamLen(t, rdb, q); n != 1 {
		t.Fatalf("stream len %d", n)
	}
	// The stale lease of w1 while w2 still holds it: also rejected.
	l3, _ := q.Dequeue(ctx, "w1", nil, 1) // "b"
	advanceRecoverClock(q, 400*time.Millisecond)
	q.Recover(ctx)
	l4, _ := q.Dequeue(ctx, "w2", nil, 1)
	if ok, _ := q.Complete(ctx, l3[0], okOutcome(`1`)); ok {
		t.Fatal("stale completion accepted while re-leased")
	}
	if ok, _ := q.Complete(ctx, l4[0], okOutcome(`1`)); !ok {
		t.Fatal("current completion rejected")
	}
}

func TestExtend(t *testing.T) {
	ctx := context.Background()
	_, _, q := setup(t, Options{Lease: 300 * time.Millisecond})
	q.Enqueue(ctx, task("a", ""), task("b", ""))
	ls, _ := q.Dequeue(ctx, "w1", nil, 2)
	if len(ls) != 2 {
		t.Fatal(ls)
	}
	// Extend "a" every 100 ms for 900 ms (3 leases); "b" is left to expire.
	for i := 0; i < 9; i++ {
		time.Sleep(100 * time.Millisecond)
		if n, err := held(q, "w1", ls[:1]); err != nil || n != 1 {
			t.Fatalf("extend: %d %v", n, err)
		}
		if _, err := q.Recover(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Another worker's id with the right token does not extend.
	if n, _ := held(q, "w2", ls[:1]); n != 0 {
		t.Fatal("extended by the wrong worker")
	}
	depths, leased, _ := q.Depths(ctx)
	if leased != 1 || depths["default"] != 1 {
		t.Fatalf("depths %v leased %d", depths, leased)
	}
	if h, err := q.Extend(ctx, "w1", ls); err != nil || !h[0] || h[1] { // "b" is no longer held
		t.Fatal(h, err)
	}
	if ok, _ := q.Complete(ctx, ls[0], okOutcome(`1`)); !ok {
		t.Fatal("extended lease lost")
	}
	if ok, _ := q.Complete(ctx, ls[1], okOutcome(`1`)); ok {
		t.Fatal("expired, recovered lease completed")
	}
}

func TestNamedQueues(t *testing.T) {
	ctx := context.Background()
	_, _, q := setup(t, Options{})
	q.Enqueue(ctx, task("cpu1", ""), task("gpu1", "gpu"), task("gpu2", "gpu"), task("cpu2", "default"), task("big1", "big"))
	ls, _ := q.Dequeue(ctx, "g", []string{"gpu"}, 10)
	if len(ls) != 2 || ls[0].Task.ID != "gpu1" || ls[1].Task.ID != "gpu2" || ls[0].Task.Queue != "gpu" {
		t.Fatalf("gpu worker got %+v", ls)
	}
	// Queues are taken in order.
	ls, _ = q.Dequeue(ctx, "c", []string{"big", "default"}, 2)
	if len(ls) != 2 || ls[0].Task.ID != "big1" || ls[1].Task.ID != "cpu1" {
		t.Fatalf("got %+v", ls)
	}
	ls, _ = q.Dequeue(ctx, "c", []string{"gpu", "big"}, 10)
	if len(ls) != 0 {
		t.Fatalf("got %+v", ls)
	}
	ls, _ = q.Dequeue(ctx, "c", nil, 10)
	if len(ls) != 1 || ls[0].Task.ID != "cpu2" {
		t.Fatalf("got %+v", ls)
	}
	depths, leased, err := q.Depths(ctx)
	if err != nil || leased != 5 || len(depths) != 3 || depths["gpu"] != 0 || depths["default"] != 0 {
		t.Fatalf("depths %v %d %v", depths, leased, err)
	}
}

func TestCancel(t *testing.T) {
	ctx := context.Background()
	_, rdb, q := setup(t, Options{Lease: 300 * time.Millisecond})
	sub := rdb.Subscribe(ctx, q.CancelChannel())
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // subscription confirmed
		t.Fatal(err)
	}
	q.Enqueue(ctx, task("leased", ""), task("q2", ""), task("expires", ""))
	// Cancel a task while it is queued: it is done at once (its id stays on the list until Dequeue skips it).
	if err := q.Cancel(ctx, "q2"); err != nil {
		t.Fatal(err)
	}
	cs, last, _ := q.Results(ctx, "0", 10, 0)
	if len(cs) != 1 || cs[0].TaskID != "q2" || !cs[0].Outcome.Cancelled {
		t.Fatalf("results %+v", cs)
	}
	if c, _ := q.IsCancelled(ctx, "q2"); !c {
		t.Fatal("not flagged")
	}
	// A leased task: flagged and announced, not completed until its worker says so.
	ls, _ := q.Dequeue(ctx, "w", nil, 10)
	if len(ls) != 2 || ls[0].Task.ID != "leased" || ls[1].Task.ID != "expires" {
		t.Fatal(ls)
	}
	if depths, _, _ := q.Depths(ctx); depths["default"] != 0 {
		t.Fatalf("depths %v", depths)
	}
	if c, _ := q.IsCancelled(ctx, "leased"); c {
		t.Fatal("flagged early")
	}
	if err := q.Cancel(ctx, "leased"); err != nil {
		t.Fatal(err)
	}
	msgCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	msg, err := sub.ReceiveMessage(msgCtx)
	if id, ok := q.CancelledID(msg.Payload); err != nil || !ok || id != "leased" || msg.Channel != q.CancelChannel() {
		t.Fatalf("message %v %v", msg, err)
	}
	if c, _ := q.IsCancelled(ctx, "leased"); !c {
		t.Fatal("not flagged")
	}
	if cs, _, _ := q.Results(ctx, last, 10, 0); len(cs) != 0 {
		t.Fatalf("leased task completed by cancel: %+v", cs)
	}
	if ok, _ := q.Complete(ctx, ls[0], executors.Outcome{Cancelled: true}); !ok {
		t.Fatal("worker's cancelled completion rejected")
	}
	// A cancelled leased task whose worker vanished: Recover completes it as cancelled instead of requeueing.
	q.Cancel(ctx, "expires")
	advanceRecoverClock(q, 400*time.Millisecond)
	if n, _ := q.Recover(ctx); n != 0 {
		t.Fatalf("requeued %d", n)
	}
	cs, _, _ = q.Results(ctx, last, 10, 0)
	if len(cs) != 2 || cs[0].TaskID != "leased" || cs[1].TaskID != "expires" || !cs[1].Outcome.Cancelled {
		t.Fatalf("results %+v", cs)
	}
	// Cancelling a done or unknown task does nothing.
	q.Cancel(ctx, "expires")
	q.Cancel(ctx, "nope")
	if n := streamLen(t, rdb, q); n != 3 {
		t.Fatalf("stream len %d", n)
	}
}

func TestResultsAckRetention(t *testing.T) {
	ctx := context.Background()
	_, rdb, q := setup(t, Options{ResultRetention: 500 * time.Millisecond})
	var tasks []*executors.Task
	for i := 0; i < 5; i++ {
		tasks = append(tasks, task(fmt.Sprint("t", i), ""))
	}
	q.Enqueue(ctx, tasks...)
	ls, _ := q.Dequeue(ctx, "w", nil, 5)
	for _, l := range ls[:3] {
		q.Complete(ctx, l, okOutcome(`1`))
	}
	// Paging with count and after.
	cs, last, _ := q.Results(ctx, "", 2, 0)
	if len(cs) != 2 || cs[0].TaskID != "t0" || cs[1].TaskID != "t1" {
		t.Fatalf("%+v", cs)
	}
	cs2, _, _ := q.Results(ctx, last, 10, 0)
	if len(cs2) != 1 || cs2[0].TaskID != "t2" {
		t.Fatalf("%+v", cs2)
	}
	// A blocked reader wakes up on a completion.
	got := make(chan []Completion)
	go func() {
		cs, _, err := q.Results(ctx, cs2[0].StreamID, 10, 5*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- cs
	}()
	time.Sleep(100 * time.Millisecond)
	q.Complete(ctx, ls[3], okOutcome(`1`))
	select {
	case cs := <-got:
		if len(cs) != 1 || cs[0].TaskID != "t3" {
			t.Fatalf("%+v", cs)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("blocked Results did not wake up")
	}
	// Ack deletes.
	if err := q.Ack(ctx, cs[0].StreamID, cs[1].StreamID); err != nil {
		t.Fatal(err)
	}
	if n := streamLen(t, rdb, q); n != 2 {
		t.Fatalf("after ack: %d", n)
	}
	// Retention: after 500 ms, the next completion trims the older ones, and so does Recover/Ack.
	time.Sleep(600 * time.Millisecond)
	q.Complete(ctx, ls[4], okOutcome(`1`))
	if n := streamLen(t, rdb, q); n != 1 {
		t.Fatalf("after retention: %d", n)
	}
	if ttl := rdb.PTTL(ctx, q.key("t", "t4")).Val(); ttl <= 0 || ttl > 500*time.Millisecond {
		t.Fatalf("tombstone ttl %v", ttl)
	}
	time.Sleep(600 * time.Millisecond)
	q.Recover(ctx)
	if n := streamLen(t, rdb, q); n != 0 {
		t.Fatalf("after recover: %d", n)
	}
	if n := rdb.Exists(ctx, q.key("t", "t4")).Val(); n != 0 {
		t.Fatal("tombstone did not expire")
	}
}

func TestProgramsStoredOnce(t *testing.T) {
	ctx := context.Background()
	_, rdb, q := setup(t, Options{ProgramTTL: time.Minute})
	if _, err := q.Program(ctx, results.ProgramHash("other")); !errors.Is(err, redis.Nil) {
		t.Fatalf("missing program: %v", err)
	}
	rdb.PExpire(ctx, q.key("prog", h1), time.Second)
	q.PutProgram(ctx, h1, "second")
	if src, _ := q.Program(ctx, h1); src != testProgram {
		t.Fatalf("program %q", src)
	}
	if ttl := rdb.PTTL(ctx, q.key("prog", h1)).Val(); ttl < 50*time.Second {
		t.Fatalf("expiry not refreshed by PutProgram: %v", ttl)
	}
	rdb.PExpire(ctx, q.key("prog", h1), time.Second)
	q.Enqueue(ctx, task("t", ""))
	if ttl := rdb.PTTL(ctx, q.key("prog", h1)).Val(); ttl < 50*time.Second {
		t.Fatalf("expiry not refreshed by Enqueue: %v", ttl)
	}
	keys, _ := rdb.Keys(ctx, q.key("prog", "*")).Result()
	if len(keys) != 1 {
		t.Fatal(keys)
	}
	// A task cannot be queued without its program (lost with Redis's data, say): nothing is queued.
	rdb.Del(ctx, q.key("prog", h1))
	if _, err := q.Enqueue(ctx, task("u", "")); !errors.Is(err, ErrNoProgram) {
		t.Fatalf("enqueue without a program: %v", err)
	}
	if n := rdb.Exists(ctx, q.key("t", "u")).Val(); n != 0 {
		t.Fatal("queued without its program")
	}
}

func TestWorkersHeartbeat(t *testing.T) {
	ctx := context.Background()
	_, _, q := setup(t, Options{Lease: 200 * time.Millisecond}) // heartbeats live 600 ms
	w1 := WorkerInfo{ID: "w1", Host: "h", PID: 42, Concurrency: 4, Queues: []string{"default", "gpu"}, Running: []string{"t1"}}
	w2 := WorkerInfo{ID: "w2", Host: "h2", PID: 7, Concurrency: 1}
	before := time.Now().Add(-time.Second)
	q.Heartbeat(ctx, w1)
	q.Heartbeat(ctx, w2)
	ws, err := q.Workers(ctx)
	if err != nil || len(ws) != 2 || ws[0].ID != "w1" || ws[0].PID != 42 || ws[0].Concurrency != 4 ||
		len(ws[0].Queues) != 2 || ws[0].Running[0] != "t1" || ws[0].LastHeartbeat.Before(before) || ws[1].Host != "h2" {
		t.Fatalf("workers %+v %v", ws, err)
	}
	// w1 keeps beating, w2 stops.
	for i := 0; i < 8; i++ {
		time.Sleep(100 * time.Millisecond)
		q.Heartbeat(ctx, w1)
	}
	ws, _ = q.Workers(ctx)
	if len(ws) != 1 || ws[0].ID != "w1" || time.Since(ws[0].LastHeartbeat) > time.Second {
		t.Fatalf("workers %+v", ws)
	}
	time.Sleep(700 * time.Millisecond)
	if ws, _ = q.Workers(ctx); len(ws) != 0 {
		t.Fatalf("workers %+v", ws)
	}
}

// A task whose payload was changed in Redis is refused by the worker: it does not run, no completion is
// written for it, and its dispatcher finds it refused (and queues it again, signed).
func TestTamperedTaskIsRefused(t *testing.T) {
	ctx := context.Background()
	_, rdb, q := setup(t, Options{})
	q.Enqueue(ctx, task("a", ""), task("b", ""))
	rdb.HSet(ctx, q.key("t", "a"), "payload", `{"id":"a","entry":"Evil"}`)
	ls, err := q.Dequeue(ctx, "w", nil, 10)
	if err != nil || len(ls) != 1 || ls[0].Task.ID != "b" {
		t.Fatal(ls, err)
	}
	if cs, _, _ := q.Results(ctx, "0", 10, 0); len(cs) != 0 {
		t.Fatalf("%+v", cs)
	}
	if _, leased, _ := q.Depths(ctx); leased != 1 {
		t.Fatal(leased)
	}
	if pl, err := q.Locate(ctx, []string{"a"}); err != nil || pl[0].State != "refused" {
		t.Fatalf("%+v %v", pl, err)
	}
	if q.Refused() != 1 {
		t.Fatalf("refused %d", q.Refused())
	}
	// Queued again by its dispatcher, signed: it runs.
	if _, err := q.Enqueue(ctx, task("a", "")); err != nil {
		t.Fatal(err)
	}
	if ls, _ := q.Dequeue(ctx, "w", nil, 10); len(ls) != 1 || ls[0].Task.Entry != "Add" {
		t.Fatal(ls)
	}
}

func TestAckMany(t *testing.T) {
	ctx := context.Background()
	_, rdb, q := setup(t, Options{})
	var ids []string
	for i := 0; i < 2500; i++ {
		ids = append(ids, rdb.XAdd(ctx, &redis.XAddArgs{Stream: q.key("results"), Values: []string{"task", "x"}}).Val())
	}
	if err := q.Ack(ctx, ids...); err != nil {
		t.Fatal(err)
	}
	if n := streamLen(t, rdb, q); n != 0 {
		t.Fatal(n)
	}
	if err := q.Ack(ctx); err != nil { // trims only
		t.Fatal(err)
	}
}

func TestDepths(t *testing.T) {
	ctx := context.Background()
	_, _, q := setup(t, Options{})
	if d, l, err := q.Depths(ctx); len(d) != 0 || l != 0 || err != nil {
		t.Fatal(d, l, err)
	}
	q.Enqueue(ctx, task("a", ""), task("b", ""), task("c", "gpu"))
	q.Dequeue(ctx, "w", nil, 1)
	d, l, _ := q.Depths(ctx)
	if d["default"] != 1 || d["gpu"] != 1 || l != 1 {
		t.Fatal(d, l)
	}
}

func TestRedisRestart(t *testing.T) {
	ctx := context.Background()
	r, rdb, q := setup(t, Options{Lease: 2 * time.Second})
	q.Enqueue(ctx, task("a", ""), task("b", ""), task("c", "gpu"))
	ls, err := q.Dequeue(ctx, "w1", nil, 1)
	if err != nil || len(ls) != 1 {
		t.Fatal(ls, err)
	}
	q.Heartbeat(ctx, WorkerInfo{ID: "w1"})

	r.restart() // SIGKILL, then start again on the same port and dir: the AOF is replayed

	// The same client works again (its pooled connections are dead; go-redis redials).
	var d map[string]int64
	var leased int64
	for i := 0; ; i++ {
		d, leased, err = q.Depths(ctx)
		if err == nil {
			break
		}
		if i == 20 {
			t.Fatalf("client did not reconnect: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if d["default"] != 1 || d["gpu"] != 1 || leased != 1 {
		t.Fatalf("after restart: %v %d", d, leased)
	}
	if src, _ := q.Program(ctx, h1); src != testProgram {
		t.Fatal("program lost")
	}
	// The lease survived: its worker extends and completes it; the rest of the work flows as before.
	if n, err := held(q, "w1", ls); n != 1 || err != nil {
		t.Fatalf("extend after restart: %d %v", n, err)
	}
	if ok, err := q.Complete(ctx, ls[0], okOutcome(`1`)); !ok || err != nil {
		t.Fatalf("complete after restart: %v %v", ok, err)
	}
	more, err := q.Dequeue(ctx, "w1", []string{"default", "gpu"}, 10)
	if err != nil || len(more) != 2 {
		t.Fatal(more, err)
	}
	oks, err := q.CompleteBatch(ctx, more, []executors.Outcome{okOutcome(`2`), okOutcome(`3`)})
	if err != nil || !oks[0] || !oks[1] {
		t.Fatal(oks, err)
	}
	cs, _, err := q.Results(ctx, "0", 10, 0)
	if err != nil || len(cs) != 3 {
		t.Fatalf("results %+v %v", cs, err)
	}
	// A pub/sub subscription survives a restart too (go-redis resubscribes).
	sub := rdb.Subscribe(ctx, q.CancelChannel())
	defer sub.Close()
	sub.Receive(ctx)
	q.Enqueue(ctx, task("d", ""))
	dl, _ := q.Dequeue(ctx, "w1", nil, 1)
	r.restart()
	for i := 0; ; i++ {
		if err = q.Cancel(ctx, dl[0].Task.ID); err == nil {
			break
		}
		if i == 20 {
			t.Fatalf("cancel after restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The message may be published before the subscriber has resubscribed; keep cancelling (idempotent flag)
	// until it arrives, as a dispatcher would rely on IsCancelled polling anyway.
	deadline := time.Now().Add(5 * time.Second)
	for {
		mctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		msg, err := sub.ReceiveMessage(mctx)
		cancel()
		if err == nil && strings.HasPrefix(msg.Payload, "d ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no cancel message after restart: %v", err)
		}
		q.Cancel(ctx, "d")
	}
}

func TestBatch10k(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	ctx := context.Background()
	_, rdb, q := setup(t, Options{})
	const n = 10000
	tasks := make([]*executors.Task, n)
	for i := range tasks {
		tasks[i] = task(fmt.Sprint("t", i), "")
	}
	start := time.Now()
	if _, err := q.Enqueue(ctx, tasks...); err != nil {
		t.Fatal(err)
	}
	enq := time.Since(start)
	done := 0
	for {
		ls, err := q.Dequeue(ctx, "w", nil, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) == 0 {
			break
		}
		ocs := make([]executors.Outcome, len(ls))
		for i := range ocs {
			ocs[i] = okOutcome(`1`)
		}
		oks, err := q.CompleteBatch(ctx, ls, ocs)
		if err != nil {
			t.Fatal(err)
		}
		for _, ok := range oks {
			if ok {
				done++
			}
		}
	}
	seen, after := 0, ""
	for seen < n {
		cs, last, err := q.Results(ctx, after, 1000, time.Second)
		if err != nil || len(cs) == 0 {
			t.Fatalf("results after %d: %v", seen, err)
		}
		ids := make([]string, len(cs))
		for i, c := range cs {
			ids[i] = c.StreamID
		}
		if err := q.Ack(ctx, ids...); err != nil {
			t.Fatal(err)
		}
		seen += len(cs)
		after = last
	}
	total := time.Since(start)
	if done != n || seen != n || streamLen(t, rdb, q) != 0 {
		t.Fatalf("done %d seen %d", done, seen)
	}
	t.Logf("10,000 tasks: enqueue %v, enqueue+dequeue(100)+complete(100)+results+ack %v (%.0f tasks/s)",
		enq, total, n/total.Seconds())
}

func BenchmarkRoundTrip(b *testing.B) {
	ctx := context.Background()
	_, _, q := setup(b, Options{})
	const batch = 100
	tasks := make([]*executors.Task, batch)
	ocs := make([]executors.Outcome, batch)
	for i := range ocs {
		ocs[i] = okOutcome(`1`)
	}
	after := ""
	b.ResetTimer()
	start := time.Now()
	for done := 0; done < b.N; {
		k := min(batch, b.N-done)
		for i := 0; i < k; i++ {
			tasks[i] = task(fmt.Sprint("t", done+i), "")
		}
		if _, err := q.Enqueue(ctx, tasks[:k]...); err != nil {
			b.Fatal(err)
		}
		ls, err := q.Dequeue(ctx, "w", nil, k)
		if err != nil || len(ls) != k {
			b.Fatal(len(ls), err)
		}
		if _, err := q.CompleteBatch(ctx, ls, ocs[:k]); err != nil {
			b.Fatal(err)
		}
		cs, last, err := q.Results(ctx, after, k, time.Second)
		if err != nil || len(cs) != k {
			b.Fatal(len(cs), err)
		}
		ids := make([]string, len(cs))
		for i, c := range cs {
			ids[i] = c.StreamID
		}
		if err := q.Ack(ctx, ids...); err != nil {
			b.Fatal(err)
		}
		after = last
		done += k
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tasks/s")
}
