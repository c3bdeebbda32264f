package results

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Manager batches writes into few transactions (group commit): each Save's callback runs once its data is
// durable. Thousands of node completions a second cost a handful of commits.
//
// A write that fails (a full disk, an I/O error, the database file removed) is a condition of the store, not
// of what was written: the Manager keeps the batch in memory, retries it with backoff, and reports the
// condition through Health until a commit succeeds. Save never waits for the disk or the object store: saves
// queue in memory while the writer commits, retries, or uploads a large value.
type Manager struct {
	*Store
	wake chan struct{} // a save is queued, or Close was called
	quit chan struct{} // closed by Close: stop retrying
	done chan struct{}
	log  *slog.Logger
	// commitSeconds times the writer's commits that succeed: their large values' uploads and the transaction.
	commitSeconds prometheus.Histogram

	qmu    sync.Mutex
	queue  []saveReq // saves the writer has not taken yet
	closed bool

	hmu      sync.Mutex
	fault    error     // why the store cannot write; nil when it can
	since    time.Time // when fault began
	held     int       // saves waiting in memory for a commit
	retrying bool      // the writer owns fault until its held batch is stored
}

type saveReq struct {
	batch Batch
	then  func(error)
}

// maxBatch bounds how many saves go into one transaction while the store writes.
const maxBatch = 4096

// The writer retries a failed commit after retryFirst, doubling up to retryMax; an idle writer checks the
// database file every checkEvery.
const (
	retryFirst = 100 * time.Millisecond
	retryMax   = 5 * time.Second
	checkEvery = 5 * time.Second
)

// NewManager starts the writer goroutine of s.
func NewManager(s *Store, log *slog.Logger) *Manager {
	m := &Manager{Store: s, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}), log: log,
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "govalent_store_commit_seconds",
			Help:    "Time to write one group commit of results (large values' uploads and the transaction), of those that succeeded.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5 ms to 16 s
		})}
	go m.loop()
	return m
}

// CommitLatency is the histogram of the store's commit times, for a metrics registry.
func (m *Manager) CommitLatency() prometheus.Collector { return m.commitSeconds }

// ErrClosed is what saving after Close gives.
var ErrClosed = errors.New("results: the store is closed")

// Save queues b, and returns at once; then is called (from the writer goroutine) with the outcome once b is
// written. The outcome is an error only when the store is closed before b could be written.
func (m *Manager) Save(b Batch, then func(error)) {
	m.qmu.Lock()
	if m.closed {
		m.qmu.Unlock()
		if then != nil {
			then(ErrClosed)
		}
		return
	}
	m.queue = append(m.queue, saveReq{b, then})
	m.qmu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// SaveSync writes b and waits until it is durable, or ctx is done (b is written all the same).
func (m *Manager) SaveSync(ctx context.Context, b Batch) error {
	ch := make(chan error, 1)
	m.Save(b, func(err error) { ch <- err })
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close flushes pending writes and stops the writer. Writes the store cannot take are dropped (after one more
// try): their nodes are RUNNING in the database and run again at the next start.
func (m *Manager) Close() error {
	m.qmu.Lock()
	m.closed = true
	m.qmu.Unlock()
	close(m.quit)
	<-m.done
	return m.Store.Close()
}

// Health is the store's condition, as /healthz and `govalent status` show it; nil means it writes.
type Health struct {
	Error string    `json:"error"`
	Since time.Time `json:"since"`
	Held  int       `json:"held_writes"` // saves kept in memory until the store can write them
}

// Health checks the database file (unless a failed write is being retried, which checks it each time) and
// reports the store's condition.
func (m *Manager) Health() *Health {
	since, held, fault := m.condition()
	if fault == nil {
		return nil
	}
	return &Health{Error: fault.Error(), Since: since, Held: held}
}

// Writable returns nil when the store takes new work, else an error wrapping ErrUnavailable that says why.
func (m *Manager) Writable() error {
	since, held, fault := m.condition()
	if fault == nil {
		return nil
	}
	return fmt.Errorf("%w (since %s; %d writes held in memory and retried until they are stored)", fault,
		since.Format(time.RFC3339), held)
}

// condition is Health's data: since when, the saves held, and the fault (wrapping ErrUnavailable).
func (m *Manager) condition() (since time.Time, held int, fault error) {
	m.hmu.Lock()
	defer m.hmu.Unlock()
	if !m.retrying {
		m.setFault(m.Check(), 0)
	}
	return m.since, m.held, m.fault
}

// setFault records the store's condition and logs its changes; hmu is held.
func (m *Manager) setFault(err error, held int) {
	switch {
	case err != nil && m.fault == nil:
		m.since = time.Now().UTC()
		m.log.Error("the result store cannot write: results are held in memory and written when it can; new dispatches are refused", "err", err)
	case err == nil && m.fault != nil:
		m.log.Info("the result store writes again", "after", time.Since(m.since).Round(time.Millisecond).String(), "held_writes", m.held)
	}
	m.fault, m.held = err, held
}

func (m *Manager) loop() {
	defer close(m.done)
	tick := time.NewTicker(checkEvery)
	defer tick.Stop()
	for {
		pending := m.take(nil, maxBatch)
		if len(pending) == 0 {
			select {
			case <-m.wake:
			case <-tick.C:
				m.Health()
			case <-m.quit:
				if m.queued() == 0 { // else they get their one try
					return
				}
			}
			continue
		}
		err := m.commit(pending)
		for delay := retryFirst; err != nil && !m.closing(); delay = min(2*delay, retryMax) {
			m.hmu.Lock()
			m.retrying = true
			m.setFault(err, len(pending)+m.queued())
			m.hmu.Unlock()
			m.wait(delay)
			// the saves made meanwhile join the held batch, however many: they are held in memory anyway
			pending = m.take(pending, math.MaxInt)
			err = m.commit(pending)
		}
		m.hmu.Lock()
		if m.retrying {
			m.retrying = false
			m.setFault(err, 0)
		}
		m.hmu.Unlock()
		if err != nil {
			m.log.Error("the store closed before these results could be written; their nodes run again at the next start", "err", err, "saves", len(pending))
		}
		for _, r := range pending {
			if r.then != nil {
				r.then(err)
			}
		}
	}
}

// take moves queued saves to pending, while it has fewer than limit.
func (m *Manager) take(pending []saveReq, limit int) []saveReq {
	m.qmu.Lock()
	defer m.qmu.Unlock()
	n := min(len(m.queue), max(limit-len(pending), 0))
	pending = append(pending, m.queue[:n]...)
	clear(m.queue[:n])
	m.queue = m.queue[n:]
	if len(m.queue) == 0 {
		m.queue = nil // let a large backlog's array go
	}
	return pending
}

// queued counts the saves the writer has not taken.
func (m *Manager) queued() int {
	m.qmu.Lock()
	defer m.qmu.Unlock()
	return len(m.queue)
}

// wait sleeps for d before a retry, or until Close.
func (m *Manager) wait(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-m.quit:
	}
}

func (m *Manager) closing() bool {
	select {
	case <-m.quit:
		return true
	default:
		return false
	}
}

// commit writes the saves in one transaction.
func (m *Manager) commit(pending []saveReq) error {
	var merged Batch
	for _, r := range pending {
		merged.Dispatches = append(merged.Dispatches, r.batch.Dispatches...)
		merged.Nodes = append(merged.Nodes, r.batch.Nodes...)
	}
	// Not cancelled by Close, which waits for the writes it flushes.
	start := time.Now()
	err := m.Commit(context.Background(), merged)
	if err == nil {
		m.commitSeconds.Observe(time.Since(start).Seconds())
	}
	return err
}
