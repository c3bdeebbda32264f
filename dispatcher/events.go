package dispatcher

import (
	"sync"
	"time"

	"github.com/govalent/govalent/ct"
)

// Event is a status change, sent on the live event stream.
type Event struct {
	Type       string    `json:"type"` // "dispatch" or "node"
	DispatchID string    `json:"dispatch_id"`
	NodeID     *int      `json:"node_id,omitempty"`
	Name       string    `json:"name,omitempty"`
	Status     ct.Status `json:"status"`
	Time       time.Time `json:"time"`
}

// hub fans events out to subscribers. A subscriber too slow to keep up loses events rather than slowing the
// scheduler; it is told so by a "lagged" event and can re-read the state.
type hub struct {
	mu   sync.Mutex
	subs map[chan Event]eventFilter
}

// eventFilter selects what a subscriber gets; empty fields match everything. A subscriber that lost events
// gets a "lagged" event whatever its filter.
type eventFilter struct {
	dispatch string // one dispatch's events
	typ      string // "dispatch" or "node" events only
}

func (f eventFilter) match(ev Event) bool {
	return (f.dispatch == "" || f.dispatch == ev.DispatchID) && (f.typ == "" || f.typ == ev.Type)
}

func newHub() *hub { return &hub{subs: map[chan Event]eventFilter{}} }

func (h *hub) subscribe(f eventFilter) chan Event {
	ch := make(chan Event, 4096)
	h.mu.Lock()
	h.subs[ch] = f
	h.mu.Unlock()
	return ch
}

func (h *hub) unsubscribe(ch chan Event) {
	h.mu.Lock()
	delete(h.subs, ch)
	h.mu.Unlock()
}

func (h *hub) publish(ev Event) {
	ev.Time = time.Now().UTC()
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch, filter := range h.subs {
		if !filter.match(ev) {
			continue
		}
		// The last slot is kept for the "lagged" marker, so a subscriber that falls behind always learns it.
		// Only publish sends, under h.mu, so the buffer cannot fill between the check and the send.
		switch len(ch) {
		case cap(ch) - 1:
			ch <- Event{Type: "lagged", DispatchID: ev.DispatchID, Time: ev.Time}
		case cap(ch):
		default:
			ch <- ev
		}
	}
}
