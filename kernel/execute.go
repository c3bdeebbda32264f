package kernel

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-zeromq/zmq4"
	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/interp"
	"github.com/govalent/govalent/kernel/complete"
	"github.com/govalent/govalent/kernel/display"
)

// execution is the cell being run: where its outputs go and how to stop it.
type execution struct {
	req        *Message
	cancel     context.CancelFunc
	allowStdin bool
	progress   sync.WaitGroup // live progress displays of its dispatches
	cellDone   chan struct{}
	mu         sync.Mutex
	ended      bool // no new progress display may start: progress.Wait has begun
}

// watching registers a progress display unless the cell has ended; the caller must call progress.Done.
func (ex *execution) watching() bool {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if ex.ended {
		return false
	}
	ex.progress.Add(1)
	return true
}

// end stops new progress displays and waits for the running ones.
func (ex *execution) end() {
	close(ex.cellDone)
	ex.mu.Lock()
	ex.ended = true
	ex.mu.Unlock()
	ex.progress.Wait()
}

type historyEntry struct {
	n      int
	input  string
	output string
}

func (k *Kernel) current() *execution {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.exec
}

// interrupt stops the running cell, if any, through its context, and the restoring of the session into a new
// evaluator, if one runs (a declaration evaluated again may block).
func (k *Kernel) interrupt() {
	k.mu.Lock()
	ex, stopRestore := k.exec, k.stopRestore
	k.mu.Unlock()
	if ex != nil {
		ex.cancel()
	}
	if stopRestore != nil {
		stopRestore()
	}
}

// execute runs a cell: execute_input, its outputs (streams, displays, one execute_result or one error), the
// reply, all between the busy and idle that handle sends.
func (k *Kernel) execute(sock zmq4.Socket, msg *Message) {
	var req executeRequest
	if err := json.Unmarshal(msg.Content, &req); err != nil {
		k.reply(sock, msg, "execute_reply", executeReplyError{Status: "error", ExecutionCount: k.execCount,
			errorContent: errorContent{EName: "BadRequest", EValue: err.Error(), Traceback: []string{}}})
		return
	}
	store := !req.Silent && (req.StoreHistory == nil || *req.StoreHistory)
	if store {
		k.execCount++
	}
	count := k.execCount
	if !req.Silent {
		k.publish(msg, "execute_input", executeInput{Code: req.Code, ExecutionCount: count})
	}
	ctx, cancel := context.WithCancel(context.Background())
	ex := &execution{req: msg, cancel: cancel, allowStdin: req.AllowStdin, cellDone: make(chan struct{})}
	k.mu.Lock()
	k.exec = ex
	k.mu.Unlock()

	payload := []pagePayload{}
	var result display.Bundle
	var runErr error
	if topic, ok := strings.CutSuffix(strings.TrimSpace(req.Code), "?"); ok && !strings.Contains(topic, "\n") {
		// `name?` pages the documentation of name, as IPython does
		text := "no documentation found for " + topic
		if found, doc := k.inspectCode(ctx, topic, len([]rune(topic))); found {
			text = doc
		}
		payload = append(payload, pagePayload{Source: "page", Data: display.Bundle{display.MIMEText: text}})
	} else {
		// errors name the cell as the frontend numbers it (In[N]), whatever ran in between (a `name?`)
		name := fmt.Sprintf("cell%d", count)
		if !store {
			name = "silent"
		}
		result, runErr = k.run(ctx, name, req.Code)
	}
	ex.end()
	k.flushStreams()
	k.mu.Lock()
	k.exec = nil
	k.mu.Unlock()
	cancel()

	output := ""
	if runErr != nil {
		e := errorParts(runErr, ctx)
		k.publish(msg, "error", e)
		k.reply(sock, msg, "execute_reply", executeReplyError{Status: "error", ExecutionCount: count, errorContent: e})
		output = e.EValue
	} else {
		if result != nil && !req.Silent {
			k.publish(msg, "execute_result", executeResult{ExecutionCount: count, Data: result})
			output, _ = result["text/plain"].(string)
		}
		k.reply(sock, msg, "execute_reply", executeReplyOK{Status: "ok", ExecutionCount: count, Payload: payload})
	}
	if store {
		k.mu.Lock()
		k.history = append(k.history, historyEntry{n: count, input: req.Code, output: output})
		k.mu.Unlock()
	}
}

// errorParts turns an evaluation error into Jupyter's ename, evalue and traceback; the traceback starts with
// the cell position, then the interpreted frames of a panic.
func errorParts(err error, ctx context.Context) errorContent {
	var failure *cellFailure
	if errors.As(err, &failure) {
		return failure.errorContent
	}
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "context canceled")) {
		return errorContent{EName: "Interrupted", EValue: "the cell was interrupted", Traceback: []string{"Interrupted: the cell was interrupted"}}
	}
	var exit *interp.ExitError
	if errors.As(err, &exit) {
		msg := exit.Error() + ": the cell ended here; the kernel keeps running (restart it to start afresh)"
		return errorContent{EName: "Exit", EValue: msg, Traceback: []string{"\x1b[0;31mExit\x1b[0m: " + msg}}
	}
	var ce *interp.CellError
	if errors.As(err, &ce) {
		ename := "CompileError"
		if strings.HasPrefix(ce.Msg, "panic") {
			ename = "Panic"
		}
		tb := []string{"\x1b[0;31m" + ename + "\x1b[0m: " + ce.Error()}
		if ce.Stack != "" {
			tb = append(tb, strings.Split(ce.Stack, "\n")...)
		}
		return errorContent{EName: ename, EValue: ce.Error(), Traceback: tb}
	}
	return errorContent{EName: "Error", EValue: err.Error(), Traceback: []string{"Error: " + err.Error()}}
}

// streamWriter collects what a cell writes to stdout or stderr and sends it as stream messages, batched.
type streamWriter struct {
	k    *Kernel
	name string
	pipe *os.File // what the cell writes to
	// syncs: the markers written (guarded by syncMu, which keeps them in order in the pipe) and forwarded past
	// (passed, guarded by mu); passing closes and replaces passing, waking every sync that waits
	syncMu  sync.Mutex
	written uint64
	passed  uint64
	passing chan struct{}
	mu      sync.Mutex
	buf     []byte
	t       *time.Timer
	// From a line that starts as the Go runtime's last words do, what the evaluator writes is withheld from
	// the cell until the next sync: the error of the cell says what happened, without the interpreter's stacks.
	// It was no last words if the evaluator lives on for withheldFor (or the cell ends): then it goes to the
	// cell after all.
	withholding bool
	withheld    []byte
	release     *time.Timer
	withholds   int       // counts the times withholding began, so that a release timer of an earlier one does nothing
	lastWrite   time.Time // of what is withheld: an evaluator still writing may be writing its last words
}

// withheldSize is how much of the runtime's last words the kernel keeps (a fatal error's lists every
// goroutine); withheldFor is how long an evaluator that wrote them has to end, and withheldQuiet how long
// it must have written nothing more.
const (
	withheldSize  = 1 << 20
	withheldFor   = time.Second
	withheldQuiet = 250 * time.Millisecond
)

// lastWords are how the Go runtime's messages on a crash start.
var lastWords = [][]byte{[]byte("fatal error: "), []byte("runtime: "), []byte("runtime/cgo: "), []byte("panic: "), []byte("SIG")}

// lastWordsAt returns where in p a line starts with last words, or -1.
func lastWordsAt(p []byte) int {
	for i := 0; i < len(p); i++ {
		if i > 0 && p[i-1] != '\n' {
			continue
		}
		for _, w := range lastWords {
			if bytes.HasPrefix(p[i:], w) {
				return i
			}
		}
	}
	return -1
}

// streamDelay batches many small writes into few messages.
const streamDelay = 30 * time.Millisecond

// pipeStream makes the pipe a cell writes its stream name to, and the goroutine that forwards it.
func (k *Kernel) pipeStream(name string) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	sw := &streamWriter{k: k, name: name, pipe: w, passing: make(chan struct{})}
	if name == "stdout" {
		k.stdoutW = sw
	} else {
		k.stderrW = sw
	}
	go sw.pump(r)
	return w, nil
}

// syncMarker is written through a stream's pipe after a cell, so that everything the cell wrote before it is
// known to have been forwarded. It is random, so that no output of a cell can be taken for it.
var syncMarker = []byte("\x00govalent-stream-sync-" + rand.Text() + "\x00")

func (w *streamWriter) pump(r *os.File) {
	buf := make([]byte, 32<<10)
	var pending []byte
	for {
		n, err := r.Read(buf)
		if n > 0 {
			pending = append(pending, buf[:n]...)
			for {
				i := bytes.Index(pending, syncMarker)
				if i < 0 {
					break
				}
				w.Write(pending[:i])
				pending = pending[i+len(syncMarker):]
				w.mu.Lock()
				w.stopWithholding()
				w.passed++
				close(w.passing)
				w.passing = make(chan struct{})
				w.mu.Unlock()
			}
			// keep back a tail that may be the start of a marker
			keep := 0
			for k := min(len(pending), len(syncMarker)-1); k > 0; k-- {
				if bytes.HasPrefix(syncMarker, pending[len(pending)-k:]) {
					keep = k
					break
				}
			}
			w.Write(pending[:len(pending)-keep])
			pending = append([]byte(nil), pending[len(pending)-keep:]...)
		}
		if err != nil {
			return
		}
	}
}

// sync waits until everything written to the pipe so far has been forwarded, or a second.
func (w *streamWriter) sync() {
	w.syncMu.Lock()
	if _, err := w.pipe.Write(syncMarker); err != nil {
		w.syncMu.Unlock()
		return
	}
	w.written++
	mine := w.written
	w.syncMu.Unlock()
	deadline := time.After(time.Second)
	for {
		w.mu.Lock()
		passed, passing := w.passed, w.passing
		w.mu.Unlock()
		if passed >= mine {
			return
		}
		select {
		case <-passing:
		case <-deadline:
			return
		}
	}
}

func (w *streamWriter) Write(p []byte) (int, error) {
	n := len(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.withholding && w.name == "stderr" {
		if i := lastWordsAt(p); i >= 0 {
			w.withholding, w.withheld = true, nil
			w.withholds++
			this := w.withholds
			w.release = time.AfterFunc(withheldFor, func() { w.releaseIfAlive(this) })
			w.forward(p[:i])
			p = p[i:]
		}
	}
	if w.withholding {
		w.withheld = append(w.withheld, p[:min(len(p), withheldSize-len(w.withheld))]...)
		w.lastWrite = time.Now()
		return n, nil
	}
	w.forward(p)
	return n, nil
}

// stopWithholding ends withholding; what was withheld stays for takeWithheld. The caller holds w.mu.
func (w *streamWriter) stopWithholding() {
	w.withholding = false
	if w.release != nil {
		w.release.Stop()
		w.release = nil
	}
}

// releaseIfAlive sends what was withheld to the cell if the evaluator lives on: they were no last words.
func (w *streamWriter) releaseIfAlive(this int) {
	w.k.evMu.Lock()
	ev := w.k.ev
	w.k.evMu.Unlock()
	if ev == nil {
		return
	}
	select {
	case <-ev.dead:
		return // the kernel takes them, to say what happened
	default:
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.withholding || w.withholds != this {
		return
	}
	if quiet := time.Since(w.lastWrite); quiet < withheldQuiet {
		w.release = time.AfterFunc(withheldQuiet-quiet, func() { w.releaseIfAlive(this) }) // it may be writing a crash's dump
		return
	}
	w.forward(w.withheld)
	w.withheld = nil
	w.stopWithholding()
}

// forwardOwn sends what the cell wrote itself, found among what was withheld.
func (w *streamWriter) forwardOwn(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.forward([]byte(s))
}

var crashLine = regexp.MustCompile(`(?m)^(fatal error: |panic: )`)

// splitLastWords parts what was withheld before an evaluator died into what its cells wrote and the runtime's
// account of the crash: the last "fatal error: " or "panic: " line, with the runtime's lines just before it
// ("runtime: goroutine stack exceeds..."), and what follows. Without such a line, it is all taken as the
// account.
func splitLastWords(s string) (own, words string) {
	locs := crashLine.FindAllStringIndex(s, -1)
	if locs == nil {
		return "", s
	}
	start := locs[len(locs)-1][0]
	for start > 0 {
		prev := strings.LastIndexByte(s[:start-1], '\n') + 1
		if lastWordsAt([]byte(s[prev:start])) != 0 {
			break
		}
		start = prev
	}
	return s[:start], s[start:]
}

// forward queues p to be sent; the caller holds w.mu.
func (w *streamWriter) forward(p []byte) {
	if len(p) == 0 {
		return
	}
	w.buf = append(w.buf, p...)
	if w.t == nil {
		w.t = time.AfterFunc(streamDelay, w.flush)
	}
}

// takeWithheld returns what was withheld as last words (see streamWriter), which then are not sent; call it
// after sync.
func (w *streamWriter) takeWithheld() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	words := string(w.withheld)
	w.withheld = nil
	return words
}

func (w *streamWriter) flush() {
	w.mu.Lock()
	data := w.buf
	// keep an incomplete UTF-8 sequence at the end for the next message; JSON would garble it
	cut := len(data)
	for i := len(data) - 1; i >= 0 && i >= len(data)-utf8.UTFMax; i-- {
		if utf8.RuneStart(data[i]) {
			if !utf8.FullRune(data[i:]) {
				cut = i
			}
			break
		}
	}
	w.buf, w.t = append([]byte(nil), data[cut:]...), nil
	data = data[:cut]
	w.mu.Unlock()
	if len(data) == 0 {
		return
	}
	var parent *Message
	if ex := w.k.current(); ex != nil {
		parent = ex.req
	}
	w.k.publish(parent, "stream", stream{Name: w.name, Text: string(data)})
}

// flushStreams sends what the cell wrote before its result.
func (k *Kernel) flushStreams() {
	for _, w := range []*streamWriter{k.stdoutW, k.stderrW} {
		w.sync()
		w.mu.Lock()
		if w.t != nil {
			w.t.Stop()
		}
		// what looked like last words was not: the evaluator lives on
		w.forward(w.withheld)
		w.withheld = nil
		w.stopWithholding()
		w.mu.Unlock()
		w.flush()
	}
}

func (k *Kernel) isComplete(sock zmq4.Socket, msg *Message) {
	var req isCompleteRequest
	json.Unmarshal(msg.Content, &req)
	status, indent := complete.IsComplete(req.Code)
	rep := isCompleteReply{Status: status}
	if status == "incomplete" {
		rep.Indent = &indent
	}
	k.reply(sock, msg, "is_complete_reply", rep)
}

func (k *Kernel) complete(sock zmq4.Socket, msg *Message) {
	var req completeRequest
	json.Unmarshal(msg.Content, &req)
	var matches []string
	start, end := req.CursorPos, req.CursorPos
	if rep, err := k.call(context.Background(), evalMsg{Op: "complete", Text: req.Code, Pos: req.CursorPos}); err == nil {
		matches, start, end = rep.Matches, rep.Pos, rep.End
	}
	if matches == nil {
		matches = []string{}
	}
	k.reply(sock, msg, "complete_reply", completeReply{Status: "ok", Matches: matches, CursorStart: start, CursorEnd: end})
}

func (k *Kernel) inspect(sock zmq4.Socket, msg *Message) {
	var req inspectRequest
	json.Unmarshal(msg.Content, &req)
	found, text := k.inspectCode(context.Background(), req.Code, req.CursorPos)
	data := display.Bundle{}
	if found {
		data[display.MIMEText] = text
	}
	k.reply(sock, msg, "inspect_reply", inspectReply{Status: "ok", Found: found, Data: data})
}

// inspectCode finds the documentation of what is at the cursor, in the evaluator's session.
func (k *Kernel) inspectCode(ctx context.Context, code string, cursor int) (bool, string) {
	rep, err := k.call(ctx, evalMsg{Op: "inspect", Text: code, Pos: cursor})
	if err != nil {
		return false, ""
	}
	return rep.Flag, string(rep.Data)
}

// historyReply serves the tail, range and search access types from this kernel's history.
func (k *Kernel) historyReply(sock zmq4.Socket, msg *Message) {
	var req historyRequest
	json.Unmarshal(msg.Content, &req)
	k.mu.Lock()
	all := append([]historyEntry(nil), k.history...)
	k.mu.Unlock()
	var picked []historyEntry
	switch req.HistAccessType {
	case "range":
		for _, h := range all {
			if h.n >= req.Start && (req.Stop == 0 || h.n < req.Stop) {
				picked = append(picked, h)
			}
		}
	case "search":
		re := globRegexp(req.Pattern)
		seen := map[string]bool{}
		for i := len(all) - 1; i >= 0; i-- { // newest first, so unique keeps the latest
			h := all[i]
			if !re.MatchString(h.input) || (req.Unique && seen[h.input]) {
				continue
			}
			seen[h.input] = true
			picked = append([]historyEntry{h}, picked...)
		}
		if req.N > 0 && len(picked) > req.N {
			picked = picked[len(picked)-req.N:]
		}
	default: // tail
		picked = all
		if req.N > 0 && len(picked) > req.N {
			picked = picked[len(picked)-req.N:]
		}
	}
	out := make([][]any, len(picked))
	for i, h := range picked {
		if req.Output {
			out[i] = []any{0, h.n, []any{h.input, h.output}}
		} else {
			out[i] = []any{0, h.n, h.input}
		}
	}
	k.reply(sock, msg, "history_reply", historyReply{Status: "ok", History: out})
}

// globRegexp turns IPython's glob history pattern (* and ?) into a regular expression.
func globRegexp(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?s)^")
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// installHooks shows the kernel's own displays (the progress of a cell's dispatches) in the running cell.
func (k *Kernel) installHooks() {
	display.SetPublisher(k.publishDisplay)
	display.SetClearer(k.clearOutput)
}

// publishDisplay sends a display on IOPub with the running cell as parent, after what the cell wrote before.
func (k *Kernel) publishDisplay(b display.Bundle, displayID string, update bool) {
	var parent *Message
	if ex := k.current(); ex != nil {
		parent = ex.req
		k.flushStreams()
	}
	msgType := "display_data"
	if update {
		msgType = "update_display_data"
	}
	k.publish(parent, msgType, displayData{Data: b, Transient: transient{DisplayID: displayID}})
}

func (k *Kernel) clearOutput(wait bool) {
	var parent *Message
	if ex := k.current(); ex != nil {
		parent = ex.req
		k.flushStreams()
	}
	k.publish(parent, "clear_output", clearOutput{Wait: wait})
}

// progressInterval is how often a running dispatch's display is redrawn, so that its running time moves on
// between changes.
const progressInterval = 250 * time.Millisecond

// watchDispatch shows a dispatch's progress in the cell that made it and updates it in place until the
// dispatch finishes or the cell ends. It follows the dispatch with ct.Client.Watch: counts, never the
// nodes' values.
func (k *Kernel) watchDispatch(id string) {
	ex := k.current()
	if ex == nil || !ex.watching() {
		return
	}
	defer ex.progress.Done()
	displayID := "govalent-dispatch-" + id
	gui := ct.DispatcherURL() + "/#/dispatches/" + id
	client := ct.NewClient(ct.DispatcherURL())
	client.HTTP.Timeout = 5 * time.Second
	show := func(p ct.Progress, update bool) {
		display.Publish(display.ProgressBundle(&p, gui), displayID, update)
	}
	ctx, cancel := context.WithCancel(context.Background())
	updates, err := client.Watch(ctx, id)
	if err != nil {
		cancel()
		return
	}
	p := <-updates
	show(p, false)
	ex.progress.Add(1)
	go func() {
		defer ex.progress.Done()
		defer cancel()
		tick := time.NewTicker(progressInterval)
		defer tick.Stop()
		for {
			select {
			case next, ok := <-updates:
				if !ok {
					return // shown when it was Done; else Watch gave up
				}
				p = next
				show(p, true)
			case <-tick.C:
				show(p, true)
			case <-ex.cellDone:
				cancel()
				if last, err := client.Progress(context.Background(), id); err == nil {
					show(*last, true)
				}
				return
			}
		}
	}()
}
