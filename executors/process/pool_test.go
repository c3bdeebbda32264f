package process

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govalent/govalent/internal/testkit/workerbin"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/executortest"
)

var workerBin string

func TestMain(m *testing.M) { workerbin.Main(m, &workerBin) }

func workerCommand() []string { return []string{workerBin, "worker", "--pipe"} }

const program = `package main

import ("fmt"; "os"; "strings"; "time")

func Sleep(ms int) int { time.Sleep(time.Duration(ms) * time.Millisecond); return ms }
func Crash() int { time.AfterFunc(0, func() { panic("host goroutine") }); time.Sleep(time.Second); return 0 }
func CrashAfter(ms int) int { time.Sleep(time.Duration(ms) * time.Millisecond); return Crash() }
func Pid() int { return os.Getpid() }
func Say(s string) string { fmt.Println(s); fmt.Fprint(os.Stderr, "e" + s); return s }
func Hold(ms int) int { return Sleep(ms) }
func Big(n int) string { return strings.Repeat("x", n) }
func Loud(n int) int { fmt.Print(strings.Repeat("y", n)); return n }
func Forge(n int, newline bool) int {
	reply := strings.Repeat("z", n)
	if newline {
		reply += "\n"
	}
	os.NewFile(4, "replies").WriteString(reply) // the worker's reply pipe, written around the worker
	time.Sleep(time.Minute)
	return n
}
`

var taskSeq int

func task(entry string, args ...string) *executors.Task {
	taskSeq++
	t := &executors.Task{ID: fmt.Sprintf("t%d", taskSeq), Kind: executors.KindElectron, Entry: entry, ProgramHash: "p1", Program: program}
	for _, a := range args {
		t.Args = append(t.Args, []byte(a))
	}
	return t
}

// run submits tasks and returns their outcomes in order.
func run(p *Pool, tasks ...*executors.Task) []executors.Outcome {
	out := make([]executors.Outcome, len(tasks))
	var wg sync.WaitGroup
	for i, t := range tasks {
		wg.Add(1)
		p.Submit(t, func(oc executors.Outcome) { out[i] = oc; wg.Done() })
	}
	wg.Wait()
	return out
}

func TestPoolRunsReusesAndRecovers(t *testing.T) {
	p := NewPool(Config{Name: "pool", Size: 1, Reuse: true, Command: workerCommand()})
	defer p.Close()
	out := run(p, task("Pid"), task("Pid"), task("Crash"), task("Pid"))
	if out[0].Error != "" || executortest.Text(out[0].Output) != executortest.Text(out[1].Output) {
		t.Fatalf("one process runs both: %+v %+v", out[0], out[1])
	}
	if !strings.Contains(out[2].Error, "worker process died") || !strings.Contains(out[2].Error, "host goroutine") {
		t.Fatalf("crash: %+v", out[2])
	}
	if out[3].Error != "" || executortest.Text(out[3].Output) == executortest.Text(out[0].Output) {
		t.Fatalf("a new process after the crash: %+v", out[3])
	}
	if st := p.Stats(); st.Done != 4 || st.Busy != 0 || st.Queued != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestLocalStartsAProcessPerTask(t *testing.T) {
	p := NewPool(Config{Name: "local", Size: 2, Reuse: false, Command: workerCommand()})
	defer p.Close()
	out := run(p, task("Pid"), task("Pid"), task("Pid"))
	seen := map[string]bool{}
	for _, oc := range out {
		if oc.Error != "" || seen[executortest.Text(oc.Output)] {
			t.Fatalf("outcomes %+v", out)
		}
		seen[executortest.Text(oc.Output)] = true
	}
}

func TestCancelAndTimeLimit(t *testing.T) {
	p := NewPool(Config{Name: "pool", Size: 1, Reuse: true, Command: workerCommand()})
	defer p.Close()
	running, queued := task("Sleep", "20000"), task("Sleep", "1")
	results := make(chan executors.Outcome, 2)
	p.Submit(running, func(oc executors.Outcome) { results <- oc })
	p.Submit(queued, func(oc executors.Outcome) { results <- oc })
	p.Cancel(queued.ID)
	if oc := <-results; !oc.Cancelled {
		t.Fatalf("queued: %+v", oc)
	}
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	p.Cancel(running.ID)
	if oc := <-results; !oc.Cancelled || time.Since(start) > 2*time.Second {
		t.Fatalf("running: %+v after %s", oc, time.Since(start))
	}
	limited := task("Sleep", "20000")
	limited.TimeLimit = 300 * time.Millisecond
	if oc := run(p, limited)[0]; !strings.Contains(oc.Error, "time limit of 300ms exceeded") {
		t.Fatalf("limited: %+v", oc)
	}
	if oc := run(p, task("Sleep", "5"))[0]; executortest.Text(oc.Output) != "5" {
		t.Fatalf("after kills: %+v", oc)
	}
}

func TestMissingProgramAndBadArgs(t *testing.T) {
	p := NewPool(Config{Name: "pool", Size: 1, Reuse: true, Command: workerCommand()})
	defer p.Close()
	noProg := task("Pid")
	noProg.ProgramHash, noProg.Program = "other", ""
	if oc := run(p, noProg)[0]; !strings.Contains(oc.Error, "no program other") {
		t.Fatalf("%+v", oc)
	}
	if oc := run(p, task("Sleep", `"soon"`))[0]; !strings.Contains(oc.Error, "cannot decode") {
		t.Fatalf("%+v", oc)
	}
	broken := task("Pid")
	broken.ProgramHash, broken.Program = "broken", "package main\nfunc Pid() int { return nope }\n"
	if oc := run(p, broken)[0]; !strings.Contains(oc.Error, "undefined: nope") {
		t.Fatalf("%+v", oc)
	}
}

// A worker keeps only a few rebuilt programs, but never forgets a program's source: the dispatcher sends each
// one once.
func TestEvictedProgramsCanRunAgain(t *testing.T) {
	p := NewPool(Config{Name: "pool", Size: 1, Reuse: true, Command: workerCommand()})
	defer p.Close()
	var tasks []*executors.Task
	for i := 0; i <= maxSessions+1; i++ {
		tk := task("Pid")
		tk.ProgramHash = fmt.Sprintf("prog%d", i)
		tasks = append(tasks, tk)
	}
	again := task("Pid")
	again.ProgramHash = "prog0"
	for _, oc := range run(p, append(tasks, again)...) {
		if oc.Error != "" {
			t.Fatalf("%+v", oc)
		}
	}
}

// inSlot waits until n tasks have been handed to the pool's processes (running or pipelined behind).
func inSlot(t *testing.T, p *Pool, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); p.Stats().Busy < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d tasks were handed to the process", p.Stats().Busy, n)
		}
	}
}

// Quick tasks are sent to a process while it runs another; one cancelled before it starts is skipped, and the
// ones behind a task whose process dies run again in a new process instead of failing.
func TestPipelinedTasks(t *testing.T) {
	p := NewPool(Config{Name: "pool", Size: 1, Reuse: true, Command: workerCommand()})
	defer p.Close()
	quick := func(entries ...string) { // as if they had run quickly before
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, e := range entries {
			p.quick[executors.RunKey(&executors.Task{ProgramHash: "p1", Entry: e})] = time.Microsecond
		}
	}
	quick("Sleep")

	// While a first task runs, the others queue up; then the slow one runs with the other two sent behind it.
	first, slow, skipped, after := task("Hold", "200"), task("Sleep", "300"), task("Sleep", "0"), task("Sleep", "0")
	results := map[*executors.Task]chan executors.Outcome{}
	for _, tk := range []*executors.Task{first, slow, skipped, after} {
		results[tk] = make(chan executors.Outcome, 1)
		p.Submit(tk, func(oc executors.Outcome) { results[tk] <- oc })
	}
	<-results[first]
	inSlot(t, p, 3) // pipelined: all three are with the one process
	p.Cancel(skipped.ID)
	if oc := <-results[slow]; executortest.Text(oc.Output) != "300" {
		t.Fatalf("slow: %+v", oc)
	}
	if oc := <-results[skipped]; !oc.Cancelled {
		t.Fatalf("cancelled while waiting behind the slow one: %+v", oc)
	}
	if oc := <-results[after]; executortest.Text(oc.Output) != "0" {
		t.Fatalf("after: %+v", oc)
	}

	quick("CrashAfter", "Pid")
	dies, behind := task("CrashAfter", "100"), []*executors.Task{task("Pid"), task("Pid")}
	var wg sync.WaitGroup
	outs := make([]executors.Outcome, 4)
	for i, tk := range append([]*executors.Task{task("Hold", "200"), dies}, behind...) {
		wg.Add(1)
		p.Submit(tk, func(oc executors.Outcome) { outs[i] = oc; wg.Done() })
	}
	inSlot(t, p, 3)
	wg.Wait()
	if !strings.Contains(outs[1].Error, "worker process died") {
		t.Fatalf("exit: %+v", outs[1])
	}
	if outs[2].Error != "" || outs[3].Error != "" || executortest.Text(outs[2].Output) != executortest.Text(outs[3].Output) {
		t.Fatalf("tasks behind the one that died run in the next process: %+v %+v", outs[2], outs[3])
	}
	if st := p.Stats(); st.Busy != 0 || st.Queued != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Cancelling the running task and then the ones pipelined behind it (a dispatch cancelled whole) stops them
// all: the process is killed for the first, and the others, sent back to the queue with it, do not run again.
func TestCancelRunningAndPipelined(t *testing.T) {
	p := NewPool(Config{Name: "pool", Size: 1, Reuse: true, Command: workerCommand()})
	defer p.Close()
	p.mu.Lock()
	p.quick[executors.RunKey(&executors.Task{ProgramHash: "p1", Entry: "Say"})] = time.Microsecond
	p.mu.Unlock()
	tasks := []*executors.Task{task("Hold", "60000"), task("Say", `"one"`), task("Say", `"two"`)}
	outs := make([]chan executors.Outcome, len(tasks))
	for i, tk := range tasks {
		outs[i] = make(chan executors.Outcome, 1)
		p.Submit(tk, func(oc executors.Outcome) { outs[i] <- oc })
	}
	inSlot(t, p, 3)
	for _, tk := range tasks {
		p.Cancel(tk.ID)
	}
	for i, ch := range outs {
		select {
		case oc := <-ch:
			if !oc.Cancelled || oc.Output != nil {
				t.Fatalf("task %d: %+v", i, oc)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("task %d: no outcome", i)
		}
	}
}

// Each task's stdout and stderr hold what it wrote, and nothing of the tasks before it.
func TestOutputPerTask(t *testing.T) {
	p := NewPool(Config{Name: "pool", Size: 1, Reuse: true, Command: workerCommand()})
	defer p.Close()
	out := run(p, task("Say", `"a"`), task("Pid"), task("Say", `"b"`))
	if out[0].Stdout != "a\n" || out[0].Stderr != "ea" || out[1].Stdout != "" || out[1].Stderr != "" ||
		out[2].Stdout != "b\n" || out[2].Stderr != "eb" {
		t.Fatalf("%+v", out)
	}
}

// A task whose start-by time has passed when its process comes to it does not run: it ends Unstarted. (The
// Redis pool's workers give each task the time until which its lease is surely held.)
func TestPoolStartByPassedTaskDoesNotStart(t *testing.T) {
	late := task("Say", `"late"`)
	p := NewPool(Config{Name: "pool", Size: 1, Reuse: true, Command: workerCommand(), StartBy: func(t *executors.Task) time.Time {
		if t.ID == late.ID {
			return time.Now().Add(-time.Millisecond)
		}
		return time.Now().Add(time.Hour)
	}})
	defer p.Close()
	out := run(p, task("Say", `"early"`), late, task("Say", `"after"`))
	if out[0].Unstarted || executortest.Text(out[0].Output) != `"early"` || !out[1].Unstarted || len(executortest.Text(out[1].Output)) != 0 ||
		strings.Contains(out[1].Stdout, "late") || executortest.Text(out[2].Output) != `"after"` {
		t.Fatalf("%+v", out)
	}
}

// What a worker process sends back for a task is bounded by MaxReply: a task that returns or prints more fails
// naming the sizes and the limit (the worker measures its reply); one whose code writes past the worker to the
// reply pipe is cut off at the limit and its process replaced. The tasks around them run, replies that
// together exceed the limit go through, and the pool never holds a reply beyond the limit.
func TestReplyLimit(t *testing.T) {
	const limit = 64 << 10
	p := NewPool(Config{Name: "pool", Size: 1, Reuse: true, Command: workerCommand(), MaxReply: limit})
	defer p.Close()
	pid := executortest.Text(run(p, task("Pid"))[0].Output)
	out := run(p, task("Big", "100000"), task("Loud", "90000"), task("Pid"), task("Big", "60000"))
	sizes := regexp.MustCompile(`^the task's reply to the dispatcher is (\d+) KiB, more than the 64 KiB allowed \(max_reply\): its output is ([0-9.]+ [KM]?i?B), stdout ([0-9.]+ [KM]?i?B)`)
	if m := sizes.FindStringSubmatch(out[0].Error); m == nil || m[2] != "98 KiB" || m[3] != "0 B" || out[0].Output != nil {
		t.Fatalf("a large output: %+v", out[0].Error)
	}
	if m := sizes.FindStringSubmatch(out[1].Error); m == nil || m[2] != "8 B" || m[3] != "88 KiB" || out[1].Stdout != "" {
		t.Fatalf("a large stdout: %q", out[1].Error)
	}
	if out[2].Error != "" || executortest.Text(out[2].Output) != pid || out[3].Error != "" || len(executortest.Text(out[3].Output)) != 60002 {
		t.Fatalf("the tasks after them, in the same process: %+v %v", out[2], out[3].Error)
	}

	// Replies of 40 KiB, pipelined behind one another: together past the limit, each within it.
	p.mu.Lock()
	p.quick[executors.RunKey(&executors.Task{ProgramHash: "p1", Entry: "Big"})] = time.Microsecond
	p.mu.Unlock()
	var burst []*executors.Task
	for range 20 {
		burst = append(burst, task("Big", "40000"))
	}
	for i, oc := range run(p, burst...) {
		if oc.Error != "" || len(executortest.Text(oc.Output)) != 40002 {
			t.Fatalf("burst task %d: %v", i, oc.Error)
		}
	}

	// Written around the worker: cut off at the limit, whether a line ends or not, without waiting for the
	// task (it sleeps a minute); the process is replaced.
	for _, newline := range []string{"false", "true"} {
		start := time.Now()
		out = run(p, task("Forge", "10000000", newline), task("Pid"))
		if out[0].Error != "executor pool: the worker process sent more than the 64 KiB a reply may take (max_reply); the process was replaced" ||
			time.Since(start) > 30*time.Second {
			t.Fatalf("a forged reply: %+v after %s", out[0], time.Since(start))
		}
		if out[1].Error != "" || executortest.Text(out[1].Output) == pid {
			t.Fatalf("after a forged reply, a new process: %+v", out[1])
		}
	}
	// A forged line within the limit is not JSON: the task fails, and the process is replaced.
	if oc := run(p, task("Forge", "100", "true"))[0]; !strings.Contains(oc.Error, "the worker process sent a malformed reply") {
		t.Fatalf("a malformed reply: %+v", oc)
	}
	if st := p.Stats(); st.Busy != 0 || st.Queued != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPoolMaxReply(t *testing.T) {
	for _, tc := range []struct {
		table map[string]any
		want  int64
		err   string
	}{
		{nil, DefaultMaxReply, ""},
		{map[string]any{"max_reply": "256MiB"}, 256 << 20, ""},
		{map[string]any{"max_reply": int64(1 << 20)}, 1 << 20, ""},
		{map[string]any{"max_reply": "1KiB"}, 0, "at least 64 KiB"},
		{map[string]any{"max_reply": "lots"}, 0, "max_reply"},
		{map[string]any{"max_replies": "1GiB"}, 0, `unknown setting "max_replies"`},
	} {
		n, err := MaxReply("pool", tc.table)
		if n != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%v: %d, %v", tc.table, n, err)
		}
	}
}

// A failure's kind, whether a retry could help, and its place in the user's cells come back with its message.
func TestErrorsSayWhatFailed(t *testing.T) {
	p := NewPool(Config{Name: "pool", Size: 1, Reuse: true, Command: workerCommand()})
	defer p.Close()
	const cells = "package main\n\n/*line cell3:1:1*/func P() int {\n\tpanic(\"boom\")\n}\n"
	panicky := &executors.Task{ID: "cells-panic", Kind: executors.KindElectron, Entry: "P", ProgramHash: "p2", Program: cells}
	slow := task("Sleep", "60000")
	slow.TimeLimit = 300 * time.Millisecond
	out := run(p, panicky, task("Crash"), slow)
	if oc := out[0]; oc.ErrorKind != executors.ErrorUser || oc.Retryable || oc.ErrorCell != "cell3:2" {
		t.Errorf("a panic in a cell: kind %q retryable %v cell %q (%s / %s)", oc.ErrorKind, oc.Retryable, oc.ErrorCell, oc.Error, oc.Stack)
	}
	if oc := out[1]; oc.ErrorKind != executors.ErrorCrash || !oc.Retryable {
		t.Errorf("a crash: kind %q retryable %v", oc.ErrorKind, oc.Retryable)
	}
	if oc := out[2]; oc.ErrorKind != executors.ErrorTimeLimit || oc.Retryable {
		t.Errorf("over the time limit: kind %q retryable %v", oc.ErrorKind, oc.Retryable)
	}
}

// Large values travel after their message's line as they are, not in it as base64: a 1 MiB output costs a
// 1 MiB reply, and arrives whole; small ones stay in the line.
func TestLargeValuesFollowTheirLine(t *testing.T) {
	var pipe bytes.Buffer
	rw := newReplyWriter(&pipe)
	big := bytes.Repeat([]byte{0xd9, 0x00, 0xff, '\n'}, 1<<18)
	if err := rw.write(reply{ID: "big", Outcome: executors.Outcome{Output: big}}, 0, true); err != nil {
		t.Fatal(err)
	}
	if err := rw.write(reply{ID: "small", Outcome: executors.Outcome{Output: []byte("tiny")}}, 0, true); err != nil {
		t.Fatal(err)
	}
	if extra := pipe.Len() - len(big); extra > 1<<10 {
		t.Fatalf("a 1 MiB output took %d bytes more than itself", extra)
	}
	br := bufio.NewReader(&pipe)
	for _, want := range []reply{{ID: "big", Outcome: executors.Outcome{Output: big}}, {ID: "small", Outcome: executors.Outcome{Output: []byte("tiny")}}} {
		var rep reply
		values, err := readMessage(br, &rep, func() []int {
			if rep.OutputSize > 0 {
				return []int{rep.OutputSize}
			}
			return nil
		}, func(int64) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		if values != nil {
			rep.Outcome.Output = values[0]
		}
		if rep.ID != want.ID || !bytes.Equal(rep.Outcome.Output, want.Outcome.Output) {
			t.Fatalf("read %s with %d bytes of output, want %s with %d", rep.ID, len(rep.Outcome.Output), want.ID, len(want.Outcome.Output))
		}
	}
	// A stream cut inside a value is an error, not a short value.
	pipe.Reset()
	rw.write(reply{ID: "cut", Outcome: executors.Outcome{Output: big}}, 0, true)
	pipe.Truncate(pipe.Len() - 10)
	var rep reply
	if _, err := readMessage(bufio.NewReader(&pipe), &rep, func() []int { return []int{rep.OutputSize} }, func(int64) error { return nil }); err == nil {
		t.Fatal("a cut value was read")
	}
}
