package redisq

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/govalent/govalent/executors"
)

// WorkerConfig configures a Redis pool worker (`govalent worker --redis URL`).
type WorkerConfig struct {
	ID          string   // unique per worker; default host:pid
	Concurrency int      // tasks at once, each in its own worker process
	Queues      []string // queues served, in priority order; default "default"
	Command     []string // the worker-process command (`govalent worker --pipe`)
	Logger      *slog.Logger
}

// Worker takes tasks from Redis and runs them in local worker processes (the embedded pool's ProcessPool, so
// user code is as isolated as on the dispatcher's machine), keeping their leases alive while they run.
type Worker struct {
	cfg  WorkerConfig
	q    *Queue
	pool *executors.ProcessPool
	host string

	mu       sync.Mutex
	running  map[string]Lease     // lease (task or chunk) id -> lease, held by this worker (running or waiting)
	chunks   map[string]*chunkRun // chunk id -> its members' progress
	memberOf map[string]string    // id of a task in a chunk -> the chunk's id
	held     int                  // tasks held: single tasks and unfinished chunk members
	perLease float64              // moving average of the tasks per lease (chunks hold many)
	typical  time.Duration        // moving average of its tasks' run times; 0 until one has run
	programs map[string]string
	wake     chan struct{}
	finished chan finished // outcomes waiting to be reported in a batch
}

// chunkRun collects the outcomes of a chunk's members.
type chunkRun struct {
	ids  []string
	outs []memberOutcome
	left int
}

type finished struct {
	lease   Lease
	outcome executors.Outcome
}

// NewWorker prepares a worker; Run serves until ctx is done.
func NewWorker(q *Queue, cfg WorkerConfig) *Worker {
	host, _ := os.Hostname()
	if cfg.ID == "" {
		cfg.ID = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	if len(cfg.Queues) == 0 {
		cfg.Queues = []string{DefaultQueue}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Worker{
		cfg: cfg, q: q, host: host, running: map[string]Lease{}, chunks: map[string]*chunkRun{}, memberOf: map[string]string{},
		perLease: 1, programs: map[string]string{}, wake: make(chan struct{}, 1),
		finished: make(chan finished, 1024),
		pool:     executors.NewProcessPool(executors.PoolConfig{Name: "worker", Size: cfg.Concurrency, Reuse: true, Command: cfg.Command, Logger: cfg.Logger}),
	}
}

// Run serves tasks until ctx is done, reconnecting to Redis as needed.
func (w *Worker) Run(ctx context.Context) error {
	defer w.pool.Close()
	go w.keepLeases(ctx)
	go w.listen(ctx)
	go w.report(ctx)
	w.cfg.Logger.Info("worker serving", "id", w.cfg.ID, "queues", w.cfg.Queues, "concurrency", w.cfg.Concurrency)
	idle := time.Millisecond
	for ctx.Err() == nil {
		free, hungry := w.room()
		if !hungry {
			w.wait(ctx, time.Second)
			continue
		}
		leases, err := w.q.Dequeue(ctx, w.cfg.ID, w.cfg.Queues, w.leasesFor(free))
		if err != nil {
			w.cfg.Logger.Warn("taking tasks from Redis failed; retrying", "err", err)
			w.wait(ctx, time.Second)
			continue
		}
		if len(leases) == 0 {
			w.wait(ctx, idle)
			idle = min(2*idle, 250*time.Millisecond) // back off while the queues are empty: new tasks are announced
			continue
		}
		idle = time.Millisecond
		for _, l := range leases {
			w.start(ctx, l)
		}
	}
	return nil
}

// Prefetching: while this worker's tasks have been short (under prefetchShort on average), it holds up to
// prefetchBudget of expected work per process (at most prefetchDepth tasks), and takes more once it is down to
// half of that, so that tiny tasks move through Redis in batches. Otherwise it holds only as many tasks as it
// has processes: a worker holding more would keep long tasks from idle workers.
const (
	prefetchShort  = 2 * time.Millisecond
	prefetchBudget = 10 * time.Millisecond
	prefetchDepth  = 64
)

// room tells how many tasks to take now, and whether to take any (hungry) or wait for some to finish.
func (w *Worker) room() (n int, hungry bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	capacity, refill := w.capacity()
	n = capacity - w.held
	return n, n >= refill
}

// leasesFor tells how many leases to take for room for n tasks, given how many tasks a lease has held lately.
func (w *Worker) leasesFor(n int) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return max(1, int(float64(n)/w.perLease))
}

// capacity is how many tasks the worker may hold, and how many must be free before it takes more; w.mu held.
func (w *Worker) capacity() (capacity, refill int) {
	if w.typical == 0 || w.typical >= prefetchShort {
		return w.cfg.Concurrency, 1
	}
	perProcess := min(prefetchDepth, max(1, int(prefetchBudget/max(w.typical, time.Microsecond))))
	capacity = w.cfg.Concurrency * perProcess
	return capacity, max(1, capacity/2)
}

func (w *Worker) wait(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-w.wake:
	case <-time.After(d):
	}
}

func (w *Worker) start(ctx context.Context, l Lease) {
	t := l.Task
	src, err := w.program(ctx, t.ProgramHash)
	if err != nil {
		now := time.Now()
		w.report1(ctx, l, executors.Outcome{Error: "the worker could not fetch the shipped program: " + err.Error(), Start: now, End: now})
		return
	}
	tasks := []*executors.Task{&t}
	if t.Kind == chunkKind {
		if tasks, err = chunkMembers(&t); err != nil {
			now := time.Now()
			w.report1(ctx, l, executors.Outcome{Error: err.Error(), Start: now, End: now})
			return
		}
	}
	w.mu.Lock()
	w.running[t.ID] = l
	w.held += len(tasks)
	w.perLease = 0.75*w.perLease + 0.25*float64(len(tasks))
	var run *chunkRun
	if t.Kind == chunkKind {
		run = &chunkRun{outs: make([]memberOutcome, len(tasks)), left: len(tasks)}
		for _, m := range tasks {
			run.ids = append(run.ids, m.ID)
			w.memberOf[m.ID] = t.ID
		}
		w.chunks[t.ID] = run
	}
	w.mu.Unlock()
	for i, m := range tasks {
		m.Program = src
		w.pool.Submit(m, func(oc executors.Outcome) { w.finish(ctx, l, run, i, m.ID, oc) })
	}
}

func (w *Worker) program(ctx context.Context, hash string) (string, error) {
	w.mu.Lock()
	src, ok := w.programs[hash]
	w.mu.Unlock()
	if ok || hash == "" {
		return src, nil
	}
	src, err := w.q.Program(ctx, hash)
	if err != nil {
		return "", err
	}
	w.mu.Lock()
	w.programs[hash] = src
	w.mu.Unlock()
	return src, nil
}

// finish frees a task's process slot at once (the next task need not wait for Redis); the outcome of its lease
// goes to the reporter when it is a single task, or when it is the last member of a chunk to finish.
func (w *Worker) finish(ctx context.Context, l Lease, run *chunkRun, i int, taskID string, oc executors.Outcome) {
	w.mu.Lock()
	w.held--
	if d := oc.End.Sub(oc.Start); oc.Error == "" && !oc.Cancelled && d >= 0 {
		if w.typical == 0 {
			w.typical = max(d, 1)
		} else {
			w.typical = max((3*w.typical+d)/4, 1)
		}
	}
	last := true
	if run != nil {
		run.outs[i] = memberOutcome{ID: taskID, Outcome: oc}
		run.left--
		last = run.left == 0
		delete(w.memberOf, taskID)
	}
	if last {
		delete(w.running, l.Task.ID)
		delete(w.chunks, l.Task.ID)
	}
	capacity, refill := w.capacity()
	hungry := capacity-w.held >= refill
	w.mu.Unlock()
	if hungry {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	if !last {
		return
	}
	if run != nil {
		var err error
		if oc, err = chunkOutcome(run.outs); err != nil {
			oc = executors.Outcome{Error: "encoding the chunk's outcomes: " + err.Error(), Start: oc.Start, End: oc.End}
		}
	}
	w.report1(ctx, l, oc)
}

// report1 hands a lease's outcome to the reporter.
func (w *Worker) report1(ctx context.Context, l Lease, oc executors.Outcome) {
	select {
	case w.finished <- finished{l, oc}:
	case <-ctx.Done():
	}
}

// report sends outcomes to Redis in batches. A false from CompleteBatch means the lease was lost (the task
// went to another worker after this one stalled) and the outcome is dropped, so a result never counts twice.
func (w *Worker) report(ctx context.Context) {
	for {
		var batch []finished
		select {
		case f := <-w.finished:
			batch = append(batch, f)
		case <-ctx.Done():
			return
		}
	drain:
		for len(batch) < 256 {
			select {
			case f := <-w.finished:
				batch = append(batch, f)
			default:
				break drain
			}
		}
		leases := make([]Lease, len(batch))
		outcomes := make([]executors.Outcome, len(batch))
		for i, f := range batch {
			leases[i], outcomes[i] = f.lease, f.outcome
		}
		for backoff := 50 * time.Millisecond; ctx.Err() == nil; backoff = min(2*backoff, 2*time.Second) {
			oks, err := w.q.CompleteBatch(ctx, leases, outcomes)
			if err == nil {
				for i, ok := range oks {
					if !ok {
						w.cfg.Logger.Info("dropped the outcome of a task whose lease was lost", "task", leases[i].Task.ID)
					}
				}
				break
			}
			w.cfg.Logger.Warn("reporting outcomes to Redis failed; retrying", "tasks", len(batch), "err", err)
			time.Sleep(backoff)
		}
	}
}

// keepLeases extends the leases of running tasks and sends heartbeats, every third of a lease.
func (w *Worker) keepLeases(ctx context.Context) {
	tick := time.NewTicker(w.q.Options().Lease / 3)
	defer tick.Stop()
	for {
		w.mu.Lock()
		leases := make([]Lease, 0, len(w.running))
		ids := make([]string, 0, w.held) // the tasks held, chunks' members one by one
		for id, l := range w.running {
			leases = append(leases, l)
			if run := w.chunks[id]; run != nil {
				for _, m := range run.ids {
					if _, unfinished := w.memberOf[m]; unfinished {
						ids = append(ids, m)
					}
				}
			} else {
				ids = append(ids, id)
			}
		}
		w.mu.Unlock()
		if len(leases) > 0 {
			if err := w.q.Extend(ctx, w.cfg.ID, leases); err != nil && ctx.Err() == nil {
				w.cfg.Logger.Warn("extending leases failed", "err", err)
			}
		}
		info := WorkerInfo{ID: w.cfg.ID, Host: w.host, PID: os.Getpid(), Concurrency: w.cfg.Concurrency, Queues: w.cfg.Queues, Running: ids}
		if err := w.q.Heartbeat(ctx, info); err != nil && ctx.Err() == nil {
			w.cfg.Logger.Warn("heartbeat failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// listen wakes the worker when a queue it serves gets tasks, and stops running tasks that the dispatcher
// cancels. go-redis resubscribes by itself after Redis comes back; messages sent meanwhile are lost, so the
// worker still polls (slowly) while idle.
func (w *Worker) listen(ctx context.Context) {
	sub := w.q.rdb.Subscribe(ctx, w.q.CancelChannel(), w.q.WorkChannel())
	go func() {
		<-ctx.Done()
		sub.Close()
	}()
	serves := map[string]bool{}
	for _, q := range w.cfg.Queues {
		serves[queueName(q)] = true
	}
	for msg := range sub.Channel() {
		if msg.Channel == w.q.WorkChannel() {
			if serves[msg.Payload] {
				select {
				case w.wake <- struct{}{}:
				default:
				}
			}
			continue
		}
		id := msg.Payload
		w.mu.Lock()
		ids := []string{id}
		if run := w.chunks[id]; run != nil {
			ids = append([]string(nil), run.ids...) // the whole chunk
		}
		_, mine := w.running[id]
		_, member := w.memberOf[id]
		w.mu.Unlock()
		if mine || member {
			for _, id := range ids {
				w.pool.Cancel(id)
			}
		}
	}
}
