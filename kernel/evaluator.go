package kernel

// The evaluator is the process cells run in (`govalent evaluator`, started by the kernel), so that a cell that
// overflows its stack, calls os.Exit in a goroutine, trips a fatal runtime error or runs out of memory ends the
// evaluator, not the kernel. Its fds 1 and 2 are the kernel's stream pipes; fd 3 brings the kernel's requests
// and fd 4 takes back replies and events, gob-encoded evalMsgs. Requests other than interrupt, input and shown
// are served one at a time, each with one "done" reply.

import (
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"go/scanner"
	"go/token"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"reflect"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/ct/codec"
	"github.com/govalent/govalent/interp"
	"github.com/govalent/govalent/kernel/complete"
	"github.com/govalent/govalent/kernel/display"
)

// evalMsg is one message between the kernel and its evaluator; which fields count depends on Op.
type evalMsg struct {
	// kernel to evaluator: execute, complete, inspect, restore, reset, setenv, chdir, testprog (each answered by one
	// done), interrupt, input (a line for the cell, or Name "eof"/"refused"), shown (a dispatch's display is up).
	// evaluator to kernel: done, display, clear, input (the cell reads stdin), dispatch, exit.
	Op       string
	Cell     string   // execute: the cell's name
	Text     string   // code (execute, complete, inspect), the line (input), value (setenv), dir (chdir), dispatch id, display id
	Name     string   // setenv: the variable; input: why there is no line
	Pos, End int      // cursor (complete, inspect); the completed range (done)
	Flag     bool     // display: an update; clear: wait; done of inspect: found
	Code     int      // exit: the status os.Exit was called with
	Data     []byte   // display, done of execute: the bundle as JSON; done of inspect: the text
	Matches  []string // done of complete; done of testprog: the test functions (Data: the program as JSON)
	Error    *errorContent
	Snapshot *interp.Snapshot  // done of execute: the session, when it changed; restore: what to replay
	Values   map[string][]byte // done of execute: the variables the cell named, encoded (empty: none); restore: their values
	Lost     []string          // done of execute and restore: variables not carried over, with why
	Dir      string            // done of execute: the working directory the cell left (os.Chdir)
}

// Limits of the evaluator process.
const (
	// evaluatorStack fails a recursion without end in seconds, before it takes the memory limit.
	evaluatorStack = 256 << 20
	// maxCarried bounds the encoded values the kernel keeps to restore a session.
	maxCarried = 64 << 20
	// memoryLimitEnv passes the evaluator its hard memory limit, in bytes (see evaluatorMemory).
	memoryLimitEnv = "GOVALENT_EVALUATOR_MEMORY"
	// executableEnv is the kernel's executable (govalent), for what the evaluator starts of it
	executableEnv = "GOVALENT_EXECUTABLE"
)

type evaluator struct {
	encMu sync.Mutex
	enc   *gob.Encoder
	s     *interp.Session

	mu     sync.Mutex
	cancel context.CancelFunc // the running cell's
	ctx    context.Context

	inputs chan evalMsg
	shown  chan struct{}
	sent   *interp.Snapshot // the last snapshot the kernel has
}

// RunEvaluator serves the kernel that started this process, until the kernel closes fd 3.
func RunEvaluator() error {
	// An interrupt is the kernel's to pass on: Jupyter's SIGINT to the process group must not end the cell's
	// process.
	signal.Ignore(syscall.SIGINT)
	for _, fd := range []int{3, 4} {
		syscall.CloseOnExec(fd) // commands a cell starts must not hold the kernel's pipes
	}
	in, out := os.NewFile(3, "kernel-requests"), os.NewFile(4, "kernel-events")
	if in == nil || out == nil {
		return errors.New("govalent evaluator: fds 3 and 4 are the kernel's pipes; the kernel starts this command")
	}
	if err := applyMemoryLimit(os.Getenv(memoryLimitEnv)); err != nil {
		return err
	}
	debug.SetMaxStack(evaluatorStack)
	e := &evaluator{enc: gob.NewEncoder(out), inputs: make(chan evalMsg, 1), shown: make(chan struct{}, 1)}
	s, err := e.newSession()
	if err != nil {
		return err
	}
	e.s = s
	display.SetPublisher(func(b display.Bundle, displayID string, update bool) {
		data, err := json.Marshal(b)
		if err != nil {
			data, _ = json.Marshal(display.Bundle{display.MIMEText: fmt.Sprintf("display: %v", err)})
		}
		e.send(evalMsg{Op: "display", Data: data, Text: displayID, Flag: update})
	})
	display.SetClearer(func(wait bool) { e.send(evalMsg{Op: "clear", Flag: wait}) })
	ct.OnDispatch(e.dispatched)
	if os.Getenv("GOVALENT_AUTOSTART") == "1" {
		ct.SetAutostart(startDispatcher)
	}
	requests := make(chan evalMsg, 16)
	go func() {
		dec := gob.NewDecoder(in)
		for {
			var m evalMsg
			if err := dec.Decode(&m); err != nil {
				os.Exit(0) // the kernel has gone
			}
			switch m.Op {
			case "interrupt":
				e.interrupt()
			case "input":
				select {
				case e.inputs <- m:
				default: // nobody asked: a reply after the read gave up
				}
			case "shown":
				select {
				case e.shown <- struct{}{}:
				default:
				}
			default:
				requests <- m
			}
		}
	}()
	for m := range requests {
		e.send(e.serve(m))
	}
	return nil
}

func (e *evaluator) newSession() (*interp.Session, error) {
	return interp.New(interp.Options{
		Stdout: os.Stdout, Stderr: os.Stderr, Stdin: &evalStdin{e: e},
		Imports:   map[string]string{"display": interp.DisplayPath},
		ModuleDir: os.Getenv(moduleDirEnv),
		// os.Exit in a goroutine ends the process, as in Go; the kernel says which status it was
		Exit: func(code int) {
			e.send(evalMsg{Op: "exit", Code: code})
			os.Exit(code)
		},
	})
}

func (e *evaluator) send(m evalMsg) {
	e.encMu.Lock()
	defer e.encMu.Unlock()
	if err := e.enc.Encode(&m); err != nil {
		os.Exit(0) // the kernel has gone
	}
}

func (e *evaluator) serve(m evalMsg) evalMsg {
	done := evalMsg{Op: "done"}
	fail := func(err error) evalMsg {
		done.Error = &errorContent{EName: "Error", EValue: err.Error(), Traceback: []string{"Error: " + err.Error()}}
		return done
	}
	switch m.Op {
	case "execute":
		return e.execute(m)
	case "complete":
		done.Matches, done.Pos, done.End = complete.Complete(e.s, m.Text, m.Pos)
	case "inspect":
		found, text := complete.Inspect(e.s, m.Text, m.Pos)
		done.Flag, done.Data = found, []byte(text)
	case "restore":
		lost, err := e.s.Restore(context.Background(), *m.Snapshot, m.Values)
		if err != nil {
			return fail(fmt.Errorf("the session could not be restored: %w", err))
		}
		snap := e.s.Snapshot()
		e.sent, done.Lost = &snap, lost
	case "reset":
		s, err := e.newSession()
		if err != nil {
			return fail(err)
		}
		e.s.Close()
		e.s, e.sent = s, nil
	case "testprog":
		prog, names, err := e.s.TestProgram()
		if err != nil {
			return fail(err)
		}
		if done.Data, err = json.Marshal(prog); err != nil {
			return fail(err)
		}
		done.Matches = names
	case "setenv":
		if err := os.Setenv(m.Name, m.Text); err != nil {
			return fail(err)
		}
	case "chdir":
		if err := os.Chdir(m.Text); err != nil {
			return fail(err)
		}
	default:
		return fail(fmt.Errorf("the evaluator does not know the request %q", m.Op))
	}
	return done
}

// execute runs a cell and replies with its value or error, and what the kernel needs to restore the session.
func (e *evaluator) execute(m evalMsg) evalMsg {
	ctx, cancel := context.WithCancel(context.Background())
	e.mu.Lock()
	e.ctx, e.cancel = ctx, cancel
	e.mu.Unlock()
	ct.SetCallContext(ctx)
	res, err := e.s.EvalNamed(ctx, m.Cell, m.Text)
	ct.SetCallContext(context.Background())
	done := evalMsg{Op: "done"}
	if err != nil {
		ec := errorParts(err, ctx)
		done.Error = &ec
	} else if res.Value.IsValid() {
		done.Data, _ = json.Marshal(display.Render(res.Value))
	}
	e.mu.Lock()
	e.ctx, e.cancel = nil, nil
	e.mu.Unlock()
	cancel()
	// a failed cell may have declared or set something before it failed
	e.carry(&done, m.Text)
	done.Dir, _ = os.Getwd()
	return done
}

func (e *evaluator) interrupt() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cancel != nil {
		e.cancel()
	}
}

// cellContext is the running cell's context, or a done one between cells.
func (e *evaluator) cellContext() context.Context {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx == nil {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx
	}
	return e.ctx
}

// carry adds to a cell's reply the session's snapshot, if it changed, and the values of the variables the cell
// names (those it may have set), encoded: the kernel keeps them to restore the session.
func (e *evaluator) carry(done *evalMsg, code string) {
	snap := e.s.Snapshot()
	if e.sent == nil || !reflect.DeepEqual(&snap, e.sent) {
		done.Snapshot, e.sent = &snap, &snap
	}
	named := identifiers(code)
	statementVars := len(snap.Vars)
	for i, v := range append(snap.Vars, snap.Declared...) {
		if !named[v.Name] {
			continue
		}
		val, ok := e.s.Value(v.Name)
		if !ok {
			continue
		}
		val = interp.Carried(val)
		why := ""
		data, err := codec.Marshal(val.Interface())
		dynamic, held := val.Type(), val.Kind() == reflect.Interface && !val.IsNil()
		if held {
			dynamic = val.Elem().Type()
		}
		dropper, drops := codec.DropsData(val)
		switch {
		case err != nil:
			why = err.Error()
		case drops && dropper.PkgPath() == "github.com/traefik/yaegi/interp":
			why = "a value of an interface the cells declare does not carry over"
		case drops:
			why = fmt.Sprintf("%s has unexported fields, and no MarshalBinary to carry them", dropper)
		case held && !comesBack(data, val.Type(), dynamic):
			why = fmt.Sprintf("its value, a %s held as %s, does not come back from its encoding", dynamic, val.Type())
		case len(data) > maxCarried:
			why = fmt.Sprintf("its value is %s encoded, over the %s kept", formatBytes(int64(len(data))), formatBytes(maxCarried))
		}
		if done.Values == nil {
			done.Values = map[string][]byte{}
		}
		switch {
		case why == "":
			done.Values[v.Name] = data
		case i < statementVars:
			done.Lost = append(done.Lost, v.Name+" ("+why+")")
		default:
			done.Values[v.Name] = nil // a declared variable gets its declaration's value again
		}
	}
}

// comesBack tells whether data, an interface value of type iface holding a dynamic one, decodes to a value of
// that dynamic type (an `any` gets plain values: a struct would come back as a map).
func comesBack(data []byte, iface, dynamic reflect.Type) bool {
	p := reflect.New(iface)
	return codec.Unmarshal(data, p.Interface()) == nil && !p.Elem().IsNil() && p.Elem().Elem().Type() == dynamic
}

// identifiers lists the identifiers in Go code.
func identifiers(code string) map[string]bool {
	out := map[string]bool{}
	fset := token.NewFileSet()
	var s scanner.Scanner
	s.Init(fset.AddFile("", -1, len(code)), []byte(code), nil, 0)
	for {
		_, tok, lit := s.Scan()
		if tok == token.EOF {
			return out
		}
		if tok == token.IDENT {
			out[lit] = true
		}
	}
}

// dispatched asks the kernel to show a dispatch's progress, and waits until the display is up so that it comes
// before what the cell prints next.
func (e *evaluator) dispatched(id string) {
	select {
	case <-e.shown: // a stale one, from a dispatch whose wait ended early
	default:
	}
	e.send(evalMsg{Op: "dispatch", Text: id})
	select {
	case <-e.shown:
	case <-e.cellContext().Done():
	case <-time.After(10 * time.Second):
	}
}

// evalStdin asks the kernel, which asks the frontend, for a line when a cell reads standard input.
type evalStdin struct {
	e       *evaluator
	pending []byte
}

func (r *evalStdin) Read(p []byte) (int, error) {
	if len(r.pending) == 0 {
		ctx := r.e.cellContext()
		if ctx.Err() != nil {
			return 0, io.EOF // no cell runs: a goroutine's late read
		}
		r.e.send(evalMsg{Op: "input"})
		select {
		case m := <-r.e.inputs:
			switch m.Name {
			case "refused":
				return 0, errStdinNotAllowed
			case "eof":
				return 0, io.EOF
			}
			r.pending = []byte(m.Text + "\n")
		case <-ctx.Done():
			return 0, io.EOF
		}
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

// startDispatcher starts a missing dispatcher where the SDK looks for it (GOVALENT_AUTOSTART=1).
func startDispatcher() error {
	exe := os.Getenv(executableEnv)
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return err
		}
	}
	args := []string{"start"}
	if u, err := url.Parse(ct.DispatcherURL()); err == nil && (u.Hostname() == "127.0.0.1" || u.Hostname() == "localhost") && u.Port() != "" {
		args = append(args, "--port", u.Port())
	}
	out, err := exec.Command(exe, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("govalent start: %v: %s", err, out)
	}
	return nil
}

// applyMemoryLimit sets the hard limit the kernel passed (RLIMIT_DATA, which counts the Go heap's mappings),
// and the Go runtime's soft limit below it (as GOMEMLIMIT would, unless the user set that), so that the garbage
// collector works harder before an allocation fails.
func applyMemoryLimit(v string) error {
	if v == "" {
		return nil
	}
	limit, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return fmt.Errorf("govalent evaluator: %s=%q: %v", memoryLimitEnv, v, err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_DATA, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
		return fmt.Errorf("govalent evaluator: setting the memory limit: %w", err)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(limit / 4 * 3))
	}
	return nil
}
