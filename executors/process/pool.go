// Package process runs tasks in worker processes on this machine, so that a panic, an os.Exit, a crash or an
// endless loop in an electron cannot take the dispatcher down. Pool is the dispatcher's side (the "pool" and
// "local" executors, and each `govalent worker --redis`); ServePipe and RunOnce are the worker's side
// (`govalent worker --pipe`, and the AWS job runner), which rebuilds programs with package interp.
package process

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	json "github.com/goccy/go-json"
	"golang.org/x/sync/semaphore"

	"github.com/govalent/govalent/ct/wire"
	"github.com/govalent/govalent/executors"
)

// Pool runs tasks in worker processes started from Command (normally `govalent worker --pipe`).
// With Reuse, Size processes live on and run task after task; without it, every task gets a fresh process and
// at most Size run at once. Either way a task that is cancelled or exceeds its time limit has its process
// killed, and a process that dies fails only the task it was running.
//
// With Reuse, short tasks are pipelined: while a process runs one, the next few tasks whose electron has been
// quick so far are already sent to it, so that a burst of tiny tasks costs a few pipe writes and wake-ups
// rather than a round trip each. A pipelined task that is cancelled before it starts is skipped by the
// process; one left waiting when its process dies or is killed goes back to the head of the queue.
//
// A process runs user code, so what it sends back is bounded by MaxReply: the worker replaces a larger reply
// with an error naming its sizes and the limit, and a process whose user code writes more than that to the
// reply pipe is cut off and replaced, failing the task it was running. The pool holds at most MaxReply bytes of
// replies per process that it has read and not yet reported, and about three times that while one is decoded
// (the line, the decoder's copy of it, the values).
type Pool struct {
	name     string
	size     int
	reuse    bool
	command  []string
	maxReply int64
	log      *slog.Logger
	startBy  func(*executors.Task) time.Time

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []*job
	running map[string]*slot
	busy    int
	closed  bool
	done    atomic.Int64
	slots   []*slot
	idle    int                // slots waiting for a task
	quick   executors.RunTimes // to tell which tasks are worth pipelining
	wg      sync.WaitGroup
}

// Pipelining limits: only tasks whose electron has averaged under pipelineShort are sent ahead, up to
// pipelineDepth per process and pipelineBudget of expected work queued behind the running task (so a task
// that turns out long holds back little).
const (
	pipelineShort  = 2 * time.Millisecond
	pipelineDepth  = 64
	pipelineBudget = 10 * time.Millisecond
)

type job struct {
	task *executors.Task
	done func(executors.Outcome)
}

// Config configures a Pool.
type Config struct {
	Name    string
	Size    int
	Reuse   bool
	Command []string // the worker command; its last arguments must make it serve the pipe protocol
	Logger  *slog.Logger
	// StartBy, if set, gives each task, when it is sent to a process, the time after which that process must
	// not start it (the Redis pool: the lease is held until then); such a task ends Unstarted.
	StartBy func(*executors.Task) time.Time
	// MaxReply bounds the JSON a worker process sends back for one task: its output (or a sublattice's graph),
	// error, stack, and captured stdout and stderr (each already clipped to 1 MiB by the worker). 0 means
	// DefaultMaxReply.
	MaxReply int64
}

// DefaultMaxReply is the reply limit of a pool whose configuration sets none.
const DefaultMaxReply = 1 << 30

// minMaxReply is the smallest max_reply: the reply that names a reply's sizes fits it.
const minMaxReply = 64 << 10

// MaxReplySetting is the setting of an embedded pool's [executors.NAME] table that sets Config.MaxReply.
const MaxReplySetting = "max_reply"

// MaxReply reads an embedded pool's [executors.NAME] table: max_reply, a size ("1GiB", "64 MB", or a
// number of bytes; default DefaultMaxReply). Other keys are refused, as misspellings.
func MaxReply(name string, table map[string]any) (int64, error) {
	for k := range table {
		if k != MaxReplySetting {
			return 0, fmt.Errorf("executor %s: unknown setting %q (the embedded pools take only %s)", name, k, MaxReplySetting)
		}
	}
	n, err := executors.SizeSetting(table[MaxReplySetting], DefaultMaxReply)
	if err == nil && n < minMaxReply {
		err = fmt.Errorf("%s is too small: at least %s (an error's reply must fit)", humanize.IBytes(uint64(n)), humanize.IBytes(minMaxReply))
	}
	if err != nil {
		return 0, fmt.Errorf("executor %s setting %s: %w", name, MaxReplySetting, err)
	}
	return n, nil
}

// NewPool starts the pool's slots; processes start on first use.
func NewPool(c Config) *Pool {
	if c.Size < 1 {
		c.Size = 1
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxReply <= 0 {
		c.MaxReply = DefaultMaxReply
	}
	p := &Pool{name: c.Name, size: c.Size, reuse: c.Reuse, command: c.Command, maxReply: c.MaxReply, log: c.Logger,
		startBy: c.StartBy, running: map[string]*slot{}, quick: executors.RunTimes{}}
	p.cond = sync.NewCond(&p.mu)
	for i := 0; i < c.Size; i++ {
		s := &slot{pool: p, known: map[string]bool{}, wake: make(chan struct{}, 1)}
		p.slots = append(p.slots, s)
		p.wg.Add(1)
		go s.loop()
	}
	return p
}

// Submit implements Executor.
func (p *Pool) Submit(t *executors.Task, done func(executors.Outcome)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		go done(executors.Outcome{Error: "executor " + p.name + " is shut down", Start: time.Now(), End: time.Now()})
		return
	}
	p.queue = append(p.queue, &job{task: t, done: done})
	p.cond.Signal()
}

// Cancel implements Executor.
func (p *Pool) Cancel(taskID string) {
	p.mu.Lock()
	for i, j := range p.queue {
		if j.task.ID == taskID {
			p.queue = append(p.queue[:i], p.queue[i+1:]...)
			p.mu.Unlock()
			now := time.Now()
			j.done(executors.Outcome{Cancelled: true, Start: now, End: now})
			return
		}
	}
	s := p.running[taskID]
	p.mu.Unlock()
	if s != nil {
		s.cancel(taskID)
	}
}

// Stats implements Executor.
// NativePlatforms: its workers run on this machine, which runs native binaries built for it.
func (p *Pool) NativePlatforms() []string { return []string{executors.Platform} }

func (p *Pool) Stats() executors.Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return executors.Stats{Name: p.name, Workers: p.size, Busy: p.busy, Queued: len(p.queue), Done: p.done.Load()}
}

// Close implements Executor: it kills every worker process.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	p.queue = nil
	p.cond.Broadcast()
	p.mu.Unlock()
	for _, s := range p.slots {
		s.kill()
	}
	p.wg.Wait()
	return nil
}

// next assigns the next job to s, in one step so that a Cancel always finds the job somewhere. With wait it
// blocks until there is one (nil once the pool is closed); without, it returns a job only if it is worth
// pipelining behind the ones s already has (expected: their expected run time).
func (p *Pool) next(s *slot, wait bool, expected time.Duration) (*job, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if wait {
		p.idle++
		for len(p.queue) == 0 && !p.closed {
			p.cond.Wait()
		}
		p.idle--
	}
	if p.closed || len(p.queue) == 0 {
		return nil, 0
	}
	j := p.queue[0]
	est, known := p.quick.Estimate(j.task)
	if !wait && (!p.reuse || p.idle > 0 || !known || est >= pipelineShort || expected+est > pipelineBudget) {
		return nil, 0 // a slot that is idle should take it, or it may be long
	}
	p.queue[0] = nil
	p.queue = p.queue[1:]
	p.busy++
	p.running[j.task.ID] = s
	return j, est
}

// finished records a job's end: its slot is free of it, and its run time feeds the pipelining estimate.
func (p *Pool) finished(j *job, oc executors.Outcome) (closed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.running, j.task.ID)
	p.busy--
	p.quick.Observe(j.task, oc)
	p.done.Add(1)
	return p.closed
}

// requeue puts jobs that never started back at the head of the queue, in order.
func (p *Pool) requeue(jobs []*job) {
	if len(jobs) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, j := range jobs {
		delete(p.running, j.task.ID)
		p.busy--
	}
	if p.closed {
		return
	}
	p.queue = append(append(make([]*job, 0, len(jobs)+len(p.queue)), jobs...), p.queue...)
	p.cond.Broadcast()
}

// slot runs tasks in its worker process, one at a time, with short ones pipelined behind the running one.
type slot struct {
	pool     *Pool
	proc     *workerProc
	known    map[string]bool // programs the current process has been sent
	inflight []*flight       // sent to proc, in order; the first is running. Only the slot's goroutine uses it.

	mu      sync.Mutex
	closed  bool
	pending []string // task ids to cancel
	wake    chan struct{}
}

type flight struct {
	job     *job
	est     time.Duration // expected run time
	started time.Time     // when it became the running task
	skipped bool          // asked the process to skip it
}

func (s *slot) loop() {
	defer s.pool.wg.Done()
	for {
		if len(s.inflight) == 0 {
			j, est := s.pool.next(s, true, 0)
			if j == nil {
				return
			}
			if err := s.send(j, est); err != nil {
				s.settleFirst(executors.Outcome{Error: err.Error(), Start: time.Now(), End: time.Now()})
				continue
			}
		}
		var expected time.Duration
		for _, f := range s.inflight[1:] {
			expected += f.est
		}
		for len(s.inflight) < pipelineDepth {
			j, est := s.pool.next(s, false, expected)
			if j == nil {
				break
			}
			if err := s.send(j, est); err != nil {
				break // the process died: await finds out
			}
			expected += est
		}
		if err := s.proc.flush(); err != nil {
			s.proc.kill()
		}
		s.await()
	}
}

// send starts a process if needed and writes j's request to it (unflushed). The job joins inflight even if
// the write fails, so that the process's death settles it like the others.
func (s *slot) send(j *job, est time.Duration) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.inflight = append(s.inflight, &flight{job: j, est: est, started: time.Now()})
		return fmt.Errorf("executor %s is shut down", s.pool.name)
	}
	if s.proc == nil || s.proc.exited() {
		proc, err := startWorker(s.pool.command, s.pool.maxReply, s.pool.log)
		if err != nil {
			s.mu.Unlock()
			s.inflight = append(s.inflight, &flight{job: j, est: est, started: time.Now()})
			return fmt.Errorf("starting a worker process: %v", err)
		}
		s.proc, s.known = proc, map[string]bool{}
	}
	proc := s.proc
	s.mu.Unlock()
	s.inflight = append(s.inflight, &flight{job: j, est: est, started: time.Now()})
	req := request{Task: *j.task, MaxReply: s.pool.maxReply}
	if s.pool.startBy != nil {
		req.StartBy = s.pool.startBy(j.task)
	}
	if !s.known[j.task.ProgramHash] {
		req.Program = j.task.Program
		s.known[j.task.ProgramHash] = true
	}
	if err := proc.send(&req); err != nil {
		proc.kill()
		return fmt.Errorf("worker process died before the task started: %v", proc.exitReason())
	}
	return nil
}

// await waits for the running task's outcome, an interruption, or its time limit.
func (s *slot) await() {
	proc, head := s.proc, s.inflight[0]
	var timeout <-chan time.Time
	if limit := head.job.task.TimeLimit; limit > 0 {
		timer := time.NewTimer(limit - time.Since(head.started))
		defer timer.Stop()
		timeout = timer.C
	}
	select {
	case r, ok := <-proc.replies:
		if !ok {
			s.died(executors.ErrorCrash, fmt.Sprintf("worker process died while running the task: %s", proc.exitReason()))
			return
		}
		proc.held.Release(r.size)
		if r.err != nil { // its stream cannot be trusted past this point
			proc.kill()
			s.died(executors.ErrorCrash, fmt.Sprintf("executor %s: %v; the process was replaced", s.pool.name, r.err))
			return
		}
		if r.ID != head.job.task.ID {
			proc.kill()
			s.died(executors.ErrorCrash, fmt.Sprintf("worker process answered for task %q while running %q", r.ID, head.job.task.ID))
			return
		}
		s.settleFirst(r.Outcome)
	case <-s.wake:
		s.interrupted()
	case <-timeout:
		proc.kill()
		s.died(executors.ErrorTimeLimit, fmt.Sprintf("time limit of %s exceeded", head.job.task.TimeLimit))
	}
}

// settleFirst reports the running task's outcome; the next one in flight is now running.
func (s *slot) settleFirst(oc executors.Outcome) {
	f := s.inflight[0]
	s.inflight[0] = nil
	s.inflight = s.inflight[1:]
	if len(s.inflight) > 0 {
		s.inflight[0].started = time.Now()
	} else if !s.pool.reuse {
		s.mu.Lock()
		if s.proc != nil {
			s.proc.close()
			s.proc = nil
		}
		s.mu.Unlock()
	}
	if !s.pool.finished(f.job, oc) { // Close abandons unfinished tasks: their process was killed by Close
		f.job.done(oc)
	}
}

// died settles the running task with msg: its process is gone. A crash may not happen again elsewhere.
func (s *slot) died(kind executors.ErrorKind, msg string) {
	s.abandon(executors.Outcome{Error: msg, ErrorKind: kind, Retryable: kind == executors.ErrorCrash, Start: s.inflight[0].started, End: time.Now()})
}

// abandon settles the running task with oc and requeues the ones waiting behind it, after its process was
// killed or died.
func (s *slot) abandon(oc executors.Outcome) {
	waiting := make([]*job, 0, len(s.inflight)-1)
	for _, f := range s.inflight[1:] {
		waiting = append(waiting, f.job)
	}
	s.inflight = s.inflight[:1]
	s.pool.requeue(waiting)
	s.settleFirst(oc)
}

// interrupted handles cancellations: the running task's process is killed; a task waiting behind it is
// skipped by the process, which answers for it as cancelled.
func (s *slot) interrupted() {
	s.mu.Lock()
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	for k, taskID := range pending {
		for i, f := range s.inflight {
			if f.job.task.ID != taskID {
				continue
			}
			if i == 0 {
				s.proc.kill()
				s.abandon(executors.Outcome{Cancelled: true, Start: f.started, End: time.Now()})
				for _, id := range pending[k+1:] { // sent back to the queue by abandon, where Cancel finds them
					s.pool.Cancel(id)
				}
				return
			}
			if !f.skipped {
				f.skipped = true
				if err := s.proc.sendSkip(taskID); err != nil {
					s.proc.kill() // await finds the process gone
				}
			}
			break
		}
	}
}

// cancel asks the slot's goroutine to stop taskID, if it is still in flight there.
func (s *slot) cancel(taskID string) {
	s.mu.Lock()
	s.pending = append(s.pending, taskID)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// kill stops the slot for good: its process is killed and no new one starts.
func (s *slot) kill() {
	s.mu.Lock()
	s.closed = true
	proc := s.proc
	s.mu.Unlock()
	if proc != nil {
		proc.kill()
	}
}

// workerProc is one worker process and the pipes to it.
type workerProc struct {
	cmd     *exec.Cmd
	in      *os.File // we write tasks
	enc     *json.Encoder
	bw      *bufio.Writer
	replies chan received
	// held bounds the bytes of the replies read and not yet taken by the slot: the reader waits for room.
	held     *semaphore.Weighted
	maxReply int64
	dead     chan struct{}
	err      error
	tail     *tailBuffer
	killed   atomic.Bool // we killed it: its exit is expected
}

func startWorker(command []string, maxReply int64, log *slog.Logger) (*workerProc, error) {
	if len(command) == 0 {
		return nil, fmt.Errorf("no worker command configured")
	}
	taskR, taskW, err := pipe()
	if err != nil {
		return nil, err
	}
	replyR, replyW, err := pipe()
	if err != nil {
		taskR.Close()
		taskW.Close()
		return nil, err
	}
	cmd := exec.Command(command[0], command[1:]...)
	cmd.ExtraFiles = []*os.File{taskR, replyW} // fds 3 and 4 in the worker
	tail := &tailBuffer{max: 8 << 10}
	cmd.Stdout = tail
	cmd.Stderr = tail
	cmd.SysProcAttr = workerSysProcAttr()
	if err := cmd.Start(); err != nil {
		taskR.Close()
		taskW.Close()
		replyR.Close()
		replyW.Close()
		return nil, err
	}
	taskR.Close()
	replyW.Close()
	w := &workerProc{cmd: cmd, in: taskW, replies: make(chan received, pipelineDepth), held: semaphore.NewWeighted(maxReply),
		maxReply: maxReply, dead: make(chan struct{}), tail: tail}
	w.bw = bufio.NewWriter(taskW)
	w.enc = json.NewEncoder(w.bw)
	go func() {
		w.readReplies(replyR)
		replyR.Close()
		w.err = cmd.Wait()
		if w.err != nil && !w.killed.Load() {
			log.Warn("worker process exited", "pid", cmd.Process.Pid, "err", w.err, "output", strings.TrimSpace(tail.String()))
		}
		close(w.dead)
		close(w.replies)
	}()
	return w, nil
}

// send buffers a request; flush sends what is buffered. Large arguments follow its line as they are.
func (w *workerProc) send(r *request) error {
	args := r.Task.Args
	large := false
	for _, a := range args {
		large = large || len(a) >= attachFrom
	}
	if !large {
		return w.enc.Encode(r)
	}
	line := r.detached()
	if err := w.enc.Encode(&line); err != nil {
		return err
	}
	for _, a := range args {
		wire.FitPipe(w.in, len(a))
		if _, err := w.bw.Write(a); err != nil {
			return err
		}
	}
	return nil
}

func (w *workerProc) flush() error { return w.bw.Flush() }

// sendSkip tells the process to skip a task it has been sent but not started.
func (w *workerProc) sendSkip(taskID string) error {
	if err := w.enc.Encode(request{Skip: taskID}); err != nil {
		return err
	}
	return w.bw.Flush()
}

func (w *workerProc) exited() bool {
	select {
	case <-w.dead:
		return true
	default:
		return false
	}
}

// kill stops the process and everything it started, and waits for it.
func (w *workerProc) kill() {
	w.killed.Store(true)
	syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
	w.cmd.Process.Kill()
	w.in.Close()
	for r := range w.replies { // drain until the reader goroutine has seen the exit
		w.held.Release(r.size)
	}
	<-w.dead
}

// close ends a process that finished its task: closing its input makes it exit.
func (w *workerProc) close() {
	w.in.Close()
	go func() {
		select {
		case <-w.dead:
		case <-time.After(5 * time.Second):
			w.kill()
		}
	}()
}

func (w *workerProc) exitReason() string {
	<-w.dead
	msg := "exit status 0"
	if w.err != nil {
		msg = w.err.Error()
	}
	if t := strings.TrimSpace(w.tail.String()); t != "" {
		msg += "; its last output:\n" + t
	}
	return msg
}

// received is a reply read from a worker process, or why its stream cannot be read on (err).
type received struct {
	reply
	size int64 // of its line, held in workerProc.held until the slot takes it
	err  error
}

// ReplyTooLargeError is a reply longer than the pool's limit. The worker checks its own replies (see
// ServePipe), so this is a process whose user code wrote to the reply pipe: it is cut off at the limit.
type ReplyTooLargeError struct{ Limit int64 }

func (e *ReplyTooLargeError) Error() string {
	return fmt.Sprintf("the worker process sent more than the %s a reply may take (%s)", humanize.IBytes(uint64(e.Limit)), MaxReplySetting)
}

// readReplies reads the process's replies until its output ends or cannot be read on. Each is a JSON line
// (json.Encoder ends every value with a newline and escapes the newlines within), then the output when it
// travels after the line. Replies read and not taken hold room in w.held, so that a process cannot make the
// dispatcher hold more than maxReply of them.
func (w *workerProc) readReplies(r io.Reader) {
	br := bufio.NewReaderSize(r, 1<<16)
	for {
		var rc received
		output, err := readMessage(br, &rc.reply, func() []int {
			if rc.reply.OutputSize > 0 {
				return []int{rc.reply.OutputSize}
			}
			return nil
		}, func(n int64) error {
			if rc.size+n > w.maxReply {
				return &ReplyTooLargeError{Limit: w.maxReply}
			}
			// The slot takes replies in order and releases them, and kill drains them: room is always made.
			w.held.Acquire(context.Background(), n)
			rc.size += n
			return nil
		})
		switch {
		case errors.Is(err, errMalformed):
			rc.err = fmt.Errorf("the worker process sent a malformed reply: %v", err)
		case err != nil:
			w.held.Release(rc.size)
			if _, ok := err.(*ReplyTooLargeError); ok {
				w.replies <- received{err: err} // the slot kills the process
			}
			return
		case output != nil:
			rc.reply.Outcome.Output = output[0]
		}
		w.replies <- rc
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

var _ io.Writer = (*tailBuffer)(nil)
