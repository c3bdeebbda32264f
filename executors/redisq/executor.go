package redisq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/internal/credential"
	"github.com/redis/go-redis/v9"
)

// Pool is the dispatcher's side of the Redis pool: it queues tasks in Redis for `govalent worker --redis`
// processes on any machine, reads their outcomes from the results stream, and recovers the tasks of workers
// whose leases expired.
//
// A task submitted again after a dispatcher restart (same id) is first looked for in Redis (Locate): queued or
// running, alone or inside a chunk, it is waited for where it is; done, with its completion still to be read,
// it waits for that completion; only a task whose completion was read and lost runs again. What the executor has
// in Redis is checked against Redis every reconcileEvery and whenever Redis lost its data (Queue.Epoch): what
// Redis no longer holds is queued again.
type Pool struct {
	name      string
	q         *Queue
	log       *slog.Logger
	recovered atomic.Int64 // tasks requeued because their lease expired

	mu         sync.Mutex
	waiting    map[string]waiter // task id -> who waits for its outcome, until its completion is read
	orphans    map[string]orphan // completions read before their task was submitted
	probes     map[string]*probe // electrons being timed before their tasks are chunked
	unsent     map[string]bool   // task ids in the outbox (a cancelled one is dropped from it when met)
	sending    map[string]bool   // task ids taken from the outbox and being queued
	sent       map[string]bool   // task ids in Redis (queued, running, or done with the completion unread)
	toCancel   []string          // ids for cancelLoop to cancel in Redis
	cancelWake chan struct{}
	cancelLate []string            // cancelled while being queued: cancelled again once queued
	runs       executors.RunTimes  // how long each electron's tasks take, to decide what to chunk
	chunks     map[string][]string // chunk id -> its members' task ids, while it is in Redis
	chunkOf    map[string]string   // task id -> the chunk it went in
	caughtUp   chan struct{}       // closed once the completions already in Redis are read
	cursor     string              // the last stream entry whose completions have been handed out
	acks       []readEntry         // stream entries read, to be acknowledged once ackDelay has passed
	programs   map[string]bool     // program hashes already stored
	outbox     []*executors.Task   // submitted, not yet in Redis
	wake       chan struct{}
	done       int64
	// binaries are the native binaries met so far, by hash: stored in Redis (true), or not storable (false: not
	// readable here, or refused by Redis; their tasks run interpreted).
	binaries map[string]bool
	// platforms are those of the live workers, as their heartbeats said when watch last looked.
	platforms atomic.Pointer[[]string]

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type readEntry struct {
	id   string
	read time.Time
}

// ackDelay is how long a completion stays on the stream after it was read: a dispatcher killed before it stored
// an outcome finds the completion again when it restarts, instead of running the task again.
const ackDelay = 10 * time.Second

// reconcileEvery is how often the tasks in Redis are checked against what Redis holds.
const reconcileEvery = 10 * time.Second

// NewPool starts reading results and recovering expired leases.
func NewPool(name string, q *Queue, log *slog.Logger) *Pool {
	ctx, cancel := context.WithCancel(context.Background())
	e := &Pool{name: name, q: q, log: log, waiting: map[string]waiter{}, orphans: map[string]orphan{}, runs: executors.RunTimes{},
		probes: map[string]*probe{}, unsent: map[string]bool{}, sending: map[string]bool{}, sent: map[string]bool{}, cancelWake: make(chan struct{}, 1),
		chunks: map[string][]string{}, chunkOf: map[string]string{}, caughtUp: make(chan struct{}), cursor: "0",
		programs: map[string]bool{}, binaries: map[string]bool{}, wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel}
	e.wg.Add(4)
	go e.send()
	go e.cancelLoop()
	go e.readResults()
	go e.watch()
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
func (e *Pool) Submit(t *executors.Task, done func(executors.Outcome)) {
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
	e.wakeSender()
}

func (e *Pool) wakeSender() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// maxInRedis bounds the tasks queued or running in Redis for this dispatcher.
const maxInRedis = 20_000

// send queues waiting tasks in Redis, retrying while Redis is unreachable. It starts once the completions
// already in Redis have been read, so that a resumed task that finished meanwhile is not queued again.
func (e *Pool) send() {
	defer e.wg.Done()
	select {
	case <-e.caughtUp:
	case <-e.ctx.Done():
		return
	}
	for {
		e.mu.Lock()
		batch, waiting := e.takeSendable(min(maxInRedis-len(e.sent), enqueueChunk), time.Now())
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
		if !e.retry("queueing tasks in Redis", len(batch), func() error { return e.sendBatch(batch) }) {
			return
		}
		e.mu.Lock()
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

// retry runs f until it succeeds, backing off while Redis fails; false if the executor closed meanwhile.
func (e *Pool) retry(what string, n int, f func() error) bool {
	for backoff := 50 * time.Millisecond; ; backoff = min(2*backoff, 2*time.Second) {
		err := f()
		if err == nil {
			return true
		}
		e.log.Warn(what+" failed; retrying", "tasks", n, "err", err)
		select {
		case <-e.ctx.Done():
			return false
		case <-time.After(backoff):
		}
	}
}

// sendBatch puts batch where it belongs: a task Redis already holds (submitted again after a restart) is waited
// for where it is; one whose completion was read and lost runs again; the rest is queued, quick ones in chunks.
// It may be called again for the same batch after an error.
func (e *Pool) sendBatch(batch []*executors.Task) error {
	batch, err := e.storeBinaries(batch)
	if err != nil {
		return err
	}
	ids := make([]string, len(batch))
	for i, t := range batch {
		ids[i] = t.ID
	}
	places, err := e.q.Locate(e.ctx, ids)
	if err != nil {
		return err
	}
	var fresh, rerun []*executors.Task
	var found []Completion
	e.mu.Lock()
	for i, t := range batch {
		if _, wanted := e.waiting[t.ID]; !wanted || e.sent[t.ID] {
			continue // delivered or cancelled meanwhile, or placed by an earlier try
		}
		pl := places[i]
		switch {
		case pl.State == "" || pl.State == "refused":
			if pl.State == "refused" {
				e.log.Warn("a worker refused a task as unsigned; queueing it again (do all workers have this dispatcher's key?)", "task", t.ID)
			}
			fresh = append(fresh, t)
		case pl.State == "done" && !(pl.InStream && streamAfter(pl.StreamID, e.cursor)):
			if o, ok := e.orphans[t.ID]; ok {
				delete(e.orphans, t.ID)
				found = append(found, Completion{TaskID: t.ID, Outcome: o.outcome})
			} else {
				rerun = append(rerun, t) // its completion was read, and never stored
			}
		default: // queued, running, or done with its completion still to be read
			e.adopt(t.ID, pl.Chunk)
		}
	}
	e.mu.Unlock()
	for _, c := range found {
		e.deliver(c.TaskID, c.Outcome)
	}
	if len(rerun) > 0 {
		e.log.Info("running tasks again whose completion was read but not stored", "tasks", len(rerun))
		if err := e.put(rerun, func() error { return e.q.Rerun(e.ctx, rerun...) }); err != nil {
			return err
		}
		e.mu.Lock()
		for _, t := range rerun {
			e.adopt(t.ID, "")
		}
		e.mu.Unlock()
	}
	if len(fresh) == 0 {
		return nil
	}
	e.mu.Lock()
	units, chunks := plan(e.runs, fresh)
	e.mu.Unlock()
	for {
		var again []*executors.Task
		err := e.put(units, func() error {
			done, err := e.q.Enqueue(e.ctx, units...)
			if err == nil && len(done) > 0 {
				// Done since Locate looked: back to the outbox, to be placed again.
				for _, u := range units {
					if slices.Contains(done, u.ID) {
						again = append(again, u)
					}
				}
			}
			return err
		})
		var bad *EncodeError
		if errors.As(err, &bad) { // fails alone; the rest is retried at once
			units = slices.DeleteFunc(units, func(t *executors.Task) bool { return t.ID == bad.TaskID })
			now := time.Now()
			e.deliver(bad.TaskID, executors.Outcome{Error: bad.Error(), Start: now, End: now})
			continue
		}
		if err != nil {
			return err
		}
		e.mu.Lock()
		for _, u := range units {
			if members, ok := chunks[u.ID]; ok {
				for _, m := range members {
					e.adopt(m, u.ID)
				}
			} else if !slices.Contains(again, u) {
				e.adopt(u.ID, "")
			}
		}
		for _, t := range again {
			e.unsent[t.ID] = true
			e.outbox = append(e.outbox, t)
		}
		e.mu.Unlock()
		return nil
	}
}

// adopt records that task id is in Redis (in chunk, if not ""), if it is still waited for. e.mu held.
func (e *Pool) adopt(id, chunk string) {
	if _, wanted := e.waiting[id]; !wanted {
		return
	}
	e.sent[id] = true
	if chunk != "" && e.chunkOf[id] != chunk {
		e.chunkOf[id] = chunk
		e.chunks[chunk] = append(e.chunks[chunk], id)
	}
}

// put stores the programs and native binaries of tasks not yet stored, then runs queue; a program or binary
// Redis lost is stored again.
func (e *Pool) put(tasks []*executors.Task, queue func() error) error {
	for {
		for _, t := range tasks {
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
		if _, err := e.storeBinaries(tasks); err != nil {
			return err
		}
		err := queue()
		var lostBinary *MissingBinaryError
		switch {
		case errors.Is(err, ErrNoProgram):
			e.log.Warn("Redis lost a stored program; storing it again", "err", err)
			e.mu.Lock()
			clear(e.programs)
			e.mu.Unlock()
		case errors.As(err, &lostBinary):
			e.mu.Lock()
			stored := e.binaries[lostBinary.Hash]
			e.forgetStoredBinaries()
			e.mu.Unlock()
			if !stored {
				// It could not be stored again since these tasks were planned: sendBatch plans them again without it.
				return err
			}
			e.log.Warn("Redis lost a stored native binary; storing it again", "err", err)
		default:
			return err
		}
	}
}

// storeBinaries stores the native binaries of tasks that Redis does not hold yet, once each: Enqueue then keeps
// them from expiring, and tells when Redis lost one. It returns tasks, except that a task whose binary cannot
// be stored (not readable here, or refused by Redis: out of memory) is replaced by a copy without it, which
// runs interpreted.
func (e *Pool) storeBinaries(tasks []*executors.Task) ([]*executors.Task, error) {
	out := tasks
	for i, t := range tasks {
		var drop []string
		for platform, bin := range t.Binaries {
			stored, err := e.storeBinary(platform, bin)
			if err != nil {
				return tasks, err
			}
			if !stored {
				drop = append(drop, platform)
			}
		}
		if len(drop) == 0 {
			continue
		}
		c := *t
		c.Binaries = maps.Clone(t.Binaries) // the dispatcher shares the map among a dispatch's tasks
		for _, platform := range drop {
			delete(c.Binaries, platform)
		}
		if &out[0] == &tasks[0] {
			out = slices.Clone(tasks)
		}
		out[i] = &c
	}
	return out, nil
}

// storeBinary stores a binary unless it did so already, and tells whether Redis has it; an error is Redis's.
func (e *Pool) storeBinary(platform string, bin executors.Binary) (stored bool, err error) {
	e.mu.Lock()
	stored, known := e.binaries[bin.Hash]
	e.mu.Unlock()
	if known {
		return stored, nil
	}
	start := time.Now()
	err = e.q.PutBinary(e.ctx, bin.Hash, bin.Path)
	var fileErr *BinaryFileError
	switch {
	case errors.As(err, &fileErr) || binaryRefused(err):
		e.log.Error("a native binary cannot be sent to the Redis workers: its electrons run interpreted there", "platform", platform, "err", err)
	case err != nil:
		return false, err
	default:
		stored = true
		e.log.Info("stored a native binary in Redis for the workers", "platform", platform, "hash", bin.Hash, "took", time.Since(start).Round(time.Millisecond))
	}
	e.mu.Lock()
	e.binaries[bin.Hash] = stored
	e.mu.Unlock()
	return stored, nil
}

// forgetStoredBinaries makes the binaries stored so far be stored again when next used (Redis lost them); those
// that could not be stored stay known as such. e.mu held.
func (e *Pool) forgetStoredBinaries() {
	maps.DeleteFunc(e.binaries, func(_ string, stored bool) bool { return stored })
}

// NativePlatforms implements executors.NativeRunner: the platforms of the live workers, as their heartbeats said
// when watch last looked (every second), so that it never waits for Redis. With no live worker it names the
// dispatcher's own platform: workers usually run on the same one, and one that starts later on another runs
// the dispatch's electrons interpreted.
func (e *Pool) NativePlatforms() []string {
	if p := e.platforms.Load(); p != nil && len(*p) > 0 {
		return slices.Clone(*p)
	}
	return []string{executors.Platform}
}

// refreshPlatforms reads the platforms of the live workers; while Redis does not answer, the last ones stand.
func (e *Pool) refreshPlatforms() {
	ctx, cancel := context.WithTimeout(e.ctx, time.Second)
	defer cancel()
	if platforms, err := e.q.Platforms(ctx); err == nil {
		e.platforms.Store(&platforms)
	}
}

// streamAfter tells whether stream id a comes after b ("ms-seq" ids).
func streamAfter(a, b string) bool {
	am, as := splitStreamID(a)
	bm, bs := splitStreamID(b)
	return am > bm || am == bm && as > bs
}

func splitStreamID(id string) (uint64, uint64) {
	ms, seq, _ := strings.Cut(id, "-")
	m, _ := strconv.ParseUint(ms, 10, 64)
	s, _ := strconv.ParseUint(seq, 10, 64)
	return m, s
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
func (e *Pool) takeSendable(limit int, now time.Time) (batch []*executors.Task, waiting bool) {
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

func (e *Pool) sendable(t *executors.Task, now time.Time) bool {
	if t.Kind != executors.KindElectron || t.TimeLimit > 0 {
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

// Cancel implements executors.Executor: a task not yet sent is dropped, a queued one is done at once, a running
// one is stopped by its worker. A task in a chunk is done as cancelled at once; its worker is told to stop it
// if it runs, and the chunk is cancelled once none of its members is wanted. Cancel does not wait for Redis:
// the cancellations of a whole dispatch go there in a few batched calls.
func (e *Pool) Cancel(taskID string) {
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
			delete(e.sent, taskID)
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
func (e *Pool) cancelLoop() {
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
func (e *Pool) Stats() executors.Stats {
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
	st.Recovered = e.recovered.Load()
	return st
}

// Close stops reading results; tasks in Redis stay there for the next dispatcher.
func (e *Pool) Close() error {
	e.cancel()
	e.wg.Wait()
	return nil
}

// readBatch is how many stream entries (each with one or more completions) one read takes.
const readBatch = 512

// readResults hands completions to the tasks waiting for them; they are acknowledged ackDelay later.
func (e *Pool) readResults() {
	defer e.wg.Done()
	for e.ctx.Err() == nil {
		block := time.Second
		select {
		case <-e.caughtUp:
		default:
			block = 0 // catching up: don't wait for new ones
		}
		e.mu.Lock()
		after := e.cursor
		e.mu.Unlock()
		completions, next, err := e.q.Results(e.ctx, after, readBatch, block)
		if err != nil {
			if e.ctx.Err() == nil {
				e.log.Warn("reading results from Redis failed; retrying", "err", err)
				time.Sleep(200 * time.Millisecond)
			}
			continue
		}
		entries := 0
		for i, c := range completions {
			if isChunk(c.TaskID) {
				e.deliverChunk(c)
			} else {
				e.deliver(c.TaskID, c.Outcome)
			}
			if i == 0 || completions[i-1].StreamID != c.StreamID {
				entries++
			}
		}
		now := time.Now()
		e.mu.Lock()
		if e.cursor == after { // else Redis lost its data meanwhile and watch reset the cursor
			e.cursor = next
		}
		for _, c := range completions {
			if n := len(e.acks); n == 0 || e.acks[n-1].id != c.StreamID {
				e.acks = append(e.acks, readEntry{c.StreamID, now})
			}
		}
		e.mu.Unlock()
		if next == after || entries < readBatch && len(completions) == 0 { // read all there was
			select {
			case <-e.caughtUp:
			default:
				close(e.caughtUp)
			}
		}
	}
}

// deliverChunk hands out the outcomes of a chunk's members. Only the chunk's own members get one: a signed
// outcome still cannot complete a task that was not in the chunk (when the chunk is known here).
func (e *Pool) deliverChunk(c Completion) {
	e.mu.Lock()
	known := e.chunks[c.TaskID]
	e.mu.Unlock()
	for _, m := range memberOutcomes(c.Outcome, known) {
		if known != nil && !slices.Contains(known, m.ID) {
			e.log.Warn("dropped the outcome of a task that was not in its chunk", "chunk", c.TaskID, "task", m.ID)
			continue
		}
		e.deliver(m.ID, m.Outcome)
	}
	e.mu.Lock()
	for _, m := range e.chunks[c.TaskID] {
		if e.chunkOf[m] == c.TaskID {
			delete(e.chunkOf, m)
		}
	}
	delete(e.chunks, c.TaskID)
	e.mu.Unlock()
}

// watch, every second: requeues the tasks of workers that stopped extending their leases (killed, paused, cut
// off), acknowledges completions read ackDelay ago, and checks that Redis still holds what this executor has
// there (at once if Redis lost its data, else every reconcileEvery).
func (e *Pool) watch() {
	defer e.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	e.refreshPlatforms()
	epoch, _ := e.q.Epoch(e.ctx) // "" if Redis is down now: the first answer then counts as a change
	lastCheck := time.Now()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-tick.C:
		}
		e.refreshPlatforms()
		e.forgetOrphans(time.Now().Add(-e.q.Options().ResultRetention))
		if n, err := e.q.Recover(e.ctx); err != nil {
			e.log.Warn("recovering expired leases failed", "err", err)
			continue
		} else if n > 0 {
			e.recovered.Add(int64(n))
			e.log.Info("requeued tasks whose lease expired", "count", n)
		}
		e.ackRead(time.Now().Add(-ackDelay))
		now, err := e.q.Epoch(e.ctx)
		if err != nil {
			continue
		}
		lost := now != epoch
		if !lost && time.Since(lastCheck) < reconcileEvery {
			continue
		}
		if lost {
			e.log.Warn("Redis lost its data (restarted without persistence, or flushed): queueing again what this dispatcher had there")
			e.mu.Lock()
			e.cursor = "0" // a new stream
			e.acks = nil
			clear(e.programs)
			e.forgetStoredBinaries()
			e.mu.Unlock()
		}
		if err := e.reconcile(); err != nil {
			e.log.Warn("checking the tasks in Redis failed", "err", err)
			continue
		}
		epoch, lastCheck = now, time.Now()
	}
}

// ackRead acknowledges the completions read before cutoff.
func (e *Pool) ackRead(cutoff time.Time) {
	e.mu.Lock()
	n := 0
	for n < len(e.acks) && e.acks[n].read.Before(cutoff) {
		n++
	}
	ids := make([]string, n)
	for i, a := range e.acks[:n] {
		ids[i] = a.id
	}
	e.mu.Unlock()
	if n == 0 {
		return
	}
	if err := e.q.Ack(e.ctx, ids...); err != nil {
		e.log.Warn("acknowledging results failed", "err", err)
		return
	}
	e.mu.Lock()
	if len(e.acks) >= n && len(e.acks) > 0 && e.acks[n-1].id == ids[n-1] { // not reset meanwhile
		e.acks = slices.Delete(e.acks, 0, n)
	}
	e.mu.Unlock()
}

// reconcile checks the tasks this executor has in Redis against what Redis holds: a task Redis no longer holds
// (lost with its data, refused by a worker) or whose completion was read without reaching it (refused as
// unsigned) goes back to the outbox, where sendBatch places it again.
func (e *Pool) reconcile() error {
	e.mu.Lock()
	ids := make([]string, 0, len(e.sent))
	for id := range e.sent {
		ids = append(ids, id)
	}
	e.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	places, err := e.q.Locate(e.ctx, ids)
	if err != nil {
		return err
	}
	var lost []string
	e.mu.Lock()
	for i, id := range ids {
		w, wanted := e.waiting[id]
		if !wanted || !e.sent[id] {
			continue // its completion came meanwhile
		}
		pl := places[i]
		switch {
		case pl.State == "queued" || pl.State == "leased":
			continue
		case pl.State == "done" && pl.InStream && streamAfter(pl.StreamID, e.cursor):
			continue
		}
		lost = append(lost, id)
		delete(e.sent, id)
		if c, ok := e.chunkOf[id]; ok {
			delete(e.chunkOf, id)
			e.chunks[c] = slices.DeleteFunc(e.chunks[c], func(m string) bool { return m == id })
			if len(e.chunks[c]) == 0 {
				delete(e.chunks, c)
			}
		}
		e.unsent[id] = true
		e.outbox = append(e.outbox, w.task)
	}
	e.mu.Unlock()
	if len(lost) > 0 {
		e.log.Warn("Redis no longer holds tasks this dispatcher queued there, or their outcome never arrived; queueing them again",
			"tasks", len(lost), "first", lost[0])
		e.wakeSender()
	}
	return nil
}

// deliver hands a task's outcome to whoever waits for it, or keeps it as an orphan.
func (e *Pool) deliver(taskID string, oc executors.Outcome) {
	e.mu.Lock()
	w, waited := e.waiting[taskID]
	if waited {
		delete(e.waiting, taskID)
		delete(e.sent, taskID)
		e.done++
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
func (e *Pool) forgetOrphans(cutoff time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, o := range e.orphans {
		if o.read.Before(cutoff) {
			delete(e.orphans, id)
		}
	}
}

var (
	_ executors.Executor     = (*Pool)(nil)
	_ executors.NativeRunner = (*Pool)(nil)
)

// Dial connects to Redis at url (redis://[user:password@]host:port/db, or rediss:// for TLS) with retries that
// ride out a restart. Errors never show the URL's password.
func Dial(url string, opts Options) (*Queue, error) {
	ro, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis URL %s: %s", credential.RedactURL(url), strings.ReplaceAll(err.Error(), url, credential.RedactURL(url)))
	}
	ro.MaxRetries = 5
	rdb := redis.NewClient(ro)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("no Redis answers at %s: %w", credential.RedactURL(url), err)
	}
	q, err := New(rdb, opts)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	return q, nil
}

// Workers implements executors.RemoteWorkers.
func (e *Pool) Workers(ctx context.Context) ([]executors.WorkerInfo, error) {
	return e.q.Workers(ctx)
}

// Depths implements executors.RemoteWorkers.
func (e *Pool) Depths(ctx context.Context) (map[string]int64, int64, error) {
	return e.q.Depths(ctx)
}

var _ executors.RemoteWorkers = (*Pool)(nil)
