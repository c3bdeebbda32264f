package process

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	json "github.com/goccy/go-json"
	"github.com/govalent/govalent/executors/filetransfer"
	"github.com/govalent/govalent/interp"

	"github.com/govalent/govalent/ct/wire"
	"github.com/govalent/govalent/executors"
)

// request is what the dispatcher sends a worker process: a task (Program travels with the first task that
// needs it), or the id of a task sent earlier that must be skipped because it was cancelled before it started.
type request struct {
	Task    executors.Task `json:"task"`
	Program string         `json:"program,omitempty"`
	Skip    string         `json:"skip,omitempty"`
	// StartBy: the task must not start after this time (zero: no limit); checked right before it runs.
	StartBy time.Time `json:"start_by,omitzero"`
	// MaxReply is the most the task's reply may take (Config.MaxReply; 0: no limit). The dispatcher cuts
	// off a longer one and kills the process; the worker sends an error naming the sizes instead.
	MaxReply int64 `json:"max_reply,omitempty"`
	// ArgSizes, when set, are the sizes of the task's arguments, which follow the request's line as they are
	// instead of in it (as base64): large values move at the speed of a copy.
	ArgSizes []int `json:"arg_sizes,omitempty"`
}

// reply answers each task request, in order.
type reply struct {
	ID      string            `json:"id"`
	Outcome executors.Outcome `json:"outcome"`
	// OutputSize, when nonzero, is the size of the output, which follows the reply's line as it is.
	OutputSize int `json:"output_size,omitempty"`
}

// detached is r with its arguments' sizes in place of the arguments, which follow the line as they are.
func (r *request) detached() request {
	line := *r
	line.Task.Args, line.ArgSizes = nil, make([]int, len(r.Task.Args))
	for i, a := range r.Task.Args {
		line.ArgSizes[i] = len(a)
	}
	return line
}

// EncodeRequest is the request for one task as `govalent worker --pipe` reads it on fd 3, for a worker that
// reads it from a file elsewhere (the ssh executor's): the line, then the arguments as they are.
func EncodeRequest(t executors.Task, maxReply int64) ([]byte, error) {
	r := request{Task: t, Program: t.Program, MaxReply: maxReply}
	line := r.detached()
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(&line); err != nil {
		return nil, err
	}
	for _, a := range t.Args {
		buf.Write(a)
	}
	return buf.Bytes(), nil
}

// DecodeReply is the outcome in what a pipe worker wrote on fd 4 for one task; ok is false unless b holds the
// whole reply.
func DecodeReply(b []byte) (oc executors.Outcome, ok bool) {
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return oc, false
	}
	var rep reply
	if err := json.Unmarshal(b[:nl], &rep); err != nil || len(b)-nl-1 != rep.OutputSize {
		return oc, false
	}
	if rep.OutputSize > 0 {
		rep.Outcome.Output = b[nl+1:]
	}
	return rep.Outcome, true
}

// errMalformed is a message whose line is not what it should be: the stream may go on after it.
var errMalformed = errors.New("malformed message")

// attachFrom is the size from which a value travels after its message's line rather than in it.
const attachFrom = 4 << 10

// readMessage reads one message: a JSON line into v, then the values that follow it, of the sizes attached
// tells once v is decoded; take is told each line's and value's size before it is read, and may refuse it.
func readMessage(br *bufio.Reader, v any, attached func() []int, take func(size int64) error) ([][]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if terr := take(int64(len(chunk))); terr != nil {
			return nil, terr
		}
		if err == nil && line == nil {
			line = chunk // the whole line in br's buffer: decoded before br is read again
			break
		}
		line = append(line, chunk...)
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			if err == io.EOF && len(line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	if err := json.Unmarshal(line, v); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	var values [][]byte
	for _, size := range attached() {
		if size < 0 {
			return nil, fmt.Errorf("%w: a value of %d bytes", errMalformed, size)
		}
		if err := take(int64(size)); err != nil {
			return nil, err
		}
		value := make([]byte, size)
		if _, err := io.ReadFull(br, value); err != nil {
			return nil, fmt.Errorf("reading a value of %d bytes: %w", size, io.ErrUnexpectedEOF)
		}
		values = append(values, value)
	}
	return values, nil
}

// maxCapture bounds the stdout and stderr kept per task.
const maxCapture = 1 << 20

// ServePipe is the loop of `govalent worker --pipe`: it reads tasks from in, runs them one at a time in the
// order they came and writes one outcome per task to out. Tasks may arrive while others run (the pool
// pipelines short tasks), so outcomes are written at once only when no task is waiting, and otherwise within
// replyDelay: a burst of short tasks costs a few pipe writes, not one per task, while the outcome of a task
// followed by a long one is not held back. Output written to the process's stdout and stderr while a task runs
// (by fmt, os.Stdout, or anything else) is captured for that task: fds 1 and 2 are pointed at temporary files.
// Electrons of a program with a native binary run in its native worker, which the tasks queued for it are sent
// on to while it runs the first (streamNative).
func ServePipe(in io.Reader, out io.Writer) error {
	w, err := newPipeWorker()
	if err != nil {
		return err
	}
	tasks := newTaskInbox()
	readErr := make(chan error, 1)
	go func() { readErr <- tasks.fill(in) }()
	replies := newReplyWriter(out)
	for {
		head, ok := tasks.peek()
		if !ok {
			if err := replies.flush(); err != nil {
				return err
			}
			if err := <-readErr; err != io.EOF {
				return fmt.Errorf("worker: reading task: %w", err)
			}
			return nil
		}
		if bin, ok := streamable(&head.Task); ok {
			if err := w.streamNative(bin, tasks, replies); err != nil {
				return err
			}
			continue
		}
		req, skipped, _ := tasks.next()
		w.learn(req)
		oc := cancelledNow()
		if !skipped {
			oc = w.run(&req.Task, req.StartBy)
		}
		if err := replies.write(reply{ID: req.Task.ID, Outcome: oc}, req.MaxReply, tasks.empty()); err != nil {
			return err
		}
	}
}

// cancelledNow is the outcome of a task cancelled before it started.
func cancelledNow() executors.Outcome {
	now := time.Now()
	return executors.Outcome{Cancelled: true, Start: now, End: now}
}

// replyDelay bounds how long a written outcome may wait in the buffer while further tasks run.
const replyDelay = 500 * time.Microsecond

// replyWriter buffers outcomes and flushes them now or within replyDelay.
type replyWriter struct {
	mu      sync.Mutex
	bw      *bufio.Writer
	pipe    *os.File     // out, when it is a file (the pipe to the dispatcher), to grow it for large outputs
	one     bytes.Buffer // a reply, measured before it is sent
	enc     *json.Encoder
	err     error // of a delayed flush
	pending bool  // a delayed flush is armed
}

func newReplyWriter(out io.Writer) *replyWriter {
	r := &replyWriter{bw: bufio.NewWriterSize(out, 1<<16)}
	r.pipe, _ = out.(*os.File)
	r.enc = json.NewEncoder(&r.one)
	return r
}

// write sends rep, or, if it takes more than limit bytes, an error naming its sizes in its place.
func (r *replyWriter) write(rep reply, limit int64, now bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	output, outputSize := rep.Outcome.Output, len(rep.Outcome.Output)
	if outputSize >= attachFrom {
		rep.OutputSize, rep.Outcome.Output = len(output), nil
	} else {
		output = nil
	}
	r.one.Reset()
	if err := r.enc.Encode(rep); err != nil {
		return err
	}
	if size := r.one.Len() + len(output); limit > 0 && int64(size) > limit {
		o := rep.Outcome
		rep.OutputSize, output = 0, nil
		rep.Outcome = executors.Outcome{Start: o.Start, End: o.End, Error: fmt.Sprintf(
			"the task's reply to the dispatcher is %s, more than the %s allowed (%s): its output is %s, stdout %s, stderr %s, error and stack %s",
			humanize.IBytes(uint64(size)), humanize.IBytes(uint64(limit)), MaxReplySetting, humanize.IBytes(uint64(outputSize)),
			humanize.IBytes(uint64(len(o.Stdout))), humanize.IBytes(uint64(len(o.Stderr))), humanize.IBytes(uint64(len(o.Error)+len(o.Stack))))}
		r.one.Reset()
		if err := r.enc.Encode(rep); err != nil {
			return err
		}
	}
	if _, err := r.bw.Write(r.one.Bytes()); err != nil {
		return err
	}
	if r.pipe != nil {
		wire.FitPipe(r.pipe, len(output))
	}
	if _, err := r.bw.Write(output); err != nil {
		return err
	}
	if r.one.Cap() > 1<<20 {
		r.one = bytes.Buffer{} // a large reply's memory goes with it
	}
	if now {
		return r.bw.Flush()
	}
	if !r.pending {
		r.pending = true
		time.AfterFunc(replyDelay, func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.pending = false
			if err := r.bw.Flush(); err != nil && r.err == nil {
				r.err = err
			}
		})
	}
	return nil
}

func (r *replyWriter) flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	return r.bw.Flush()
}

// taskInbox holds the tasks a worker process has read and not yet started, and those it has sent on to a
// native worker and not yet answered.
type taskInbox struct {
	mu      sync.Mutex
	cond    *sync.Cond
	queue   []*request
	skip    map[string]bool
	drained bool // the input ended
	// forwarded are the calls of tasks sent on to a native worker: a skip for one of them goes on to it.
	forwarded map[string]forwardedCall
}

type forwardedCall struct {
	child *nativeChild
	seq   uint64
}

func newTaskInbox() *taskInbox {
	b := &taskInbox{skip: map[string]bool{}, forwarded: map[string]forwardedCall{}}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// fill reads requests until in ends, returning why it ended.
func (b *taskInbox) fill(in io.Reader) error {
	br := bufio.NewReaderSize(in, 1<<16)
	for {
		req := new(request)
		args, err := readMessage(br, req, func() []int { return req.ArgSizes }, func(int64) error { return nil })
		if req.ArgSizes != nil && err == nil {
			req.Task.Args = args
		}
		var forwarded forwardedCall
		b.mu.Lock()
		switch {
		case err != nil:
			b.drained = true
		case req.Skip != "":
			b.skip[req.Skip] = true // kept until the task is answered: a call that was sent on may come back (putBack)
			forwarded = b.forwarded[req.Skip]
		default:
			b.queue = append(b.queue, req)
		}
		b.cond.Signal()
		b.mu.Unlock()
		if forwarded.child != nil {
			forwarded.child.skip(forwarded.seq)
		}
		if err != nil {
			return err
		}
	}
}

// peek waits for a task and returns the next one, leaving it queued; ok is false once the input has ended and
// every task read has been handed out.
func (b *taskInbox) peek() (req *request, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.queue) == 0 && !b.drained {
		b.cond.Wait()
	}
	if len(b.queue) == 0 {
		return nil, false
	}
	return b.queue[0], true
}

// next waits for the next task; skipped tells that it was cancelled before it started. ok is false once the
// input has ended and every task read has been handed out.
func (b *taskInbox) next() (req *request, skipped, ok bool) {
	if _, ok := b.peek(); !ok {
		return nil, false, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	req = b.queue[0]
	b.queue[0] = nil
	b.queue = b.queue[1:]
	skipped = b.skip[req.Task.ID]
	delete(b.skip, req.Task.ID)
	return req, skipped, true
}

// forward takes, for native worker c, the tasks at the head of the queue that accept takes, until window holds
// max, and appends them to window: those not skipped are numbered as c's calls, for the caller to send, and a
// skip that comes for one later goes on to c.
func (b *taskInbox) forward(c *nativeChild, accept func(*executors.Task) bool, max int, window []sentCall) []sentCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	n := 0
	for ; n < len(b.queue) && len(window) < max && accept(&b.queue[n].Task); n++ {
		req := b.queue[n]
		b.queue[n] = nil
		s := sentCall{req: req, sent: now}
		if !b.skip[req.Task.ID] {
			s.seq = c.number()
			b.forwarded[req.Task.ID] = forwardedCall{child: c, seq: s.seq}
		}
		window = append(window, s)
	}
	b.queue = b.queue[n:]
	return window
}

// putBack returns tasks taken by forward and never started to the head of the queue, in order.
func (b *taskInbox) putBack(window []sentCall) {
	b.mu.Lock()
	defer b.mu.Unlock()
	queue := make([]*request, 0, len(window)+len(b.queue))
	for _, s := range window {
		delete(b.forwarded, s.req.Task.ID)
		queue = append(queue, s.req)
	}
	b.queue = append(queue, b.queue...)
}

// answered forgets a task taken by forward, now answered.
func (b *taskInbox) answered(taskID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.forwarded, taskID)
	delete(b.skip, taskID)
}

func (b *taskInbox) empty() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue) == 0
}

type pipeWorker struct {
	stdout, stderr *capture
	programs       map[string]string
	sessions       map[string]*interp.Session // by program hash
	order          []string                   // least recently loaded first
	natives        map[string]*nativeChild    // by binary hash
	nativeOrder    []string                   // least recently started first

	mu           sync.Mutex
	goroutineErr string // a panic in an interpreted goroutine of the running task
}

// maxSessions bounds the rebuilt interpreters a worker keeps.
const maxSessions = 8

func newPipeWorker() (*pipeWorker, error) {
	w := &pipeWorker{programs: map[string]string{}, sessions: map[string]*interp.Session{}, natives: map[string]*nativeChild{}}
	// Keep Go runtime crash reports on the real stderr (the dispatcher's log) before fd 2 is redirected.
	if saved, err := syscall.Dup(2); err == nil {
		syscall.CloseOnExec(saved) // processes an electron starts must not inherit it
		debug.SetCrashOutput(os.NewFile(uintptr(saved), "stderr"), debug.CrashOptions{})
	}
	for _, c := range []struct {
		fd   int
		into **capture
	}{{1, &w.stdout}, {2, &w.stderr}} {
		f, err := redirect(c.fd, fmt.Sprintf("govalent-fd%d-*", c.fd))
		if err != nil {
			return nil, err
		}
		*c.into = &capture{f: f}
	}
	return w, nil
}

// redirect points fd at a fresh unlinked temporary file and returns that file.
func redirect(fd int, pattern string) (*os.File, error) {
	f, err := os.CreateTemp("", pattern)
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	if err := syscall.Dup3(int(f.Fd()), fd, 0); err != nil {
		return nil, fmt.Errorf("worker: redirecting fd %d: %w", fd, err)
	}
	return f, nil
}

// capture is the file an fd is redirected to. A task's output is what was appended while it ran; the file is
// emptied only once it has grown large, since truncating it before every task cost more than a tiny task.
type capture struct {
	f     *os.File
	start int64
}

// recycleAt is the size past which a capture file is emptied before the next task.
const recycleAt = 64 << 20

func (c *capture) begin() {
	st, err := c.f.Stat()
	if err != nil {
		return
	}
	c.start = st.Size() // anything written between tasks belongs to neither
	if c.start > recycleAt {
		c.f.Truncate(0)
		c.f.Seek(0, io.SeekStart)
		c.start = 0
	}
}

// read is what was written to the file since start.
func (c *capture) read() string {
	st, err := c.f.Stat()
	if err != nil {
		return ""
	}
	return c.between(c.start, st.Size())
}

// between is what was written to the file from offset from to offset to.
func (c *capture) between(from, to int64) string {
	size := to - from
	if size <= 0 {
		return ""
	}
	buf := make([]byte, min(size, maxCapture))
	k, _ := c.f.ReadAt(buf, from)
	s := string(buf[:k])
	if size > maxCapture {
		s += fmt.Sprintf("\n[govalent: output truncated, %d bytes in all]", size)
	}
	return s
}

// full tells that the file has grown past recycleAt, as far as known.
func (c *capture) full() bool { return c.start > recycleAt }

// learn keeps the program a request brings: the dispatcher sends each only once.
func (w *pipeWorker) learn(req *request) {
	if req.Program != "" {
		w.programs[req.Task.ProgramHash] = req.Program
	}
}

func (w *pipeWorker) session(hash string) (*interp.Session, error) {
	if s := w.sessions[hash]; s != nil {
		return s, nil
	}
	src, ok := w.programs[hash]
	if !ok {
		return nil, fmt.Errorf("worker has no program %s", hash)
	}
	s, err := interp.New(interp.Options{Stdout: os.Stdout, Stderr: os.Stderr, Stdin: eofReader{}, OnGoroutinePanic: w.goroutinePanic})
	if err != nil {
		return nil, err
	}
	if err := s.LoadProgram(context.Background(), src); err != nil {
		s.Close()
		return nil, fmt.Errorf("rebuilding the shipped code: %w", err)
	}
	if len(w.order) >= maxSessions {
		old := w.order[0]
		w.order = w.order[1:]
		w.sessions[old].Close()
		delete(w.sessions, old) // the source stays: the dispatcher sends each program only once
	}
	w.sessions[hash] = s
	w.order = append(w.order, hash)
	return s, nil
}

func (w *pipeWorker) goroutinePanic(v any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.goroutineErr == "" {
		w.goroutineErr = fmt.Sprintf("panic in a goroutine of the electron: %v", v)
	}
}

func (w *pipeWorker) run(t *executors.Task, startBy time.Time) (oc executors.Outcome) {
	w.stdout.begin()
	w.stderr.begin()
	w.mu.Lock()
	w.goroutineErr = ""
	w.mu.Unlock()
	oc.Start = time.Now()
	defer func() {
		oc.End = time.Now()
		oc.Stdout, oc.Stderr = w.stdout.read(), w.stderr.read()
	}()
	if bin, ok := t.Binaries[executors.Platform]; ok && t.Kind == executors.KindElectron {
		c, err := w.native(bin)
		if err != nil {
			return w.nativeStartFailed(err, oc.Start)
		}
		oc.Start = time.Now() // the task's time, not the starting of its program's process
		if !startBy.IsZero() && oc.Start.After(startBy) {
			oc.Unstarted = true
			return oc
		}
		out, err := filetransfer.Around(context.Background(), t.Settings, func() ([]byte, error) { return w.callNative(c, bin.Hash, t, &oc) })
		if err != nil {
			oc.Error = err.Error()
			return oc
		}
		oc.Output = out
		return oc
	}
	s, err := w.session(t.ProgramHash)
	if err != nil {
		oc.Error = err.Error()
		return oc
	}
	s.Lookup(t.Entry)     // compiled on first use and cached; a failure is reported by the call below
	oc.Start = time.Now() // the task's time, not the rebuilding of its program or the compiling of its entry
	if !startBy.IsZero() && oc.Start.After(startBy) {
		oc.Unstarted = true
		return oc
	}
	switch t.Kind {
	case executors.KindSublattice:
		g, prog, err := s.BuildSublattice(t.Entry, t.Args)
		if err != nil {
			oc.Error, oc.ErrorKind = err.Error(), executors.ErrorUser
			return oc
		}
		oc.Graph, oc.Program = g, &prog
	default:
		out, err := filetransfer.Around(context.Background(), t.Settings, func() ([]byte, error) { return s.Call(t.Entry, t.Args) })
		if err != nil {
			oc.Error = err.Error()
			if te, ok := err.(*interp.TaskError); ok {
				oc.Stack, oc.ErrorKind, oc.ErrorCell = te.Stack, executors.ErrorUser, cellOf(te.Stack)
			}
			return oc
		}
		oc.Output = out
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.goroutineErr != "" {
		oc.Output, oc.Graph, oc.Program, oc.Error, oc.ErrorKind = nil, nil, nil, w.goroutineErr, executors.ErrorUser
	}
	return oc
}

// cellPos matches the interpreted frame a stack starts with ("cell3:5:2: panic: ...").
var cellPos = regexp.MustCompile(`^(cell\d+:\d+):\d+: `)

// cellOf is where in the user's cells a stack starts, or "".
func cellOf(stack string) string {
	if m := cellPos.FindStringSubmatch(stack); m != nil {
		return m[1]
	}
	return ""
}

// RunOnce runs one task (with its Program) in this process, as `govalent worker --once` does for the AWS
// executors: output is captured as in a pipe worker, and fds 1 and 2 are given back afterwards.
func RunOnce(t *executors.Task) (executors.Outcome, error) {
	var saved [2]int
	for i, fd := range []int{1, 2} {
		var err error
		if saved[i], err = syscall.Dup(fd); err != nil {
			return executors.Outcome{}, err
		}
		defer func() { syscall.Dup3(saved[i], fd, 0); syscall.Close(saved[i]) }()
	}
	w, err := newPipeWorker()
	if err != nil {
		return executors.Outcome{}, err
	}
	w.programs[t.ProgramHash] = t.Program
	defer w.stopNatives() // a Lambda runs task after task in one process
	return w.run(t, time.Time{}), nil
}

// eofReader is the stdin of electrons: there is nobody to type.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
