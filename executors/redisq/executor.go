package redisq

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/govalent/govalent/executors"
	"github.com/redis/go-redis/v9"
)

// Executor is the dispatcher's side of the Redis pool: it queues tasks in Redis for `govalent worker --redis`
// processes on any machine, reads their outcomes from the results stream, and recovers the tasks of workers
// whose leases expired.
type Executor struct {
	name string
	q    *Queue
	log  *slog.Logger

	mu       sync.Mutex
	waiting  map[string]func(executors.Outcome) // task id -> done, until its completion is read
	orphans  map[string]orphan                  // completions read before their task was submitted
	caughtUp chan struct{}                      // closed once the completions already in Redis are read
	programs map[string]bool                    // program hashes already stored
	outbox   []*executors.Task                  // submitted, not yet in Redis
	inRedis  int                                // sent and not yet completed
	wake     chan struct{}
	done     int64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewExecutor starts reading results and recovering expired leases.
func NewExecutor(name string, q *Queue, log *slog.Logger) *Executor {
	ctx, cancel := context.WithCancel(context.Background())
	e := &Executor{name: name, q: q, log: log, waiting: map[string]func(executors.Outcome){}, orphans: map[string]orphan{},
		caughtUp: make(chan struct{}), programs: map[string]bool{}, wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel}
	e.wg.Add(3)
	go e.send()
	go e.readResults()
	go e.recoverLeases()
	return e
}

// orphan is a completion that no submitted task was waiting for: after a dispatcher restart, the outcome of a
// task that finished while it was down, which the resumed dispatch is about to submit again under the same id.
type orphan struct {
	outcome executors.Outcome
	read    time.Time
}

// maxOrphans bounds the completions kept for tasks not (yet) submitted.
const maxOrphans = 100_000

// Submit implements executors.Executor: tasks wait in memory until the sender goroutine queues them in Redis,
// in batches, keeping at most maxInRedis of them there (backpressure for very large workflows). A task whose
// completion has already been read (it finished while the dispatcher was restarting) is done at once.
func (e *Executor) Submit(t *executors.Task, done func(executors.Outcome)) {
	e.mu.Lock()
	if o, ok := e.orphans[t.ID]; ok {
		delete(e.orphans, t.ID)
		e.mu.Unlock()
		go done(o.outcome)
		return
	}
	e.waiting[t.ID] = done
	e.outbox = append(e.outbox, t)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// maxInRedis bounds the tasks queued or running in Redis for this dispatcher.
const maxInRedis = 20_000

// send queues waiting tasks in Redis, retrying while Redis is unreachable. It starts once the completions
// already in Redis have been read, so that a resumed task that finished meanwhile is not queued again.
func (e *Executor) send() {
	defer e.wg.Done()
	select {
	case <-e.caughtUp:
	case <-e.ctx.Done():
		return
	}
	for {
		e.mu.Lock()
		room := maxInRedis - e.inRedis
		n := min(len(e.outbox), room, enqueueChunk)
		batch := append([]*executors.Task(nil), e.outbox[:n]...)
		e.mu.Unlock()
		if n == 0 {
			select {
			case <-e.ctx.Done():
				return
			case <-e.wake:
			case <-time.After(time.Second):
			}
			continue
		}
		for backoff := 50 * time.Millisecond; ; backoff = min(2*backoff, 2*time.Second) {
			err := e.enqueue(batch)
			if err == nil {
				break
			}
			e.log.Warn("queueing tasks in Redis failed; retrying", "tasks", len(batch), "err", err)
			select {
			case <-e.ctx.Done():
				return
			case <-time.After(backoff):
			}
		}
		e.mu.Lock()
		e.outbox = e.outbox[n:]
		e.inRedis += n
		e.mu.Unlock()
	}
}

func (e *Executor) enqueue(batch []*executors.Task) error {
	for _, t := range batch {
		e.mu.Lock()
		known := e.programs[t.ProgramHash]
		e.mu.Unlock()
		if !known && t.Program != "" {
			if err := e.q.PutProgram(e.ctx, t.ProgramHash, t.Program); err != nil {
				return err
			}
			e.mu.Lock()
			e.programs[t.ProgramHash] = true
			e.mu.Unlock()
		}
	}
	doneIDs, err := e.q.Enqueue(e.ctx, batch...)
	if err != nil || len(doneIDs) == 0 {
		return err
	}
	// Done in Redis, yet submitted: either its completion was read (an orphan, delivered now) or it was read by
	// a dispatcher that died before storing it, and the task must run again.
	byID := make(map[string]*executors.Task, len(batch))
	for _, t := range batch {
		byID[t.ID] = t
	}
	var lost []*executors.Task
	for _, id := range doneIDs {
		e.mu.Lock()
		o, found := e.orphans[id]
		done := e.waiting[id]
		if found && done != nil {
			delete(e.orphans, id)
			delete(e.waiting, id)
			e.inRedis-- // counted by send, but nothing of it is left in Redis
		}
		e.mu.Unlock()
		switch {
		case found && done != nil:
			go done(o.outcome)
		case done != nil:
			lost = append(lost, byID[id])
		}
	}
	return e.q.Rerun(e.ctx, lost...)
}

// Cancel implements executors.Executor: a task not yet sent is dropped, a queued one is removed, a running one
// is stopped by its worker.
func (e *Executor) Cancel(taskID string) {
	e.mu.Lock()
	for i, t := range e.outbox {
		if t.ID == taskID {
			e.outbox = append(e.outbox[:i:i], e.outbox[i+1:]...)
			done := e.waiting[taskID]
			delete(e.waiting, taskID)
			e.mu.Unlock()
			now := time.Now()
			done(executors.Outcome{Cancelled: true, Start: now, End: now})
			return
		}
	}
	e.mu.Unlock()
	if err := e.q.Cancel(e.ctx, taskID); err != nil {
		e.log.Warn("cancelling a task in Redis failed", "task", taskID, "err", err)
	}
}

// Stats implements executors.Executor.
func (e *Executor) Stats() executors.Stats {
	st := executors.Stats{Name: e.name}
	ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second)
	defer cancel()
	if workers, err := e.q.Workers(ctx); err == nil {
		for _, w := range workers {
			st.Workers += w.Concurrency
			st.Busy += len(w.Running)
		}
	}
	if depths, _, err := e.q.Depths(ctx); err == nil {
		for _, d := range depths {
			st.Queued += int(d)
		}
	}
	e.mu.Lock()
	st.Done = e.done
	e.mu.Unlock()
	return st
}

// Close stops reading results; tasks in Redis stay there for the next dispatcher.
func (e *Executor) Close() error {
	e.cancel()
	e.wg.Wait()
	return nil
}

// readBatch is how many stream entries (each with one or more completions) one read takes.
const readBatch = 512

// readResults hands completions to the tasks waiting for them, then acknowledges them.
func (e *Executor) readResults() {
	defer e.wg.Done()
	after := "0"
	for e.ctx.Err() == nil {
		block := time.Second
		select {
		case <-e.caughtUp:
		default:
			block = 0 // catching up: don't wait for new ones
		}
		completions, next, err := e.q.Results(e.ctx, after, readBatch, block)
		if err != nil {
			if e.ctx.Err() == nil {
				e.log.Warn("reading results from Redis failed; retrying", "err", err)
				time.Sleep(200 * time.Millisecond)
			}
			continue
		}
		after = next
		var ids []string
		for _, c := range completions {
			e.mu.Lock()
			done := e.waiting[c.TaskID]
			delete(e.waiting, c.TaskID)
			if done != nil {
				e.done++
				e.inRedis--
			} else if len(e.orphans) < maxOrphans {
				e.orphans[c.TaskID] = orphan{c.Outcome, time.Now()}
			}
			e.mu.Unlock()
			if done != nil {
				done(c.Outcome)
			}
			if len(ids) == 0 || ids[len(ids)-1] != c.StreamID {
				ids = append(ids, c.StreamID)
			}
		}
		if len(ids) < readBatch { // read all there was
			select {
			case <-e.caughtUp:
			default:
				close(e.caughtUp)
			}
		}
		if len(ids) > 0 {
			if err := e.q.Ack(e.ctx, ids...); err != nil {
				e.log.Warn("acknowledging results failed", "err", err)
			}
		}
	}
}

// recoverLeases requeues the tasks of workers that stopped extending their leases (killed, paused, cut off).
func (e *Executor) recoverLeases() {
	defer e.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-tick.C:
			e.forgetOrphans(time.Now().Add(-e.q.Options().ResultRetention))
			if n, err := e.q.Recover(e.ctx); err != nil {
				e.log.Warn("recovering expired leases failed", "err", err)
			} else if n > 0 {
				e.log.Info("requeued tasks whose lease expired", "count", n)
			}
		}
	}
}

// forgetOrphans drops unclaimed completions read before cutoff: their dispatch is gone or was not resumed.
func (e *Executor) forgetOrphans(cutoff time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, o := range e.orphans {
		if o.read.Before(cutoff) {
			delete(e.orphans, id)
		}
	}
}

var _ executors.Executor = (*Executor)(nil)

// Dial connects to Redis at url (redis://[user:password@]host:port/db) with retries that ride out a restart.
func Dial(url string, opts Options) (*Queue, error) {
	ro, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis URL %q: %w", url, err)
	}
	ro.MaxRetries = 5
	rdb := redis.NewClient(ro)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("no Redis answers at %s: %w", url, err)
	}
	return New(rdb, opts), nil
}

// Workers implements executors.Pool.
func (e *Executor) Workers(ctx context.Context) ([]executors.WorkerInfo, error) {
	return e.q.Workers(ctx)
}

// Depths implements executors.Pool.
func (e *Executor) Depths(ctx context.Context) (map[string]int64, int64, error) {
	return e.q.Depths(ctx)
}

var _ executors.Pool = (*Executor)(nil)
