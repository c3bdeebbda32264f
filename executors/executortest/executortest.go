// Package executortest is the conformance suite every executor runs: the rules of the executors.Executor
// contract, tested the same way for all of them.
package executortest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govalent/govalent/ct/codec"
	"github.com/govalent/govalent/executors"
)

// Program is the program of the suite's tasks; an executor's test setup may need to know it (a Redis pool
// stores it for its workers).
const Program = `package main

import ("fmt"; "os"; "strings"; "time")

func Echo(s string) string { return s }
func Fail(s string) (int, error) { return 0, fmt.Errorf("failed: %s", s) }
func Panic(s string) int { panic(s) }
func Exit(code int) int { os.Exit(code); return 0 }
func Say(s string) string { fmt.Println("out " + s); fmt.Fprintln(os.Stderr, "err " + s); return s }
func Len(s string) int { return len(s) }
func Repeat(s string, n int) string { return strings.Repeat(s, n) }
// Hold marks that it started by creating path, then sleeps.
func Hold(path string, ms int) int {
	os.WriteFile(path, nil, 0o600)
	time.Sleep(time.Duration(ms) * time.Millisecond)
	return ms
}
`

// ProgramHash is Program's hash, as the dispatcher computes it (results.ProgramHash).
var ProgramHash = func() string { s := sha256.Sum256([]byte(Program)); return hex.EncodeToString(s[:16]) }()

// Options say what an executor can be asked to do.
type Options struct {
	// Capacity is how many tasks the executor runs at once; with it, the suite queues a task behind that many
	// and cancels it there. 0: the executor has no fixed capacity, and that case is skipped.
	Capacity int
	// NoStdio: the executor does not bring back what an electron writes to stdout and stderr.
	NoStdio bool
	// NotReturnValues: an outcome's output is not the electron's return value (a quantum executor runs the
	// circuit its electron returns), so only failures, cancellation, time limits, Close and the count of
	// outcomes are checked.
	NotReturnValues bool
	// Wait bounds each wait for an outcome; 0 means 30s.
	Wait time.Duration
}

// Run runs the conformance suite; newExecutor makes a fresh executor for each case (the suite closes it).
func Run(t *testing.T, newExecutor func(t *testing.T) executors.Executor, opts Options) {
	if opts.Wait == 0 {
		opts.Wait = 30 * time.Second
	}
	// Each case says which executors it applies to: one that cannot do it (a quantum executor's outputs are not
	// its electrons' return values) does not run it, and the suite logs what it left out and why.
	needValues := func(o Options) string {
		if o.NotReturnValues {
			return "outputs are not the electrons' return values"
		}
		return ""
	}
	cases := []struct {
		name    string
		run     func(*suite)
		missing func(Options) string // why the case does not apply; "" if it does
	}{
		{"OutcomeOnce", (*suite).outcomeOnce, nil},
		{"Failure", (*suite).failure, nil},
		{"PanickingElectron", (*suite).panicking, nil},
		{"ExitingElectron", (*suite).exiting, nil},
		{"Stdio", (*suite).stdio, func(o Options) string {
			if o.NoStdio {
				return "the executor does not bring back stdout and stderr"
			}
			return needValues(o)
		}},
		{"LargeValues", (*suite).largeValues, needValues},
		{"TimeLimit", (*suite).timeLimit, nil},
		{"Retry", (*suite).retry, needValues},
		{"CancelRunning", (*suite).cancelRunning, nil},
		{"CancelQueued", (*suite).cancelQueued, func(o Options) string {
			if o.Capacity == 0 {
				return "the executor has no fixed capacity to queue behind"
			}
			return ""
		}},
		{"CloseInFlight", (*suite).closeInFlight, nil},
	}
	for _, c := range cases {
		if c.missing != nil {
			if why := c.missing(opts); why != "" {
				t.Logf("%s does not apply: %s", c.name, why)
				continue
			}
		}
		t.Run(c.name, func(t *testing.T) {
			s := &suite{t: t, opts: opts, ex: newExecutor(t), calls: map[string]int{}, got: map[string]chan executors.Outcome{}}
			t.Cleanup(s.close)
			c.run(s)
		})
	}
}

type suite struct {
	t    *testing.T
	opts Options
	ex   executors.Executor
	seq  int

	mu     sync.Mutex
	calls  map[string]int // task id -> how many times done was called
	got    map[string]chan executors.Outcome
	closed bool
}

// close closes the executor once, and checks that no outcome came twice.
func (s *suite) close() {
	s.mu.Lock()
	closed := s.closed
	s.closed = true
	s.mu.Unlock()
	if !closed {
		s.ex.Close()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, n := range s.calls {
		if n > 1 {
			s.t.Errorf("task %s: done called %d times", id, n)
		}
	}
}

func (s *suite) task(entry string, args ...any) *executors.Task {
	s.seq++
	t := &executors.Task{ID: fmt.Sprintf("%s-%d-%d", strings.ReplaceAll(s.t.Name(), "/", "-"), time.Now().UnixNano(), s.seq),
		DispatchID: "d1", NodeID: s.seq, Kind: executors.KindElectron, Entry: entry, ProgramHash: ProgramHash, Program: Program}
	for _, a := range args {
		raw, err := json.Marshal(a)
		if err != nil {
			s.t.Fatal(err)
		}
		t.Args = append(t.Args, raw)
	}
	return t
}

func (s *suite) submit(t *executors.Task) {
	ch := make(chan executors.Outcome, 1)
	s.mu.Lock()
	s.got[t.ID] = ch
	s.mu.Unlock()
	s.ex.Submit(t, func(oc executors.Outcome) {
		s.mu.Lock()
		s.calls[t.ID]++
		first := s.calls[t.ID] == 1
		s.mu.Unlock()
		if first {
			ch <- oc
		}
	})
}

func (s *suite) outcome(t *executors.Task) executors.Outcome {
	s.t.Helper()
	s.mu.Lock()
	ch := s.got[t.ID]
	s.mu.Unlock()
	select {
	case oc := <-ch:
		return oc
	case <-time.After(s.opts.Wait):
		s.t.Fatalf("no outcome of %s (%s) within %s", t.ID, t.Entry, s.opts.Wait)
		return executors.Outcome{}
	}
}

func (s *suite) run(t *executors.Task) executors.Outcome {
	s.t.Helper()
	s.submit(t)
	return s.outcome(t)
}

func (s *suite) wantOutput(oc executors.Outcome, want any) {
	s.t.Helper()
	if s.opts.NotReturnValues {
		return
	}
	b, _ := json.Marshal(want)
	if oc.Error != "" || oc.Cancelled || Text(oc.Output) != Text(b) {
		s.t.Fatalf("outcome: output %.200s error %q cancelled %v; want output %.200s", oc.Output, oc.Error, oc.Cancelled, b)
	}
	if oc.Start.IsZero() || oc.End.Before(oc.Start) {
		s.t.Fatalf("outcome times: start %v end %v", oc.Start, oc.End)
	}
}

// held submits a task that holds a place until cancelled, and waits until it runs (its file appears).
func (s *suite) held() *executors.Task {
	s.t.Helper()
	path := filepath.Join(s.t.TempDir(), "started")
	t := s.task("Hold", path, 10*time.Minute/time.Millisecond)
	s.submit(t)
	for deadline := time.Now().Add(s.opts.Wait); ; {
		if _, err := os.Stat(path); err == nil {
			return t
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s did not start within %s", t.ID, s.opts.Wait)
		}
		time.Sleep(10 * time.Millisecond) // polls the file the electron makes: there is no other event to wait on
	}
}

// Every task submitted gets its own outcome, once.
func (s *suite) outcomeOnce() {
	var tasks []*executors.Task
	for i := range 20 {
		t := s.task("Echo", fmt.Sprint("x", i))
		tasks = append(tasks, t)
		s.submit(t)
	}
	for i, t := range tasks {
		s.wantOutput(s.outcome(t), fmt.Sprint("x", i))
	}
	if st := s.ex.Stats(); st.Done < int64(len(tasks)) {
		s.t.Fatalf("stats after %d tasks: %+v", len(tasks), st)
	}
}

// An electron's error is its task's, and says it is the electron's (the kind survives encoding).
func (s *suite) failure() {
	oc := s.run(s.task("Fail", "no good"))
	if !strings.Contains(oc.Error, "failed: no good") || oc.ErrorKind != executors.ErrorUser || oc.Cancelled || oc.Output != nil {
		s.t.Fatalf("a failing electron: %+v", oc)
	}
}

// A panic fails its task only, with the panic's value and stack, and the executor goes on.
func (s *suite) panicking() {
	oc := s.run(s.task("Panic", "boom"))
	if !strings.Contains(oc.Error, "boom") || oc.ErrorKind != executors.ErrorUser || oc.Stack == "" || oc.Cancelled {
		s.t.Fatalf("a panicking electron: %+v", oc)
	}
	s.wantOutput(s.run(s.task("Echo", "after")), "after")
}

// An os.Exit fails its task only, and the executor goes on.
func (s *suite) exiting() {
	oc := s.run(s.task("Exit", 3))
	if oc.Error == "" || oc.Cancelled || oc.Output != nil {
		s.t.Fatalf("an exiting electron: %+v", oc)
	}
	s.wantOutput(s.run(s.task("Echo", "after")), "after")
}

func (s *suite) stdio() {
	oc := s.run(s.task("Say", "hi"))
	s.wantOutput(oc, "hi")
	if !strings.Contains(oc.Stdout, "out hi") || !strings.Contains(oc.Stderr, "err hi") {
		s.t.Fatalf("stdout %q stderr %q", oc.Stdout, oc.Stderr)
	}
}

// An argument and an output of a MiB travel whole.
func (s *suite) largeValues() {
	big := strings.Repeat("ab", 1<<19)
	s.wantOutput(s.run(s.task("Len", big)), len(big))
	s.wantOutput(s.run(s.task("Repeat", "cd", 1<<19)), strings.Repeat("cd", 1<<19))
}

func (s *suite) timeLimit() {
	t := s.task("Hold", filepath.Join(s.t.TempDir(), "started"), 10*time.Minute/time.Millisecond)
	t.TimeLimit = 500 * time.Millisecond
	oc := s.run(t)
	if !strings.Contains(oc.Error, "time limit") || oc.Cancelled {
		s.t.Fatalf("over its time limit: %+v", oc)
	}
}

// A failed task's retry (the same node, a new attempt id) runs again and has its own outcome.
func (s *suite) retry() {
	first := s.task("Fail", "once")
	if oc := s.run(first); oc.Error == "" {
		s.t.Fatalf("first attempt: %+v", oc)
	}
	again := s.task("Echo", "twice")
	again.NodeID = first.NodeID
	s.wantOutput(s.run(again), "twice")
}

func (s *suite) cancelRunning() {
	t := s.held()
	s.ex.Cancel(t.ID)
	if oc := s.outcome(t); !oc.Cancelled {
		s.t.Fatalf("cancelled while running: %+v", oc)
	}
	s.wantOutput(s.run(s.task("Echo", "after")), "after")
}

func (s *suite) cancelQueued() {
	var holders []*executors.Task
	for range s.opts.Capacity {
		holders = append(holders, s.held())
	}
	queued := s.task("Echo", "never")
	s.submit(queued)
	s.ex.Cancel(queued.ID)
	if oc := s.outcome(queued); !oc.Cancelled || oc.Output != nil {
		s.t.Fatalf("cancelled while queued: %+v", oc)
	}
	for _, h := range holders {
		s.ex.Cancel(h.ID)
		if oc := s.outcome(h); !oc.Cancelled {
			s.t.Fatalf("holder: %+v", oc)
		}
	}
}

// Close returns promptly with a task running, and nothing is reported twice after it (see close).
func (s *suite) closeInFlight() {
	s.held()
	s.submit(s.task("Echo", "maybe"))
	closed := make(chan struct{})
	go func() { s.close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(s.opts.Wait):
		s.t.Fatalf("Close did not return within %s with a task running", s.opts.Wait)
	}
}

// Text is an output as text to compare with: its JSON rendering when it is encoded (ct/codec), as it is
// otherwise.
func Text(output []byte) string {
	if !codec.IsEncoded(output) {
		return string(output)
	}
	js, err := codec.ToJSON(output)
	if err != nil {
		return "undecodable: " + err.Error()
	}
	return string(js)
}
