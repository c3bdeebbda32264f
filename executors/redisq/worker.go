package redisq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/process"
	"github.com/govalent/govalent/native"
)

// WorkerConfig configures a Redis pool worker (`govalent worker --redis URL`).
type WorkerConfig struct {
	ID          string   // unique per worker; default host:pid
	Concurrency int      // tasks at once, each in its own worker process
	Queues      []string // queues served, in priority order; default "default"
	Command     []string // the worker-process command (`govalent worker --pipe`)
	// BinaryDir is where the native binaries fetched from Redis are kept (mode 0700); default
	// <user cache dir>/govalent/native.
	BinaryDir string
	Logger    *slog.Logger
}

// Worker takes tasks from Redis and runs them in local worker processes (the embedded pool's process.Pool, so
// user code is as isolated as on the dispatcher's machine), keeping their leases alive while they run.
//
// A task starts only while its lease is surely held: every lease comes with a time until which Redis cannot
// hand it to anyone else (its expiry, as of the last Dequeue or Extend, less a margin), and the task's process
// checks that time right before the task's body runs (process.Config.StartBy), whether it was waiting in this
// worker's backlog, in a chunk, or pipelined in a process. A task that finds it passed (the worker was paused,
// or cut off from Redis) is parked until the next Extend tells whether the lease is still held: if so it starts,
// if not the lease's unfinished tasks are stopped and nothing of it is reported.
type Worker struct {
	cfg  WorkerConfig
	q    *Queue
	pool *process.Pool
	bins *binaryCache
	host string
	ctx  context.Context // Run's

	mu       sync.Mutex
	leases   map[string]*leaseRun // lease (task or chunk) id -> what runs under it
	byTask   map[string]*leaseRun // id of an unfinished task (chunk members one by one) -> its lease
	byPool   map[string]*leaseRun // the same by the id it has in the process pool (see poolID)
	held     int                  // tasks held: single tasks and unfinished chunk members
	perLease float64              // moving average of the tasks per lease (chunks hold many)
	typical  time.Duration        // moving average of its tasks' run times; 0 until one has run
	programs map[string]string    // program hash -> source, at most maxCachedPrograms
	wake     chan struct{}
	finished chan finished // outcomes waiting to be reported in a batch
}

// leaseRun is a lease held by this worker and the tasks that run under it: the task itself, or a chunk's
// members.
type leaseRun struct {
	lease  Lease
	ids    []string          // the task's id, or its members'
	tasks  []*executors.Task // the same tasks under their ids in the process pool
	chunk  bool
	outs   []memberOutcome // a chunk's members' outcomes
	done   []bool
	left   int
	valid  time.Time // its tasks may start until then
	parked []int     // tasks that found valid passed, waiting for the next Extend
	// fetching are tasks waiting for their native binary (fetchBinaries) before they go to the process pool.
	fetching []int
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
	if cfg.BinaryDir == "" {
		cfg.BinaryDir = native.WorkerCache()
	}
	w := &Worker{
		cfg: cfg, q: q, host: host, leases: map[string]*leaseRun{}, byTask: map[string]*leaseRun{}, byPool: map[string]*leaseRun{},
		perLease: 1, programs: map[string]string{}, wake: make(chan struct{}, 1),
		finished: make(chan finished, 1024), bins: newBinaryCache(cfg.BinaryDir, q, cfg.Logger),
	}
	w.pool = process.NewPool(process.Config{Name: "worker", Size: cfg.Concurrency, Reuse: true, Command: cfg.Command,
		Logger: cfg.Logger, StartBy: w.startBy})
	return w
}

// Run serves tasks until ctx is done, reconnecting to Redis as needed.
func (w *Worker) Run(ctx context.Context) error {
	defer w.pool.Close()
	w.ctx = ctx
	w.bins.prune()
	go w.keepLeases(ctx)
	go w.listen(ctx)
	go w.report(ctx)
	w.cfg.Logger.Info("worker serving", "id", w.cfg.ID, "queues", w.cfg.Queues, "concurrency", w.cfg.Concurrency,
		"platform", executors.Platform)
	idle := time.Millisecond
	for ctx.Err() == nil {
		free, hungry := w.room()
		if !hungry {
			w.wait(ctx, time.Second)
			continue
		}
		taken := time.Now()
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
			w.start(ctx, l, taken)
		}
	}
	return nil
}

// validFor is how long after a Dequeue or Extend was sent its leases are surely held: Redis set their expiry
// one lease after it ran the script, which was after the call was sent; the margin covers the moment between
// a process's check and the task's start.
func (w *Worker) validFor() time.Duration {
	lease := w.q.Options().Lease
	return lease - lease/10
}

// startBy is the pool's StartBy: a task may start while its lease is surely held; one whose lease was given up
// may not start at all.
func (w *Worker) startBy(t *executors.Task) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	if lr := w.byPool[t.ID]; lr != nil {
		return lr.valid
	}
	return time.Unix(1, 0)
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

func (w *Worker) start(ctx context.Context, l Lease, taken time.Time) {
	t := l.Task
	src, err := w.program(ctx, t.ProgramHash)
	if err != nil {
		now := time.Now()
		w.report1(ctx, l, executors.Outcome{Error: "the worker could not fetch the shipped program: " + err.Error(), Start: now, End: now})
		return
	}
	tasks := []*executors.Task{&t}
	if t.Kind == executors.KindChunk {
		if tasks, err = chunkMembers(&t); err != nil {
			now := time.Now()
			w.report1(ctx, l, executors.Outcome{Error: err.Error(), Start: now, End: now})
			return
		}
	}
	lr := &leaseRun{lease: l, ids: make([]string, len(tasks)), tasks: tasks, chunk: t.Kind == executors.KindChunk, done: make([]bool, len(tasks)), left: len(tasks),
		valid: taken.Add(w.validFor())}
	if lr.chunk {
		lr.outs = make([]memberOutcome, len(tasks))
	}
	if old := w.leaseOf(t.ID); old != nil {
		w.abandon(old) // recovered from this worker while it was paused, and handed back to it
	}
	w.mu.Lock()
	w.leases[t.ID] = lr
	for i, m := range tasks {
		lr.ids[i] = m.ID
		m.ID, m.Program = poolID(l, m.ID), src
		w.byTask[lr.ids[i]] = lr
		w.byPool[m.ID] = lr
	}
	w.held += len(tasks)
	w.perLease = 0.75*w.perLease + 0.25*float64(len(tasks))
	fetch := !w.haveBinaries(tasks)
	if fetch {
		lr.fetching = make([]int, len(tasks))
		for i := range lr.fetching {
			lr.fetching[i] = i
		}
	}
	w.mu.Unlock()
	if fetch {
		go w.fetchBinaries(lr) // the lease is kept meanwhile, and the worker takes other tasks
		return
	}
	for i := range tasks {
		w.submit(lr, i)
	}
}

// haveBinaries makes the tasks that run native on this worker run from its own copies of their binaries, and
// tells whether it has them all.
func (w *Worker) haveBinaries(tasks []*executors.Task) bool {
	for _, t := range tasks {
		hash := nativeHash(t)
		if hash == "" {
			continue
		}
		path, ok := w.bins.ready(hash)
		if !ok {
			return false
		}
		useBinary(t, hash, path)
	}
	return true
}

// fetchBinaries fetches the native binaries of lr's tasks from Redis, then hands the tasks to the process pool.
// A binary Redis no longer holds (expired, evicted) leaves its task to run interpreted, from the program source
// the worker has fetched; one that does not match the hash its signed task names fails the task, as does a
// binary the worker cannot fetch or keep.
func (w *Worker) fetchBinaries(lr *leaseRun) {
	failed := make([]error, len(lr.tasks))
	for i, t := range lr.tasks {
		hash := nativeHash(t)
		if hash == "" {
			continue
		}
		path, err := w.bins.get(w.ctx, hash)
		switch {
		case err == nil:
			useBinary(t, hash, path)
		case errors.Is(err, ErrNoBinary):
			w.cfg.Logger.Warn("the native binary of a task's program is no longer in Redis (expired or evicted): the task runs interpreted",
				"task", lr.ids[i], "hash", hash)
			t.Binaries = nil
		default:
			failed[i] = err
		}
	}
	w.mu.Lock()
	ready := lr.fetching // less those cancelled meanwhile
	lr.fetching = nil
	current := w.leases[lr.lease.Task.ID] == lr
	w.mu.Unlock()
	if !current {
		return // given up meanwhile
	}
	for _, i := range ready {
		if failed[i] != nil {
			now := time.Now()
			w.finish(lr, i, executors.Outcome{Error: "the worker could not fetch the native binary of the task's program: " + failed[i].Error(),
				Start: now, End: now})
			continue
		}
		w.submit(lr, i)
	}
}

// poolID is a task's id in the process pool: its lease's token makes it unique even when this worker holds a
// task again (recovered from it while it was paused) before it has given up the old lease.
func poolID(l Lease, taskID string) string { return l.Token + "|" + taskID }

func (w *Worker) leaseOf(id string) *leaseRun {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.leases[id]
}

func (w *Worker) submit(lr *leaseRun, i int) {
	w.pool.Submit(lr.tasks[i], func(oc executors.Outcome) { w.finish(lr, i, oc) })
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
	if len(w.programs) >= maxCachedPrograms { // a notebook edited all day makes a program per dispatch
		clear(w.programs) // the ones still in use are fetched again, once
	}
	w.programs[hash] = src
	w.mu.Unlock()
	return src, nil
}

// maxCachedPrograms bounds the programs a worker keeps between tasks.
const maxCachedPrograms = 64

// finish frees a task's process slot at once (the next task need not wait for Redis); the outcome of its lease
// goes to the reporter when it is a single task, or when it is the last member of a chunk to finish. A task
// that could not start in time is parked, or started again if its lease was extended meanwhile.
func (w *Worker) finish(lr *leaseRun, i int, oc executors.Outcome) {
	w.mu.Lock()
	if w.leases[lr.lease.Task.ID] != lr { // given up: nothing of it is reported
		w.mu.Unlock()
		return
	}
	if oc.Unstarted {
		again := time.Now().Before(lr.valid)
		if !again {
			lr.parked = append(lr.parked, i)
		}
		w.mu.Unlock()
		if again {
			w.submit(lr, i)
		}
		return
	}
	w.held--
	if d := oc.End.Sub(oc.Start); oc.Error == "" && !oc.Cancelled && d >= 0 {
		if w.typical == 0 {
			w.typical = max(d, 1)
		} else {
			w.typical = max((3*w.typical+d)/4, 1)
		}
	}
	id := lr.ids[i]
	lr.done[i] = true
	lr.left--
	if w.byTask[id] == lr {
		delete(w.byTask, id)
	}
	delete(w.byPool, lr.tasks[i].ID)
	if lr.chunk {
		lr.outs[i] = memberOutcome{ID: id, Outcome: oc}
	}
	last := lr.left == 0
	if last {
		delete(w.leases, lr.lease.Task.ID)
	}
	capacity, refill := w.capacity()
	hungry := capacity-w.held >= refill
	w.mu.Unlock()
	if hungry {
		w.signal()
	}
	if !last {
		return
	}
	if lr.chunk {
		var err error
		if oc, err = chunkOutcome(lr.outs); err != nil {
			oc = executors.Outcome{Error: "encoding the chunk's outcomes: " + err.Error(), Start: oc.Start, End: oc.End}
		}
	}
	w.report1(w.ctx, lr.lease, oc)
}

func (w *Worker) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// abandon gives up a lease this worker no longer holds: its unfinished tasks are stopped (a parked or waiting
// one never starts) and nothing of it is reported.
func (w *Worker) abandon(lr *leaseRun) {
	w.mu.Lock()
	if w.leases[lr.lease.Task.ID] != lr {
		w.mu.Unlock()
		return
	}
	delete(w.leases, lr.lease.Task.ID)
	var stop []string
	for i, t := range lr.tasks {
		if !lr.done[i] {
			if w.byTask[lr.ids[i]] == lr {
				delete(w.byTask, lr.ids[i])
			}
			delete(w.byPool, t.ID)
			stop = append(stop, t.ID)
		}
	}
	w.held -= lr.left
	lr.parked, lr.fetching = nil, nil
	w.mu.Unlock()
	w.cfg.Logger.Info("lost a lease (it expired while this worker was paused or cut off from Redis); its unfinished tasks are stopped and not reported",
		"task", lr.lease.Task.ID, "unfinished", len(stop))
	for _, id := range stop {
		w.pool.Cancel(id)
	}
	w.signal()
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

// keepLeases extends the leases of held tasks and sends heartbeats, every third of a lease. A lease found no
// longer held is abandoned; one found held lets its parked tasks start.
func (w *Worker) keepLeases(ctx context.Context) {
	tick := time.NewTicker(w.q.Options().Lease / 3)
	defer tick.Stop()
	for {
		w.mu.Lock()
		runs := make([]*leaseRun, 0, len(w.leases))
		leases := make([]Lease, 0, len(w.leases))
		ids := make([]string, 0, w.held) // the tasks held, chunks' members one by one
		for _, lr := range w.leases {
			runs = append(runs, lr)
			leases = append(leases, lr.lease)
			for i, id := range lr.ids {
				if !lr.done[i] {
					ids = append(ids, id)
				}
			}
		}
		w.mu.Unlock()
		if len(leases) > 0 {
			sent := time.Now()
			held, err := w.q.Extend(ctx, w.cfg.ID, leases)
			if err != nil && ctx.Err() == nil {
				w.cfg.Logger.Warn("extending leases failed", "err", err)
			}
			for i, lr := range runs {
				switch {
				case err != nil:
				case held[i]:
					w.mu.Lock()
					lr.valid = sent.Add(w.validFor())
					parked := lr.parked
					lr.parked = nil
					current := w.leases[lr.lease.Task.ID] == lr
					w.mu.Unlock()
					for _, j := range parked {
						if current {
							w.submit(lr, j)
						}
					}
				default:
					w.abandon(lr)
				}
			}
		}
		info := WorkerInfo{ID: w.cfg.ID, Host: w.host, PID: os.Getpid(), Concurrency: w.cfg.Concurrency, Platform: executors.Platform,
			Queues: w.cfg.Queues, Running: ids}
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
// cancels (signed cancellations only). go-redis resubscribes by itself after Redis comes back; messages sent
// meanwhile are lost, so the worker still polls (slowly) while idle.
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
				w.signal()
			}
			continue
		}
		id, ok := w.q.CancelledID(msg.Payload)
		if !ok {
			continue
		}
		w.cancel(id)
	}
}

// cancel stops a task, or all of a chunk's members, if this worker holds it.
func (w *Worker) cancel(id string) {
	w.mu.Lock()
	lr := w.leases[id] // a task or a whole chunk
	all := lr != nil
	if !all {
		lr = w.byTask[id]
	}
	if lr == nil {
		w.mu.Unlock()
		return
	}
	var stop []string
	var held []int // parked, or waiting for their binary: not in the pool
	for i, t := range lr.tasks {
		if (all || lr.ids[i] == id) && !lr.done[i] {
			if take(&lr.parked, i) || take(&lr.fetching, i) {
				held = append(held, i)
			} else {
				stop = append(stop, t.ID)
			}
		}
	}
	w.mu.Unlock()
	for _, id := range stop {
		w.pool.Cancel(id)
	}
	now := time.Now()
	for _, i := range held { // it ends here
		w.finish(lr, i, executors.Outcome{Cancelled: true, Start: now, End: now})
	}
}

// take removes i from list, and tells whether it was there.
func take(list *[]int, i int) bool {
	j := slices.Index(*list, i)
	if j >= 0 {
		*list = slices.Delete(*list, j, j+1)
	}
	return j >= 0
}
