package redisq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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

	mu         sync.Mutex
	waiting    map[string]waiter // task id -> who waits for its outcome, until its completion is read
	orphans    map[string]orphan // completions read before their task was submitted
	probes     map[string]*probe // electrons being timed before their tasks are chunked
	unsent     map[string]bool   // task ids in the outbox (a cancelled one is dropped from it when met)
	sending    map[string]bool   // task ids taken from the outbox and being queued
	toCancel   []string          // ids for cancelLoop to cancel in Redis
	cancelWake chan struct{}
	cancelLate []string            // cancelled while being queued: cancelled again once queued
	runs       executors.RunTimes  // how long each electron's tasks take, to decide what to chunk
	chunks     map[string][]string // chunk id -> its members' task ids, while it is in Redis
	chunkOf    map[string]string   // task id -> the chunk it went in
	caughtUp   chan struct{}       // closed once the completions already in Redis are read
	programs   map[string]bool     // program hashes already stored
	outbox     []*executors.Task   // submitted, not yet in Redis
	inRedis    int                 // sent and not yet completed
	wake       chan struct{}
	done       int64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewExecutor starts reading results and recovering expired leases.
func NewExecutor(name string, q *Queue, log *slog.Logger) *Executor {
	ctx, cancel := context.WithCancel(context.Background())
	e := &Executor{name: name, q: q, log: log, waiting: map[string]waiter{}, orphans: map[string]orphan{}, runs: executors.RunTimes{},
		probes: map[string]*probe{}, unsent: map[string]bool{}, sending: map[string]bool{}, cancelWake: make(chan struct{}, 1),
		chunks: map[string][]string{}, chunkOf: map[string]string{}, caughtUp: make(chan struct{}),
		programs: map[string]bool{}, wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel}
	e.wg.Add(4)
	go e.send()
	go e.cancelLoop()
	go e.readResults()
	go e.recoverLeases()
	return e
}

type waiter struct {
	task *executors.Task
	done func(executors.Outcome)
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
	e.waiting[t.ID] = waiter{t, done}
	e.outbox = append(e.outbox, t)
	e.unsent[t.ID] = true
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
		batch, waiting := e.takeSendable(min(maxInRedis-e.inRedis, enqueueChunk), time.Now())
		e.mu.Unlock()
		if len(batch) == 0 {
			idle := time.Second
			if waiting {
				idle = probeWait / 4
			}
			select {
			case <-e.ctx.Done():
				return
			case <-e.wake:
			case <-time.After(idle):
			}
			continue
		}
		e.mu.Lock()
		units, chunks := plan(e.runs, batch)
		for id, members := range chunks {
			e.chunks[id] = members
			for _, m := range members {
				e.chunkOf[m] = id
			}
		}
		e.mu.Unlock()
		for backoff := 50 * time.Millisecond; ; backoff = min(2*backoff, 2*time.Second) {
			err := e.enqueue(units)
			if err == nil {
				break
			}
			var bad *EncodeError
			if errors.As(err, &bad) { // fails alone; the rest is retried at once
				units = slices.DeleteFunc(units, func(t *executors.Task) bool { return t.ID == bad.TaskID })
				now := time.Now()
				e.deliver(bad.TaskID, executors.Outcome{Error: bad.Error(), Start: now, End: now})
				continue
			}
			e.log.Warn("queueing tasks in Redis failed; retrying", "tasks", len(batch), "err", err)
			select {
			case <-e.ctx.Done():
				return
			case <-time.After(backoff):
			}
		}
		e.mu.Lock()
		e.inRedis += len(batch)
		for _, t := range batch {
			delete(e.sending, t.ID)
		}
		late := e.cancelLate
		e.cancelLate = nil
		e.mu.Unlock()
		for _, id := range late {
			e.Cancel(id)
		}
	}
}

// Probing: the first tasks of an electron never seen before go alone, and the rest of them wait up to
// probeWait for one of those to finish: if it is quick, the rest travel in chunks.
const (
	probeTasks = 4
	probeWait  = 200 * time.Millisecond
)

type probe struct {
	start time.Time
	sent  int
}

// takeSendable takes up to limit tasks out of the outbox to be queued now, in order, holding back those
// waiting for a probe (waiting tells if any were). e.mu held.
func (e *Executor) takeSendable(limit int, now time.Time) (batch []*executors.Task, waiting bool) {
	if limit <= 0 || len(e.outbox) == 0 {
		return nil, false
	}
	keep := e.outbox[:0]
	for _, t := range e.outbox {
		switch {
		case !e.unsent[t.ID]: // cancelled: already done
		case len(batch) < limit && e.sendable(t, now):
			batch = append(batch, t)
			delete(e.unsent, t.ID)
			e.sending[t.ID] = true
		default:
			keep = append(keep, t)
			waiting = waiting || len(batch) < limit
		}
	}
	clear(e.outbox[len(keep):])
	e.outbox = keep
	return batch, waiting
}

func (e *Executor) sendable(t *executors.Task, now time.Time) bool {
	if t.Kind != "electron" || t.TimeLimit > 0 {
		return true // never chunked
	}
	if _, known := e.runs.Estimate(t); known {
		return true
	}
	k := executors.RunKey(t)
	p := e.probes[k]
	if p == nil {
		if len(e.probes) > 10_000 {
			clear(e.probes)
		}
		p = &probe{start: now}
		e.probes[k] = p
	}
	if p.sent < probeTasks || now.Sub(p.start) > probeWait {
		p.sent++
		return true
	}
	return false
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
		w, waited := e.waiting[id]
		if found && waited {
			delete(e.orphans, id)
			delete(e.waiting, id)
			e.inRedis-- // counted by send, but nothing of it is left in Redis
		}
		e.mu.Unlock()
		switch {
		case found && waited:
			go w.done(o.outcome)
		case waited:
			lost = append(lost, byID[id])
		}
	}
	return e.q.Rerun(e.ctx, lost...)
}

// Cancel implements executors.Executor: a task not yet sent is dropped, a queued one is done at once, a running
// one is stopped by its worker. A task in a chunk is done as cancelled at once; its worker is told to stop it
// if it runs, and the chunk is cancelled once none of its members is wanted. Cancel does not wait for Redis:
// the cancellations of a whole dispatch go there in a few batched calls.
func (e *Executor) Cancel(taskID string) {
	e.mu.Lock()
	if e.unsent[taskID] { // still in the outbox: the sender drops it
		delete(e.unsent, taskID)
		w := e.waiting[taskID]
		delete(e.waiting, taskID)
		e.mu.Unlock()
		now := time.Now()
		w.done(executors.Outcome{Cancelled: true, Start: now, End: now})
		return
	}
	if e.sending[taskID] {
		e.cancelLate = append(e.cancelLate, taskID)
		e.mu.Unlock()
		return
	}
	e.toCancel = append(e.toCancel, taskID) // a task, or a chunk member the worker is told about
	chunk, inChunk := e.chunkOf[taskID]
	w, waited := e.waiting[taskID]
	if inChunk {
		delete(e.chunkOf, taskID)
		if waited {
			delete(e.waiting, taskID)
			e.inRedis--
		}
		wanted := false
		for _, m := range e.chunks[chunk] {
			_, still := e.waiting[m]
			wanted = wanted || still
		}
		if !wanted {
			e.toCancel = append(e.toCancel, chunk)
		}
	}
	e.mu.Unlock()
	select {
	case e.cancelWake <- struct{}{}:
	default:
	}
	if inChunk && waited {
		now := time.Now()
		w.done(executors.Outcome{Cancelled: true, Start: now, End: now})
	}
}

// cancelLoop takes the cancellations to Redis in batches, retrying while Redis is unreachable.
func (e *Executor) cancelLoop() {
	defer e.wg.Done()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-e.cancelWake:
		}
		e.mu.Lock()
		ids := e.toCancel
		e.toCancel = nil
		e.mu.Unlock()
		for backoff := 50 * time.Millisecond; len(ids) > 0; backoff = min(2*backoff, 2*time.Second) {
			err := e.q.Cancel(e.ctx, ids...)
			if err == nil {
				break
			}
			e.log.Warn("cancelling tasks in Redis failed; retrying", "tasks", len(ids), "err", err)
			select {
			case <-e.ctx.Done():
				return
			case <-time.After(backoff):
			}
		}
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
			if isChunk(c.TaskID) {
				members := memberOutcomes(c.Outcome, func() []string {
					e.mu.Lock()
					defer e.mu.Unlock()
					return e.chunks[c.TaskID]
				})
				for _, m := range members {
					e.deliver(m.ID, m.Outcome)
				}
				e.mu.Lock()
				for _, m := range e.chunks[c.TaskID] {
					delete(e.chunkOf, m)
				}
				delete(e.chunks, c.TaskID)
				e.mu.Unlock()
			} else {
				e.deliver(c.TaskID, c.Outcome)
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

// deliver hands a task's outcome to whoever waits for it, or keeps it as an orphan.
func (e *Executor) deliver(taskID string, oc executors.Outcome) {
	e.mu.Lock()
	w, waited := e.waiting[taskID]
	if waited {
		delete(e.waiting, taskID)
		e.done++
		e.inRedis--
		e.runs.Observe(w.task, oc)
		if k := executors.RunKey(w.task); e.probes[k] != nil {
			if _, timed := e.runs.Estimate(w.task); timed {
				delete(e.probes, k)
			} else {
				e.probes[k].start = time.Time{} // failed or cancelled: no timing to wait for
			}
			select {
			case e.wake <- struct{}{}: // the tasks held back for this probe can go
			default:
			}
		}
	} else if len(e.orphans) < maxOrphans && !oc.Cancelled { // a cancellation is not for a later submission
		e.orphans[taskID] = orphan{oc, time.Now()}
	}
	e.mu.Unlock()
	if waited {
		w.done(oc)
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
