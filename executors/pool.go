package executors

import (
	"bufio"
	"encoding/json"
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
)

// ProcessPool runs tasks in worker processes started from Command (normally `govalent worker --pipe`).
// With Reuse, Size processes live on and run task after task; without it, every task gets a fresh process and
// at most Size run at once. Either way a task that is cancelled or exceeds its time limit has its process
// killed, and a process that dies fails only the task it was running.
type ProcessPool struct {
	name    string
	size    int
	reuse   bool
	command []string
	log     *slog.Logger

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []*job
	running map[string]*slot
	busy    int
	closed  bool
	done    atomic.Int64
	slots   []*slot
	wg      sync.WaitGroup
}

type job struct {
	task *Task
	done func(Outcome)
}

// PoolConfig configures a ProcessPool.
type PoolConfig struct {
	Name    string
	Size    int
	Reuse   bool
	Command []string // the worker command; its last arguments must make it serve the pipe protocol
	Logger  *slog.Logger
}

// NewProcessPool starts the pool's slots; processes start on first use.
func NewProcessPool(c PoolConfig) *ProcessPool {
	if c.Size < 1 {
		c.Size = 1
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	p := &ProcessPool{name: c.Name, size: c.Size, reuse: c.Reuse, command: c.Command, log: c.Logger, running: map[string]*slot{}}
	p.cond = sync.NewCond(&p.mu)
	for i := 0; i < c.Size; i++ {
		s := &slot{pool: p, known: map[string]bool{}}
		p.slots = append(p.slots, s)
		p.wg.Add(1)
		go s.loop()
	}
	return p
}

// Submit implements Executor.
func (p *ProcessPool) Submit(t *Task, done func(Outcome)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		go done(Outcome{Error: "executor " + p.name + " is shut down", Start: time.Now(), End: time.Now()})
		return
	}
	p.queue = append(p.queue, &job{task: t, done: done})
	p.cond.Signal()
}

// Cancel implements Executor.
func (p *ProcessPool) Cancel(taskID string) {
	p.mu.Lock()
	for i, j := range p.queue {
		if j.task.ID == taskID {
			p.queue = append(p.queue[:i], p.queue[i+1:]...)
			p.mu.Unlock()
			now := time.Now()
			j.done(Outcome{Cancelled: true, Start: now, End: now})
			return
		}
	}
	s := p.running[taskID]
	p.mu.Unlock()
	if s != nil {
		s.interrupt(taskID, interruptCancel)
	}
}

// Stats implements Executor.
func (p *ProcessPool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{Name: p.name, Workers: p.size, Busy: p.busy, Queued: len(p.queue), Done: p.done.Load()}
}

// Close implements Executor: it kills every worker process.
func (p *ProcessPool) Close() error {
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

// next waits for a job and assigns it to s, in one step so that a Cancel always finds the job somewhere.
func (p *ProcessPool) next(s *slot) *job {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.queue) == 0 && !p.closed {
		p.cond.Wait()
	}
	if p.closed {
		return nil
	}
	j := p.queue[0]
	p.queue[0] = nil
	p.queue = p.queue[1:]
	p.busy++
	p.running[j.task.ID] = s
	s.mu.Lock()
	s.taskID, s.interrupts = j.task.ID, make(chan interruptKind, 1)
	s.mu.Unlock()
	return j
}

type interruptKind int

const (
	interruptCancel interruptKind = iota + 1
	interruptTimeout
)

// slot runs one task at a time in its worker process.
type slot struct {
	pool  *ProcessPool
	proc  *workerProc
	known map[string]bool // programs the current process has been sent

	mu         sync.Mutex
	closed     bool
	taskID     string
	interrupts chan interruptKind
}

func (s *slot) loop() {
	defer s.pool.wg.Done()
	for {
		j := s.pool.next(s)
		if j == nil {
			return
		}
		oc := s.run(j.task)
		p := s.pool
		p.mu.Lock()
		delete(p.running, j.task.ID)
		p.busy--
		closed := p.closed
		p.mu.Unlock()
		p.done.Add(1)
		if !closed { // Close abandons unfinished tasks: their process was killed by Close, not by the task
			j.done(oc)
		}
	}
}

func (s *slot) interrupt(taskID string, k interruptKind) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.taskID == taskID && s.interrupts != nil {
		select {
		case s.interrupts <- k:
		default:
		}
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

func (s *slot) run(t *Task) Outcome {
	start := time.Now()
	fail := func(msg string) Outcome { return Outcome{Error: msg, Start: start, End: time.Now()} }
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fail("executor " + s.pool.name + " is shut down")
	}
	if s.proc == nil || s.proc.exited() {
		proc, err := startWorker(s.pool.command, s.pool.log)
		if err != nil {
			s.mu.Unlock()
			return fail(fmt.Sprintf("starting a worker process: %v", err))
		}
		s.proc, s.known = proc, map[string]bool{}
	}
	proc := s.proc
	intr := s.interrupts
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.taskID, s.interrupts = "", nil
		if !s.pool.reuse && s.proc != nil {
			s.proc.close()
			s.proc = nil
		}
		s.mu.Unlock()
	}()

	req := request{Task: *t}
	if !s.known[t.ProgramHash] {
		req.Program = t.Program
		s.known[t.ProgramHash] = true
	}
	if err := proc.send(&req); err != nil {
		proc.kill()
		return fail(fmt.Sprintf("worker process died before the task started: %v", proc.exitReason()))
	}
	var timeout <-chan time.Time
	if t.TimeLimit > 0 {
		timer := time.NewTimer(t.TimeLimit)
		defer timer.Stop()
		timeout = timer.C
	}
	select {
	case r, ok := <-proc.replies:
		if !ok {
			return fail(fmt.Sprintf("worker process died while running the task: %s", proc.exitReason()))
		}
		return r.Outcome
	case k := <-intr:
		proc.kill()
		if k == interruptCancel {
			return Outcome{Cancelled: true, Start: start, End: time.Now()}
		}
		return fail(fmt.Sprintf("time limit of %s exceeded", t.TimeLimit))
	case <-timeout:
		proc.kill()
		return fail(fmt.Sprintf("time limit of %s exceeded", t.TimeLimit))
	}
}

// workerProc is one worker process and the pipes to it.
type workerProc struct {
	cmd     *exec.Cmd
	in      *os.File // we write tasks
	enc     *json.Encoder
	bw      *bufio.Writer
	replies chan reply
	dead    chan struct{}
	err     error
	tail    *tailBuffer
	killed  atomic.Bool // we killed it: its exit is expected
}

func startWorker(command []string, log *slog.Logger) (*workerProc, error) {
	if len(command) == 0 {
		return nil, fmt.Errorf("no worker command configured")
	}
	taskR, taskW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	replyR, replyW, err := os.Pipe()
	if err != nil {
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
	w := &workerProc{cmd: cmd, in: taskW, replies: make(chan reply, 1), dead: make(chan struct{}), tail: tail}
	w.bw = bufio.NewWriter(taskW)
	w.enc = json.NewEncoder(w.bw)
	go func() {
		dec := json.NewDecoder(bufio.NewReaderSize(replyR, 1<<16))
		for {
			var r reply
			if err := dec.Decode(&r); err != nil {
				break
			}
			w.replies <- r
		}
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

func (w *workerProc) send(r *request) error {
	if err := w.enc.Encode(r); err != nil {
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
	for range w.replies { // drain until the reader goroutine has seen the exit
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
