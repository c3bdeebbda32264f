package dispatcher

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	json "github.com/goccy/go-json"
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

const (
	// DefaultMaxEventSubscribers caps the open event streams when Config.MaxEventSubscribers is 0.
	DefaultMaxEventSubscribers = 1000
	// eventRing is how many events a topic keeps for its subscribers: how far one may fall behind before it
	// is dropped as lagged.
	eventRing = 4096
	// eventBatch is how many frames a subscriber takes (and writes with one writev) at a time; it bounds how
	// long a subscriber holds the hub's lock.
	eventBatch = 256
	// eventCoalesce is the least time between two writes to a subscriber, so a burst costs each subscriber a
	// few writes rather than one per event.
	eventCoalesce = 5 * time.Millisecond
	// eventWriteTimeout is how long one write to a subscriber may take: a client that stops reading is
	// dropped after it, and releases its goroutine and connection.
	eventWriteTimeout = 10 * time.Second
	// eventSendBuffer is the kernel send buffer of an event stream. Linux would grow it to 4 MiB for a client
	// that never reads, and fill it; events are small, and a reader this far behind is dropped anyway.
	eventSendBuffer = 32 << 10
	eventPing       = 15 * time.Second
)

var errHubClosed = errors.New("the dispatcher is shutting down")

// hub fans events out to event-stream subscribers and never waits for one. Each event is encoded once, to
// its SSE frame, and appended to the bounded ring of every topic it belongs to; a topic is one filter
// (dispatch × type) that has subscribers, so publishing costs at most four map lookups whatever the number of
// subscribers. Each subscriber reads its topic's ring at its own pace; one that falls more than the ring
// behind has lost events: it is sent a "lagged" event and disconnected, and re-reads the state when it
// reconnects.
type hub struct {
	mu     sync.Mutex
	topics map[eventFilter]*topic
	subs   int // subscribers, at most max
	closed bool
	done   chan struct{} // closed by close

	max          int           // subscribers allowed at once
	ring         int           // frames a topic keeps
	writeTimeout time.Duration // a write to a subscriber that takes longer drops it
}

// eventFilter selects what a subscriber gets; empty fields match everything.
type eventFilter struct {
	dispatch string // one dispatch's events
	typ      string // "dispatch" or "node" events only
}

// topic is the ring of frames for one filter. Frame number s is at frames[s%ring]; the ring holds frames
// next-len(frames) to next-1.
type topic struct {
	frames [][]byte
	next   uint64
	subs   int
	wake   chan struct{} // closed at the next frame; nil when nobody waits
}

type subscriber struct {
	h    *hub
	f    eventFilter
	t    *topic
	next uint64 // the next frame this subscriber reads
}

func newHub() *hub {
	return &hub{topics: map[eventFilter]*topic{}, done: make(chan struct{}), max: DefaultMaxEventSubscribers,
		ring: eventRing, writeTimeout: eventWriteTimeout}
}

// errTooManySubscribers is returned by subscribe when max subscribers are connected.
type errTooManySubscribers int

func (e errTooManySubscribers) Error() string {
	return fmt.Sprintf("too many event-stream subscribers (the limit is %d): close other streams or raise max_event_subscribers", int(e))
}

func (h *hub) subscribe(f eventFilter) (*subscriber, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errHubClosed
	}
	if h.subs >= h.max {
		return nil, errTooManySubscribers(h.max)
	}
	t := h.topics[f]
	if t == nil {
		t = &topic{}
		h.topics[f] = t
	}
	t.subs++
	h.subs++
	return &subscriber{h: h, f: f, t: t, next: t.next}, nil
}

func (s *subscriber) close() {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs--
	if s.t.subs--; s.t.subs == 0 {
		delete(h.topics, s.f)
	}
}

// subscribers is how many event streams are open.
func (h *hub) subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.subs
}

// close ends every event stream, for shutdown: streams are hijacked connections, which http.Server neither
// tracks nor closes.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
}

func (h *hub) publish(ev Event) {
	ev.Time = time.Now().UTC()
	h.mu.Lock()
	defer h.mu.Unlock()
	keys := [...]eventFilter{{}, {typ: ev.Type}, {dispatch: ev.DispatchID}, {dispatch: ev.DispatchID, typ: ev.Type}}
	n := len(keys)
	if ev.DispatchID == "" {
		n = 2 // the others would be the same topics again
	}
	var frame []byte
	for _, f := range keys[:n] {
		t := h.topics[f]
		if t == nil {
			continue
		}
		if frame == nil {
			frame = encodeFrame(ev)
		}
		t.add(frame, h.ring)
	}
}

func encodeFrame(ev Event) []byte {
	data, err := json.Marshal(ev)
	if err != nil { // an Event always encodes
		panic(err)
	}
	return fmt.Appendf(make([]byte, 0, len(data)+len(ev.Type)+17), "event: %s\ndata: %s\n\n", ev.Type, data)
}

func (t *topic) add(frame []byte, ring int) {
	if len(t.frames) < ring {
		t.frames = append(t.frames, frame)
	} else {
		t.frames[t.next%uint64(ring)] = frame
	}
	t.next++
	if t.wake != nil {
		close(t.wake)
		t.wake = nil
	}
}

// ready returns a channel that is closed once the subscriber has frames to read.
func (s *subscriber) ready() <-chan struct{} {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	if s.next < s.t.next {
		return closedChan
	}
	if s.t.wake == nil {
		s.t.wake = make(chan struct{})
	}
	return s.t.wake
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// take appends to buf, up to its capacity, the frames the subscriber has not read; lagged reports that some
// were dropped from the ring before it read them.
func (s *subscriber) take(buf [][]byte) (frames [][]byte, lagged bool) {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	t := s.t
	if s.next < t.next-uint64(len(t.frames)) {
		return buf, true
	}
	for ; s.next < t.next && len(buf) < cap(buf); s.next++ {
		buf = append(buf, t.frames[s.next%uint64(h.ring)])
	}
	return buf, false
}

// serve streams the subscriber's events as server-sent events. The connection is hijacked so that frames
// shared by all subscribers go out with one writev, without a copy per subscriber, and so that its send
// buffer can be bounded.
func (h *hub) serve(w http.ResponseWriter, f eventFilter) {
	s, err := h.subscribe(f)
	if err != nil {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	defer s.close()
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Errorf("event stream: %w", err))
		return
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetWriteBuffer(eventSendBuffer)
	}
	gone := make(chan struct{}) // closed when the client closes the connection (it sends nothing more)
	go func() {
		io.Copy(io.Discard, rw.Reader)
		close(gone)
	}()
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("Connection", "close") // the stream ends when the connection does
	write := func(data ...[]byte) error {
		conn.SetWriteDeadline(time.Now().Add(h.writeTimeout))
		bufs := net.Buffers(data)
		_, err := bufs.WriteTo(conn)
		return err
	}
	rw.WriteString("HTTP/1.1 200 OK\r\n")
	hdr.Write(rw)
	rw.WriteString("\r\n: connected\n\n")
	conn.SetWriteDeadline(time.Now().Add(h.writeTimeout))
	if rw.Flush() != nil {
		return
	}
	ping := time.NewTicker(eventPing)
	defer ping.Stop()
	batch := make([][]byte, 0, eventBatch)
	var lastWrite time.Time
	for {
		select {
		case <-s.ready():
			// The first event after a quiet spell goes at once (a waiting client sees its dispatch end without
			// delay); within a burst, writes are at least eventCoalesce apart, so it costs a few writes.
			if wait := eventCoalesce - time.Since(lastWrite); wait > 0 {
				time.Sleep(wait)
			}
			lastWrite = time.Now()
			for {
				frames, lagged := s.take(batch[:0])
				if lagged {
					write(encodeFrame(Event{Type: "lagged", DispatchID: f.dispatch, Time: time.Now().UTC()}))
					return
				}
				if len(frames) == 0 {
					break
				}
				if write(frames...) != nil {
					return
				}
			}
		case <-ping.C:
			if write([]byte(": ping\n\n")) != nil {
				return
			}
		case <-gone:
			return
		case <-h.done:
			return
		}
	}
}
