package results

import (
	"errors"
	"log/slog"
	"sync"
)

// Manager batches writes into few transactions (group commit): each Save's callback runs once its data is
// durable. Thousands of node completions a second cost a handful of commits.
type Manager struct {
	*Store
	reqs chan saveReq
	done chan struct{}
	log  *slog.Logger

	mu     sync.RWMutex // Close waits for Saves in progress
	closed bool
}

type saveReq struct {
	batch Batch
	then  func(error)
}

// maxBatch bounds how many saves go into one transaction.
const maxBatch = 4096

// NewManager starts the writer goroutine of s.
func NewManager(s *Store, log *slog.Logger) *Manager {
	m := &Manager{Store: s, reqs: make(chan saveReq, maxBatch), done: make(chan struct{}), log: log}
	go m.loop()
	return m
}

// ErrClosed is what saving after Close gives.
var ErrClosed = errors.New("results: the store is closed")

// Save writes b and then calls then (from the writer goroutine) with the outcome.
func (m *Manager) Save(b Batch, then func(error)) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		if then != nil {
			then(ErrClosed)
		}
		return
	}
	m.reqs <- saveReq{b, then}
}

// SaveSync writes b and waits until it is durable.
func (m *Manager) SaveSync(b Batch) error {
	ch := make(chan error, 1)
	m.Save(b, func(err error) { ch <- err })
	return <-ch
}

// Close flushes pending writes and stops the writer.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	close(m.reqs)
	<-m.done
	return m.Store.Close()
}

func (m *Manager) loop() {
	defer close(m.done)
	for first := range m.reqs {
		pending := []saveReq{first}
		merged := first.batch
	drain:
		for len(pending) < maxBatch {
			select {
			case r, ok := <-m.reqs:
				if !ok {
					break drain
				}
				pending = append(pending, r)
				merged.Dispatches = append(merged.Dispatches, r.batch.Dispatches...)
				merged.Nodes = append(merged.Nodes, r.batch.Nodes...)
			default:
				break drain
			}
		}
		err := m.Commit(merged)
		if err != nil {
			m.log.Error("storing results failed", "err", err, "saves", len(pending))
		}
		for _, r := range pending {
			if r.then != nil {
				r.then(err)
			}
		}
	}
}
