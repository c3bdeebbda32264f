package kernel

import (
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/govalent/govalent/kernel/display"
)

// EvaluatorCommand is how the kernel starts the process its cells run in: `govalent evaluator` by default; an
// evaluator built with more compiled packages takes its place with the same protocol.
type EvaluatorCommand struct {
	Path string
	Args []string
	Env  []string // added to the kernel's environment
}

// DefaultEvaluator is this executable's evaluator subcommand.
func DefaultEvaluator() (EvaluatorCommand, error) {
	exe, err := os.Executable()
	if err != nil {
		return EvaluatorCommand{}, fmt.Errorf("kernel: finding the govalent executable: %w", err)
	}
	return EvaluatorCommand{Path: exe, Args: []string{"evaluator"}}, nil
}

// interruptGrace is how long an interrupted cell has to stop before its evaluator is killed.
const interruptGrace = 5 * time.Second

// evalProc is one evaluator process.
type evalProc struct {
	cmd      *exec.Cmd
	reqW     *os.File
	encMu    sync.Mutex
	enc      *gob.Encoder
	replies  chan evalMsg
	dead     chan struct{} // closed once the process has exited
	drained  chan struct{} // closed once all it sent has been read
	exitCode atomic.Int64  // os.Exit(code) in a goroutine, +1; 0 if none
	killed   atomic.Bool   // by the kernel, after an interrupt it did not answer
}

func (ev *evalProc) send(m evalMsg) {
	ev.encMu.Lock()
	defer ev.encMu.Unlock()
	ev.enc.Encode(&m) // fails only once the process is gone, which dead tells
}

// settle waits, after its death, until what the evaluator sent last (a reply, os.Exit's status) has been read.
func (ev *evalProc) settle() {
	select {
	case <-ev.drained:
	case <-time.After(time.Second): // a process it started holds fd 4 open
	}
}

func (ev *evalProc) kill() {
	ev.cmd.Process.Kill()
	<-ev.dead
}

// carried is a variable's value as the kernel keeps it to restore the session, or why it has none.
type carried struct {
	data []byte
	why  string
}

// startEvaluator starts an evaluator process, its output going to the cell's streams.
func (k *Kernel) startEvaluator() (*evalProc, error) {
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	evR, evW, err := os.Pipe()
	if err != nil {
		reqR.Close()
		reqW.Close()
		return nil, err
	}
	k.evMu.Lock()
	command, dir := k.evalCmd, k.evalDir
	k.evMu.Unlock()
	cmd := exec.Command(command.Path, command.Args...)
	if info, err := os.Stat(dir); err == nil && info.IsDir() {
		cmd.Dir = dir // where the last evaluator's cells left it
	}
	cmd.Env = append(os.Environ(), command.Env...)
	cmd.Env = append(cmd.Env, moduleDirEnv+"="+k.modDir)
	if exe, err := os.Executable(); err == nil {
		cmd.Env = append(cmd.Env, executableEnv+"="+exe) // a built evaluator is not govalent
	}
	if k.memory > 0 {
		cmd.Env = append(cmd.Env, memoryLimitEnv+"="+strconv.FormatInt(k.memory, 10))
	}
	if _, set := os.LookupEnv("GOTRACEBACK"); !set {
		// the Go stacks of a crash are the interpreter's, not the cell's
		cmd.Env = append(cmd.Env, "GOTRACEBACK=none")
	}
	cmd.Stdout, cmd.Stderr = k.stdoutW.pipe, k.stderrW.pipe
	cmd.ExtraFiles = []*os.File{reqR, evW}
	// its own process group: a terminal's ^C or Jupyter's SIGINT goes to the kernel, which passes it on
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	reqR.Close()
	evW.Close()
	if err != nil {
		reqW.Close()
		evR.Close()
		return nil, fmt.Errorf("kernel: starting the evaluator %s: %w", command.Path, err)
	}
	ev := &evalProc{cmd: cmd, reqW: reqW, enc: gob.NewEncoder(reqW), replies: make(chan evalMsg, 1), dead: make(chan struct{}), drained: make(chan struct{})}
	go func() {
		cmd.Wait()
		// what its cells started goes with it, as a kernel's process group does when jupyter_client stops it
		// (a dispatcher that `govalent start` started has a session of its own)
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		reqW.Close()
		close(ev.dead)
	}()
	go k.readEvaluator(ev, evR)
	return ev, nil
}

// readEvaluator handles what the evaluator sends: replies go to the waiting request, events out to the frontend.
func (k *Kernel) readEvaluator(ev *evalProc, r *os.File) {
	defer close(ev.drained)
	defer r.Close()
	dec := gob.NewDecoder(r)
	for {
		var m evalMsg
		if err := dec.Decode(&m); err != nil {
			return
		}
		switch m.Op {
		case "done":
			ev.replies <- m
		case "display":
			var b display.Bundle
			json.Unmarshal(m.Data, &b)
			k.publishDisplay(b, m.Text, m.Flag)
		case "clear":
			k.clearOutput(m.Flag)
		case "input":
			go k.answerInput(ev)
		case "dispatch":
			go func() {
				k.watchDispatch(m.Text)
				ev.send(evalMsg{Op: "shown"})
			}()
		case "exit":
			ev.exitCode.Store(int64(m.Code) + 1)
		}
	}
}

// answerInput asks the frontend for the line a cell reads.
func (k *Kernel) answerInput(ev *evalProc) {
	ex := k.current()
	if ex == nil || !ex.allowStdin {
		ev.send(evalMsg{Op: "input", Name: "refused"})
		return
	}
	k.flushStreams()
	for len(k.stdinReplies) > 0 { // a late reply to an earlier request is not this one's answer
		<-k.stdinReplies
	}
	id := k.send(k.stdin, &k.stdinMu, ex.req.Identities, "input_request", ex.req, inputRequest{})
	for {
		select {
		case msg := <-k.stdinReplies:
			var parent Header
			json.Unmarshal(msg.ParentHeader, &parent)
			if parent.MsgID != "" && parent.MsgID != id {
				continue // an answer to another request (jupyter_client sends none with no parent)
			}
			var reply inputReply
			json.Unmarshal(msg.Content, &reply)
			ev.send(evalMsg{Op: "input", Text: reply.Value})
			return
		case <-ex.cellDone:
			ev.send(evalMsg{Op: "input", Name: "eof"})
			return
		}
	}
}

// call sends a request to the evaluator and waits for its reply. An interrupt (ctx done) is passed on; an
// evaluator that does not stop within interruptGrace is killed. When the evaluator dies, the kernel starts a new
// one, restores the session into it, and returns an error that says what happened.
func (k *Kernel) call(ctx context.Context, req evalMsg) (evalMsg, error) {
	ev, err := k.evaluator()
	if err != nil {
		return evalMsg{}, err
	}
	ev.send(req)
	select {
	case rep := <-ev.replies:
		return rep, nil
	case <-ev.dead:
	case <-ctx.Done():
		ev.send(evalMsg{Op: "interrupt"})
		select {
		case rep := <-ev.replies:
			return rep, nil
		case <-ev.dead:
		case <-time.After(interruptGrace):
			ev.killed.Store(true)
			ev.kill()
		}
	}
	ev.settle()
	select {
	case rep := <-ev.replies: // it answered, then died
		return rep, nil
	default:
	}
	return evalMsg{}, k.evaluatorDied(ev)
}

// evaluator returns the running evaluator, starting a new one (with the session restored) if it died between
// requests, a goroutine's doing: what happened is written to the cell's stderr.
func (k *Kernel) evaluator() (*evalProc, error) {
	k.evMu.Lock()
	ev := k.ev
	k.evMu.Unlock()
	if ev != nil {
		select {
		case <-ev.dead:
		default:
			return ev, nil
		}
		fmt.Fprintf(k.stderrW.pipe, "govalent: %s\n", k.evaluatorDied(ev).Error())
	} else if _, err := k.restart(); err != nil {
		return nil, err
	}
	k.evMu.Lock()
	defer k.evMu.Unlock()
	if k.ev == nil {
		return nil, errors.New("kernel: no evaluator is running")
	}
	return k.ev, nil
}

// evaluatorDied describes how ev ended, starts a new evaluator and restores the session into it.
func (k *Kernel) evaluatorDied(ev *evalProc) *cellFailure {
	ev.settle()
	k.stderrW.sync()
	withheld := k.stderrW.takeWithheld()
	own, words := splitLastWords(withheld)
	ename, what := deathCause(ev, words, k.memory)
	if ename == "Exit" || ename == "Interrupted" {
		own = withheld // no words of the runtime's: the cell's own lines that looked like them
	}
	k.stderrW.forwardOwn(own)
	k.flushStreams()
	lost, err := k.restart()
	var msg string
	switch {
	case err != nil:
		msg = fmt.Sprintf("%s; then %v", what, err)
	case len(lost) > 0:
		msg = fmt.Sprintf("%s. A new evaluator took its place, with the session restored as the last cell that completed left it (declarations and variables; statements are not run again), but for: %s", what, strings.Join(lost, "; "))
	default:
		msg = fmt.Sprintf("%s. A new evaluator took its place, with the session restored as the last cell that completed left it (declarations and variables; statements are not run again).", what)
	}
	return &cellFailure{errorContent{EName: ename, EValue: msg, Traceback: []string{"\x1b[0;31m" + ename + "\x1b[0m: " + msg}}}
}

var fatalRe = regexp.MustCompile(`(?m)^fatal error: (.*)$`)

// deathCause names what ended an evaluator, from how it exited and the Go runtime's last words on its stderr.
func deathCause(ev *evalProc, words string, memory int64) (ename, what string) {
	const prefix = "The cell's evaluator process ended: "
	tail := words
	state := ev.cmd.ProcessState
	switch {
	case ev.killed.Load():
		return "Interrupted", fmt.Sprintf("%sthe cell did not stop within %s of the interrupt, so its process was killed", prefix, interruptGrace)
	case ev.exitCode.Load() > 0:
		return "Exit", fmt.Sprintf("%sa goroutine of the cell called os.Exit(%d)", prefix, ev.exitCode.Load()-1)
	case strings.Contains(tail, "goroutine stack exceeds") || strings.Contains(tail, "fatal error: stack overflow"):
		return "StackOverflow", fmt.Sprintf("%sstack overflow: the stack outgrew its limit, %d MiB unless debug.SetMaxStack set another (a recursion without end?)", prefix, evaluatorStack>>20)
	case strings.Contains(tail, "out of memory") || strings.Contains(tail, "cannot allocate memory") ||
		memory > 0 && strings.Contains(tail, "pthread_create failed"): // the limit leaves no room for a thread
		if memory <= 0 {
			return "OutOfMemory", prefix + "out of memory"
		}
		return "OutOfMemory", fmt.Sprintf("%sout of memory: it reached its limit of %s (set GOVALENT_KERNEL_MEMORY to change it)", prefix, formatBytes(memory))
	}
	if m := fatalRe.FindAllStringSubmatch(tail, -1); m != nil {
		return "FatalError", fmt.Sprintf("%sfatal error: %s", prefix, m[len(m)-1][1])
	}
	if state != nil {
		if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			why := ""
			if ws.Signal() == syscall.SIGKILL {
				why = " (by the system's out-of-memory killer?)"
			}
			return "EvaluatorKilled", fmt.Sprintf("%skilled by signal %s%s", prefix, ws.Signal(), why)
		}
		what = fmt.Sprintf("%sit exited with status %d", prefix, state.ExitCode())
		if first, _, _ := strings.Cut(words, "\n"); first != "" {
			what += " (" + first + ")"
		}
		return "EvaluatorExited", what
	}
	return "EvaluatorExited", prefix + "it exited"
}

// restart starts a new evaluator in place of the current one (stopped if alive) and restores the session into
// it. It returns the variables that could not be carried over, with why. To run cells in another evaluator
// (one built with more packages), set k.evalCmd, holding evMu, and restart.
func (k *Kernel) restart() (lost []string, err error) {
	k.evMu.Lock()
	old := k.ev
	k.ev = nil
	k.evMu.Unlock()
	if old != nil {
		old.kill()
	}
	ev, err := k.startEvaluator()
	if err != nil {
		return nil, fmt.Errorf("no new evaluator could start: %w", err)
	}
	k.evMu.Lock()
	k.ev = ev
	snap, values := k.snap, map[string][]byte{}
	for _, name := range sortedNames(k.carried) {
		c := k.carried[name]
		if c.why != "" {
			lost = append(lost, name+" ("+c.why+")")
		} else {
			values[name] = c.data
		}
	}
	k.evMu.Unlock()
	if snap == nil {
		return nil, nil
	}
	interrupted := make(chan struct{})
	k.mu.Lock()
	k.stopRestore = sync.OnceFunc(func() { close(interrupted) })
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		k.stopRestore = nil
		k.mu.Unlock()
	}()
	ev.send(evalMsg{Op: "restore", Snapshot: snap, Values: values})
	why := "restoring the session ended that evaluator too"
	select {
	case rep := <-ev.replies:
		if rep.Error != nil {
			return lost, errors.New(rep.Error.EValue)
		}
		k.evMu.Lock()
		for name, c := range k.carried {
			if c.why != "" {
				delete(k.carried, name) // said once: from now on it holds its zero value, as the new session does
			}
		}
		k.evMu.Unlock()
		return append(lost, rep.Lost...), nil
	case <-ev.dead:
	case <-interrupted:
		why = "restoring the session was interrupted (does a declaration wait for something, such as a channel?)"
		ev.kill()
	}
	// start afresh rather than again
	k.evMu.Lock()
	k.snap, k.carried = nil, map[string]carried{}
	k.evMu.Unlock()
	if _, err := k.restart(); err != nil {
		return nil, err
	}
	return nil, errors.New(why + ", so the session is empty")
}

// keep records what a cell's reply carries to restore the session: the session's snapshot and the values of
// the variables it set, within maxCarried in all.
func (k *Kernel) keep(rep evalMsg) {
	k.evMu.Lock()
	defer k.evMu.Unlock()
	if rep.Dir != "" {
		k.evalDir = rep.Dir // a cell's os.Chdir holds in the evaluator that takes this one's place
	}
	if rep.Snapshot != nil {
		k.snap = rep.Snapshot
		live := map[string]bool{}
		for _, v := range append(rep.Snapshot.Vars, rep.Snapshot.Declared...) {
			live[v.Name] = true
		}
		for n := range k.carried {
			if !live[n] {
				delete(k.carried, n)
			}
		}
	}
	for _, l := range rep.Lost {
		name, why, _ := strings.Cut(l, " (")
		k.carried[name] = carried{why: strings.TrimSuffix(why, ")")}
	}
	total := 0
	for n, c := range k.carried {
		if _, fresh := rep.Values[n]; !fresh {
			total += len(c.data)
		}
	}
	for _, n := range sortedNames(rep.Values) {
		data := rep.Values[n]
		if len(data) == 0 {
			delete(k.carried, n)
			continue
		}
		if total+len(data) > maxCarried {
			k.carried[n] = carried{why: fmt.Sprintf("its value is %s encoded, and the values kept reach %s", formatBytes(int64(len(data))), formatBytes(maxCarried))}
			continue
		}
		total += len(data)
		k.carried[n] = carried{data: data}
	}
}

// forgetSession drops what the kernel keeps to restore the session (%reset).
func (k *Kernel) forgetSession() {
	k.evMu.Lock()
	defer k.evMu.Unlock()
	k.snap, k.carried = nil, map[string]carried{}
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// stopEvaluator ends the evaluator with the kernel.
func (k *Kernel) stopEvaluator() {
	k.evMu.Lock()
	ev := k.ev
	k.ev = nil
	k.evMu.Unlock()
	if ev != nil {
		ev.kill()
	}
}

// cellFailure is an error the evaluator reported, or its death, as Jupyter shows it.
type cellFailure struct{ errorContent }

func (f *cellFailure) Error() string { return f.EValue }

// evaluate runs Go code as the cell called cell in the evaluator, and returns its value rendered for display.
func (k *Kernel) evaluate(ctx context.Context, cell, code string) (display.Bundle, error) {
	rep, err := k.call(ctx, evalMsg{Op: "execute", Cell: cell, Text: code})
	if err != nil {
		return nil, err
	}
	k.keep(rep)
	if rep.Error != nil {
		return nil, &cellFailure{*rep.Error}
	}
	if rep.Data == nil {
		return nil, nil
	}
	var b display.Bundle
	if err := json.Unmarshal(rep.Data, &b); err != nil {
		return nil, fmt.Errorf("kernel: the evaluator's result: %w", err)
	}
	return b, nil
}

// evaluatorMemory is the evaluator's memory limit: GOVALENT_KERNEL_MEMORY (bytes, with an optional unit: 512MiB,
// 8GiB; a percentage of the RAM: 25%; or "off"), by default half the RAM.
func evaluatorMemory() (int64, error) {
	v := strings.TrimSpace(os.Getenv("GOVALENT_KERNEL_MEMORY"))
	var info syscall.Sysinfo_t
	ram := int64(0)
	if err := syscall.Sysinfo(&info); err == nil {
		ram = int64(info.Totalram) * int64(info.Unit)
	}
	switch {
	case v == "":
		return ram / 2, nil
	case v == "off":
		return -1, nil
	case strings.HasSuffix(v, "%"):
		pct, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
		if err != nil || pct <= 0 || pct > 100 {
			return 0, fmt.Errorf("GOVALENT_KERNEL_MEMORY=%q: a percentage of the RAM is between 0 and 100%%", v)
		}
		return int64(float64(ram) * pct / 100), nil
	}
	num := strings.TrimRight(v, "KMGTiBb")
	units := map[string]int64{"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KiB": 1 << 10, "M": 1 << 20, "MB": 1 << 20, "MiB": 1 << 20,
		"G": 1 << 30, "GB": 1 << 30, "GiB": 1 << 30, "T": 1 << 40, "TB": 1 << 40, "TiB": 1 << 40}
	unit, ok := units[strings.TrimSpace(v[len(num):])]
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if !ok || err != nil || n <= 0 {
		return 0, fmt.Errorf("GOVALENT_KERNEL_MEMORY=%q: give bytes with an optional unit (512MiB, 8GiB), a percentage of the RAM (25%%), or off", v)
	}
	return int64(n * float64(unit)), nil
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}
